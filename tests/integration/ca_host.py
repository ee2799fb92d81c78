"""The test's own view of, and hands on, the host: /proc, the pid file, the init script.

Kept apart from the module under test: the integration tests arrange the client's state with
the init script directly and check the result by reading /proc themselves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from support import standin  # noqa: E402

INIT_SCRIPT = Path("/etc/init.d/aliyun-service")
PIDFILE = Path("/var/run/aliyun-service.pid")
DEFAULT_VERSION = "2.2.3.578"
SETTLE = 0.5


# --- the host side: processes, pid file, init script -------------------------------------


def client_processes(binary) -> list[int]:
    """Pids of running stand-in clients, read from /proc (not from the module).

    A process counts when its command line names the stand-in's path; ``-v``/``--version``
    probes (the module runs one on every call) are not a running client.
    """
    needle = str(binary).encode()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            with open(f"/proc/{name}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[-1].split()[:1]
        except OSError:
            continue
        if state in ([b"Z"], [b"X"]):
            continue
        if needle in argv and b"-v" not in argv[1:] and b"--version" not in argv[1:]:
            pids.append(int(name))
    return sorted(pids)


def pidfile_pid() -> int | None:
    try:
        text = PIDFILE.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def kill_clients(binary, timeout=5.0):
    pids = client_processes(binary)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = client_processes(binary)
            if not pids:
                return
            time.sleep(0.05)


class Host:
    """The test's own hands on the host: it arranges state without going through the module."""

    def __init__(self, binary: Path):
        self.binary = binary

    def pids(self) -> list[int]:
        return client_processes(self.binary)

    def pidfile_pid(self) -> int | None:
        return pidfile_pid()

    def write_client(self, version=DEFAULT_VERSION, **knobs):
        standin.install_client(self.binary, version, **knobs)

    def _init(self, action):
        subprocess.run([str(INIT_SCRIPT), action], check=True, timeout=30,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ensure_running(self) -> int:
        """Client running (exactly one process); returns its pid."""
        if not self.pids():
            self._init("start")
        deadline = time.monotonic() + 10
        while not self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = self.pids()
        assert len(pids) == 1, f"could not arrange a running stand-in client: {pids}"
        return pids[0]

    def ensure_stopped(self):
        """No client process and no pid file.  Signals, not the init script: its stop waits
        for the process to be reaped, and this host's PID 1 reaps orphans slowly."""
        kill_clients(self.binary)
        PIDFILE.unlink(missing_ok=True)
        assert not self.pids()
