"""The SLS examples of the docs run, and the outputs the docs show are what the calls return
(issue 16), through this session's real master and minion against the stand-in client.

The blocks come from the pages themselves (``tests/support/docs_blocks.py``):

- every ``sls`` block (states of cloudassist), one state id at a time (the ids of an example
  are alternatives: a ``running`` beside a ``stopped``), written into the master's file_roots
  and applied with ``test=True``, then for real, with the client as the state expects it
  (running before a stop, stopped before a start).  Each result must be None, then True, and
  no comment may say that a function or an argument is unknown.  A ``watch: - file: PATH`` is
  on the operator's own file: a ``file.touch`` of a temporary file under the id ``PATH``
  stands in for it, so the watch fires (that is the only change made to an example);
- every output tied to a ``salt-call`` (``<!-- output-of: ... -->``) against the same call
  on the test minion: the keys the page shows must be there (but for the few only systemd
  gives: the pages show the demo's systemd host, the minion here runs the sysvinit branch),
  with the same values where they do not depend on the host; in comments, the host's facts
  (its stop and start commands, its branch, its service) are read as placeholders.

The outputs that need no master are checked in tests/unit/test_docs_examples.py.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parent.parent
if str(TESTS / "support") not in sys.path:
    sys.path.insert(0, str(TESTS / "support"))

import docs_blocks  # noqa: E402
from docs_blocks import classify, differences, parse_highstate, parse_nested  # noqa: E402

CHECKOUT = TESTS.parent
BLOCKS = docs_blocks.all_blocks(CHECKOUT)
# What says a state did not run the function as written.
UNKNOWN = re.compile(
    r"is not available|not found|does not take|unexpected keyword|Passed invalid|"
    r"not valid|unknown|has no|Traceback",
    re.I,
)
# The shown keys only a systemd host gives (the demo's); the minion here runs sysvinit.
SYSTEMD_ONLY = {
    ("local", "unit"),
    ("local", "service_decided_by"),
    ("local", "watchdog", "unit"),
}
# Keys whose values are the host's: its paths, pids, init system, boot status, evidence, and
# look-alike processes (a container's client while the real-init suite runs beside this one).
HOST = {
    ("local", key)
    for key in (
        "binary",
        "boot",
        "branch",
        "command",
        "commands",
        "decided_by",
        "enabled",
        "evidence",
        "init_system",
        "others",
        "pids",
        "pids_before",
        "service",
        # the client's folders, and whether the minion's stand-in is frozen (issue 25)
        "updates",
    )
}


# States whose examples cannot be applied on this host, and why (they are proven elsewhere).
NOT_ON_THIS_HOST = {
    "cloudassist.installed": (
        "installs a package into this host's dpkg database (and the package's files over the "
        "stand-in's init script): tests/unit/test_states_installed.py runs the state, "
        "tests/realinit the install in throwaway containers"
    ),
}


def _sls_cases():
    cases = []
    for block in BLOCKS:
        if classify(block) == "sls":
            for state_id, text in docs_blocks.sls_states(block).items():
                why = [NOT_ON_THIS_HOST[f] for f in _functions(text) if f in NOT_ON_THIS_HOST]
                marks = [pytest.mark.skip(reason=why[0])] if why else []
                cases.append(
                    pytest.param(block, state_id, text, id=f"{block}:{state_id}", marks=marks)
                )
    return cases


def _functions(text):
    return [f for body in yaml.safe_load(text).values() for f in docs_blocks.state_functions(body)]


def _requisites(text):
    """``(requisite, module, name)`` of every requisite of an SLS's states."""
    out = []
    for body in yaml.safe_load(text).values():
        for arg in next(iter(body.values())) if isinstance(body, dict) else []:
            for requisite in ("watch", "require", "onchanges"):
                for target in arg.get(requisite, []) if isinstance(arg, dict) else []:
                    ((module, name),) = target.items()
                    out.append((requisite, module, name))
    return out


def _with_stand_ins(text, folder):
    """The SLS with a ``file.touch`` state for every ``file:`` it watches or requires."""
    data = yaml.safe_load(text)
    for _, module, name in _requisites(text):
        assert module == "file", f"no stand-in for a {module} state"
        touched = folder / re.sub(r"\W", "_", name)
        data[name] = {"file.touch": [{"name": str(touched)}]}
    return yaml.safe_dump(data, default_flow_style=False)


def _watches(text):
    return any(requisite == "watch" for requisite, _, _ in _requisites(text))


def _arrange(client, functions, text):
    """Running before a stop and before a watch (which restarts), stopped before a start."""
    if any(f.endswith((".stopped", ".dead")) for f in functions) or _watches(text):
        client.ensure_running()
    elif any(f.endswith(".running") for f in functions):
        client.ensure_stopped()
    return client.pids()


def _results(ret, where):
    assert ret.returncode in (0, 1), f"{where}: exit {ret.returncode}\n{ret.stdout}\n{ret.stderr}"
    assert isinstance(ret.data, dict), f"{where}: {ret.data!r}"
    return ret.data


def _apply(salt_cli, minion, name, *args):
    return salt_cli.run("state.apply", name, *args, minion_tgt=minion.id)


@pytest.mark.parametrize(("block", "state_id", "text"), _sls_cases())
def test_sls_example(block, state_id, text, salt_cli, minion, client, sls_dir, tmp_path):
    slug = re.sub(r"\W", "_", state_id)
    name = f"docs_{Path(block.file).stem}_{block.line}_{slug}"
    (sls_dir / f"{name}.sls").write_text(_with_stand_ins(text, tmp_path))
    functions = _functions(text)
    where = f"{block}: {state_id}"

    before = _arrange(client, functions, text)
    results = _results(_apply(salt_cli, minion, name, "test=True"), where)
    for key, result in results.items():
        assert result["result"] in (None, True), f"{where} test=True: {key}: {result}"
        assert not UNKNOWN.search(result["comment"]), f"{where} test=True: {result['comment']}"
    assert client.pids() == before, f"{where}: test=True changed the host"

    _arrange(client, functions, text)
    results = _results(_apply(salt_cli, minion, name), where)
    for key, result in results.items():
        assert result["result"] is True, f"{where}: {key}: {result}"
        assert not UNKNOWN.search(result["comment"]), f"{where}: {result['comment']}"
    after = client.pids()
    if any(f.endswith((".stopped", ".dead")) for f in functions):
        assert after == [], f"{where}: the client still runs: {after}"
    elif any(f.endswith(".running") for f in functions):
        assert len(after) == 1, f"{where}: {after}"
    if _watches(text):
        changes = results[next(k for k in results if k.startswith("cloudassist_"))]["changes"]
        assert "restarted" in changes, f"{where}: the watch did not restart: {changes}"


# --- shown outputs ------------------------------------------------------------------------


def _shown(tie):
    (block,) = [b for b in BLOCKS if b.tie == tie]
    return block


def _call(salt_call, command):
    """The data of a tied ``salt-call --out=yaml FUN ARGS`` (run with the suite's output)."""
    words = [w for w in command.split()[1:] if not w.startswith("--out")]
    ret = salt_call.run(*words)
    assert ret.returncode == 0, ret
    return {"local": ret.data}


@pytest.fixture
def facts(salt_call, client):
    """The normaliser of the host's facts: the page's status (the demo's systemd host)
    against this minion's."""
    client.ensure_running()
    shown = _shown("salt-call --out=yaml cloudassist.status").data["local"]
    real = salt_call.run("cloudassist.status").data
    pairs = [(shown[k], real[k]) for k in ("branch", "service")]
    pairs += [(shown["commands"][k], real["commands"][k]) for k in ("stop", "start")]
    return docs_blocks.normaliser(pairs)


def _check(tie, real, normalise=None):
    shown = _shown(tie).data
    problems = differences(shown, real, host=HOST, extra=SYSTEMD_ONLY, normalise=normalise)
    assert not problems, f"{_shown(tie)} ({tie}):\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("tie", "state"),
    [
        ("salt-call --out=yaml cloudassist.status", "running"),
        ("salt-call --out=yaml cloudassist.stop test=True", "running"),
        ("salt-call --out=yaml cloudassist.stop", "running"),
        ("salt-call --out=yaml cloudassist.start", "stopped"),
    ],
)
def test_shown_output_of_a_call(tie, state, salt_call, client, facts):
    client.ensure_running() if state == "running" else client.ensure_stopped()
    _check(tie, _call(salt_call, tie), facts)


STATE_TIE = "salt-call state.apply test=True of the SLS cloud-assistant-off: cloudassist.stopped"


def test_shown_output_of_a_state(salt_cli, minion, client, sls_dir, facts):
    sls = yaml.safe_load(STATE_TIE.split(" of the SLS ", 1)[1])
    (sls_dir / "docs_shown_state.sls").write_text(yaml.safe_dump(sls))
    client.ensure_running()
    results = _results(_apply(salt_cli, minion, "docs_shown_state", "test=True"), STATE_TIE)
    ((_, result),) = results.items()
    real = {
        "ID": result["__id__"],
        "Function": next(iter(sls.values())),
        "Result": result["result"],
        "Comment": result["comment"],
        "Changes": result["changes"],
    }
    shown = parse_highstate(_shown(STATE_TIE).text)
    problems = differences(shown, real, normalise=facts)
    assert not problems, "\n".join(problems)


def test_the_checks_fail_on_a_doctored_output(salt_call, client, facts):
    client.ensure_running()
    real = _call(salt_call, "salt-call cloudassist.stop test=True")
    shown = _shown("salt-call --out=yaml cloudassist.stop test=True").data
    assert not differences(shown, real, host=HOST, extra=SYSTEMD_ONLY, normalise=facts)
    for doctored in (
        {"local": {**shown["local"], "changed": False}},
        {"local": {**shown["local"], "comment": "would stop it"}},
        {"local": {**shown["local"], "stopped": True}},
    ):
        assert differences(doctored, real, host=HOST, extra=SYSTEMD_ONLY, normalise=facts)
    assert parse_nested("local:\n    True\n") == {"local": True}
