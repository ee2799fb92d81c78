"""A stale pid file under a real sysvinit (issue 17): the vendor's kind of init script trusts
its pid file, and after a crash the pid in it can belong to another program.  A booted
sysvinit container, the stand-in client under ``/etc/init.d/aliyun-service`` (a script that
trusts ``PIDFILE=/var/run/aliyun-service.pid``: its start says "already running" and starts
nothing while the file names a live process, its stop kills whatever the file names), and an
innocent ``sleep`` whose pid the file names.

Each test checks the module's answer against the container itself: its process table, the pid
file's content, the script's own ``status``; never against the module's own word.
"""

from __future__ import annotations

import time

import pytest
from realinit_checks import (
    BINARY,
    PY3,
    SLS_RUNNING,
    make_host,
    module_error,
    put_client,
    put_sysv,
    single_state,
)

pytestmark = pytest.mark.realinit

VERSION = "2.2.3.578"
SCRIPT = "/etc/init.d/aliyun-service"
PIDFILE = "/var/run/aliyun-service.pid"
SETTLE = 1
# chattr +i without e2fsprogs (a minbase root has none): FS_IOC_SETFLAGS on the file itself
CHATTR = """\
import fcntl, struct, sys
GET, SET, IMMUTABLE = 0x80086601, 0x40086602, 0x10
with open(sys.argv[2], 'rb') as f:
    flags = struct.unpack('l', fcntl.ioctl(f, GET, struct.pack('l', 0)))[0]
    flags = flags | IMMUTABLE if sys.argv[1] == '+i' else flags & ~IMMUTABLE
    fcntl.ioctl(f, SET, struct.pack('l', flags))
"""


@pytest.fixture(scope="module")
def host(request, roots):
    def prepare(c):
        put_client(c, VERSION)
        put_sysv(c)

    h = make_host(request, roots, "ca-stale-pidfile", "sysvinit", prepare)
    assert h.run("cat", "/proc/1/comm").stdout.strip() == "init"
    return h


def spawn(host, *argv: str) -> int:
    """Start ``argv`` detached in the container (outside the init script): its pid there."""
    script = 'setsid "$@" </dev/null >/dev/null 2>&1 & echo $!'
    out = host.run("/bin/sh", "-c", script, "spawn", *argv).stdout
    return int(out.strip())


def alive(host, pid: int, comm: str) -> bool:
    res = host.run("cat", f"/proc/{pid}/comm", check=False)
    return res.returncode == 0 and res.stdout.strip() == comm


def pidfile_pid(host) -> int | None:
    text = host.read(PIDFILE)
    return int(text.strip()) if text and text.strip().isdigit() else None


def chattr(host, flag: str) -> None:
    host.run(PY3, "-c", CHATTR, flag, PIDFILE)


@pytest.fixture
def innocent(host):
    """The client down, and the pid file naming a live ``sleep`` (its pid, reused)."""
    host.run(SCRIPT, "stop", check=False)
    for pid in host.pids():
        host.run("kill", str(pid), check=False)
    host.wait_for(lambda: not host.pids(), what="no client")
    sleeper = spawn(host, "sleep", "1000")
    host.wait_for(lambda: alive(host, sleeper, "sleep"), what="the sleep")
    host.run("sh", "-c", f"echo {sleeper} > {PIDFILE}")
    # The script's own word: it takes the sleep for the client.
    assert host.run(SCRIPT, "status", check=False).returncode == 0
    yield sleeper
    if host.exists(PIDFILE):
        chattr(host, "-i")
    assert alive(host, sleeper, "sleep"), f"the innocent sleep (pid {sleeper}) was killed"
    host.run("kill", str(sleeper), check=False)
    for pid in host.pids():
        host.run("kill", str(pid), check=False)
    host.run("rm", "-f", PIDFILE)


def test_status_says_the_pid_file_is_stale_and_names_its_owner(host, innocent):
    status = host.call("cloudassist.status", check=True).ret
    assert status["running"] is False and status["pids"] == [], status
    pidfile = status["pidfile"]
    assert pidfile["path"] == PIDFILE and pidfile["source"] == f"PIDFILE= in {SCRIPT}", pidfile
    assert pidfile["pid"] == innocent and pidfile["stale"] is True, pidfile
    owner = pidfile["owner"]
    assert owner["pid"] == innocent and owner["comm"] == "sleep", owner
    assert owner["exe"].endswith("/sleep") and owner["cmdline"] == ["sleep", "1000"], owner


def test_test_mode_shows_the_removal_and_runs_nothing(host, innocent):
    ret = host.call("cloudassist.start", "test=True", check=True).ret
    assert ret["changes"]["stale_pidfile"] == {
        "old": {"path": PIDFILE, "pid": innocent},
        "new": None,
    }, ret
    assert f"remove the stale pid file, which names pid {innocent} (sleep, " in ret["comment"]
    assert f"(`rm -f {PIDFILE}`) and then run `{SCRIPT} start`" in ret["comment"], ret
    assert pidfile_pid(host) == innocent and host.pids() == []


def test_start_removes_the_stale_file_and_the_script_starts_the_client(host, innocent):
    res = host.call("cloudassist.start", f"settle={SETTLE}", check=True)
    assert res.ret["changes"]["stale_pidfile"] == {
        "old": {"path": PIDFILE, "pid": innocent},
        "new": None,
    }, res
    assert res.ret["changes"]["running"] == {"old": False, "new": True}, res
    pids = host.pids()
    assert len(pids) == 1 and res.ret["pids"] == pids, res
    assert pidfile_pid(host) == pids[0], "the script did not write its own pid file"
    assert host.run(SCRIPT, "status", check=False).returncode == 0


def test_the_running_state_removes_the_stale_file(host, innocent):
    host.salt.write_sls("ca_running", SLS_RUNNING + f"    - settle: {SETTLE}\n")
    state = single_state(host.call("state.apply", "ca_running", check=True))
    assert state["result"] is True, state
    assert state["changes"]["stale_pidfile"]["old"] == {"path": PIDFILE, "pid": innocent}, state
    assert len(host.pids()) == 1 and pidfile_pid(host) == host.pids()[0]


def test_stop_makes_the_file_name_the_client_and_never_kills_the_other(host, innocent):
    # A client the script did not start (the watchdog restarted it, say): the file still names
    # the sleep, which the script's stop would kill.
    client = spawn(host, BINARY)
    host.wait_for(lambda: host.pids() == [client], what="the client")
    res = host.call("cloudassist.stop", check=True)
    assert res.ret["changes"]["stale_pidfile"] == {
        "old": {"path": PIDFILE, "pid": innocent},
        "new": {"path": PIDFILE, "pid": client},
    }, res
    assert res.ret["changes"]["running"] == {"old": True, "new": False}, res
    assert host.pids() == [] and not host.exists(PIDFILE)
    assert alive(host, innocent, "sleep")


def test_a_file_that_cannot_be_removed_fails_at_once_naming_it_and_its_owner(host, innocent):
    chattr(host, "+i")
    # The kernel's word that it is immutable: even root cannot remove it now.
    assert host.run("rm", "-f", PIDFILE, check=False).returncode != 0
    began = time.monotonic()
    err = module_error(host.call("cloudassist.start", "timeout=30"), "cloudassist.start")
    took = time.monotonic() - began
    assert took < 10, f"the failure took {took:.1f} s: it waited for the start timeout"
    assert err.startswith(
        f"the init script {SCRIPT} trusts its pid file {PIDFILE}, which names pid {innocent} "
        "(sleep, "
    ), err
    assert ": sleep 1000), not the client, and cloudassist could not remove it" in err, err
    assert "Operation not permitted" in err and f"`lsattr {PIDFILE}`" in err, err
    # Nothing else ran: no client, the file as it was.
    assert host.pids() == [] and pidfile_pid(host) == innocent
