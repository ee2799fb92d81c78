"""The ``cloudassist`` grain under a real ``salt-call --local``: what it says, and that it
starts no program but the client's ``-v``."""

import pathlib

import pytest


@pytest.fixture(autouse=True)
def _load_the_grain(host):
    host.grains = True


def _grain(res):
    assert res.returncode == 0, res
    return res.data["cloudassist"]


def test_without_a_client_the_grain_says_not_installed_and_runs_nothing(host, audited_call):
    res, records = audited_call("grains.item", "cloudassist")
    grain = _grain(res)
    assert grain == {
        "installed": False,
        "version": None,
        "init_system": None,
        "service": None,
        "enabled": None,
        "legacy": None,
        "branch": None,
        "updates": None,
    }
    assert [r["args"] for r in records if r["ours"]] == []


def test_the_grain_tells_version_init_system_service_and_boot_spawning_only_the_probe(
    host, audited_call
):
    host.install_client()
    host.install_init_script()
    host.start_client()
    res, records = audited_call("grains.item", "cloudassist")
    grain = _grain(res)
    assert grain["installed"] is True
    assert grain["version"] == "2.2.3.578"
    assert grain["init_system"] == "sysvinit" and grain["service"] == "/etc/init.d/aliyun-service"
    # The test's script gets no rc links; the host's own /etc/rc[2-5].d may hold S links to
    # aliyun-service that other suites' boot tests made: the grain says what they say.
    starts = any(any(pathlib.Path(f"/etc/rc{n}.d").glob("S*aliyun-service")) for n in "2345")
    assert grain["enabled"] is starts, grain
    ours = [r["args"] for r in records if r["ours"]]
    assert ours == [[str(host.binary), "-v"]], ours
    # the module agrees with the grain
    status = host.salt_call("cloudassist.status").data
    assert {k: status[k] for k in ("version", "init_system", "service", "enabled", "branch")} == {
        k: grain[k] for k in ("version", "init_system", "service", "enabled", "branch")
    }
    assert grain["legacy"] is False


@pytest.mark.parametrize(
    "version, legacy",
    [("1.0.0.57", True), ("1.0.1.308", True), ("1.0.1.309", False), ("2.2.3.578", False)],
)
def test_the_grain_says_whether_the_client_is_on_the_vendors_legacy_rows(host, version, legacy):
    """``salt -G 'cloudassist:legacy:True'`` targets what ``grains.get`` answers here: the
    ``agentwatch`` rows for 1.0.1.308 and older, whatever a version glob would say."""
    host.install_client(version)
    host.install_init_script()
    res = host.salt_call("grains.get", "cloudassist:legacy")
    assert res.returncode == 0, res
    assert res.data is legacy, res
    grain = _grain(host.salt_call("grains.item", "cloudassist"))
    assert grain["version"] == version and "error" not in grain, grain
    assert grain["branch"] == host.salt_call("cloudassist.status").data["branch"]
    assert ("1.0.1.308 or older" in grain["branch"]) is legacy


def test_a_broken_client_is_an_error_in_the_grain_not_a_failed_minion(host):
    broken = host.binary
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text("#!/bin/sh\necho 'segfault' >&2\nexit 3\n")
    broken.chmod(0o755)
    res = host.salt_call("grains.items")
    assert res.returncode == 0, res
    grain = res.data["cloudassist"]
    assert grain["installed"] is True and grain["version"] is None
    assert "exited with code 3" in grain["error"]
    assert "os" in res.data, "the other grains are still there"
