"""Hosts that cannot be had for real here, built as faithfully as possible:

- upstart: a sysvinit container in which a mount namespace shows upstart's `/sbin/init` marker
  and an `/sbin/initctl` that behaves like upstart's (tests/support/upstart_initctl.py);
- a container-like host: the systemd root started *without* booting it, so `/sbin/init` is
  systemd but PID 1 is not (as in Docker, chroots, or this build machine itself);
- a host without the client.
"""

from __future__ import annotations

import re

import pytest
import realinit_testbed as tb
from realinit_checks import (
    BINARY,
    SLS_RUNNING,
    ClientBranchChecks,
    Host,
    assert_error,
    make_host,
    put_client,
    put_sysv,
    single_state,
)

pytestmark = pytest.mark.realinit

# ------------------------------------------------------------------------------------------
# upstart
# ------------------------------------------------------------------------------------------

EMU = "/opt/realinit-upstart"
UPSTART_JOB = """\
# aliyun-service - Aliyun Assist (stand-in written by the cloudassist real-init tests)
description "Aliyun Assist"
start on runlevel [2345]
stop on runlevel [!2345]
respawn
exec /usr/sbin/aliyun-service
"""
# What `strings /sbin/init | grep upstart` finds in upstart's init.
UPSTART_INIT_MARKER = (
    "\x7fELF emulated upstart init\ninit (upstart 1.12.1)\n/usr/share/upstart/sessions\n"
)

# Run "$@" in a private mount namespace whose /sbin holds upstart's init and initctl; the
# namespace's tmpfs and overlay vanish with its last process.
UPSTART_NS = rf"""set -e
sbin=$(readlink -f /sbin)
mount -t tmpfs upstart-emu /mnt
mkdir /mnt/upper /mnt/work
cp -p {EMU}/init {EMU}/initctl /mnt/upper/
mount -t overlay upstart-emu -o lowerdir=$sbin,upperdir=/mnt/upper,workdir=/mnt/work $sbin
exec "$@"
"""
UPSTART_WRAP = (
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "/bin/sh",
    "-c",
    UPSTART_NS,
    "upstart-ns",
)
CALLS_LOG = "/run/upstart-emu/calls.log"


class UpstartHost(Host):
    """Everything (salt-call included) runs inside the upstart mount namespace."""

    def call(self, *args, **kw):
        return self.salt.call(*args, wrap=UPSTART_WRAP, **kw)

    def ns_run(self, *cmd, **kw):
        return self.c.run(*UPSTART_WRAP, *cmd, **kw)

    def initctl(self, *args, check=True):
        return self.ns_run("/sbin/initctl", *args, check=check)

    def calls(self) -> list[str]:
        return (self.c.read(CALLS_LOG) or "").splitlines()


class TestUpstartEmulated(ClientBranchChecks):
    INIT = "upstart"
    SERVICE = "aliyun-service"
    STOP = "/sbin/initctl stop aliyun-service"
    START = "/sbin/initctl start aliyun-service"

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        initctl = (tb.SUPPORT_DIR / "upstart_initctl.py").read_text()

        def prepare(c):
            put_client(c, cls.VERSION)
            c.write("/etc/init/aliyun-service.conf", UPSTART_JOB)
            c.write(f"{EMU}/initctl", initctl, 0o755)
            c.write(f"{EMU}/init", UPSTART_INIT_MARKER, 0o755)

        plain = make_host(request, roots, "ca-upstart", "sysvinit", prepare)
        h = UpstartHost(plain.c, plain.salt)
        h.initctl("start", "aliyun-service")
        return h

    def manager_status(self, host):
        return host.initctl("status", "aliyun-service").stdout.strip()

    def manager_active(self, host):
        return "start/running" in self.manager_status(host)

    def manager_pid(self, host):
        m = re.search(r"process (\d+)", self.manager_status(host))
        return int(m.group(1)) if m else -1

    def manager_start(self, host):
        host.initctl("start", "aliyun-service")

    def manager_stop(self, host):
        host.initctl("stop", "aliyun-service")

    def test_namespace_is_upstart_and_host_is_not(self, host):
        ver = host.initctl("--version").stdout
        assert ver.startswith("initctl (upstart 1.12.1)"), ver
        assert "upstart" in host.ns_run("cat", "/sbin/init").stdout
        # Outside the namespace the container is still plain sysvinit.
        assert not host.exists("/sbin/initctl")
        assert host.run("grep", "-c", "sysvinit", "/sbin/init", check=False).returncode == 0

    def test_module_runs_initctl(self, host):
        self.ensure_running(host)
        before = len(host.calls())
        host.call("cloudassist.stop", check=True)
        host.call("cloudassist.start", check=True)
        ran = host.calls()[before:]
        assert "/sbin/initctl stop aliyun-service" in ran, ran
        assert "/sbin/initctl start aliyun-service" in ran, ran
        assert ran.index("/sbin/initctl stop aliyun-service") < ran.index(
            "/sbin/initctl start aliyun-service"
        )
        self.assert_running(host)


# ------------------------------------------------------------------------------------------
# /sbin/init is systemd, PID 1 is not
# ------------------------------------------------------------------------------------------

# PID 1 of the container-like host: a reaper, as tini or a shell would be.
REAPER = [
    "/usr/bin/python3",
    "-c",
    "import os, time\nwhile True:\n    try:\n        os.wait()\n"
    "    except ChildProcessError:\n        time.sleep(0.2)\n",
]
PIDFILE = "/var/run/aliyun-service.pid"


class TestContainerLikeHost:
    VERSION = "2.2.3.578"

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, cls.VERSION)
            put_sysv(c, enable=False)

        h = make_host(
            request, roots, "ca-containerlike", "container", prepare, boot=False, pid1=REAPER
        )
        assert h.run("readlink", "-f", "/sbin/init").stdout.strip().endswith("/systemd")
        assert h.run("cat", "/proc/1/comm").stdout.strip() == "python3"
        assert not h.exists("/run/systemd/system")
        r = h.run("systemctl", "is-system-running", check=False)
        assert r.returncode != 0, r
        return h

    def start_by_script(self, host):
        if not host.pids():
            host.run("/etc/init.d/aliyun-service", "start")
        pids = host.wait_for(host.pids, what="the client")
        assert int(host.read(PIDFILE)) == pids[0]
        return pids

    def test_uses_init_script_and_really_stops_and_starts(self, host):
        self.start_by_script(host)
        st = host.call("cloudassist.status", check=True).ret
        assert st["service"] == "/etc/init.d/aliyun-service", st
        assert st["commands"] == {
            "stop": "/etc/init.d/aliyun-service stop",
            "start": "/etc/init.d/aliyun-service start",
        }, st

        res = host.call("cloudassist.stop", check=True)
        assert res.ret["command"] == "/etc/init.d/aliyun-service stop", res
        assert res.ret["running"] is False and res.ret["changed"] is True, res
        assert host.pids() == [] and not host.exists(PIDFILE)

        res = host.call("cloudassist.start", check=True)
        assert res.ret["command"] == "/etc/init.d/aliyun-service start", res
        assert res.ret["running"] is True and res.ret["changed"] is True, res
        pids = host.pids()
        assert len(pids) == 1 and int(host.read(PIDFILE)) == pids[0]

    @pytest.mark.parametrize(
        "fun", ["cloudassist.stop", "cloudassist.start", "cloudassist.restart"]
    )
    def test_without_init_script_fails_saying_systemd_is_not_running(self, host, fun):
        host.run("/etc/init.d/aliyun-service", "stop")
        host.run("mv", "/etc/init.d/aliyun-service", "/root/aliyun-service.initscript")
        try:
            # A client runs, started by hand: the module must neither touch it nor claim success.
            host.sh(f"setsid {BINARY} </dev/null >/dev/null 2>&1 &")
            pids = host.wait_for(host.pids, what="the hand-started client")
            res = host.call(fun)
            assert_error(res, "systemd", "not running", "pid 1", "python3")
            assert host.pids() == pids, f"{fun} touched the client"
        finally:
            host.sh(
                f"kill {' '.join(map(str, host.pids()))} 2>/dev/null; "
                "mv /root/aliyun-service.initscript /etc/init.d/aliyun-service",
                check=False,
            )
            host.wait_for(lambda: not host.pids(), what="the hand-started client to end")


# ------------------------------------------------------------------------------------------
# no client at all
# ------------------------------------------------------------------------------------------


class TestNoClient:
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        h = make_host(request, roots, "ca-noclient", "systemd")
        assert not h.exists(BINARY)
        return h

    @pytest.mark.parametrize("fun", ["version", "stop", "start", "restart"])
    def test_every_action_says_not_installed(self, host, fun):
        res = host.call("cloudassist." + fun)
        assert_error(res, "not installed", "looked for", BINARY)

    def test_status_answers_with_what_the_host_knows(self, host):
        """An inventory does not fail on a minion without the client (issue 17): on a real
        systemd host the init system is still decided, from systemd itself."""
        status = host.call("cloudassist.status", check=True).ret
        assert status["installed"] is False and status["running"] is False, status
        assert status["init_system"] == "systemd", status
        assert "/run/systemd/system" in status["decided_by"], status
        assert BINARY in status["looked_in"], status
        assert status["comment"].startswith("the Cloud Assistant client is not installed"), status

    def test_state_fails_with_the_error(self, host):
        host.salt.write_sls("ca_running", SLS_RUNNING)
        st = single_state(host.call("state.apply", "ca_running"))
        assert st["result"] is False and "not installed" in st["comment"], st
