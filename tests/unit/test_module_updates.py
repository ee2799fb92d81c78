"""The execution module's ``updates``, ``freeze_updates`` and ``allow_updates`` (issue 25), in
Salt's loader mock, on a real stand-in client laid out as the vendor's package lays it out:
the markers are real files, checked from outside the module; ``test=True`` predicts the real
run's return and changes nothing; a second run changes nothing."""

import os
import stat

import pytest
from salt.exceptions import CommandExecutionError

import loaded
import standin

module = loaded.execution

MARKERS = ("disable_update", "disable_bootstrap_update")


@pytest.fixture
def install(tmp_path):
    return standin.install_versioned_client(tmp_path / "root", "2.2.3.578", relative_link=True)


@pytest.fixture
def refreshed():
    return []


@pytest.fixture
def configure_loader_modules(tmp_path, install, refreshed):
    opts = {
        "cachedir": str(tmp_path / "cache"),
        "cloudassist": {"binary": str(install.link), "init_system": "sysvinit", "timeout": 5},
    }
    salt = {"saltutil.refresh_grains": lambda **kwargs: refreshed.append(kwargs)}
    return {module: {"__salt__": salt, "__opts__": opts, "__pillar__": {}}}


def tree(folder):
    """Every path under ``folder`` with what it is: what a change left on the disk."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            found[path] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), info.st_size)
    return found


def without_test(result):
    return {key: value for key, value in result.items() if key != "test"}


def test_freeze_read_allow_and_again(install, refreshed):
    config = install.folder / "config"
    assert module.updates()["frozen"] is False
    before = tree(install.folder)

    predicted = module.freeze_updates(test=True)
    assert tree(install.folder) == before, "test=True changed the disk"
    assert predicted["test"] is True and predicted["changed"] is True
    assert "would create" in predicted["comment"]

    frozen = module.freeze_updates()
    assert without_test(predicted) | {"comment": frozen["comment"]} == frozen
    made = [str(config), *(str(config / name) for name in MARKERS)]
    assert frozen["changes"] == {
        "frozen": {"old": False, "new": True},
        "bootstrap_frozen": {"old": False, "new": True},
        "created": {"old": [], "new": made},
    }
    assert frozen["frozen"] is frozen["bootstrap_frozen"] is True
    assert frozen["markers"] == made[1:]
    for name in MARKERS:  # from outside the module
        assert stat.S_ISREG(os.lstat(config / name).st_mode)
    assert len(refreshed) == 1  # the grain says frozen now

    assert module.updates() == {
        key: frozen[key] for key in frozen if key not in ("changed", "changes", "comment")
    }
    assert module.status()["updates"] == module.updates()

    again = module.freeze_updates()
    assert again["changed"] is False and again["changes"] == {}
    assert "already frozen" in again["comment"]
    assert module.freeze_updates(test=True)["changes"] == {}

    predicted = module.allow_updates(test=True)
    assert all((config / name).exists() for name in MARKERS)
    allowed = module.allow_updates()
    assert without_test(predicted) | {"comment": allowed["comment"]} == allowed
    assert allowed["changes"] == {
        "frozen": {"old": True, "new": False},
        "bootstrap_frozen": {"old": True, "new": False},
        "removed": {"old": made[1:], "new": []},
    }
    assert not any((config / name).exists() for name in MARKERS)
    assert config.is_dir()
    assert len(refreshed) == 2

    again = module.allow_updates()
    assert again["changed"] is False and again["changes"] == {}
    assert "already allowed" in again["comment"]


def test_allow_removes_the_version_folders_markers_too(install):
    version_config = install.binary.parent / "config"
    version_config.mkdir()
    (version_config / "disable_update").write_text("1")
    assert module.updates()["frozen"] is True
    # freezing adds the cross-version markers; the version's own stays
    module.freeze_updates()
    result = module.allow_updates()
    assert sorted(result["changes"]["removed"]["old"]) == sorted(
        [str(version_config / "disable_update")]
        + [str(install.folder / "config" / name) for name in MARKERS]
    )
    assert not (version_config / "disable_update").exists()


@pytest.mark.parametrize("kind", ["directory", "symlink"])
def test_a_marker_that_is_no_file_is_an_error_and_nothing_changes(install, tmp_path, kind):
    config = install.folder / "config"
    config.mkdir()
    (config / "disable_bootstrap_update").write_text("")
    odd = config / "disable_update"
    if kind == "directory":
        odd.mkdir()
    else:
        target = tmp_path / "precious"
        target.write_text("keep")
        odd.symlink_to(target)
    before = tree(install.folder)
    for call in (module.allow_updates, module.freeze_updates):
        for test in (True, False):
            with pytest.raises(CommandExecutionError, match="nothing was changed") as caught:
                call(test=test)
            assert str(odd) in str(caught.value)
    assert tree(install.folder) == before


def test_not_installed_is_the_sentence_of_the_actions(install):
    os.unlink(install.link)
    with pytest.raises(CommandExecutionError) as by_stop:
        module.stop()
    for call in (module.updates, module.freeze_updates, module.allow_updates):
        with pytest.raises(CommandExecutionError) as caught:
            call()
        assert str(caught.value) == str(by_stop.value)
    assert "not installed" in str(by_stop.value)
    assert module.status()["updates"] is None


@pytest.mark.parametrize("call", ["freeze_updates", "allow_updates"])
def test_a_bad_test_argument_is_named(call):
    with pytest.raises(CommandExecutionError, match="the argument test must be true or false"):
        getattr(module, call)(test="yes")
