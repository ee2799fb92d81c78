"""``_modules/_cloudassist_lib.py``: every entry file imports the library beside the execution
module, in every install.

Layouts, as on a real host: ``synced`` (``extmods/<kind>``, as a ``saltutil.sync_all`` or
salt-ssh leaves them), ``pip`` (``saltext/cloudassist/<kind>``) and the checkout (``_<kind>``,
as ``module_dirs`` loads it).  Salt's own loaders are used where one of them differs (beacons:
no extension folder on ``sys.path`` but the beacons'; execution modules: theirs on it).
"""

import importlib.util
import pathlib
import shutil
import sys

import pytest
import salt.config
import salt.loader

from ..test_import_graph import ENTRIES

ROOT = pathlib.Path(__file__).resolve().parents[3]
# {kind: the library modules its entry file imports}, from the import-graph test's one table.
KINDS = {entry.split("/")[0].lstrip("_"): names for entry, names in ENTRIES.items()}


@pytest.fixture(autouse=True)
def library_modules_restored():
    """What the other unit tests imported from ``_modules`` is theirs again afterwards."""
    saved = {name: mod for name, mod in sys.modules.items() if name.startswith("_cloudassist_")}
    path, meta_path = list(sys.path), list(sys.meta_path)
    yield
    for name in [name for name in sys.modules if name.startswith("_cloudassist_")]:
        del sys.modules[name]
    sys.modules.update(saved)
    assert sys.path == path, "an entry file left sys.path changed"
    assert sys.meta_path == meta_path, "an entry file left its finder in sys.meta_path"


def lay_out(top, layout, kinds=KINDS, library=True):
    """Copy the entry files and the library as ``layout`` lays them out; the base folder."""
    base = {"synced": top / "extmods", "pip": top / "saltext" / "cloudassist"}[layout]
    for kind in kinds:
        (base / kind).mkdir(parents=True)
        shutil.copy(ROOT / f"_{kind}" / "cloudassist.py", base / kind / "cloudassist.py")
    if library:
        (base / "modules").mkdir(exist_ok=True)
        for path in ROOT.joinpath("_modules").glob("_cloudassist_*.py"):
            shutil.copy(path, base / "modules")
    return base


def load(path, name="entry_under_test"):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def library_of(module):
    """The library modules an entry file holds: {short name: file}."""
    return {
        value.__name__.removeprefix("_cloudassist_"): pathlib.Path(value.__file__)
        for value in vars(module).values()
        if isinstance(value, type(sys)) and value.__name__.startswith("_cloudassist_")
    }


@pytest.mark.parametrize("layout", ["synced", "pip", "checkout"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_entry_file_imports_the_library_beside_it(tmp_path, layout, kind):
    if layout == "checkout":
        entry, utils = ROOT / f"_{kind}" / "cloudassist.py", ROOT / "_modules"
    else:
        base = lay_out(tmp_path, layout, kinds=[kind])
        entry, utils = base / kind / "cloudassist.py", base / "modules"
    modules = library_of(load(entry))
    assert set(modules) >= KINDS[kind] | {"lib"}
    assert {path.parent for path in modules.values()} == {utils}
    # and the modules those import come from the same folder
    for name in ("install", "host", "watch", "report"):
        if name in modules:
            for value in vars(sys.modules[f"_cloudassist_{name}"]).values():
                if isinstance(value, type(sys)) and value.__name__.startswith("_cloudassist_"):
                    assert pathlib.Path(value.__file__).parent == utils


def test_another_copy_imported_before_is_never_mixed_in(tmp_path):
    """The checkout's library is in sys.modules (tests/conftest.py); a synced entry file
    still gets the synced library, all of it."""
    import _cloudassist_host  # noqa: F401  (from the checkout's _modules)

    base = lay_out(tmp_path, "synced", kinds=["modules"])
    module = load(base / "modules" / "cloudassist.py")
    assert module.hosts.__file__ == str(base / "modules" / "_cloudassist_host.py")
    assert module.hosts.facts.__file__ == str(base / "modules" / "_cloudassist_facts.py")


def test_a_process_reuses_an_unchanged_library_and_reimports_a_changed_one(tmp_path):
    """The minion's main process imports the library; a job forked from it reuses that, until a
    sync changes a file: then all of it is imported again, never half."""
    base = lay_out(tmp_path, "synced", kinds=["modules", "grains"])
    grain = load(base / "grains" / "cloudassist.py", "grain_under_test")
    module = load(base / "modules" / "cloudassist.py")
    assert module.hosts is grain.hosts  # unchanged: reused
    records = base / "modules" / "_cloudassist_records.py"
    records.write_text(records.read_text() + "\nSYNCED_AGAIN = True\n")
    again = load(base / "modules" / "cloudassist.py")
    assert again.hosts is not grain.hosts
    assert again.hosts.ClientStatus is not grain.hosts.ClientStatus  # host was imported anew too
    assert sys.modules["_cloudassist_records"].SYNCED_AGAIN is True


def test_a_stale_module_in_sys_modules_is_dropped(tmp_path):
    base = lay_out(tmp_path, "synced", kinds=["beacons"])
    stale = type(sys)("_cloudassist_facts")
    stale.__file__ = str(base / "modules" / "_cloudassist_facts.py")
    stale.__cloudassist_mtime__ = 0  # imported before the file was last written
    sys.modules["_cloudassist_facts"] = stale
    module = load(base / "beacons" / "cloudassist.py")
    assert module.watch.facts is not stale
    assert module.watch.facts.__file__ == str(base / "modules" / "_cloudassist_facts.py")


def test_a_synced_beacon_under_salts_own_loader(tmp_path):
    """Salt's beacons loader puts no utils folder on sys.path (3006 to 3008)."""
    extmods = lay_out(tmp_path, "synced", kinds=["beacons"])
    opts = salt.config.minion_config(None)
    opts.update(extension_modules=str(extmods), beacons_dirs=[], cachedir=str(tmp_path / "c"))
    loaded = salt.loader.beacons(opts, {"config.get": lambda key, default=None: default})
    validate = loaded["cloudassist.validate"]
    assert validate([{"interval": 1}]) == (True, "Valid beacon configuration")
    helper = validate.__globals__["watch"]
    assert helper.__file__ == str(extmods / "modules" / "_cloudassist_watch.py")


def test_a_synced_execution_module_under_salts_own_loader(tmp_path):
    extmods = lay_out(tmp_path, "synced", kinds=["modules"])
    opts = salt.config.minion_config(None)
    opts.update(
        extension_modules=str(extmods), module_dirs=[], utils_dirs=[], cachedir=str(tmp_path)
    )
    functions = salt.loader.minion_mods(opts, whitelist=["cloudassist"])
    status = functions["cloudassist.status"]
    assert status.__globals__["hosts"].__file__ == str(extmods / "modules" / "_cloudassist_host.py")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_entry_files_synced_without_the_library_say_what_to_sync(tmp_path, kind):
    extmods = lay_out(tmp_path, "synced", kinds=[kind], library=False)
    module = load(extmods / kind / "cloudassist.py")
    assert module.__virtual__() == (
        False,
        f"cloudassist: {extmods / 'modules' / '_cloudassist_lib.py'} is missing: sync the "
        "execution modules too, with saltutil.sync_all (salt-run saltutil.sync_all on a master)",
    )


def test_a_real_import_error_inside_the_library_surfaces_as_itself(tmp_path):
    """Only a missing library means "not synced"; a name missing inside it is that error."""
    base = lay_out(tmp_path, "synced", kinds=["runners"])
    broken = base / "modules" / "_cloudassist_report.py"
    broken.write_text("from _cloudassist_args import no_such_name\n" + broken.read_text())
    with pytest.raises(ImportError, match="no_such_name"):
        load(base / "runners" / "cloudassist.py")


def test_status_and_version_never_import_what_plans_and_acts(tmp_path):
    """The execution module imports act and plan on the first call that may change something:
    a job that only reads (status, version, enabled) does not pay for them."""
    base = lay_out(tmp_path, "synced", kinds=["modules"])
    for name in ("_cloudassist_act", "_cloudassist_plan"):
        sys.modules.pop(name, None)
    module = load(base / "modules" / "cloudassist.py")
    assert module.act is None and module.plans is None
    assert "_cloudassist_act" not in sys.modules and "_cloudassist_plan" not in sys.modules
    module._changing()
    assert pathlib.Path(module.act.__file__) == base / "modules" / "_cloudassist_act.py"
    assert pathlib.Path(module.plans.__file__) == base / "modules" / "_cloudassist_plan.py"
    assert module.act.errors is module.errors


def test_a_sync_between_loading_and_acting_is_an_error_not_a_mix(tmp_path):
    base = lay_out(tmp_path, "synced", kinds=["modules"])
    module = load(base / "modules" / "cloudassist.py")
    records = base / "modules" / "_cloudassist_records.py"
    records.write_text(records.read_text() + "\nSYNCED_AGAIN = True\n")
    with pytest.raises(module.errors.LibraryChanged) as caught:
        module._changing()
    assert caught.value.folder == str(base / "modules")
    assert module.act is None  # nothing half-imported is kept
    assert "run the call again" in str(caught.value)


def test_the_library_is_found_by_its_files_not_by_walking_sys_modules(tmp_path):
    base = lay_out(tmp_path, "synced", kinds=["modules"])
    lib = load(base / "modules" / "_cloudassist_lib.py", "lib_under_test")
    files = {path.stem for path in (base / "modules").glob("_cloudassist_*.py")}
    assert set(lib._names()) == files
    (base / "modules" / "_cloudassist_lib.py").unlink()
    (base / "modules" / "notes.txt").write_text("")
    assert set(lib._names()) == files - {"_cloudassist_lib"}
