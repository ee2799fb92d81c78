"""The YAML and text blocks of the docs (issue 16): each has a class, each shown output is
tied to one command, and what can be checked without a master is checked here.

``tests/support/docs_blocks.py`` extracts the blocks, classifies them and compares a shown
output with a real one.  Here: the configuration blocks against the code (the ``cloudassist:``
keys against the keys the code reads, ``beacons:`` through the beacon's own ``validate``,
``reactor:`` against the reactor SLS blocks and the beacon's tags), the reactor SLS blocks
(rendered as the master renders them; tests/integration/test_beacon.py runs them), and the
outputs whose real call needs no master: the beacon's event (its pure ``watch.changes``), the
report (``summarize`` of the fleet the page describes) and ``bin/cloudassist`` without a
client.  The SLS blocks and the other outputs run in tests/integration/test_docs_examples.py.
Each checker is also shown failing on a doctored block.
"""

from __future__ import annotations

import ast
import fnmatch
import re

import pytest

import _cloudassist_report as reports
import config_keys
import docs_blocks
import readme
from docs_blocks import Block, classify, differences, parse_nested

from .lib.helpers import error, ok, status
from .test_beacon import beacon, watch
from .test_try_it import NO_CLIENT_HERE, run_cloudassist

ROOT = config_keys.ROOT
BLOCKS = docs_blocks.all_blocks(ROOT)
HERE = "tests/unit/test_docs_examples.py"

# Blocks that are neither an example nor a command's output: (file, re.match on the text, why).
NOT_EXAMPLES = [
    (
        "docs/development.md",
        r"_modules/cloudassist\.py ",
        "the checkout's layout, one file a line: a listing, not a command's output",
    ),
]


def _not_example(block):
    return any(
        block.file == file and re.match(pattern, block.text) for file, pattern, _ in NOT_EXAMPLES
    )


def _of(kind):
    return [pytest.param(b, id=f"{b.file}:{b.line}") for b in BLOCKS if classify(b) == kind]


def _tied(tie):
    found = [b for b in BLOCKS if b.tie == tie]
    assert len(found) == 1, f"one block shows the output of {tie!r}, not {len(found)}"
    return found[0]


# --- every block has a class, every output its command --------------------------------------


def test_every_block_has_a_class():
    unclassified = [str(b) for b in BLOCKS if classify(b) is None and not _not_example(b)]
    assert not unclassified, (
        "yaml/text blocks of the docs in no class (an SLS of cloudassist states, configuration, "
        "a reactor SLS, or an output tied to its command by <!-- output-of: COMMAND --> before "
        "it; else add it to NOT_EXAMPLES with the reason):\n" + "\n".join(unclassified)
    )
    kinds = {classify(b) for b in BLOCKS}
    assert kinds >= {"sls", "config", "reactor sls", "output"}, kinds


def test_every_output_is_tied_to_a_command_that_a_test_checks():
    dangling = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in readme.doc_files(ROOT)
        for line in docs_blocks.dangling_ties(path)
    ]
    assert not dangling, f"output-of comments with no yaml/text block after them: {dangling}"
    unchecked = [f"{b}: {b.tie}" for b in BLOCKS if b.tie and b.tie not in docs_blocks.TIES]
    assert not unchecked, (
        f"outputs tied to a command no test checks (docs_blocks.TIES): {unchecked}"
    )
    for tie, module in docs_blocks.TIES.items():
        _tied(tie)
        assert (ROOT / module).is_file(), module
    mine = {tie for tie, module in docs_blocks.TIES.items() if module == HERE}
    assert mine == set(UNIT_CHECKS), mine ^ set(UNIT_CHECKS)


def test_a_text_block_with_no_tie_has_no_class(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "Run it:\n\n```text\nlocal:\n    True\n```\n\n"
        "<!-- output-of: salt-call test.ping -->\n\n```text\nlocal:\n    True\n```\n"
        "<!-- output-of: salt-call test.true -->\n\nno block\n"
    )
    found = docs_blocks.blocks(page)
    assert [(b.line, b.tie, classify(b)) for b in found] == [
        (3, None, None),
        (10, "salt-call test.ping", "output"),
    ]
    assert docs_blocks.dangling_ties(page) == [14]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("a:\n  cloudassist.running\n", "sls"),
        ("a:\n  cloudassist.stopped:\n    - enable: False\n", "sls"),
        ("a:\n  service.running\n", None),
        ("a:\n  - name: x\n", None),
        ("beacons:\n  cloudassist: []\n", "config"),
        ("cloudassist:\n  timeout: 5\nmaster: m\n", None),
        ("a:\n  local.cloudassist.start:\n    - tgt: {{ data['id'] }}\n", "reactor sls"),
        ("- just\n- a list\n", None),
    ],
)
def test_classify(text, kind):
    assert classify(Block("p.md", 1, "yaml", text, None)) == kind


# --- configuration ------------------------------------------------------------------------


def config_problems(block):
    """What a configuration block has that the code does not take."""
    problems = []
    data = block.data
    read = {key for scope, key in config_keys.code_keys() if scope == "cloudassist"}
    unknown = set(data.get("cloudassist") or {}) - read
    if unknown:
        problems.append(f"cloudassist: keys the code does not read: {sorted(unknown)}")
    for name, config in (data.get("beacons") or {}).items():
        if name != "cloudassist":
            problems.append(f"a beacon that is not this extension's: {name}")
            continue
        valid, why = beacon.validate(config)
        if not valid:
            problems.append(f"the beacon's validate refuses it: {why}")
    for mapping in data.get("reactor") or []:
        problems.extend(_reactor_problems(block, mapping))
    return problems


def _reactor_problems(block, mapping):
    tags = [f"salt/beacon/web-01/cloudassist/{kind}" for kind in _event_kinds()]
    paths = {_path_comment(b) for b in BLOCKS if b.file == block.file} - {None}
    problems = []
    for pattern, files in mapping.items():
        if not any(fnmatch.fnmatchcase(tag, pattern) for tag in tags):
            problems.append(f"{pattern!r} matches no tag of the beacon ({tags})")
        missing = set(files) - paths
        if missing:
            problems.append(f"reactor files not shown on {block.file}: {sorted(missing)}")
    return problems


def _event_kinds():
    return [watch.STOPPED, watch.STARTED, watch.RESTARTED, watch.VERSION, watch.STARTUP]


def _path_comment(block):
    """The path a block's first line names (``# /srv/reactor/x.sls``), or None."""
    match = re.match(r"# (/\S+)\n", block.text)
    return match.group(1) if match else None


@pytest.mark.parametrize("block", _of("config"))
def test_configuration_is_what_the_code_takes(block):
    assert not config_problems(block), f"{block}: {config_problems(block)}"


@pytest.mark.parametrize(
    "text",
    [
        "cloudassist:\n  timout: 5\n",
        "beacons:\n  cloudassist:\n    - interval: '10'\n",
        "beacons:\n  cloudassist:\n    - emit_at_startup: True\n",
        "beacons:\n  inotify: []\n",
        "reactor:\n  - 'salt/beacon/*/cloudassist/stoped':\n"
        "    - /srv/reactor/cloudassist-start.sls\n",
        "reactor:\n  - 'salt/beacon/*/cloudassist/stopped':\n    - /srv/reactor/elsewhere.sls\n",
    ],
)
def test_the_configuration_check_fails_on_a_doctored_block(text):
    assert config_problems(Block("docs/fleet.md", 1, "yaml", text, None))


# --- reactor SLS --------------------------------------------------------------------------


def _module_functions():
    tree = ast.parse((ROOT / "_modules" / "cloudassist.py").read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def reactor_problems(block):
    problems = [] if _path_comment(block) else [f"{block}: no '# /path' first line"]
    for state_id, body in block.data.items():
        for function in docs_blocks.state_functions(body):
            kind, _, call = function.partition(".")
            module, _, name = call.partition(".")
            if kind == "local" and module == "cloudassist" and name not in _module_functions():
                problems.append(f"{state_id}: cloudassist has no {name}")
    return problems


@pytest.mark.parametrize("block", _of("reactor sls"))
def test_reactor_sls_renders_and_calls_what_exists(block):
    assert not reactor_problems(block)


def test_the_reactor_check_fails_on_a_doctored_block():
    text = "# /srv/reactor/x.sls\nx:\n  local.cloudassist.begin:\n    - tgt: {{ data['id'] }}\n"
    assert reactor_problems(Block("p.md", 1, "yaml", text, None))


# --- outputs: the beacon's event ----------------------------------------------------------


def _poll(shown, suffix):
    """The snapshot of one poll an event shows: ``suffix`` "" (this poll) or "_before"."""
    return watch.Snapshot(
        shown["binary"],
        shown["installed"],
        tuple(shown["pids" + suffix]),
        shown["version" + suffix],
        shown["running_version" + suffix],
    )


def beacon_event_problems(block):
    """The shown event against the one ``watch.changes`` makes of the two polls it shows."""
    shown = block.data
    tag = re.search(r"^# tag: (\S+)$", block.text, re.M).group(1)
    before, after = _poll(shown, "_before"), _poll(shown, "")
    prefix = f"salt/beacon/{shown.get('id')}/cloudassist/"
    events = {prefix + e["tag"]: e for e in watch.changes(before, after)}
    if tag not in events:
        return [f"those polls send {sorted(events)}, not {tag}"]
    real = {k: v for k, v in events[tag].items() if k != "tag"} | {"id": shown.get("id")}
    return differences(shown, real) + [f"not shown: {k}" for k in set(real) - set(shown)]


def test_the_beacon_event_is_the_beacons():
    assert not beacon_event_problems(_tied("the beacon, when the client stops"))


@pytest.mark.parametrize(
    ("old", "new"),
    [("changes: [stopped]", "changes: [started]"), ("pids: []", "pids: [1]"), ("id: web-01\n", "")],
)
def test_the_beacon_event_check_fails_on_a_doctored_block(old, new):
    block = _tied("the beacon, when the client stops")
    doctored = Block(block.file, block.line, block.lang, block.text.replace(old, new, 1), block.tie)
    assert doctored.text != block.text
    assert beacon_event_problems(doctored)


# --- outputs: the report ------------------------------------------------------------------

# The fleet fleet.md describes: four minions and one that is down.
BLOCKED_SYSVINIT = (
    "the branch 'Linux, client newer than 1.0.1.308, sysvinit' needs /etc/init.d/aliyun-service"
)


def _updates(frozen, **kwargs):
    """A status whose client's self-update is frozen or allowed (``status["updates"]``)."""
    return dict(status(**kwargs), updates={"frozen": frozen, "bootstrap_frozen": frozen})


FLEET = {
    "web1": ok(_updates(False, version="2.2.0.46", init="sysvinit", enabled=True)),
    "web2": ok(_updates(True, version="2.2.4.1065", init="sysvinit", running=False, enabled=False)),
    "db2": ok(_updates(True, init="sysvinit", enabled=False, blocked=BLOCKED_SYSVINIT)),
    "web3": error(
        "ERROR: `/usr/sbin/aliyun-service -v` exited with code 1: 2.2.3.578. "
        "The client looks broken; reinstall it"
    ),
}
EXPECTED = [*FLEET, "web9"]


def report_problems(block):
    real = reports.summarize(FLEET, EXPECTED).as_dict()
    # `blocked` is keyed by the reason, which the page shortens with "...".
    return differences(parse_nested(block.text), real, free={("blocked",)}) + [
        f"not shown: {key}" for key in set(real) - set(parse_nested(block.text))
    ]


def test_the_report_is_the_reports_of_that_fleet():
    assert not report_problems(_tied("salt-run cloudassist.report"))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("    running:\n        2", "    running:\n        3"),
        ("1 did not answer", "1 down"),
        ("retcode:\n    1", "retcode:\n    0"),
        ("    - web2\n", "    - web1\n"),
    ],
)
def test_the_report_check_fails_on_a_doctored_block(old, new):
    block = _tied("salt-run cloudassist.report")
    doctored = Block(block.file, block.line, block.lang, block.text.replace(old, new, 1), block.tie)
    assert doctored.text != block.text
    assert report_problems(doctored)


# --- outputs: bin/cloudassist without a client --------------------------------------------


def bin_cloudassist_problems(shown_text, proc, conf):
    """The status part compared as data (its init system is this host's), then the lines
    bin/cloudassist adds, with this test's configuration folder read as the docs' own."""
    shown_status, _, shown_hint = shown_text.partition("\n\n")
    problems = differences(
        parse_nested(shown_status), parse_nested(proc.stdout), host={("local", "init_system")}
    )
    real_hint = proc.stderr[proc.stderr.index("bin/cloudassist: ") :].replace(
        str(conf), ".venv/salt-local"
    )
    for shown, real in zip(shown_hint.splitlines(), real_hint.splitlines(), strict=False):
        if not shown.startswith("  init system:") and shown != real:
            problems.append(f"shown {shown!r}, bin/cloudassist says {real!r}")
    if len(shown_hint.splitlines()) != len(real_hint.rstrip("\n").splitlines()):
        problems.append(f"bin/cloudassist says:\n{real_hint}")
    return problems


@NO_CLIENT_HERE
def test_bin_cloudassist_without_a_client_says_what_the_page_shows(tmp_path):
    conf = tmp_path / "salt-local"
    proc = run_cloudassist(conf)
    assert proc.returncode == 0, proc
    shown = _tied("bin/cloudassist").text
    assert not bin_cloudassist_problems(shown, proc, conf)
    doctored = shown.replace("        False", "        True", 1)
    assert bin_cloudassist_problems(doctored, proc, conf)
    doctored = shown.replace("  bin/test\n", "  bin/tests\n", 1)
    assert bin_cloudassist_problems(doctored, proc, conf)


UNIT_CHECKS = {
    "the beacon, when the client stops": test_the_beacon_event_is_the_beacons,
    "salt-run cloudassist.report": test_the_report_is_the_reports_of_that_fleet,
    "bin/cloudassist": test_bin_cloudassist_without_a_client_says_what_the_page_shows,
}


# --- the helpers --------------------------------------------------------------------------


def test_parse_nested():
    text = (
        "local:\n    ----------\n    a:\n        1\n    b:\n        - x\n        - y\n"
        "    c:\n    d:\n        ----------\n        e:\n            True\n    ...\n"
        "    f:\n        |_\n          ----------\n          g:\n              1\n"
        "        |_\n          ----------\n          g:\n              2\n"
    )
    assert parse_nested(text) == {
        "local": {"a": 1, "b": ["x", "y"], "c": None, "d": {"e": True}, "f": [{"g": 1}, {"g": 2}]}
    }


def test_parse_highstate():
    text = (
        "          ID: x\n    Function: cloudassist.stopped\n      Result: None\n"
        "     Comment: would run `a: b`\n     Changes:\n              ----------\n"
        "              running:\n                  ----------\n                  new:\n"
        "                      False\n"
    )
    assert docs_blocks.parse_highstate(text) == {
        "ID": "x",
        "Function": "cloudassist.stopped",
        "Result": None,
        "Comment": "would run `a: b`",
        "Changes": {"running": {"new": False}},
    }


def test_differences():
    real = {"a": 1, "b": {"c": "run `x stop` now", "d": [1]}, "e": 2}
    assert differences({"a": 1, "b": {"c": "run `x stop` now"}}, real) == []
    assert differences({"a": 2}, real) == ["a: shown 2, the real output has 1"]
    assert differences({"z": 1}, real) == ["the output: the real output has no 'z'"]
    assert differences({"z": 1}, real, extra={("z",)}) == []
    assert differences({"b": {"d": [2]}}, real, host={("b",)}) == []
    assert differences({"b": {"x": 1}}, real, host={("b",)}) != []  # keys still count
    assert differences({"b": {"q": 1}}, real, free={("b",)}) == []
    shown = {"b": {"c": "run `y halt` now"}}
    assert differences(shown, real) != []
    normalise = docs_blocks.normaliser([("y halt", "x stop")])
    assert differences(shown, real, normalise=normalise) == []
    assert differences({"b": {"c": None}}, {"b": {"c": []}}) == []  # nested prints [] as nothing
