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


class TestSystemdMinion(MinionInContainer):
    NAME = SYSTEMD
    KIND = "systemd"
    VIEW = pkgtests.TestSystemdPackage


class TestSysvinitMinion(MinionInContainer):
    NAME = SYSVINIT
    KIND = "sysvinit"
    VIEW = pkgtests.TestSysvinitPackage
