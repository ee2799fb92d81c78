"""``_modules/_cloudassist_report.py``: the fleet report, ``summarize`` over per-minion returns
(pure), and the runner's argument checks.  The runner itself, in Salt's loader, is tested in
``tests/unit/test_runner.py``.

The statuses are made by the real records (``ClientStatus.as_dict``, what
``cloudassist.status`` returns), so the report is checked against the status's real shape."""

import json

import pytest

import _cloudassist_errors as errors
import _cloudassist_report as reports

from .helpers import BLOCKED, BROKEN, EXPECTED, FLEET, ok


def test_the_fleet_is_counted_by_what_each_minion_answered():
    report = reports.summarize(FLEET, EXPECTED).as_dict()
    assert report["counts"] == {
        "targeted": 8,
        "reported": 5,
        "failed": 2,
        "no_answer": 1,
        "running": 2,
        "stopped": 2,
        "not_installed": 1,
        "watchdog_running": 1,
        "blocked": 1,
        "leftovers": 0,
    }
    assert report["leftovers"] == {}
    assert report["versions"] == {"1.0.1.308": 1, "2.2.3.578": 2, "2.2.4.1065": 1}
    assert report["init_systems"] == {
        "systemd": {"aliyun.service": 2},
        "sysvinit": {"/etc/init.d/aliyun-service": 2},
    }
    assert report["enabled"] == {"true": 2, "false": 1, "unknown": 1}
    # A minion without the client reported (its status says so): not stopped, not failed,
    # and in none of the version, init system and boot counts.
    assert report["stopped"] == ["old1", "web3"]
    assert report["not_installed"] == ["bare1"]
    assert report["blocked"] == {BLOCKED: ["old1"]}
    assert report["failed"] == {
        "bad1": BROKEN,
        "bad2": "'cloudassist.status' is not available. (retcode 254)",
    }
    assert report["no_answer"] == ["down1"]
    assert report["retcode"] == 1
    assert (
        report["summary"]
        == "8 targeted: 5 reported (2 running, 2 stopped, 1 not installed), 2 failed, "
        "1 did not answer"
    )
    assert json.loads(json.dumps(report)) == report  # what --out=json prints is the same data


def test_what_stopped_clients_left_running_is_shown_per_minion():
    updater = {
        "pid": 812,
        "exe": "/usr/local/share/aliyun-assist/2.2.3.578/aliyun_assist_update",
        "cmdline": ["/usr/local/share/aliyun-assist/2.2.3.578/aliyun_assist_update"],
    }
    fleet = dict(FLEET)
    fleet["web3"] = ok(dict(FLEET["web3"]["ret"], leftovers=[updater]))
    report = reports.summarize(fleet, EXPECTED).as_dict()
    assert report["leftovers"] == {"web3": [updater]}
    assert report["counts"]["leftovers"] == 1
    assert "2 stopped, 1 with processes the stopped client left running" in report["summary"]
    assert report["stopped"] == ["old1", "web3"]  # still stopped: the client is not running


def _updates(frozen):
    """What ``status["updates"]`` holds (``cloudassist.updates``), as far as the report reads it."""
    return {"frozen": frozen, "bootstrap_frozen": frozen}


def test_clients_are_counted_by_self_update_frozen_or_allowed_per_version():
    fleet = dict(FLEET)
    fleet["web1"] = ok(dict(FLEET["web1"]["ret"], updates=_updates(True)))
    fleet["web2"] = ok(dict(FLEET["web2"]["ret"], updates=_updates(False)))
    fleet["web3"] = ok(dict(FLEET["web3"]["ret"], updates=_updates(True)))
    report = reports.summarize(fleet, EXPECTED).as_dict()
    # old1 answered without the key (an older module, or updates unreadable): unknown.
    assert report["updates"] == {"frozen": 2, "allowed": 1, "unknown": 1}
    assert report["updates_by_version"] == {
        "1.0.1.308": {"unknown": 1},
        "2.2.3.578": {"frozen": 2},
        "2.2.4.1065": {"allowed": 1},
    }
    assert (
        "(2 running, 2 stopped, 2 with self-update frozen, 1 not installed)" in (report["summary"])
    )


def test_without_frozen_clients_the_summary_does_not_mention_updates():
    report = reports.summarize(FLEET, EXPECTED).as_dict()
    assert report["updates"] == {"frozen": 0, "allowed": 0, "unknown": 4}
    assert "frozen" not in report["summary"]


def test_a_fleet_that_all_reported_is_a_success():
    fleet = {m: FLEET[m] for m in ("web1", "web2")}
    report = reports.summarize(fleet, ["web1", "web2"]).as_dict()
    assert report["retcode"] == 0
    assert (report["failed"], report["no_answer"], report["stopped"], report["blocked"]) == (
        {},
        [],
        [],
        {},
    )
    assert (
        report["summary"]
        == "2 targeted: 2 reported (2 running, 0 stopped), 0 failed, 0 did not answer"
    )


def test_an_empty_target_reports_nothing_and_fails():
    report = reports.summarize({}, []).as_dict()
    assert report["counts"]["targeted"] == 0
    assert report["versions"] == {} and report["init_systems"] == {}
    assert report["enabled"] == {"true": 0, "false": 0, "unknown": 0}
    assert report["updates"] == {"frozen": 0, "allowed": 0, "unknown": 0}
    assert report["updates_by_version"] == {}
    assert report["summary"] == "no minion matched the target"
    assert report["retcode"] == 1


@pytest.mark.parametrize(
    "entry",
    [
        {"failed": True},  # LocalClient's expect_minions placeholder
        {"ret": "Minion did not return. [No response]", "out": "no_return", "retcode": 254},
        None,
    ],
)
def test_a_placeholder_for_a_missing_return_is_no_answer(entry):
    report = reports.summarize({"web1": FLEET["web1"], "down1": entry}, ["web1", "down1"])
    assert report.no_answer == ("down1",) and [a.minion for a in report.reported] == ["web1"]


@pytest.mark.parametrize(
    "entry, text",
    [
        (ok("2.2.3.578"), "returned '2.2.3.578' instead of a status"),
        ({"ret": {"installed": True}, "retcode": 1}, "{'installed': True} (retcode 1)"),
        ({"ret": None}, "returned None instead of a status"),
    ],
)
def test_anything_but_a_status_with_retcode_0_is_a_failure(entry, text):
    report = reports.summarize({"m": entry}, ["m"])
    assert report.reported == () and report.failed == (reports.Answer("m", error=text),)


def test_a_minion_that_returned_without_being_expected_is_counted():
    report = reports.summarize({"web1": FLEET["web1"]}, [])
    assert report.targeted == 1 and report.retcode == 0


def test_missing_status_keys_count_as_unknown():
    report = reports.summarize({"m": ok({"running": True})}, ["m"]).as_dict()
    assert report["versions"] == {"unknown": 1}
    assert report["init_systems"] == {"unknown": {"unknown": 1}}
    assert report["enabled"]["unknown"] == 1 and report["counts"]["watchdog_running"] == 0


def test_records_are_frozen():
    report = reports.summarize(FLEET, EXPECTED)
    with pytest.raises(AttributeError):
        report.failed = ()
    with pytest.raises(AttributeError):
        report.reported[0].status = {}


@pytest.mark.parametrize(
    "tgt, tgt_type, timeout, problem",
    [
        ("*", "glob", None, None),
        ("a,b", "list", 5, None),
        (["a", "b"], "list", 0.5, None),
        ("G@os:Debian", "compound", 3600, None),
        ("*", "globb", None, "tgt_type must be one of glob, pcre, list, "),
        ("", "glob", None, "tgt must be a non-empty target string, not ''"),
        (5, "glob", None, "tgt must be a non-empty target string, not 5"),
        (",", "list", None, "tgt must name at least one minion"),
        ([], "list", None, "tgt must name at least one minion"),
        (
            "*",
            "glob",
            0,
            "timeout must be a number of seconds greater than 0 and at most 3600, not 0",
        ),
        (
            "*",
            "glob",
            "5s",
            "timeout must be a number of seconds greater than 0 and at most 3600, not '5s'",
        ),
        (
            "*",
            "glob",
            True,
            "timeout must be a number of seconds greater than 0 and at most 3600, not True",
        ),
        ("*", "glob", 3601, "timeout must be a number"),
    ],
)
def test_arguments_are_checked(tgt, tgt_type, timeout, problem):
    if problem is None:
        reports.check_arguments(tgt, tgt_type, timeout)
        return
    with pytest.raises(errors.BadArgument) as raised:
        reports.check_arguments(tgt, tgt_type, timeout)
    assert str(raised.value).startswith(problem), raised.value


def test_a_minion_without_the_client_fails_a_report_that_requires_it():
    fleet = {m: FLEET[m] for m in ("web1", "bare1")}
    inventory = reports.summarize(fleet, ["web1", "bare1"]).as_dict()
    assert inventory["retcode"] == 0 and inventory["not_installed"] == ["bare1"]
    precheck = reports.summarize(fleet, ["web1", "bare1"], require_installed=True).as_dict()
    assert precheck["retcode"] == 1 and precheck["not_installed"] == ["bare1"]
    assert precheck["summary"] == (
        "2 targeted: 2 reported (1 running, 0 stopped, 1 not installed), 0 failed, 0 did not answer"
    )
    every = reports.summarize({"web1": FLEET["web1"]}, ["web1"], require_installed=True)
    assert every.retcode == 0


def test_require_installed_must_be_a_boolean():
    with pytest.raises(errors.BadArgument, match="require_installed must be true or false"):
        reports.check_arguments("*", "glob", None, require_installed="yes")


# --- one line per failed minion (issue 17) ------------------------------------------------------

WORDS = [f"Nov 27 10:10:1{n} web1 aliyun-service[4242]: line {n}" for n in range(6)]
FAILED_START = "\n".join(
    [
        "`systemctl start aliyun.service` succeeded but the client is not running after 30 s",
        "the host said (`journalctl --unit aliyun.service ...`):",
        *("  " + line for line in WORDS),
    ]
)


def test_a_failure_is_one_line_its_sentence_then_the_hosts_last_words():
    line = reports.one_line(FAILED_START)
    assert "\n" not in line
    assert line == " | ".join(
        [
            "`systemctl start aliyun.service` succeeded but the client is not running after 30 s",
            "…",
            *WORDS[-reports.LAST_LINES :],
        ]
    )


def test_short_errors_keep_every_line_and_one_line_stays_as_it_is():
    assert reports.one_line("a\n\n  b\n") == "a | b"
    assert reports.one_line("the client is broken") == "the client is broken"
    assert reports.one_line("") == ""


def test_the_reports_failed_minions_are_one_line_each():
    report = reports.summarize(
        {
            "web1": {"ret": "ERROR: " + FAILED_START, "retcode": 1},
            "web2": {"ret": "line one\nline two", "retcode": 254},
        },
        ["web1", "web2"],
    ).as_dict()
    assert report["failed"] == {
        "web1": reports.one_line(FAILED_START),
        "web2": "line one | line two (retcode 254)",
    }
    assert all("\n" not in error for error in report["failed"].values())
