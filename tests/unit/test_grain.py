"""The grain's Python paths that salt-call on this Linux host cannot take: Windows (the Service
Control Manager through Salt's win_service helper, faked), the never-raise guarantees, and the
vendor's row (``legacy``, ``branch``) at each side of 1.0.1.308 with real stand-in clients."""

import pytest

import _cloudassist_host as hosts
import _cloudassist_procedure as procedure
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
        "legacy": None,
        "branch": "Windows, any client version, Service Control Manager",
        "updates": "allowed",
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


@pytest.mark.parametrize(
    "version, legacy",
    [("1.0.0.57", True), ("1.0.1.308", True), ("1.0.1.309", False), ("2.2.3.578", False)],
)
@pytest.mark.parametrize("init_system", ["sysvinit", "upstart"])
def test_legacy_and_branch_name_the_vendors_row(tmp_path, version, legacy, init_system):
    binary = standin.install_client(tmp_path / "aliyun-service", version)
    config = {"binary": str(binary), "init_system": init_system}
    facts = grain._facts("linux", lambda key, default=None: config.get(key, default))
    assert facts["installed"] is True and facts["version"] == version, facts
    assert facts["legacy"] is legacy
    row = procedure.choose("linux", tuple(map(int, version.split("."))), init_system)
    assert row.legacy is legacy
    assert facts["branch"] == row.name
    assert ("1.0.1.308 or older" in facts["branch"]) is legacy
    assert "error" not in facts


def test_without_a_client_legacy_and_branch_are_none(tmp_path):
    config = {"binary": str(tmp_path / "aliyun-service"), "init_system": "sysvinit"}
    facts = grain._facts("linux", lambda key, default=None: config.get(key, default))
    assert facts["installed"] is False
    assert facts["legacy"] is None and facts["branch"] is None


def test_an_unreadable_version_leaves_legacy_and_branch_none(tmp_path):
    binary = standin.install_client(tmp_path / "aliyun-service", None)
    config = {"binary": str(binary), "init_system": "sysvinit"}
    facts = grain._facts("linux", lambda key, default=None: config.get(key, default))
    assert facts["installed"] is True and facts["version"] is None
    assert facts["legacy"] is None and facts["branch"] is None
    assert "printed no version" in facts["error"]


def test_updates_says_frozen_or_allowed_from_the_markers(tmp_path):
    """Read with the status, from the client's own folders (no process is started for it)."""
    install = standin.install_versioned_client(tmp_path, "2.2.3.578", relative_link=True)
    config = {"binary": str(install.link), "init_system": "sysvinit"}

    def updates():
        return grain._facts("linux", lambda key, default=None: config.get(key, default))["updates"]

    assert updates() == "allowed"
    (install.folder / "config").mkdir()
    (install.folder / "config" / "disable_bootstrap_update").touch()
    assert updates() == "allowed"  # only the update at start is skipped
    (install.binary.parent / "config").mkdir()
    (install.binary.parent / "config" / "disable_update").touch()
    assert updates() == "frozen"


def test_updates_is_none_without_a_client(tmp_path):
    config = {"binary": str(tmp_path / "aliyun-service"), "init_system": "sysvinit"}
    facts = grain._facts("linux", lambda key, default=None: config.get(key, default))
    assert facts["installed"] is False and facts["updates"] is None
