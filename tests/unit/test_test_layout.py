"""Tests mirror the library (the rule is in ``tests/unit/lib/__init__.py``): every library module
``_modules/_cloudassist_<name>.py`` with logic has ``tests/unit/lib/test_<name>*.py``, and every
file in ``tests/unit/lib`` is named after a library module (or is one of its few non-test files)."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIB_TESTS = ROOT / "tests" / "unit" / "lib"

# Library modules without logic of their own, and why they need no test file.
NO_LOGIC = {}
# Files in tests/unit/lib that test no module themselves.
NOT_TESTS = {
    "__init__.py": "the package, and the rule in its docstring",
    "helpers.py": "what more than one test file builds its cases from",
}


def library():
    return sorted(
        path.stem.removeprefix("_cloudassist_")
        for path in (ROOT / "_modules").glob("_cloudassist_*.py")
    )


def test_the_exemptions_name_real_modules_and_say_why():
    assert set(NO_LOGIC) <= set(library())
    assert all(NO_LOGIC.values()) and all(NOT_TESTS.values())


def test_every_library_module_has_its_test_file():
    names = library()
    assert names, "no library module found"
    missing = [
        f"_modules/_cloudassist_{name}.py has no tests/unit/lib/test_{name}.py "
        f"(or test_{name}_<topic>.py)"
        for name in names
        if name not in NO_LOGIC
        and not (LIB_TESTS / f"test_{name}.py").exists()
        and not list(LIB_TESTS.glob(f"test_{name}_*.py"))
    ]
    assert not missing, "\n".join(missing)


def module_tested_by(filename, names):
    """The library module ``test_<name>[_<topic>].py`` tests (the longest name that fits)."""
    match = re.fullmatch(r"test_(\w+)\.py", filename)
    if not match:
        return None
    stem = match.group(1)
    fits = [name for name in names if stem == name or stem.startswith(name + "_")]
    return max(fits, key=len) if fits else None


def test_every_file_in_lib_is_named_after_a_library_module():
    names = library()
    stray = [
        path.name
        for path in sorted(LIB_TESTS.iterdir())
        if path.name not in NOT_TESTS
        and path.name != "__pycache__"
        and module_tested_by(path.name, names) is None
    ]
    assert not stray, (
        f"files in tests/unit/lib named after no _modules/_cloudassist_<name>.py: {stray}; "
        "tests of an entry file go in tests/unit/test_<entry>.py, project-wide checks in "
        "tests/unit/test_<what>.py"
    )


def test_the_naming_rule_itself():
    names = ["facts", "host", "init_system", "init"]
    assert module_tested_by("test_facts_versions.py", names) == "facts"
    assert module_tested_by("test_init_system.py", names) == "init_system"
    assert module_tested_by("test_init_other.py", names) == "init"
    assert module_tested_by("test_hosts.py", names) is None
    assert module_tested_by("helpers.py", names) is None
    assert module_tested_by("test_facts.txt", names) is None
