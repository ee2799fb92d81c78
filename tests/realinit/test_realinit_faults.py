"""Init-system faults (issue 4) against real systemd booted in systemd-nspawn.

Each class boots one container whose ``aliyun.service`` is broken in one way, runs the module
through a real ``salt-call --local`` and checks three things: the exit code, that the error
names the cause (the command, its exit code and systemd's own words, compared with what
``systemctl`` says when run by hand in the same container), and the real effect in the
container (``systemctl is-active``/``MainPID``, the ``aliyun-service`` process in /proc).

Each class and its fault:

- `TestUnitRefusesStop`: `RefuseManualStop=yes`: `systemctl stop` is refused, the client
  keeps running
- `TestUnitRefusesStart`: `RefuseManualStart=yes`: `systemctl start` is refused, nothing
  runs
- `TestNoUnit`: client 2.2.3.578 installed, no `aliyun.service` at all
- `TestStopHangs`: `ExecStop=/bin/sleep 600`, `TimeoutStopSec=infinity`: `systemctl stop`
  never returns
- `TestClientDiesAtStart`: the client exits 0.5 s after it starts (Type=simple, Restart=no)

Each also applies the matching state (``cloudassist.stopped`` for the stop faults,
``cloudassist.running`` for the start faults): ``result: False`` with the module's error as
the comment, and no traceback anywhere.
"""

from __future__ import annotations

import re
import time

import pytest
from realinit_checks import (
    BINARY,
    SLS_RUNNING,
    SLS_STOPPED,
    make_host,
    module_error,
    no_traceback,
    put_client,
    put_unit,
    single_state,
)

pytestmark = pytest.mark.realinit

VERSION = "2.2.3.578"
UNIT = "aliyun.service"
STOP = "systemctl stop aliyun.service"
START = "systemctl start aliyun.service"
DROPIN = "/etc/systemd/system/aliyun.service.d/fault.conf"


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def unit_state(host) -> str:
    """``systemctl is-active aliyun.service`` as systemd prints it."""
    return host.run("systemctl", "is-active", UNIT, check=False).stdout.strip()


def unit_prop(host, prop: str) -> str:
    return host.run("systemctl", "show", "-p", prop, "--value", UNIT).stdout.strip()


def by_hand(host, *argv: str):
    """What systemctl itself answers here: ``(exit code, first line of its output)``."""
    r = host.run(*argv, check=False)
    lines = (r.stdout + r.stderr).strip().splitlines()
    return r.returncode, (lines[0] if lines else "")


def assert_names_cause(message: str, command: str, code: int, words: str) -> None:
    head = f"`{command}` exited with code {code}"
    assert head in message, f"error lacks {head!r}: {message}"
    assert words and words in message, f"error lacks systemd's words {words!r}: {message}"


def failed_state(res) -> dict:
    """The one state of a failed ``state.apply``: result False, exit code non-zero."""
    assert res.returncode != 0, f"state.apply should have failed: {res!r}"
    no_traceback(res)
    st = single_state(res)
    assert st["result"] is False, res
    assert st["changes"] == {}, res
    return st


def same_error(comment: str, error: str) -> None:
    """The state's comment is the module's error (pids may differ between the two runs, and
    the journal lines that end both their times and pids, and when they were read from)."""

    def norm(text):
        text = re.sub(r"\bpid \d+", "pid N", text.strip())
        text = re.sub(r"--since @\d+", "--since @T", text)
        text = re.sub(r"^  \w{3} [ \d]\d \d\d:\d\d:\d\d ", "  T ", text, flags=re.M)
        return re.sub(r"\[\d+\]:", "[N]:", text)

    assert norm(comment) == norm(error), (
        f"state comment\n  {comment}\nis not the module's error\n  {error}"
    )


def hand_started(host) -> list[int]:
    host.sh(f"setsid {BINARY} </dev/null >/dev/null 2>&1 &")
    return host.wait_for(host.pids, what="the hand-started client")


def kill_clients(host) -> None:
    pids = host.pids()
    if pids:
        host.run("kill", *map(str, pids), check=False)
    host.wait_for(lambda: not host.pids(), what="the client to end")


def sls_with(text: str, **args) -> str:
    return text + "".join(f"    - {k}: {v}\n" for k, v in args.items())


def boot(request, roots, name, dropin: str | None, *, enable=True, **knobs):
    """A booted systemd container: client 2.2.3.578, aliyun.service plus the fault drop-in."""

    def prepare(c):
        put_client(c, VERSION, **knobs)
        put_unit(c, UNIT, enable=enable)
        if dropin:
            c.write(DROPIN, dropin)

    return make_host(request, roots, name, "systemd", prepare)


# ------------------------------------------------------------------------------------------
# 1. the unit refuses to stop / to start
# ------------------------------------------------------------------------------------------


class TestUnitRefusesStop:
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        h = boot(request, roots, "ca-fault-refusestop", "[Unit]\nRefuseManualStop=yes\n")
        assert unit_prop(h, "RefuseManualStop") == "yes"
        # Started at boot as a dependency of multi-user.target, which the setting allows.
        assert unit_state(h) == "active" and h.pids(), "aliyun.service did not start at boot"
        return h

    def assert_untouched(self, host, pids):
        assert host.pids() == pids, "the client was stopped or replaced"
        assert unit_state(host) == "active"
        assert int(unit_prop(host, "MainPID")) == pids[0]

    def test_stop_fails_and_client_keeps_running(self, host):
        pids = host.pids()
        code, words = by_hand(host, "systemctl", "stop", UNIT)
        assert code != 0 and "refuse" in words, (code, words)
        self.assert_untouched(host, pids)

        res = host.call("cloudassist.stop")
        err = module_error(res, "cloudassist.stop")
        assert_names_cause(err, STOP, code, words)
        assert "refuse manual start/stop" in err, err
        self.assert_untouched(host, pids)

    def test_stopped_state_fails_with_the_error(self, host):
        pids = host.pids()
        err = module_error(host.call("cloudassist.stop"), "cloudassist.stop")
        host.salt.write_sls("ca_stopped", SLS_STOPPED)
        st = failed_state(host.call("state.apply", "ca_stopped"))
        same_error(st["comment"], err)
        self.assert_untouched(host, pids)


class TestUnitRefusesStart:
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        h = boot(
            request, roots, "ca-fault-refusestart", "[Unit]\nRefuseManualStart=yes\n", enable=False
        )
        assert unit_prop(h, "RefuseManualStart") == "yes"
        assert unit_state(h) == "inactive" and not h.pids()
        return h

    def assert_nothing_runs(self, host):
        assert host.pids() == [], "a client process runs"
        assert unit_state(host) == "inactive"

    def test_start_fails_and_nothing_runs(self, host):
        code, words = by_hand(host, "systemctl", "start", UNIT)
        assert code != 0 and "refuse" in words, (code, words)
        self.assert_nothing_runs(host)

        res = host.call("cloudassist.start", "settle=0.5")
        err = module_error(res, "cloudassist.start")
        assert_names_cause(err, START, code, words)
        self.assert_nothing_runs(host)

    def test_running_state_fails_with_the_error(self, host):
        err = module_error(host.call("cloudassist.start", "settle=0.5"), "cloudassist.start")
        host.salt.write_sls("ca_running", sls_with(SLS_RUNNING, settle=0.5))
        st = failed_state(host.call("state.apply", "ca_running"))
        same_error(st["comment"], err)
        self.assert_nothing_runs(host)


# ------------------------------------------------------------------------------------------
# 2. no aliyun.service at all
# ------------------------------------------------------------------------------------------


class TestNoUnit:
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, VERSION)

        h = make_host(request, roots, "ca-fault-nounit", "systemd", prepare)
        assert h.exists(BINARY) and not h.pids()
        assert unit_prop(h, "LoadState") == "not-found"
        return h

    @pytest.fixture
    def by_hand_client(self, host):
        pids = hand_started(host)
        yield pids
        kill_clients(host)

    def test_status_still_names_the_systemd_branch(self, host):
        st = host.call("cloudassist.status", check=True).ret
        assert st["init_system"] == "systemd" and st["service"] == UNIT, st
        assert st["version"] == VERSION and st["running"] is False, st

    def test_stop_fails_and_leaves_the_hand_started_client(self, host, by_hand_client):
        code, words = by_hand(host, "systemctl", "stop", UNIT)
        assert code != 0 and "not loaded" in words, (code, words)

        res = host.call("cloudassist.stop")
        err = module_error(res, "cloudassist.stop")
        assert_names_cause(err, STOP, code, words)
        assert host.pids() == by_hand_client, "stop touched the hand-started client"
        assert unit_state(host) != "active"

    def test_stopped_state_fails_with_the_error(self, host, by_hand_client):
        err = module_error(host.call("cloudassist.stop"), "cloudassist.stop")
        host.salt.write_sls("ca_stopped", SLS_STOPPED)
        st = failed_state(host.call("state.apply", "ca_stopped"))
        same_error(st["comment"], err)
        assert host.pids() == by_hand_client

    def test_start_fails_and_nothing_runs(self, host):
        code, words = by_hand(host, "systemctl", "start", UNIT)
        assert code != 0 and "not found" in words, (code, words)

        res = host.call("cloudassist.start", "settle=0.5")
        err = module_error(res, "cloudassist.start")
        assert_names_cause(err, START, code, words)
        assert host.pids() == [] and unit_state(host) != "active"

    def test_running_state_fails_with_the_error(self, host):
        err = module_error(host.call("cloudassist.start", "settle=0.5"), "cloudassist.start")
        host.salt.write_sls("ca_running", sls_with(SLS_RUNNING, settle=0.5))
        st = failed_state(host.call("state.apply", "ca_running"))
        same_error(st["comment"], err)
        assert host.pids() == [] and unit_state(host) != "active"


# ------------------------------------------------------------------------------------------
# 3. systemctl stop hangs
# ------------------------------------------------------------------------------------------

HANG_TIMEOUT = 3
# salt-call's own start-up plus the module's status reading, on top of the timeout.
HANG_SLACK = 7


class TestStopHangs:
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        h = boot(
            request,
            roots,
            "ca-fault-stophangs",
            "[Service]\nExecStop=/bin/sleep 600\nTimeoutStopSec=infinity\n",
        )
        assert unit_prop(h, "TimeoutStopUSec") == "infinity"
        assert unit_state(h) == "active" and h.pids()
        return h

    @pytest.fixture
    def running(self, host):
        """The client runs under aliyun.service; afterwards the hung stop job is ended
        (SIGKILL to the unit's processes, ExecStop's sleep included) and nothing is left."""
        if unit_state(host) != "active":
            host.run("systemctl", "start", UNIT)
        pids = host.wait_for(host.pids, what="the client")
        yield pids
        host.run("systemctl", "kill", "--signal=SIGKILL", UNIT, check=False)
        host.wait_for(
            lambda: unit_state(host) in ("inactive", "failed"), what="the stop job to end"
        )
        host.run("systemctl", "reset-failed", UNIT, check=False)
        assert host.pids() == [] and host.pids("sleep") == [] and host.pids("systemctl") == []

    def assert_hung_but_clean(self, host, pids, elapsed):
        assert elapsed < HANG_TIMEOUT + HANG_SLACK, f"salt-call took {elapsed:.1f}s"
        # The module's systemctl was killed with its process group: none is left waiting.
        assert host.pids("systemctl") == [], "a systemctl process is left behind"
        # systemd is still running ExecStop; the client itself was not touched.
        assert unit_state(host) == "deactivating"
        assert host.pids("sleep"), "ExecStop's sleep is not running"
        assert host.pids() == pids

    def test_stop_times_out_and_says_how_to_raise_the_limit(self, host, running):
        started = time.monotonic()
        res = host.call("cloudassist.stop", f"timeout={HANG_TIMEOUT}", timeout=60)
        elapsed = time.monotonic() - started
        err = module_error(res, "cloudassist.stop")
        assert f"`{STOP}` did not finish within {HANG_TIMEOUT} seconds and was killed" in err, err
        assert "timeout=SECONDS" in err and "cloudassist:timeout" in err, err
        # systemd keeps the stop job after systemctl is killed: the error must say so
        assert "systemd goes on with the job for aliyun.service in the background" in err, err
        assert "systemctl list-jobs" in err, err
        self.assert_hung_but_clean(host, running, elapsed)

    def test_stopped_state_times_out_with_the_error(self, host, running):
        host.salt.write_sls("ca_stopped", sls_with(SLS_STOPPED, timeout=HANG_TIMEOUT))
        started = time.monotonic()
        res = host.call("state.apply", "ca_stopped", timeout=60)
        elapsed = time.monotonic() - started
        st = failed_state(res)
        assert (
            f"`{STOP}` did not finish within {HANG_TIMEOUT} seconds and was killed" in st["comment"]
        ), st
        assert "timeout=SECONDS" in st["comment"], st
        self.assert_hung_but_clean(host, running, elapsed)


# ------------------------------------------------------------------------------------------
# 4. the start command succeeds, the client dies right after
# ------------------------------------------------------------------------------------------

SETTLE = 1.5


class TestClientDiesAtStart:
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        # The stock stand-in unit is Type=simple, Restart=no; not enabled, so nothing at boot.
        h = boot(request, roots, "ca-fault-dies", None, enable=False, die_after=0.5)
        assert unit_prop(h, "Type") == "simple" and unit_prop(h, "Restart") == "no"
        assert unit_state(h) == "inactive" and not h.pids()
        return h

    @pytest.fixture
    def stopped(self, host):
        yield
        host.run("systemctl", "reset-failed", UNIT, check=False)

    def assert_dead(self, host):
        assert host.pids() == [], "a client process is left"
        state = unit_state(host)
        assert state != "active", state
        assert state == "failed", f"expected systemd to record the exit, is-active says {state}"
        assert unit_prop(host, "ExecMainStatus") == "3"

    def test_start_reports_the_client_exited(self, host, stopped):
        res = host.call("cloudassist.start", "timeout=5", f"settle={SETTLE}")
        err = module_error(res, "cloudassist.start")
        assert f"`{START}` started the client (pid " in err, err
        assert f"but it exited within {SETTLE} s" in err, err
        self.assert_dead(host)

    def test_running_state_fails_with_the_error(self, host, stopped):
        err = module_error(
            host.call("cloudassist.start", "timeout=5", f"settle={SETTLE}"), "cloudassist.start"
        )
        host.run("systemctl", "reset-failed", UNIT, check=False)
        host.salt.write_sls("ca_running", sls_with(SLS_RUNNING, timeout=5, settle=SETTLE))
        st = failed_state(host.call("state.apply", "ca_running"))
        same_error(st["comment"], err)
        assert f"but it exited within {SETTLE} s" in st["comment"], st
        self.assert_dead(host)
