"""docs/troubleshooting.md against the messages the code can produce: none missing, none stale.

The code side is an AST scan (:func:`templates`): the message of every error constructed (the
``_cloudassist_errors`` failures, ``CommandExecutionError``, ``SaltInvocationError``, any
``raise`` in an entry file), every ``return False, why`` (``__virtual__``, the beacon's
``validate``), the runner's ``Error``, the grain's ``error``, a plan's ``blocked``, a state's
comment in an ``except``, the loggers' errors and warnings, and what the helpers in
:data:`HELPERS` return.  Each message becomes a pattern: its constant text, and a wildcard for
each formatted part.  The page side is every table whose first column is ``error says`` or
``warning says``: each cell holds examples as code spans separated by `` / ``, where ``...``,
``N`` and ``<word>`` stand for any text.  A message and an example are partners when some text
fits both patterns.
"""

import ast
import functools
import pathlib
import re
import string

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "troubleshooting.md"
ENTRIES = [
    ROOT / kind / "cloudassist.py" for kind in ("_states", "_grains", "_beacons", "_runners")
]
SALT_ERRORS = {"CommandExecutionError", "SaltInvocationError"}
LOGGED = {"error": "error", "warning": "warning"}  # log.<level> -> the kind of message it is

# Functions whose returned text is a message (the kinds it can be), though no sink sees it made.
HELPERS = {
    ("_cloudassist_install.py", "refusal"): ("error",),
    ("_cloudassist_init_system.py", "_undecided"): ("error",),
    # An error only inside others (Blocked, NotVerified), whose rows show its start.
    ("_cloudassist_records.py", "suspects_text"): ("warning",),
    ("_cloudassist_act.py", "_verify_stopped"): ("warning",),
    ("_cloudassist_plan.py", "_watchdog_boot_steps"): ("warning",),
    # The heading of the host's words, which end a failed action's error (Failure.__str__).
    ("_cloudassist_errors.py", "said_heading"): ("error",),
}
# Module-level tables of text that is part of a message (here: the end of a TimedOut's).
TABLES = {("_cloudassist_host.py", "JOB_GOES_ON"): "error"}
# Messages passed through from elsewhere, by (file, the expression as written): why each needs
# no row of its own.
PASSED_THROUGH = {
    ("_cloudassist_errors.py", "str(failure)"): "a Failure's own message, checked where raised",
    ("cloudassist.py", "exc"): "errors.Failed(exc): a Failure's message, checked where raised",
    ("cloudassist.py", "failure"): "_after's PartlyDone cause: a Failure, checked where raised",
    ("cloudassist.py", "plan"): (
        "windows_left_behind(plan, ...): a LeftBehind made in _cloudassist_package, checked there"
    ),
    ("_cloudassist_act.py", "exc"): "PartlyDone's cause: a Failure, checked where raised",
    ("_cloudassist_updates.py", "exc"): "PartlyDone's cause: a Failure, checked where raised",
    ("_cloudassist_package.py", "failed"): (
        "remove_files' CommandFailed, raised alone or as PartlyDone's cause: checked where made"
    ),
    ("_cloudassist_act.py", "plan.blocked"): "a plan's blocked, checked where it is written",
    ("cloudassist.py", "plan.blocked"): "a plan's blocked, checked where it is written",
    ("_cloudassist_host.py", "f'{exc}. {goes_on.format(branch.service)}'"): (
        "run's TimedOut message and a JOB_GOES_ON sentence, both checked"
    ),
    ("cloudassist.py", "'cloudassist: %s'"): "the vendor's STOP_WARNING, checked as a constant",
    ("cloudassist.py", "refusal"): "install.refusal's text, checked in HELPERS",
    ("cloudassist.py", "'cloudassist grain: %s'"): "an unexpected exception, logged as it is",
    (
        "cloudassist.py",
        "str(exc)",
    ): "a state's comment: the execution module's error, checked there",
}
WILD = None  # in a pattern: any text, empty too


# --- patterns ----------------------------------------------------------------------------------


def _is_text(node):
    """Whether ``node`` builds text from a constant of its own (not just passes a value)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _is_text(node.left) or _is_text(node.right)
    if isinstance(node, ast.IfExp):
        return _is_text(node.body) or _is_text(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format" and _is_text(node.func.value)
    return False


def _from_format(text, args=(), consts=None):
    """``text.format(*args)``: an argument that is a text or a name for one is followed (not a
    choice: independent choices would multiply into messages the code never gives)."""
    parts, auto = [], 0
    for literal, field, _, _ in string.Formatter().parse(text):
        parts.append(literal)
        if field is None:
            continue
        index = int(field) if field.isdigit() else auto if field == "" else None
        auto += field == ""
        arg = args[index] if index is not None and index < len(args) else None
        named = isinstance(arg, ast.Name) and arg.id in (consts or {})
        plain = isinstance(arg, (ast.Constant, ast.JoinedStr)) and _is_text(arg)
        parts.append(_patterns(arg, consts) if named or plain else WILD)
    return _product(parts)


def _from_percent(text):
    pieces = re.split(r"%[-#0 +]*\d*(?:\.\d+)?[sdrifg]", text.replace("%%", "\0"))
    parts = [pieces[0].replace("\0", "%")]
    for piece in pieces[1:]:
        parts += [WILD, piece.replace("\0", "%")]
    return [parts]


def _product(parts):
    """The patterns of a sequence whose items are text, WILD or a list of alternatives."""
    out = [[]]
    for part in parts:
        options = part if isinstance(part, list) else [[part]]
        out = [a + b for a in out for b in options]
    return out


def _tidy(parts):
    """Adjacent texts joined, no empty text, no two WILDs in a row."""
    out = []
    for part in parts:
        if part == "":
            continue
        if out and (part is WILD) == (out[-1] is WILD):
            if part is not WILD:
                out[-1] += part
            continue
        out.append(part)
    return out


def patterns(node, consts=None):
    """The patterns (lists of text and WILD) the expression ``node`` can give; ``consts``: the
    names that stand for one text each (e.g. a module's constant)."""
    return [_tidy(parts) for parts in _patterns(node, consts or {})]


def _patterns(node, consts):
    if isinstance(node, ast.Name) and node.id in consts:
        return [p for value in consts[node.id] for p in _patterns(value, {})]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [[node.value]]
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(value.value)
            elif isinstance(value.value, ast.Name) and value.value.id in consts:
                parts.append(_patterns(value.value, consts))
            else:
                parts.append(WILD)
        return _product(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [a + b for a in _patterns(node.left, consts) for b in _patterns(node.right, consts)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_text(node.left):
        if isinstance(node.left, ast.Constant):
            return _from_percent(node.left.value)
        return [[WILD]]
    if isinstance(node, ast.IfExp):
        return _patterns(node.body, consts) + _patterns(node.orelse, consts)
    if _is_text(node) and isinstance(node, ast.Call):
        base = node.func.value
        if isinstance(base, ast.Constant):
            return _from_format(base.value, node.args, consts)
        return [[WILD]]
    return [[WILD]]


class _Mark:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


ANY, VALUE = _Mark("ANY"), _Mark("VALUE")  # in an example: `...`; `N` or `<word>`


def example_pattern(text):
    """An example from the page as a list of text, ANY (``...``) and VALUE (``N``, ``<word>``)."""
    parts = []
    for piece in re.split(r"(\.\.\.|\bN\b|<[a-z][\w ]*>)", text):
        if piece == "...":
            parts.append(ANY)
        elif piece == "N" or re.fullmatch(r"<[a-z][\w ]*>", piece):
            parts.append(VALUE)
        elif piece:
            parts.append(piece)
    # "... text ...": the spaces beside a cut belong to neither side.
    if len(parts) > 1 and parts[0] is ANY and _text(parts[1]):
        parts[1] = parts[1].lstrip()
    if len(parts) > 1 and parts[-1] is ANY and _text(parts[-2]):
        parts[-2] = parts[-2].rstrip()
    return parts


def _text(part):
    return isinstance(part, str)


def _chars(parts):
    return [p for part in parts for p in (list(part) if _text(part) else [part])]


CUT = 10


def _run(symbols, start, step):
    """The text symbols from ``start`` on (``step`` -1: backwards), in reading order."""
    out, k = [], start
    while 0 <= k < len(symbols) and _text(symbols[k]):
        out.append(symbols[k])
        k += step
    return out if step > 0 else out[::-1]


def _found(t, run):
    """Where the constant text ``run`` begins in the message's symbols ``t``."""
    n = len(run)
    return {i for i in range(len(t) - n + 1) if t[i : i + n] == run} if n else set()


def fits(message, example):
    """Whether ``example`` shows ``message`` (a pattern of :func:`patterns`).

    The message's constant text must be in the example as it is, except before a leading or
    after a trailing ``...`` (the example shows only part of the message).  Each formatted part
    of the message stands, in the example, for one ``...``, or for a stretch of text, ``N`` and
    ``<word>`` (a value written out), or for nothing.
    """
    t, e = _chars(message), _chars(example)
    if not e:
        return False
    # A leading or trailing `...` cuts the message where the example's text next to it is the
    # message's constant text (CUT characters of it, or all of it when shorter), never inside a
    # formatted part.
    first, last = _run(e, 1, 1)[:CUT], _run(e, len(e) - 2, -1)[-CUT:]
    todo = [(0, 0, False, 0)]
    if e[0] is ANY and first:
        todo += [(i + len(first), 1 + len(first), False, 0) for i in _found(t, first)]
    tail = e[-1] is ANY and bool(last)
    seen = set()
    while todo:
        state = todo.pop()
        if state in seen:
            continue
        seen.add(state)
        i, j, absorbing, run = state
        if i == len(t) and j == len(e):
            return True
        if tail and j == len(e) - 1 and not absorbing and run >= len(last):
            return True
        x = t[i] if i < len(t) else False
        y = e[j] if j < len(e) else False
        if absorbing:  # x is WILD, taking the example's text and values
            todo.append((i + 1, j, False, 0))
            if y is not False and y is not ANY:
                todo.append((i, j + 1, True, 0))
            continue
        if x is WILD:
            todo.append((i + 1, j, False, 0))
            if y is ANY or y is VALUE:
                todo.append((i + 1, j + 1, False, 0))
            if y is not False and y is not ANY:
                todo.append((i, j + 1, True, 0))
        elif x is not False and y is not False and _text(y) and x == y:
            todo.append((i + 1, j + 1, False, min(run + 1, CUT)))
    return False


def shown(parts):
    return "".join("…" if part is WILD else part for part in parts)


def _passes_through(parts):
    return not re.search(r"[A-Za-z]", "".join(p for p in parts if p is not WILD))


# --- the code ----------------------------------------------------------------------------------


def error_names():
    tree = ast.parse((ROOT / "_modules" / "_cloudassist_errors.py").read_text())
    return {node.name for node in tree.body if isinstance(node, ast.ClassDef)} | SALT_ERRORS


def _called(node):
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _in_except(tree):
    """The ids of the nodes inside an ``except`` block."""
    inside = set()
    for handler in ast.walk(tree):
        if isinstance(handler, ast.ExceptHandler):
            inside.update(id(node) for stmt in handler.body for node in ast.walk(stmt))
    return inside


def _texts(node):
    """The text-building expressions in ``node``, outermost only (not in calls' arguments)."""
    if _is_text(node):
        return [node]
    if isinstance(node, ast.Call):
        return []
    return [found for child in ast.iter_child_nodes(node) for found in _texts(child)]


def _percent(node):
    """A logger's message: its ``%s`` are formatted in."""
    if not _is_text(node):
        return node
    wrapped = ast.BinOp(left=node, op=ast.Mod(), right=ast.Constant(None))
    wrapped.written = node
    return wrapped


def _formatted(node):
    """A text ``.format()`` is called on later."""
    call = ast.Call(func=ast.Attribute(value=node, attr="format"), args=[], keywords=[])
    return call if isinstance(node, ast.Constant) else node


def constants(tree):
    """The names ``tree`` only ever assigns text to: name -> the expressions (alternatives)."""
    values = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    values.setdefault(target.id, []).append(node.value)
    return {name: nodes for name, nodes in values.items() if all(map(_is_text, nodes))}


def sites(path, names):
    """``(kind, line, node, strict)`` of every message ``path`` makes; ``strict``: the node must
    build text or be listed in PASSED_THROUGH."""
    tree = ast.parse(path.read_text())
    entry = path in ENTRIES or path.name == "cloudassist.py"
    in_except = _in_except(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = _called(node)
            if called in names and (node.args or node.keywords):
                if node.args:
                    found.append(("error", node.lineno, node.args[0], True))
                for kw in node.keywords:
                    if kw.arg in ("cause", "reason", "message"):
                        found.append(("error", node.lineno, kw.value, True))
            elif called == "__init__" and path.name == "_cloudassist_errors.py" and node.args:
                if not isinstance(node.args[0], ast.Name):
                    found.append(("error", node.lineno, node.args[0], True))
            elif (
                called in LOGGED
                and isinstance(node.func, ast.Attribute)
                and getattr(node.func.value, "id", None) == "log"
            ):
                found.append((LOGGED[called], node.lineno, _percent(node.args[0]), True))
            elif called == "append" and getattr(node.func.value, "id", None) in (
                "warnings",
                "notes",
            ):
                found.append(("warning", node.lineno, node.args[0], True))
            for kw in node.keywords:
                if kw.arg in ("blocked", "error"):
                    found += [("error", node.lineno, t, False) for t in _texts(kw.value)]
        elif isinstance(node, ast.Raise) and entry and isinstance(node.exc, ast.Call):
            if _called(node.exc) not in names and node.exc.args:
                found.append(("error", node.lineno, node.exc.args[0], True))
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            elts = node.value.elts
            if len(elts) == 2 and isinstance(elts[0], ast.Constant) and elts[0].value is False:
                found.append(("error", node.lineno, elts[1], True))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in ("Error", "error"):
                    found += [("error", node.lineno, t, False) for t in _texts(value)]
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                name = getattr(target, "id", None)
                key = getattr(getattr(target, "slice", None), "value", None)
                if name == "blocked" or key == "error" or key == "Error":
                    found += [("error", node.lineno, t, False) for t in _texts(node.value)]
                elif key == "comment" and id(node) in in_except:
                    found.append(("error", node.lineno, node.value, True))
                elif name == "STOP_WARNING":
                    found.append(("warning", node.lineno, node.value, True))
                elif (path.name, name) in TABLES and isinstance(node.value, ast.Dict):
                    found += [
                        (TABLES[path.name, name], v.lineno, _formatted(v), True)
                        for v in node.value.values
                    ]
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for kind in HELPERS.get((path.name, node.name), ()):
                for ret in ast.walk(node):
                    if isinstance(ret, ast.Return) and ret.value is not None:
                        found += [(kind, ret.lineno, t, False) for t in _texts(ret.value)]
    return found


def code_files():
    return sorted((ROOT / "_modules").glob("*.py")) + ENTRIES


@functools.cache
def templates():
    """``{kind: [(where, pattern)]}`` and the PASSED_THROUGH keys met."""
    names = error_names()
    out, passed = {"error": [], "warning": []}, set()
    for path in code_files():
        rel = path.relative_to(ROOT)
        consts = constants(ast.parse(path.read_text()))
        for kind, line, node, strict in sites(path, names):
            key = (path.name, ast.unparse(getattr(node, "written", node)))
            if isinstance(node, ast.Call) and _called(node) in {name for _, name in HELPERS}:
                continue  # the helper's own text is scanned
            if key in PASSED_THROUGH:
                passed.add(key)
                continue
            for parts in patterns(node, consts):
                if _passes_through(parts):
                    assert not strict, (
                        f"{rel}:{line}: the message {key[1]} is passed through: follow it (HELPERS,"
                        " TABLES) or list it in PASSED_THROUGH with the reason"
                    )
                    continue
                out[kind].append((f"{rel}:{line}", parts))
    return out, passed


# --- the page ----------------------------------------------------------------------------------

CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")


def cell_examples(cell):
    """The examples in an ``error says`` cell: code spans separated by `` / ``."""
    spans = list(CODE_SPAN.finditer(cell))
    rest = CODE_SPAN.sub("", cell)
    assert spans and re.fullmatch(r"\s*(?:/\s*)*", rest) and rest.count("/") == len(spans) - 1, (
        f"not code spans separated by ' / ': {cell!r}"
    )
    examples = []
    for span in spans:
        text = span.group(2)
        if text.startswith(" ") and text.endswith(" ") and text.strip():
            text = text[1:-1]
        examples.append(text)
    return examples


def page_rows(text):
    """``{kind: [(line, example)]}`` from the tables whose first header is ``<kind> says``."""
    rows = {"error": [], "warning": []}
    kind = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith("|"):
            kind = None
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        header = re.fullmatch(r"(error|warning) says", cells[0])
        if header:
            kind = header.group(1)
        elif kind and not re.fullmatch(r"-+", cells[0]):
            rows[kind] += [(number, example) for example in cell_examples(cells[0])]
    return rows


def unpartnered(found, examples):
    """What has no partner: ``(messages, examples)``, each as ``where: text``."""
    pats = [(line, example, example_pattern(example)) for line, example in examples]
    lonely_messages = [
        f"{where}: {shown(parts)}"
        for where, parts in found
        if not any(fits(parts, pattern) for _, _, pattern in pats)
    ]
    lonely_examples = [
        f"{PAGE.relative_to(ROOT)}:{line}: {example}"
        for line, example, pattern in pats
        if not any(fits(parts, pattern) for _, parts in found)
    ]
    return lonely_messages, lonely_examples


@pytest.mark.parametrize("kind", ["error", "warning"])
def test_every_message_has_a_row_and_every_row_a_message(kind):
    found, _ = templates()
    rows = page_rows(PAGE.read_text())
    assert found[kind] and rows[kind]
    messages, examples = unpartnered(found[kind], rows[kind])
    assert not messages, f"{kind}s the code can give that no row of the page shows:\n" + "\n".join(
        messages
    )
    assert not examples, f"rows of the page no {kind} in the code gives:\n" + "\n".join(examples)


def test_every_passed_through_message_is_still_in_the_code_and_says_why():
    _, passed = templates()
    assert set(PASSED_THROUGH) - passed == set(), "stale PASSED_THROUGH entries"
    assert all(PASSED_THROUGH.values())
    assert all((ROOT / "_modules" / name).exists() for name, _ in {**HELPERS, **TABLES})


# --- the matcher itself ------------------------------------------------------------------------


def _expr(source):
    return ast.parse(source, mode="eval").body


def test_patterns_of_the_ways_a_message_is_built():
    assert patterns(_expr("f'`{command}` timed out after {n} s'")) == [
        ["`", WILD, "` timed out after ", WILD, " s"]
    ]
    assert patterns(_expr("'{} is {!r}'.format(a, b)")) == [[WILD, " is ", WILD]]
    assert patterns(_expr("'a: ' + b")) == [["a: ", WILD]]
    assert patterns(_expr("'x %s y' % z")) == [["x ", WILD, " y"]]
    assert patterns(_expr("'on' if a else 'off'")) == [["on"], ["off"]]
    assert _passes_through(patterns(_expr("plan.blocked"))[0])
    assert example_pattern("`...` exited with code N: <unit>") == [
        "`",
        ANY,
        "` exited with code ",
        VALUE,
        ": ",
        VALUE,
    ]


def test_the_matcher_pairs_and_leaves_alone():
    message = patterns(_expr("f'`{c}` did not finish within {t} seconds and was killed'"))[0]
    assert fits(message, example_pattern("`aliyun-service -v` did not finish within N seconds ..."))
    assert not fits(message, example_pattern("`...` did not end within N seconds ..."))
    assert fits(message, example_pattern("... did not finish within N seconds ..."))
    assert not fits(message, example_pattern("did not finish ..."))  # no leading ...
    assert not fits(message, example_pattern("`...` did not end within N seconds ..."))
    assert not fits(message, example_pattern("... seconds ... killed"))  # no value there
    ends_in_a_value = patterns(_expr("f'tgt must be {x}, not {y!r}'"))[0]
    assert not fits(ends_in_a_value, example_pattern("... anything at all ..."))
    assert fits(ends_in_a_value, example_pattern("tgt must be ..."))
    assert not fits(ends_in_a_value, example_pattern("... (retcode N)"))


def test_a_removed_row_or_a_new_raise_site_fails():
    found = [("a.py:1", ["the client is ", WILD, " broken"]), ("a.py:2", ["new: ", WILD])]
    rows = [(5, "the client is ... broken"), (6, "an old message ...")]
    messages, examples = unpartnered(found, rows)
    assert messages == ["a.py:2: new: …"]
    assert examples == ["docs/troubleshooting.md:6: an old message ..."]
    page = (
        "| error says | meaning | what to do |\n|---|---|---|\n| `a ...` / `` `b` c `` | x | y |\n"
    )
    assert page_rows(page)["error"] == [(3, "a ..."), (3, "`b` c")]
    with pytest.raises(AssertionError):
        cell_examples("`a` or `b`")


def test_a_new_raise_site_in_the_code_is_found(tmp_path):
    path = tmp_path / "_cloudassist_new.py"
    path.write_text("def f(x):\n    raise errors.Broken(f'{x} is gone', path=x)\n")
    ((_kind, line, node, strict),) = sites(path, error_names())
    assert (line, patterns(node), strict) == (2, [[WILD, " is gone"]], True)
