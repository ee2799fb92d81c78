"""``_modules/_cloudassist_host.py``: what the host said about a failed action
(``host_said``, issue 17): the unit's journal under systemd, the steps' own output under
sysvinit and upstart; a missing, failing or hung ``journalctl`` leaves the words out and never
becomes the error."""

import types

import pytest

import _cloudassist_errors as errors
import _cloudassist_facts as facts
import _cloudassist_host as hosts
import _cloudassist_run as run
from _cloudassist_records import CommandResult, UnitState

UNIT = "aliyun.service"
JOURNAL = (
    "Nov 27 10:10:10 web1 systemd[1]: Starting aliyun.service - Aliyun Assist...\n"
    "Nov 27 10:10:10 web1 aliyun-service[4242]: open /etc/aliyun-assist/config.json: no such file\n"
    "Nov 27 10:10:10 web1 systemd[1]: aliyun.service: Main process exited, code=exited, "
    "status=1/FAILURE\n"
)


def linux_host(timeout=30):
    return hosts.LinuxHost(lambda key, default=None: default, {}, timeout)


def under_systemd():
    return types.SimpleNamespace(unit=UnitState(UNIT))


def off_systemd():
    return types.SimpleNamespace(unit=None)


@pytest.fixture
def ran(monkeypatch):
    """The commands ``run.run`` was asked for; ``ran.answer``: what it does with them."""
    calls = []

    def fake_run(argv, timeout):
        calls.append((list(argv), timeout))
        return ran.answer(argv)

    ran = types.SimpleNamespace(calls=calls, answer=None)
    monkeypatch.setattr(run, "run", fake_run)
    monkeypatch.setattr(facts, "which", lambda program: f"/usr/bin/{program}")
    return ran


def test_under_systemd_the_units_journal_since_the_action_began(ran):
    ran.answer = lambda argv: CommandResult(run.command_line(argv), 0, JOURNAL, "")
    said_by, lines = linux_host().host_said(under_systemd(), since=1764238210.7, heard=())
    assert ran.calls == [
        (
            [
                "journalctl",
                "--unit",
                UNIT,
                "--since",
                "@1764238210",
                "--lines",
                "20",
                "--no-pager",
                "--quiet",
            ],
            hosts.JOURNAL_TIMEOUT,
        )
    ]
    assert said_by == f"journalctl --unit {UNIT} --since @1764238210 --lines 20 --no-pager --quiet"
    assert lines == JOURNAL.splitlines()


def test_the_journals_own_markers_are_not_the_hosts_words(ran):
    ran.answer = lambda argv: CommandResult("journalctl", 0, "-- No entries --\n", "")
    assert linux_host().host_said(under_systemd(), since=0, heard=()) == ("journalctl", [])
    ran.answer = lambda argv: CommandResult(
        "journalctl", 0, "-- Logs begin at Mon 2019-01-07 10:00:00 UTC. --\n" + JOURNAL, ""
    )
    assert linux_host().host_said(under_systemd(), since=0, heard=())[1] == JOURNAL.splitlines()


def test_without_journalctl_nothing_runs_and_nothing_is_said(ran, monkeypatch):
    monkeypatch.setattr(facts, "which", lambda program: None)
    assert linux_host().host_said(under_systemd(), since=0, heard=()) == ("", ())
    assert ran.calls == []


@pytest.mark.parametrize(
    "fails",
    [
        errors.CannotRun("could not run `journalctl`: ...", command="journalctl"),
        errors.TimedOut("`journalctl` did not finish", command="journalctl", timeout=10),
    ],
    ids=["cannot-run", "timed-out"],
)
def test_a_journalctl_that_cannot_run_or_hangs_says_nothing(ran, fails):
    def answer(argv):
        raise fails

    ran.answer = answer
    assert linux_host().host_said(under_systemd(), since=0, heard=()) == ("", ())


def test_a_journalctl_that_fails_says_nothing(ran):
    ran.answer = lambda argv: CommandResult(
        "journalctl", 1, "", "Failed to add filter for units: No data available"
    )
    assert linux_host().host_said(under_systemd(), since=0, heard=()) == ("", ())


def test_a_short_timeout_bounds_the_journal_too(ran):
    ran.answer = lambda argv: CommandResult("journalctl", 0, JOURNAL, "")
    linux_host(timeout=2).host_said(under_systemd(), since=0, heard=())
    assert ran.calls[0][1] == 2


def test_off_systemd_the_steps_own_output_and_no_journal(ran):
    heard = [
        CommandResult("/etc/init.d/aliyun-service stop", 0, "Stopping aliyun-service... OK\n", ""),
        CommandResult("chkconfig agentwatch off", 0, "", ""),
        CommandResult("/etc/init.d/aliyun-service start", 0, "Starting aliyun-service... ", "OK\n"),
    ]
    said_by, lines = linux_host().host_said(off_systemd(), since=0, heard=heard)
    assert said_by == "/etc/init.d/aliyun-service stop; /etc/init.d/aliyun-service start"
    assert lines == ["Stopping aliyun-service... OK", "Starting aliyun-service... OK"]
    assert ran.calls == []


def test_off_systemd_steps_that_printed_nothing_say_nothing(ran):
    heard = [CommandResult("/sbin/initctl start aliyun-service", 0, "", "")]
    assert linux_host().host_said(off_systemd(), since=0, heard=heard) == ("", [])


def test_windows_has_no_journal_to_read():
    host = hosts.WindowsHost(lambda key, default=None: default, {}, 30)
    assert host.host_said(off_systemd(), since=0, heard=()) == ("", ())
