"""The grain's Python paths that salt-call on this Linux host cannot take: Windows (the Service
Control Manager through Salt's win_service helper, faked) and the never-raise guarantees."""

import pytest

import _cloudassist_host as hosts
import loaded
import standin

grain = loaded.load("grains")


@pytest.fixture
def configure_loader_modules():
    return {grain: {"__opts__": {"cloudassist": {}}}}


class FakeWinService:
    """salt.utils.win_service.info: what the SCM says of a service, or CommandExecutionError."""

    def __init__(self, services):
        self.services = services

    def info(self, name):
        if name not in self.services:
            raise hosts.CommandExecutionError(f"Failed To Open {name}: does not exist")
        return dict(self.services[name])


def test_windows_facts_from_the_scm(monkeypatch, tmp_path):
    exe = standin.install_client(
        tmp_path / "2.2.4.1065" / "aliyun_assist_service.exe", "2.2.4.1065"
    )
    scm = FakeWinService(
        {
            "AliyunService": {
                "BinaryPath": f'"{exe}" --service',
                "Status": "Running",
                "StartType": "Auto",
            },
        }
    )
    import salt.utils.win_service as win_service

    monkeypatch.setattr(win_service, "info", scm.info)
    facts = grain._facts("windows", lambda key, default=None: default, grain._windows_salt())
    assert facts == {
        "installed": True,
        "version": "2.2.4.1065",
        "init_system": "windows",
        "service": "AliyunService",
        "enabled": True,
    }
    scm.services["AliyunService"]["StartType"] = "Manual"
    assert (
        grain._facts("windows", lambda key, default=None: default, grain._windows_salt())["enabled"]
        is False
    )


def test_windows_without_the_service_is_not_installed(monkeypatch):
    import salt.utils.win_service as win_service

    monkeypatch.setattr(win_service, "info", FakeWinService({}).info)
    facts = grain._facts("windows", lambda key, default=None: default, grain._windows_salt())
    assert facts == dict.fromkeys(grain.KEYS, None) | {"installed": False}


def test_an_unexpected_fault_is_an_error_key_not_an_exception(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the host object could not be made")

    monkeypatch.setattr(hosts, "host_for", broken)
    facts = grain._facts("linux", lambda key, default=None: default)
    assert facts["installed"] is None
    assert facts["error"] == "RuntimeError: the host object could not be made"


@pytest.mark.parametrize("timeout", ["soon", 0, -1, True])
def test_a_bad_timeout_in_the_minion_config_is_named(timeout):
    facts = grain._facts(
        "linux", lambda key, default=None: timeout if key == "timeout" else default
    )
    assert "cloudassist:timeout must be a number of seconds greater than 0" in facts["error"]
    assert facts["version"] is None and facts["installed"] is None
