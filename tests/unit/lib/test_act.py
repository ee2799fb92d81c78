"""``_modules/_cloudassist_act.py``: carrying out a plan and verifying it against a fake host
(``FakeHost`` of ``test_states.py``), and one change at a time on a minion."""

import pytest

import _cloudassist_act as act
import _cloudassist_errors as errors
import _cloudassist_plan as plans
import _cloudassist_procedure as procedure
from _cloudassist_records import CommandResult

from ..test_states import FakeHost

SYSVINIT = next(row for row in procedure.TABLE if row.name.endswith("1.0.1.308, sysvinit"))


class ExitingHost(FakeHost):
    """A host whose client, once started, is gone at the next look."""

    def client_pids(self, status):
        pids = super().client_pids(status)
        if pids and self.started:
            self._kill("client")
        return pids

    def run_step(self, step, branch=None, check=True):
        self.started = step == self.branch.start[-1]
        return super().run_step(step, branch, check)

    started = False


class NeverStartsHost(FakeHost):
    """A host whose start command succeeds but starts nothing."""

    def run_step(self, step, branch=None, check=True):
        if step == self.branch.start[-1]:
            self.ran.append((step, branch, check))
            return None
        return super().run_step(step, branch, check)


def _host(cls=FakeHost, **kwargs):
    host = cls(SYSVINIT, **kwargs)
    host.timeout = 0.3
    return host


def test_a_stop_is_run_then_verified_in_the_process_table():
    host = _host(client=True)
    status = host.status()
    outcome = act.carry_out(host, status, plans.make(status, "stop"), settle=0)
    assert host.snapshot == {}
    assert outcome.pids == () and outcome.warnings == ()
    assert outcome.command == " ".join(SYSVINIT.stop[-1].argv)
    assert [step for step, _, _ in host.ran] == list(SYSVINIT.stop)


def test_a_start_whose_client_exits_is_not_verified():
    host = _host(ExitingHost)
    status = host.status()
    with pytest.raises(errors.NotVerified, match=r"started the client \(pid 1001\) but it exited"):
        act.carry_out(host, status, plans.make(status, "start"), settle=0.2)


def test_a_failure_after_a_verified_change_is_partly_done_and_names_the_change():
    host = _host(NeverStartsHost, client=True)
    status = host.status()
    with pytest.raises(errors.PartlyDone) as raised:
        act.carry_out(host, status, plans.make(status, "restart"), settle=0)
    stop = " ".join(SYSVINIT.stop[-1].argv)
    assert isinstance(raised.value.cause, errors.NotVerified)
    assert "the client is not running after 0.3 s" in str(raised.value.cause)
    assert raised.value.done == {f"stopped the client with `{stop}`": ("running", True, False)}
    assert raised.value.changes == {"running": {"old": True, "new": False}}
    assert str(raised.value).endswith(f"(already done: stopped the client with `{stop}`)")


def test_a_failure_before_any_change_is_raised_as_it_is():
    host = _host(NeverStartsHost)
    status = host.status()
    with pytest.raises(errors.NotVerified) as raised:
        act.carry_out(host, status, plans.make(status, "start"), settle=0)
    assert raised.value.changes == {}


def test_a_blocked_plan_runs_nothing():
    host = _host(client=True, blocked="no chkconfig here")
    status = host.status()
    with pytest.raises(errors.Blocked, match="no chkconfig here"):
        act.carry_out(host, status, plans.make(status, "stop"), settle=0)
    assert host.ran == [] and host.snapshot == {1001: "client"}


class Clock:
    """``act.time``: a monotonic clock that moves only when slept on."""

    def __init__(self):
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept += seconds
        self.now += seconds


def test_a_second_holder_waits_then_is_busy_when_its_deadline_passes(tmp_path, monkeypatch):
    lock = str(tmp_path / "cache" / "cloudassist.lock")
    clock = Clock()
    monkeypatch.setattr(act, "time", clock)
    with act.exclusive(lock, 1):
        with pytest.raises(errors.Busy) as raised:
            with act.exclusive(lock, 1):
                pytest.fail("two holders at once")
        assert raised.value.path == lock and lock in str(raised.value)
        # it waited for its whole deadline (4 * timeout + 60 s), polling
        assert clock.slept > 4 * 1 + 60 - act.POLL
    # released: the next holder gets it at once
    clock.slept = 0
    with act.exclusive(lock, 1):
        assert clock.slept == 0


def test_a_start_that_fails_after_the_reset_names_the_reset():
    systemd = next(row for row in procedure.TABLE if row.name.endswith("308, systemd"))
    host = NeverStartsHost(systemd, unit=("failed", "failed"))
    host.gave_up, host.timeout = True, 0.3
    status = host.status()
    with pytest.raises(errors.PartlyDone) as caught:
        act.carry_out(host, status, plans.make(status, "start"), settle=0)
    assert "already done: reset systemd's start limit of aliyun.service with " in str(caught.value)
    assert caught.value.changes == {"start_limit_hit": {"old": True, "new": False}}


# --- what the host said (issue 17) ------------------------------------------------------------


class ListeningHost(NeverStartsHost):
    """A host whose start says OK and starts nothing; it keeps what carry_out hands it."""

    heard = None

    def run_step(self, step, branch=None, check=True):
        result = super().run_step(step, branch, check)
        if step == self.branch.start[-1]:
            return CommandResult(step.text, 0, "Starting aliyun-service... OK\n", "")
        return result

    def host_said(self, status, *, since, heard=()):
        super().host_said(status, since=since, heard=heard)
        self.heard = list(heard)
        return "the steps", [line for res in heard for line in res.output.splitlines()]


def test_a_failed_action_ends_with_what_the_host_said_asked_once(monkeypatch):
    host = _host(ListeningHost)
    status = host.status()
    monkeypatch.setattr(act.time, "time", lambda: 1764238210.5)
    with pytest.raises(errors.NotVerified) as raised:
        act.carry_out(host, status, plans.make(status, "start"), settle=0)
    assert host.asked_since == [1764238210.5]  # once, with when the action began
    assert raised.value.host_said == ("Starting aliyun-service... OK",)
    assert str(raised.value).endswith(
        "\nthe host said (`the steps`):\n  Starting aliyun-service... OK"
    )
    assert [res.command for res in host.heard] == [SYSVINIT.start[-1].text]


def test_a_failure_after_a_change_carries_the_words_too():
    host = _host(ListeningHost, client=True)
    status = host.status()
    with pytest.raises(errors.PartlyDone) as raised:
        act.carry_out(host, status, plans.make(status, "restart"), settle=0)
    assert raised.value.host_said == ("Starting aliyun-service... OK",)
    assert "(already done: stopped the client with" in raised.value.message
    assert str(raised.value).endswith(
        ")\nthe host said (`the steps`):\n  Starting aliyun-service... OK"
    )


def test_a_success_asks_the_host_nothing():
    host = _host(client=True)
    status = host.status()
    act.carry_out(host, status, plans.make(status, "restart"), settle=0)
    assert host.asked_since == []


class RefusingHost(ListeningHost):
    """Its start exits non-zero: ``CommandFailed``, whose text quotes the output already."""

    def run_step(self, step, branch=None, check=True):
        if step == self.branch.start[-1]:
            raise errors.CommandFailed(
                f"`{step.text}` exited with code 1: FAILED",
                command=step.text,
                retcode=1,
                output="FAILED",
            )
        return super().run_step(step, branch, check)


def test_a_step_that_failed_is_not_heard_twice():
    host = _host(RefusingHost)
    status = host.status()
    with pytest.raises(errors.CommandFailed) as raised:
        act.carry_out(host, status, plans.make(status, "start"), settle=0)
    assert host.asked_since and host.heard == []
    assert str(raised.value) == f"`{SYSVINIT.start[-1].text}` exited with code 1: FAILED"
