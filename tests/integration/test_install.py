"""The two ways of installing (docs/install.md: "With pip", "Synced from the master's
file_roots"): where the minion really loads cloudassist from, that the pip install needs no
sync, and that a re-sync reaches the helpers of a running minion.

Where the code comes from is read on the minion itself: ``salt://ca_where.sls`` (a ``#!py``
file, see conftest.SLS) is rendered by ``slsutil.renderer`` inside a minion job and returns the
``__file__`` of the module behind ``__salt__["cloudassist.status"]``, of every cloudassist_*
helper it imports, and of the state module.
"""

from pathlib import Path

import pytest

from .conftest import cloudassist_files, minion_path, sync_all, synced_folders

SYNCED_ONLY = pytest.mark.parametrize("install", ["synced"], indirect=True)
PIP_ONLY = pytest.mark.parametrize("install", ["pip"], indirect=True)
HELPERS = (
    "act",
    "args",
    "facts",
    "host",
    "init_system",
    "install",
    "plan",
    "procedure",
    "records",
    "run",
    "systemd",
)


def where(run):
    ret = run("slsutil.renderer", "salt://ca_where.sls")
    assert ret.returncode == 0, ret
    assert isinstance(ret.data, dict), ret
    return ret.data


def extmods(salt_cli, minion):
    return minion_path(salt_cli, minion.id, "extension_modules")


def status(run):
    ret = run("cloudassist.status")
    assert ret.returncode == 0, ret
    assert ret.data["installed"] is True, ret.data
    return ret.data


def test_loaded_from_where_the_mode_says(run, install, salt_cli, minion):
    data = where(run)
    names = {Path(path).stem.removeprefix("_cloudassist_") for path in data["helpers"].values()}
    assert set(HELPERS) <= names, data
    if install.mode == "synced":
        base = extmods(salt_cli, minion)
        assert data["module"] == str(base / "modules" / "cloudassist.py"), data
        assert data["state"] == str(base / "states" / "cloudassist.py"), data
        for path in data["helpers"].values():
            assert Path(path).parent == base / "modules", data
    else:
        package = install.sitedir / "saltext" / "cloudassist"
        assert data["module"] == str(package / "modules" / "cloudassist.py"), data
        assert data["state"] == str(package / "states" / "cloudassist.py"), data
        for path in data["helpers"].values():
            assert Path(path).parent == package / "modules", data


@PIP_ONLY
def test_pip_install_needs_no_sync(run, install, salt_master, salt_cli, minion):
    # The master has nothing to sync: no folder in its file_roots (the SLS files, and
    # salt-factories' empty state-tree folders) holds a _modules, _states, ...
    roots = [Path(path) for paths in salt_master.config["file_roots"].values() for path in paths]
    assert roots and [p for root in roots for p in root.glob("_*")] == [], roots
    ret = run("cp.list_master")
    assert ret.returncode == 0, ret
    assert [path for path in ret.data if path.startswith("_")] == [], ret.data

    # The minion holds no synced copy: nothing named cloudassist in the folders a sync writes
    # (the loader reads the first: in synced mode, test_loaded_from_where_the_mode_says finds
    # the synced files there).  The `minion` fixture checks them again after the last test.
    for folder in synced_folders(salt_cli, minion.id):
        assert cloudassist_files(folder) == [], folder

    # And yet it is all there.
    ret = run("sys.list_modules")
    assert ret.returncode == 0 and "cloudassist" in ret.data, ret
    ret = run("sys.list_state_modules")
    assert ret.returncode == 0 and "cloudassist" in ret.data, ret
    assert status(run)["version"]

    # Only from SITEDIR: the same minion config without PYTHONPATH has no cloudassist.
    environ = dict(minion.environ)
    environ.pop("PYTHONPATH", None)
    ret = minion.salt_call_cli(timeout=120, environ=environ).run("sys.list_modules")
    assert ret.returncode == 0, ret
    assert "cloudassist" not in ret.data and "test" in ret.data, ret.data


RESYNC_PATCH = """

# --- appended by tests/integration/test_install.py (a re-sync must reach this) ---
_resync_unpatched_as_dict = ClientStatus.as_dict


def _resync_as_dict(self):
    data = _resync_unpatched_as_dict(self)
    data["resynced"] = True
    return data


ClientStatus.as_dict = _resync_as_dict
"""


@SYNCED_ONLY
def test_resync_reaches_helpers_without_restart(run, install, salt_cli, minion):
    """docs/install.md, synced: "To upgrade, update file_roots and run saltutil.sync_all
    again"; each job is a new process that imports the synced helpers afresh.  The changed
    module is _cloudassist_records, which the execution module only reaches through
    _cloudassist_host."""
    records = install.file_roots[0] / "_modules" / "_cloudassist_records.py"
    original = records.read_text()
    synced = extmods(salt_cli, minion) / "modules" / "_cloudassist_records.py"
    pid = minion.pid
    assert pid and minion.is_running()
    assert "resynced" not in status(run)

    try:
        records.write_text(original + RESYNC_PATCH)
        data = sync_all(salt_cli, minion.id)
        assert data["modules"] == ["modules._cloudassist_records"], data
        assert synced.read_text() == original + RESYNC_PATCH
        changed = status(run)
        assert changed.get("resynced") is True, (
            "the running minion kept the helper it had before the re-sync",
            changed,
        )
    finally:
        records.write_text(original)
        back = sync_all(salt_cli, minion.id)

    assert back["modules"] == ["modules._cloudassist_records"], back
    assert "resynced" not in status(run)
    assert minion.pid == pid, "the minion was restarted"
