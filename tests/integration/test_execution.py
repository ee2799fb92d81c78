"""The execution module driven from the master: `salt MINION cloudassist.X`.

After every action the test reads the host itself (/proc and the pid file), not only what the
module returned.
"""

import os

from .ca_host import DEFAULT_VERSION, INIT_SCRIPT

SERVICE = str(INIT_SCRIPT)
PUBLIC = ("version", "status", "stop", "start", "restart")


def check_action(ret, client, *, running, changed, command):
    """The keys the contract names, and the host agreeing with them."""
    assert ret.returncode == 0, ret
    data = ret.data
    assert isinstance(data, dict), ret
    assert data["running"] is running, data
    assert data["changed"] is changed, data
    assert data["init_system"] == "sysvinit", data
    assert data["service"] == SERVICE, data
    assert data["version"] == DEFAULT_VERSION, data
    assert data["command"] == command, data
    pids = client.pids()
    if running:
        assert len(pids) == 1, pids
        assert data["pids"] == pids, (data, pids)
        assert client.pidfile_pid() == pids[0]
    else:
        assert pids == [], pids
        assert client.pidfile_pid() is None
    return pids


def test_version(run, client):
    ret = run("cloudassist.version")
    assert ret.returncode == 0, ret
    assert ret.data == DEFAULT_VERSION


def test_status_stopped_then_running(run, client):
    ret = run("cloudassist.status")
    assert ret.returncode == 0, ret
    data = ret.data
    for key in (
        "installed",
        "running",
        "pids",
        "version",
        "init_system",
        "service",
        "commands",
        "evidence",
        "decided_by",
    ):
        assert key in data, (key, data)
    assert data["installed"] is True
    assert data["running"] is False and data["pids"] == []
    assert data["version"] == DEFAULT_VERSION
    assert data["init_system"] == "sysvinit"
    assert data["service"] == SERVICE
    assert data["binary"] == str(client.binary)
    assert data["commands"] == {"stop": SERVICE + " stop", "start": SERVICE + " start"}
    assert data["evidence"], data
    if not os.path.isdir("/run/systemd/system"):
        # Real detection: PID 1 is not systemd here, /sbin/init may still be systemd's.
        assert SERVICE in data["decided_by"], data["decided_by"]
        sources = [item["source"] for item in data["evidence"]]
        assert sources[0] == "/run/systemd/system", sources
        assert SERVICE in sources, sources

    pid = client.ensure_running()
    data = run("cloudassist.status").data
    assert data["running"] is True
    assert data["pids"] == [pid]
    assert client.pids() == [pid], "status must not touch the client"


def test_start_stop_restart(run, client):
    assert client.pids() == []

    started = check_action(
        run("cloudassist.start"), client, running=True, changed=True, command=SERVICE + " start"
    )

    # Starting a running client: nothing run, same process.
    ret = run("cloudassist.start")
    assert (
        check_action(ret, client, running=True, changed=False, command=SERVICE + " start")
        == started
    )
    assert "already running" in ret.data["comment"]

    restarted = check_action(
        run("cloudassist.restart"),
        client,
        running=True,
        changed=True,
        command=SERVICE + " stop; " + SERVICE + " start",
    )
    assert restarted != started, "restart must replace the process"

    ret = run("cloudassist.stop")
    check_action(ret, client, running=False, changed=True, command=SERVICE + " stop")
    assert ret.data["pids_before"] == restarted
    assert "Cloud Assistant commands" in ret.data["warning"], ret.data

    # Stopping a stopped client: nothing run, still no process.
    ret = run("cloudassist.stop")
    check_action(ret, client, running=False, changed=False, command=SERVICE + " stop")
    assert "already stopped" in ret.data["comment"]


def test_restart_of_stopped_client_starts_it(run, client):
    check_action(
        run("cloudassist.restart"), client, running=True, changed=True, command=SERVICE + " start"
    )


def test_stop_running_client_started_outside_salt(run, client):
    pid = client.ensure_running()
    ret = run("cloudassist.stop")
    check_action(ret, client, running=False, changed=True, command=SERVICE + " stop")
    assert ret.data["pids_before"] == [pid]


def test_failing_call_exits_non_zero(run, client, salt_call):
    """A CommandExecutionError reaches both CLIs as a non-zero exit code."""
    ret = run("cloudassist.stop", "timeout=-1")
    assert ret.returncode != 0, ret
    assert "timeout" in ret.stdout and "Traceback" not in ret.stdout, ret

    ret = salt_call.run("cloudassist.start", "settle=abc")
    assert ret.returncode != 0, ret
    assert "settle" in (ret.stdout + ret.stderr), ret
    assert client.pids() == []

    ret = salt_call.run("cloudassist.version")
    assert ret.returncode == 0, ret
    assert ret.data == DEFAULT_VERSION


def test_sys_doc_has_cli_examples(run):
    ret = run("sys.list_functions", "cloudassist")
    assert ret.returncode == 0, ret
    functions = set(ret.data)
    assert {"cloudassist." + name for name in PUBLIC} <= functions, functions

    ret = run("sys.doc", "cloudassist")
    assert ret.returncode == 0, ret
    docs = ret.data
    for name in sorted(functions):
        assert docs.get(name), f"{name} has no docstring"
        assert "CLI Example:" in docs[name], f"{name}: no CLI Example"
        assert f"salt '*' {name}" in docs[name], f"{name}: the CLI example does not call it"


def test_freeze_read_and_allow_updates_from_the_master(run, client):
    """Issue 25: the markers the stand-in would read (the cross-version ``config`` folder above
    its binary's folder), checked on the disk after each call from the master."""
    config = client.binary.parent.parent / "config"
    markers = [config / name for name in ("disable_update", "disable_bootstrap_update")]
    for path in markers:  # what a docs command before may have left
        if os.path.lexists(path):
            os.unlink(path)
    try:
        ret = run("cloudassist.freeze_updates", "test=True")
        assert ret.returncode == 0 and ret.data["test"] is True, ret
        assert not any(os.path.lexists(path) for path in markers)
        ret = run("cloudassist.freeze_updates")
        assert ret.returncode == 0 and ret.data["frozen"] is True, ret
        assert all(os.path.isfile(path) for path in markers)
        state = run("cloudassist.updates").data
        assert state["frozen"] is True and state["config_dir"] == str(config), state
        assert run("cloudassist.status").data["updates"] == state
        ret = run("cloudassist.allow_updates")
        assert ret.returncode == 0 and ret.data["changed"] is True, ret
        assert ret.data["changes"]["removed"]["old"] == [str(path) for path in markers]
        assert not any(os.path.lexists(path) for path in markers)
        assert run("cloudassist.allow_updates").data["changed"] is False
    finally:
        for path in markers:
            if os.path.lexists(path):
                os.unlink(path)
