"""Real systemd (booted in systemd-nspawn): the `systemctl` rows of the vendor table."""

from __future__ import annotations

import pytest
from realinit_checks import (
    ClientBranchChecks,
    make_host,
    put_client,
    put_unit,
)

pytestmark = pytest.mark.realinit

# Old builds printed stray log-file errors before the version (cloud-assistant.md).
NOISE = (
    "open /usr/local/share/aliyun-assist/1.0.1.308/log/aliyun_assist_main.log: permission denied"
)


def unit_active(host, unit: str) -> bool:
    return host.run("systemctl", "is-active", unit, check=False).stdout.strip() == "active"


def unit_main_pid(host, unit: str) -> int:
    return int(host.run("systemctl", "show", "-p", "MainPID", "--value", unit).stdout.strip())


class TestSystemdAliyunService(ClientBranchChecks):
    """Client 2.2.3.578 under aliyun.service, enabled at boot."""

    INIT = "systemd"
    SERVICE = "aliyun.service"
    STOP = "systemctl stop aliyun.service"
    START = "systemctl start aliyun.service"

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, cls.VERSION)
            put_unit(c, "aliyun.service")

        h = make_host(request, roots, "ca-systemd", "systemd", prepare)
        assert h.pids(), "aliyun.service did not start the stand-in at boot"
        return h

    def manager_active(self, host):
        return unit_active(host, "aliyun.service")

    def manager_start(self, host):
        host.run("systemctl", "start", "aliyun.service")

    def manager_stop(self, host):
        host.run("systemctl", "stop", "aliyun.service")

    def manager_pid(self, host):
        return unit_main_pid(host, "aliyun.service")


class TestSystemdAgentwatch:
    """Client 1.0.1.308 (printing a noise line before its version) under agentwatch.service;
    aliyun.service also exists and runs (something else), and must be left alone."""

    VERSION = "1.0.1.308"

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, cls.VERSION, noise=[NOISE])
            put_unit(c, "agentwatch.service")
            put_unit(
                c,
                "aliyun.service",
                binary="/bin/sleep infinity",
                description="present on this host but not the branch's unit",
            )

        h = make_host(request, roots, "ca-systemd-agentwatch", "systemd", prepare)
        assert unit_active(h, "agentwatch.service") and unit_active(h, "aliyun.service")
        return h

    def aliyun_unit(self, host):
        return unit_active(host, "aliyun.service"), unit_main_pid(host, "aliyun.service")

    def test_version_ignores_noise(self, host):
        out = host.run("/usr/sbin/aliyun-service", "-v").stdout
        assert NOISE in out, "the stand-in should print the noise line"
        res = host.call("cloudassist.version", check=True)
        assert res.ret == self.VERSION, res

    def test_status(self, host):
        st = host.call("cloudassist.status", check=True).ret
        assert st["running"] is True and st["version"] == self.VERSION, st
        assert st["init_system"] == "systemd" and st["service"] == "agentwatch", st
        assert st["commands"] == {
            "stop": "systemctl stop agentwatch",
            "start": "systemctl start agentwatch",
        }, st
        assert sorted(st["pids"]) == host.pids()

    def test_stop_and_start_act_on_agentwatch_only(self, host):
        if not host.pids():
            host.run("systemctl", "start", "agentwatch.service")
        aliyun_before = self.aliyun_unit(host)
        assert aliyun_before[0]

        res = host.call("cloudassist.stop", check=True)
        assert res.ret["command"] == "systemctl stop agentwatch", res
        assert res.ret["running"] is False and res.ret["changed"] is True, res
        assert res.ret["service"] == "agentwatch", res
        assert not unit_active(host, "agentwatch.service")
        assert host.pids() == []
        assert self.aliyun_unit(host) == aliyun_before, "stop touched aliyun.service"

        res = host.call("cloudassist.start", check=True)
        assert res.ret["command"] == "systemctl start agentwatch", res
        assert res.ret["running"] is True and res.ret["changed"] is True, res
        assert unit_active(host, "agentwatch.service")
        pids = host.pids()
        assert pids == [unit_main_pid(host, "agentwatch.service")]
        assert self.aliyun_unit(host) == aliyun_before, "start touched aliyun.service"
