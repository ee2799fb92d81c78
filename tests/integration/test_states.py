"""`state.apply` through the master: cloudassist.running / stopped / dead, watch, bad input.

Each test arranges the client with the init script directly, applies an SLS, and reads the
host itself (/proc, the pid file) to see what really happened.
"""

import os

import pytest

from .ca_host import INIT_SCRIPT

SERVICE = str(INIT_SCRIPT)


def state_ret(ret, state_id="cloud-assistant"):
    """The return of the state ``state_id`` in a `salt MINION state.apply` result."""
    assert isinstance(ret.data, dict), ret
    found = [v for k, v in ret.data.items() if v.get("__id__") == state_id]
    assert len(found) == 1, ret.data
    return found[0]


def no_traceback(ret):
    assert "Traceback" not in ret.stdout and "Traceback" not in ret.stderr, ret


# (sls, client running before, wanted running, the command that gets there)
CASES = [
    pytest.param("ca_running", False, True, SERVICE + " start", id="running"),
    pytest.param("ca_stopped", True, False, SERVICE + " stop", id="stopped"),
    pytest.param("ca_dead", True, False, SERVICE + " stop", id="dead"),
]


def arrange(client, running):
    return [client.ensure_running()] if running else client.ensure_stopped() or []


@pytest.mark.parametrize("sls, before, want, command", CASES)
def test_test_mode_then_apply_then_apply_again(run, client, sls, before, want, command):
    pids = arrange(client, before)

    # test=True: predicts the change and the exact command, runs nothing.
    ret = run("state.apply", sls, "test=True")
    assert ret.returncode == 0, ret
    st = state_ret(ret)
    assert st["result"] is None, st
    assert st["changes"] == {"running": {"old": before, "new": want}}, st
    assert f"`{command}`" in st["comment"], st
    assert client.pids() == pids, "test=True touched the client"

    # For real: the predicted change, and the process really started or gone.
    ret = run("state.apply", sls)
    assert ret.returncode == 0, ret
    st = state_ret(ret)
    assert st["result"] is True, st
    assert st["changes"] == {"running": {"old": before, "new": want}}, st
    assert f"`{command}`" in st["comment"], st
    now = client.pids()
    if want:
        assert len(now) == 1 and client.pidfile_pid() == now[0], now
    else:
        assert now == [] and client.pidfile_pid() is None, now
        assert "Cloud Assistant commands" in st["comment"], st  # the vendor's warning

    # Again: nothing to do, nothing changed, the same process (or none).
    ret = run("state.apply", sls)
    assert ret.returncode == 0, ret
    st = state_ret(ret)
    assert st["result"] is True, st
    assert st["changes"] == {}, st
    assert "already" in st["comment"], st
    assert client.pids() == now


@pytest.fixture(params=[True, False], ids=["test", "real"])
def testmode(request):
    return request.param


@pytest.mark.parametrize("sls, before, want, command", CASES)
def test_already_in_state(run, client, testmode, sls, before, want, command):
    """A client already as wanted: result True, no changes, nothing run, in both modes."""
    pids = arrange(client, want)
    args = ("test=True",) if testmode else ()
    ret = run("state.apply", sls, *args)
    assert ret.returncode == 0, ret
    st = state_ret(ret)
    assert st["result"] is True, st
    assert st["changes"] == {}, st
    assert "already {}".format("running" if want else "stopped") in st["comment"], st
    assert client.pids() == pids


def test_watch_restarts_running_client(run, client, testmode):
    pid = client.ensure_running()
    args = ("test=True",) if testmode else ()
    ret = run("state.apply", "ca_watch", *args)
    assert ret.returncode == 0, ret
    st = state_ret(ret)
    if testmode:
        assert st["result"] is None, st
        assert f"`{SERVICE} stop; {SERVICE} start`" in st["comment"], st
        assert st["changes"] == {"restarted": {"old": [pid], "new": "new pids"}}, st
        assert client.pids() == [pid], "test=True restarted the client"
        return
    assert st["result"] is True, st
    now = client.pids()
    assert len(now) == 1 and now != [pid], (pid, now)
    assert client.pidfile_pid() == now[0]
    assert st["changes"] == {"restarted": {"old": [pid], "new": now}}, st


def test_watch_starts_stopped_client(run, client):
    client.ensure_stopped()
    ret = run("state.apply", "ca_watch")
    assert ret.returncode == 0, ret
    st = state_ret(ret)
    assert st["result"] is True, st
    assert st["changes"] == {"running": {"old": False, "new": True}}, st
    assert len(client.pids()) == 1


@pytest.mark.parametrize(
    "sls, words",
    [
        pytest.param(
            "ca_misspelt", ["does not take 'setle'", "timeout, settle"], id="misspelt-key"
        ),
        pytest.param("ca_enable", ["enable must be true or false", "'yes'"], id="enable-string"),
        pytest.param(
            "ca_watchdog_flag",
            ["stop_watchdog must be true or false", "'yes'"],
            id="stop_watchdog-string",
        ),
    ],
)
def test_bad_sls_fails_cleanly(run, client, testmode, sls, words):
    pid = client.ensure_running()
    args = ("test=True",) if testmode else ()
    ret = run("state.apply", sls, *args)
    assert ret.returncode != 0, ret
    no_traceback(ret)
    st = state_ret(ret)
    assert st["result"] is False, st
    assert st["changes"] == {}, st
    for word in words:
        assert word in st["comment"], (word, st["comment"])
    assert client.pids() == [pid], "a rejected state touched the client"


def test_updates_frozen_then_allowed_through_a_state(run, client):
    """Issue 25: ``updates`` on ``running`` and ``stopped``; the markers are checked on the disk,
    where the stand-in's client reads them (the config folder above its binary's folder)."""
    config = client.binary.parent.parent / "config"
    markers = [config / name for name in ("disable_update", "disable_bootstrap_update")]
    for path in markers:  # what another test may have left
        if os.path.lexists(path):
            os.unlink(path)
    client.ensure_stopped()
    try:
        st = state_ret(run("state.apply", "ca_running_frozen", "test=True"))
        assert st["result"] is None and "updates" in st["changes"], st
        assert not any(os.path.lexists(path) for path in markers) and client.pids() == []

        st = state_ret(run("state.apply", "ca_running_frozen"))
        assert st["result"] is True, st
        assert st["changes"]["running"] == {"old": False, "new": True}, st
        assert st["changes"]["updates"]["frozen"] == {"old": False, "new": True}, st
        assert all(os.path.isfile(path) for path in markers) and len(client.pids()) == 1

        st = state_ret(run("state.apply", "ca_running_frozen"))
        assert st["result"] is True and st["changes"] == {}, st

        st = state_ret(run("state.apply", "ca_stopped_allowed"))
        assert st["result"] is True, st
        assert st["changes"]["updates"]["removed"]["old"] == [str(p) for p in markers], st
        assert not any(os.path.lexists(path) for path in markers) and client.pids() == []
    finally:
        for path in markers:
            if os.path.lexists(path):
                os.unlink(path)
