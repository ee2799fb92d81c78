"""Every public function of the entry files has a docstring with an example a Salt user can
copy, as Salt's own modules do (``salt-call sys.doc cloudassist`` and the docs site's reference
pages, docs/ref/, show these docstrings):

- execution module, runner, grain: a ``CLI Example:`` followed by a ``.. code-block:: bash``
  that runs the function (``salt '*' cloudassist.stop``, ``salt-run cloudassist.report``; for the
  grain, ``grains.item``/``grains.get`` of it);
- states: an SLS example, a ``.. code-block:: yaml`` that uses the state
  (``cloudassist.running``); ``mod_watch`` is never named in an SLS: its example shows the
  ``watch`` requisite on the state it serves;
- beacon (``beacon`` and ``validate``): the minion configuration that turns it on, a
  ``.. code-block:: yaml`` with ``beacons:`` and ``cloudassist:``.
"""

import inspect
import re

import pytest

import loaded

KINDS = ("modules", "states", "grains", "beacons", "runners")
# What each entry file must at least offer: a test that finds no function checks nothing.
EXPECTED = {
    "modules": {
        "version",
        "status",
        "stop",
        "start",
        "restart",
        "enabled",
        "enable",
        "disable",
        "install",
    },
    "states": {"running", "stopped", "dead", "enabled", "disabled", "mod_watch"},
    "grains": {"cloudassist"},
    "beacons": {"beacon", "validate"},
    "runners": {"report"},
}


def public_functions(kind):
    """``{name: function}``: what Salt's loader makes of ``kind``'s entry file, the functions
    defined in it whose names do not start with ``_``."""
    module = loaded.load(kind)
    return {
        name: function
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and function.__module__ == module.__name__
    }


def code_blocks(doc, language):
    """The bodies of the ``.. code-block:: <language>`` directives in ``doc`` (dedented), each
    with the text before it."""
    lines = inspect.cleandoc(doc).splitlines()
    found = []
    for index, line in enumerate(lines):
        match = re.match(r"^(\s*)\.\. code-block::\s*(\S+)\s*$", line)
        if not match or match.group(2) != language:
            continue
        indent = len(match.group(1))
        body = []
        for following in lines[index + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        found.append(("\n".join(lines[:index]), inspect.cleandoc("\n".join(body))))
    return found


def cli_examples(doc):
    """The bash blocks that follow a ``CLI Example:`` (or ``CLI Examples:``) line."""
    return [
        body
        for before, body in code_blocks(doc, "bash")
        if re.search(r"^\s*CLI Examples?:\s*$", before.rsplit("\n\n", 2)[-1], re.M)
    ]


def problem(kind, name, function):
    """Why ``function``'s docstring falls short of the rule for ``kind``, or None."""
    doc = inspect.getdoc(function)
    if not doc or not doc.strip():
        return "no docstring"
    if kind in ("modules", "runners", "grains"):
        command = {
            "modules": rf"^salt\b.*\scloudassist\.{name}\b",
            "runners": rf"^salt-run\s+cloudassist\.{name}\b",
            "grains": rf"^salt\b.*\sgrains\.(item|get)\s+{name}\b",
        }[kind]
        blocks = cli_examples(doc)
        if not blocks:
            return "no 'CLI Example:' followed by a '.. code-block:: bash'"
        if not any(re.search(command, body, re.M) for body in blocks):
            return f"its CLI example runs no command matching {command!r}"
        return None
    blocks = [body for _, body in code_blocks(doc, "yaml")]
    if not blocks:
        return "no '.. code-block:: yaml' example"
    if kind == "states":
        want = [r"^\s*- watch:", r"cloudassist\.running"] if name == "mod_watch" else []
        want = want or [rf"\bcloudassist\.{name}\b"]
    else:
        want = [r"^beacons:", r"^\s+cloudassist:"]
    if not any(all(re.search(pattern, body, re.M) for pattern in want) for body in blocks):
        return f"no yaml example matching all of {want}"
    return None


@pytest.mark.parametrize("kind", KINDS)
def test_the_public_functions_are_found(kind):
    assert EXPECTED[kind] <= set(public_functions(kind)), kind


@pytest.mark.parametrize("kind", KINDS)
def test_every_public_function_has_a_docstring_with_an_example(kind):
    problems = {
        name: why
        for name, function in public_functions(kind).items()
        if (why := problem(kind, name, function))
    }
    assert not problems, f"{loaded.entry_path(kind)}: " + "; ".join(
        f"{name}: {why}" for name, why in sorted(problems.items())
    )


BASH = "Stop it.\n\n.. code-block:: bash\n\n    {}\n"
CLI = "Stop it.\n\nCLI Example:\n\n.. code-block:: bash\n\n    {}\n"
SLS = "Stop it.\n\n.. code-block:: yaml\n\n    cloud-assistant:\n      {}\n"


@pytest.mark.parametrize(
    ("kind", "doc", "why"),
    [
        ("modules", None, "no docstring"),
        ("modules", "Stop it.", "no 'CLI Example:'"),
        ("modules", BASH.format("salt '*' cloudassist.stop"), "no 'CLI Example:'"),
        ("modules", CLI.format("salt '*' test.ping"), "its CLI example runs no"),
        ("modules", CLI.format("salt '*' cloudassist.stop_all"), "its CLI example runs no"),
        ("modules", CLI.format("salt '*' cloudassist.stop test=True"), None),
        ("runners", CLI.format("salt '*' cloudassist.stop"), "its CLI example runs no"),
        ("runners", CLI.format("salt-run cloudassist.stop tgt='web*'"), None),
        ("states", SLS.format("cloudassist.running"), "no yaml"),
        ("states", SLS.format("cloudassist.stop"), "no yaml"),
        ("states", SLS.format("cloudassist.stopped:\n        - enable: False"), None),
        ("beacons", SLS.format("cloudassist.stopped"), "no yaml"),
    ],
)
def test_the_rule_itself(kind, doc, why):
    def stop():
        pass

    stop.__doc__ = doc
    name = "stopped" if kind == "states" else "stop"
    found = problem(kind, name, stop)
    if why is None:
        assert found is None
    else:
        assert found and found.startswith(why), found
