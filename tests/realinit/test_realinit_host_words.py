"""The host's own words on failure (issue 17): a real systemd 252 and a real sysvinit in
containers, a client that dies right after it started.

Under systemd (the vendor's unit settings: ``Restart=on-failure``, a start limit,
``KillMode=process``; the wait shortened) the failed start's error, and the ``running`` state's
comment, end with the last lines of the unit's journal since the start began.  Under sysvinit
the init script says "Starting aliyun-service" and exits 0, then the client dies: the error ends
with the script's words.

Each test checks the words against what the host itself logged or printed (``journalctl`` run
by the test, the init script run by hand), never against the module's own word.
"""

from __future__ import annotations

import re

import pytest
from realinit_checks import (
    BINARY,
    SLS_RUNNING,
    make_host,
    module_error,
    put_client,
    put_sysv,
    put_unit,
    single_state,
)
from support import standin

pytestmark = pytest.mark.realinit

VERSION = "2.2.3.578"
UNIT = "aliyun.service"
SCRIPT = "/etc/init.d/aliyun-service"
DROPIN = """\
[Unit]
StartLimitIntervalSec=3600
StartLimitBurst=3
[Service]
Restart=on-failure
RestartSec=0.2
KillMode=process
"""
SETTLE = 1
# A journalctl ahead of the real one on the PATH that notes each call, so a test can count
# them; with FAIL present it fails as a broken journal would.
CALLS = "/var/tmp/journalctl.calls"
FAIL = "/var/tmp/journalctl.fail"
JOURNALCTL_WRAPPER = f"""\
#!/bin/sh
echo "$*" >> {CALLS}
[ -e {FAIL} ] && {{ echo "Failed to open the journal: Input/output error" >&2; exit 1; }}
exec /usr/bin/journalctl "$@"
"""
HEADING = re.compile(r"^the host said \(`(?P<by>[^`]*)`\):$")


def host_words(text: str) -> tuple[str, list[str]]:
    """``(said_by, lines)`` of the host's words that end an error or a comment."""
    lines = text.rstrip("\n").split("\n")
    for index, line in enumerate(lines):
        match = HEADING.match(line)
        if match:
            said = lines[index + 1 :]
            assert said and all(line.startswith("  ") for line in said), text
            return match.group("by"), [line[2:] for line in said]
    pytest.fail(f"no host's words at the end of: {text!r}")


def now(host) -> int:
    return int(host.run("date", "+%s").stdout.strip())


# --- systemd ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def systemd_host(request, roots):
    def prepare(c):
        put_client(c, VERSION)
        put_unit(c, UNIT, enable=False)
        c.write(f"/etc/systemd/system/{UNIT}.d/vendor.conf", DROPIN)
        c.write("/usr/local/bin/journalctl", JOURNALCTL_WRAPPER, 0o755)

    return make_host(request, roots, "ca-host-words", "systemd", prepare)


def journal_calls(host) -> list[str]:
    return (host.read(CALLS) or "").splitlines()


@pytest.fixture
def dying_client(systemd_host):
    host = systemd_host
    standin.install_client(host.path(BINARY), VERSION, die_after=0.3)
    host.run("systemctl", "reset-failed", UNIT, check=False)
    host.run("rm", "-f", CALLS, FAIL)
    yield host
    host.run("rm", "-f", CALLS, FAIL)
    host.run("systemctl", "stop", UNIT, check=False)
    host.run("systemctl", "reset-failed", UNIT, check=False)
    standin.install_client(host.path(BINARY), VERSION)


def journal_since(host, since: int) -> list[str]:
    """The unit's journal since ``since``, as the host logged it (the test's own read)."""
    out = host.run(
        "/usr/bin/journalctl", "--unit", UNIT, "--since", f"@{since}", "--no-pager", "--quiet"
    ).stdout
    return out.splitlines()


def assert_the_journals_words(host, text: str, began: int) -> None:
    said_by, said = host_words(text)
    match = re.fullmatch(
        rf"journalctl --unit {re.escape(UNIT)} --since @(\d+) --lines 20 --no-pager --quiet",
        said_by,
    )
    assert match, said_by
    # The journal is read from when the action began: not before the call, not after it.
    assert began - 1 <= int(match.group(1)) <= now(host), (began, said_by)
    logged = journal_since(host, int(match.group(1)))
    # The words are lines the journal really holds, in its order, and they tell the crash:
    # systemd's own line about the client's exit (the stand-in exits 3 after die_after).
    assert 0 < len(said) <= 20, said
    assert all(line in logged for line in said), (said, logged)
    start = logged.index(said[0])
    assert logged[start : start + len(said)] == said, (said, logged)
    assert any(f"{UNIT}: Main process exited" in line for line in said), said


def test_a_failing_start_ends_with_the_units_journal(dying_client):
    host = dying_client
    began = now(host)
    err = module_error(host.call("cloudassist.start", f"settle={SETTLE}"), "cloudassist.start")
    assert err.startswith(f"`systemctl start {UNIT}` "), err
    assert_the_journals_words(host, err, began)
    assert len(journal_calls(host)) == 1  # once, for the failure


def test_the_running_states_comment_ends_with_the_same_words(dying_client):
    host = dying_client
    host.salt.write_sls("ca_running", SLS_RUNNING + f"    - settle: {SETTLE}\n")
    began = now(host)
    state = single_state(host.call("state.apply", "ca_running"))
    assert state["result"] is False, state
    assert state["comment"].startswith(f"`systemctl start {UNIT}` "), state
    assert_the_journals_words(host, state["comment"], began)


def test_a_failing_journalctl_leaves_the_error_as_it_was(dying_client):
    host = dying_client
    host.run("touch", FAIL)
    err = module_error(host.call("cloudassist.start", f"settle={SETTLE}"), "cloudassist.start")
    assert err.startswith(f"`systemctl start {UNIT}` "), err
    assert "the host said" not in err and "Failed to open the journal" not in err, err
    assert len(journal_calls(host)) == 1


def test_a_success_reads_no_journal(systemd_host):
    """Nothing extra runs on success: the journal is read only after a failure."""
    host = systemd_host
    host.run("systemctl", "reset-failed", UNIT, check=False)
    host.run("rm", "-f", CALLS)
    try:
        res = host.call("cloudassist.restart", f"settle={SETTLE}", check=True)
        assert res.ret["running"] is True, res
        assert journal_calls(host) == []
    finally:
        host.run("systemctl", "stop", UNIT, check=False)


# --- sysvinit ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sysv_host(request, roots):
    def prepare(c):
        put_client(c, VERSION)
        put_sysv(c, enable=False)

    return make_host(request, roots, "ca-host-words-sysv", "sysvinit", prepare)


def script_says(host, action: str) -> list[str]:
    """What the init script prints for ``action``, run by hand."""
    out = host.run(SCRIPT, action).stdout
    return [line.rstrip() for line in out.splitlines() if line.strip()]


def test_a_start_the_script_called_ok_ends_with_the_scripts_words(sysv_host):
    host = sysv_host
    standin.install_client(host.path(BINARY), VERSION, die_after=0.3)
    try:
        err = module_error(host.call("cloudassist.start", f"settle={SETTLE}"), "cloudassist.start")
        assert err.startswith(f"`{SCRIPT} start` "), err
        said_by, said = host_words(err)
        assert said_by == f"{SCRIPT} start", said_by
        assert said == script_says(host, "start"), (said, err)  # dies again after it
    finally:
        standin.install_client(host.path(BINARY), VERSION)
        host.run(SCRIPT, "stop", check=False)


def test_a_restart_whose_client_dies_has_both_steps_words_and_names_the_stop(sysv_host):
    host = sysv_host
    host.run(SCRIPT, "start")
    assert host.pids()
    standin.install_client(host.path(BINARY), VERSION, die_after=0.3)  # the next one dies
    try:
        err = module_error(
            host.call("cloudassist.restart", f"settle={SETTLE}"), "cloudassist.restart"
        )
        assert f"(already done: stopped the client with `{SCRIPT} stop`)" in err, err
        said_by, said = host_words(err)
        assert said_by == f"{SCRIPT} stop; {SCRIPT} start", said_by
        stopped = script_says(host, "stop")  # the dead client's pid file: the same words
        assert said == stopped + script_says(host, "start"), (said, err)
    finally:
        standin.install_client(host.path(BINARY), VERSION)
        host.run(SCRIPT, "stop", check=False)
