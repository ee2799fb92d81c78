"""Starting at boot (issue 9), for real: the client's boot status under booted systemd and
sysvinit, changed through ``salt-call`` and then checked the way the init system itself sees it
at the next boot: the container is rebooted from the state the test left on disk
(``Container.reboot()``) and the test looks whether the client came up.

- ``TestRebootTestbed``: the testbed's reboot itself (files kept, a fresh PID 1, nothing of the
  old boot left, the salt configuration restored, teardown still clean).
- ``TestSystemdBoot``: ``cloudassist.enabled``/``enable``/``disable``, ``stop``/``start`` with
  ``enable=``, the states ``stopped``/``running`` with ``enable:`` and ``enabled``/``disabled``
  on ``aliyun.service`` (``systemctl is-enabled``, the ``multi-user.target.wants`` link), and
  two reboots: disabled and stopped -> not started at boot; enabled and running -> started.
- ``TestSystemdOtherUnitName``: the client's unit is ``aliyun-service.service`` (what the client
  installs on a host without binutils); enable/disable act on that one.
- ``TestSystemdNextBootTruth``: ``enabled-runtime`` and ``linked`` units: what
  ``cloudassist.enabled`` says must be what the next boot does (checked by rebooting).
- ``TestSysvinitBoot``: ``enabled``/``enable``/``disable`` and the two reboots on
  ``/etc/init.d/aliyun-service`` and its rc links (the S links in ``/etc/rc[2-5].d``).
- ``TestSystemdWatchdogUnit``: the watchdog runs as ``AssistDaemon.service`` (``Restart=always``,
  so ``assist_daemon --stop`` alone would not keep it down); ``stopped`` with
  ``stop_watchdog: True, enable: False`` stops and disables both; after a reboot neither runs.
  ``cloudassist.disable`` alone warns that the watchdog still starts at boot.
"""

from __future__ import annotations

import textwrap
import time

import pytest
import realinit_testbed as tb
from realinit_checks import (
    BINARY,
    SLS_STOPPED,
    make_host,
    no_traceback,
    put_client,
    put_sysv,
    put_unit,
    single_state,
)
from support import standin

pytestmark = pytest.mark.realinit

VERSION = "2.2.3.578"
WANTS = "/etc/systemd/system/multi-user.target.wants"
# Boot is over when the testbed's boot() returns (systemd: is-system-running is running or
# degraded; sysvinit: the last rc script ran).  A late starter gets this long on top.
AFTER_BOOT = 1.0

SLS_OFF = """\
cloudassist_client:
  cloudassist.stopped:
    - enable: False
"""

SLS_ON = """\
cloudassist_client:
  cloudassist.running:
    - enable: True
"""

SLS_DISABLED = """\
cloudassist_client:
  cloudassist.disabled:
    - name: aliyun
"""

SLS_ENABLED = """\
cloudassist_client:
  cloudassist.enabled:
    - name: aliyun
"""

SLS_OFF_WITH_WATCHDOG = """\
cloudassist_client:
  cloudassist.stopped:
    - stop_watchdog: True
    - enable: False
"""

ON = {"old": False, "new": True}
OFF = {"old": True, "new": False}


# ------------------------------------------------------------------------------------------
# The container's own view
# ------------------------------------------------------------------------------------------


def systemctl(host, *args) -> str:
    return host.run("systemctl", *args, check=False).stdout.strip()


def is_enabled(host, unit) -> str:
    """``systemctl is-enabled UNIT``: enabled, disabled, static, ..."""
    return systemctl(host, "is-enabled", unit)


def is_active(host, unit) -> str:
    return systemctl(host, "is-active", unit)


def lexists(host, inside) -> bool:
    return (
        host.run("/bin/sh", "-c", '[ -L "$1" ] || [ -e "$1" ]', "-", inside, check=False).returncode
        == 0
    )


def started_this_boot(host, unit) -> bool:
    """Did systemd start ``unit`` at any time since this boot (even if it died since)?"""
    return systemctl(host, "show", "-p", "InactiveExitTimestampMonotonic", "--value", unit) not in (
        "",
        "0",
    )


def main_pid(host, unit) -> int:
    return int(systemctl(host, "show", "-p", "MainPID", "--value", unit) or 0)


def rc_links(host, name="aliyun-service") -> list[str]:
    """The rc links of ``name``, e.g. ['rc0.d/K01aliyun-service', 'rc2.d/S01aliyun-service']."""
    out = host.run(
        "/bin/sh",
        "-c",
        'cd /etc && for l in rc?.d/[SK][0-9][0-9]"$1"; do [ -L "$l" ] && echo "$l"; done',
        "-",
        name,
        check=False,
    ).stdout
    return sorted(out.split())


def start_links(host, name="aliyun-service") -> list[str]:
    """S links of ``name`` in the multi-user runlevels 2 to 5 (what sysvinit starts at boot)."""
    return [
        link
        for link in rc_links(host, name)
        if link[2] in "2345" and link.split("/")[1].startswith("S")
    ]


def state_of(res) -> dict:
    no_traceback(res)
    return single_state(res)


# ------------------------------------------------------------------------------------------
# The testbed's reboot
# ------------------------------------------------------------------------------------------


def pid1_start_ticks(host) -> int:
    """PID 1's start time in clock ticks since the (host's) boot: larger for a later init."""
    return int(host.read("/proc/1/stat").rsplit(")", 1)[1].split()[19])


@pytest.mark.parametrize("kind", ["systemd", "sysvinit"])
class TestRebootTestbed:
    """``Container.reboot()``: the disk state survives, the memory state does not."""

    def test_reboot_keeps_files_and_boots_a_fresh_init(self, request, roots, kind):
        host = make_host(request, roots, f"ca-reboot-{kind}", kind)
        c = host.c
        host.sh(
            "echo kept > /root/kept && echo gone > /run/gone && "
            "setsid sleep 1000 </dev/null >/dev/null 2>&1 &"
        )
        host.wait_for(lambda: host.pids("sleep"), what="the background sleep")
        first = (c.nspawn_pid, c.init_pid, pid1_start_ticks(host))
        assert host.exists("/tmp/salt/conf/minion")

        for clean in (False, True):
            before = (c.nspawn_pid, c.init_pid, pid1_start_ticks(host))
            started = time.monotonic()
            host.reboot(clean=clean)
            took = time.monotonic() - started
            how = "clean reboot" if clean else "power cut"
            assert took < 20, f"{how} took {took:.1f}s"
            for what, pid in zip(("systemd-nspawn", "init"), before[:2], strict=False):
                assert not tb._alive(pid, c.start_ticks.get(pid)), (
                    f"{how}: the old {what} {pid} still runs"
                )
            assert c.init_pid not in (before[1], first[1]) and c.nspawn_pid != before[0], how
            assert pid1_start_ticks(host) > before[2], f"{how}: PID 1 is not a new process"
            assert host.read("/root/kept") == "kept\n", f"{how}: a file on disk was lost"
            assert not host.exists("/run/gone"), f"{how}: /run survived the reboot"
            assert host.pids("sleep") == [], f"{how}: a process of the old boot survived"
            assert host.exists("/tmp/salt/conf/minion"), f"{how}: the salt config was not restored"
            # The root is writable again (a clean sysvinit shutdown remounts it read-only).
            host.sh("echo again > /root/again")
            if kind == "systemd":
                assert systemctl(host, "is-system-running") in ("running", "degraded")
            else:
                assert host.run("runlevel", check=False).stdout.split()[-1:] == ["2"]
        assert c.boots == 3 and len(c.past_pids) == 2
        assert "boot 3" in c.log_path.read_text(errors="replace")
        assert host.call("test.ping", check=True).ret is True

        problems = c.close()
        assert problems == [], problems
        assert tb.leftovers_of(c) == [], tb.leftovers_of(c)
        assert not c.work.exists()


# ------------------------------------------------------------------------------------------
# What a boot-status scenario needs from its class
# ------------------------------------------------------------------------------------------


class BootFlow:
    """The two reboot scenarios, shared by systemd and sysvinit.

    Subclasses say how the init system itself starts/stops the client and switches its boot
    status (``manager_*``, ``boot_*``), and what the container shows for it
    (``assert_boot_view``); they provide a class-scoped ``host`` with the client running and
    enabled, and the class-scoped ``sls`` fixture below.
    """

    SERVICE = ""
    ENABLE_COMMANDS: tuple = ()
    DISABLE_COMMANDS: tuple = ()

    def manager_active(self, host) -> bool:
        raise NotImplementedError

    def manager_start(self, host) -> None:
        raise NotImplementedError

    def manager_stop(self, host) -> None:
        raise NotImplementedError

    def boot_set(self, host, enabled: bool) -> None:
        raise NotImplementedError

    def assert_boot_view(self, host, enabled: bool) -> None:
        """The init system's own files and tools say the client starts at boot, or not."""
        raise NotImplementedError

    def assert_not_started_at_boot(self, host) -> None:
        assert host.pids() == [], "the client runs after a boot with it disabled"
        assert not self.manager_active(host), f"{self.SERVICE} is active after boot"

    def assert_started_at_boot(self, host) -> list[int]:
        pids = host.wait_for(host.pids, timeout=10, what="the client to be started at boot")
        assert len(pids) == 1, pids
        assert self.manager_active(host), f"{self.SERVICE} is not active though {pids} runs"
        return pids

    # -- preconditions, set with the container's own tools -----------------------------------
    def boot_is(self, host, enabled: bool) -> bool:
        """The container's view is exactly ``enabled`` (assert_boot_view does not fail)."""
        try:
            self.assert_boot_view(host, enabled)
        except AssertionError:
            return False
        return True

    def given(self, host, running: bool, enabled: bool) -> list[int]:
        if not self.boot_is(host, enabled):
            self.boot_set(host, enabled)
        if running and not host.pids():
            self.manager_start(host)
        if not running and (host.pids() or self.manager_active(host)):
            self.manager_stop(host)
        if running:
            pids = host.wait_for(host.pids, timeout=10, what="the client")
        else:
            host.wait_for(lambda: not host.pids(), timeout=10, what="the client to stop")
            pids = []
        self.assert_boot_view(host, enabled)
        return pids

    def reboot(self, host, settle: bool) -> None:
        """Reboot; with ``settle``, give a late starter AFTER_BOOT more (only a test that
        expects nothing to start needs it: one that expects a start waits for it)."""
        host.reboot()
        if settle:
            time.sleep(AFTER_BOOT)

    @pytest.fixture(scope="class")
    @classmethod
    def sls(cls, host):
        for name, text in (
            ("ca_off", SLS_OFF),
            ("ca_on", SLS_ON),
            ("ca_stopped", SLS_STOPPED),
            ("ca_disabled", SLS_DISABLED),
            ("ca_enabled", SLS_ENABLED),
        ):
            host.salt.write_sls(name, text)

    # -- execution functions ------------------------------------------------------------------
    def test_enabled_and_status_read_the_init_system(self, host):
        self.given(host, running=True, enabled=True)
        res = host.call("cloudassist.enabled", check=True)
        assert res.ret is True, res
        st = host.call("cloudassist.status", check=True).ret
        assert st["enabled"] is True and st["running"] is True, st
        assert st["watchdog"]["running"] is False and st["watchdog"]["form"] is None, st
        self.boot_set(host, False)
        self.assert_boot_view(host, False)
        res = host.call("cloudassist.enabled", check=True)
        assert res.ret is False, res

    def test_disable_then_enable(self, host):
        pids = self.given(host, running=True, enabled=True)

        res = host.call("cloudassist.disable", "test=True", check=True)
        ret = res.ret
        assert ret["enabled"] is False and ret["changes"] == {"enabled": OFF}, res
        for command in self.DISABLE_COMMANDS:
            assert command in "{} {}".format(ret.get("command"), ret.get("comment")), res
        self.assert_boot_view(host, True)  # test=True changed nothing

        res = host.call("cloudassist.disable", check=True)
        ret = res.ret
        assert ret["enabled"] is False and ret["changed"] is True, res
        assert ret["changes"] == {"enabled": OFF}, res
        assert ret["service"] == self.SERVICE, res
        assert ret["init_system"] == self.INIT, res
        for command in self.DISABLE_COMMANDS:
            assert command in ret["command"], res
        self.assert_boot_view(host, False)
        assert host.pids() == pids, "disable touched the running client"

        res = host.call("cloudassist.disable", check=True)
        assert res.ret["enabled"] is False and res.ret["changed"] is False, res
        assert res.ret["changes"] == {}, res

        res = host.call("cloudassist.enable", check=True)
        ret = res.ret
        assert ret["enabled"] is True and ret["changed"] is True, res
        assert ret["changes"] == {"enabled": ON}, res
        for command in self.ENABLE_COMMANDS:
            assert command in ret["command"], res
        self.assert_boot_view(host, True)
        assert host.pids() == pids, "enable touched the running client"

    # -- the reboots ------------------------------------------------------------------------
    def test_stopped_and_disabled_is_not_started_at_boot(self, host, sls):
        pids = self.given(host, running=True, enabled=True)

        predicted = state_of(host.call("state.apply", "ca_off", "test=True"))
        assert predicted["result"] is None, predicted
        assert predicted["changes"] == {"running": OFF, "enabled": OFF}, predicted
        for command in self.DISABLE_COMMANDS:
            assert command in predicted["comment"], predicted
        assert host.pids() == pids, "test=True touched the client"
        self.assert_boot_view(host, True)

        st = state_of(host.call("state.apply", "ca_off"))
        assert st["result"] is True, st
        assert st["changes"] == predicted["changes"], (predicted, st)
        assert host.pids() == [] and not self.manager_active(host)
        self.assert_boot_view(host, False)

        again = state_of(host.call("state.apply", "ca_off"))
        assert again["result"] is True and again["changes"] == {}, again

        self.reboot(host, settle=True)
        self.assert_not_started_at_boot(host)
        self.assert_boot_view(host, False)

    def test_running_and_enabled_is_started_at_boot(self, host, sls):
        self.given(host, running=False, enabled=False)

        predicted = state_of(host.call("state.apply", "ca_on", "test=True"))
        assert predicted["result"] is None, predicted
        assert predicted["changes"] == {"running": ON, "enabled": ON}, predicted
        for command in self.ENABLE_COMMANDS:
            assert command in predicted["comment"], predicted
        assert host.pids() == [], "test=True started the client"
        self.assert_boot_view(host, False)

        st = state_of(host.call("state.apply", "ca_on"))
        assert st["result"] is True, st
        assert st["changes"] == predicted["changes"], (predicted, st)
        host.wait_for(host.pids, what="the client")
        self.assert_boot_view(host, True)

        again = state_of(host.call("state.apply", "ca_on"))
        assert again["result"] is True and again["changes"] == {}, again

        self.reboot(host, settle=False)
        self.assert_started_at_boot(host)
        self.assert_boot_view(host, True)


# ------------------------------------------------------------------------------------------
# systemd
# ------------------------------------------------------------------------------------------


class SystemdUnitFlow(BootFlow):
    INIT = "systemd"
    UNIT = "aliyun.service"

    def manager_active(self, host):
        return is_active(host, self.UNIT) == "active"

    def manager_start(self, host):
        host.run("systemctl", "start", self.UNIT)

    def manager_stop(self, host):
        host.run("systemctl", "stop", self.UNIT)

    def boot_set(self, host, enabled):
        host.run("systemctl", "enable" if enabled else "disable", self.UNIT)

    def assert_boot_view(self, host, enabled):
        state = is_enabled(host, self.UNIT)
        link = lexists(host, f"{WANTS}/{self.UNIT}")
        if enabled:
            assert state == "enabled" and link, (
                f"{self.UNIT}: is-enabled {state!r}, wants link {link}"
            )
        else:
            assert state == "disabled" and not link, (
                f"{self.UNIT}: is-enabled {state!r}, wants link {link}"
            )

    def assert_not_started_at_boot(self, host):
        assert not started_this_boot(host, self.UNIT), f"systemd started {self.UNIT} at boot"
        super().assert_not_started_at_boot(host)

    def assert_started_at_boot(self, host):
        pids = super().assert_started_at_boot(host)
        assert main_pid(host, self.UNIT) == pids[0]
        return pids


class TestSystemdBoot(SystemdUnitFlow):
    """Client 2.2.3.578 in aliyun.service ([Install] WantedBy=multi-user.target), enabled."""

    SERVICE = "aliyun.service"
    ENABLE_COMMANDS = ("systemctl enable aliyun.service",)
    DISABLE_COMMANDS = ("systemctl disable aliyun.service",)

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, VERSION)
            put_unit(c, "aliyun.service")

        h = make_host(request, roots, "ca-boot-systemd", "systemd", prepare)
        assert h.pids(), "aliyun.service did not start the stand-in at boot"
        assert is_enabled(h, "aliyun.service") == "enabled"
        return h

    # The same module code serves every init system: these run on systemd only.
    def test_the_grain_reads_the_boot_status_systemd_keeps(self, host):
        """The grain (systemd over its bus, no systemctl) agrees with `systemctl is-enabled`."""
        grains = {"grains_dirs": [str(tb.PROJECT_DIR / "_grains")]}
        host.salt.configure(grains)
        try:
            for enabled in (True, False):
                self.given(host, running=True, enabled=enabled)
                grain = host.call("grains.item", "cloudassist", check=True).ret["cloudassist"]
                assert grain == {
                    "installed": True,
                    "version": VERSION,
                    "init_system": "systemd",
                    "service": "aliyun.service",
                    "enabled": enabled,
                    "legacy": False,
                    "branch": "Linux, client newer than 1.0.1.308, systemd",
                    "updates": "allowed",  # no disable_update marker in its folders
                }, (grain, is_enabled(host, "aliyun.service"))
        finally:
            host.salt.configure()

    def test_stop_and_start_with_enable(self, host):
        self.given(host, running=True, enabled=True)
        res = host.call("cloudassist.stop", "enable=False", check=True)
        ret = res.ret
        assert ret["running"] is False and ret["changed"] is True, res
        assert ret["changes"].get("enabled") == OFF, res
        assert host.pids() == [] and not self.manager_active(host)
        self.assert_boot_view(host, False)

        res = host.call("cloudassist.start", "enable=True", check=True)
        ret = res.ret
        assert ret["running"] is True and ret["changed"] is True, res
        assert ret["changes"].get("enabled") == ON, res
        host.wait_for(host.pids, what="the client")
        self.assert_boot_view(host, True)

    def test_stopped_without_enable_leaves_boot_alone(self, host, sls):
        self.given(host, running=True, enabled=True)
        st = state_of(host.call("state.apply", "ca_stopped"))
        assert st["result"] is True, st
        assert st["changes"] == {"running": OFF}, st
        assert host.pids() == []
        self.assert_boot_view(host, True)

    def test_disabled_and_enabled_states_leave_the_client_running(self, host, sls):
        pids = self.given(host, running=True, enabled=True)
        predicted = state_of(host.call("state.apply", "ca_disabled", "test=True"))
        assert predicted["result"] is None and predicted["changes"] == {"enabled": OFF}, predicted
        self.assert_boot_view(host, True)

        st = state_of(host.call("state.apply", "ca_disabled"))
        assert st["result"] is True and st["changes"] == {"enabled": OFF}, st
        self.assert_boot_view(host, False)
        assert host.pids() == pids, "cloudassist.disabled touched the running client"

        st = state_of(host.call("state.apply", "ca_enabled"))
        assert st["result"] is True and st["changes"] == {"enabled": ON}, st
        self.assert_boot_view(host, True)
        assert host.pids() == pids, "cloudassist.enabled touched the running client"


class TestSystemdOtherUnitName:
    """The client's unit is aliyun-service.service (as the client names it where it finds no
    `strings`); there is no aliyun.service.  enable/disable must act on the real unit."""

    UNIT = "aliyun-service.service"

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, VERSION)
            put_unit(c, cls.UNIT)

        h = make_host(request, roots, "ca-boot-systemd-name", "systemd", prepare)
        assert h.pids() and is_enabled(h, cls.UNIT) == "enabled"
        assert is_enabled(h, "aliyun.service") not in ("enabled", "disabled")
        return h

    def test_disable_and_enable_the_real_unit(self, host):
        res = host.call("cloudassist.disable", check=True)
        ret = res.ret
        assert ret["service"] == self.UNIT and ret["changed"] is True, res
        assert ret["command"] == f"systemctl disable {self.UNIT}", res
        assert is_enabled(host, self.UNIT) == "disabled", res
        assert not lexists(host, f"{WANTS}/{self.UNIT}")
        assert host.call("cloudassist.enabled", check=True).ret is False

        res = host.call("cloudassist.enable", check=True)
        assert res.ret["command"] == f"systemctl enable {self.UNIT}", res
        assert res.ret["enabled"] is True and res.ret["changed"] is True, res
        assert is_enabled(host, self.UNIT) == "enabled", res


class TestSystemdNextBootTruth:
    """Unit file states where `systemctl is-enabled` is not "enabled"/"disabled" but something
    between; whatever the module answers must be what the next boot does.

    - ``enabled-runtime`` (``systemctl enable --runtime``): the wants link is in /run, which the
      next boot does not have: the client is not started at the next boot.
    - ``linked`` (``systemctl link /opt/...``): the unit file is reachable, but nothing wants
      it: not started at the next boot either, and ``enable`` must really enable it.
    """

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, VERSION)
            put_unit(c, "aliyun.service", enable=False)

        h = make_host(request, roots, "ca-boot-systemd-truth", "systemd", prepare)
        assert h.pids() == [] and is_enabled(h, "aliyun.service") == "disabled"
        return h

    def test_enabled_runtime_is_not_enabled_at_next_boot(self, host):
        host.run("systemctl", "enable", "--runtime", "aliyun.service")
        assert is_enabled(host, "aliyun.service") == "enabled-runtime"
        answer = host.call("cloudassist.enabled", check=True).ret
        disable = host.call("cloudassist.disable")
        host.reboot()
        time.sleep(AFTER_BOOT)
        truth = started_this_boot(host, "aliyun.service")
        assert truth is False and host.pids() == [], "the next boot started the client"
        assert answer is truth, (
            f"cloudassist.enabled said {answer} for an enabled-runtime unit; "
            f"the next boot started it: {truth}"
        )
        assert disable.returncode == 0, (
            f"disable of a unit that the next boot does not start: {disable!r}"
        )
        assert disable.ret["enabled"] is False, disable

    def test_linked_unit_is_not_enabled_until_enable(self, host):
        host.sh(
            "mkdir -p /opt/ca && mv /etc/systemd/system/aliyun.service /opt/ca/ && "
            "rm -f /run/systemd/system/multi-user.target.wants/aliyun.service && "
            "systemctl daemon-reload && systemctl link /opt/ca/aliyun.service"
        )
        assert is_enabled(host, "aliyun.service") == "linked"
        answer = host.call("cloudassist.enabled", check=True).ret
        host.reboot()
        time.sleep(AFTER_BOOT)
        truth = started_this_boot(host, "aliyun.service")
        assert truth is False and host.pids() == [], "the next boot started the client"
        assert answer is truth, (
            f"cloudassist.enabled said {answer} for a linked unit; "
            f"the next boot started it: {truth}"
        )

        res = host.call("cloudassist.enable", check=True)
        assert res.ret["enabled"] is True and res.ret["changed"] is True, res
        assert is_enabled(host, "aliyun.service") == "enabled", res
        host.reboot()
        host.wait_for(host.pids, timeout=10, what="the enabled client to start at boot")


# ------------------------------------------------------------------------------------------
# sysvinit
# ------------------------------------------------------------------------------------------

PIDFILE = "/var/run/aliyun-service.pid"


class TestSysvinitBoot(BootFlow):
    """Client 2.2.3.578 under /etc/init.d/aliyun-service, linked with update-rc.d defaults."""

    INIT = "sysvinit"
    SERVICE = "/etc/init.d/aliyun-service"
    ENABLE_COMMANDS = ("update-rc.d aliyun-service defaults", "update-rc.d aliyun-service enable")
    DISABLE_COMMANDS = ("update-rc.d aliyun-service disable",)

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, VERSION)
            put_sysv(c)

        h = make_host(request, roots, "ca-boot-sysvinit", "sysvinit", prepare)
        assert h.run("sh", "-c", "command -v chkconfig", check=False).returncode != 0
        assert h.pids(), "/etc/init.d/aliyun-service did not start the stand-in at boot"
        assert start_links(h), rc_links(h)
        return h

    def manager_active(self, host):
        return host.run("/etc/init.d/aliyun-service", "status", check=False).returncode == 0

    def manager_start(self, host):
        host.run("/etc/init.d/aliyun-service", "start")

    def manager_stop(self, host):
        host.run("/etc/init.d/aliyun-service", "stop")

    def boot_set(self, host, enabled):
        if enabled:
            host.run("update-rc.d", "aliyun-service", "defaults")
            host.run("update-rc.d", "aliyun-service", "enable")
        else:
            host.run("update-rc.d", "aliyun-service", "disable")

    def assert_boot_view(self, host, enabled):
        links = rc_links(host)
        starts = start_links(host)
        if enabled:
            expected = ["rc2.d", "rc3.d", "rc4.d", "rc5.d"]
            assert [link.split("/")[0] for link in starts] == expected, links
        else:
            assert starts == [], f"S links left: {links}"
            assert not any(link.split("/")[1].startswith("S") for link in links), links

    def test_enable_without_any_links(self, host):
        """A script that was never linked (no S or K link at all): enable makes the links."""
        self.given(host, running=True, enabled=True)
        host.run("update-rc.d", "-f", "aliyun-service", "remove")
        assert rc_links(host) == []
        assert host.call("cloudassist.enabled", check=True).ret is False
        res = host.call("cloudassist.enable", check=True)
        assert res.ret["enabled"] is True and res.ret["changes"] == {"enabled": ON}, res
        self.assert_boot_view(host, True)

    def assert_not_started_at_boot(self, host):
        super().assert_not_started_at_boot(host)
        assert not host.exists(PIDFILE), "the init script ran at boot (pid file)"
        assert "Starting aliyun-service" not in host.c.boot_console(), host.c.boot_console()

    def assert_started_at_boot(self, host):
        pids = super().assert_started_at_boot(host)
        pid = (host.read(PIDFILE) or "").strip()
        assert pid == str(pids[0]), f"pid file {pid!r}, client {pids}"
        return pids


# ------------------------------------------------------------------------------------------
# The watchdog as a systemd unit
# ------------------------------------------------------------------------------------------

WATCHDOG = "/usr/local/share/assist-daemon/assist_daemon"
WATCHDOG_UNIT = "AssistDaemon.service"
CLIENT_PIDFILE = "/run/standin-watchdog/client.pid"  # the stand-in watchdog watches this


def client_unit_with_pidfile() -> str:
    """aliyun.service that leaves its main pid where the stand-in watchdog looks."""
    post = f"/bin/sh -c 'mkdir -p /run/standin-watchdog && echo $MAINPID > {CLIENT_PIDFILE}'"
    return textwrap.dedent(f"""\
        [Unit]
        Description=Stand-in Cloud Assistant client

        [Service]
        Type=simple
        ExecStart={BINARY}
        ExecStartPost={post}
        Restart=no

        [Install]
        WantedBy=multi-user.target
        """)


def watchdog_unit() -> str:
    # Restart=always: `assist_daemon --stop` alone ends the process, and systemd starts it
    # again; only `systemctl stop` keeps it down.
    return textwrap.dedent(f"""\
        [Unit]
        Description=Stand-in watchdog assist_daemon

        [Service]
        Type=simple
        ExecStart={WATCHDOG}
        Restart=always
        RestartSec=1

        [Install]
        WantedBy=multi-user.target
        """)


def enable_by_link(c, unit):
    wants = c.path(WANTS)
    wants.mkdir(parents=True, exist_ok=True)
    (wants / unit).symlink_to(f"/etc/systemd/system/{unit}")


class TestSystemdWatchdogUnit:
    """Client in aliyun.service and the watchdog in AssistDaemon.service, both enabled."""

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, VERSION)
            c.write("/etc/systemd/system/aliyun.service", client_unit_with_pidfile())
            enable_by_link(c, "aliyun.service")
            standin.install_watchdog(
                c.path(WATCHDOG),
                ["systemctl", "start", "aliyun.service"],
                "/run/assist_daemon.pid",
                CLIENT_PIDFILE,
                delay=0.5,
            )
            c.write(f"/etc/systemd/system/{WATCHDOG_UNIT}", watchdog_unit())
            enable_by_link(c, WATCHDOG_UNIT)

        h = make_host(request, roots, "ca-boot-watchdog", "systemd", prepare)
        assert h.pids(), "aliyun.service did not start the stand-in at boot"
        assert h.pids("assist_daemon") == [main_pid(h, WATCHDOG_UNIT)], (
            "the watchdog unit is not up"
        )
        h.salt.write_sls("ca_off_wd", SLS_OFF_WITH_WATCHDOG)
        return h

    def test_the_stand_in_watchdog_restarts_the_client(self, host):
        host.run("systemctl", "stop", "aliyun.service")
        assert host.pids() == []
        back = host.wait_for(host.pids, timeout=10, what="the watchdog to restart the client")
        assert back == [main_pid(host, "aliyun.service")]

    def test_status_reports_the_watchdog_unit(self, host):
        wd = host.pids("assist_daemon")
        st = host.call("cloudassist.status", check=True).ret
        assert st["enabled"] is True, st
        w = st["watchdog"]
        assert w["running"] is True and sorted(w["pids"]) == wd, st
        assert w["form"] == "unit" and w["service"] == WATCHDOG_UNIT and w["enabled"] is True, st

    def test_disable_alone_warns_that_the_watchdog_still_starts_at_boot(self, host):
        res = host.call("cloudassist.disable", check=True)
        try:
            assert res.ret["enabled"] is False and res.ret["changed"] is True, res
            assert is_enabled(host, WATCHDOG_UNIT) == "enabled", (
                "disable alone touched the watchdog"
            )
            warned = " ".join(res.ret.get("warnings") or [])
            assert WATCHDOG_UNIT in warned and "still starts at boot" in warned, res
        finally:
            host.run("systemctl", "enable", "aliyun.service")

    def test_stopped_with_watchdog_and_disabled_stays_down_after_boot(self, host):
        pids = host.wait_for(host.pids, what="the client")
        wd = host.pids("assist_daemon")
        assert wd and is_enabled(host, WATCHDOG_UNIT) == "enabled"

        predicted = state_of(host.call("state.apply", "ca_off_wd", "test=True"))
        assert predicted["result"] is None, predicted
        assert {"running", "enabled", "watchdog"} <= set(predicted["changes"]), predicted
        assert predicted["changes"]["running"] == OFF and predicted["changes"]["enabled"] == OFF, (
            predicted
        )
        for command in (
            f"systemctl stop {WATCHDOG_UNIT}",
            f"systemctl disable {WATCHDOG_UNIT}",
            "systemctl stop aliyun.service",
            "systemctl disable aliyun.service",
        ):
            assert command in predicted["comment"], predicted
        assert host.pids() == pids and host.pids("assist_daemon") == wd, (
            "test=True touched something"
        )
        assert is_enabled(host, WATCHDOG_UNIT) == "enabled"

        st = state_of(host.call("state.apply", "ca_off_wd"))
        assert st["result"] is True, st
        assert st["changes"] == predicted["changes"], (predicted, st)
        assert is_active(host, WATCHDOG_UNIT) == "inactive", systemctl(
            host, "status", WATCHDOG_UNIT
        )
        assert is_enabled(host, WATCHDOG_UNIT) == "disabled"
        assert not lexists(host, f"{WANTS}/{WATCHDOG_UNIT}")
        assert is_active(host, "aliyun.service") == "inactive"
        assert is_enabled(host, "aliyun.service") == "disabled"
        # Longer than the watchdog's restart delay and the unit's RestartSec.
        time.sleep(2.5)
        assert host.pids("assist_daemon") == [], "the watchdog came back"
        assert host.pids() == [], "the client came back"

        again = state_of(host.call("state.apply", "ca_off_wd"))
        assert again["result"] is True and again["changes"] == {}, again

        host.reboot()
        time.sleep(AFTER_BOOT)
        assert not started_this_boot(host, WATCHDOG_UNIT), "systemd started the watchdog at boot"
        assert not started_this_boot(host, "aliyun.service"), "systemd started the client at boot"
        assert host.pids("assist_daemon") == [] and host.pids() == []
        st = host.call("cloudassist.status", check=True).ret
        assert st["running"] is False and st["enabled"] is False, st
        assert st["watchdog"]["running"] is False and st["watchdog"]["enabled"] is False, st
