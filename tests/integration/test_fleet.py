"""Issue 10: the fleet report (``salt-run cloudassist.report``) and rolling operations (``salt -b
... --failhard``, ``examples/orch/cloudassist_rolling_stop.sls``) against a real master and five
minions, synced from file_roots.

Each minion is a host of its own where it matters: it runs in its own mount namespace (``unshare
--mount``), where ``/etc/init.d`` is its own folder holding its own init script, which manages
its own stand-in client (its own install folder, version and pid file).  So the vendor's fixed
``/etc/init.d/aliyun-service`` is a different script on each minion, as on real hosts, and a
rolling restart really restarts one client per minion; the host's own /etc/init.d is never
touched.

    ca-fleet-1     2.2.3.578, starts at boot (an S link in its own /etc/rc2.d; each minion has
                   its own /etc/rc[2-5].d)
    ca-fleet-2     1.0.1.309, the first version past the vendor's boundary (a new client)
    ca-fleet-3     a broken client (``-v`` exits 1): status, stop and restart fail
    ca-fleet-4     2.2.0.46 started by hand, no init script: status says stop/start are
                   blocked, and stop and restart fail
    ca-fleet-5     1.0.0.57, an old (agentwatch) client: its status only, never an action (its
                   branch runs chkconfig, which would change this host where it exists)
    ca-fleet-gone  a key the master accepted, no minion behind it (a host that is down)
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import attr
import pytest
from saltfactories.daemons.minion import SaltMinion

from .ca_host import pids_running, standin
from .conftest import CHECKOUT

NAMESPACE_EXEC = CHECKOUT / "tests" / "support" / "namespace_exec.py"
SETTLE = 0.5
MINIONS = {
    "ca-fleet-1": {"version": "2.2.3.578", "script": True, "boot": True},
    "ca-fleet-2": {"version": "1.0.1.309", "script": True},
    "ca-fleet-3": {"version": "2.2.3.578", "script": True, "knobs": {"version_exit": 1}},
    "ca-fleet-4": {"version": "2.2.0.46", "script": False},
    "ca-fleet-5": {"version": "1.0.0.57", "script": True},
}
LEGACY = "ca-fleet-5"
# Its branch needs chkconfig (not packaged in Debian 12): without it, its stop/start are blocked.
LEGACY_BLOCKED = not shutil.which(
    "chkconfig", path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)
ACTED_ON = tuple(minion for minion in MINIONS if minion != LEGACY)  # the rolling operations'
HEALTHY = ("ca-fleet-1", "ca-fleet-2")
GONE = "ca-fleet-gone"
BROKEN = "-v` exited with code 1"
NO_SCRIPT = "this host has no /etc/init.d/aliyun-service"
ERRORS = {"ca-fleet-3": BROKEN, "ca-fleet-4": NO_SCRIPT}  # why each fails stop and restart
# The boot runlevels' folders this host has (a bind mount needs the folder to exist).
RC_DIRS = [
    folder
    for folder in ("/etc/rc2.d", "/etc/rc3.d", "/etc/rc4.d", "/etc/rc5.d")
    if os.path.isdir(folder)
]


@attr.s(kw_only=True, slots=True)
class NamespacedMinion(SaltMinion):
    """A salt-minion started in its own mount namespace with ``binds`` (source, target)."""

    binds = attr.ib(factory=list)

    def cmdline(self, *args):
        wrap = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            sys.executable,
            str(NAMESPACE_EXEC),
        ]
        for source, target in self.binds:
            wrap += ["--bind", str(source), str(target)]
        return [*wrap, "--", *SaltMinion.cmdline(self, *args)]


@attr.s(frozen=True)
class Client:
    """One minion's own client: its install, its init script, the truth read from /proc."""

    root = attr.ib()
    binary = attr.ib()  # the link the minion's cloudassist:binary names
    script = attr.ib()  # None: the minion has no init script

    def pids(self):
        return pids_running(str(self.root), exclude_args=("-v", "--version"))

    def start(self):
        if self.script:
            subprocess.run(
                [str(self.script), "start"],
                check=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        else:  # started by hand, in the foreground as the real client runs
            subprocess.Popen(
                [str(self.binary)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while not self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.pids()) == 1, f"could not start the stand-in under {self.root}"

    def stop(self):
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.pids(), f"could not stop the stand-in under {self.root}"


def _make_client(base, minion_id, spec):
    root = base / minion_id
    install = standin.install_versioned_client(
        root, spec["version"], relative_link=True, **spec.get("knobs", {})
    )
    (root / "init.d").mkdir()
    binds = [(root / "init.d", "/etc/init.d")]
    script = None
    if spec["script"]:
        script = standin.write_executable(
            root / "init.d" / "aliyun-service",
            standin.sysv_script(str(install.link), pidfile=str(root / "aliyun-service.pid")),
        )
    # Its own boot runlevel folders too: what starts at boot is each host's own, and the host's
    # folders may hold links to aliyun-service left by other tests.
    for folder in RC_DIRS:
        own = root / Path(folder).name
        own.mkdir()
        binds.append((own, folder))
    if spec.get("boot") and RC_DIRS:
        (root / Path(RC_DIRS[0]).name / "S50aliyun-service").symlink_to("../init.d/aliyun-service")
    return Client(root, install.link, script), binds


@attr.s(kw_only=True)
class Fleet:
    master = attr.ib()
    clients = attr.ib()  # minion id -> Client
    salt = attr.ib()
    run = attr.ib()

    def arrange(self, running=(), stopped=()):
        """The clients of ``running`` running, those of ``stopped`` not; returns the pids."""
        for minion_id in stopped:
            self.clients[minion_id].stop()
        for minion_id in running:
            if not self.clients[minion_id].pids():
                self.clients[minion_id].start()
        return self.pids()

    def pids(self):
        return {minion_id: client.pids() for minion_id, client in self.clients.items()}

    @contextlib.contextmanager
    def gone_minion(self):
        """A key the master accepted for a minion that never answers (a host that is down)."""
        keys = Path(self.master.config["pki_dir"]) / "minions"
        shutil.copy(keys / "ca-fleet-1", keys / GONE)
        try:
            yield GONE
        finally:
            (keys / GONE).unlink()


def _each(items, action):
    items = list(items)
    with concurrent.futures.ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(action, items))


@pytest.fixture(scope="module")
def fleet(salt_factories, tmp_path_factory, _host_lock):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("each minion runs in its own mount namespace: needs root and unshare")
    base = tmp_path_factory.mktemp("cloudassist-fleet")
    roots = base / "file_roots"
    for folder in ("_modules", "_states", "_runners", "_grains"):
        shutil.copytree(
            CHECKOUT / folder, roots / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    master = salt_factories.salt_master_daemon(
        "ca-fleet-master",
        overrides={
            "file_roots": {"base": [str(CHECKOUT / "examples"), str(roots)]},
            # A minion that is down costs the job's timeout plus this (Salt's default is 10 s); a
            # live minion has this long to say it is still at work once the timeout is over.
            "gather_job_timeout": 5,
            # Five minions at once: salt-factories' serial `salt-key --accept` would be the wait.
            "auto_accept": True,
        },
    )
    clients, factories = {}, {}
    for minion_id, spec in MINIONS.items():
        clients[minion_id], binds = _make_client(base, minion_id, spec)
        config = {
            "binary": str(clients[minion_id].binary),
            "init_system": "sysvinit",
            "settle": SETTLE,
        }
        factories[minion_id] = master.salt_minion_daemon(
            minion_id,
            overrides={"cloudassist": config},
            factory_class=NamespacedMinion,
            binds=binds,
        )
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(master.started())
            # Started and stopped side by side: one after the other costs seconds each.
            stack.callback(_each, factories.values(), lambda factory: factory.terminate())
            _each(factories.values(), lambda factory: factory.start())
            fleet = Fleet(
                master=master,
                clients=clients,
                salt=master.salt_cli(timeout=120),
                run=master.salt_run_cli(timeout=120),
            )
            # docs/install.md, synced: the minions get the modules, the master the runner.
            ret = fleet.salt.run("-L", "saltutil.sync_all", minion_tgt=",".join(MINIONS))
            assert ret.returncode == 0, ret
            for minion_id in MINIONS:
                assert "modules.cloudassist" in ret.data[minion_id]["modules"], ret.data
                assert "grains.cloudassist" in ret.data[minion_id]["grains"], ret.data
            ret = fleet.run.run("saltutil.sync_all")
            assert ret.returncode == 0, ret
            assert "runners.cloudassist" in ret.data["runners"], ret.data
            assert "modules._cloudassist_report" in ret.data["modules"], ret.data
            yield fleet
    finally:
        for pid in pids_running(str(base)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# --- the report --------------------------------------------------------------------------------


def test_report_counts_the_fleet_and_names_who_failed_and_who_did_not_answer(fleet):
    fleet.arrange(running=("ca-fleet-1", "ca-fleet-4"), stopped=("ca-fleet-2", LEGACY))
    with fleet.gone_minion():
        # Side by side, as each waits out the gone minion (the timeout, then gather_job_timeout).
        ret, human = _each(
            [(), ("--out=nested",)],
            lambda out: fleet.master.salt_run_cli(timeout=120).run(
                "cloudassist.report", "timeout=3", *out
            ),
        )  # nested: salt-run's default output

    assert ret.returncode == 1, ret
    data = ret.data
    assert data["counts"] == {
        "targeted": 6,
        "reported": 4,
        "failed": 1,
        "no_answer": 1,
        "running": 2,
        "stopped": 2,
        "not_installed": 0,
        "watchdog_running": 0,
        "blocked": 2 if LEGACY_BLOCKED else 1,
        "leftovers": 0,
    }, data
    assert data["leftovers"] == {}, data
    assert (
        data["summary"]
        == "6 targeted: 4 reported (2 running, 2 stopped), 1 failed, 1 did not answer"
    )
    assert data["versions"] == {"1.0.0.57": 1, "1.0.1.309": 1, "2.2.0.46": 1, "2.2.3.578": 1}
    assert data["init_systems"] == {
        "sysvinit": {"/etc/init.d/aliyun-service": 3, "agentwatch": 1}
    }, data
    starts_at_boot = 1 if RC_DIRS else 0  # ca-fleet-1's S link needs a folder to be put in
    # ca-fleet-5: no agentwatch script, no boot link for it: nothing starts it at boot.
    assert data["enabled"] == {"true": starts_at_boot, "false": 4 - starts_at_boot, "unknown": 0}
    assert data["updates"] == {"frozen": 0, "allowed": 4, "unknown": 0}, data
    assert data["stopped"] == ["ca-fleet-2", LEGACY]
    blocked = {minion: reason for reason, group in data["blocked"].items() for minion in group}
    assert NO_SCRIPT in blocked.pop("ca-fleet-4"), data["blocked"]
    if LEGACY_BLOCKED:
        assert "chkconfig" in blocked.pop(LEGACY), data["blocked"]
    assert blocked == {}, data["blocked"]
    assert list(data["failed"]) == ["ca-fleet-3"] and BROKEN in data["failed"]["ca-fleet-3"], data
    assert data["no_answer"] == [GONE]
    assert data["retcode"] == 1

    assert human.returncode == 1, human
    text = human.stdout
    assert "Traceback" not in text + human.stderr, human
    assert f"summary:\n    {data['summary']}\n" in text, text
    assert (
        f"failed:\n    ----------\n    ca-fleet-3:\n        {data['failed']['ca-fleet-3']}\n"
        in text
    ), text
    assert f"no_answer:\n    - {GONE}\n" in text, text


def test_report_of_a_fleet_that_all_reported_exits_0(fleet):
    ret = fleet.run.run("cloudassist.report", "tgt=ca-fleet-1,ca-fleet-2", "tgt_type=list")
    assert ret.returncode == 0, ret
    assert ret.data["counts"]["reported"] == 2 and ret.data["retcode"] == 0, ret.data


@contextlib.contextmanager
def uninstalled(client):
    """The client's binary gone (the link the minion's cloudassist:binary names), as on an
    instance whose client was removed; put back afterwards."""
    away = client.binary.with_name(client.binary.name + ".away")
    client.binary.rename(away)
    try:
        yield
    finally:
        away.rename(client.binary)


def test_report_counts_a_minion_without_the_client_as_not_installed(fleet):
    """A mixed fleet's inventory: the minion without the client answers (its status says so)
    and is counted under not_installed, not failed; require_installed makes it fail."""
    fleet.arrange(running=("ca-fleet-1",), stopped=("ca-fleet-2",))
    target = ("tgt=ca-fleet-1,ca-fleet-2", "tgt_type=list")
    with uninstalled(fleet.clients["ca-fleet-2"]):
        ret = fleet.run.run("cloudassist.report", *target)
        strict = fleet.run.run("cloudassist.report", *target, "require_installed=True")
    assert ret.returncode == 0, ret
    data = ret.data
    assert data["not_installed"] == ["ca-fleet-2"] and data["failed"] == {}, data
    assert (data["counts"]["reported"], data["counts"]["not_installed"]) == (2, 1), data
    assert (data["counts"]["running"], data["counts"]["stopped"]) == (1, 0), data
    assert data["versions"] == {MINIONS["ca-fleet-1"]["version"]: 1}, data
    assert "1 not installed" in data["summary"], data
    assert strict.returncode == 1 and strict.data["retcode"] == 1, strict


def test_report_counts_the_clients_with_self_update_frozen(fleet):
    client = fleet.clients["ca-fleet-1"]
    marker = client.binary.resolve().parent.parent / "config" / "disable_update"
    ret = fleet.salt.run("cloudassist.freeze_updates", minion_tgt="ca-fleet-1")
    try:
        assert ret.returncode == 0 and ret.data["frozen"] is True, ret
        assert marker.is_file(), marker  # where that minion's client reads it, seen from here
        report = fleet.run.run("cloudassist.report", "tgt=ca-fleet-1,ca-fleet-2", "tgt_type=list")
        data = report.data
        assert data["updates"] == {"frozen": 1, "allowed": 1, "unknown": 0}, data
        assert data["updates_by_version"] == {
            "1.0.1.309": {"allowed": 1},
            "2.2.3.578": {"frozen": 1},
        }, data
        assert ", 1 with self-update frozen)" in data["summary"], data
    finally:
        ret = fleet.salt.run("cloudassist.allow_updates", minion_tgt="ca-fleet-1")
    assert ret.returncode == 0 and not marker.exists(), ret


@pytest.mark.parametrize(
    "args, error",
    [
        (
            ["tgt_type=regex"],
            "Error:\n    cloudassist.report: tgt_type must be one of glob, pcre, list, ",
        ),
        (["tgt=nomatch*"], "summary:\n    no minion matched the target\n"),
    ],
)
def test_report_says_what_is_wrong_without_a_traceback(fleet, args, error):
    ret = fleet.run.run("cloudassist.report", *args, "--out=nested")
    assert ret.returncode == 1, ret
    assert error in ret.stdout, ret
    assert "Traceback" not in ret.stdout + ret.stderr, ret


# --- targeting by grain -------------------------------------------------------------------------


def _matched(fleet, grain):
    """The minions ``salt -G GRAIN test.ping`` reaches (none: salt says so and exits non-zero)."""
    ret = fleet.salt.run("-G", "test.ping", minion_tgt=grain)
    if ret.returncode != 0 and "No minions matched the target" in ret.stdout + ret.stderr:
        return []
    assert ret.returncode == 0 and isinstance(ret.data, dict), ret
    return sorted(ret.data)


def test_grain_targets_exactly_the_old_clients(fleet):
    """docs/states.md, "Targeting by grain": ``-G 'cloudassist:legacy:True'`` picks the minions
    on the vendor's agentwatch rows (1.0.1.308 and older) and nothing else; the glob on the
    version that a new user tries first takes a new client (1.0.1.309) and misses 1.0.0.57."""
    assert _matched(fleet, "cloudassist:legacy:True") == [LEGACY]
    # ca-fleet-3's client cannot tell its version (-v fails): neither old nor new.
    assert _matched(fleet, "cloudassist:legacy:False") == ["ca-fleet-1", "ca-fleet-2", "ca-fleet-4"]
    assert _matched(fleet, "cloudassist:version:1.0.1.*") == ["ca-fleet-2"]
    assert _matched(fleet, "cloudassist:branch:*older*") == [LEGACY]


# --- rolling operations ------------------------------------------------------------------------


def batch_returns(stdout):
    """``[(minion, return), ...]`` in the order the batch printed them (one JSON document per
    minion, between its "Executing run on" lines)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while True:
        at = stdout.find("{", at)
        if at < 0:
            return found
        doc, at = decoder.raw_decode(stdout, at)
        found += [(key, value) for key, value in doc.items() if key not in ("retcode", "jid")]


def test_rolling_restart_stops_at_the_first_failing_minion(fleet):
    before = fleet.arrange(running=(*HEALTHY, "ca-fleet-4"))
    ret = fleet.salt.run(
        "-b", "1", "--failhard", "-L", "cloudassist.restart", minion_tgt=",".join(ACTED_ON)
    )
    after = fleet.pids()

    assert ret.returncode != 0, ret
    returned = batch_returns(ret.stdout)
    ran = [minion for minion, _ in returned]
    # Two of the four fail, so in any order the roll-out stops before the end: exactly one
    # failing minion ran, it ran last, and at least one minion never ran.
    failed = [minion for minion in ran if minion in ERRORS]
    assert len(failed) == 1 and ran[-1] == failed[0], (ran, ret.stdout)
    assert ret.stdout.count("Executing run on") == len(ran) < len(ACTED_ON), ret.stdout
    assert ERRORS[failed[0]] in returned[-1][1], returned
    for minion in HEALTHY:
        if minion in ran:  # restarted: a new process
            assert len(after[minion]) == 1 and after[minion] != before[minion], (
                minion,
                before,
                after,
            )
        else:  # never reached: untouched
            assert after[minion] == before[minion], (minion, before, after)
    assert after["ca-fleet-4"] == before["ca-fleet-4"]


def test_rolling_restart_of_healthy_minions_succeeds(fleet):
    before = fleet.arrange(running=HEALTHY)
    ret = fleet.salt.run(
        "-b",
        "50%",
        "--batch-wait=1",
        "--failhard",
        "-L",
        "cloudassist.restart",
        minion_tgt=",".join(HEALTHY),
    )
    after = fleet.pids()
    assert ret.returncode == 0, ret
    assert sorted(minion for minion, _ in batch_returns(ret.stdout)) == list(HEALTHY), ret.stdout
    for minion in HEALTHY:
        assert len(after[minion]) == 1 and after[minion] != before[minion], (minion, before, after)


def orchestrate(fleet, target):
    pillar = json.dumps({"target": ",".join(target), "tgt_type": "list", "batch": 1})
    ret = fleet.run.run("state.orchestrate", "orch.cloudassist_rolling_stop", f"pillar={pillar}")
    (states,) = ret.data["data"].values()
    return ret, {state["__id__"]: state for state in states.values()}


def test_orchestrated_stop_does_not_start_while_a_minion_cannot_report(fleet):
    before = fleet.arrange(running=HEALTHY)
    ret, states = orchestrate(fleet, ("ca-fleet-1", "ca-fleet-3", "ca-fleet-2"))
    assert ret.returncode != 0, ret
    check = states["every minion reports its client"]
    assert check["result"] is False, check
    assert check["changes"]["return"]["failed"].keys() == {"ca-fleet-3"}, check
    for later in ("stop the client batch by batch", "the fleet after the stop"):
        assert (
            later not in states or states[later]["result"] is False and not states[later]["changes"]
        ), states
    assert fleet.pids() == before


def test_orchestrated_stop_rolls_until_a_minion_fails(fleet):
    before = fleet.arrange(running=(*HEALTHY, "ca-fleet-4"))
    ret, states = orchestrate(fleet, (*HEALTHY, "ca-fleet-4"))
    after = fleet.pids()
    assert ret.returncode != 0, ret
    assert states["every minion reports its client"]["result"] is True, states
    stop = states["stop the client batch by batch"]
    assert stop["result"] is False and stop["comment"].startswith(
        "Run failed on minions: ca-fleet-4"
    ), stop
    ran = list(stop["changes"]["ret"])  # in the order the batches returned
    ((failed,),) = [list(stop["changes"]["ret"]["ca-fleet-4"].values())]
    assert (
        ran[-1] == "ca-fleet-4" and failed["result"] is False and NO_SCRIPT in failed["comment"]
    ), stop
    for minion in HEALTHY:
        assert after[minion] == ([] if minion in ran else before[minion]), (
            minion,
            ran,
            before,
            after,
        )
    assert after["ca-fleet-4"] == before["ca-fleet-4"]
    final = states.get("the fleet after the stop")
    assert final is None or final["result"] is False and not final["changes"], states
