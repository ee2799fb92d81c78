"""``_cloudassist_updates``: the vendor's self-update markers read, made and removed, on real
files laid out as the vendor's package lays them out (``standin.install_versioned_client``),
and the Windows folders computed with Windows' path rules."""

import ntpath
import os
import stat

import pytest

import _cloudassist_errors as errors
import _cloudassist_updates as updater
import standin

from .helpers import WindowsFiles

OLD = "2.2.3.578"
NEW = "2.2.4.1065"


@pytest.fixture
def install(tmp_path):
    return standin.install_versioned_client(tmp_path, OLD, relative_link=True)


def marker(folder, name=updater.UPDATE):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("anything, even this: the content does not matter\n")
    return path


def test_an_install_without_markers_is_allowed(install):
    state = updater.read(str(install.binary))
    config = install.folder / "config"
    assert state.as_dict() == {
        "frozen": False,
        "bootstrap_frozen": False,
        "markers": [],
        "config_dir": str(config),
        "version_dir": str(install.binary.parent),
        "version_dir_of": "installed",
        "installed_version_dir": str(install.binary.parent),
        "installed_frozen": False,
    }
    assert state.checked == (
        str(config / "disable_update"),
        str(config / "disable_bootstrap_update"),
        str(install.binary.parent / "config" / "disable_update"),
        str(install.binary.parent / "config" / "disable_bootstrap_update"),
    )


@pytest.mark.parametrize("where", ["cross-version", "version"])
def test_either_folder_freezes(install, where):
    folder = install.folder if where == "cross-version" else install.binary.parent
    path = marker(folder / "config")
    state = updater.read(str(install.binary))
    assert state.frozen and state.installed_frozen and not state.bootstrap_frozen
    assert state.markers == (str(path),)


def test_the_bootstrap_marker_alone(install):
    marker(install.folder / "config", updater.BOOTSTRAP)
    state = updater.read(str(install.binary))
    assert state.bootstrap_frozen and not state.frozen


def test_another_versions_marker_does_not_count(install):
    other = standin.install_versioned_client(
        install.folder.parents[2], NEW, relative_link=True, link=False, version_file=False
    )
    marker(other.binary.parent / "config")
    state = updater.read(str(install.binary))
    assert not state.frozen and state.markers == ()


def test_a_self_updated_host_reads_the_running_versions_folder(install):
    """After a self-update the running client is still the old folder's binary: its version
    folder counts; the installed (new) one's is read too and said apart."""
    new = standin.install_versioned_client(install.folder.parents[2], NEW, relative_link=True)
    old_marker = marker(install.binary.parent / "config")
    state = updater.read(str(new.binary), [str(install.binary)])
    assert state.version_dir == str(install.binary.parent)
    assert state.version_dir_of == "running"
    assert state.installed_version_dir == str(new.binary.parent)
    assert state.frozen is True and state.installed_frozen is False
    assert state.markers == (str(old_marker),)
    # the new version's own marker freezes only what runs after the restart
    old_marker.unlink()
    new_marker = marker(new.binary.parent / "config")
    state = updater.read(str(new.binary), [str(install.binary)])
    assert state.frozen is False and state.installed_frozen is True
    assert state.markers == (str(new_marker),)
    assert str(new_marker) in state.checked


def test_a_directory_or_a_link_to_a_file_counts_as_the_client_stats_it(install, tmp_path):
    config = install.folder / "config"
    (config / "disable_update").mkdir(parents=True)
    target = tmp_path / "elsewhere"
    target.write_text("")
    (config / "disable_bootstrap_update").symlink_to(target)
    state = updater.read(str(install.binary))
    assert state.frozen and state.bootstrap_frozen
    # a dangling link is present, but the client's stat does not find it
    target.unlink()
    state = updater.read(str(install.binary))
    assert not state.bootstrap_frozen
    assert str(config / "disable_bootstrap_update") in state.markers


def test_to_freeze_names_the_folder_and_the_two_files(install):
    state = updater.read(str(install.binary))
    config = install.folder / "config"
    assert updater.to_freeze(state) == (
        str(config),
        str(config / "disable_update"),
        str(config / "disable_bootstrap_update"),
    )
    assert not config.exists()  # nothing is changed by asking


def test_create_makes_root_owned_files_with_the_modes(install):
    config = install.folder / "config"
    old = os.umask(0o077)
    try:
        done = updater.create(str(config), updater.to_freeze(updater.read(str(install.binary))))
    finally:
        os.umask(old)
    assert done == (
        str(config),
        str(config / "disable_update"),
        str(config / "disable_bootstrap_update"),
    )
    assert stat.S_IMODE(config.stat().st_mode) == 0o755
    for name in updater.MARKERS:
        info = (config / name).lstat()
        assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o644
        assert info.st_size == 0
        if os.geteuid() == 0:
            assert (info.st_uid, info.st_gid) == (0, 0)
    state = updater.read(str(install.binary))
    assert state.frozen and state.bootstrap_frozen
    assert updater.to_freeze(state) == ()  # frozen there: nothing more to do


def test_freeze_keeps_an_existing_marker_file(install):
    kept = marker(install.folder / "config")
    todo = updater.to_freeze(updater.read(str(install.binary)))
    assert todo == (str(install.folder / "config" / "disable_bootstrap_update"),)
    assert updater.create(str(install.folder / "config"), todo) == todo
    assert kept.read_text().startswith("anything")


@pytest.mark.parametrize("kind", ["directory", "symlink", "dangling"])
def test_freeze_refuses_a_marker_that_is_no_file(install, tmp_path, kind):
    config = install.folder / "config"
    config.mkdir()
    path = config / "disable_update"
    if kind == "directory":
        path.mkdir()
    else:
        target = tmp_path / "target"
        if kind == "symlink":
            target.write_text("")
        path.symlink_to(target)
    with pytest.raises(errors.UnsafeMarker) as caught:
        updater.to_freeze(updater.read(str(install.binary)))
    assert caught.value.path == str(path)
    assert "nothing was changed" in str(caught.value)
    found = "a directory" if kind == "directory" else "a symbolic link to"
    assert found in str(caught.value) and caught.value.found.startswith(found)
    assert not (config / "disable_bootstrap_update").exists()


def test_freeze_refuses_a_config_folder_that_is_a_link(install, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (install.folder / "config").symlink_to(elsewhere)
    with pytest.raises(errors.UnsafeMarker, match="is a symbolic link to .*not a directory"):
        updater.to_freeze(updater.read(str(install.binary)))
    assert list(elsewhere.iterdir()) == []


def test_allow_removes_every_marker_the_client_reads(install):
    new = standin.install_versioned_client(install.folder.parents[2], NEW, relative_link=True)
    paths = [
        marker(install.folder / "config"),
        marker(install.folder / "config", updater.BOOTSTRAP),
        marker(install.binary.parent / "config"),
        marker(new.binary.parent / "config", updater.BOOTSTRAP),
    ]
    state = updater.read(str(new.binary), [str(install.binary)])
    todo = updater.to_allow(state)
    assert sorted(todo) == sorted(map(str, paths))
    assert updater.remove(todo) == todo
    assert not any(path.exists() for path in paths)
    state = updater.read(str(new.binary), [str(install.binary)])
    assert not (state.frozen or state.bootstrap_frozen or state.installed_frozen)
    assert updater.to_allow(state) == ()
    assert (install.folder / "config").is_dir()  # the folders stay


@pytest.mark.parametrize("kind", ["directory", "symlink"])
def test_allow_refuses_a_marker_that_is_no_file_and_changes_nothing(install, tmp_path, kind):
    plain = marker(install.folder / "config")
    odd = install.binary.parent / "config" / "disable_bootstrap_update"
    odd.parent.mkdir()
    target = tmp_path / "precious"
    target.write_text("keep me")
    if kind == "directory":
        odd.mkdir()
    else:
        odd.symlink_to(target)
    with pytest.raises(errors.UnsafeMarker) as caught:
        updater.to_allow(updater.read(str(install.binary)))
    assert caught.value.path == str(odd)
    assert "neither followed nor removed" in str(caught.value)
    assert plain.exists() and os.path.lexists(odd) and target.read_text() == "keep me"


def test_allow_refuses_a_marker_in_a_linked_folder(install, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    marker(elsewhere)
    (install.binary.parent / "config").symlink_to(elsewhere)
    with pytest.raises(errors.UnsafeMarker, match="not a directory"):
        updater.to_allow(updater.read(str(install.binary)))
    assert (elsewhere / "disable_update").exists()


def test_a_refused_creation_is_a_marker_failure(install):
    # A refusal that root cannot override (these tests run as root, which writes into a
    # read-only folder): a name longer than the file system allows.
    config = install.folder / ("c" * 300)
    with pytest.raises(errors.MarkerFailed, match="could not create .*: File name too long"):
        updater.create(str(config), (str(config), str(config / "disable_update")))
    assert str(config.parent / "config") not in [str(p) for p in install.folder.iterdir()]


def test_a_failure_after_a_change_is_partly_done(install, monkeypatch):
    config = install.folder / "config"
    real = updater._make_file

    def second_fails(path):
        if path.endswith(updater.BOOTSTRAP):
            raise OSError(30, "Read-only file system")
        real(path)

    monkeypatch.setattr(updater, "_make_file", second_fails)
    with pytest.raises(errors.PartlyDone) as caught:
        updater.create(str(config), updater.to_freeze(updater.read(str(install.binary))))
    assert isinstance(caught.value.cause, errors.MarkerFailed)
    assert caught.value.changes == {
        "created": {"old": [], "new": [str(config), str(config / "disable_update")]}
    }
    assert "Read-only file system" in str(caught.value)


# --- Windows: its folders with its path rules ----------------------------------------------

ROOT = "C:\\ProgramData\\aliyun\\assist"


@pytest.fixture
def windows(tmp_path, monkeypatch):
    files = WindowsFiles(str(tmp_path / "c"))
    monkeypatch.setattr(updater, "os", files)
    return files


def test_windows_folders(windows):
    exe = ROOT + "\\2.2.4.1065\\aliyun_assist_service.exe"
    state = updater.read(exe, [exe], paths=ntpath)
    assert state.config_dir == ROOT + "\\config"
    assert state.version_dir == state.installed_version_dir == ROOT + "\\2.2.4.1065"
    assert state.version_dir_of == "running"
    assert state.checked == (
        ROOT + "\\config\\disable_update",
        ROOT + "\\config\\disable_bootstrap_update",
        ROOT + "\\2.2.4.1065\\config\\disable_update",
        ROOT + "\\2.2.4.1065\\config\\disable_bootstrap_update",
    )
    assert not state.frozen


def test_windows_freeze_and_allow_use_its_paths(windows):
    exe = ROOT + "\\2.2.4.1065\\aliyun_assist_service.exe"
    os.makedirs(windows.real(ROOT + "\\2.2.4.1065"))
    todo = updater.to_freeze(updater.read(exe, paths=ntpath), paths=ntpath)
    assert todo == (
        ROOT + "\\config",
        ROOT + "\\config\\disable_update",
        ROOT + "\\config\\disable_bootstrap_update",
    )
    assert updater.create(ROOT + "\\config", todo) == todo
    assert os.path.isfile(windows.real(ROOT + "\\config\\disable_update"))
    state = updater.read(exe, paths=ntpath)
    assert state.frozen and state.bootstrap_frozen
    assert updater.remove(updater.to_allow(state, paths=ntpath)) == todo[1:]
    assert not updater.read(exe, paths=ntpath).markers
