import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Where the unit tests load the entry files and the library from: "synced" (the checkout's
# _modules, _states, ..., as a master syncs them) or "pip" (src/saltext/cloudassist/modules,
# ..., the folders of the installed package).  tests/unit/test_layouts.py runs the entry
# files' tests again with "pip".
LAYOUT = os.environ.get("CLOUDASSIST_UNIT_LAYOUT", "synced")
if LAYOUT not in ("synced", "pip"):
    raise SystemExit(f"CLOUDASSIST_UNIT_LAYOUT must be synced or pip, not {LAYOUT!r}")
LIBRARY = (
    ROOT / "_modules"
    if LAYOUT == "synced"
    else ROOT / "src" / "saltext" / "cloudassist" / "modules"
)

# The library (_cloudassist_*.py) and the test support code import as plain modules.
for path in (LIBRARY, ROOT / "tests" / "support"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def pytest_unconfigure(config):
    # Importing salt installs a buffering stderr handler that flushes at exit, after pytest
    # has closed its capture streams; flush it while the streams are still open.
    try:
        import salt._logging.impl
    except ImportError:
        return
    salt._logging.impl.shutdown_temp_handler()
