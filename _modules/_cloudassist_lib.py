"""How every cloudassist entry file imports its library, and why so.

The library is the ``_cloudassist_*.py`` files beside the execution module: in the ``modules``
folder beside the entry file's own folder.  That holds in every install:

- synced from a master's ``file_roots``: ``extmods/modules/cloudassist.py`` and
  ``extmods/modules/_cloudassist_*.py`` (the states in ``extmods/states``, and so on);
- salt-ssh: the same folders, shipped into the target's thin dir.  salt-ssh ships only the
  top-level files of the extension folders it knows (``mod_data`` in
  ``salt/client/ssh/__init__.py``), never a package folder, and on 3006 not ``_utils`` at all
  (``modules``, ``states``, ``grains``, ``renderers`` and ``returners`` only): so the library is
  flat files in ``_modules``.  Salt's loader skips files whose names start with ``_`` (3006 to
  3008), so none of them becomes an execution module;
- pip (``saltext.cloudassist``, also ``pip install -e .``): ``saltext/cloudassist/modules/...``;
- the checkout (``module_dirs``): ``_modules/...``.

No one module name reaches all of them: Salt puts no ``modules`` folder on ``sys.path`` for the
other kinds' loaders, and a module it loads is named ``salt.loaded.ext.<kind>.<name>``, so a
relative import cannot reach the library either.  So each entry file loads this file by its
path (the same few lines in each) and imports the library inside :func:`imported`, which finds
``_cloudassist_*`` modules in this folder only (``sys.path`` is left as it is) and never mixes
two copies.

Long-running processes (the minion's main process, where grains and beacons run and the
execution module is loaded, and from which every job is forked; a master's reactor or
salt-api) keep what they imported.  :func:`imported` drops those modules again when any of
them comes from another folder or its file changed since (a ``saltutil.sync_all``), so a job
never runs a library older than its entry file, nor half of one.
"""

import contextlib
import importlib.machinery
import os
import sys

PREFIX = "_cloudassist_"
FOLDER = os.path.dirname(os.path.abspath(__file__))
# Each library module's file mtime when it was imported, set by imported().
STAMP = "__cloudassist_mtime__"


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _names():
    """The library's module names: one per ``_cloudassist_<name>.py`` file in this folder.

    Looked up by name in ``sys.modules``, never by walking it: a job is a fork of the minion's
    main process, and touching each of its thousand modules copies the pages they lie on (about
    2 ms per walk, measured in a forked job).
    """
    try:
        files = os.listdir(FOLDER)
    except OSError:
        return []
    return [name[:-3] for name in files if name.startswith(PREFIX) and name.endswith(".py")]


def _ours(name, module):
    """A library module: ``_cloudassist_<name>``, from a file ``_cloudassist_<name>.py``."""
    return (
        name.startswith(PREFIX)
        and os.path.basename(getattr(module, "__file__", None) or "") == name + ".py"
    )


def _current(module):
    # A module imported from here outside imported() (a test's own import) has no stamp yet.
    path = getattr(module, "__file__", None)
    if path is None or os.path.dirname(os.path.abspath(path)) != FOLDER:
        return False
    mtime = _mtime(path)
    return getattr(module, STAMP, mtime) == mtime


def _loaded(names):
    """The library modules of ``names`` that this process imported, from any folder."""
    found = []
    for name in names:
        module = sys.modules.get(name)
        if module is not None and _ours(name, module):
            found.append((name, module))
    return found


def forget(names=None):
    """Drop the library modules (by default all this folder has) from ``sys.modules``."""
    for name, _ in _loaded(_names() if names is None else names):
        del sys.modules[name]


class _Finder:
    """Finds ``_cloudassist_*`` modules in this folder, and nothing else anywhere."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if path is None and name.startswith(PREFIX):
            return importlib.machinery.PathFinder.find_spec(name, [FOLDER])
        return None


@contextlib.contextmanager
def imported():
    """Import library modules (``import _cloudassist_<name>``) inside this block.

    They come from this folder; those a process imported before are kept only while all of
    them still come from here and their files are unchanged.
    """
    names = _names()
    if not all(_current(module) for _, module in _loaded(names)):
        forget(names)
        importlib.invalidate_caches()  # a sync may have just written the files
    finder = _Finder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for _, module in _loaded(names):
            if not hasattr(module, STAMP):
                setattr(module, STAMP, _mtime(module.__file__))
