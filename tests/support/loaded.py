"""The cloudassist Salt modules as plain Python modules, for pytest-salt-factories' loader mock.

A unit test names them in its ``configure_loader_modules`` fixture with the dunders Salt would
give them (``__salt__``, ``__opts__``), as the salt-extensions projects do::

    @pytest.fixture
    def configure_loader_modules(tmp_path):
        return {
            loaded.execution: {"__salt__": {}, "__pillar__": {},
                               "__opts__": {"cachedir": str(tmp_path), "cloudassist": {}}},
            loaded.states: {"__salt__": loaded.salt_functions(), "__opts__": {"test": False}},
        }

The modules' own code runs unchanged; the library (``_modules/_cloudassist_*.py``) is the real
one, imported from ``_modules`` (``tests/conftest.py`` also puts it on ``sys.path``, for the
tests' own imports of it).
"""

import importlib.util
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PUBLIC = (
    "version",
    "status",
    "stop",
    "start",
    "restart",
    "enabled",
    "enable",
    "disable",
    "updates",
    "freeze_updates",
    "allow_updates",
    "install",
    "remove",
)
# tests/conftest.py's choice: the checkout's folders ("synced") or the package's ("pip").
LAYOUT = os.environ.get("CLOUDASSIST_UNIT_LAYOUT", "synced")
PACKAGE = ROOT / "src" / "saltext" / "cloudassist"


def entry_path(kind):
    """The entry file of ``kind`` ("modules", "states", "grains", "beacons", "runners") in the
    layout under test."""
    folder = ROOT / f"_{kind}" if LAYOUT == "synced" else PACKAGE / kind
    return folder / "cloudassist.py"


def load(kind):
    """The entry file of ``kind`` (see ``entry_path``), loaded once; its library must come from
    the same layout."""
    name = f"cloudassist_{kind}_under_test"
    if name not in sys.modules:
        path = entry_path(kind)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        library = pathlib.Path(module._LIB).parent
        assert library == entry_path("modules").parent, (path, library)
    return sys.modules[name]


execution = load("modules")
states = load("states")


def salt_functions():
    """``__salt__`` for the states: the real execution module's public functions."""
    return {"cloudassist." + name: getattr(execution, name) for name in PUBLIC}


def minion_dunders(tmp_path, *, os_family, **config):
    """The dunders of a minion for the loader mock: ``config`` is its ``cloudassist`` key, its
    cache under ``tmp_path``; ``saltutil.refresh_grains`` answers (a change refreshes them)."""
    return {
        "__salt__": {"saltutil.refresh_grains": lambda **kw: True},
        "__opts__": {"cachedir": str(tmp_path / "cache"), "cloudassist": config, "test": False},
        "__pillar__": {},
        "__grains__": {"os_family": os_family},
    }
