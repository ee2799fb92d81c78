"""Every configuration read of the code, found by an AST scan: the ``cloudassist:<key>`` reads
through the readers in :data:`READERS` (the grain's ``_config``, the execution module's and the
host's ``config``, the module's ``_seconds``, ``__salt__["config.get"]``), and the beacon's
reads of its own configuration (``config.get("<key>", default)``, ``config["<key>"]``).
Used by the docs tests (tests/unit/test_docs_configuration.py, test_docs_examples.py).
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
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
