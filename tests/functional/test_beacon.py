"""The beacon against a real stand-in client: what each poll reports, and that it starts no process.

A driver process loads the beacon the way a minion does (Salt's ``salt.beacons.Beacon`` over
the synced layout, ``<extmods>/beacons`` beside ``<extmods>/utils``) and polls it on request;
an audit hook in the driver records every process Python starts or forks during a poll.  The
stand-in's ``-v`` creates ``log/`` beside the binary, a second witness that no version probe ran.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

import standin
from salthost import ROOT, wait_for

MINION_ID = "beacon-functional"
TAG = f"salt/beacon/{MINION_ID}/cloudassist/"

DRIVER = r"""
import json
import subprocess
import sys

import salt.beacons
import salt.config
import salt.loader

extmods, cachedir, binary = sys.argv[1:4]
opts = salt.config.minion_config(None)
opts.update(id=sys.argv[4], extension_modules=extmods, cachedir=cachedir, beacons_dirs=[],
            cloudassist={"binary": binary})
functions = salt.loader.minion_mods(opts)
beacons = salt.beacons.Beacon(opts, functions)
# A minion's main process has imported salt.minion long before a beacon runs; here the first
# config.get would import it (croniter asks `file -b` for the architecture at import).
functions["config.get"]("id")

SPAWNS = []
WATCHED = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
           "os.fork", "os.forkpty", "os.startfile"}


def hook(event, args):
    if event in WATCHED:
        SPAWNS.append("{} {!r}".format(event, args)[:300])


sys.addaudithook(hook)
for line in sys.stdin:
    request = json.loads(line)
    del SPAWNS[:]
    if request["do"] == "poll":
        events = beacons.process(request["config"], {})
        answer = {"events": events}
    else:  # "spawn": the witness itself, which must see this
        subprocess.run(["true"], check=True)
        answer = {}
    answer["spawns"] = list(SPAWNS)
    print(json.dumps(answer), flush=True)
"""


class Driver:
    def __init__(self, tmp_path, binary):
        extmods = tmp_path / "extmods"
        shutil.copytree(
            ROOT / "_beacons", extmods / "beacons", ignore=shutil.ignore_patterns("__pycache__")
        )
        (extmods / "modules").mkdir()
        for library in ROOT.joinpath("_modules").glob("_cloudassist_*.py"):
            shutil.copy(library, extmods / "modules")
        script = tmp_path / "beacon_driver.py"
        script.write_text(DRIVER)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(extmods),
                str(tmp_path / "cache"),
                str(binary),
                MINION_ID,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(tmp_path),
        )

    def ask(self, **request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the driver died (its stderr is in the test's output)"
        return json.loads(line)

    def poll(self, config=({"emitatstartup": True},)):
        answer = self.ask(do="poll", config={"cloudassist": list(config)})
        assert answer["spawns"] == [], "a poll started a process: {}".format(answer["spawns"])
        return {event["tag"]: event["data"] for event in answer["events"]}

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def driver(tmp_path, host):
    drivers = []

    def make(binary):
        drivers.append(Driver(tmp_path, binary))
        return drivers[-1]

    yield make
    for d in drivers:
        d.close()


def runs(pid, binary):
    """``pid`` is live and has become ``binary`` (the init script's ``setsid`` execs it)."""
    try:
        return alive(pid) and os.readlink(f"/proc/{pid}/exe") == str(binary)
    except OSError:
        return False


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_each_poll_reports_the_real_client_and_starts_no_process(host, driver):
    root = host.base / "root"
    old = standin.install_versioned_client(root, "2.2.3.578", relative_link=True)
    init = host.initd / "aliyun-service"

    def serve(binary):
        # the service runs the versioned path, as the vendor's does
        standin.write_executable(init, standin.sysv_script(str(binary), pidfile=str(host.pidfile)))

    def init_script(action):
        subprocess.run([str(init), action], check=True, capture_output=True, timeout=30)

    def client_pids():
        return wait_for(lambda: [int(host.pidfile.read_text())] if host.pidfile.exists() else [])

    serve(old.binary)
    init_script("start")
    (pid,) = client_pids()
    assert wait_for(lambda: runs(pid, old.binary))
    look_alike = standin.install_client(host.base / "elsewhere" / "aliyun-service")
    other = host.spawn([str(look_alike)])

    beacon = driver(old.link)
    assert beacon.ask(do="spawn")["spawns"], "the audit hook saw no process: it would prove nothing"

    # 1. the first poll: one startup event, the look-alike not counted
    events = beacon.poll()
    assert list(events) == [TAG + "startup"], events
    data = events[TAG + "startup"]
    assert data["pids"] == [pid] and other.pid not in data["pids"], data
    assert (data["running"], data["version"], data["running_version"]) == (
        True,
        "2.2.3.578",
        "2.2.3.578",
    )
    assert (data["binary"], data["installed"], data["id"]) == (str(old.link), True, MINION_ID)
    assert beacon.poll() == {}

    # 2. a self-update: the install moves on, the running client stays in the old folder
    new = standin.install_versioned_client(root, "2.2.4.1065", relative_link=True)
    events = beacon.poll()
    assert list(events) == [TAG + "version"], events
    data = events[TAG + "version"]
    assert (data["version_before"], data["version"]) == ("2.2.3.578", "2.2.4.1065"), data
    assert data["running_version"] == "2.2.3.578" and data["pids"] == data["pids_before"] == [
        pid
    ], data

    # 3. stopped behind Salt's back
    init_script("stop")
    assert wait_for(lambda: not alive(pid))
    events = beacon.poll()
    assert list(events) == [TAG + "stopped"], events
    data = events[TAG + "stopped"]
    assert (data["running"], data["pids"], data["pids_before"]) == (False, [], [pid]), data
    assert (data["running_version"], data["running_version_before"]) == (None, "2.2.3.578"), data
    assert beacon.poll() == {}

    # 4. started again, now from the new folder
    serve(new.binary)
    init_script("start")
    (pid2,) = client_pids()
    assert wait_for(lambda: runs(pid2, new.binary))
    events = beacon.poll()
    assert list(events) == [TAG + "started"], events
    data = events[TAG + "started"]
    assert (data["pids"], data["pids_before"], data["running_version"]) == (
        [pid2],
        [],
        "2.2.4.1065",
    ), data

    # 5. restarted between two polls: another pid
    init_script("restart")
    (pid3,) = wait_for(lambda: [p for p in client_pids() if p != pid2 and runs(p, new.binary)])
    events = beacon.poll()
    assert list(events) == [TAG + "restarted"], events
    data = events[TAG + "restarted"]
    assert (data["pids_before"], data["pids"], data["running"]) == ([pid2], [pid3], True), data
    assert beacon.poll() == {}

    # no version probe ran at any poll: the stand-in's -v would have made log/ beside it
    assert not (old.binary.parent / "log").exists() and not (new.binary.parent / "log").exists()
    assert alive(other.pid)
