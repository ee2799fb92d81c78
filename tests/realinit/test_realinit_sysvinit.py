"""Real sysvinit (booted in systemd-nspawn): the `/etc/init.d` and `chkconfig` rows."""

from __future__ import annotations

import pytest
from realinit_checks import ClientBranchChecks, assert_error, make_host, put_client, put_sysv

pytestmark = pytest.mark.realinit

PIDFILE = "/var/run/aliyun-service.pid"


def read_pidfile(host, path):
    text = host.read(path)
    try:
        return int(text.strip()) if text else None
    except ValueError:
        return None


class TestSysvinitInitScript(ClientBranchChecks):
    """Client 2.2.3.578 under /etc/init.d/aliyun-service (update-rc.d defaults: starts at boot)."""

    INIT = "sysvinit"
    SERVICE = "/etc/init.d/aliyun-service"
    STOP = "/etc/init.d/aliyun-service stop"
    START = "/etc/init.d/aliyun-service start"

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, cls.VERSION)
            put_sysv(c)

        h = make_host(request, roots, "ca-sysvinit", "sysvinit", prepare)
        assert h.run("cat", "/proc/1/comm").stdout.strip() == "init"
        assert not h.exists("/run/systemd/system")
        assert h.pids(), "/etc/init.d/aliyun-service did not start the stand-in at boot"
        return h

    def manager_active(self, host):
        return host.run("/etc/init.d/aliyun-service", "status", check=False).returncode == 0

    def manager_start(self, host):
        host.run("/etc/init.d/aliyun-service", "start")

    def manager_stop(self, host):
        host.run("/etc/init.d/aliyun-service", "stop")

    def manager_pid(self, host):
        return read_pidfile(host, PIDFILE) or -1

    def assert_stopped(self, host):
        super().assert_stopped(host)
        assert not host.exists(PIDFILE), "pid file left behind"


class TestSysvinitAgentwatchWithoutChkconfig:
    """Client 1.0.1.308 on sysvinit: the vendor says `chkconfig agentwatch off|on`, and Debian
    has no chkconfig.  Documented behaviour: fail, naming the branch and the missing tool, and
    leave the client as it is."""

    VERSION = "1.0.1.308"
    AGENT_PIDFILE = "/var/run/agentwatch.pid"

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, cls.VERSION)
            put_sysv(c, name="agentwatch", pidfile=cls.AGENT_PIDFILE)

        h = make_host(request, roots, "ca-sysvinit-agentwatch", "sysvinit", prepare)
        assert h.run("sh", "-c", "command -v chkconfig", check=False).returncode != 0
        assert h.pids(), "/etc/init.d/agentwatch did not start the stand-in at boot"
        return h

    def running_client(self, host):
        if not host.pids():
            host.run("/etc/init.d/agentwatch", "start")
        pids = host.wait_for(host.pids, what="the client")
        assert read_pidfile(host, self.AGENT_PIDFILE) == pids[0]
        return pids

    def test_version_and_status(self, host):
        pids = self.running_client(host)
        assert host.call("cloudassist.version", check=True).ret == self.VERSION
        st = host.call("cloudassist.status", check=True).ret
        assert st["init_system"] == "sysvinit" and st["version"] == self.VERSION, st
        assert st["running"] is True and sorted(st["pids"]) == pids, st

    @pytest.mark.parametrize("fun", ["cloudassist.stop", "cloudassist.restart"])
    def test_running_client_is_left_alone(self, host, fun):
        pids = self.running_client(host)
        res = host.call(fun)
        assert_error(res, "branch", "1.0.1.308 or older", "needs chkconfig")
        assert host.pids() == pids, f"{fun} touched the client"
        assert read_pidfile(host, self.AGENT_PIDFILE) == pids[0]

    def test_start_of_stopped_client_fails_and_starts_nothing(self, host):
        self.running_client(host)
        host.run("/etc/init.d/agentwatch", "stop")
        try:
            assert host.pids() == []
            res = host.call("cloudassist.start")
            assert_error(res, "branch", "1.0.1.308 or older", "needs chkconfig")
            assert host.pids() == [], "start of the chkconfig branch started something"
        finally:
            host.run("/etc/init.d/agentwatch", "start")
