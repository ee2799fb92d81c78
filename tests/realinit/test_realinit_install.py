"""``cloudassist.install`` for real (issue 25): through the project's module in booted systemd
and sysvinit containers, with the tests' ``.deb`` of the client (``tests/support/client_deb.py``).

In each container, with nothing of the client there before: ``cloudassist.install`` of A's file
installs it; again, nothing changes; ``test=True`` with B's file says what it would do and
changes nothing; B's file upgrades, leaving B alone running; A's file with B installed keeps B;
a file that is not a package is refused, nothing changed.  Each step is checked from outside the
module, with the package tests' checks (``dpkg-query``, ``aliyun-service -v``, the process table
and ``/proc/PID/exe``, ``systemctl``/the init script and its pid file, the boot links).

The tests of a class run in order and share the container; each first brings the package to
the state it starts from, so one also runs alone.
"""

from __future__ import annotations

import pytest
import realinit_testbed as tb
import test_realinit_package as pkgtests
from realinit_checks import make_host

import _cloudassist_package
import client_deb

pytestmark = pytest.mark.realinit

A, B = pkgtests.A, pkgtests.B
DYING = "2.2.5.1"
SALT_STATES = tb.SALT_DIR + "/states"


@pytest.fixture(scope="session")
def install_debs(tmp_path_factory):
    """{version: host path of its .deb}, each built once per session."""
    out = tmp_path_factory.mktemp("install-debs")
    return {v: client_deb.build(v, out) for v in (A, B)}


@pytest.fixture(scope="session")
def dying_deb(tmp_path_factory):
    """{DYING: the .deb of a newer client that exits 5 s after each start}."""
    out = tmp_path_factory.mktemp("dying-deb")
    return {DYING: client_deb.build(DYING, out, die_after=5)}


class InstallChecks:
    """``cloudassist.install`` on one init system; ``VIEW`` is the package tests' class that
    reads that init system's view of the client's service."""

    NAME = ""
    KIND = ""
    VIEW = None

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        h = make_host(request, roots, cls.NAME, cls.KIND)
        assert not pkgtests.present(h, client_deb.LINK)
        assert pkgtests.package(h) == ""
        return h

    @property
    def view(self):
        return self.VIEW()

    def at(self, host, debs, version) -> int:
        """The package at ``version`` and its client running (by dpkg, not the module)."""
        if pkgtests.package(host) != f"install ok installed {version}":
            pkgtests.dpkg(host, "-i", pkgtests.put_deb(host, debs, version))
        return self.view.assert_installed_and_running(host, version)

    def install(self, host, debs, version, *args, check=True):
        inside = pkgtests.put_deb(host, debs, version)
        return host.call("cloudassist.install", f"source={inside}", *args, check=check)

    def test_install_on_a_host_without_the_client(self, host, install_debs):
        assert pkgtests.package(host) == "", "the package is there before the first install"
        ret = self.install(host, install_debs, A).ret
        assert ret["changes"] == {"version": {"old": None, "new": A}}, ret
        assert ret["changed"] is True and ret["comment"].startswith(f"installed aliyun-assist {A}")
        pid = self.view.assert_installed_and_running(host, A)
        assert ret["running"] is True and ret["version"] == A and ret["pids"] == [pid], ret
        assert ret["init_system"] == self.view.INIT and ret["service"] == self.view.SERVICE, ret

    def test_again_changes_nothing(self, host, install_debs):
        pid = self.at(host, install_debs, A)
        ret = self.install(host, install_debs, A).ret
        assert ret["changes"] == {} and ret["changed"] is False, ret
        assert "already installed and the client runs" in ret["comment"], ret
        assert self.view.assert_installed_and_running(host, A) == pid, "the client was restarted"

    def test_test_true_says_the_upgrade_and_changes_nothing(self, host, install_debs):
        pid = self.at(host, install_debs, A)
        ret = self.install(host, install_debs, B, "test=True").ret
        assert ret["test"] is True, ret
        assert ret["changes"] == {"version": {"old": A, "new": B}}, ret
        assert ret["comment"].startswith(f"would upgrade aliyun-assist {A} to {B} with"), ret
        assert ret["command"].endswith(f"dpkg -i {pkgtests.INBOX}/{client_deb.deb_name(B)}"), ret
        assert ret["version"] == A and ret["pids"] == [pid], ret
        assert self.view.assert_installed_and_running(host, A) == pid

    def test_upgrade_from_salt_leaves_only_the_new_version_running(self, host, install_debs):
        old = self.at(host, install_debs, A)
        inside = pkgtests.put_deb(host, install_debs, B)
        # The masterless minion's file_roots (realinit_testbed.Salt): salt://ca/<file>.
        host.run("mkdir", "-p", f"{SALT_STATES}/ca")
        host.run("cp", inside, f"{SALT_STATES}/ca/")
        source = f"salt://ca/{client_deb.deb_name(B)}"
        ret = host.call("cloudassist.install", source, f"version={B}", check=True).ret
        assert ret["changes"] == {"version": {"old": A, "new": B}}, ret
        assert ret["comment"].startswith(f"upgraded aliyun-assist {A} to {B}"), ret
        # cp.cache_file's copy in the minion's cache, not the file_roots one, was installed.
        assert ret["command"].endswith(f"/{client_deb.deb_name(B)}"), ret
        assert f"{SALT_STATES}/" not in ret["command"], ret
        new = self.view.assert_installed_and_running(host, B)
        assert new != old and old not in host.pids(), "the old client still runs"
        assert ret["version"] == B and ret["pids"] == [new], ret

    def test_an_older_package_keeps_the_newer_one(self, host, install_debs):
        pid = self.at(host, install_debs, B)
        ret = self.install(host, install_debs, A).ret
        assert ret["changes"] == {} and ret["changed"] is False, ret
        assert f"aliyun-assist {B} is installed, newer than {A}: kept" in ret["comment"], ret
        assert self.view.assert_installed_and_running(host, B) == pid

    def test_allow_downgrade_installs_the_older_one(self, host, install_debs):
        old = self.at(host, install_debs, B)
        ret = self.install(host, install_debs, A, "allow_downgrade=True").ret
        assert ret["changes"] == {"version": {"old": B, "new": A}}, ret
        assert ret["comment"].startswith(f"downgraded aliyun-assist {B} to {A}"), ret
        new = self.view.assert_installed_and_running(host, A)
        assert new != old and old not in host.pids(), "the newer client still runs"

    def test_dpkgs_lock_held_by_another_process_is_waited_for(self, host, install_debs):
        self.at(host, install_debs, A)
        inside = pkgtests.put_deb(host, install_debs, B)
        # Another process holds dpkg's frontend lock (as apt does: fcntl, as dpkg takes it) for
        # 4 seconds, having said so in a marker file.
        host.run("rm", "-f", "/root/locked")
        host.sh(
            "setsid /usr/bin/python3 -c 'import fcntl, time; "
            'f = open("/var/lib/dpkg/lock-frontend", "w"); fcntl.lockf(f, fcntl.LOCK_EX); '
            'open("/root/locked", "w").close(); time.sleep(4)'
            "' </dev/null >/dev/null 2>&1 &"
        )
        host.wait_for(lambda: host.exists("/root/locked"), timeout=10, what="the lock holder")
        res = host.run("dpkg", "-i", inside, check=False)
        assert res.returncode != 0, f"the lock was not held: {res!r}"
        assert _cloudassist_package.locked(res.stderr), f"dpkg's words not known as a lock: {res!r}"
        ret = host.call("cloudassist.install", f"source={inside}", check=True).ret
        assert ret["changes"] == {"version": {"old": A, "new": B}}, ret
        self.view.assert_installed_and_running(host, B)

    def test_a_file_that_is_not_the_package_changes_nothing(self, host, install_debs):
        pid = self.at(host, install_debs, B)
        host.path(f"{pkgtests.INBOX}/bogus.deb").write_text("not a package\n")
        res = host.call("cloudassist.install", f"source={pkgtests.INBOX}/bogus.deb", check=False)
        assert f"{pkgtests.INBOX}/bogus.deb is not a .deb package" in res.text, res
        assert "nothing was changed" in res.text, res
        assert self.view.assert_installed_and_running(host, B) == pid

    def test_a_client_that_exits_after_the_install_fails_it(self, host, install_debs, dying_deb):
        """The new client runs at its version when first read, then exits: within ``settle``
        the install sees it go, fails, and reports the version change dpkg made."""
        self.at(host, install_debs, B)
        res = self.install(host, dying_deb, DYING, "settle=10", check=False)
        assert res.returncode != 0, res
        text = res.text
        assert "started the client (pid" in text and "but it exited within 10 s" in text, res
        assert f"already done: dpkg left aliyun-assist install ok installed {DYING}" in text, res
        assert pkgtests.package(host) == f"install ok installed {DYING}"
        assert host.pids() == [], "the client did not exit, or was started again"
        pkgtests.dpkg(host, "--purge", "aliyun-assist")  # the next class run starts clean


class TestSystemdInstall(InstallChecks):
    NAME = "ca-inst-systemd"
    KIND = "systemd"
    VIEW = pkgtests.TestSystemdPackage


class TestSysvinitInstall(InstallChecks):
    NAME = "ca-inst-sysvinit"
    KIND = "sysvinit"
    VIEW = pkgtests.TestSysvinitPackage


class TestInstallFailsOnAHostWithoutServiceManager:
    """The systemd root started without booting (PID 1 a reaper), ``update-rc.d`` deleted: the
    package's ``postinst`` cannot install the client's service, so ``dpkg -i`` fails.  The call
    fails with dpkg's words and reports what dpkg left (half-configured) in its error."""

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            c.path("/usr/sbin/update-rc.d").unlink()

        h = make_host(
            request,
            roots,
            "ca-inst-nomanager",
            "container",
            prepare,
            boot=False,
            pid1=pkgtests.REAPER,
        )
        assert not pkgtests.present(h, "/run/systemd/system")
        return h

    def test_a_failing_postinst_fails_the_call_with_dpkgs_words(self, host, install_debs):
        inside = pkgtests.put_deb(host, install_debs, A)
        res = host.call("cloudassist.install", f"source={inside}", check=False)
        assert res.returncode != 0, res
        text = res.text
        assert f"dpkg -i {inside}` exited with code 1: dpkg could not install" in text, res
        assert f"already done: dpkg left aliyun-assist install ok half-configured {A}" in text
        assert "cannot install the client's service" in text, "dpkg's words are not quoted"
        assert pkgtests.package(host) == f"install ok half-configured {A}"
        assert host.pids() == []

    def test_remove_purges_what_the_failed_install_left(self, host, install_debs):
        """No init system to decide here: ``remove`` reads the watchdog from the process
        table and purges the half-configured package (it once failed with the init system's
        error)."""
        if pkgtests.package(host) != f"install ok half-configured {A}":
            inside = pkgtests.put_deb(host, install_debs, A)
            host.call("cloudassist.install", f"source={inside}", check=False)
            assert pkgtests.package(host) == f"install ok half-configured {A}"
        ret = host.call("cloudassist.remove", check=True).ret
        assert ret["changed"] is True and ret["left"] == [], ret
        assert ret["changes"]["version"]["new"] is None, ret
        assert pkgtests.package(host) == ""
        assert not pkgtests.present(host, "/usr/local/share/aliyun-assist")
        assert host.pids() == []
        assert host.call("cloudassist.remove", check=True).ret["changed"] is False
