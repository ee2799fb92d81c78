"""docs/configuration.md against the configuration the code reads: every key the code reads is
on the page and every key on the page is read, each with the default the code gives it.

The code side is an AST scan of every ``config.get`` read: the ``cloudassist:<key>`` reads
through the readers in :data:`READERS` (the execution module's and the grain's ``_config``, the
host's ``config``, the module's ``_seconds``, ``__salt__["config.get"]``), and the beacon's
reads of its own configuration (``config.get("<key>", default)``, ``config["<key>"]``).  The
page side is the table whose first header is ``key`` (``cloudassist:<key>``) and the one whose
first header is ``beacon key``; each default the code gives must be a code span in the row's
``default`` cell.
"""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration.md"
BEACON = ROOT / "_beacons" / "cloudassist.py"
FILES = sorted((ROOT / "_modules").glob("*.py")) + [
    ROOT / kind / "cloudassist.py" for kind in ("_states", "_grains", "_beacons", "_runners")
]
# Functions that read cloudassist:<key>: name -> (the key's argument, the default's argument).
READERS = {"_config": (0, 1), "config": (0, 1), "_seconds": (0, 2)}
# Salt's own bookkeeping in a beacon's configuration, not an operator's key.
BEACON_INTERNAL = {"_beacon_name"}
COMPUTED = object()  # a default the code computes (not a constant): the page says how


def _module_constants():
    """Module-level ``NAME = <constant>`` of every scanned file (the names are unique)."""
    values = {}
    for path in FILES:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        values[target.id] = node.value.value
    return values


def _value(node, constants):
    if node is None:
        return None
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    return COMPUTED


def _enclosing_functions(tree):
    """Node id -> the name of the function it is in."""
    inside = {}
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef):
            for node in ast.walk(func):
                inside[id(node)] = func.name
    return inside


def _is_config_get(func):
    """``__salt__["config.get"]``."""
    return (
        isinstance(func, ast.Subscript)
        and getattr(func.value, "id", None) == "__salt__"
        and getattr(func.slice, "value", None) == "config.get"
    )


def reads(path, constants):
    """``(scope, key, default, line)`` of each read in ``path``: scope "cloudassist" or
    "beacon"; a read whose key is not a constant must be in a reader, passing its key on."""
    tree = ast.parse(path.read_text())
    inside = _enclosing_functions(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if _is_config_get(func):
                key_at, default_at, prefix = 0, 1, "cloudassist:"
            elif name in READERS and not (
                path == BEACON and isinstance(func, ast.Attribute)  # the beacon's config.get
            ):
                (key_at, default_at), prefix = READERS[name], ""
            elif path == BEACON and name == "get" and getattr(func.value, "id", None) == "config":
                key = node.args[0].value
                if key not in BEACON_INTERNAL:
                    default = node.args[1] if len(node.args) > 1 else None
                    found.append(("beacon", key, _value(default, constants), node.lineno))
                continue
            else:
                continue
            key = node.args[key_at] if len(node.args) > key_at else None
            default = node.args[default_at] if len(node.args) > default_at else None
            if not (isinstance(key, ast.Constant) and key.value.startswith(prefix)):
                assert inside.get(id(node)) in READERS, (
                    f"{path.relative_to(ROOT)}:{node.lineno}: a configuration read whose key is "
                    "not a constant: read it with a constant key, or add its function to READERS"
                )
                continue
            found.append(
                (
                    "cloudassist",
                    key.value.removeprefix(prefix),
                    _value(default, constants),
                    node.lineno,
                )
            )
        elif (
            path == BEACON
            and isinstance(node, ast.Subscript)
            and getattr(node.value, "id", None) == "config"
            and isinstance(node.slice, ast.Constant)
        ):
            found.append(("beacon", node.slice.value, None, node.lineno))
    return found


def code_keys():
    """``{(scope, key): {default, ...}}`` (None: no default; COMPUTED: computed)."""
    constants = _module_constants()
    keys = {}
    for path in FILES:
        for scope, key, default, _ in reads(path, constants):
            keys.setdefault((scope, key), set()).add(default)
    return keys


CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")


def page_keys(text):
    """``{(scope, key): default cell}`` from the page's two tables."""
    keys, scope, columns = {}, None, None
    for line in text.splitlines():
        if not line.startswith("|"):
            scope = None
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells[0] in ("key", "beacon key"):
            scope, columns = ("cloudassist" if cells[0] == "key" else "beacon"), cells
        elif scope and not re.fullmatch(r"-+", cells[0]):
            key = CODE_SPAN.fullmatch(cells[0])
            assert key, f"a key cell that is not one code span: {cells[0]!r}"
            name = (
                key.group(2).removeprefix("cloudassist:")
                if scope == "cloudassist"
                else key.group(2)
            )
            keys[scope, name] = cells[columns.index("default")]
    return keys


def shown(default):
    """A default as the page writes it in a code span."""
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def test_the_page_lists_exactly_the_keys_the_code_reads():
    code, page = code_keys(), page_keys(PAGE.read_text())
    assert code, "no configuration read found in the code"
    missing = sorted(set(code) - set(page))
    stale = sorted(set(page) - set(code))
    assert not missing, f"keys the code reads that docs/configuration.md does not list: {missing}"
    assert not stale, f"keys docs/configuration.md lists that the code does not read: {stale}"


def test_every_default_the_code_gives_is_on_the_page():
    code, page = code_keys(), page_keys(PAGE.read_text())
    wrong = []
    for key, defaults in sorted(code.items()):
        spans = {m.group(2).strip() for m in CODE_SPAN.finditer(page.get(key, ""))}
        for default in defaults - {None, COMPUTED}:
            if shown(default) not in spans:
                wrong.append(
                    f"{key}: the code's default {shown(default)} is not in {page.get(key)!r}"
                )
    assert not wrong, "\n".join(wrong)


def test_the_scan_finds_reads_and_their_defaults(tmp_path):
    path = tmp_path / "_cloudassist_new.py"
    path.write_text(
        "LIMIT = 5\n"
        "def f(config):\n"
        "    config('limit', LIMIT)\n"
        "    self.config('root', os.getcwd())\n"
        "    __salt__['config.get']('cloudassist:binary', None, omit_grains=True)\n"
    )
    assert reads(path, {"LIMIT": 5}) == [
        ("cloudassist", "limit", 5, 3),
        ("cloudassist", "root", COMPUTED, 4),
        ("cloudassist", "binary", None, 5),
    ]
    page = (
        "| key | type | default | meaning |\n|---|---|---|---|\n"
        "| `cloudassist:limit` | n | `5` | x |\n"
    )
    assert page_keys(page) == {("cloudassist", "limit"): "`5`"}
