"""``cloudassist.remove`` and the ``cloudassist.removed`` state for real (issue 25): through the
project's module in booted systemd and sysvinit containers, with the tests' ``.deb`` of the
client (``tests/support/client_deb.py``).

In each container: the package installed by dpkg (not the module) and its client running;
``test=True`` says what would run and changes nothing; ``cloudassist.remove`` purges it, and
nothing of the client is left as dpkg, the init system (``systemctl``, the init script and its
rc links), the process table and the link say, read from outside the module; again, nothing
changes; the state through ``state.single`` (test, real, again); and a stray client process the
package's scripts do not stop is named in the error, with the package's removal in it.

The tests of a class run in order and share the container; each first brings the package to
the state it starts from, so one also runs alone.
"""

from __future__ import annotations

import textwrap

import pytest
import test_realinit_package as pkgtests
from realinit_checks import make_host

import client_deb
import standin

pytestmark = pytest.mark.realinit

A = pkgtests.A
PURGE = "env DEBIAN_FRONTEND=noninteractive dpkg --purge aliyun-assist"
STRAY_DIR = client_deb.SHARE + "/9.9.9.9"  # a version folder the package does not own
STRAY = STRAY_DIR + "/aliyun-service"
WATCHDOG_DIR = "/usr/local/share/assist-daemon"
WATCHDOG = WATCHDOG_DIR + "/assist_daemon"
WATCHDOG_UNIT_FILE = "/etc/systemd/system/AssistDaemon.service"
WATCHDOG_WANTS = "/etc/systemd/system/multi-user.target.wants/AssistDaemon.service"
WATCHDOG_SCRIPT = "/etc/init.d/AssistDaemon"
WATCHDOG_RC = "/etc/rc2.d/S01AssistDaemon"
MARKERS = tuple(
    f"{client_deb.SHARE}/config/{name}" for name in ("disable_update", "disable_bootstrap_update")
)


@pytest.fixture(scope="session")
def remove_debs(tmp_path_factory):
    out = tmp_path_factory.mktemp("remove-debs")
    return {A: client_deb.build(A, out)}


class RemoveChecks:
    """``cloudassist.remove`` on one init system; ``VIEW`` is the package tests' class that
    reads that init system's view of the client's service."""

    NAME = ""
    KIND = ""
    VIEW = None

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        h = make_host(request, roots, cls.NAME, cls.KIND)
        assert pkgtests.package(h) == ""
        return h

    @property
    def view(self):
        return self.VIEW()

    def installed(self, host, debs) -> int:
        """The package installed and its client running (by dpkg, not the module)."""
        if pkgtests.package(host) != f"install ok installed {A}":
            pkgtests.dpkg(host, "-i", pkgtests.put_deb(host, debs, A))
        return self.view.assert_installed_and_running(host, A)

    def removed(self, host) -> None:
        """Nothing of the client on the host, read from outside the module."""
        assert pkgtests.package(host) == "", "dpkg still knows the package"
        assert host.pids() == [], "a client process is left"
        assert not self.view.service_active(host)
        assert self.view.service_leftovers(host) == []
        for path in (client_deb.LINK, client_deb.UNIT_FILE, client_deb.INIT_SCRIPT):
            assert not pkgtests.present(host, path), f"{path} is left"

    def with_watchdog(self, host) -> list[str]:
        """The stand-in watchdog running as this init system runs it; its files, in the order
        cloudassist.remove removes them."""
        raise NotImplementedError

    def test_the_watchdog_and_markers_go_for_good(self, host, remove_debs):
        self.installed(host, remove_debs)
        host.call("cloudassist.freeze_updates", check=True)
        files = self.with_watchdog(host)
        (watchdog,) = host.wait_for(lambda: host.pids("assist_daemon"), what="the watchdog")
        ret = host.call("cloudassist.remove", "test=True", check=True).ret
        # config/ holds the markers alone: foreseen empty after them (the package's own
        # folders, which dpkg removes itself, are not the removal's to name)
        foreseen = ret["changes"]["files"]["old"][len(files) + 2 :]
        assert ret["changes"] == {
            "version": {"old": A, "new": None},
            "watchdog": {"old": True, "new": False},
            "files": {"old": [*files, *MARKERS, *foreseen], "new": []},
        }, ret
        assert f"{client_deb.SHARE}/config" in foreseen, ret
        assert client_deb.folder(A) not in foreseen, ret
        assert [step.split(" ", 2)[:2] for step in ret["steps"]] == [
            ["would", "stop"],
            ["would", "remove"],
            ["would", "remove"],
            ["then", "would"],
            ["then", "would"],
        ], ret
        assert f"the watchdog's process {watchdog} ({WATCHDOG})" in ret["left"], ret
        assert host.pids("assist_daemon") == [watchdog]
        assert all(pkgtests.present(host, path) for path in (*files, *MARKERS))
        self.view.assert_installed_and_running(host, A)

        # A log the package did not own: kept and named, not removed.
        log = f"{client_deb.SHARE}/log/aliyun_assist_main.log"
        host.run("mkdir", "-p", f"{client_deb.SHARE}/log")
        host.sh(f"echo audit > {log}")
        ret = host.call("cloudassist.remove", check=True).ret
        assert ret["changes"]["watchdog"] == {"old": True, "new": False}, ret
        assert ret["changes"]["version"] == {"old": A, "new": None}, ret
        assert ret["changes"]["files"]["old"][: len(files) + 2] == [*files, *MARKERS], ret
        assert f"{client_deb.SHARE}/config" in ret["changes"]["files"]["old"], ret
        assert ret["kept"] == [log] and ret["left"] == [], ret
        # From outside: no watchdog, none of its files, no markers, only the log.
        assert host.pids("assist_daemon") == []
        for path in (*files, *MARKERS, f"{client_deb.SHARE}/config"):
            assert not pkgtests.present(host, path), f"{path} is left"
        assert host.read(log) == "audit\n"
        self.removed(host)
        host.run("rm", "-rf", client_deb.SHARE)
        ret = host.call("cloudassist.remove", check=True).ret
        assert (ret["changes"], ret["kept"], ret["left"]) == ({}, [], []), ret
        assert not pkgtests.present(host, client_deb.SHARE)

    def test_test_true_says_the_removal_and_changes_nothing(self, host, remove_debs):
        pid = self.installed(host, remove_debs)
        ret = host.call("cloudassist.remove", "test=True", check=True).ret
        assert ret["test"] is True and ret["command"] == PURGE, ret
        assert ret["changes"] == {"version": {"old": A, "new": None}}, ret
        assert ret["comment"] == f"would remove aliyun-assist {A} with `{PURGE}`", ret
        assert f"the binary's link {client_deb.LINK}" in ret["left"], ret
        assert any(f"the client's process {pid} " in left for left in ret["left"]), ret
        assert self.view.assert_installed_and_running(host, A) == pid

    def test_remove_leaves_nothing(self, host, remove_debs):
        self.installed(host, remove_debs)
        ret = host.call("cloudassist.remove", check=True).ret
        assert ret["changes"] == {"version": {"old": A, "new": None}}, ret
        assert ret["changed"] is True and ret["comment"].startswith(f"removed aliyun-assist {A}")
        assert ret["installed"] is False and ret["left"] == [], ret
        self.removed(host)

    def test_again_changes_nothing(self, host, remove_debs):
        if pkgtests.package(host):
            pkgtests.dpkg(host, "--purge", "aliyun-assist")
        ret = host.call("cloudassist.remove", check=True).ret
        assert (ret["changed"], ret["changes"], ret["command"]) == (False, {}, ""), ret
        ret = host.call("cloudassist.remove", "test=True", check=True).ret
        assert (ret["changed"], ret["changes"], ret["left"]) == (False, {}, []), ret
        self.removed(host)

    def test_the_removed_state(self, host, remove_debs):
        pid = self.installed(host, remove_debs)
        args = ("state.single", "cloudassist.removed", "name=gone")
        (tried,) = host.call(*args, "test=True", check=True).ret.values()
        assert tried["result"] is None, tried
        assert tried["changes"] == {"version": {"old": A, "new": None}}, tried
        assert f"would remove aliyun-assist {A}" in tried["comment"], tried
        assert self.view.assert_installed_and_running(host, A) == pid
        (done,) = host.call(*args, check=True).ret.values()
        assert done["result"] is True, done
        assert done["changes"] == {"version": {"old": A, "new": None}}, done
        self.removed(host)
        (again,) = host.call(*args, check=True).ret.values()
        assert (again["result"], again["changes"]) == (True, {}), again
        assert again["comment"].startswith("The Cloud Assistant client is already removed"), again

    def test_a_stray_client_is_named_with_the_removal_done(self, host, remove_debs):
        self.installed(host, remove_debs)
        # A client left in an older version folder (a self-update's), outside the service:
        # the package's scripts neither stop it nor remove its folder.
        host.run("mkdir", "-p", STRAY_DIR)
        host.run("cp", "/bin/sleep", STRAY)
        host.sh(f"setsid {STRAY} 600 </dev/null >/dev/null 2>&1 &")
        (stray,) = host.wait_for(
            lambda: [
                p
                for p in host.pids()
                if host.run("readlink", f"/proc/{p}/exe").stdout.strip() == STRAY
            ],
            timeout=10,
            what="the stray client",
        )
        try:
            res = host.call("cloudassist.remove", "timeout=3", check=False)
            text = res.text
            assert f"this is left of the client: the client's process {stray} ({STRAY})" in text, (
                res
            )
            assert f"already done: dpkg removed aliyun-assist {A}" in text, res
            assert pkgtests.package(host) == "", "dpkg still knows the package"
            assert host.pids() == [stray], "the package's client is left, or the stray is gone"
            (failed,) = host.call(
                "state.single", "cloudassist.removed", "name=gone", "timeout=3", check=False
            ).ret.values()
            assert failed["result"] is False and failed["changes"] == {}, failed
            assert f"the client's process {stray} ({STRAY})" in failed["comment"], failed
        finally:
            host.run("kill", "-9", str(stray), check=False)
            host.wait_for(lambda: stray not in host.pids(), timeout=10, what="the stray's end")
            host.run("rm", "-rf", STRAY_DIR)
        # The stray's folder kept the share folder through the purge: now empty, it goes.
        ret = host.call("cloudassist.remove", check=True).ret
        assert ret["changes"] == {"files": {"old": [client_deb.SHARE], "new": []}}, ret
        assert ret["left"] == [], ret
        self.removed(host)
        assert host.call("cloudassist.remove", check=True).ret["changes"] == {}

    def test_an_old_installs_init_script_is_named(self, host, remove_debs):
        self.installed(host, remove_debs)
        # The agentwatch script of a 1.0.1.x install, which no package of today removes.
        host.sh("printf '#!/bin/sh\\nexit 0\\n' > /etc/init.d/agentwatch")
        try:
            res = host.call("cloudassist.remove", "timeout=2", check=False)
            assert "this is left of the client: the init script /etc/init.d/agentwatch." in res.text
            assert f"already done: dpkg removed aliyun-assist {A}" in res.text, res
        finally:
            host.run("rm", "-f", "/etc/init.d/agentwatch")
        ret = host.call("cloudassist.remove", check=True).ret
        assert ret["changes"] == {} and ret["left"] == [], ret
        self.removed(host)


def put_watchdog(host):
    standin.install_watchdog(
        host.path(WATCHDOG),
        ["/bin/true"],
        "/run/assist_daemon.pid",
        "/run/no-client.pid",
        delay=3600,
    )


class TestSystemdRemove(RemoveChecks):
    NAME = "ca-rm-systemd"
    KIND = "systemd"
    VIEW = pkgtests.TestSystemdPackage

    def with_watchdog(self, host):
        put_watchdog(host)
        host.write(
            WATCHDOG_UNIT_FILE,
            textwrap.dedent(f"""\
            [Unit]
            Description=Stand-in watchdog assist_daemon

            [Service]
            ExecStart={WATCHDOG}
            Restart=always
            RestartSec=1

            [Install]
            WantedBy=multi-user.target
            """),
        )
        host.run("systemctl", "daemon-reload")
        host.run("systemctl", "enable", "--now", "AssistDaemon.service")
        assert pkgtests.present(host, WATCHDOG_WANTS)
        return [WATCHDOG_WANTS, WATCHDOG_UNIT_FILE, WATCHDOG_DIR]

    def removed(self, host):
        super().removed(host)
        res = host.run("systemctl", "is-enabled", "AssistDaemon.service", check=False)
        assert res.returncode != 0, res


class TestSysvinitRemove(RemoveChecks):
    NAME = "ca-rm-sysvinit"
    KIND = "sysvinit"
    VIEW = pkgtests.TestSysvinitPackage

    def with_watchdog(self, host):
        put_watchdog(host)
        host.write(WATCHDOG_SCRIPT, "#!/bin/sh\nexit 0\n", mode=0o755)
        host.run("ln", "-sf", "../init.d/AssistDaemon", WATCHDOG_RC)
        host.sh(f"setsid {WATCHDOG} </dev/null >/dev/null 2>&1 &")
        return [WATCHDOG_RC, WATCHDOG_SCRIPT, WATCHDOG_DIR]
