"""The fleet report: ``summarize`` over per-minion returns (pure), and the runner
``cloudassist.report`` in Salt's loader against a fake LocalClient (no master, no minion).

The statuses are made by the real records (``ClientStatus.as_dict``, what
``cloudassist.status`` returns), so the report is checked against the status's real shape."""

import importlib.util
import json
import pathlib
import sys

import pytest
import salt.client
import salt.exceptions
import salt.utils.minions

import _cloudassist_errors as errors
import _cloudassist_procedure as procedure
import _cloudassist_report as reports
from _cloudassist_records import BootState, ClientStatus, InitDecision, Watchdog

ROOT = pathlib.Path(__file__).resolve().parents[3]
BRANCHES = {
    row.init_systems[0]: row
    for row in procedure.TABLE
    if row.platform == "linux" and row.legacy is False
}
BLOCKED = "the branch needs chkconfig to manage agentwatch, and this host has no chkconfig"


def status(
    version="2.2.3.578", init="systemd", running=True, enabled=True, watchdog=False, blocked=None
):
    branch = BRANCHES[init]
    return ClientStatus(
        platform="linux",
        version=version,
        binary="/usr/sbin/aliyun-service",
        init=InitDecision(init, "the test says so"),
        branch=branch,
        steps={"stop": branch.stop, "start": branch.start},
        pids=(4242,) if running else (),
        watchdog=Watchdog((77,), "process") if watchdog else Watchdog(),
        blocked=blocked,
        boot_state=BootState(branch.service, enabled, "the test says so"),
    ).as_dict()


def ok(data):
    return {"ret": data, "retcode": 0, "jid": "20261127101010123456"}


def error(text, retcode=1):
    return {"ret": text, "retcode": retcode, "jid": "20261127101010123456"}


FLEET = {
    "web1": ok(status()),
    "web2": ok(status(version="2.2.4.1065", watchdog=True)),
    "web3": ok(status(init="sysvinit", running=False, enabled=False)),
    "old1": ok(
        status(version="1.0.1.308", init="sysvinit", running=False, enabled=None, blocked=BLOCKED)
    ),
    "bad1": error(
        "ERROR: the Cloud Assistant client is not installed: looked for /usr/sbin/aliyun-service"
    ),
    "bad2": error("'cloudassist.status' is not available.", retcode=254),
}
EXPECTED = sorted(FLEET) + ["down1"]


def test_the_fleet_is_counted_by_what_each_minion_answered():
    report = reports.summarize(FLEET, EXPECTED).as_dict()
    assert report["counts"] == {
        "targeted": 7,
        "reported": 4,
        "failed": 2,
        "no_answer": 1,
        "running": 2,
        "stopped": 2,
        "watchdog_running": 1,
        "blocked": 1,
    }
    assert report["versions"] == {"1.0.1.308": 1, "2.2.3.578": 2, "2.2.4.1065": 1}
    assert report["init_systems"] == {
        "systemd": {"aliyun.service": 2},
        "sysvinit": {"/etc/init.d/aliyun-service": 2},
    }
    assert report["enabled"] == {"true": 2, "false": 1, "unknown": 1}
    assert report["stopped"] == ["old1", "web3"]
    assert report["blocked"] == {BLOCKED: ["old1"]}
    assert report["failed"] == {
        "bad1": "the Cloud Assistant client is not installed: looked for /usr/sbin/aliyun-service",
        "bad2": "'cloudassist.status' is not available. (retcode 254)",
    }
    assert report["no_answer"] == ["down1"]
    assert report["retcode"] == 1
    assert (
        report["summary"]
        == "7 targeted: 4 reported (2 running, 2 stopped), 2 failed, 1 did not answer"
    )
    assert json.loads(json.dumps(report)) == report  # what --out=json prints is the same data


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


# --- the runner in Salt's loader, against a fake LocalClient ---------------------------------


def _load_runner():
    name = "cloudassist_runner_under_test"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "_runners" / "cloudassist.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


runner = _load_runner()


class FakeLocalClient:
    """What the runner uses of LocalClient: a context manager whose ``cmd_iter`` yields the
    job's publication first (``yield_pub_data``), then one return per minion."""

    def __init__(self, published, returns):
        self.published = published
        self.returns = returns
        self.calls = []

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False

    def cmd_iter(self, tgt, fun, **kwargs):
        self.calls.append((tgt, fun, kwargs))
        assert kwargs.get("yield_pub_data") is True
        yield {"jid": "20261127101010123456", "minions": self.published}
        for minion, entry in self.returns.items():
            yield {minion: entry}


@pytest.fixture
def fleet(monkeypatch):
    """``fleet(matched, published, returns)``: what the master matches and publishes to, and
    what comes back; returns the fake client."""

    def arrange(matched, published, returns):
        client = FakeLocalClient(published, returns)

        class FakeCkMinions:
            def __init__(self, opts):
                assert opts is runner.__opts__

            def check_minions(self, tgt, tgt_type="glob"):
                return {"minions": list(matched), "missing": []}

        monkeypatch.setattr(salt.utils.minions, "CkMinions", FakeCkMinions)
        monkeypatch.setattr(salt.client, "get_local_client", lambda mopts=None, **kw: client)
        return client

    return arrange


@pytest.fixture
def context():
    return {}


@pytest.fixture
def configure_loader_modules(context):
    return {runner: {"__opts__": {"conf_file": "/nonexistent/master"}, "__context__": context}}


def test_the_runner_asks_the_targeted_minions_for_their_status(fleet, context):
    client = fleet(EXPECTED, EXPECTED, FLEET)
    result = runner.report(tgt="*", timeout=7)
    assert client.calls == [
        ("*", "cloudassist.status", {"tgt_type": "glob", "timeout": 7, "yield_pub_data": True})
    ]
    assert result == reports.summarize(FLEET, EXPECTED).as_dict()
    assert result["retcode"] == 1 and context["retcode"] == 1


def test_a_fleet_that_all_reported_leaves_the_retcode_alone(fleet, context):
    fleet(["web1"], ["web1"], {"web1": FLEET["web1"]})
    result = runner.report("web1", "list")
    assert result["retcode"] == 0 and "retcode" not in context


def test_the_published_minions_are_the_ones_expected(fleet):
    # the master published to a minion the runner's own match did not list: still expected
    fleet(["web1"], ["web1", "down1"], {"web1": FLEET["web1"]})
    assert runner.report()["no_answer"] == ["down1"]


def test_nothing_is_published_to_an_empty_target(fleet, context):
    client = fleet([], [], {})
    result = runner.report(tgt="nomatch*")
    assert client.calls == []
    assert result["summary"] == "no minion matched the target" and result["retcode"] == 1
    assert context["retcode"] == 1


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"tgt_type": "regex"}, "cloudassist.report: tgt_type must be one of glob, pcre, list"),
        ({"timeout": -1}, "cloudassist.report: timeout must be a number of seconds"),
        ({"tgt": ""}, "cloudassist.report: tgt must be a non-empty target string"),
    ],
)
def test_bad_arguments_are_an_error_not_a_traceback(fleet, context, kwargs, problem):
    client = fleet(["web1"], ["web1"], {})
    result = runner.report(**kwargs)
    assert set(result) == {"Error", "retcode"} and result["Error"].startswith(problem), result
    assert result["retcode"] == 1 and context["retcode"] == 1
    assert client.calls == []


def test_a_master_that_cannot_publish_is_an_error(fleet, monkeypatch, context):
    fleet(["web1"], ["web1"], {})

    class Unreachable(FakeLocalClient):
        def cmd_iter(self, tgt, fun, **kwargs):
            raise salt.exceptions.SaltClientError(
                "The salt master could not be contacted. Is master running?"
            )
            yield  # pragma: no cover

    monkeypatch.setattr(
        salt.client, "get_local_client", lambda mopts=None, **kw: Unreachable([], {})
    )
    result = runner.report()
    assert result == {
        "Error": "cloudassist.report: the job could not be published: The salt master could "
        "not be contacted. Is master running?",
        "retcode": 1,
    }
    assert context["retcode"] == 1


def test_a_job_published_to_no_minion_is_an_error(fleet, context):
    fleet(["web1"], [], {})  # the master's publication lists no minion: it did not publish
    result = runner.report()
    assert result == {
        "Error": "cloudassist.report: the master published the job to no minion, although "
        "web1 matched the target (is salt-master running?)",
        "retcode": 1,
    }
    assert context["retcode"] == 1
