"""The client's package through a real salt-master and real salt-minions (issue 25).

A salt-master runs on this host (pytest-salt-factories); a salt-minion daemon runs inside each
booted container (systemd, sysvinit) and connects to it over the host's loopback (the
containers share the host's network).  The minions get cloudassist as docs/install.md says for
a synced install (``saltutil.sync_all`` from the master's ``file_roots``, no ``module_dirs``),
and the master serves the tests' ``.deb`` files of the client (``tests/support/client_deb.py``)
as ``salt://ca/<file>``.  Everything is driven with the ``salt`` command on the master and
checked from outside the module: dpkg's database, the init system, the process table.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
import realinit_testbed as tb
import test_realinit_package as pkgtests
from realinit_checks import make_host

import client_deb

pytestmark = pytest.mark.realinit

A, B = pkgtests.A, pkgtests.B
MINION_DIR = "/root/salt-minion"  # not under /tmp: the containers are not rebooted, but keep it
SYSTEMD, SYSVINIT = "ca-master-systemd", "ca-master-sysvinit"
# The self-update markers every version reads (the cross-version config folder).
MARKERS = tuple(
    f"{client_deb.SHARE}/config/{name}" for name in ("disable_update", "disable_bootstrap_update")
)


@pytest.fixture(scope="module")
def master(salt_factories, tmp_path_factory, realinit):
    """A salt-master on the host whose ``file_roots`` hold the checkout's ``_*`` folders, the
    examples, and ``ca/`` with the client's ``.deb`` of A and B."""
    roots = tmp_path_factory.mktemp("master-file-roots")
    for folder in ("_modules", "_states", "_grains", "_runners"):
        shutil.copytree(
            tb.PROJECT_DIR / folder, roots / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    for version in (A, B):
        client_deb.build(version, roots / "ca")
    factory = salt_factories.salt_master_daemon(
        "ca-realinit-master",
        overrides={
            "file_roots": {"base": [str(tb.PROJECT_DIR / "examples"), str(roots)]},
            "auto_accept": True,
            "gather_job_timeout": 5,
        },
    )
    with factory.started():
        # The report runner, on the master itself (docs/fleet.md, "Installing the runner").
        ret = factory.salt_run_cli(timeout=120).run("saltutil.sync_all")
        assert ret.returncode == 0 and "runners.cloudassist" in ret.data["runners"], ret
        yield factory


@pytest.fixture(scope="module")
def salt(master):
    return master.salt_cli(timeout=180)


def start_minion(host, master, minion_id):
    """Write the minion's configuration inside the container and start ``salt-minion`` there,
    as a service manager would (its own session, no terminal)."""
    config = {
        "id": minion_id,
        "master": "127.0.0.1",
        "master_port": master.config["ret_port"],
        "publish_port": master.config["publish_port"],
        "root_dir": MINION_DIR,
        "pki_dir": f"{MINION_DIR}/pki",
        "cachedir": f"{MINION_DIR}/cache",
        "sock_dir": f"{MINION_DIR}/sock",
        "extension_modules": f"{MINION_DIR}/extmods",
        "log_file": f"{MINION_DIR}/minion.log",
        "log_level_logfile": "debug",
        "enable_fqdns_grains": False,
        "acceptance_wait_time": 1,
        "ipv6": False,
    }
    host.sh(
        f"mkdir -p {MINION_DIR}/conf && cat > {MINION_DIR}/conf/minion", input=json.dumps(config)
    )
    host.sh(
        f"setsid {tb.VENV}/bin/salt-minion -c {MINION_DIR}/conf -l quiet "
        "</dev/null >/dev/null 2>&1 &"
    )


def wait_for_minion(salt, minion_id, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        ret = salt.run("test.ping", minion_tgt=minion_id, _timeout=15)
        if ret.data is True:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the minion {minion_id} did not answer test.ping: {ret}")
        time.sleep(2)


class MinionInContainer:
    """One container with a salt-minion connected to the master; ``VIEW`` is the package
    tests' class that reads that init system's view of the client's service."""

    NAME = ""
    KIND = ""
    VIEW = None

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots, master, salt):
        h = make_host(request, roots, cls.NAME, cls.KIND)
        assert pkgtests.package(h) == "" and not pkgtests.present(h, client_deb.LINK)
        start_minion(h, master, cls.NAME)
        wait_for_minion(salt, cls.NAME)
        ret = salt.run("saltutil.sync_all", minion_tgt=cls.NAME)
        assert ret.returncode == 0, ret
        assert "modules.cloudassist" in ret.data["modules"], ret.data
        assert "states.cloudassist" in ret.data["states"], ret.data
        return h

    @property
    def view(self):
        return self.VIEW()

    def call(self, salt, fun, *args, ok=True):
        ret = salt.run(fun, *args, minion_tgt=self.NAME)
        if ok:
            assert ret.returncode == 0, ret
        else:
            assert ret.returncode != 0, ret
        return ret

    def apply_installed(self, salt, *args, **install):
        """``state.apply cloudassist-installed`` (examples/) with ``install`` as its pillar;
        the one state's return."""
        pillar = json.dumps({"cloudassist_install": install})
        ret = salt.run(
            "state.apply", "cloudassist-installed", f"pillar={pillar}", *args, minion_tgt=self.NAME
        )
        assert isinstance(ret.data, dict) and len(ret.data) == 1, ret
        (state,) = ret.data.values()
        return ret, state

    def test_the_installed_state_in_test_mode_installs_nothing(self, host, salt):
        source = f"salt://ca/{client_deb.deb_name(A)}"
        ret, state = self.apply_installed(salt, "test=True", source=source, version=A)
        assert state["result"] is None, state
        assert state["changes"]["version"] == {"old": None, "new": A}, state
        assert pkgtests.package(host) == "" and host.pids() == [], "test=True installed"

    def test_install_from_the_master(self, host, salt):
        source = f"salt://ca/{client_deb.deb_name(A)}"
        ret = self.call(salt, "cloudassist.install", source, f"version={A}").data
        assert ret["changes"] == {"version": {"old": None, "new": A}}, ret
        assert ret["comment"].startswith(f"installed aliyun-assist {A}"), ret
        # What the minion fetched from the master (cp.cache_file) is what dpkg installed.
        assert f"{MINION_DIR}/cache/files/base/ca/{client_deb.deb_name(A)}" in ret["command"], ret
        pid = self.view.assert_installed_and_running(host, A)
        assert ret["running"] is True and ret["pids"] == [pid], ret

    def test_the_grain_the_master_sees_says_the_new_version(self, host, salt):
        pid = self.view.assert_installed_and_running(host, A)
        ret = salt.run("-G", "test.ping", minion_tgt=f"cloudassist:version:{A}")
        grain = salt.run("grains.get", "cloudassist", minion_tgt=self.NAME)
        assert ret.data.get(self.NAME) is True, (ret, grain)
        assert self.view.assert_installed_and_running(host, A) == pid

    def test_upgrade_in_test_mode_changes_nothing(self, host, salt):
        pid = self.view.assert_installed_and_running(host, A)
        source = f"salt://ca/{client_deb.deb_name(B)}"
        ret = self.call(salt, "cloudassist.install", source, "test=True").data
        assert ret["changes"] == {"version": {"old": A, "new": B}}, ret
        assert ret["comment"].startswith(f"would upgrade aliyun-assist {A} to {B}"), ret
        assert self.view.assert_installed_and_running(host, A) == pid

    def test_upgrade_from_the_master(self, host, salt):
        old = self.view.assert_installed_and_running(host, A)
        source = f"salt://ca/{client_deb.deb_name(B)}"
        ret = self.call(salt, "cloudassist.install", source, f"version={B}").data
        assert ret["changes"] == {"version": {"old": A, "new": B}}, ret
        new = self.view.assert_installed_and_running(host, B)
        assert new != old and old not in host.pids(), "the old client still runs"

    def test_a_version_the_file_is_not_changes_nothing(self, host, salt):
        pid = self.view.assert_installed_and_running(host, B)
        source = f"salt://ca/{client_deb.deb_name(A)}"
        ret = self.call(salt, "cloudassist.install", source, f"version={B}", ok=False)
        text = json.dumps(ret.data) + ret.stdout + ret.stderr
        assert f"aliyun-assist {A}, not the version {B} asked for" in text, ret
        assert "Traceback" not in text, ret
        assert self.view.assert_installed_and_running(host, B) == pid

    def test_the_installed_state_freezes_updates_then_has_nothing_to_do(self, host, salt):
        pid = self.view.assert_installed_and_running(host, B)
        source = f"salt://ca/{client_deb.deb_name(B)}"
        assert not any(pkgtests.present(host, m) for m in MARKERS), "frozen before the state"
        ret, state = self.apply_installed(salt, source=source, version=B, updates="frozen")
        assert ret.returncode == 0 and state["result"] is True, state
        assert "version" not in state["changes"] and state["changes"]["updates"], state
        for marker in MARKERS:
            assert (
                host.run("test", "-f", marker, "-a", "!", "-L", marker, check=False).returncode == 0
            ), (
                marker,
                state,
            )
        ret, state = self.apply_installed(salt, source=source, version=B, updates="frozen")
        assert ret.returncode == 0 and state["result"] is True and state["changes"] == {}, state
        assert self.view.assert_installed_and_running(host, B) == pid, "the client was restarted"

    def test_allow_updates_from_the_master_removes_the_markers(self, host, salt):
        pid = self.view.assert_installed_and_running(host, B)
        assert all(pkgtests.present(host, m) for m in MARKERS), "not frozen before the call"
        ret = self.call(salt, "cloudassist.allow_updates").data
        assert ret["frozen"] is False and ret["changed"] is True, ret
        assert not any(pkgtests.present(host, m) for m in MARKERS), ret
        assert self.view.assert_installed_and_running(host, B) == pid

    def test_remove_from_the_master_leaves_nothing(self, host, salt):
        self.view.assert_installed_and_running(host, B)
        ret = self.call(salt, "cloudassist.remove").data
        # allow_updates left the config folder freeze_updates made, empty: it goes, and then
        # the share folder dpkg could not remove.
        share = "/usr/local/share/aliyun-assist"
        assert ret["changes"] == {
            "version": {"old": B, "new": None},
            "files": {"old": [f"{share}/config", share], "new": []},
        }, ret
        assert ret["left"] == [] and ret["kept"] == [], ret
        assert not pkgtests.present(host, share), ret
        assert pkgtests.package(host) == "" and host.pids() == [], ret
        assert self.view.service_leftovers(host) == [], ret
        assert not pkgtests.present(host, client_deb.LINK), ret
        # The master's grain cache knows at once: the minion is found as one without a client.
        ret = salt.run("-G", "test.ping", minion_tgt="cloudassist:installed:False")
        assert ret.data.get(self.NAME) is True, ret


class TestSystemdMinion(MinionInContainer):
    NAME = SYSTEMD
    KIND = "systemd"
    VIEW = pkgtests.TestSystemdPackage


class TestSysvinitMinion(MinionInContainer):
    NAME = SYSVINIT
    KIND = "sysvinit"
    VIEW = pkgtests.TestSysvinitPackage


# --- the orchestrated upgrade (examples/orch/cloudassist_upgrade.sls) ---------------------------

ORCH = {"ca-orch-systemd": "systemd", "ca-orch-sysvinit": "sysvinit", "ca-orch-bad": "systemd"}
HEALTHY = ("ca-orch-systemd", "ca-orch-sysvinit")
VIEWS = {"systemd": pkgtests.TestSystemdPackage, "sysvinit": pkgtests.TestSysvinitPackage}
# On ca-orch-bad a drop-in replaces the client's command: its service starts and ends at once,
# so the package installs but no client runs at the new version (verification fails there).
DROP_IN = "/etc/systemd/system/aliyun.service.d/cloudassist-test.conf"
DROP_IN_TEXT = "[Service]\nExecStart=\nExecStart=/bin/true\n"


@pytest.fixture(scope="module")
def client_debs(tmp_path_factory):
    """{version: host path of its .deb}, to install A by dpkg before the orchestration."""
    out = tmp_path_factory.mktemp("orch-debs")
    return {v: client_deb.build(v, out) for v in (A, B)}


@pytest.fixture(scope="class")
def orch_fleet(request, roots, master, salt, client_debs):
    """Three container minions with A installed (by dpkg) and running; ca-orch-bad has the
    drop-in, which takes effect at the next start of the client."""
    hosts = {}
    for name, kind in ORCH.items():
        hosts[name] = make_host(request, roots, name, kind)
        pkgtests.dpkg(hosts[name], "-i", pkgtests.put_deb(hosts[name], client_debs, A))
        start_minion(hosts[name], master, name)
    hosts["ca-orch-bad"].write(DROP_IN, DROP_IN_TEXT)
    hosts["ca-orch-bad"].run("systemctl", "daemon-reload")
    for name in ORCH:
        wait_for_minion(salt, name)
    ret = salt.run("-L", "saltutil.sync_all", minion_tgt=",".join(ORCH))
    assert ret.returncode == 0, ret
    return hosts


def orchestrate(master, target, **pillar):
    pillar = {
        "target": ",".join(target),
        "tgt_type": "list",
        "batch": 1,
        "source": f"salt://ca/{client_deb.deb_name(B)}",
        "version": B,
        "timeout": 10,
        **pillar,
    }
    run = master.salt_run_cli(timeout=600)
    ret = run.run("state.orchestrate", "orch.cloudassist_upgrade", f"pillar={json.dumps(pillar)}")
    (states,) = ret.data["data"].values()
    return ret, {state["__id__"]: state for state in states.values()}


def at(hosts, name):
    """(version, pid) of the client on ``name``, checked from outside the module."""
    host, view = hosts[name], VIEWS[ORCH[name]]()
    for version in (A, B):
        if pkgtests.package(host) == f"install ok installed {version}":
            return version, view.assert_installed_and_running(host, version)
    raise AssertionError(f"{name}: dpkg says {pkgtests.package(host)!r}")


class TestOrchestratedUpgrade:
    def test_the_upgrade_rolls_until_a_minion_fails_verification(self, orch_fleet, master):
        before = {name: at(orch_fleet, name) for name in HEALTHY}
        assert all(version == A for version, _ in before.values()), before
        ret, states = orchestrate(master, ORCH)
        assert ret.returncode != 0, ret
        assert states["every minion reports its client"]["result"] is True, states
        upgrade = states["upgrade the client batch by batch"]
        assert upgrade["result"] is False, upgrade
        assert upgrade["comment"].startswith("Run failed on minions: ca-orch-bad"), upgrade
        ran = list(upgrade["changes"]["ret"])  # in the order the batches returned
        assert ran[-1] == "ca-orch-bad", ran
        (failed,) = upgrade["changes"]["ret"]["ca-orch-bad"].values()
        assert failed["result"] is False, failed
        assert f"not running at {B}" in failed["comment"], failed
        # dpkg did install B there, and the state says so (a change made before the failure).
        assert failed["changes"]["version"] == {"old": A, "new": B}, failed
        bad = orch_fleet["ca-orch-bad"]
        assert pkgtests.package(bad) == f"install ok installed {B}" and bad.pids() == []
        for name in HEALTHY:
            version, pid = at(orch_fleet, name)
            if name in ran:
                assert version == B and pid != before[name][1], (name, ran, version)
            else:  # a later batch: never reached
                assert (version, pid) == before[name], (name, ran, before, version, pid)
        final = states.get("the fleet after the upgrade")
        assert final is None or final["result"] is False and not final["changes"], states

    def test_the_upgrade_of_healthy_minions_reaches_them_all(self, orch_fleet, master):
        ret, states = orchestrate(master, HEALTHY)
        assert ret.returncode == 0, ret
        upgrade = states["upgrade the client batch by batch"]
        assert upgrade["result"] is True, upgrade
        for name in HEALTHY:
            assert at(orch_fleet, name)[0] == B, name
        report = states["the fleet after the upgrade"]["changes"]["return"]
        assert report["versions"] == {B: 2}, report
