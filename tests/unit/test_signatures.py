"""No function takes more than three arguments by position (issue 24): from the fourth on a
caller names them, so two of the same type cannot be swapped unseen.

The public Salt functions are the exceptions: Salt passes the CLI's and the SLS's arguments to
them, positionally too, so their signatures are the interface operators use and stay as they
are."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
FILES = [
    *sorted((ROOT / "_modules").glob("_cloudassist_*.py")),
    *(ROOT / folder / "cloudassist.py" for folder in ("_modules", "_states", "_grains")),
    *(ROOT / folder / "cloudassist.py" for folder in ("_beacons", "_runners")),
]
MAX_POSITIONAL = 3
# (file, function): the public interface Salt calls with positional arguments.
PUBLIC = {
    ("_modules/cloudassist.py", "stop"),
    ("_modules/cloudassist.py", "start"),
    ("_modules/cloudassist.py", "restart"),
    ("_modules/cloudassist.py", "install"),
    ("_states/cloudassist.py", "running"),
    ("_states/cloudassist.py", "stopped"),
    ("_states/cloudassist.py", "dead"),
    ("_states/cloudassist.py", "installed"),
    ("_states/cloudassist.py", "mod_watch"),
    # Salt 3006's runner client rejects a keyword-only argument ("The following keyword
    # arguments are not valid: require_installed=True", salt.minion.load_args_and_kwargs):
    # seen in CI's 3006 pass through an orchestrate salt.runner step.
    ("_runners/cloudassist.py", "report"),
}


def _positional(node, in_class):
    params = [*node.args.posonlyargs, *node.args.args]
    decorators = {getattr(d, "id", getattr(d, "attr", None)) for d in node.decorator_list}
    if in_class and "staticmethod" not in decorators and params:
        params = params[1:]  # self or cls
    return [param.arg for param in params]


def _functions(tree):
    """``(qualified name, node, in a class)`` of every function and method in ``tree``."""

    def walk(node, prefix, in_class):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield prefix + child.name, child, in_class
                yield from walk(child, prefix + child.name + ".", False)
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, prefix + child.name + ".", True)
            else:
                yield from walk(child, prefix, in_class)

    yield from walk(tree, "", False)


def too_many_positional():
    found = {}
    for path in FILES:
        rel = path.relative_to(ROOT).as_posix()
        for name, node, in_class in _functions(ast.parse(path.read_text(), rel)):
            params = _positional(node, in_class)
            if len(params) > MAX_POSITIONAL:
                found[(rel, name)] = params
    return found


def test_the_files_are_there():
    assert len(FILES) > 15
    assert all(path.exists() for path in FILES)


def test_no_function_takes_more_than_three_positional_arguments_but_salts():
    offenders = {key: params for key, params in too_many_positional().items() if key not in PUBLIC}
    assert not offenders, "take the arguments from the fourth on by keyword (`*`): " + "; ".join(
        f"{rel} {name}({', '.join(params)})" for (rel, name), params in offenders.items()
    )


def test_the_public_salt_functions_keep_their_signatures():
    """The exceptions are real: each is a module-level function of its file, still positional."""
    found = too_many_positional()
    assert PUBLIC <= set(found), sorted(PUBLIC - set(found))
