"""Which copy of cloudassist a minion runs, and the refusal when it has two.

A minion may hold a pip install (``saltext.cloudassist``, found by Salt through its
``salt.loader`` entry point) and a copy synced from a master's file_roots (``extmods``).  Salt
would load the synced entry files and whatever library ``sys.path`` gives first: two versions
mixed in one call.  So each entry file's ``__virtual__`` asks :func:`refusal`, which compares
paths only (no file is read).
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
    "(_modules, _states, _utils/cloudassist_lib, "
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


def refusal(entry_file, library_file):
    """Why this entry file must not load, or None.

    ``entry_file`` is the entry file's ``__file__`` (``<root>/<kind>/cloudassist.py``),
    ``library_file`` this library's ``__file__`` (``<root>/utils/cloudassist_lib/...``).
    """
    entry_root = _root(os.path.abspath(entry_file), 2)
    library_root = _root(os.path.abspath(library_file), 3)
    if entry_root != library_root:
        return (
            f"cloudassist: this module is {entry_file} but its library was imported from "
            f"{os.path.dirname(library_file)}: two copies of "
            f"cloudassist are on this host; keep one: {PIP_REMOVE}; or {SYNCED_REMOVE}"
        )
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
