"""The execution module ``_modules/cloudassist.py`` on Windows, against a stand-in for the
Service Control Manager.

Windows cannot run here; Salt's ``win_service`` functions (service.info, status, start,
stop, available) are the interface the module uses, so a fake of exactly those stands in
for the SCM.  The client binary's ``--version`` is a real stand-in program.
"""

import os

import pytest
import salt.utils.platform
from salt.exceptions import CommandExecutionError

import _cloudassist_host as hosts
import loaded
import standin

module = loaded.execution


class FakeSCM:
    def __init__(self, binary_path, running=True):
        self.services = {
            "AliyunService": {"BinaryPath": binary_path, "running": running, "StartType": "Auto"}
        }
        self.calls = []
        self.stop_effect = True  # False: the service ignores the stop request
        self.start_effect = "run"  # "run", "die" (stops again at once), "fail" (raises)

    def info(self, name):
        if name not in self.services:
            raise CommandExecutionError(
                f"Failed To Open {name}: "
                "The specified service does not exist as an installed service."
            )
        svc = self.services[name]
        return {
            "BinaryPath": svc.get("BinaryPath"),
            "Status": "Running" if svc["running"] else "Stopped",
            "StartType": svc["StartType"],
        }

    # win_service's boot functions: the start type, as the SCM keeps it
    def enabled(self, name, **kwargs):
        return self.info(name)["StartType"] == "Auto"

    def enable(self, name, start_type="auto", start_delayed=False, **kwargs):
        self.calls.append(("enable", name))
        self.services[name]["StartType"] = start_type.capitalize()
        return True

    def disable(self, name, **kwargs):
        self.calls.append(("disable", name))
        self.services[name]["StartType"] = "Disabled"
        return True

    def status(self, name):
        svc = self.services[name]
        if svc.pop("dies", False):
            svc["running"] = False
            return True
        return svc["running"]

    def available(self, name):
        return name in self.services

    def stop(self, name, timeout=90):
        self.calls.append(("stop", name, timeout))
        if self.stop_effect:
            self.services[name]["running"] = False
        return not self.services[name]["running"]

    def start(self, name, timeout=90):
        self.calls.append(("start", name, timeout))
        if self.start_effect == "fail":
            raise CommandExecutionError(f"Failed To Start {name}: Access is denied.")
        self.services[name]["running"] = True
        if self.start_effect == "die":
            self.services[name]["dies"] = True
        return True

    def salt(self):
        return {
            "service.info": self.info,
            "service.status": self.status,
            "service.available": self.available,
            "service.stop": self.stop,
            "service.start": self.start,
            "service.enabled": self.enabled,
            "service.enable": self.enable,
            "service.disable": self.disable,
        }


@pytest.fixture
def assist_root(tmp_path):
    root = tmp_path / "ProgramData" / "aliyun" / "assist"
    for version in ("2.1.3.857", "2.2.9.1", "2.2.10.1"):
        standin.install_client(root / version / "aliyun_assist_service.exe", version)
    (root / "not-a-version").mkdir()
    (root / "2.3.0.1").mkdir()  # newest, but its binary is missing
    return root


@pytest.fixture
def scm():
    return FakeSCM(None)


@pytest.fixture
def config(assist_root):
    """The minion's cloudassist:* configuration; a test may change it before calling."""
    return {"windows_root": str(assist_root), "settle": 0.3, "timeout": 5}


@pytest.fixture
def configure_loader_modules(scm, config, tmp_path):
    opts = {"cachedir": str(tmp_path / "cache"), "cloudassist": config}
    return {module: {"__salt__": scm.salt(), "__opts__": opts, "__pillar__": {}}}


@pytest.fixture(autouse=True)
def on_windows(monkeypatch):
    # What the module asks to tell the platform; Salt's own answer for this test only.
    monkeypatch.setattr(salt.utils.platform, "is_windows", lambda: True)


def service(scm, binary_path, running=True):
    scm.services["AliyunService"].update(BinaryPath=binary_path, running=running)


def quoted(path):
    return f'"{path}" --service'


def test_status_reads_the_service_and_its_binary(monkeypatch, scm, assist_root):
    service(scm, quoted(assist_root / "2.1.3.857" / "aliyun_assist_service.exe"))

    def no_fallback(root):
        raise AssertionError(
            "the version folders were listed although the configured binary answered"
        )

    monkeypatch.setattr(hosts, "newest_windows_exe", no_fallback)
    status = module.status()
    assert status["running"] is True
    assert status["init_system"] == "windows"
    assert status["service"] == "AliyunService"
    assert status["version"] == "2.1.3.857"
    assert status["commands"] == {
        "stop": "service.stop AliyunService",
        "start": "service.start AliyunService",
    }
    assert module.version() == "2.1.3.857"
    assert scm.calls == []


def test_version_falls_back_to_the_newest_version_folder(scm, tmp_path):
    service(scm, quoted(tmp_path / "gone" / "aliyun_assist_service.exe"))
    assert module.version() == "2.2.10.1"


def test_no_version_anywhere_is_a_clear_error(scm, config, tmp_path):
    service(scm, "")
    config["windows_root"] = str(tmp_path / "nowhere")
    with pytest.raises(
        CommandExecutionError,
        match="could not be read: neither the AliyunService configuration nor .*nowhere "
        "names a client binary",
    ):
        module.version()
    assert module.status()["version"] is None


def test_a_minion_without_the_service(scm):
    scm.services.clear()
    for call in (module.version, module.stop, module.start, module.restart):
        with pytest.raises(
            CommandExecutionError,
            match="not installed: looked for the Windows service AliyunService",
        ):
            call()
    # status answers: an inventory does not fail on a minion without the client.
    status = module.status()
    assert status["installed"] is False and status["running"] is False
    assert status["platform"] == "windows" and status["init_system"] == "windows"
    assert status["looked_in"] == ["AliyunService"]
    assert "not installed: looked for the Windows service AliyunService" in status["comment"]
    assert status["version"] is None and status["service"] is None


def test_stop_then_stop_again(scm, assist_root):
    service(scm, quoted(assist_root / "2.2.10.1" / "aliyun_assist_service.exe"))
    result = module.stop()
    assert scm.calls == [("stop", "AliyunService", 5)]
    assert result["running"] is False and result["changed"] is True
    assert result["command"] == "service.stop AliyunService"
    assert "no longer receives Cloud Assistant commands" in result["warning"]
    again = module.stop()
    assert again["changed"] is False and len(scm.calls) == 1


def test_a_stop_the_service_ignores_is_an_error(scm, config, assist_root):
    service(scm, quoted(assist_root / "2.2.10.1" / "aliyun_assist_service.exe"))
    scm.stop_effect = False
    config["timeout"] = 1
    with pytest.raises(
        CommandExecutionError,
        match="`service.stop AliyunService` succeeded but the client is still running after 1 s",
    ):
        module.stop()


def test_start_and_a_start_that_fails_or_dies(scm, assist_root):
    service(scm, quoted(assist_root / "2.2.10.1" / "aliyun_assist_service.exe"), running=False)
    result = module.start()
    assert result["running"] is True and result["changed"] is True
    assert module.start()["changed"] is False

    scm.services["AliyunService"]["running"] = False
    scm.start_effect = "fail"
    with pytest.raises(
        CommandExecutionError,
        match="`service.start AliyunService` failed: "
        "Failed To Start AliyunService: Access is denied",
    ):
        module.start()

    scm.start_effect = "die"
    with pytest.raises(
        CommandExecutionError, match="started the client .* but it exited within 0.3 s"
    ):
        module.start()


def test_restart_stops_then_starts(scm, assist_root):
    service(scm, quoted(assist_root / "2.2.10.1" / "aliyun_assist_service.exe"))
    result = module.restart()
    assert [c[0] for c in scm.calls] == ["stop", "start"]
    assert result["running"] is True
    assert result["command"] == "service.stop AliyunService; service.start AliyunService"


def test_test_mode_asks_the_scm_and_changes_nothing(scm, assist_root):
    service(scm, quoted(assist_root / "2.2.10.1" / "aliyun_assist_service.exe"))
    stop = module.stop(test=True)
    assert stop["test"] is True and stop["running"] is False
    assert stop["changes"] == {"running": {"old": True, "new": False}}
    assert "`service.stop AliyunService`" in stop["comment"]
    restart = module.restart(test=True)
    assert restart["changes"] == {"restarted": {"old": ["AliyunService"], "new": "new pids"}}
    assert module.start(test=True)["changes"] == {}
    assert scm.calls == [] and scm.services["AliyunService"]["running"] is True


# --- starting at boot: the start type -----------------------------------------------------------


def test_enabled_reads_the_start_type(scm, assist_root):
    service(scm, quoted(assist_root / "2.1.3.857" / "aliyun_assist_service.exe"))
    assert module.enabled() is True
    scm.services["AliyunService"]["StartType"] = "Manual"
    assert module.enabled() is False
    assert (
        module.status()["boot"]["how"]
        == "the Service Control Manager's start type of AliyunService is Manual"
    )


def test_disable_and_enable_change_the_start_type_and_read_it_back(scm, assist_root):
    service(scm, quoted(assist_root / "2.1.3.857" / "aliyun_assist_service.exe"))
    predicted = module.disable(test=True)
    assert predicted["changes"] == {"enabled": {"old": True, "new": False}} and scm.calls == []
    ret = module.disable()
    assert ret["changes"] == predicted["changes"] and ret["enabled"] is False
    assert scm.calls == [("disable", "AliyunService")] and scm.services["AliyunService"]["running"]
    assert module.disable()["changes"] == {}
    assert module.enable()["changes"] == {"enabled": {"old": False, "new": True}}
    assert scm.services["AliyunService"]["StartType"] == "Auto"


def test_a_start_type_that_does_not_change_is_an_error(scm, assist_root, monkeypatch):
    service(scm, quoted(assist_root / "2.1.3.857" / "aliyun_assist_service.exe"))
    monkeypatch.setattr(scm, "disable", lambda name, **kwargs: True)  # the SCM refuses silently
    module.__salt__["service.disable"] = scm.disable
    with pytest.raises(CommandExecutionError, match="but AliyunService still starts at boot"):
        module.disable()


def test_stop_with_the_watchdog_service_disables_both_at_boot(scm, assist_root):
    service(scm, quoted(assist_root / "2.1.3.857" / "aliyun_assist_service.exe"))
    scm.services["AssistDaemon"] = {"BinaryPath": None, "running": True, "StartType": "Auto"}
    status = module.status()
    assert status["watchdog"] == {
        "running": True,
        "pids": ["AssistDaemon"],
        "form": "service",
        "service": "AssistDaemon",
        "enabled": True,
    }
    ret = module.stop(stop_watchdog=True, enable=False)
    assert ret["changes"] == {
        "watchdog": {"old": True, "new": False},
        "running": {"old": True, "new": False},
        "enabled": {"old": True, "new": False},
        "watchdog_enabled": {"old": True, "new": False},
    }
    assert [call for call in scm.calls if call[0] != "stop"] == [
        ("disable", "AssistDaemon"),
        ("disable", "AliyunService"),
    ]
    assert (
        scm.services["AssistDaemon"]["StartType"] == "Disabled"
        and not scm.services["AssistDaemon"]["running"]
    )


def test_updates_are_frozen_and_allowed_in_the_windows_folders(monkeypatch, scm, tmp_path):
    """The paths the Windows client reads (its binary's version folder and the folder above,
    with Windows' path rules); the files live in a folder of this host standing for C:."""
    from .lib.helpers import WindowsFiles

    files = WindowsFiles(str(tmp_path / "c"))
    monkeypatch.setattr(module.updater, "os", files)  # the library this layout's module runs
    root = "C:\\ProgramData\\aliyun\\assist"
    service(scm, quoted(root + "\\2.2.10.1\\aliyun_assist_service.exe"))
    os.makedirs(files.real(root + "\\2.2.10.1"))
    state = module.updates()
    assert state["config_dir"] == root + "\\config"
    assert state["version_dir"] == root + "\\2.2.10.1"
    assert state["version_dir_of"] == "running" and state["frozen"] is False
    frozen = module.freeze_updates()
    assert frozen["changes"]["created"]["new"] == [
        root + "\\config",
        root + "\\config\\disable_update",
        root + "\\config\\disable_bootstrap_update",
    ]
    assert os.path.isfile(files.real(root + "\\config\\disable_update"))
    assert module.updates()["frozen"] is True
    allowed = module.allow_updates()
    assert allowed["changes"]["removed"]["old"] == frozen["changes"]["created"]["new"][1:]
    assert module.updates()["markers"] == []
    assert scm.calls == []
