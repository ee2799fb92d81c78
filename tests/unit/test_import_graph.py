"""One library, one import: what `ruff analyze graph` (a tool that reads imports as written)
sees of the entry files and the library, and that no module falls back from one install to
the other."""

import json
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "_utils" / "cloudassist_lib"
ENTRIES = {
    "_modules/cloudassist.py": {"act", "args", "host", "install", "plan"},
    "_states/cloudassist.py": {"args", "install"},
    "_grains/cloudassist.py": {"host", "install"},
    "_beacons/cloudassist.py": {"install", "watch"},
    "_runners/cloudassist.py": {"install", "report"},
}
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
    return {f"_utils/cloudassist_lib/{name}.py" for name in names}


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_every_entry_file_depends_on_the_library_modules_it_uses(graph, entry):
    assert library(ENTRIES[entry]) <= set(graph[entry]), graph[entry]


def test_the_library_modules_depend_on_each_other(graph):
    assert library(
        {"boot", "facts", "init_system", "procedure", "records", "run", "sdbus", "systemd"}
    ) <= set(graph["_utils/cloudassist_lib/host.py"])
    reached = set()
    for entry in ENTRIES:
        stack = [entry]
        while stack:
            for dep in graph[stack.pop()]:
                if dep not in reached:
                    reached.add(dep)
                    stack.append(dep)
    modules = {str(p.relative_to(ROOT)) for p in LIBRARY.glob("*.py")}
    assert modules - reached == set(), "library modules no entry file reaches"


def test_no_module_falls_back_to_the_other_install():
    for path in sorted(LIBRARY.glob("*.py")) + [ROOT / entry for entry in ENTRIES]:
        text = path.read_text()
        assert not re.search(r"except ImportError:.*\n\s*(from|import) cloudassist", text), path
    for path in sorted(LIBRARY.glob("*.py")):
        imports = re.findall(
            r"^\s*(?:from|import) (cloudassist_lib|saltext)\b", path.read_text(), re.M
        )
        assert imports == [], (
            f"{path.name} imports the library absolutely: inside it, only relative imports"
        )
