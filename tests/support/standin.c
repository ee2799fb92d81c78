/*
 * Stand-in for the Cloud Assistant client (aliyun-service), for the cloudassist tests.
 *
 * Built once by tests/support/standin.py (gcc -static) and copied wherever a test installs a
 * client, so /proc/PID/exe of a running stand-in is the installed file itself and
 * /proc/PID/comm is its basename, as for the real (Go, ELF) client.
 *
 * One binary serves every test: its behaviour ("knobs") is read at run time from a sidecar
 * file next to the real executable,
 *     dirname(readlink("/proc/self/exe")) + "/.standin-" + basename + ".conf"
 * written by standin.install_client.  Lines are KEY=VALUE; in VALUE a backslash escapes
 * `\\`, `\n` and `\r`.  Keys, in the order they act:
 *     noise=LINE           printed before the version (repeatable)
 *     version=TEXT         the version line; absent: no version is printed
 *     extra_version=TEXT   further version lines after it (repeatable)
 *     noise_after=LINE     printed after the version lines (repeatable)
 *     version_stream=stdout|stderr   where the version lines go (noise follows noise_stream)
 *     noise_stream=stdout|stderr     where noise and noise_after lines go
 *     version_exit=N       exit code of -v/--version
 *     hang_on_version=0|1  -v/--version never answers
 *     ignore_term=0|1      the foreground client ignores SIGTERM (SIGINT still stops it)
 *     die_after=SECONDS    the foreground client exits 3 after that long (absent: never)
 *     updater=PATH         the foreground client starts PATH (no arguments) detached at start,
 *                          in a new session with stdio on /dev/null, as the real client starts
 *                          its updater aliyun_assist_update on every start (spec, "The binary")
 *
 * Behaviour (docs: /work/shared/spec/cloud-assistant.md, "The binary"):
 *   -v, --version   create log/ next to the binary (failure ignored), print the version, exit
 *   (no argument)   stay in the foreground until SIGTERM or SIGINT, then exit 0
 *   -d              re-run itself (no arguments) in a new session, stdio on /dev/null; exit 0
 *   --stop, --start, --install, --remove   print "... failed: <reason>" and exit 0, like the
 *                   real client (which exits 0 whatever happens)
 *   anything else   a usage message on stderr, exit 2 (Go's flag package)
 * The real client's single-instance lock is deliberately NOT implemented: tests run several
 * stand-ins at once.
 *
 * With role=watchdog in the sidecar the same binary is the watchdog assist_daemon (spec, "The
 * watchdog"), so its /proc/PID/exe is the watchdog's installed file as for the real one.  Keys:
 *     pidfile=PATH         where the running watchdog writes its pid
 *     client_pidfile=PATH  the client's pid file; a stale one means the client is gone
 *     start=ARG            the command that starts the client again, one argument per line
 *     delay=SECONDS        how long the client must be gone before it is started (default 1)
 *     stop_works=0|1       whether --stop really stops a running watchdog
 *   (no argument)   every 0.1 s: client gone for `delay` s? run `start` (stdio on /dev/null)
 *   --stop          SIGTERM to the pid in pidfile (with stop_works), exit 0 always
 *   --delete        exit 0 (the real one removes its service registration)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DELETED " (deleted)"

static char exe_path[PATH_MAX];
static char *conf_text; /* the sidecar, NUL-terminated */
static size_t conf_len;

static void die(int code, const char *fmt, const char *arg)
{
    fprintf(stderr, "aliyun-service (cloudassist stand-in): ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(code);
}

/* A /proc/PID/exe target without the kernel's mark for a file replaced since. */
static void strip_deleted(char *path)
{
    size_t len = strlen(path), dl = strlen(DELETED);
    if (len > dl && strcmp(path + len - dl, DELETED) == 0)
        path[len - dl] = '\0';
}

/* stdin, stdout and stderr on /dev/null, as for a daemon. */
static void stdio_to_null(void)
{
    int null = open("/dev/null", O_RDWR);
    if (null < 0)
        return;
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2)
        close(null);
}

/* The executable's own path: /proc/self/exe, else argv[0] resolved. */
static void find_self(const char *argv0)
{
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    if (n > 0) {
        exe_path[n] = '\0';
        strip_deleted(exe_path);
        return;
    }
    if (strchr(argv0, '/') && realpath(argv0, exe_path))
        return;
    die(70, "cannot find its own executable (no /proc/self/exe; argv[0] is %s)", argv0);
}

static void read_conf(void)
{
    char path[PATH_MAX + 64];
    char *slash = strrchr(exe_path, '/');
    if (!slash)
        die(70, "odd executable path %s", exe_path);
    snprintf(path, sizeof path, "%.*s/.standin-%s.conf", (int)(slash - exe_path), exe_path, slash + 1);
    FILE *f = fopen(path, "r");
    if (!f)
        die(70, "no knob file %s: install the stand-in with standin.install_client", path);
    size_t cap = 4096;
    conf_text = malloc(cap);
    size_t got;
    while (conf_text && (got = fread(conf_text + conf_len, 1, cap - conf_len - 1, f)) > 0) {
        conf_len += got;
        if (conf_len + 1 == cap)
            conf_text = realloc(conf_text, cap *= 2);
    }
    if (!conf_text)
        die(70, "out of memory reading %s", path);
    conf_text[conf_len] = '\0';
    fclose(f);
}

/* Calls fn(value) for each line "key=value" of the sidecar, value unescaped. */
static int each(const char *key, void (*fn)(const char *, void *), void *arg)
{
    size_t klen = strlen(key);
    int count = 0;
    const char *p = conf_text, *end = conf_text + conf_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if ((size_t)(eol - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
            const char *v = p + klen + 1;
            char *out = malloc((size_t)(eol - v) + 1), *o = out;
            if (!out)
                die(70, "out of memory%s", "");
            for (; v < eol; v++) {
                if (*v == '\\' && v + 1 < eol) {
                    v++;
                    *o++ = *v == 'n' ? '\n' : *v == 'r' ? '\r' : *v;
                } else {
                    *o++ = *v;
                }
            }
            *o = '\0';
            if (fn)
                fn(out, arg);
            free(out);
            count++;
        }
        p = eol + 1;
    }
    return count;
}

static void keep(const char *value, void *arg)
{
    char **slot = arg;
    free(*slot);
    *slot = strdup(value);
}

/* The last value of key, or NULL (caller frees). */
static char *get(const char *key)
{
    char *value = NULL;
    each(key, keep, &value);
    return value;
}

static int get_flag(const char *key)
{
    char *v = get(key);
    int on = v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "True") == 0);
    free(v);
    return on;
}

static int stream_of(const char *key)
{
    char *v = get(key);
    int fd = v && strcmp(v, "stderr") == 0 ? STDERR_FILENO : STDOUT_FILENO;
    free(v);
    return fd;
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* a closed pipe: nothing more to say */
        }
        buf += n;
        len -= (size_t)n;
    }
}

static void print_line(const char *value, void *arg)
{
    int fd = *(int *)arg;
    write_all(fd, value, strlen(value));
    write_all(fd, "\n", 1);
}

static int show_version(void)
{
    char dir[PATH_MAX + 8];
    char *slash = strrchr(exe_path, '/');
    snprintf(dir, sizeof dir, "%.*s/log", (int)(slash - exe_path), exe_path);
    mkdir(dir, 0755); /* the real client logs there; a read-only folder is not fatal here */

    if (get_flag("hang_on_version"))
        for (;;)
            pause();

    int noise_fd = stream_of("noise_stream"), version_fd = stream_of("version_stream");
    each("noise", print_line, &noise_fd);
    each("version", print_line, &version_fd);
    each("extra_version", print_line, &version_fd);
    each("noise_after", print_line, &noise_fd);
    char *code = get("version_exit");
    int rc = code ? atoi(code) : 0;
    free(code);
    return rc;
}

/* The updater knob: PATH started detached, not waited for (the real client's updater runs
 * on after it and, under systemd's KillMode=process, after the client's stop). */
static void start_updater(void)
{
    char *path = get("updater");
    if (!path)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        stdio_to_null();
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        char *const args[] = {path, NULL};
        execv(path, args);
        _exit(127);
    }
    free(path);
    /* its exit is not waited for: a zombie until the client exits, as a Go child would be
     * reaped; SIGCHLD ignored lets the kernel reap it */
    signal(SIGCHLD, SIG_IGN);
}

static int run_foreground(void)
{
    char *die_after = get("die_after");
    double limit = die_after ? strtod(die_after, NULL) : -1;
    free(die_after);

    sigset_t wait_for;
    sigemptyset(&wait_for);
    /* a shell's `cmd &` starts it with SIGINT ignored: the real client (Go) handles it anyway */
    signal(SIGINT, SIG_DFL);
    sigaddset(&wait_for, SIGINT);
    if (get_flag("ignore_term")) {
        signal(SIGTERM, SIG_IGN);
    } else {
        signal(SIGTERM, SIG_DFL);
        sigaddset(&wait_for, SIGTERM);
    }
    sigprocmask(SIG_BLOCK, &wait_for, NULL);
    start_updater();

    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int sig;
        if (limit < 0) {
            sig = sigwaitinfo(&wait_for, NULL);
        } else {
            clock_gettime(CLOCK_MONOTONIC, &now);
            double left = limit - ((double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9);
            if (left <= 0)
                return 3;
            struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
            sig = sigtimedwait(&wait_for, NULL, &ts);
            if (sig < 0 && errno == EAGAIN)
                return 3;
        }
        if (sig > 0)
            return 0;
    }
}

static int daemonize(const char *argv0)
{
    pid_t pid = fork();
    if (pid < 0) {
        perror("aliyun-service: fork");
        return 1;
    }
    if (pid > 0)
        return 0;
    setsid();
    stdio_to_null();
    char *const args[] = {(char *)argv0, NULL};
    execv(exe_path, args);
    _exit(127);
}

/* The pid in `path` names a live, not zombie, process. */
static int pidfile_alive(const char *path)
{
    char buf[64] = {0}, stat_path[64], stat_text[512] = {0};
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    long pid = strtol(buf, NULL, 10);
    if (pid <= 0 || kill((pid_t)pid, 0) != 0)
        return 0;
    snprintf(stat_path, sizeof stat_path, "/proc/%ld/stat", pid);
    f = fopen(stat_path, "r");
    if (!f)
        return 0;
    n = fread(stat_text, 1, sizeof stat_text - 1, f);
    fclose(f);
    stat_text[n] = '\0';
    char *paren = strrchr(stat_text, ')');
    return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

struct argv_list {
    char **items;
    size_t len;
};

static void collect(const char *value, void *arg)
{
    struct argv_list *list = arg;
    list->items = realloc(list->items, (list->len + 2) * sizeof *list->items);
    if (!list->items)
        die(70, "out of memory%s", "");
    list->items[list->len++] = strdup(value);
    list->items[list->len] = NULL;
}

static char *need(const char *key)
{
    char *value = get(key);
    if (!value || !*value)
        die(70, "role=watchdog needs %s= in its sidecar", key);
    return value;
}

/* True when `pid` runs this very file (a stale pid file's pid may be reused by another). */
static int runs_self(long pid)
{
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/%ld/exe", pid);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    strip_deleted(target);
    return strcmp(target, exe_path) == 0;
}

static int watchdog_stop(void)
{
    char *pidfile = need("pidfile");
    if (get_flag("stop_works") && pidfile_alive(pidfile)) {
        FILE *f = fopen(pidfile, "r");
        long pid = 0;
        if (f) {
            if (fscanf(f, "%ld", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid > 0 && runs_self(pid))
            kill((pid_t)pid, SIGTERM);
    }
    free(pidfile);
    return 0;
}

static int watchdog_run(void)
{
    char *pidfile = need("pidfile"), *client_pidfile = need("client_pidfile");
    char *delay_text = get("delay");
    double delay = delay_text ? strtod(delay_text, NULL) : 1.0;
    free(delay_text);
    struct argv_list start = {NULL, 0};
    each("start", collect, &start);
    if (!start.len)
        die(70, "role=watchdog needs start= lines in its sidecar%s", "");

    /* written aside, then renamed: whoever sees the pid file sees the whole pid */
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", pidfile);
    FILE *f = fopen(tmp, "w");
    if (!f)
        die(70, "cannot write its pid file %s", tmp);
    fprintf(f, "%ld", (long)getpid());
    if (fclose(f) != 0 || rename(tmp, pidfile) != 0)
        die(70, "cannot write its pid file %s", pidfile);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);

    struct timespec tick = {0, 100 * 1000 * 1000}, now, gone_since = {0, 0};
    int gone = 0;
    for (;;) {
        nanosleep(&tick, NULL);
        if (pidfile_alive(client_pidfile)) {
            gone = 0;
            continue;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!gone) {
            gone = 1;
            gone_since = now;
        }
        double away = (double)(now.tv_sec - gone_since.tv_sec) + (now.tv_nsec - gone_since.tv_nsec) / 1e9;
        if (away < delay)
            continue;
        pid_t child = fork();
        if (child == 0) {
            stdio_to_null();
            execvp(start.items[0], start.items);
            _exit(127);
        }
        if (child > 0)
            while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
                ;
        gone = 0;
    }
}

static int watchdog_main(int argc, char **argv)
{
    if (argc < 2)
        return watchdog_run();
    if (strcmp(argv[1], "--stop") == 0)
        return watchdog_stop();
    if (strcmp(argv[1], "--delete") == 0)
        return 0;
    fprintf(stderr, "assist_daemon (cloudassist stand-in): unknown argument %s\n", argv[1]);
    return 2;
}

int main(int argc, char **argv)
{
    const char *argv0 = argc > 0 ? argv[0] : "aliyun-service";
    find_self(argv0);
    read_conf();
    char *role = get("role");
    int is_watchdog = role && strcmp(role, "watchdog") == 0;
    free(role);
    if (is_watchdog)
        return watchdog_main(argc, argv);
    if (argc < 2)
        return run_foreground();
    const char *flag = argv[1];
    if (strcmp(flag, "-v") == 0 || strcmp(flag, "--version") == 0)
        return show_version();
    if (strcmp(flag, "-d") == 0)
        return daemonize(argv0);
    static const char *const service_flags[][2] = {
        {"--stop", "stop"}, {"--start", "start"}, {"--install", "install"}, {"--remove", "remove"},
    };
    for (size_t i = 0; i < sizeof service_flags / sizeof service_flags[0]; i++) {
        if (strcmp(flag, service_flags[i][0]) == 0) {
            printf("%s service failed: this is the cloudassist tests' stand-in client\n", service_flags[i][1]);
            return 0;
        }
    }
    fprintf(stderr, "flag provided but not defined: %s\nUsage of %s:\n  -d\trun as a daemon\n  -v\tshow version\n",
            flag, argv0);
    return 2;
}
