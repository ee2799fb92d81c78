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
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from support import standin  # noqa: E402
from support.salthost import pids_running  # noqa: E402

INIT_SCRIPT = Path("/etc/init.d/aliyun-service")
PIDFILE = Path("/var/run/aliyun-service.pid")
DEFAULT_VERSION = "2.2.3.578"
SETTLE = 0.5


# --- the host side: processes, pid file, init script -------------------------------------


def client_processes(binary) -> list[int]:
    """Pids of running stand-in clients, read from /proc (not from the module); the
    ``-v``/``--version`` probes the module runs are not a running client."""
    return pids_running(str(binary), exclude_args=("-v", "--version"))


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
        # output to a file, not a pipe: the daemon the script starts keeps its fds
        with open(os.devnull, "rb") as null, tempfile.TemporaryFile() as out:
            proc = subprocess.run(
                [str(INIT_SCRIPT), action],
                timeout=30,
                stdin=null,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            out.seek(0)
            text = out.read().decode(errors="replace").strip()
        assert proc.returncode == 0, f"{INIT_SCRIPT} {action} exited {proc.returncode}: {text}"
        return text

    def ensure_running(self) -> int:
        """Client running (exactly one process); returns its pid.

        Arranging the test's starting point is not what is tested: a start that did not take
        is tried once more, and a second failure says what the init script and pid file said.
        """
        said = []
        for _ in range(2):
            if not self.pids():
                said.append(self._init("start"))
            deadline = time.monotonic() + 10
            while not self.pids() and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.pids():
                break
        pids = self.pids()
        assert len(pids) == 1, (
            f"could not arrange a running stand-in client: {pids}; init script said {said}, "
            f"pid file holds {self.pidfile_pid()}"
        )
        return pids[0]

    def ensure_stopped(self):
        """No client process and no pid file.  Signals, not the init script: its stop waits
        for the process to be reaped, and this host's PID 1 reaps orphans slowly."""
        kill_clients(self.binary)
        PIDFILE.unlink(missing_ok=True)
        assert not self.pids()
