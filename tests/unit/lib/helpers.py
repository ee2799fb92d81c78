"""What more than one test file builds its cases from; not a test file itself."""

import os
import time

import _cloudassist_procedure as procedure
import _cloudassist_watch as watch
from _cloudassist_facts import processes
from _cloudassist_records import BootState, ClientStatus, InitDecision, NoClient, Watchdog

Snapshot = watch.Snapshot


# --- processes: waiting for what a real process does (test_facts_processes, test_run) -----


def named(name):
    """Pids of live processes called ``name`` (by comm or executable)."""
    return [proc.pid for proc in processes({name})]


def wait_until(predicate, seconds=5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# --- init scripts' links (test_boot, test_systemd) ----------------------------------------


def link(root, folder, name, target="../init.d/aliyun-service"):
    path = root / folder.lstrip("/")
    path.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path / name)


# --- a fleet's returns (test_report, ../test_runner) --------------------------------------


BRANCHES = {
    row.init_systems[0]: row
    for row in procedure.TABLE
    if row.platform == "linux" and row.legacy is False
}


BLOCKED = "the branch needs chkconfig to manage agentwatch, and this host has no chkconfig"


def status(
    version="2.2.3.578", init="systemd", running=True, enabled=True, watchdog=False, blocked=None
):
    branch = BRANCHES[init]
    return ClientStatus(
        platform="linux",
        version=version,
        binary="/usr/sbin/aliyun-service",
        init=InitDecision(init, "the test says so"),
        branch=branch,
        steps={"stop": branch.stop, "start": branch.start},
        pids=(4242,) if running else (),
        watchdog=Watchdog((77,), "process") if watchdog else Watchdog(),
        blocked=blocked,
        boot_state=BootState(branch.service, enabled, "the test says so"),
    ).as_dict()


NOT_INSTALLED = (
    "the Cloud Assistant client is not installed: looked for /usr/sbin/aliyun-service, "
    "/opt/sbin/aliyun-service and aliyun-service on the PATH"
)
BROKEN = (
    "the Cloud Assistant client is broken: /usr/sbin/aliyun-service is a link to "
    "/usr/local/share/aliyun-assist/2.2.3.578/aliyun-service, which does not exist"
)


def ok(data):
    return {"ret": data, "retcode": 0, "jid": "20261127101010123456"}


def error(text, retcode=1):
    return {"ret": text, "retcode": retcode, "jid": "20261127101010123456"}


FLEET = {
    "web1": ok(status()),
    "web2": ok(status(version="2.2.4.1065", watchdog=True)),
    "web3": ok(status(init="sysvinit", running=False, enabled=False)),
    "old1": ok(
        status(version="1.0.1.308", init="sysvinit", running=False, enabled=None, blocked=BLOCKED)
    ),
    "bare1": ok(
        NoClient(
            "linux",
            ("/usr/sbin/aliyun-service", "/opt/sbin/aliyun-service", "PATH"),
            NOT_INSTALLED,
            init=InitDecision("systemd", "the test says so"),
        ).as_dict()
    ),
    "bad1": error(f"ERROR: {BROKEN}"),
    "bad2": error("'cloudassist.status' is not available.", retcode=254),
}


EXPECTED = sorted(FLEET) + ["down1"]


# --- the beacon's polls (test_watch, ../test_beacon) --------------------------------------


BINARY = "/usr/sbin/aliyun-service"


def snap(pids=(), version="2.2.3.578", running_version=None, installed=True, binary=BINARY):
    if pids and running_version is None:
        running_version = version
    return Snapshot(binary, installed, tuple(pids), version, running_version)


def tags(events):
    return [event["tag"] for event in events]


# --- Windows paths kept on this host (test_updates, ../test_module_windows) ----------------


class WindowsFiles:
    """``os`` for the updates module, with ``C:\\...`` paths kept in a folder of this host: the
    module's own calls run for real, on the folder each Windows path maps to."""

    def __init__(self, base):
        self.base = base

    def real(self, path):
        assert path.startswith("C:\\"), path
        return os.path.join(self.base, *path[3:].split("\\"))

    def __getattr__(self, name):
        function = getattr(os, name)
        if not callable(function):
            return function

        def mapped(*args, **kwargs):
            if args and isinstance(args[0], str):
                args = (self.real(args[0]), *args[1:])
            return function(*args, **kwargs)

        return mapped
