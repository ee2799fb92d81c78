"""Stopping and starting go wrong: the module never reports a success that did not happen."""

import re
import time

import standin
from salthost import wait_for


def test_stop_and_start_for_real(host):
    host.install_client()
    host.install_init_script()
    pids = host.start_client()
    res = host.salt_call("cloudassist.stop")
    assert res.returncode == 0, res
    assert res.data["running"] is False and res.data["changed"] is True
    assert res.data["pids_before"] == pids
    assert res.data["command"] == "/etc/init.d/aliyun-service stop"
    assert host.client_pids() == [] and not host.pidfile.exists()
    res = host.salt_call("cloudassist.start")
    assert res.returncode == 0, res
    assert res.data["running"] is True and res.data["pids"] == host.client_pids() != []


def test_a_stop_that_lies_is_caught(host):
    """The init script says it stopped the client (exit 0, pid file gone); it did not."""
    host.install_client(ignore_term=True)
    host.install_init_script(stop_lies=True, stop_wait_tenths=3)
    pids = host.start_client()
    res = host.salt_call("cloudassist.stop", "timeout=2")
    assert res.returncode != 0, res
    assert (
        "`/etc/init.d/aliyun-service stop` succeeded but the client is still running after 2 s "
        f"(pid {pids[0]})" in res.error
    )
    assert host.client_pids() == pids


def test_a_stop_command_that_fails_names_command_code_and_output(host):
    host.install_client(ignore_term=True)
    host.install_init_script(stop_wait_tenths=3)
    pids = host.start_client()
    res = host.salt_call("cloudassist.stop")
    assert res.returncode != 0, res
    assert (
        "`/etc/init.d/aliyun-service stop` exited with code 1: aliyun-service did not stop "
        "(branch: Linux, client newer than 1.0.1.308, sysvinit)" in res.error
    )
    assert host.client_pids() == pids


def test_a_client_that_dies_right_after_start(host):
    host.install_client(die_after=0.5)
    host.install_init_script()
    res = host.salt_call("cloudassist.start", "settle=1.5")
    assert res.returncode != 0, res
    assert "`/etc/init.d/aliyun-service start` started the client (pid" in res.error
    assert "but it exited within 1.5 s. Check the client's log" in res.error
    assert host.client_pids() == []


def test_a_start_that_starts_nothing(host):
    host.install_client()
    script = standin.write_executable(
        host.initd / "aliyun-service", '#!/bin/sh\necho "Starting"\nexit 0\n'
    )
    assert script.exists()
    res = host.salt_call("cloudassist.start", "timeout=2")
    assert res.returncode != 0, res
    assert (
        "`/etc/init.d/aliyun-service start` succeeded but the client is not running after 2 s"
        in res.error
    )


def _watchdog(host, delay, stop_works=True, configured=True):
    """A running stand-in watchdog; ``configured``: cloudassist:watchdog names its binary, so
    it is this host's watchdog (else it is another executable of the watchdog's name)."""
    path = host.base / "watchdog" / "assist_daemon"
    if configured:
        host.config["watchdog"] = str(path)
    standin.install_watchdog(
        path,
        [str(host.initd / "aliyun-service"), "start"],
        host.base / "assist_daemon.pid",
        host.pidfile,
        delay=delay,
        stop_works=stop_works,
    )
    proc = host.spawn([str(path)])
    assert wait_for(lambda: (host.base / "assist_daemon.pid").exists())
    return path, proc


def test_a_watchdog_that_restarts_the_client_is_named(host, running_client):
    _, watchdog = _watchdog(host, delay=0.5)
    res = host.salt_call("cloudassist.stop", "settle=4")
    assert res.returncode != 0, res
    assert "stopped the client, but it was running again within 4 s" in res.error
    assert f"its watchdog assist_daemon (pid {watchdog.pid}) restarted it" in res.error
    assert "cloudassist.stop stop_watchdog=True" in res.error
    assert wait_for(host.client_pids), "the watchdog should really have restarted the client"


def test_stop_watchdog_stops_it_first_and_the_client_stays_down(host, running_client):
    path, watchdog = _watchdog(host, delay=0.5)
    res = host.salt_call("cloudassist.stop", "stop_watchdog=True", "settle=2")
    assert res.returncode == 0, res
    assert res.data["running"] is False
    assert f"stopped the watchdog first: `{path} --stop`" in res.data["warnings"]
    assert wait_for(lambda: watchdog.poll() is not None, 5)
    time.sleep(1.5)
    assert host.client_pids() == []


def test_a_watchdog_that_ignores_stop_is_an_error_before_the_client_is_touched(
    host, running_client
):
    pids = running_client
    path, watchdog = _watchdog(host, delay=0.5, stop_works=False)
    res = host.salt_call("cloudassist.stop", "stop_watchdog=True", "timeout=2")
    assert res.returncode != 0, res
    assert (
        f"ran `{path} --stop` but the watchdog is still running ({watchdog.pid}); "
        "the client was not stopped" in res.error
    )
    assert host.client_pids() == pids


def test_a_slow_watchdog_is_a_warning(host, running_client):
    _, watchdog = _watchdog(host, delay=30)
    res = host.salt_call("cloudassist.stop", "settle=1")
    assert res.returncode == 0, res
    assert res.data["running"] is False
    assert res.data["warnings"] == [
        f"the watchdog assist_daemon (pid {watchdog.pid}) is still running "
        "and may start the client again; stop it with stop_watchdog=True"
    ]


# --- a process of the watchdog's name that is another executable ------------------------


def _names_look_alike(text, path, pid):
    """The look-alike's warning or error names it; other suites may run assist_daemon
    processes meanwhile, which the same text may list too."""
    listed = re.search(
        r"assist_daemon \(pid ([\d, ]+)\) runs from (.+?), not from the watchdog binary", text
    )
    return (
        bool(listed)
        and str(pid) in listed.group(1).split(", ")
        and str(path) in listed.group(2).split(", ")
        and (
            "not from the watchdog binary cloudassist knows, so it was neither counted nor stopped "
            "and may start the client again. If it is this host's watchdog, "
            "set cloudassist:watchdog to its path" in text
        )
    )


def test_another_executable_of_the_watchdogs_name_is_not_the_watchdog(host, running_client):
    path, look_alike = _watchdog(host, delay=30, configured=False)
    res = host.salt_call("cloudassist.status")
    assert res.returncode == 0, res
    watchdog = res.data["watchdog"]
    assert watchdog["running"] is False and watchdog["pids"] == [], watchdog
    assert {e["pid"]: e for e in watchdog["others"]}[look_alike.pid] == {
        "pid": look_alike.pid,
        "exe": str(path),
        "why": f"its executable is {path}, "
        "not the watchdog /usr/local/share/assist-daemon/assist_daemon",
    }, watchdog

    # stop_watchdog=True cannot keep its promise: nothing runs, and it says why
    pids = host.client_pids()
    for args in (("stop_watchdog=True",), ("stop_watchdog=True", "test=True")):
        res = host.salt_call("cloudassist.stop", *args)
        assert res.returncode != 0, res
        assert "stop_watchdog=True, but nothing was changed: " in res.error, res.error
        assert _names_look_alike(res.error, path, look_alike.pid), res.error
        assert host.client_pids() == pids and look_alike.poll() is None

    # a plain stop waits out the settle time and says what it left running
    res = host.salt_call("cloudassist.stop", "settle=1")
    assert res.returncode == 0, res
    assert res.data["running"] is False and res.data["watchdog_stopped"] is False, res.data
    assert [w for w in res.data["warnings"] if _names_look_alike(w, path, look_alike.pid)], res.data
    assert look_alike.poll() is None, (
        "a process cloudassist does not know as the watchdog was stopped"
    )


def test_a_look_alike_that_restarts_the_client_fails_the_stop(host, running_client):
    path, look_alike = _watchdog(host, delay=0.5, configured=False)
    res = host.salt_call("cloudassist.stop", "settle=4")
    assert res.returncode != 0, res
    assert "stopped the client, but it was running again within 4 s" in res.error
    assert _names_look_alike(res.error, path, look_alike.pid), res.error
    assert wait_for(host.client_pids), "the look-alike should really have restarted the client"
