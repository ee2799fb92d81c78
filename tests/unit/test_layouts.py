"""The entry files' unit tests in both layouts an operator installs: this session runs them on
the checkout's folders (the synced layout, ``_modules``, ``_states``, ...); this file runs them
again, in a pytest of their own, on the pip package's folders
(``src/saltext/cloudassist/modules``, ...: what a wheel or ``pip install -e .`` holds), where
each entry file finds its library beside the package's execution module."""

import os
import pathlib
import re
import subprocess
import sys

import loaded

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def entry_tests():
    """The unit test files that load an entry file (through tests/support/loaded.py)."""
    return sorted(
        path
        for path in HERE.rglob("test_*.py")
        if path != pathlib.Path(__file__).resolve()
        and re.search(r"\bloaded\.(load|execution|states|entry_path)\b", path.read_text())
    )


def test_this_session_loads_the_synced_layout():
    if loaded.LAYOUT == "pip":  # this file, run again by the test below
        assert loaded.execution.__file__ == str(loaded.PACKAGE / "modules" / "cloudassist.py")
        assert loaded.execution.hosts.__file__.startswith(str(loaded.PACKAGE / "modules"))
        return
    assert loaded.execution.__file__ == str(ROOT / "_modules" / "cloudassist.py")
    assert loaded.states.__file__ == str(ROOT / "_states" / "cloudassist.py")
    assert loaded.execution.hosts.__file__ == str(ROOT / "_modules" / "_cloudassist_host.py")


def test_the_entry_files_tests_pass_on_the_pip_layout():
    files = entry_tests()
    names = {path.name for path in files}
    assert {"test_states.py", "test_grain.py", "test_beacon.py"} <= names, names
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"]
        + [str(path) for path in files]
        + [str(pathlib.Path(__file__)) + "::test_this_session_loads_the_synced_layout"],
        cwd=ROOT,
        env=dict(os.environ, CLOUDASSIST_UNIT_LAYOUT="pip"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary, summary
