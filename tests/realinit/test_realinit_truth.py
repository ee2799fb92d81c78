"""The truth about the client (issue 8), shown on real systemd booted in systemd-nspawn.

The client is a process whose executable is the configured binary (or the same binary in
another version folder of the install), and under systemd its unit is the one it runs in.
Each class boots one container, runs the modules through a real ``salt-call --local`` and
checks the effect with systemd's own ``systemctl`` and the container's ``/proc``.

Each class and the situation it sets up:

- `TestRestartPending`: `Restart=on-failure`, `RestartSec=60`: the client was killed and
  systemd will start it again; it is not stopped: stopping it cancels the restart, starting
  it starts it now
- `TestCrashLoop`: `Restart=always` with a client that dies after 0.5 s (restart 0.1 s), or
  after 1.5 s (restart 0.5 s, inside `settle`): start fails and says it was restarted
- `TestUnitBeingStopped`: `ExecStop=/bin/sleep 8`: while `systemctl stop --no-block` runs,
  the client is not "already running"
- `TestClientNamedUnit`: only `aliyun-service.service` (the client's own name without
  binutils)
- `TestBothUnits`: `aliyun.service` and `aliyun-service.service` installed, only the second
  enabled and running
- `TestLookAlike`: another `aliyun-service` (`/opt/other/aliyun-service`) runs, the client's
  unit is stopped
- `TestSelfUpdate`: versioned install at 2.2.3.578 running; self-update to 2.2.4.1065 moves
  the link
"""

from __future__ import annotations

import re
import time

import pytest
from realinit_checks import (
    BINARY,
    make_host,
    module_error,
    no_traceback,
    put_client,
    put_unit,
    single_state,
)
from support import standin

pytestmark = pytest.mark.realinit

VERSION = "2.2.3.578"
UNIT = "aliyun.service"
OWN_UNIT = "aliyun-service.service"


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def prop(host, prop_name: str, unit: str = UNIT) -> str:
    return host.run("systemctl", "show", "-p", prop_name, "--value", unit).stdout.strip()


def state_of(host, unit: str = UNIT) -> str:
    """``ActiveState/SubState`` as systemd has it (the module's ``unit.state`` shape)."""
    return "{}/{}".format(prop(host, "ActiveState", unit), prop(host, "SubState", unit))


def is_active(host, unit: str = UNIT) -> str:
    return host.run("systemctl", "is-active", unit, check=False).stdout.strip()


def main_pid(host, unit: str = UNIT) -> int:
    return int(prop(host, "MainPID", unit))


def dropin(host_or_c, text: str, unit: str = UNIT, name: str = "truth.conf") -> None:
    """Write a drop-in for ``unit`` (into the container's writable layer)."""
    host_or_c.write(f"/etc/systemd/system/{unit}.d/{name}", text)


def stop_clean(host, unit: str = UNIT) -> None:
    """The unit stopped, its failure and start-limit counters reset, no client process left."""
    host.run("systemctl", "stop", unit, check=False)
    host.run("systemctl", "reset-failed", unit, check=False)
    host.wait_for(
        lambda: is_active(host, unit) in ("inactive", "failed") and not host.pids(),
        timeout=20,
        what=f"{unit} to stop",
    )


def start_running(host, unit: str = UNIT) -> int:
    """The unit active with its client running; returns the client's pid."""
    if is_active(host, unit) != "active":
        host.run("systemctl", "start", unit)
    pids = host.wait_for(host.pids, timeout=10, what="the client process")
    assert pids == [main_pid(host, unit)], (pids, main_pid(host, unit))
    return pids[0]


# ------------------------------------------------------------------------------------------
# 1. killed, and systemd will restart it: not stopped
# ------------------------------------------------------------------------------------------

RESTART_PENDING = {"restart_pending": {"old": True, "new": False}}


class TestRestartPending:
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, VERSION)
            put_unit(c, UNIT, enable=False)
            # Long, so the pending restart lasts through every salt-call of a test.
            dropin(c, "[Service]\nRestart=on-failure\nRestartSec=60\n")

        h = make_host(request, roots, "ca-truth-pending", "systemd", prepare)
        assert prop(h, "Restart") == "on-failure" and prop(h, "RestartUSec") == "1min"
        return h

    @pytest.fixture
    def pending(self, host):
        """The client was killed with SIGKILL; systemd waits RestartSec before starting it."""
        pid = start_running(host)
        host.run("kill", "-9", str(pid))
        host.wait_for(lambda: prop(host, "SubState") == "auto-restart", what="the pending restart")
        assert host.pids() == [] and state_of(host) == "activating/auto-restart"
        yield pid
        stop_clean(host)

    def assert_cancelled(self, host):
        """Stopped for good: no pending restart left, and nothing comes back."""
        assert prop(host, "ActiveState") == "inactive", state_of(host)
        assert prop(host, "SubState") != "auto-restart", state_of(host)
        assert host.run("systemctl", "list-jobs", "--no-legend", UNIT).stdout.strip() == ""
        time.sleep(2)
        assert host.pids() == [], "the client came back"
        assert state_of(host) == "inactive/dead"

    def test_status_says_down_but_restart_pending(self, host, pending):
        st = host.call("cloudassist.status", check=True).ret
        assert st["running"] is False and st["pids"] == [], st
        assert st["restart_pending"] is True, st
        assert st["service"] == UNIT, st
        assert st["unit"]["name"] == UNIT, st
        assert st["unit"]["state"] == "activating/auto-restart", st
        assert st["unit"]["main_pid"] == 0, st
        # nothing was touched by reading the status
        assert state_of(host) == "activating/auto-restart" and host.pids() == []

    def test_stop_cancels_the_restart(self, host, pending):
        res = host.call("cloudassist.stop", check=True)
        ret = res.ret
        assert ret["command"] == f"systemctl stop {UNIT}", res
        assert ret["changed"] is True, res
        assert ret["changes"] == RESTART_PENDING, res
        assert ret["running"] is False and ret["pids"] == [], res
        self.assert_cancelled(host)

    def test_start_starts_it_now(self, host, pending):
        """Down with a restart pending is not running: start starts it now, not when
        RestartSec (60 s here, 120 s in the vendor's unit) has passed.  (systemd keeps a
        `systemctl start` of a unit in auto-restart queued until the restart timer fires;
        `systemctl restart`, or stop then start, starts it at once.)"""
        res = host.call("cloudassist.start", "settle=1", "timeout=10", check=True)
        ret = res.ret
        assert ret["changed"] is True and ret["changes"] == {
            "running": {"old": False, "new": True}
        }, res
        # The stop cancels the pending restart, so the start is not held back.
        assert ret["command"] == f"systemctl stop {UNIT}; systemctl start {UNIT}", res
        assert is_active(host) == "active"
        assert ret["pids"] == host.pids() == [main_pid(host)] and ret["pids"] != [pending], res

    def test_stop_test_mode_predicts_and_runs_nothing(self, host, pending):
        res = host.call("cloudassist.stop", "test=True", check=True)
        assert res.ret["changes"] == RESTART_PENDING and res.ret["changed"] is True, res
        assert res.ret["command"] == f"systemctl stop {UNIT}", res
        assert state_of(host) == "activating/auto-restart", "test=True touched the unit"

    def test_stopped_state_test_mode_predicts_and_runs_nothing(self, host, pending):
        res = host.call("state.single", "cloudassist.stopped", "name=x", "test=True")
        no_traceback(res)
        st = single_state(res)
        assert st["result"] is None, res
        assert st["changes"] == RESTART_PENDING, res
        assert f"systemctl stop {UNIT}" in st["comment"], res
        assert "already" not in st["comment"], res
        assert state_of(host) == "activating/auto-restart", "test=True touched the unit"
        assert host.pids() == []

    def test_stopped_state_cancels_the_restart(self, host, pending):
        res = host.call("state.single", "cloudassist.stopped", "name=x", check=True)
        no_traceback(res)
        st = single_state(res)
        assert st["result"] is True, res
        assert st["changes"] == RESTART_PENDING, res
        assert "already" not in st["comment"], res
        self.assert_cancelled(host)
        # and now it is stopped: nothing more to do
        again = single_state(host.call("state.single", "cloudassist.stopped", "name=x", check=True))
        assert again["result"] is True and again["changes"] == {}, again


# ------------------------------------------------------------------------------------------
# 2. a crash loop is not a started client
# ------------------------------------------------------------------------------------------

SETTLE = 3
RESTARTED = re.compile(r"restarted (\d+) time\(s\)")


class TestCrashLoop:
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, VERSION, die_after=0.5)
            put_unit(c, UNIT, enable=False)
            # The vendor's limit: at most 10 starts an hour; reset-failed resets it between tests.
            dropin(
                c,
                "[Unit]\nStartLimitIntervalSec=3600\nStartLimitBurst=10\n"
                "[Service]\nRestart=always\nRestartSec=100ms\n",
            )

        h = make_host(request, roots, "ca-truth-crashloop", "systemd", prepare)
        assert prop(h, "Restart") == "always" and prop(h, "RestartUSec") == "100ms"
        assert is_active(h) == "inactive" and not h.pids()
        return h

    @pytest.fixture
    def fast(self, host):
        """Dies 0.5 s after each start, restarted 0.1 s later."""
        stop_clean(host)
        yield
        stop_clean(host)

    @pytest.fixture
    def slow(self, host):
        """Dies 1.5 s after each start, restarted 0.5 s later: one restart inside settle=3,
        after the client looked fine for longer than the restart delay."""
        stop_clean(host)
        put_client(host.c, VERSION, die_after=1.5)
        dropin(host.c, "[Service]\nRestartSec=500ms\n", name="zz-slow.conf")
        host.run("systemctl", "daemon-reload")
        assert prop(host, "RestartUSec") == "500ms"
        yield
        stop_clean(host)
        host.run("rm", "-f", f"/etc/systemd/system/{UNIT}.d/zz-slow.conf")
        host.run("systemctl", "daemon-reload")
        put_client(host.c, VERSION, die_after=0.5)

    def assert_restarted_error(self, err: str) -> int:
        m = RESTARTED.search(err)
        assert m, f"the error does not say how often the client was restarted: {err}"
        count = int(m.group(1))
        assert count >= 1, err
        assert f"`systemctl start {UNIT}` started the client" in err, err
        return count

    def test_start_fails_in_a_fast_crash_loop(self, host, fast):
        res = host.call("cloudassist.start", f"settle={SETTLE}", timeout=120)
        err = module_error(res, "cloudassist.start")
        self.assert_restarted_error(err)
        assert int(prop(host, "NRestarts")) >= 1, (
            "systemd did not restart it: the test proves nothing"
        )

    def test_running_state_fails_in_a_fast_crash_loop(self, host, fast):
        res = host.call("state.single", "cloudassist.running", "name=x", f"settle={SETTLE}")
        assert res.returncode != 0, res
        no_traceback(res)
        st = single_state(res)
        assert st["result"] is False, res
        self.assert_restarted_error(st["comment"])
        assert "already" not in st["comment"], res

    def test_start_fails_when_it_crashes_within_settle(self, host, slow):
        res = host.call("cloudassist.start", f"settle={SETTLE}", timeout=120)
        err = module_error(res, "cloudassist.start")
        count = self.assert_restarted_error(err)
        assert count == 1, err
        assert int(prop(host, "NRestarts")) >= 1, (
            "systemd did not restart it: the test proves nothing"
        )


# ------------------------------------------------------------------------------------------
# 3. a unit being stopped is not "already running"
# ------------------------------------------------------------------------------------------

STOP_TAKES = 8
STARTING_AGAIN = {"running": {"old": "stopping", "new": True}}


class TestUnitBeingStopped:
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, VERSION)
            put_unit(c, UNIT)
            dropin(c, f"[Service]\nExecStop=/bin/sleep {STOP_TAKES}\n")

        h = make_host(request, roots, "ca-truth-stopping", "systemd", prepare)
        assert is_active(h) == "active" and h.pids()
        return h

    @pytest.fixture
    def stopping(self, host):
        """``systemctl stop --no-block``: ExecStop runs for a while, the client still runs."""
        pid = start_running(host)
        host.run("systemctl", "stop", "--no-block", UNIT)
        host.wait_for(lambda: prop(host, "ActiveState") == "deactivating", what="the stop job")
        assert host.pids() == [pid], "the client should run until ExecStop is done"
        yield pid
        # whatever the test did, let the stop or start job end
        host.wait_for(
            lambda: prop(host, "ActiveState") in ("active", "inactive", "failed"),
            timeout=STOP_TAKES + 20,
            what="the unit's job to end",
        )

    def assert_started_again(self, host, old_pid):
        assert is_active(host) == "active", state_of(host)
        pids = host.pids()
        assert pids == [main_pid(host)], pids
        assert pids[0] != old_pid, "the old client survived the stop"
        assert host.run("systemctl", "list-jobs", "--no-legend", UNIT).stdout.strip() == ""

    def test_running_state_test_mode_does_not_say_already_running(self, host, stopping):
        res = host.call("state.single", "cloudassist.running", "name=x", "test=True")
        no_traceback(res)
        st = single_state(res)
        assert "already" not in st["comment"], res
        assert st["result"] is None, res
        assert st["changes"] == STARTING_AGAIN, res
        assert f"systemctl start {UNIT}" in st["comment"], res
        # nothing ran: the stop job is still the only job, the client still the old one
        assert prop(host, "ActiveState") == "deactivating", state_of(host)
        assert host.pids() == [stopping]

    def test_running_state_starts_it_again(self, host, stopping):
        res = host.call("state.single", "cloudassist.running", "name=x", "settle=1", timeout=120)
        no_traceback(res)
        st = single_state(res)
        assert "already" not in st["comment"], res
        assert st["result"] is True, res
        assert st["changes"] == STARTING_AGAIN, res
        self.assert_started_again(host, stopping)

    def test_start_starts_it_again(self, host, stopping):
        res = host.call("cloudassist.start", "settle=1", check=True, timeout=120)
        ret = res.ret
        assert ret["changed"] is True and ret["changes"] == STARTING_AGAIN, res
        assert ret["command"] == f"systemctl start {UNIT}", res
        assert ret["pids_before"] == [stopping], res
        assert ret["running"] is True and ret["pids"] != [stopping], res
        self.assert_started_again(host, stopping)
        assert ret["pids"] == host.pids(), res


# ------------------------------------------------------------------------------------------
# 4. the client's own unit name: aliyun-service.service
# ------------------------------------------------------------------------------------------


class OwnUnitChecks:
    """Stop and start act on aliyun-service.service for real."""

    def test_stop_acts_on_the_own_unit(self, host):
        start_running(host, OWN_UNIT)
        res = host.call("cloudassist.stop", check=True)
        ret = res.ret
        assert ret["command"] == f"systemctl stop {OWN_UNIT}", res
        assert ret["service"] == OWN_UNIT, res
        assert ret["changed"] is True and ret["running"] is False, res
        assert is_active(host, OWN_UNIT) == "inactive"
        assert host.pids() == []

    def test_start_acts_on_the_own_unit(self, host):
        stop_clean(host, OWN_UNIT)
        res = host.call("cloudassist.start", "settle=1", check=True)
        ret = res.ret
        assert ret["command"] == f"systemctl start {OWN_UNIT}", res
        assert ret["service"] == OWN_UNIT, res
        assert ret["changed"] is True and ret["running"] is True, res
        assert is_active(host, OWN_UNIT) == "active"
        assert ret["pids"] == host.pids() == [main_pid(host, OWN_UNIT)], res


class TestClientNamedUnit(OwnUnitChecks):
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, VERSION)
            put_unit(c, OWN_UNIT)

        h = make_host(request, roots, "ca-truth-ownunit", "systemd", prepare)
        assert is_active(h, OWN_UNIT) == "active" and h.pids()
        assert prop(h, "LoadState", UNIT) == "not-found"
        return h

    def test_status_running_names_the_own_unit(self, host):
        pid = start_running(host, OWN_UNIT)
        st = host.call("cloudassist.status", check=True).ret
        assert st["running"] is True and st["pids"] == [pid], st
        assert st["service"] == OWN_UNIT and st["vendor_service"] == UNIT, st
        assert OWN_UNIT in st["service_decided_by"], st
        assert st["unit"]["name"] == OWN_UNIT and st["unit"]["main_pid"] == pid, st
        assert st["unit"]["state"] == "active/running", st
        assert st["commands"] == {
            "stop": f"systemctl stop {OWN_UNIT}",
            "start": f"systemctl start {OWN_UNIT}",
        }, st
        assert "outside_unit" not in st, st

    def test_status_stopped_names_the_own_unit(self, host):
        stop_clean(host, OWN_UNIT)
        st = host.call("cloudassist.status", check=True).ret
        assert st["running"] is False, st
        assert st["service"] == OWN_UNIT and st["vendor_service"] == UNIT, st
        assert OWN_UNIT in st["service_decided_by"] and "installed" in st["service_decided_by"], st
        assert st["unit"]["state"] == "inactive/dead", st


class TestBothUnits(OwnUnitChecks):
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, VERSION)
            put_unit(c, UNIT, enable=False)
            put_unit(c, OWN_UNIT)

        h = make_host(request, roots, "ca-truth-bothunits", "systemd", prepare)
        assert is_active(h, OWN_UNIT) == "active" and h.pids()
        assert prop(h, "LoadState", UNIT) == "loaded" and is_active(h, UNIT) == "inactive"
        return h

    @pytest.fixture(autouse=True)
    def aliyun_service_untouched(self, host):
        yield
        assert is_active(host, UNIT) == "inactive", "aliyun.service was started"
        assert prop(host, "UnitFileState", UNIT) == "disabled"

    def test_status_running_the_running_unit_wins(self, host):
        pid = start_running(host, OWN_UNIT)
        st = host.call("cloudassist.status", check=True).ret
        assert st["running"] is True and st["pids"] == [pid], st
        assert st["service"] == OWN_UNIT and st["vendor_service"] == UNIT, st
        assert st["unit"]["name"] == OWN_UNIT and st["unit"]["main_pid"] == pid, st
        assert OWN_UNIT in st["service_decided_by"], st

    def test_status_running_says_there_are_two_units(self, host):
        start_running(host, OWN_UNIT)
        st = host.call("cloudassist.status", check=True).ret
        assert st["service"] == OWN_UNIT, st
        assert UNIT in st["service_decided_by"], (
            "service_decided_by does not mention the other installed unit: "
            + st["service_decided_by"]
        )

    def test_status_stopped_the_enabled_unit_wins(self, host):
        stop_clean(host, OWN_UNIT)
        st = host.call("cloudassist.status", check=True).ret
        assert st["running"] is False, st
        assert st["service"] == OWN_UNIT and st["vendor_service"] == UNIT, st
        why = st["service_decided_by"]
        assert "two units" in why and UNIT in why and OWN_UNIT in why and "enabled" in why, why


# ------------------------------------------------------------------------------------------
# 5. a look-alike running elsewhere is not the client
# ------------------------------------------------------------------------------------------

OTHER = "/opt/other/aliyun-service"


class TestLookAlike:
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, VERSION)
            put_unit(c, UNIT, enable=False)
            standin.install_client(c.path(OTHER), "9.9.9.9")

        h = make_host(request, roots, "ca-truth-lookalike", "systemd", prepare)
        h.run("systemd-run", "--unit=other-agent", "--quiet", OTHER)
        h.wait_for(h.pids, what="the look-alike")
        assert is_active(h, UNIT) == "inactive"
        return h

    def other_pid(self, host) -> int:
        pid = main_pid(host, "other-agent.service")
        assert pid and pid in host.pids(), "the look-alike is not running"
        assert host.run("readlink", f"/proc/{pid}/exe").stdout.strip() == OTHER
        return pid

    def assert_listed(self, st, other):
        others = {o["pid"]: o for o in st["others"]}
        assert other in others, st
        assert others[other]["exe"] == OTHER, st
        assert OTHER in others[other]["why"] and BINARY in others[other]["why"], st

    def test_status_not_running_lists_the_look_alike(self, host):
        stop_clean_unit_only(host)
        other = self.other_pid(host)
        st = host.call("cloudassist.status", check=True).ret
        assert st["running"] is False and st["pids"] == [], st
        assert st["restart_pending"] is False, st
        assert st["unit"]["state"] == "inactive/dead", st
        self.assert_listed(st, other)
        assert "outside_unit" not in st, st

    def test_start_really_starts_the_unit(self, host):
        stop_clean_unit_only(host)
        other = self.other_pid(host)
        res = host.call("cloudassist.start", "settle=1", check=True)
        ret = res.ret
        assert ret["changed"] is True and ret["running"] is True, res
        assert ret["changes"] == {"running": {"old": False, "new": True}}, res
        assert ret["command"] == f"systemctl start {UNIT}", res
        assert ret["pids_before"] == [], res
        assert is_active(host, UNIT) == "active"
        client = main_pid(host, UNIT)
        assert ret["pids"] == [client] and client != other, res
        assert self.other_pid(host) == other, "the look-alike was touched"
        st = host.call("cloudassist.status", check=True).ret
        assert st["running"] is True and st["pids"] == [client], st
        self.assert_listed(st, other)

    def test_stop_leaves_the_look_alike(self, host):
        other = self.other_pid(host)
        start_running_with_other(host)
        res = host.call("cloudassist.stop", check=True)
        assert res.ret["changed"] is True and res.ret["running"] is False, res
        assert is_active(host, UNIT) == "inactive"
        assert self.other_pid(host) == other, "stop touched the look-alike"
        assert host.pids() == [other]


def stop_clean_unit_only(host) -> None:
    host.run("systemctl", "stop", UNIT, check=False)
    host.wait_for(lambda: is_active(host, UNIT) == "inactive", what=f"{UNIT} to stop")


def start_running_with_other(host) -> int:
    if is_active(host, UNIT) != "active":
        host.run("systemctl", "start", UNIT)
    host.wait_for(lambda: main_pid(host, UNIT), what=f"{UNIT}'s main pid")
    return main_pid(host, UNIT)


# ------------------------------------------------------------------------------------------
# 6. a self-update leaves the running client in the old version folder
# ------------------------------------------------------------------------------------------

OLD, NEW = "2.2.3.578", "2.2.4.1065"
SHARE = "/usr/local/share/aliyun-assist"


class TestSelfUpdate:
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            standin.install_versioned_client(c.merged, OLD)
            c.write(
                f"/etc/systemd/system/{UNIT}", standin.systemd_unit(f"{SHARE}/{OLD}/aliyun-service")
            )
            wants = c.path("/etc/systemd/system/multi-user.target.wants")
            wants.mkdir(parents=True, exist_ok=True)
            (wants / UNIT).symlink_to(f"/etc/systemd/system/{UNIT}")

        h = make_host(request, roots, "ca-truth-selfupdate", "systemd", prepare)
        assert is_active(h) == "active" and h.pids()
        return h

    def client_exe(self, host, pid) -> str:
        return host.run("readlink", f"/proc/{pid}/exe").stdout.strip()

    def test_before_the_update(self, host):
        pid = start_running(host)
        assert host.run("readlink", "-f", BINARY).stdout.strip() == f"{SHARE}/{OLD}/aliyun-service"
        st = host.call("cloudassist.status", check=True).ret
        assert st["running"] is True and st["pids"] == [pid] and st["version"] == OLD, st

    def test_after_the_update_the_old_folder_client_still_runs(self, host):
        pid = start_running(host)
        standin.install_versioned_client(host.c.merged, NEW)
        assert host.run("readlink", "-f", BINARY).stdout.strip() == f"{SHARE}/{NEW}/aliyun-service"
        assert host.read(f"{SHARE}/version").strip() == NEW
        assert self.client_exe(host, pid) == f"{SHARE}/{OLD}/aliyun-service"

        st = host.call("cloudassist.status", check=True).ret
        assert st["version"] == NEW, st
        assert st["running"] is True and st["pids"] == [pid], st
        assert st["others"] == [], st
        assert "outside_unit" not in st, st
        assert st["service"] == UNIT and st["unit"]["main_pid"] == pid, st

        res = host.call("cloudassist.start", "settle=1", check=True)
        assert res.ret["changed"] is False and res.ret["running"] is True, res
        assert res.ret["pids"] == [pid] and host.pids() == [pid], res

    def test_after_the_update_stop_stops_the_old_folder_client(self, host):
        if not host.read(f"{SHARE}/version").strip() == NEW:
            standin.install_versioned_client(host.c.merged, NEW)
        pid = start_running(host)
        res = host.call("cloudassist.stop", check=True)
        assert res.ret["changed"] is True and res.ret["running"] is False, res
        assert res.ret["pids_before"] == [pid], res
        assert host.pids() == [] and is_active(host) == "inactive"
