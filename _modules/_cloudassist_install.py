"""Which copy of cloudassist a minion runs, and the refusal when it has two.

A minion may hold a pip install (``saltext.cloudassist``, found by Salt through its
``salt.loader`` entry point) and a copy synced from a master's file_roots (``extmods``).  Salt
would load the synced entry files and shadow the installed ones, so that which copy runs
depends on what Salt finds first.  So each entry file's ``__virtual__`` asks :func:`refusal`,
which compares paths only (no file is read).  Each entry file always imports the library beside
it (``_cloudassist_lib``), so the two copies are never mixed in one call.
"""

import importlib.util
import os

DIST = "saltext.cloudassist"
PIP_REMOVE = (
    "salt-pip uninstall saltext.cloudassist "
    "(or <salt's python> -m pip uninstall saltext.cloudassist)"
)
SYNCED_REMOVE = (
    "delete cloudassist's files from the master's file_roots "
    "(_modules/cloudassist.py, _modules/_cloudassist_*.py, _states, "
    "_grains, _beacons, _runners) and run saltutil.sync_all, "
    "which removes them from the minion's extmods"
)


def _root(path, levels):
    for _ in range(levels):
        path = os.path.dirname(path)
    return path


def _pip_root():
    """The installed ``saltext/cloudassist`` folder, or None."""
    try:
        spec = importlib.util.find_spec(DIST)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.abspath(list(spec.submodule_search_locations)[0])


def refusal(entry_file):
    """Why this entry file must not load, or None.

    ``entry_file`` is the entry file's ``__file__`` (``<root>/<kind>/cloudassist.py``).
    """
    entry_root = _root(os.path.abspath(entry_file), 2)
    pip_root = _pip_root()
    if pip_root is not None and os.path.realpath(pip_root) != os.path.realpath(entry_root):
        return (
            f"cloudassist: two copies on this minion, the pip install {DIST} ({pip_root}) "
            "and the synced copy "
            f"{entry_root} ({entry_file}); Salt would load the synced one and shadow the other: "
            "keep one: to keep the "
            f"pip install, {SYNCED_REMOVE}; to keep the synced copy, {PIP_REMOVE}"
        )
    return None
