import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The library (_modules/_cloudassist_*.py) and the test support code import as plain modules.
for path in (ROOT / "_modules", ROOT / "tests" / "support"):
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
