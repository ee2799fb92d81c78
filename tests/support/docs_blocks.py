"""The YAML and text examples of the documentation, extracted so a test can run or check each.

The documentation is :func:`readme.doc_files` (README.md and ``docs/**/*.md``).  Every fenced
```` ```yaml ```` and ```` ```text ```` block is a :class:`Block`.  A block that shows what a
command printed is tied to that command by an HTML comment, the last non-blank line before its
fence::

    <!-- output-of: salt-call --out=yaml cloudassist.stop -->

:func:`classify` gives each block its class: ``output`` (tied), ``sls`` (states of
cloudassist), ``config`` (minion or master configuration: ``cloudassist:``, ``beacons:``,
``reactor:``), ``reactor sls`` (``local.``/``runner.`` calls); anything else is None, and the
tests fail on it unless it is on their list of blocks that are neither example nor output.

The shown outputs are compared with what the real call returns by :func:`differences`, after
:func:`parse_nested` (Salt's default ``nested`` output) or :func:`parse_highstate` (a state
run's default output) where the page shows text.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import jinja2
import yaml

from readme import FENCE, each_file

TIE = re.compile(r"^\s*<!--\s*output-of:\s*(.+?)\s*-->\s*$")
LANGUAGES = ("yaml", "text")
CONFIG_KEYS = {"cloudassist", "beacons", "reactor"}
UNIT = "tests/unit/test_docs_examples.py"
INTEGRATION = "tests/integration/test_docs_examples.py"
# Every output-of tie the docs may use, and the test module that checks its block.
TIES = {
    "bin/cloudassist": UNIT,
    "the beacon, when the client stops": UNIT,
    "salt-run cloudassist.report": UNIT,
    "salt-call --out=yaml cloudassist.status": INTEGRATION,
    "salt-call --out=yaml cloudassist.stop test=True": INTEGRATION,
    "salt-call --out=yaml cloudassist.stop": INTEGRATION,
    "salt-call --out=yaml cloudassist.start": INTEGRATION,
    "salt-call state.apply test=True of the SLS cloud-assistant-off: cloudassist.stopped": (
        INTEGRATION
    ),
}
# What a reactor SLS's Jinja sees: the event's data (fleet.md's example event).
REACTOR_DATA = {"id": "web-01", "pids_before": [1342]}


@dataclasses.dataclass(frozen=True)
class Block:
    file: str  # relative to the checkout
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    tie: str | None  # the command whose output it shows, or None

    def __str__(self):
        return f"{self.file}:{self.line}: ```{self.lang}"

    @property
    def data(self):
        """The YAML, Jinja rendered with :data:`REACTOR_DATA` first (a reactor SLS has it)."""
        return yaml.safe_load(jinja2.Template(self.text).render(data=REACTOR_DATA))


def blocks(path: Path | str, name: str | None = None) -> list[Block]:
    """Every yaml and text block of one Markdown file, in order."""
    name = name or Path(path).name
    out, fence, body, start, tie, last = [], None, [], 0, None, ""
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if FENCE.match(line):
            if fence is None:
                fence, body, start = FENCE.match(line).group(1), [], number
                match = TIE.match(last)
                tie = match.group(1) if match else None
            else:
                if fence in LANGUAGES:
                    out.append(Block(name, start, fence, "\n".join(body) + "\n", tie))
                fence = None
            last = line
            continue
        if fence is not None:
            body.append(line)
        elif line.strip():
            last = line
    return out


def all_blocks(checkout: Path | str) -> list[Block]:
    return each_file(checkout, blocks)


def dangling_ties(path: Path | str) -> list[int]:
    """Lines of ``output-of`` comments that no yaml or text block follows."""
    lines = Path(path).read_text().splitlines()
    out = []
    for number, line in enumerate(lines, 1):
        if TIE.match(line):
            after = next((rest for rest in lines[number:] if rest.strip()), "")
            match = FENCE.match(after)
            if not (match and match.group(1) in LANGUAGES):
                out.append(number)
    return out


def state_functions(body) -> list[str]:
    """The ``module.function`` names of one SLS id's body (a string, or a dict of them)."""
    if isinstance(body, str):
        return [body]
    if isinstance(body, dict):
        return [key for key in body if isinstance(key, str) and "." in key]
    return []


def classify(block: Block) -> str | None:
    if block.tie:
        return "output"
    if block.lang != "yaml":
        return None
    try:
        data = block.data
    except (yaml.YAMLError, jinja2.TemplateError):
        return None
    if not isinstance(data, dict) or not data:
        return None
    if set(data) <= CONFIG_KEYS:
        return "config"
    functions = [f for body in data.values() for f in state_functions(body)]
    if len(functions) != len(data):
        return None  # an id with no function, or with two
    if all(f.startswith("cloudassist.") for f in functions):
        return "sls"
    if all(f.startswith(("local.", "runner.")) for f in functions):
        return "reactor sls"
    return None


def sls_states(block: Block) -> dict:
    """``{id: SLS text of that id alone}``: the ids of an SLS example are alternatives (a
    ``running`` beside a ``stopped``), each applied on its own."""
    return {
        state_id: yaml.safe_dump({state_id: body}, default_flow_style=False)
        for state_id, body in block.data.items()
    }


# --- Salt's text outputs ------------------------------------------------------------------

_SCALARS = {"True": True, "False": False, "None": None}


def _scalar(text):
    if text in _SCALARS:
        return _SCALARS[text]
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def parse_nested(text: str):
    """The data Salt's ``nested`` outputter printed as ``text`` (``----------`` opens a dict,
    ``key:`` takes the more indented lines below it, ``- item`` is a list item, ``|_`` one
    that is a dict or a list; a ``...`` line, the docs' elision, is skipped)."""
    rows = [
        (len(line) - len(line.lstrip()), line.strip())
        for line in text.splitlines()
        if line.strip() and line.strip() not in ("----------", "...")
    ]
    if not rows:
        return None
    value, end = _parse(rows, 0)
    if end != len(rows):
        raise ValueError(f"cannot read nested output from line {rows[end]!r}")
    return value


def _parse(rows, i):
    indent, first = rows[i]
    if first.startswith("- ") or first == "|_":
        items = []
        while i < len(rows) and rows[i][0] == indent and rows[i][1].startswith(("- ", "|_")):
            if rows[i][1] == "|_":  # a list item that is a dict or a list: the rows below
                item, i = _parse(rows, i + 1)
                items.append(item)
                continue
            items.append(_scalar(rows[i][1][2:]))
            i += 1
        return items, i
    if not first.endswith(":"):
        return _scalar(first), i + 1
    out = {}
    while i < len(rows) and rows[i][0] == indent and rows[i][1].endswith(":"):
        key = _scalar(rows[i][1][:-1])
        i += 1
        if i < len(rows) and rows[i][0] > indent:
            out[key], i = _parse(rows, i)
        else:
            out[key] = None
    return out, i


def parse_highstate(text: str) -> dict:
    """One state's result as a state run prints it: ``ID``, ``Function``, ``Result``,
    ``Comment`` (one line each), then ``Changes`` in the ``nested`` output."""
    head, _, changes = text.partition("Changes:")
    out = {}
    for line in head.splitlines():
        if line.strip():
            label, _, value = line.strip().partition(": ")
            out[label] = _scalar(value.strip())
    out["Changes"] = parse_nested(changes) or {}
    return out


# --- shown against real ---------------------------------------------------------------------


def normaliser(pairs):
    """A function that writes each ``(shown, real)`` pair's both sides as ``<n>``: a host's
    facts (its stop command, its init system) read the same in a comment from either host."""
    pairs = sorted((p for p in pairs if p[0] and p[1]), key=lambda p: -len(p[0]))

    def shown(text):
        for n, (value, _) in enumerate(pairs):
            text = text.replace(value, f"<{n}>")
        return text

    def real(text):
        for n, (_, value) in sorted(enumerate(pairs), key=lambda p: -len(p[1][1])):
            text = text.replace(value, f"<{n}>")
        return text

    return shown, real


def differences(shown, real, *, host=(), free=(), extra=(), normalise=None, path=()):
    """What ``shown`` has that ``real`` does not: a key of the shown output missing from the
    real one (except at the paths in ``extra``: keys the real setting cannot give), or a value
    that differs (except under the paths in ``host``, whose values depend on the host, and in
    ``free``, dicts keyed by data such as minion ids).  Paths are tuples of keys; strings are
    compared after ``normalise`` (a pair of functions from :func:`normaliser`)."""
    where = "/".join(map(str, path)) or "the output"
    if path in free:
        return [] if isinstance(real, dict) == isinstance(shown, dict) else [f"{where}: type"]
    if isinstance(shown, dict):
        if not isinstance(real, dict):
            return [f"{where}: shown a dict, the real output has {real!r}"]
        out = []
        for key, value in shown.items():
            if key not in real:
                if path + (key,) not in extra:
                    out.append(f"{where}: the real output has no {key!r}")
                continue
            out.extend(
                differences(
                    value,
                    real[key],
                    host=host,
                    free=free,
                    extra=extra,
                    normalise=normalise,
                    path=path + (key,),
                )
            )
        return out
    if any(path[: len(h)] == h for h in host):
        return []
    if shown is None and real in ([], {}, ""):
        return []  # the nested outputter prints an empty value as nothing
    if isinstance(shown, str) and isinstance(real, str) and normalise:
        shown, real = normalise[0](shown), normalise[1](real)
    if shown != real:
        return [f"{where}: shown {shown!r}, the real output has {real!r}"]
    return []
