"""Stand-ins for the Cloud Assistant client, written into a host or a container root.

The real client cannot run here, so each test writes a small program that behaves like it:
``-v``/``--version`` prints the version it was built with (optionally after noise lines, as
old builds did), anything else runs in the foreground until SIGTERM/SIGINT.  The script's
shebang names its interpreter directly (never through ``env``), so the kernel sets the
process name (``/proc/PID/comm``) to ``aliyun-service`` exactly as for the real binary.

Fault knobs (issue 4) are baked in at build time so a test states exactly what it wants.
"""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from pathlib import Path

CLIENT_TEMPLATE = '''\
#!{interpreter}
# Stand-in for the Cloud Assistant client (aliyun-service), written by the cloudassist tests.
import signal, sys, time

VERSION = {version!r}
NOISE = {noise!r}
VERSION_EXIT = {version_exit!r}
HANG_ON_VERSION = {hang_on_version!r}
IGNORE_TERM = {ignore_term!r}
DIE_AFTER = {die_after!r}

args = sys.argv[1:]
if args and args[0] in ("-v", "--version"):
    if HANG_ON_VERSION:
        while True:
            time.sleep(3600)
    for line in NOISE:
        print(line)
    if VERSION is not None:
        print(VERSION)
    sys.stdout.flush()
    sys.exit(VERSION_EXIT)

def _stop(signum, frame):
    sys.exit(0)

signal.signal(signal.SIGTERM, signal.SIG_IGN if IGNORE_TERM else _stop)
signal.signal(signal.SIGINT, _stop)
started = time.monotonic()
while True:
    time.sleep(0.1)
    if DIE_AFTER is not None and time.monotonic() - started >= DIE_AFTER:
        sys.exit(3)
'''


def client_script(
    version: str | None = "2.2.3.578",
    *,
    interpreter: str | None = None,
    noise: tuple[str, ...] | list[str] = (),
    version_exit: int = 0,
    hang_on_version: bool = False,
    ignore_term: bool = False,
    die_after: float | None = None,
) -> str:
    """Return the text of a stand-in client.

    ``version=None`` prints no version at all; ``noise`` lines come before it.
    ``interpreter`` defaults to the Python running the tests (use ``/usr/bin/python3`` inside
    a container root).
    """
    return CLIENT_TEMPLATE.format(
        interpreter=interpreter or sys.executable,
        version=version,
        noise=list(noise),
        version_exit=version_exit,
        hang_on_version=hang_on_version,
        ignore_term=ignore_term,
        die_after=die_after,
    )


def write_executable(path: str | os.PathLike, text: str, mode: int = 0o755) -> Path:
    """Write ``path`` atomically: a process starting from the old file (Python still reading
    its script) never sees half a file, as with a real client's self-update."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".{}.{}.tmp".format(path.name, os.getpid()))
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)
    return path


def install_client(path: str | os.PathLike, version: str | None = "2.2.3.578", **knobs) -> Path:
    """Write a stand-in client at ``path`` (e.g. ``ROOT/usr/sbin/aliyun-service``)."""
    return write_executable(path, client_script(version, **knobs))


SYSV_SCRIPT_TEMPLATE = '''\
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
'''


def sysv_script(
    binary: str,
    *,
    name: str = "aliyun-service",
    pidfile: str = "/var/run/aliyun-service.pid",
    stop_wait_tenths: int = 50,
    stop_lies: bool = False,
) -> str:
    """An init script that manages the stand-in at ``binary``.

    ``stop_lies=True`` makes ``stop`` exit 0 and drop the pid file even when the process
    survived (a client that ignores SIGTERM then looks stopped to the script alone).
    """
    stop_tail = (
        ":"
        if stop_lies
        else 'if running; then echo "{} did not stop"; exit 1; fi'.format(name)
    )
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


WATCHDOG_TEMPLATE = '''\
#!{interpreter}
# Stand-in for the watchdog assist_daemon, written by the cloudassist tests: while it runs,
# it starts the client again ({delay} s after finding it gone) with {start!r}.
# `assist_daemon --stop` stops a running watchdog and, like the real one, exits 0 always.
import os, signal, subprocess, sys, time

PIDFILE = {pidfile!r}
CLIENT_PIDFILE = {client_pidfile!r}

def alive(path):
    try:
        pid = int(open(path).read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    state = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")

if sys.argv[1:] == ["--stop"]:
    if {stop_works!r} and alive(PIDFILE):
        os.kill(int(open(PIDFILE).read()), signal.SIGTERM)
    sys.exit(0)

with open(PIDFILE, "w") as handle:
    handle.write(str(os.getpid()))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
gone_since = None
while True:
    time.sleep(0.1)
    if alive(CLIENT_PIDFILE):
        gone_since = None
        continue
    gone_since = gone_since or time.monotonic()
    if time.monotonic() - gone_since >= {delay!r}:
        subprocess.call({start!r}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        gone_since = None
'''


def watchdog_script(start, pidfile, client_pidfile, *, delay=1.0, stop_works=True, interpreter=None):
    """A watchdog that runs ``start`` (an argument list) when the client's pid file goes stale."""
    return WATCHDOG_TEMPLATE.format(
        interpreter=interpreter or sys.executable,
        start=list(start),
        pidfile=pidfile,
        client_pidfile=client_pidfile,
        delay=delay,
        stop_works=stop_works,
    )
