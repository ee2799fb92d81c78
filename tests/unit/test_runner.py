"""The runner ``_runners/cloudassist.py`` in Salt's loader mock, against a fake LocalClient."""

import importlib.util
import pathlib
import sys

import pytest
import salt.client
import salt.exceptions
import salt.utils.minions

import _cloudassist_report as reports
import loaded

from .lib.helpers import EXPECTED, FLEET

ROOT = pathlib.Path(__file__).resolve().parents[2]


# --- the runner in Salt's loader, against a fake LocalClient ---------------------------------


def _load_runner():
    name = "cloudassist_runner_under_test"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, loaded.entry_path("runners"))
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
