"""Facts about a host's Cloud Assistant client: where it is, its version, the init system's
traces, its processes.

Parsing is pure (unit-tested row by row); the ``read_*`` and ``*_pids`` functions read files
under ``/proc``, ``/run`` and ``/sbin`` and never start a process.  What the facts mean for
the init system is decided in ``init_system``.
"""

import os
import re
import shutil
import stat

from _cloudassist_records import InitFile, Pid1, Process

# The vendor's markers: ``strings /sbin/init | grep ...``, done here by reading the file.
MARKERS = ((b"/lib/system", "systemd"), (b"upstart", "upstart"), (b"sysvinit", "sysvinit"))

# The client's program, and where the vendor installs it on Linux, in the order looked for.
CLIENT_NAME = "aliyun-service"
LINUX_BINARIES = ("/usr/sbin/aliyun-service", "/opt/sbin/aliyun-service")
INIT_SCRIPT = "/etc/init.d/aliyun-service"
INITCTL = "/sbin/initctl"
WATCHDOG_NAME = "assist_daemon"
# calls of the watchdog binary that are not the running watchdog
WATCHDOG_CALLS = frozenset(("--stop", "--delete"))
# Appended to the PATH when looking for a program (and given to the programs ``run`` starts):
# a minion started by its init system may have a PATH without the sbin folders.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# A version is four dot-separated integers, as the spec says.  Not ``packaging.version`` nor
# ``salt.utils.versions.LooseVersion``: both take what the client never prints and this must
# refuse (``1.0.1``, ``v1.0.1.308``, ``1.0.1.308.1``; packaging also ``1.0.1.308rc1``, whose
# ``release`` drops the ``rc1``), so this check stays either way; once it has matched, the
# integer tuple is exactly packaging's ``Version(v).release`` (a unit test holds the two
# equal), and the spec compares versions as integer tuples.  Measured here: 1.5 us a call,
# packaging's ``Version`` 0.9 us and ``LooseVersion`` 2.7 us, either of them on top of it.
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)\.(\d+)$")


class SeveralVersions(ValueError):
    """The output names more than one version: the branch must not be chosen from a guess."""

    def __init__(self, versions):
        super().__init__(", ".join(versions))
        self.versions = versions


# --- versions -------------------------------------------------------------------------


def parse_version_output(text):
    """The version in ``aliyun-service -v`` output, or None.

    A version is a line that is exactly four dot-separated integers (blanks around it
    aside); any other line is noise (old builds printed log-file errors, and a log line may
    start with an address such as ``100.100.100.200``).  The result is canonical:
    ``01.0.1.308`` gives ``1.0.1.308``.  Several different versions raise ``SeveralVersions``.
    """
    found = []
    for line in (text or "").splitlines():
        match = _VERSION.match(line.strip())
        if match:
            version = ".".join(str(int(part)) for part in match.groups())
            if version not in found:
                found.append(version)
    if len(found) > 1:
        raise SeveralVersions(found)
    return found[0] if found else None


def version_tuple(version):
    """``'1.0.1.308'`` -> ``(1, 0, 1, 308)``; ValueError for anything that is not four ints."""
    match = _VERSION.match(version.strip()) if isinstance(version, str) else None
    if not match:
        raise ValueError(
            f"not a Cloud Assistant version (four dot-separated integers): {version!r}"
        )
    return tuple(int(part) for part in match.groups())


# --- where the client is -----------------------------------------------------------------


def search_path():
    """PATH with the system directories appended: a minion's PATH may lack /sbin."""
    parts = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    if os.name == "posix":
        parts += [p for p in SYSTEM_PATH.split(":") if p not in parts]
    return os.pathsep.join(parts)


# Not salt.utils.path.which: that also accepts a bare name found in the working directory, and
# searches the system directories in another order than the PATH ``run`` gives its programs.
def which(program):
    """Absolute path of ``program`` (a name or an absolute path), or None."""
    if os.path.isabs(program):
        return program if os.path.isfile(program) and os.access(program, os.X_OK) else None
    return shutil.which(program, path=search_path())


def client_binary():
    """Where the client is when ``cloudassist:binary`` does not say: the first standard
    location that exists (a dangling link too, which the caller reports as broken), else
    ``aliyun-service`` on the PATH with the system folders (``search_path``), else None.

    The one lookup of the execution module, the states and the grain (``LinuxHost.binary``)
    and of the beacon (``watch.default_binary``), so the beacon watches the binary the module
    manages.
    """
    for path in LINUX_BINARIES:
        if os.path.lexists(path):
            return path
    return which(CLIENT_NAME)


# --- the vendor's marker scan of /sbin/init -------------------------------------------


def scan_markers(chunks):
    """Init systems whose marker occurs in the byte stream ``chunks`` (an iterable of bytes).

    A marker split across two chunks is still found: the tail of each chunk is carried over.
    """
    keep = max(len(marker) for marker, _ in MARKERS) - 1
    found = set()
    tail = b""
    for chunk in chunks:
        buf = tail + chunk
        for marker, name in MARKERS:
            if marker in buf:
                found.add(name)
        if len(found) == len(MARKERS):
            break
        tail = buf[-keep:]
    return [name for _, name in MARKERS if name in found]


def read_init_file(path="/sbin/init", chunk_size=1 << 20, max_bytes=64 << 20):
    """Scan ``path`` for the vendor's markers: an ``InitFile``.

    ``target`` is where a link leads, ``problem`` says why the file could not be scanned (or
    was scanned only in part).
    """
    target = None
    try:
        st = os.stat(path)
        if os.path.islink(path):
            target = os.path.realpath(path)
    except FileNotFoundError:
        problem = f"a dangling link to {os.readlink(path)}" if os.path.islink(path) else "missing"
        return InitFile(path, problem=problem)
    except OSError as exc:
        return InitFile(path, problem=f"unreadable: {exc.strerror or exc}")
    if not stat.S_ISREG(st.st_mode):
        return InitFile(path, target, problem="not a regular file")

    truncated = []

    def chunks(handle):
        left = max_bytes
        while left > 0:
            data = handle.read(min(chunk_size, left))
            if not data:
                return
            left -= len(data)
            yield data
        if handle.read(1):
            truncated.append(f"only the first {max_bytes} bytes were scanned")

    try:
        with open(path, "rb") as handle:
            markers = tuple(scan_markers(chunks(handle)))
    except OSError as exc:
        return InitFile(path, target, problem=f"unreadable: {exc.strerror or exc}")
    return InitFile(path, target, markers, truncated[0] if truncated else None)


# --- what is running ------------------------------------------------------------------


def _read(path, limit=4096):
    """Up to ``limit`` bytes of ``path``, or None when it cannot be read.  ``os.open`` and
    ``os.read``, not ``open()``: the process-table scans call this for every process, and a
    Python file object doubles its cost (measured here at 378 processes: 2.1 against 3.8 ms
    for every ``comm``).  A read shorter than asked is the end: regular and /proc files return
    all they can."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks, size = [], 0
        while size < limit:
            want = limit - size
            chunk = os.read(handle, want)
            chunks.append(chunk)
            size += len(chunk)
            if len(chunk) < want:
                break
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(handle)


def read_pid1():
    """``Pid1``: comm and exe of PID 1, each None where /proc does not tell."""
    comm = _read("/proc/1/comm")
    try:
        exe = os.readlink("/proc/1/exe")
    except OSError:
        exe = None
    return Pid1(comm.decode(errors="replace").strip() if comm else None, exe)


def init_script_present():
    return os.path.exists(INIT_SCRIPT)


def initctl_present():
    return os.path.exists(INITCTL)


UPSTART_SOCKET = "@/com/ubuntu/upstart"


def upstart_listening(path="/proc/net/unix"):
    """What a running upstart shows without ``initctl``: its control socket, as /proc lists it.

    The text stands in for ``initctl --version``'s answer; None where the socket is not there.
    """
    try:
        with open(path) as handle:
            for line in handle:
                if line.rstrip().endswith(" " + UPSTART_SOCKET):
                    return f"upstart (its control socket {UPSTART_SOCKET} is listening)"
    except OSError:
        pass
    return None


def systemd_booted():
    """systemd's own ``sd_booted()`` test."""
    return os.path.isdir("/run/systemd/system")


# --- processes --------------------------------------------------------------------------


# The process table is read from /proc by hand, not with psutil (Salt's own dependency):
# psutil makes a ``Process`` per pid (reading ``stat`` to do so) before it tells a name, and
# ``cloudassist.status`` must not get slower.  Measured with timeit in-process on a host with
# ~93 processes (psutil 7.2.2, Python 3.13, 5 rounds of 200 calls of ``processes`` +
# ``classify`` for the client's and the watchdog's names, medians): this scan 1.9 ms a call,
# psutil with ``oneshot()`` 10.7 ms, ``process_iter`` with the attributes 7.6 ms, and psutil
# merely naming every process 5.2 ms.  Namespaces and cgroups (``/proc/PID/ns``,
# ``/proc/PID/cgroup``), for which psutil has no API, are read from /proc in any case.
def _proc_entries():
    try:
        names = os.listdir("/proc")
    except OSError:
        return
    for name in names:
        if name.isdigit():
            yield int(name)


def live_pids():
    """Every pid in /proc."""
    return list(_proc_entries())


def _process(pid):
    """``(comm, argv, exe)`` of a live process, or None when it is gone or a zombie."""
    comm = _read(f"/proc/{pid}/comm")
    stat_line = _read(f"/proc/{pid}/stat")
    if comm is None or stat_line is None:
        return None
    state = stat_line.rsplit(b")", 1)[-1].split()[:1]
    if state in ([b"Z"], [b"X"]):
        return None
    argv = (_read(f"/proc/{pid}/cmdline", 65536) or b"").split(b"\0")
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    return (
        comm.decode(errors="replace").strip(),
        [a.decode(errors="replace") for a in argv if a],
        exe,
    )


def process(pid):
    """The ``Process`` ``pid`` is, or None when it is gone or a zombie."""
    proc = _process(pid)
    if not proc:
        return None
    comm, argv, exe = proc
    exe = exe[: -len(" (deleted)")] if exe.endswith(" (deleted)") else exe
    return Process(pid, comm, exe, tuple(argv))


def processes(names, pids=None):
    """Live processes whose comm, or the name of whose executable, is one of ``names``
    (among ``pids`` only, when given; default: the whole process table)."""
    short = {name[:15].encode() for name in names}
    found = []
    for pid in _proc_entries() if pids is None else pids:
        # Two cheap reads sift the process table; the whole record only for a candidate.
        comm = (_read(f"/proc/{pid}/comm") or b"").strip()
        if comm not in short:
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue
            if os.path.basename(exe.replace(" (deleted)", "")) not in names:
                continue
        proc = process(pid)
        if proc:
            found.append(proc)
    return found


def last_pid():
    """The pid this PID namespace allocated last (``/proc/loadavg``'s last field), or None.
    Pids are handed out in increasing order until they wrap, so the processes started since an
    earlier reading are those with a pid past it."""
    fields = (_read("/proc/loadavg") or b"").split()
    return int(fields[-1]) if fields and fields[-1].isdigit() else None


def start_time(pid):
    """When ``pid`` started (clock ticks since boot, ``/proc/PID/stat``), or None when it is
    gone or a zombie: the same pid with another start time is another process."""
    line = _read(f"/proc/{pid}/stat")
    fields = line.rsplit(b")", 1)[-1].split() if line else []
    if len(fields) < 20 or fields[0] in (b"Z", b"X") or not fields[19].isdigit():
        return None  # gone, or a zombie: no longer running, as for ``process``
    return int(fields[19])


def install_of(binary):
    """``(path, folder)``: the binary followed through links, and the install folder whose
    version folders hold the client (``/usr/local/share/aliyun-assist``), or None when the
    binary does not sit in a version folder."""
    real = os.path.realpath(binary)
    version_dir = os.path.dirname(real)
    try:
        version_tuple(os.path.basename(version_dir))
    except ValueError:
        return real, None
    return real, os.path.dirname(version_dir)


def is_client_exe(exe, install):
    """True when ``exe`` is the client's binary or the same binary in another version folder
    of its install (a self-update leaves the running client in the older folder)."""
    real, folder = install
    if exe == real:
        return True
    if folder is None or os.path.basename(exe) != os.path.basename(real):
        return False
    version_dir = os.path.dirname(exe)
    if os.path.dirname(version_dir) != folder:
        return False
    try:
        version_tuple(os.path.basename(version_dir))
    except ValueError:
        return False
    return True


def _ns_key(pid):
    try:
        ns = os.stat(f"/proc/{pid}/ns/pid")
        root = os.stat(f"/proc/{pid}/root")
    except OSError:
        return None
    return (ns.st_dev, ns.st_ino), (root.st_dev, root.st_ino)


def not_ours(pid):
    """Why ``pid`` is not in this host's PID namespace and root, or None when it is."""
    own = _ns_key("self")
    theirs = _ns_key(pid)
    if own is None or theirs is None:
        return "its namespaces cannot be read"
    if theirs[0] != own[0]:
        return "it runs in another PID namespace (a container)"
    if theirs[1] != own[1]:
        return "it runs under another root directory (a container or chroot)"
    return None


def is_probe(proc):
    """A ``-v``/``--version`` call is not a running client."""
    return "-v" in proc.argv[1:] or "--version" in proc.argv[1:]


def client_pids(binary):
    """Pids of this host's running clients: the client's executable, in this PID namespace
    and root, never a process only because of its name."""
    return classify(binary)[0]


def client_pids_by_exe(binary):
    """``client_pids`` for a caller that needs no look-alikes (the beacon): the same pids, found
    by each process's executable alone.  One ``readlink`` a process: measured here at 378
    processes, 1.3 ms a pass against 7.6 ms for ``processes``, which also reads every
    ``comm`` to find look-alikes by name."""
    install = install_of(binary)
    name = os.path.basename(install[0])
    pids = []
    for pid in _proc_entries():
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        exe = exe[: -len(" (deleted)")] if exe.endswith(" (deleted)") else exe
        if os.path.basename(exe) != name or not is_client_exe(exe, install):
            continue
        proc = process(pid)
        if proc is not None and not is_probe(proc) and not_ours(pid) is None:
            pids.append(pid)
    return sorted(pids)


def client_names(binary):
    """The names a client process of ``binary`` may show (its executable's and the link's)."""
    return {os.path.basename(install_of(binary)[0]), os.path.basename(binary)}


def watchdog_names(binary):
    """The names a watchdog process of ``binary`` may show (the usual name, the configured
    path's and, when that is a link, its target's)."""
    return {WATCHDOG_NAME, os.path.basename(binary), os.path.basename(os.path.realpath(binary))}


def named(found, names):
    """The processes of ``found`` that ``processes(names)`` would have found."""
    short = {name[:15] for name in names}
    return [proc for proc in found if proc.comm in short or os.path.basename(proc.exe) in names]


def classify(binary, found=None):
    """``(pids, others)``: this host's client processes, and look-alikes with the reason each
    is not counted (another executable of that name, a client in a container).  ``found``
    is a process list already read (``processes`` of at least ``client_names(binary)``)."""
    install = install_of(binary)
    names = client_names(binary)
    pids, others = [], []
    for proc in named(found, names) if found is not None else processes(names):
        if is_probe(proc):
            continue
        reason = not_ours(proc.pid)
        if reason is None and not is_client_exe(proc.exe, install):
            reason = "its executable is {}, not the client {}".format(
                proc.exe or "unknown", install[0]
            )
        if reason:
            others.append((proc, reason))
        else:
            pids.append(proc.pid)
    return sorted(pids), others


def classify_watchdog(binary, found=None):
    """``(pids, others, here)`` for the watchdog, as ``classify`` for the client: its
    processes are the executable ``binary`` (followed through links) in this host's PID
    namespace and root, never a process only because of its name; ``here`` are those of
    ``others`` that do run in this host's namespaces (another executable).  An
    ``assist_daemon --stop`` or ``--delete`` call is not a running watchdog."""
    real = os.path.realpath(binary)
    names = watchdog_names(binary)
    pids, others, here = [], [], []
    for proc in named(found, names) if found is not None else processes(names):
        if WATCHDOG_CALLS.intersection(proc.argv[1:]):
            continue
        reason = not_ours(proc.pid)
        if reason is None and proc.exe != real:
            reason = "its executable is {}, not the watchdog {}".format(proc.exe or "unknown", real)
            here.append(proc)
        if reason:
            others.append((proc, reason))
        else:
            pids.append(proc.pid)
    return sorted(pids), others, here


# --- what a stopped client leaves behind -------------------------------------------------

# Where systemd's hierarchy is mounted: cgroup v2, the v2 part of a hybrid setup, v1.
CGROUP_ROOTS = (
    ("/sys/fs/cgroup", "cgroup.controllers"),
    ("/sys/fs/cgroup/unified", "cgroup.procs"),
    ("/sys/fs/cgroup/systemd", "cgroup.procs"),
)


def cgroup_root():
    """The folder systemd's ``ControlGroup`` paths are relative to, or None."""
    for root, marker in CGROUP_ROOTS:
        if os.path.exists(os.path.join(root, marker)):
            return root
    return None


def cgroup_pids(control_group, root=None):
    """The pids in the cgroup ``control_group`` (systemd's ``ControlGroup`` of a unit) and its
    sub-cgroups, read from ``cgroup.procs``; empty when the cgroup is gone (systemd removes
    it once the last process left); None when no cgroup hierarchy can be read here."""
    root = root or cgroup_root()
    if root is None:
        return None
    top = os.path.join(root, control_group.lstrip("/"))
    if ".." in control_group.split("/"):
        return None
    pids = set()
    for folder, _, files in os.walk(top):
        if "cgroup.procs" in files:
            text = _read(os.path.join(folder, "cgroup.procs"), 1 << 20) or b""
            pids.update(int(word) for word in text.split() if word.isdigit())
    return sorted(pids)


def lineage(pid="self"):
    """``pid`` and its ancestors up to pid 1: a process cloudassist must never end (a salt-call
    run by the client for the console is in the client's unit)."""
    found = set()
    current = pid
    while current not in (0, "0") and len(found) < 4096:
        line = _read(f"/proc/{current}/stat")
        if line is None:
            break
        fields = line.rsplit(b")", 1)[-1].split()
        found.add(int(line.split(b" ", 1)[0]))
        current = int(fields[1]) if len(fields) > 1 else 0
    return found


def in_folder(folder):
    """Live processes of this host's PID namespace and root whose executable lies under
    ``folder``.  Every process's executable link is read: called only after a stop or for a
    stopped client."""
    prefix = folder.rstrip("/") + "/"
    found = []
    for pid in _proc_entries():
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if not exe.startswith(prefix):
            continue
        proc = process(pid)
        if proc and not_ours(pid) is None:
            found.append(proc)
    return found


# --- the init script's pid file (sysvinit) -----------------------------------------------

# Where the vendor's /etc/init.d/aliyun-service keeps the client's pid (see the spec).
VENDOR_PIDFILE = "/var/run/aliyun-service.pid"
# The scripts are root's few-kilobyte files; a longer one is read this far only.
SCRIPT_LIMIT = 65536
# ``PIDFILE=value`` (``export`` and leading blanks allowed, a comment after it); the value is
# taken only when it is a plain literal: no ``$``, backtick, backslash or blank in it.
_PIDFILE_LINE = re.compile(r"^\s*(?:export\s+|readonly\s+)?PIDFILE=(\S*)\s*(?:#.*)?$")
_PLAIN_PATH = re.compile(r"^/[A-Za-z0-9._/@+-]*$")


def _plain_path(value):
    """``value`` without its quotes when it is an absolute, normal path of plain characters."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    if not _PLAIN_PATH.match(value) or os.path.normpath(value) != value or value == "/":
        return None
    if ".." in value.split("/"):
        return None
    return value


def parse_pidfile_assignment(text):
    """``(path, why_not)``: the pid file an init script's ``PIDFILE=`` names, where every
    assignment in it is the same plain literal absolute path; else ``(None, why)``.

    Anything the shell would have to expand (``$``, backticks, a ``..`` step, a relative path,
    two different values) is not trusted: the caller falls back to the vendor's path.
    """
    values = []
    for line in (text or "").splitlines():
        if "PIDFILE=" not in line:
            continue
        match = _PIDFILE_LINE.match(line)
        if not match:
            if re.match(r"^\s*(?:export\s+|readonly\s+)?PIDFILE=", line):
                return None, f"its PIDFILE= line {line.strip()!r} is not a plain value"
            continue
        path = _plain_path(match.group(1))
        if path is None:
            return None, f"its PIDFILE= value {match.group(1)!r} is not a plain absolute path"
        if path not in values:
            values.append(path)
    if not values:
        return None, "it sets no PIDFILE="
    if len(values) > 1:
        return None, "it sets PIDFILE= to {}".format(" and ".join(values))
    return values[0], None


def pidfile_of_script(script, default=None):
    """``(path, source)``: the pid file the init script ``script`` uses, and how that was
    found (its plain ``PIDFILE=``, else ``default``; path None when there is no default)."""
    text = _read(script, SCRIPT_LIMIT)
    if text is None:
        return default, f"{script} cannot be read; the vendor's default"
    path, why_not = parse_pidfile_assignment(text.decode(errors="replace"))
    if path:
        return path, f"PIDFILE= in {script}"
    return default, f"the vendor's default ({script}: {why_not})"


def parse_pid(content):
    """The pid a pid file's ``content`` (bytes) names: a positive integer on its first line,
    else None (empty, text, 0 or a negative number, which ``kill`` would take for a group)."""
    first = (content or b"").strip().split(b"\n", 1)[0].strip()
    if not first.isdigit():
        return None
    pid = int(first)
    return pid if pid > 0 else None


def read_pidfile(path):
    """``(content, problem)`` of the pid file ``path``: its first bytes when it is a regular
    file; content None and no problem when it does not exist; content None and why, when it
    is something else (a link, a folder, a fifo: never opened)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot be read: {exc.strerror or exc}"
    if not stat.S_ISREG(st.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        return None, f"{kind}, so cloudassist neither reads nor removes it"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return None, f"cannot be read: {exc.strerror or exc}"
    with os.fdopen(fd, "rb") as handle:
        return handle.read(64), None
