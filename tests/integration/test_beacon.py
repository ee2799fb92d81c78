"""The beacon on a real minion, and a reactor on a real master that starts the client again.

This module runs its own master and minion (in each install mode, like the rest of the
suite): the master needs a ``reactor`` configuration, as an operator writes it
(docs-beacon-section.md), and the minion the beacon:

- the minion: ``salt MINION beacons.add cloudassist "[{'interval': 1}, {'emitatstartup': True}]"``
  (at run time, after any sync, so that its first poll is a known baseline) and the client's
  path under ``cloudassist:binary``, which the beacon reads as the module does;
- the master: ``salt/beacon/*/cloudassist/stopped`` -> a reactor SLS that runs
  ``cloudassist.start`` on that minion, and one that only logs a warning: the two reactor SLS
  files docs/fleet.md shows, read from the page.

The client is stopped behind Salt's back (a signal, as in a crash); the events are read from
the master's event bus through salt-factories' event listener.
"""

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from .ca_host import SETTLE, pidfile_pid
from .conftest import CHECKOUT, sync_all

if str(CHECKOUT / "tests" / "support") not in sys.path:
    sys.path.insert(0, str(CHECKOUT / "tests" / "support"))

import docs_blocks  # noqa: E402

WAIT = 60  # seconds; every wait below ends as soon as what it waits for is there


def _reactor_sls(path):
    """The reactor SLS docs/fleet.md shows for ``path`` (its first line names it)."""
    (block,) = [
        b
        for b in docs_blocks.all_blocks(CHECKOUT)
        if b.file == "docs/fleet.md" and b.text.startswith(f"# {path}\n")
    ]
    return block.text


# The docs' two reactor SLS files, as written there.
REACTOR_START = _reactor_sls("/srv/reactor/cloudassist-start.sls")
REACTOR_ALERT = _reactor_sls("/srv/reactor/cloudassist-alert.sls")


@pytest.fixture(scope="module")
def reactor_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cloudassist-reactor")
    (folder / "start.sls").write_text(REACTOR_START)
    (folder / "alert.sls").write_text(REACTOR_ALERT)
    return folder


@pytest.fixture(scope="module")
def beacon_master(salt_factories, sls_dir, install, reactor_files):
    overrides = {
        "file_roots": {"base": [str(sls_dir), *map(str, install.file_roots)]},
        "reactor": [
            {
                "salt/beacon/*/cloudassist/stopped": [
                    str(reactor_files / "start.sls"),
                    str(reactor_files / "alert.sls"),
                ]
            },
        ],
    }
    factory = salt_factories.salt_master_daemon(
        f"ca-beacon-master-{install.mode}", overrides=overrides
    )
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def beacon_minion(beacon_master, client_binary, install, host):
    config = {"binary": str(client_binary), "settle": SETTLE}
    if os.path.isdir("/run/systemd/system"):
        config["init_system"] = "sysvinit"  # as in conftest.salt_minion: the sysvinit branch
    overrides = {
        "cloudassist": config,
        # Salt's default.  salt-factories sets 0.05, and Salt counts a beacon's interval in
        # loop_intervals while it runs the beacons once a second: 1 s would be 20 s.
        "loop_interval": 1,
    }
    factory = beacon_master.salt_minion_daemon(
        f"ca-beacon-minion-{install.mode}", overrides=overrides
    )
    factory.environ = install.environ(factory.environ)
    try:
        with factory.started():
            if install.mode == "synced":
                data = sync_all(beacon_master.salt_cli(timeout=120), factory.id)
                assert "beacons.cloudassist" in data["beacons"], data
                assert "modules._cloudassist_watch" in data["modules"], data
            yield factory
    finally:
        # the minion is gone first, so the reactor cannot start the client again
        host.ensure_stopped()


@pytest.fixture(scope="module")
def beacon_cli(beacon_master):
    return beacon_master.salt_cli(timeout=120)


def one_event(event_listener, master, tag, after, timeout=WAIT):
    found = event_listener.wait_for_events([(master.id, tag)], timeout=timeout, after_time=after)
    assert found.found_all_events, f"no {tag} on the master's bus within {timeout} s"
    return min(found, key=lambda event: event.stamp)


def wait_until(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_a_bad_beacon_configuration_is_refused_with_the_reason(beacon_cli, beacon_minion):
    ret = beacon_cli.run(
        "beacons.add",
        "ca_bad",
        "[{'beacon_module': 'cloudassist'}, {'binary': 'aliyun-service'}]",
        minion_tgt=beacon_minion.id,
    )
    assert ret.returncode == 1, ret  # the salt CLI marks a result False as a failure
    assert ret.data["result"] is False, ret.data
    assert (
        "binary must be the absolute path of the client, not 'aliyun-service'"
        in ret.data["comment"]
    ), ret.data
    ret = beacon_cli.run("beacons.list", "return_yaml=False", minion_tgt=beacon_minion.id)
    assert ret.returncode == 0 and "ca_bad" not in (ret.data or {}), ret


def test_a_client_killed_behind_salts_back_fires_stopped_and_the_reactor_starts_it_again(
    beacon_master, beacon_minion, beacon_cli, host, event_listener, client_binary
):
    prefix = f"salt/beacon/{beacon_minion.id}/cloudassist/"
    host.ensure_stopped()
    pid = host.ensure_running()

    # Added at run time, after any sync: its first poll (emitatstartup) is the baseline.
    added_at = time.time()
    ret = beacon_cli.run(
        "beacons.add",
        "cloudassist",
        "[{'interval': 1}, {'emitatstartup': True}]",
        minion_tgt=beacon_minion.id,
    )
    assert ret.returncode == 0 and ret.data["result"] is True, ret
    try:
        _fires_and_restarts(
            beacon_master, beacon_minion, host, event_listener, client_binary, prefix, pid, added_at
        )
    finally:
        # The client and its init script are the whole suite's: a beacon left polling here,
        # with the start reactor, would start the client behind the next tests' backs.
        ret = beacon_cli.run("beacons.delete", "cloudassist", minion_tgt=beacon_minion.id)
        assert ret.returncode == 0, ret


def _fires_and_restarts(
    beacon_master, beacon_minion, host, event_listener, client_binary, prefix, pid, added_at
):
    startup = one_event(event_listener, beacon_master, prefix + "startup", added_at)
    assert startup.data["running"] is True and startup.data["pids"] == [pid], startup.data

    killed_at = time.time()
    os.kill(pid, signal.SIGTERM)
    assert wait_until(lambda: pid not in host.pids(), 10), "the client did not exit"

    stopped = one_event(event_listener, beacon_master, prefix + "stopped", killed_at)
    assert stopped.tag == prefix + "stopped"
    data = {key: value for key, value in stopped.data.items() if key != "_stamp"}
    assert data == {
        "id": beacon_minion.id,
        "changes": ["stopped"],
        "running": False,
        "pids": [],
        "pids_before": [pid],
        # the stand-in does not sit in a version folder: no version is read from its files
        "version": None,
        "version_before": None,
        "running_version": None,
        "running_version_before": None,
        "installed": True,
        "binary": str(client_binary),
        # killed behind Salt's back, it left nothing running (no updater in this stand-in)
        "leftovers": [],
    }

    # The reactor ran cloudassist.start on that minion, which started the client again.
    returns = [(beacon_master.id, f"salt/job/*/ret/{beacon_minion.id}")]
    starts = wait_until(
        lambda: [
            e
            for e in event_listener.get_events(returns, after_time=killed_at)
            if e.data.get("fun") == "cloudassist.start"
        ]
    )
    assert starts, "no cloudassist.start job returned from the minion"
    result = starts[0].data["return"]
    assert result["changed"] is True and result["pids_before"] == [], result
    assert result["pids"] == host.pids() == [pidfile_pid()], (result, host.pids())
    assert result["pids"] != [pid]

    # The alerting reactor logged a warning on the master.
    log_file = Path(beacon_master.config["log_file"])
    message = f"Cloud Assistant client stopped on {beacon_minion.id} (pids [{pid}])"
    assert wait_until(
        lambda: log_file.is_file() and message in log_file.read_text(errors="replace"), 30
    ), f"the alert reactor's warning is not in {log_file}"
