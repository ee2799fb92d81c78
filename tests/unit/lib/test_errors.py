"""``_modules/_cloudassist_errors.py``: the library's failures as types with fields, and the one
place they cross into Salt."""

import ast
import pathlib

import pytest
from salt.exceptions import CommandExecutionError

import _cloudassist_errors as errors
import _cloudassist_host as hosts
import loaded

ROOT = pathlib.Path(__file__).resolve().parents[3]
LIBRARY = sorted(ROOT.joinpath("_modules").glob("_cloudassist_*.py"))
ENTRIES = [ROOT / f"_{kind}" / "cloudassist.py" for kind in ("modules", "states", "grains")]
ENTRIES += [ROOT / f"_{kind}" / "cloudassist.py" for kind in ("beacons", "runners")]


def test_partly_done_names_the_changes_and_carries_them():
    cause = errors.NotVerified("`systemctl start aliyun` succeeded but ...", command="x")
    done = {
        "stopped the watchdog with `assist_daemon --stop`": ("watchdog", True, False),
        "stopped the client with `systemctl stop aliyun`": ("running", True, False),
    }
    failure = errors.PartlyDone(cause=cause, done=done)
    assert str(failure) == (
        "`systemctl start aliyun` succeeded but ... (already done: stopped the watchdog with "
        "`assist_daemon --stop`; stopped the client with `systemctl stop aliyun`)"
    )
    assert failure.cause is cause
    assert failure.changes == {
        "watchdog": {"old": True, "new": False},
        "running": {"old": True, "new": False},
    }


def test_failed_is_salts_error_with_the_same_text_and_the_changes():
    failure = errors.PartlyDone(
        cause=errors.TimedOut("`x` did not finish", command="x", timeout=3),
        done={"started the client with `x`": ("running", False, True)},
    )
    failed = errors.Failed(failure)
    assert isinstance(failed, CommandExecutionError)
    assert str(failed) == str(failure)
    assert failed.changes == {"running": {"old": False, "new": True}}
    assert failed.failure is failure
    assert errors.Failed(errors.Blocked("no")).changes == {}


def test_every_failure_keeps_its_text_and_its_fields():
    failure = errors.CommandFailed(
        "`a b` exited with code 2: no", command="a b", retcode=2, output="no"
    )
    assert (str(failure), failure.command, failure.retcode, failure.output) == (
        "`a b` exited with code 2: no",
        "a b",
        2,
        "no",
    )
    assert errors.BadArgument("m", source="s", value=1).source == "s"
    assert errors.Blocked("why").reason == "why"
    assert errors.Failure("m").changes == {}


@pytest.fixture
def configure_loader_modules(tmp_path):
    return {
        loaded.execution: {
            "__salt__": {},
            "__opts__": {"cachedir": str(tmp_path), "cloudassist": {"binary": "relative/path"}},
            "__pillar__": {},
        }
    }


def test_a_library_failure_leaves_the_execution_module_as_salts_error():
    with pytest.raises(errors.Failed) as raised:
        loaded.execution.status()
    assert str(raised.value) == (
        "the config key cloudassist:binary must be an absolute path, not 'relative/path'"
    )
    assert isinstance(raised.value.failure, errors.BadArgument)
    assert raised.value.failure.value == "relative/path"


def test_the_grain_tells_not_installed_by_its_type_not_its_words(monkeypatch):
    def binary(self):
        raise errors.NotInstalled("no client here (worded otherwise)", looked_in=("/x",))

    monkeypatch.setattr(hosts.LinuxHost, "binary", binary)
    facts = loaded.load("grains")._facts("linux", lambda key, default=None: default)
    assert facts["installed"] is False and "error" not in facts


def _raises(path):
    """The names each ``raise`` in ``path`` calls (``raise X(...)`` -> "X")."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            names.append(ast.unparse(node.exc.func))
    return names


@pytest.mark.parametrize("path", LIBRARY, ids=[p.name for p in LIBRARY])
def test_the_library_raises_no_salt_error_but_errors_failed(path):
    """Salt's errors are made in one place (``errors.Failed``); a module's own internal
    exceptions (sdbus's, a programmer's TypeError) are caught or are bugs, not failures."""
    for name in _raises(path):
        assert "CommandExecutionError" not in name and "SaltInvocationError" not in name, name
    if path.name != "_cloudassist_errors.py":
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                assert "CommandExecutionError" not in map(ast.unparse, node.bases), node.name


@pytest.mark.parametrize("path", LIBRARY + ENTRIES, ids=[p.name for p in LIBRARY + ENTRIES])
def test_no_field_is_bolted_on_and_no_text_is_matched(path):
    tree = ast.parse(path.read_text())
    handlers = {
        node.name for node in ast.walk(tree) if isinstance(node, ast.ExceptHandler) and node.name
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                    assert target.value.id not in handlers | {"error"}, ast.unparse(node)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "getattr":
            assert not (isinstance(node.args[0], ast.Name) and node.args[0].id in handlers), (
                ast.unparse(node)
            )
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.In) for op in node.ops):
            assert not any(
                isinstance(side, ast.Call)
                and ast.unparse(side.func) == "str"
                and isinstance(side.args[0], ast.Name)
                and side.args[0].id in handlers
                for side in node.comparators
            ), ast.unparse(node)


# --- the host's own words (issue 17) ----------------------------------------------------------


def test_the_hosts_words_end_the_message_and_are_fields():
    failure = errors.NotVerified("`systemctl start aliyun.service` succeeded but ...", command="x")
    assert failure.heard("journalctl ...", ["a", "", "b  "]) is failure
    assert failure.host_said == ("a", "b") and failure.said_by == "journalctl ..."
    assert failure.message == "`systemctl start aliyun.service` succeeded but ..."
    assert str(failure) == (
        "`systemctl start aliyun.service` succeeded but ...\n"
        "the host said (`journalctl ...`):\n"
        "  a\n"
        "  b"
    )
    assert str(errors.Failed(failure)) == str(failure)


def test_no_words_leave_the_message_as_it_was():
    failure = errors.TimedOut("`x` did not finish", command="x", timeout=3)
    failure.heard("journalctl ...", ["", "   "])
    assert (str(failure), failure.host_said, failure.said_by) == ("`x` did not finish", (), "")


def test_the_words_are_trimmed_to_the_last_lines_each_cut():
    lines = [f"line {n}" for n in range(50)] + ["x" * 500]
    said = errors.excerpt(lines)
    assert len(said) == errors.SAID_LINES
    assert said[0] == "line 31" and said[-2] == "line 49"
    assert said[-1] == "x" * (errors.SAID_WIDTH - 1) + "…"
    assert errors.excerpt("one\n\n two \n") == ("one", " two")
    assert errors.excerpt("") == ()


def test_partly_done_ends_with_its_causes_words():
    cause = errors.NotVerified("`b` started the client (pid 1) but it exited", command="b")
    cause.heard("journalctl -u aliyun.service", ["boom"])
    failure = errors.PartlyDone(
        cause=cause, done={"stopped the client with `a`": ("running", True, False)}
    )
    assert (failure.host_said, failure.said_by) == (("boom",), "journalctl -u aliyun.service")
    assert str(failure) == (
        "`b` started the client (pid 1) but it exited (already done: stopped the client with "
        "`a`)\nthe host said (`journalctl -u aliyun.service`):\n  boom"
    )
    assert str(errors.Failed(failure)) == str(failure)
