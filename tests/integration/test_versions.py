"""The client's version decides the branch, read through the master from the stand-in's `-v`.

The module runs `aliyun-service -v` on every call, so a test switches versions by rewriting
the stand-in (the `client` fixture puts the default one back).
"""

import shutil

import pytest

from .ca_host import INIT_SCRIPT

SERVICE = str(INIT_SCRIPT)
LEGACY_BRANCH = "Linux, client 1.0.1.308 or older, init system other than systemd"
NEW_BRANCH = "Linux, client newer than 1.0.1.308, sysvinit"


def test_version_after_noise_lines(run, client):
    client.write_client(
        "2.2.4.1065",
        noise=[
            "open /var/log/aliyun/aliyun_assist_main.log: permission denied",
            "log init failed, 1.2.3 fallback to stderr",
        ],
    )
    ret = run("cloudassist.version")
    assert ret.returncode == 0, ret
    assert ret.data == "2.2.4.1065"
    ret = run("cloudassist.status")
    assert ret.data["version"] == "2.2.4.1065", ret.data


@pytest.mark.parametrize(
    "version, branch, service",
    [
        pytest.param("1.0.0.81", LEGACY_BRANCH, "agentwatch", id="1.0.0.81"),
        pytest.param("1.0.1.308", LEGACY_BRANCH, "agentwatch", id="1.0.1.308"),
        pytest.param("1.0.1.309", NEW_BRANCH, SERVICE, id="1.0.1.309"),
        pytest.param("1.0.1.1000", NEW_BRANCH, SERVICE, id="1.0.1.1000"),
    ],
)
def test_version_boundary_picks_branch(run, client, version, branch, service):
    client.write_client(version)
    data = run("cloudassist.status").data
    assert data["version"] == version, data
    assert data["init_system"] == "sysvinit", data
    assert data["branch"] == branch, data
    assert data["service"] == service, data


def test_new_branch_just_above_boundary_really_starts(run, client):
    client.write_client("1.0.1.309")
    ret = run("cloudassist.start")
    assert ret.returncode == 0, ret
    assert ret.data["command"] == SERVICE + " start"
    assert ret.data["version"] == "1.0.1.309"
    pids = client.pids()
    assert len(pids) == 1 and ret.data["pids"] == pids


@pytest.mark.parametrize("running", [True, False], ids=["stop-running", "start-stopped"])
def test_legacy_client_fails_for_want_of_chkconfig(run, client, salt_call, running):
    if shutil.which(
        "chkconfig", path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    ):
        pytest.skip("this host has chkconfig: the legacy branch would run it")
    pid = client.ensure_running() if running else None
    client.write_client("1.0.1.308")
    action = "cloudassist.stop" if running else "cloudassist.start"

    ret = run(action)
    assert ret.returncode != 0, ret
    assert "chkconfig" in ret.stdout, ret
    assert LEGACY_BRANCH in ret.stdout, ret
    assert "Traceback" not in ret.stdout, ret
    assert client.pids() == ([pid] if running else []), "the failed call touched the client"

    # salt-call on the minion: the same error, a non-zero exit code.
    ret = salt_call.run(action)
    assert ret.returncode != 0, ret
    assert "chkconfig" in ret.stdout + ret.stderr, ret
    assert client.pids() == ([pid] if running else [])


@pytest.mark.parametrize("testmode", [False, True], ids=["real", "test=True"])
def test_legacy_client_state_fails_with_module_error(run, client, testmode):
    """Also under test=True: a run that cannot succeed is not predicted as a change."""
    if shutil.which(
        "chkconfig", path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    ):
        pytest.skip("this host has chkconfig: the legacy branch would run it")
    pid = client.ensure_running()
    client.write_client("1.0.1.308")
    ret = run("state.apply", "ca_stopped", *(["test=True"] if testmode else []))
    assert ret.returncode != 0, ret
    (st,) = ret.data.values()
    assert st["result"] is False, st
    assert st["changes"] == {}, st
    assert "chkconfig" in st["comment"] and LEGACY_BRANCH in st["comment"], st
    assert client.pids() == [pid]
