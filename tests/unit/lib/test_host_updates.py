"""``_modules/_cloudassist_host.py``: which version folder's markers count (issue 25), read from
the real process table: a stand-in client really running from an older version folder after
a self-update, and the Windows host's folders from the Service Control Manager's binary."""

import subprocess

import pytest

import _cloudassist_errors as errors
import _cloudassist_facts as facts
import _cloudassist_host as hosts
import _cloudassist_updates as updater
import standin

from .helpers import wait_until

OLD = "2.2.3.578"
NEW = "2.2.4.1065"


def linux_host(binary):
    config = {"binary": str(binary), "init_system": "sysvinit"}
    return hosts.LinuxHost(lambda key, default=None: config.get(key, default), {}, 5)


@pytest.fixture
def running_old(tmp_path):
    """A client started from the OLD folder, then self-updated to NEW (link and version file
    moved), still running from OLD: ``(old install, new install, process)``."""
    old = standin.install_versioned_client(tmp_path, OLD, relative_link=True)
    proc = subprocess.Popen([str(old.binary)])
    try:
        new = standin.install_versioned_client(tmp_path, NEW, relative_link=True)
        assert wait_until(lambda: facts.client_pids(str(new.link)) == [proc.pid])
        yield old, new, proc
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_running_clients_folder_counts_after_a_self_update(running_old):
    old, new, proc = running_old
    host = linux_host(new.link)
    state = host.updates_now()
    assert state.version_dir == str(old.binary.parent)
    assert state.version_dir_of == "running"
    assert state.installed_version_dir == str(new.binary.parent)
    assert not state.frozen
    (old.binary.parent / "config").mkdir()
    (old.binary.parent / "config" / updater.UPDATE).touch()
    state = host.updates_now()
    assert state.frozen and not state.installed_frozen
    status = host.status()
    assert status.pids == (proc.pid,)
    assert status.updates == state
    assert status.as_dict()["updates"]["version_dir"] == str(old.binary.parent)


def test_a_stopped_client_reads_the_installed_folder(tmp_path):
    install = standin.install_versioned_client(tmp_path, OLD, relative_link=True)
    state = linux_host(install.link).updates_now()
    assert state.version_dir_of == "installed"
    assert state.config_dir == str(install.folder / "config")


def test_not_installed_is_the_sentence_of_every_action(tmp_path):
    host = linux_host(tmp_path / "usr" / "sbin" / "aliyun-service")
    with pytest.raises(errors.NotInstalled) as by_updates:
        host.updates_now()
    with pytest.raises(errors.NotInstalled) as by_status:
        host.status()
    assert str(by_updates.value) == str(by_status.value)
    assert str(by_updates.value).startswith("the Cloud Assistant client is not installed")


class SCM:
    def __init__(self, binary_path, running=True):
        self.binary_path, self.running = binary_path, running

    def salt(self):
        return {
            "service.info": lambda name: {"BinaryPath": self.binary_path, "StartType": "Auto"},
            "service.status": lambda name: self.running,
        }


def test_windows_reads_the_configured_binarys_folders():
    exe = "C:\\ProgramData\\aliyun\\assist\\2.2.4.1065\\aliyun_assist_service.exe"
    host = hosts.WindowsHost(lambda key, default=None: default, SCM(f'"{exe}" --service').salt(), 5)
    state = host.updates_now()
    assert state.config_dir == "C:\\ProgramData\\aliyun\\assist\\config"
    assert state.version_dir == "C:\\ProgramData\\aliyun\\assist\\2.2.4.1065"
    assert state.version_dir_of == "running"
    assert state.checked[0] == "C:\\ProgramData\\aliyun\\assist\\config\\disable_update"


def test_windows_without_a_binary_says_why(tmp_path):
    config = {"windows_root": str(tmp_path / "none")}
    scm = SCM(None)
    host = hosts.WindowsHost(lambda key, default=None: config.get(key, default), scm.salt(), 5)
    with pytest.raises(errors.Unreadable, match="names a client binary, so its version folder"):
        host.updates_now()
