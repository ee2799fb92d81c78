"""One library, one import: what `ruff analyze graph` (a tool that reads imports as written)
sees of the entry files and the library (pyproject.toml's ``src`` names ``_modules``, where Salt
puts the synced library), that every entry file imports it with the same lines, and that no
module falls back from one install to the other."""

import json
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "_modules"
# Loaded by its path by every entry file, not imported: no arrow leads to it.
BOOTSTRAP = LIBRARY / "_cloudassist_lib.py"
ENTRIES = {
    "_modules/cloudassist.py": {"args", "config", "errors", "host", "install", "updates"},
    "_states/cloudassist.py": {"args", "errors", "install"},
    "_grains/cloudassist.py": {"errors", "host", "install"},
    "_beacons/cloudassist.py": {"install", "watch"},
    "_runners/cloudassist.py": {"errors", "install", "report"},
}
# Imported by a function on first use (the execution module's _changing), not at load.
ON_FIRST_USE = {"_modules/cloudassist.py": {"act", "package", "plan"}}
RUFF = pathlib.Path(sys.executable).parent / "ruff"


@pytest.fixture(scope="module")
def graph():
    if not RUFF.exists():
        pytest.fail(
            f"ruff is not installed beside {sys.executable} (setup.cfg's tests extra pins it)"
        )
    proc = subprocess.run(
        [str(RUFF), "analyze", "graph", "."], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout)


def library(names):
    return {f"_modules/_cloudassist_{name}.py" for name in names}


def library_files():
    return [path for path in sorted(LIBRARY.glob("_cloudassist_*.py")) if path != BOOTSTRAP]


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_every_entry_file_depends_on_the_library_modules_it_uses(graph, entry):
    assert library(ENTRIES[entry] | ON_FIRST_USE.get(entry, set())) <= set(graph[entry])


def test_the_library_modules_depend_on_each_other(graph):
    assert library(
        {"boot", "facts", "init_system", "procedure", "records", "run", "sdbus", "systemd"}
    ) <= set(graph["_modules/_cloudassist_host.py"])
    reached = set()
    for entry in ENTRIES:
        stack = [entry]
        while stack:
            for dep in graph[stack.pop()]:
                if dep not in reached:
                    reached.add(dep)
                    stack.append(dep)
    modules = {str(p.relative_to(ROOT)) for p in library_files()}
    assert modules - reached == set(), "library modules no entry file reaches"


def test_no_module_falls_back_to_the_other_install():
    for path in library_files() + [ROOT / entry for entry in ENTRIES]:
        text = path.read_text()
        assert not re.search(r"except ImportError:.*\n\s*(from|import) cloudassist", text), path
        assert not re.search(r"^\s*(?:from|import) saltext\b", text, re.M), path
        assert not re.search(r"^\s*from \.", text, re.M), f"{path.name}: a relative import"


def _import_block(path):
    """The lines from the library comment to the last ``import _cloudassist_*``."""
    text = path.read_text()
    start = text.index("# The library: ")
    end = text.index("\n\n", start)
    return text[start:end]


def test_every_entry_file_imports_the_library_with_the_same_lines():
    blocks = {entry: _import_block(ROOT / entry) for entry in ENTRIES}
    heads = {
        entry: re.sub(r"\n        import _cloudassist_.*", "", b) for entry, b in blocks.items()
    }
    assert len(set(heads.values())) == 1, heads
    for entry, block in blocks.items():
        imported = set(re.findall(r"^        import _cloudassist_(\w+) as", block, re.M))
        assert imported == ENTRIES[entry], entry
