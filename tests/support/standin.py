"""Stand-ins for the Cloud Assistant client, written into a host or a container root.

The real client cannot run here, so each test installs a small program that behaves like it
(``standin.c`` beside this file, see its header): ``-v``/``--version`` creates ``log/`` next to
the binary and prints the version (optionally among noise lines, as old builds did); no
argument runs in the foreground until SIGTERM/SIGINT; ``-d`` re-runs itself in a new session
and returns.  The real client's single-instance lock (``$TMPDIR/AliyunAssistClientSingleLock.lock``
plus ``/var/tmp/aliyun-service.pid``) is deliberately NOT implemented: tests run several
clients at once on purpose.

It is a real executable, like the real client (a Go ELF binary): ``/proc/PID/exe`` of a running
stand-in is the installed file and ``/proc/PID/comm`` its basename (``aliyun-service``).  It
is compiled once with ``gcc -static`` (so it also runs inside minbase container roots) and
cached by the hash of its source and flags (:func:`client_binary`); every install is a copy.

Fault knobs (issue 4) cannot be compiled per test, so the one binary reads them at run time
from a sidecar next to the installed file, ``.standin-<basename>.conf`` (``key=value`` lines,
see ``standin.c``), written atomically by :func:`install_client`.  ``-v`` reads it at each
call; a foreground client reads it once at start, so a rewrite does not change a running one.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import stat
import subprocess
import tempfile
import textwrap
from pathlib import Path
from typing import NamedTuple

SOURCE = Path(__file__).with_name("standin.c")
CFLAGS = ("-static", "-O2", "-s", "-Wall", "-Wextra")
DEFAULT_VERSION = "2.2.3.578"
STREAMS = ("stdout", "stderr")

_built: dict[str, Path] = {}


def _cache_dirs():
    """Where the compiled stand-in may be kept, best first."""
    override = os.environ.get("CLOUDASSIST_STANDIN_CACHE")
    if override:
        yield Path(override)
    if os.geteuid() == 0:
        yield Path("/var/cache/cloudassist-tests/standin")
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    yield Path(xdg, "cloudassist-tests", "standin")
    yield Path(tempfile.gettempdir(), f"cloudassist-tests-{os.geteuid()}", "standin")


def client_binary() -> Path:
    """The compiled stand-in (compiled on first use, then reused from the cache).

    The cache key is the hash of ``standin.c`` and the compiler flags, so an edited source is
    compiled again.  ``$CLOUDASSIST_STANDIN_CACHE`` names another cache folder.
    """
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + b"\0" + " ".join(CFLAGS).encode()).hexdigest()[:16]
    if key in _built and _built[key].is_file():
        return _built[key]
    problems = []
    for folder in _cache_dirs():
        target = folder / f"aliyun-service-{key}"
        if target.is_file() and os.access(target, os.X_OK):
            _built[key] = target
            return target
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".build-", dir=folder)
            os.close(fd)
        except OSError as exc:
            problems.append(f"{folder}: {exc}")
            continue
        try:
            proc = subprocess.run(
                ["gcc", *CFLAGS, "-o", tmp, str(SOURCE)],
                capture_output=True,
                text=True,
                timeout=300,
            )
            if proc.returncode != 0:
                raise RuntimeError(
                    "compiling the stand-in client failed (gcc {}; a static build needs libc.a, "
                    "from libc6-dev):\n{}".format(" ".join(CFLAGS), proc.stderr.strip())
                )
            os.chmod(tmp, 0o755)
            os.replace(tmp, target)  # concurrent sessions: the last identical build wins
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _built[key] = target
        return target
    raise RuntimeError("no writable cache folder for the stand-in client: " + "; ".join(problems))


def _escape(value) -> str:
    text = str(value)
    if "\0" in text:
        raise ValueError(f"the stand-in cannot print a NUL byte: {text!r}")
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _lines(value):
    """One line or several: a string is one line, not a list of characters."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def client_config(
    version: str | None = DEFAULT_VERSION,
    *,
    interpreter: str | None = None,
    noise: tuple[str, ...] | list[str] = (),
    version_exit: int = 0,
    hang_on_version: bool = False,
    ignore_term: bool = False,
    die_after: float | None = None,
    version_stream: str = "stdout",
    noise_after: tuple[str, ...] | list[str] = (),
    extra_versions: str | tuple[str, ...] | list[str] = (),
    noise_stream: str = "stdout",
    updater: str | None = None,
) -> str:
    """The sidecar text that makes the stand-in behave as asked.

    ``version=None`` prints no version at all; ``noise`` lines come before it, ``noise_after``
    lines after it (e.g. ``"100.100.100.200 unreachable, retry in 3s"``), both on
    ``noise_stream``.  ``extra_versions`` are further version lines right after the version
    (a faulty build printing two versions).  ``version_stream="stderr"`` prints the version
    lines on stderr only.  ``version_exit`` is the exit code of ``-v``; ``hang_on_version``
    makes ``-v`` never answer.  A foreground client ignores SIGTERM with ``ignore_term`` and
    exits 3 after ``die_after`` seconds.  ``updater`` (a path as the client sees it) is started
    detached when a foreground client starts, as the real one starts ``aliyun_assist_update``
    (:func:`install_updater` puts one in place).  ``interpreter`` is accepted and ignored (the
    stand-in is a static executable; it used to be a script).
    """
    del interpreter
    for name, stream in (("version_stream", version_stream), ("noise_stream", noise_stream)):
        if stream not in STREAMS:
            raise ValueError(f"{name} must be one of {STREAMS}, not {stream!r}")
    out = ["# knobs of the cloudassist stand-in client (tests/support/standin.c)"]
    out += ["noise=" + _escape(line) for line in _lines(noise)]
    if version is not None:
        out.append("version=" + _escape(version))
    out += ["extra_version=" + _escape(line) for line in _lines(extra_versions)]
    out += ["noise_after=" + _escape(line) for line in _lines(noise_after)]
    out.append("version_stream=" + version_stream)
    out.append("noise_stream=" + noise_stream)
    out.append(f"version_exit={int(version_exit):d}")
    out.append(f"hang_on_version={bool(hang_on_version):d}")
    out.append(f"ignore_term={bool(ignore_term):d}")
    if die_after is not None:
        out.append(f"die_after={float(die_after)!r}")
    if updater is not None:
        out.append("updater=" + _escape(updater))
    return "\n".join(out) + "\n"


# The stand-in used to be a script, whose text this returned; its text is now the sidecar.
client_script = client_config


def config_path(path: str | os.PathLike) -> Path:
    """The sidecar the stand-in installed at ``path`` reads (next to the file, not a link)."""
    path = Path(path)
    return path.with_name(f".standin-{path.name}.conf")


def _atomic_write(path: Path, data: bytes, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_executable(path: str | os.PathLike, text: str | bytes, mode: int = 0o755) -> Path:
    """Write ``path`` atomically (a temporary file in the same folder, then a rename): a
    process starting from the old file never sees half a file, as with a real client's
    self-update."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    return _atomic_write(Path(path), data, mode)


def install_client(path: str | os.PathLike, version: str | None = DEFAULT_VERSION, **knobs) -> Path:
    """Install a stand-in client at ``path`` (e.g. ``ROOT/usr/sbin/aliyun-service``) with its
    knobs (see :func:`client_config`); returns ``path``.

    The sidecar is written first, then the binary by atomic replace.  When ``path`` already
    is a regular file holding the same stand-in, the file is kept (only its mode is set to
    0755): a client running from it keeps a valid ``/proc/PID/exe`` instead of one marked
    ``(deleted)``.  A link at ``path`` is replaced by the file, as before.

    A kept file whose sidecar changed is touched (new mtime and ctime): the real client's
    version and behaviour are compiled in, so another version is always another binary, and
    the module's version cache (keyed by the binary's stat) must see it as one.
    """
    path = Path(path)
    config = client_config(version, **knobs).encode()
    sidecar = config_path(path)
    try:
        changed = sidecar.read_bytes() != config
    except OSError:
        changed = True
    _atomic_write(sidecar, config, 0o644)
    binary = client_binary()
    if path.is_file() and not path.is_symlink() and filecmp.cmp(path, binary, shallow=False):
        os.chmod(path, 0o755)
        if changed:
            os.utime(path)
        return path
    return _atomic_write(path, binary.read_bytes(), 0o755)


UPDATER_NAME = "aliyun_assist_update"


def install_updater(folder: str | os.PathLike, *, lifetime: float = 300, **knobs) -> Path:
    """A stand-in updater ``aliyun_assist_update`` in the version folder ``folder``: it runs
    for ``lifetime`` seconds (the real one up to two minutes), or until SIGTERM (unless
    ``ignore_term``), then exits.  Its ``/proc/PID/exe`` lies in the client's install folder
    and its name is not the client's: it is never the client."""
    return install_client(Path(folder) / UPDATER_NAME, None, die_after=lifetime, **knobs)


class ClientInstall(NamedTuple):
    """Paths of a client laid out as the vendor's package does."""

    binary: Path  # <root>/usr/local/share/aliyun-assist/<version>/aliyun-service
    link: Path  # <root>/usr/sbin/aliyun-service
    version_file: Path  # <root>/usr/local/share/aliyun-assist/version
    folder: Path  # <root>/usr/local/share/aliyun-assist


def install_versioned_client(
    root: str | os.PathLike,
    version: str = DEFAULT_VERSION,
    *,
    link: bool = True,
    version_file: bool = True,
    relative_link: bool = False,
    share: str = "usr/local/share",
    sbin: str = "usr/sbin",
    name: str = "aliyun-service",
    **knobs,
) -> ClientInstall:
    """Lay out the real install shape under ``root`` (``/`` for the host itself, or a
    container root) and return its paths:

    - ``<root>/usr/local/share/aliyun-assist/<version>/aliyun-service``, the stand-in printing
      ``version`` (``knobs`` as for :func:`install_client`);
    - ``<root>/usr/sbin/aliyun-service``, a link to it, absolute as seen from inside ``root``
      (as the package makes it), or relative with ``relative_link`` (usable without a chroot);
    - ``<root>/usr/local/share/aliyun-assist/version`` holding the version.

    Calling it again with another version is a self-update: the new version folder is added
    and the link and the version file move (atomically) to it; the old folder stays.  Pass
    ``link=False`` or ``version_file=False`` to leave either where it was (a half-done
    update).  ``share="opt/local/share", sbin="opt/sbin"`` gives the CoreOS-like layout.
    """
    root = Path(root)
    folder = root / share / "aliyun-assist"
    binary = install_client(folder / version / name, version, **knobs)
    link_path = root / sbin / name
    stamp = folder / "version"
    if link:
        target = (
            os.path.relpath(binary, link_path.parent)
            if relative_link
            else "/" + str(binary.relative_to(root)).lstrip("/")
        )
        link_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = link_path.with_name(f".{name}.{os.getpid()}.link")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(target)
        os.replace(tmp, link_path)
    if version_file:
        _atomic_write(stamp, (version + "\n").encode(), 0o644)
    return ClientInstall(binary, link_path, stamp, folder)


SYSV_SCRIPT_TEMPLATE = """\
#!/bin/sh
### BEGIN INIT INFO
# Provides:          {name}
# Required-Start:    $local_fs
# Required-Stop:     $local_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: Stand-in for the Cloud Assistant client ({name})
### END INIT INFO
# Written by the cloudassist tests: daemonizes the stand-in client and keeps a pid file,
# like the vendor's /etc/init.d/aliyun-service.
BINARY={binary}
PIDFILE={pidfile}

running() {{
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # a zombie only waits for its parent to reap it: it is not running
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
    [ "$state" != Z ]
}}

case "$1" in
start)
    if running; then echo "{name} is already running"; exit 0; fi
    setsid "$BINARY" </dev/null >/dev/null 2>&1 &
    echo $! > "$PIDFILE"
    echo "Starting {name}"
    ;;
stop)
    if running; then
        kill "$(cat "$PIDFILE")"
        i=0
        while running && [ $i -lt {stop_wait_tenths} ]; do sleep 0.1; i=$((i+1)); done
        {stop_tail}
    fi
    rm -f "$PIDFILE"
    echo "Stopping {name}"
    ;;
restart)
    "$0" stop
    "$0" start
    ;;
status)
    if running; then echo "{name} is running"; exit 0; fi
    echo "{name} is not running"; exit 3
    ;;
*)
    echo "Usage: $0 {{start|stop|restart|status}}"; exit 2
    ;;
esac
exit 0
"""


def sysv_script(
    binary: str,
    *,
    name: str = "aliyun-service",
    pidfile: str = "/var/run/aliyun-service.pid",
    stop_wait_tenths: int = 50,
    stop_lies: bool = False,
    diagnose: bool = False,
) -> str:
    """An init script that manages the stand-in at ``binary``.

    ``stop_lies=True`` makes ``stop`` exit 0 and drop the pid file even when the process
    survived (a client that ignores SIGTERM then looks stopped to the script alone).
    ``diagnose=True`` adds to "did not stop" what the kernel says of the survivor (its
    state, wait channel and signal masks), for a failure no test means to provoke.
    """
    said = f"{name} did not stop"
    if diagnose:
        said += (
            "; pid $(cat \"$PIDFILE\"): $(grep -E '^(State|SigPnd|ShdPnd|SigBlk|SigIgn):'"
            " /proc/$(cat \"$PIDFILE\")/status | tr '\\n\\t' '  ')"
            ' wchan $(cat /proc/$(cat "$PIDFILE")/wchan)'
        )
    stop_tail = ":" if stop_lies else f'if running; then echo "{said}"; exit 1; fi'
    return SYSV_SCRIPT_TEMPLATE.format(
        name=name,
        binary=binary,
        pidfile=pidfile,
        stop_wait_tenths=stop_wait_tenths,
        stop_tail=stop_tail,
    )


def systemd_unit(binary: str, *, description: str = "Stand-in Cloud Assistant client") -> str:
    return textwrap.dedent(
        f"""\
        [Unit]
        Description={description}

        [Service]
        Type=simple
        ExecStart={binary}
        Restart=no

        [Install]
        WantedBy=multi-user.target
        """
    )


def is_executable_file(path: str | os.PathLike) -> bool:
    st = os.stat(path)
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)


def watchdog_config(start, pidfile, client_pidfile, *, delay=1.0, stop_works=True) -> str:
    """The sidecar that makes the stand-in the watchdog ``assist_daemon``: while it runs, it
    writes its pid to ``pidfile`` and runs ``start`` (an argument list) ``delay`` seconds after
    the pid in ``client_pidfile`` went stale; ``assist_daemon --stop`` stops it (unless
    ``stop_works`` is false) and, like the real one, exits 0 always."""
    out = [
        "# knobs of the cloudassist stand-in watchdog (tests/support/standin.c)",
        "role=watchdog",
    ]
    out.append("pidfile=" + _escape(str(pidfile)))
    out.append("client_pidfile=" + _escape(str(client_pidfile)))
    out += ["start=" + _escape(str(arg)) for arg in start]
    out.append(f"delay={float(delay)!r}")
    out.append(f"stop_works={bool(stop_works):d}")
    return "\n".join(out) + "\n"


def install_watchdog(
    path: str | os.PathLike, start, pidfile, client_pidfile, *, delay=1.0, stop_works=True
) -> Path:
    """Install the stand-in watchdog at ``path`` (its sidecar from :func:`watchdog_config`).

    It is the compiled stand-in, as the real watchdog is an executable of its own: a running
    one's ``/proc/PID/exe`` is ``path`` and its ``comm`` ``assist_daemon``.
    """
    path = Path(path)
    config = watchdog_config(start, pidfile, client_pidfile, delay=delay, stop_works=stop_works)
    _atomic_write(config_path(path), config.encode(), 0o644)
    return _atomic_write(path, client_binary().read_bytes(), 0o755)


def install_idle_watchdog(path: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """A stand-in watchdog at ``path`` that never gets to start anything (an hour's delay,
    ``/bin/true``), its pid files in ``folder`` (``wd.pid``, and ``client.pid`` it watches)."""
    folder = Path(folder)
    return install_watchdog(
        path, ["/bin/true"], folder / "wd.pid", folder / "client.pid", delay=3600
    )
