"""Plumbing for the real-init suite: cached Debian roots, nspawn containers, salt-call inside.

Everything is derived from this file's location and from the running interpreter, so a fresh
clone anywhere (with its own ``.venv``) works.  Nothing here writes a host name: the Debian
mirror and suite are read from the machine's own apt sources.

Layout on the host::

    $CLOUDASSIST_REALINIT_CACHE (default /var/cache/cloudassist-tests/roots)
        systemd/    debootstrap minbase + systemd, never modified after it is built
        sysvinit/   debootstrap minbase + sysvinit-core
        .KIND.lock  flock serialising builds of one kind

Each container boots from an overlayfs (lower: the cached root, upper: a throwaway temp dir),
so tests never change the cached roots and every scenario starts clean.  ``Container.reboot()``
ends a booted container (its PID 1 and with it the PID namespace) and boots it again on the
same overlay, so what a test changed on disk is what the next boot sees.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS_DIR = HERE.parent
PROJECT_DIR = TESTS_DIR.parent
SUPPORT_DIR = TESTS_DIR / "support"

VENV = Path(sys.prefix)
BASE_PREFIX = Path(sys.base_prefix)
# The interpreter as the venv names it (a symlink into BASE_PREFIX); kept unresolved so that
# salt-call's shebang and this path agree.
VENV_PYTHON = VENV / "bin" / "python3"
SALT_CALL = VENV / "bin" / "salt-call"

CACHE_DIR = Path(os.environ.get("CLOUDASSIST_REALINIT_CACHE", "/var/cache/cloudassist-tests/roots"))
TMP_PREFIX = "cloudassist-realinit-"
WORK_PARENT = Path(os.environ.get("CLOUDASSIST_REALINIT_TMP", tempfile.gettempdir()))

CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# What each root is made of.  The recipe text is stored in the root's stamp file: a changed
# recipe means the cached root is rebuilt.
RECIPES = {
    "systemd": {
        "include": ["systemd", "systemd-sysv", "dbus", "python3", "procps"],
    },
    "sysvinit": {
        "include": ["sysvinit-core", "initscripts", "procps", "python3"],
    },
}
STAMP = ".cloudassist-realinit-root"
BOOT_MARKER_SCRIPT = "realinit-booted"
BOOT_MARKER_FILE = "/run/realinit-booted"


OPEN: list = []  # containers not yet closed (closed again at exit, should a finalizer not run)
ALL: list = []  # every container of the session, for the leftovers check

if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


class TestbedUnavailable(Exception):
    """The machine cannot boot containers; the message says why."""


# --------------------------------------------------------------------------------------------
# Can this machine do it at all?
# --------------------------------------------------------------------------------------------


def unavailable_reason() -> str | None:
    """Why the suite cannot run here, or None when it can."""
    if sys.platform != "linux":
        return f"real-init suite needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return (
            f"real-init suite needs root (euid is {os.geteuid():d}) to boot systemd-nspawn "
            "containers"
        )
    search = os.pathsep.join([os.environ.get("PATH", ""), CONTAINER_PATH])
    missing = [
        tool
        for tool in (
            "systemd-nspawn",
            "debootstrap",
            "nsenter",
            "unshare",
            "mount",
            "umount",
            "chroot",
        )
        if shutil.which(tool, path=search) is None
    ]
    if missing:
        return (
            "real-init suite needs {} on the PATH (apt-get install systemd-container "
            "debootstrap util-linux mount)".format(", ".join(missing))
        )
    if not SALT_CALL.exists():
        return f"no salt-call in the virtual environment {VENV}"
    fs = Path("/proc/filesystems").read_text()
    if "overlay" not in fs:
        subprocess.run(["modprobe", "overlay"], capture_output=True)
        if "overlay" not in Path("/proc/filesystems").read_text():
            return "the kernel has no overlayfs (needed for throwaway container layers)"
    return None


# --------------------------------------------------------------------------------------------
# Root file systems
# --------------------------------------------------------------------------------------------


def apt_source() -> tuple[str, str]:
    """(mirror URI, suite) of the machine's Debian archive, read from its apt sources."""
    mirror = os.environ.get("CLOUDASSIST_REALINIT_MIRROR")
    suite = os.environ.get("CLOUDASSIST_REALINIT_SUITE")
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.exists() and not (mirror and suite):
        for stanza in re.split(r"\n\s*\n", deb822.read_text()):
            fields = {}
            for line in stanza.splitlines():
                m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
                if m:
                    fields[m.group(1).lower()] = m.group(2).split()
            uris, suites = fields.get("uris"), fields.get("suites")
            if uris and suites and "deb" in fields.get("types", ["deb"]):
                mirror = mirror or uris[0]
                suite = suite or suites[0]
                break
    if not (mirror and suite):
        for src in [
            Path("/etc/apt/sources.list"),
            *sorted(Path("/etc/apt/sources.list.d").glob("*.list")),
        ]:
            if not src.exists():
                continue
            for line in src.read_text().splitlines():
                parts = re.sub(r"\[[^]]*\]", "", line).split()
                if len(parts) >= 3 and parts[0] == "deb":
                    mirror = mirror or parts[1]
                    suite = suite or parts[2]
                    break
            if mirror and suite:
                break
    if not (mirror and suite):
        raise TestbedUnavailable(
            "cannot find a Debian mirror in the machine's apt sources "
            "(set CLOUDASSIST_REALINIT_MIRROR and CLOUDASSIST_REALINIT_SUITE)"
        )
    return mirror, suite


def _recipe_text(kind: str, suite: str) -> str:
    recipe = dict(RECIPES[kind], suite=suite, variant="minbase", rev=2)
    return json.dumps(recipe, sort_keys=True)


def root_is_good(path: Path, kind: str, suite: str) -> bool:
    stamp = path / STAMP
    return stamp.is_file() and stamp.read_text() == _recipe_text(kind, suite)


def _customize_root(root: Path, kind: str) -> None:
    """Small, cached adjustments that make booting in nspawn quiet and observable."""
    # A boot marker: an rc script that runs after everything else (sysvinit); the test waits
    # for its file.  systemd is waited for with `systemctl is-system-running --wait`.
    if kind == "sysvinit":
        script = root / "etc/init.d" / BOOT_MARKER_SCRIPT
        on_start = f"runlevel > {BOOT_MARKER_FILE} 2>&1 || touch {BOOT_MARKER_FILE}"
        script.write_text(
            textwrap.dedent(f"""\
            #!/bin/sh
            ### BEGIN INIT INFO
            # Provides:          {BOOT_MARKER_SCRIPT}
            # Required-Start:    $all
            # Required-Stop:
            # Default-Start:     2 3 4 5
            # Default-Stop:
            # Short-Description: tells the cloudassist real-init tests that boot is done
            ### END INIT INFO
            case "$1" in start) {on_start};; esac
            exit 0
            """)
        )
        script.chmod(0o755)
        subprocess.run(
            ["chroot", str(root), "update-rc.d", BOOT_MARKER_SCRIPT, "defaults"],
            check=True,
            capture_output=True,
            env=_clean_env(),
        )
        # No gettys on tty1..6: the container has no such terminals and init would respawn them.
        inittab = root / "etc/inittab"
        if inittab.exists():
            lines = [
                ("#" + line if re.match(r"^\d+:\d*:respawn:/sbin/getty", line) else line)
                for line in inittab.read_text().splitlines()
            ]
            inittab.write_text("\n".join(lines) + "\n")
    # Like a minimal image, neither root has binutils' `strings` (the module must not need it).
    for strings in (root / "usr/bin/strings", root / "bin/strings"):
        if strings.is_file() and not strings.is_symlink():
            strings.unlink()


def modified_in_root(root: Path, limit: int = 5) -> list[str]:
    """Paths in a cached root changed after it was built (tests must never write there)."""
    r = subprocess.run(
        ["find", str(root), "-xdev", "-newer", str(root / STAMP), "-print"],
        capture_output=True,
        text=True,
    )
    return r.stdout.split()[:limit]


def remove_tree(path: Path) -> None:
    """Delete a root or work tree: unmount whatever is mounted below it first (an interrupted
    debootstrap may leave /proc or /dev mounted there) and never cross into another file
    system."""
    if not os.path.lexists(path):
        return
    unmount_tree(Path(path))
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], capture_output=True)


def ensure_root(kind: str, log=print) -> Path:
    """Return the cached root for ``kind``, building it (atomically) when missing or stale."""
    mirror, suite = apt_source()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    target = CACHE_DIR / kind
    if root_is_good(target, kind, suite):
        return target
    with open(CACHE_DIR / f".{kind}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if root_is_good(target, kind, suite):
            return target
        # Leftovers of interrupted builds.
        for stale in CACHE_DIR.glob(f".{kind}.building-*"):
            remove_tree(stale)  # also its .log
        for stale in CACHE_DIR.glob(f".{kind}.old-*"):
            remove_tree(stale)
        building = Path(tempfile.mkdtemp(prefix=f".{kind}.building-", dir=CACHE_DIR))
        building.chmod(0o755)
        cmd = [
            "debootstrap",
            "--variant=minbase",
            "--include=" + ",".join(RECIPES[kind]["include"]),
            suite,
            str(building),
            mirror,
        ]
        log(f"building {kind} root: {' '.join(cmd)}")
        started = time.monotonic()
        log_file = building.with_name(building.name + ".log")
        try:
            with open(log_file, "w+") as out:
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=_clean_env(),
                    start_new_session=True,
                )
                try:
                    returncode = proc.wait()
                except BaseException:
                    # Interrupted (Ctrl-C, SIGTERM): stop debootstrap and everything it runs.
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    raise
                out.seek(0)
                output = out.read()
            if returncode != 0:
                raise RuntimeError(
                    f"debootstrap of the {kind} root failed ({returncode}):\n" + output[-4000:]
                )
            _customize_root(building, kind)
            (building / STAMP).write_text(_recipe_text(kind, suite))
        except BaseException:
            remove_tree(building)
            raise
        finally:
            with contextlib.suppress(OSError):
                log_file.unlink()
        if target.exists():
            old = CACHE_DIR / f".{kind}.old-{os.getpid()}"
            target.rename(old)
            building.rename(target)
            remove_tree(old)
        else:
            building.rename(target)
        log(f"built {kind} root in {time.monotonic() - started:.0f}s at {target}")
        return target


# --------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------


def _clean_env() -> dict:
    return {"PATH": CONTAINER_PATH, "LANG": "C.UTF-8", "HOME": "/root", "TERM": "dumb"}


def _ns_pid(pid: int) -> list[int]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    except OSError:
        pass
    return []


def _children(pid: int) -> list[int]:
    kids = []
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        kids = [int(x) for x in text.split()]
    except OSError:
        pass
    return kids


class Result:
    def __init__(self, cmd, proc):
        self.cmd = cmd
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def __repr__(self):
        return (
            f"<Result rc={self.returncode} cmd={self.cmd!r}\n--- stdout ---\n{self.stdout}"
            f"\n--- stderr ---\n{self.stderr}>"
        )


class Container:
    """One booted root on a throwaway overlay; ``close()`` undoes everything."""

    def __init__(self, root: Path, kind: str, name: str):
        self.root = Path(root)
        self.kind = kind  # 'systemd' or 'sysvinit': the init the container boots
        self.name = name
        self.work = Path(tempfile.mkdtemp(prefix=TMP_PREFIX + name + "-", dir=WORK_PARENT))
        self.upper = self.work / "upper"
        self.ovlwork = self.work / "ovlwork"
        self.merged = self.work / "merged"
        for d in (self.upper, self.ovlwork, self.merged):
            d.mkdir()
        self.log_path = self.work / "console.log"
        self.log = None
        self.proc: subprocess.Popen | None = None
        self.nspawn_pid: int | None = None
        self.init_pid: int | None = None
        self.mounted = False
        self.boots = 0  # how many times this container was started
        self.past_pids: list = []  # (nspawn pid, init pid) of the boots before the current one
        # pid -> start time (clock ticks since boot): pid_max is 32768 here, so a pid of a
        # boot that ended may belong to another process by the end of a long run.
        self.start_ticks: dict[int, int | None] = {}
        self.on_boot: list = []  # callables run after every reboot (e.g. Salt restoring /tmp)
        self._start = None  # how the container was started: ("boot",) or ("plain", argv)
        subprocess.run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={self.root},upperdir={self.upper},workdir={self.ovlwork}",
                str(self.merged),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        self.mounted = True

    # -- before boot -----------------------------------------------------------------------
    def path(self, inside: str) -> Path:
        """Host path of ``inside`` in the container's writable tree."""
        return self.merged / inside.lstrip("/")

    def write(self, inside: str, text: str, mode: int = 0o644) -> Path:
        p = self.path(inside)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(mode)
        return p

    def chroot(self, *cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["chroot", str(self.merged), *cmd],
            check=True,
            capture_output=True,
            text=True,
            env=_clean_env(),
        )

    # -- boot ------------------------------------------------------------------------------
    def _spawn(self, argv: list[str], boot: bool) -> None:
        binds = [VENV, PROJECT_DIR]
        # The Python the venv was made from.  A system Python (/usr) is not bound over the
        # container's /usr: the container's own python3 of the same Debian release is used.
        if str(BASE_PREFIX) not in ("/", "/usr"):
            binds.insert(0, BASE_PREFIX)
        cmd = [
            "systemd-nspawn",
            "-q",
            "-D",
            str(self.merged),
            "--register=no",
            "--keep-unit",
            f"--machine={self.name}",
            "--console=read-only",
            *[f"--bind-ro={p}" for p in dict.fromkeys(str(b) for b in binds)],
        ]
        cmd += ["--boot"] if boot else ["--", *argv]
        self.boots += 1
        self.log = open(self.log_path, "ab")  # a reboot appends to the same console log
        if self.boots > 1:
            self.log.write(b"\n===== cloudassist realinit: boot %d =====\n" % self.boots)
            self.log.flush()
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_clean_env(),
        )
        self.nspawn_pid = self.proc.pid
        self.start_ticks[self.nspawn_pid] = start_ticks(self.nspawn_pid)

    def boot(self, timeout: float = 60) -> None:
        self._start = ("boot",)
        self._spawn([], boot=True)
        deadline = time.monotonic() + timeout
        while self.init_pid is None:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"systemd-nspawn exited {self.proc.returncode}:\n{self.console()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"container {self.name} has no init after {timeout}s:\n{self.console()}"
                )
            self.init_pid = self._find_init()
            if self.init_pid is None:
                time.sleep(0.05)
        self.start_ticks[self.init_pid] = start_ticks(self.init_pid)
        self._wait_ready(deadline)

    def start_plain(self, pid1: list[str], timeout: float = 30) -> None:
        """Start the root *without* booting its init: PID 1 is ``pid1`` (a container-like
        host, where /sbin/init is systemd but systemd is not what runs)."""
        self._start = ("plain", list(pid1))
        self._spawn(list(pid1), boot=False)
        deadline = time.monotonic() + timeout
        while self.init_pid is None:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"systemd-nspawn exited {self.proc.returncode}:\n{self.console()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"container {self.name} has no PID 1 after {timeout}s")
            self.init_pid = self._find_init(not_exe="nspawn")
            time.sleep(0.05)
        self.start_ticks[self.init_pid] = start_ticks(self.init_pid)
        # Ready when PID 1 has exec'd its program.
        self.wait_for(
            lambda: self.run("true", check=False).returncode == 0,
            timeout=10,
            what="the container to accept commands",
        )

    def _find_init(self, not_exe: str = "nspawn") -> int | None:
        # nspawn's child (or grandchild) that is PID 1 in its own PID namespace.
        todo = _children(self.proc.pid)
        seen = set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            ns = _ns_pid(pid)
            if len(ns) >= 2 and ns[-1] == 1:
                try:
                    exe = os.readlink(f"/proc/{pid}/exe")
                except OSError:
                    exe = ""
                # Before exec it is still a copy of systemd-nspawn.
                if exe and not_exe not in exe:
                    return pid
            todo.extend(_children(pid))
        return None

    def _wait_ready(self, deadline: float) -> None:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(
                    f"container {self.name} did not finish booting:\n{self.console()}"
                )
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"systemd-nspawn exited {self.proc.returncode}:\n{self.console()}"
                )
            if self.kind == "systemd":
                r = self.run(
                    "systemctl",
                    "is-system-running",
                    "--wait",
                    timeout=max(1.0, remaining),
                    check=False,
                )
                state = r.stdout.strip()
                if state in ("running", "degraded"):
                    if state == "degraded":
                        failed = self.run("systemctl", "--failed", "--no-legend", check=False)
                        self.boot_note = f"degraded: {failed.stdout.strip()}"
                    return
                # "offline": systemctl could not reach systemd yet (its bus comes up during boot)
                if state not in ("initializing", "starting", "offline", ""):
                    raise RuntimeError(
                        f"systemd in {self.name} is {state!r}:\n{r}\n{self.console()}"
                    )
                time.sleep(0.2)
            else:
                if self.exists(BOOT_MARKER_FILE):
                    return
                time.sleep(0.1)

    def console(self) -> str:
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def boot_console(self) -> str:
        """The console output of the current boot only (a reboot appends to the log)."""
        try:
            text = self.log_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""
        marker = f"===== cloudassist realinit: boot {self.boots:d} ====="
        return text.split(marker, 1)[1] if self.boots > 1 and marker in text else text

    # -- reboot ----------------------------------------------------------------------------
    def reboot(self, timeout: float = 60, clean: bool = False) -> None:
        """Boot the container again from the state its files are in now.

        The upper layer of the overlay (every file the test or the container changed) is
        kept; what lives only in memory is not: processes, and the tmpfs mounts nspawn gives
        each boot (``/run``, ``/tmp``, ``/dev``).

        ``clean=False`` (the default) cuts the power: SIGKILL to the container's PID 1 ends
        its PID namespace at once, no shutdown script or unit runs, so the next boot sees
        exactly what was on disk.  ``clean=True`` asks the init system to reboot
        (``systemctl reboot``, sysvinit's ``reboot``), waits for its shutdown to finish and
        for systemd-nspawn to exit (it exits 133 on a reboot), falling back to the power cut
        after ``timeout``.  Either way the old systemd-nspawn and every process of the old
        boot are gone (checked) before the new boot starts, which is waited for as
        :meth:`boot` waits (or :meth:`start_plain` for a container started that way).
        Then the ``on_boot`` callables run (the :class:`Salt` of this container rewrites
        its configuration there, since ``/tmp`` is a fresh tmpfs).
        """
        assert self.proc is not None and self.init_pid, "container not started"
        old = (self.nspawn_pid, self.init_pid)
        if clean:
            self._ask_init_to_reboot(timeout)
        problems = self._halt()
        problems += self._leftovers_of_boot(old)
        if problems:
            raise RuntimeError(
                f"container {self.name} did not stop cleanly for a reboot: {problems}"
            )
        self.past_pids.append(old)
        self.init_pid = None
        self.nspawn_pid = None
        # A clean sysvinit shutdown ends with `mount -o remount,ro /` (umountroot): that flips
        # the overlay's superblock, which the host's mount shares, to read-only.  A real
        # machine's next boot remounts its root read-write; so does this one.
        if os.statvfs(self.merged).f_flag & os.ST_RDONLY:
            subprocess.run(
                ["mount", "-o", "remount,rw", str(self.merged)],
                check=True,
                capture_output=True,
                text=True,
            )
        # The boot marker lives in /run (a tmpfs per boot); make sure a stale copy on the
        # overlay itself cannot pass for the new boot's.
        with contextlib.suppress(FileNotFoundError):
            self.path(BOOT_MARKER_FILE).unlink()
        if self._start[0] == "boot":
            self.boot(timeout=timeout)
        else:
            self.start_plain(self._start[1], timeout=timeout)
        for hook in self.on_boot:
            hook()

    def _ask_init_to_reboot(self, timeout: float) -> None:
        if self._start[0] != "boot":
            return  # no init system to ask: the power cut it is
        cmd = ("systemctl", "reboot") if self.kind == "systemd" else ("/sbin/reboot",)
        # The command may lose its own namespace under it: its exit status is not a verdict.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.run(*cmd, check=False, timeout=timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=timeout)

    def _halt(self) -> list[str]:
        """Stop the running container (if any): SIGKILL to PID 1, wait for systemd-nspawn.
        Returns problems (empty when it stopped)."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is None and self.init_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, signal.SIGKILL)  # ends the whole PID namespace
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                problems.append(f"systemd-nspawn {self.proc.pid} did not exit")
        with contextlib.suppress(Exception):
            self.log.close()
        self.proc = None
        return problems

    def _leftovers_of_boot(self, pids, timeout: float = 10) -> list[str]:
        """Processes of a stopped boot still alive, or mounts nspawn left on the overlay."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                f"{what} process {pid} still running"
                for what, pid in zip(("systemd-nspawn", "container init"), pids, strict=False)
                if _alive(pid, self.start_ticks.get(pid))
            ]
            found += [
                f"process {pid} still runs in the container" for pid in self.processes_inside()
            ]
            found += [f"mount {mp}" for mp in mounts_under(self.merged) if mp != str(self.merged)]
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def processes_inside(self) -> list[int]:
        """Host pids of live processes whose root is this container's tree."""
        prefix = str(self.merged)
        out = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                root = os.readlink(f"/proc/{p}/root")
            except OSError:
                continue
            if (root == prefix or root.startswith(prefix + "/")) and _alive(int(p)):
                out.append(int(p))
        return out

    # -- inside ----------------------------------------------------------------------------
    def exists(self, inside: str) -> bool:
        """Does ``inside`` exist as the running container sees it?  (Asked inside: absolute
        symlinks such as /var/run -> /run would escape a /proc/PID/root path.)"""
        return self.run("test", "-e", inside, check=False).returncode == 0

    def read(self, inside: str) -> str | None:
        r = self.run("cat", inside, check=False)
        return r.stdout if r.returncode == 0 else None

    def run(
        self,
        *cmd: str,
        check: bool = True,
        timeout: float = 120,
        input: str | None = None,
        env: dict | None = None,
        nsenter_opts: tuple[str, ...] = (),
    ) -> Result:
        assert self.init_pid, "container not booted"
        full = ["nsenter", "-t", str(self.init_pid), "-a", *nsenter_opts, "--", *cmd]
        e = _clean_env()
        e.update(env or {})
        proc = subprocess.run(
            full, capture_output=True, text=True, timeout=timeout, input=input, env=e
        )
        res = Result(list(cmd), proc)
        if check and proc.returncode != 0:
            raise AssertionError(f"command failed in {self.name}: {res!r}")
        return res

    def sh(self, script: str, **kw) -> Result:
        return self.run("/bin/sh", "-c", script, **kw)

    def pids(self, comm: str = "aliyun-service") -> list[int]:
        """PIDs (as the container sees them) whose /proc/PID/comm is ``comm``."""
        r = self.run(
            VENV_PYTHON.as_posix(),
            "-c",
            textwrap.dedent("""\
            import os, sys
            out = []
            for p in os.listdir('/proc'):
                if p.isdigit():
                    try:
                        with open('/proc/%s/comm' % p) as f:
                            c = f.read().strip()
                        with open('/proc/%s/stat' % p) as f:
                            st = f.read().rsplit(')', 1)[1].split()[0]
                    except OSError:
                        continue
                    if c == sys.argv[1] and st != 'Z':
                        out.append(int(p))
            print(' '.join(map(str, sorted(out))))
            """),
            comm,
        )
        return [int(x) for x in r.stdout.split()]

    def wait_for(self, predicate, timeout: float = 10, interval: float = 0.1, what: str = ""):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
            time.sleep(interval)

    # -- teardown --------------------------------------------------------------------------
    def close(self) -> list[str]:
        """Kill the container, unmount, delete.  Returns problems (empty when clean)."""
        problems = self._halt()
        if self.mounted:
            problems.extend(unmount_tree(self.merged))
            self.mounted = False
        if not problems:
            remove_tree(self.work)
        return problems


def mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4].encode().decode("unicode_escape")
        if mp == prefix or mp.startswith(prefix + "/"):
            out.append(mp)
    return out


def unmount_tree(path: Path) -> list[str]:
    for _attempt in range(50):
        mps = mounts_under(path)
        if not mps:
            return []
        for mp in sorted(mps, key=len, reverse=True):
            subprocess.run(["umount", mp], capture_output=True)
        time.sleep(0.1)
    mps = mounts_under(path)
    for mp in sorted(mps, key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)
    return [f"mount {mp} was busy (lazily unmounted)" for mp in mps]


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields if len(fields) > 19 else None


def start_ticks(pid: int | None) -> int | None:
    """When ``pid`` started (field 22 of /proc/PID/stat), or None if it is gone."""
    fields = _stat_fields(pid) if pid else None
    return int(fields[19]) if fields else None


def _alive(pid: int | None, started: int | None = None) -> bool:
    """Is ``pid`` a live process (not a zombie)?  With ``started`` (its start ticks when it
    was recorded), only if it is still that process, not a later one given the same pid."""
    fields = _stat_fields(pid) if pid else None
    if fields is None or fields[0] == "Z":
        return False
    return started is None or int(fields[19]) == started


def leftovers_of(c: Container) -> list[str]:
    """What container ``c`` left on the host after ``close()`` (empty when nothing)."""
    found = []
    for nspawn_pid, init_pid in [*c.past_pids, (c.nspawn_pid, c.init_pid)]:  # every boot
        for what, pid in (("systemd-nspawn", nspawn_pid), ("container init", init_pid)):
            if _alive(pid, c.start_ticks.get(pid)):
                found.append(f"{c.name}: {what} process {pid} still running")
    found.extend(f"{c.name}: mount {mp}" for mp in mounts_under(c.work))
    if c.work.exists():
        found.append(f"{c.name}: directory {c.work}")
    return found


def leftovers() -> list[str]:
    """Mounts, processes and temp dirs of this suite still present on the host."""
    found = []
    work_prefix = str(WORK_PARENT / TMP_PREFIX)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4]
        if mp.startswith(work_prefix):
            found.append(f"mount {mp}")
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            root = os.readlink(f"/proc/{p}/root")
            cmdline = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if root.startswith(work_prefix) or (
            cmdline.startswith("systemd-nspawn") and TMP_PREFIX in cmdline
        ):
            found.append(f"process {p}: {cmdline.strip()}")
    for d in WORK_PARENT.glob(TMP_PREFIX + "*"):
        found.append(f"directory {d}")
    return found


# --------------------------------------------------------------------------------------------
# salt-call inside a container
# --------------------------------------------------------------------------------------------

SALT_DIR = "/tmp/salt"


class Salt:
    """A masterless minion inside ``container`` using the checkout's modules."""

    def __init__(self, container: Container, extra_config: dict | None = None):
        self.c = container
        self.extra_config = extra_config or {}
        self._last_extra = None
        self._sls: dict[str, str] = {}
        self.configure()
        # SALT_DIR is under /tmp, a fresh tmpfs at every boot: write it again after a reboot.
        container.on_boot.append(self.restore)

    def restore(self) -> None:
        """Write the configuration and the sls files again (after a reboot)."""
        self.configure(self._last_extra)
        for name, text in self._sls.items():
            self.write_sls(name, text)

    def configure(self, extra: dict | None = None, ns_dir: str = SALT_DIR) -> None:
        config = {
            "id": f"realinit-{self.c.name}",
            "file_client": "local",
            "root_dir": SALT_DIR,
            "conf_file": f"{SALT_DIR}/conf/minion",
            "pki_dir": f"{SALT_DIR}/pki",
            "cachedir": f"{SALT_DIR}/cache",
            "sock_dir": f"{SALT_DIR}/sock",
            "extension_modules": f"{SALT_DIR}/extmods",
            "log_file": f"{SALT_DIR}/minion.log",
            "log_level_logfile": "debug",
            "module_dirs": [str(PROJECT_DIR / "_modules")],
            "states_dirs": [str(PROJECT_DIR / "_states")],
            "file_roots": {"base": [f"{SALT_DIR}/states"]},
            "pillar_roots": {"base": [f"{SALT_DIR}/pillar"]},
            "enable_fqdns_grains": False,
            "grains_cache": False,
        }
        config.update(self.extra_config)
        config.update(extra or {})
        self._last_extra = extra
        # JSON is YAML.
        self.c.sh(
            f"mkdir -p {SALT_DIR}/conf {SALT_DIR}/states {SALT_DIR}/pillar && "
            f"cat > {SALT_DIR}/conf/minion",
            input=json.dumps(config, indent=1),
        )

    def write_sls(self, name: str, text: str) -> None:
        self._sls[name] = text
        self.c.run(
            "/bin/sh", "-c", f"cat > {SALT_DIR}/states/{name}.sls", input=textwrap.dedent(text)
        )

    def call(
        self,
        fun: str,
        *args: str,
        check: bool | None = None,
        timeout: float = 120,
        wrap: tuple[str, ...] = (),
        nsenter_opts: tuple[str, ...] = (),
    ) -> SaltResult:
        cmd = [
            *wrap,
            str(SALT_CALL),
            "--local",
            f"--config-dir={SALT_DIR}/conf",
            "--out=json",
            "--retcode-passthrough",
            "--log-level=quiet",
            fun,
            *args,
        ]
        res = self.c.run(*cmd, check=False, timeout=timeout, nsenter_opts=nsenter_opts)
        out = SaltResult(fun, args, res)
        if check is True and out.returncode != 0:
            raise AssertionError(f"salt-call {fun} {' '.join(args)} failed: {res!r}")
        if check is False and out.returncode == 0:
            raise AssertionError(f"salt-call {fun} {' '.join(args)} should have failed: {res!r}")
        return out


class SaltResult:
    def __init__(self, fun, args, res: Result):
        self.fun = fun
        self.args = args
        self.raw = res
        self.returncode = res.returncode
        self.stdout = res.stdout
        self.stderr = res.stderr
        self.data = None
        text = res.stdout.strip()
        if text:
            with contextlib.suppress(ValueError):
                self.data = json.loads(text)

    @property
    def ret(self):
        if isinstance(self.data, dict) and "local" in self.data:
            return self.data["local"]
        return self.data

    @property
    def text(self) -> str:
        return (self.stdout or "") + "\n" + (self.stderr or "")

    def __repr__(self):
        return f"<salt-call {self.fun} {' '.join(self.args)} rc={self.returncode}\n{self.raw!r}>"
