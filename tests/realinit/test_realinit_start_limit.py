"""systemd has given up on the client (issue 17): a real systemd 252 in a container, with the
vendor's unit settings (``Restart=on-failure``, a start limit, ``KillMode=process``), a client
that crashed until systemd stopped restarting it, then got fixed.

The vendor's numbers (``RestartSec=120``, ``StartLimitBurst=10`` in ``StartLimitInterval=3600``)
would make the crash loop last twenty minutes; the drop-in keeps the settings and shortens the
wait (``RestartSec=0.2``) and the burst (3): what systemd does when the limit is hit is the same.

Each test checks the module's answer against systemd itself (``systemctl show``/``is-active``)
and the process table, never against the module's own word.
"""

from __future__ import annotations

import re
import time

import pytest
from realinit_checks import BINARY, SLS_RUNNING, make_host, module_error, put_client, put_unit
from support import standin

pytestmark = pytest.mark.realinit

VERSION = "2.2.3.578"
UNIT = "aliyun.service"
RESET = f"systemctl reset-failed {UNIT}"
BURST = 3
DROPIN = f"""\
[Unit]
StartLimitIntervalSec=3600
StartLimitBurst={BURST}
[Service]
Restart=on-failure
RestartSec=0.2
KillMode=process
"""
SETTLE = 1


def show(host, *props: str) -> dict:
    out = host.run("systemctl", "show", "-p", ",".join(props), UNIT, check=False).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def crash_until_systemd_gives_up(host) -> None:
    """Make the client die at once, start it, and wait until systemd stops restarting it."""
    standin.install_client(host.path(BINARY), VERSION, die_after=0.1)
    host.run("systemctl", "reset-failed", UNIT, check=False)
    host.run("systemctl", "start", UNIT, check=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        props = show(host, "ActiveState", "NRestarts", "Result")
        if props["ActiveState"] == "failed" and int(props["NRestarts"]) >= BURST:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"systemd did not give up on {UNIT}: {props}")
    # A plain start is refused now: systemd's own proof that its start limit was hit.
    refused = host.run("systemctl", "start", UNIT, check=False)
    assert refused.returncode != 0, refused
    journal = host.run("journalctl", "-u", UNIT, "--no-pager", check=False).stdout
    assert "Start request repeated too quickly" in journal, journal
    assert not host.pids()


def fix_the_client(host) -> None:
    standin.install_client(host.path(BINARY), VERSION)


def assert_running_and_reset(host) -> None:
    props = show(host, "ActiveState", "SubState", "NRestarts", "MainPID")
    assert (props["ActiveState"], props["SubState"]) == ("active", "running"), props
    assert host.pids() == [int(props["MainPID"])], (host.pids(), props)


@pytest.fixture(scope="module")
def host(request, roots):
    def prepare(c):
        put_client(c, VERSION)
        put_unit(c, UNIT, enable=False)
        c.write(f"/etc/systemd/system/{UNIT}.d/vendor.conf", DROPIN)

    return make_host(request, roots, "ca-start-limit", "systemd", prepare)


@pytest.fixture
def given_up(host):
    crash_until_systemd_gives_up(host)
    fix_the_client(host)
    yield host
    host.run("systemctl", "stop", UNIT, check=False)
    host.run("systemctl", "reset-failed", UNIT, check=False)


def test_status_says_systemd_has_given_up(given_up):
    status = given_up.call("cloudassist.status", check=True).ret
    assert status["start_limit_hit"] is True, status
    assert status["running"] is False and status["unit"]["state"] == "failed/failed", status
    # systemd 252 keeps the last failure's result: the module reads the restart counter.
    assert show(given_up, "Result")["Result"] == status["unit"]["result"], status


def test_test_mode_plans_the_reset_and_runs_nothing(given_up):
    ret = given_up.call("cloudassist.start", "test=True", check=True).ret
    assert ret["changes"]["start_limit_hit"] == {"old": True, "new": False}, ret
    assert f"reset systemd's start limit (`{RESET}`)" in ret["comment"], ret
    assert show(given_up, "ActiveState")["ActiveState"] == "failed"


def test_start_resets_then_starts_and_says_so(given_up):
    res = given_up.call("cloudassist.start", f"settle={SETTLE}", check=True)
    assert res.ret["changes"]["start_limit_hit"] == {"old": True, "new": False}, res
    assert res.ret["changes"]["running"] == {"old": False, "new": True}, res
    assert_running_and_reset(given_up)
    assert res.ret["pids"] == given_up.pids(), res


def test_the_running_state_resets_then_starts(given_up):
    given_up.salt.write_sls("ca_running", SLS_RUNNING + f"    - settle: {SETTLE}\n")
    res = given_up.call("state.apply", "ca_running", check=True)
    (state,) = res.ret.values()
    assert state["result"] is True, state
    assert state["changes"]["start_limit_hit"] == {"old": True, "new": False}, state
    assert_running_and_reset(given_up)


def test_a_forbidden_reset_fails_naming_the_unit_and_the_command(given_up):
    err = module_error(
        given_up.call("cloudassist.start", "reset_failed=False"), "cloudassist.start"
    )
    assert f"systemd has given up on {UNIT}" in err, err
    assert f"until `{RESET}` is run" in err, err
    # Nothing ran: systemd still holds the unit failed.
    assert show(given_up, "ActiveState")["ActiveState"] == "failed"
    assert not given_up.pids()


def test_a_client_still_broken_is_a_crash_loop_not_a_start(host):
    crash_until_systemd_gives_up(host)  # and not fixed
    try:
        err = module_error(host.call("cloudassist.start", f"settle={SETTLE}"), "cloudassist.start")
        # The start is checked as any other: the client died again, so it failed; and the
        # reset it made first is named.
        # The client dies 0.1 s after it starts; depending on when the module looks, it saw
        # it die, never saw it up, or saw systemd restart it: each is a failed start.
        assert err.startswith(f"`systemctl start {UNIT}` "), err
        assert re.search(
            rf"but it exited within {SETTLE} s|succeeded but the client is not running after|"
            rf"but within {SETTLE} s it was restarted",
            err,
        ), err
        assert f"(already done: reset systemd's start limit of {UNIT} with `{RESET}`)" in err, err
        assert show(host, "ActiveState")["ActiveState"] != "active"
    finally:
        host.run("systemctl", "stop", UNIT, check=False)
        host.run("systemctl", "reset-failed", UNIT, check=False)
