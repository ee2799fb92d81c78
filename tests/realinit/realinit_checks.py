"""Checks shared by the real-init scenarios: run the module through salt-call inside a booted
container, then look at the container itself (process table, unit state, pid file)."""

from __future__ import annotations

import re

import pytest
import realinit_testbed as tb
from support import standin


class Host:
    """A booted container plus its salt-call, handed to the tests."""

    def __init__(self, container: tb.Container, salt: tb.Salt):
        self.c = container
        self.salt = salt

    def __getattr__(self, name):
        return getattr(self.c, name)

    def call(self, *args, **kw) -> tb.SaltResult:
        return self.salt.call(*args, **kw)


def make_host(request, roots, name, kind, prepare=None, *, boot=True, pid1=None, salt_config=None):
    """Create, prepare (before boot, on the writable layer), boot, and schedule teardown."""
    root = roots["systemd" if kind in ("systemd", "container") else "sysvinit"]
    c = tb.Container(root, "systemd" if kind == "container" else kind, name)
    tb.OPEN.append(c)
    tb.ALL.append(c)

    def _fin():
        try:
            problems = c.close()
        finally:
            tb.OPEN.remove(c)
        assert not problems, f"teardown of {name}: {problems}"

    request.addfinalizer(_fin)
    if prepare:
        prepare(c)
    if boot:
        c.boot()
    else:
        c.start_plain(pid1)
    salt = tb.Salt(c, salt_config)
    return Host(c, salt)


# ------------------------------------------------------------------------------------------
# What goes into a container's writable layer
# ------------------------------------------------------------------------------------------

BINARY = "/usr/sbin/aliyun-service"
PY3 = "/usr/bin/python3"


def put_client(c: tb.Container, version: str, **knobs) -> None:
    standin.install_client(c.path(BINARY), version, interpreter=PY3, **knobs)


def put_unit(
    c: tb.Container,
    unit: str,
    binary: str = BINARY,
    enable: bool = True,
    description: str = "Stand-in Cloud Assistant client",
) -> None:
    c.write(f"/etc/systemd/system/{unit}", standin.systemd_unit(binary, description=description))
    if enable:
        wants = c.path("/etc/systemd/system/multi-user.target.wants")
        wants.mkdir(parents=True, exist_ok=True)
        (wants / unit).symlink_to(f"/etc/systemd/system/{unit}")


def put_sysv(
    c: tb.Container,
    name: str = "aliyun-service",
    pidfile: str = "/var/run/aliyun-service.pid",
    enable: bool = True,
) -> None:
    # The script waits up to 20 s (not the 5 s default) for the stand-in to go after its
    # SIGTERM: in CI this suite runs beside the others on two cores, and no test here needs a
    # client that outlives its stop; 20 s stays under the module's 30 s command timeout.
    script = standin.sysv_script(
        BINARY, name=name, pidfile=pidfile, stop_wait_tenths=200, diagnose=True
    )
    c.write(f"/etc/init.d/{name}", script, 0o755)
    if enable:
        c.chroot("update-rc.d", name, "defaults")


SLS_STOPPED = """\
cloudassist_client:
  cloudassist.stopped:
    - name: aliyun
"""

SLS_RUNNING = """\
cloudassist_client:
  cloudassist.running:
    - name: aliyun
"""


def single_state(res):
    """The one state's return dict of a ``state.apply`` salt-call."""
    ret = res.ret
    assert isinstance(ret, dict) and len(ret) == 1, f"unexpected state.apply output: {res!r}"
    return next(iter(ret.values()))


def assert_error(res, *needles):
    """salt-call failed (non-zero exit) and its output contains every needle (case-insensitive)."""
    assert res.returncode != 0, f"salt-call should have failed: {res!r}"
    text = res.text.lower()
    missing = [n for n in needles if n.lower() not in text]
    assert not missing, f"error output lacks {missing}: {res!r}"


class ClientBranchChecks:
    """Execution functions and states against a real init system.

    Subclasses name the branch (``INIT``, ``SERVICE``, ``STOP``, ``START``) and say how the
    init system itself reports and changes the client (``manager_*``); they provide a
    class-scoped ``host`` fixture whose client is running at boot.
    """

    VERSION = "2.2.3.578"
    INIT = ""
    SERVICE = ""
    STOP = ""
    START = ""

    # -- the init system's own view, to be provided ------------------------------------------
    def manager_active(self, host) -> bool:
        raise NotImplementedError

    def manager_start(self, host) -> None:
        raise NotImplementedError

    def manager_stop(self, host) -> None:
        raise NotImplementedError

    def manager_pid(self, host) -> int | None:
        """The client's pid as the init system tracks it (MainPID, pid file), if any."""
        return None

    # -- the truth on the host ----------------------------------------------------------------
    def assert_running(self, host) -> list[int]:
        pids = host.wait_for(host.pids, timeout=10, what="the client process")
        assert len(pids) == 1, f"expected one client process, found {pids}"
        assert self.manager_active(host), f"{self.SERVICE} is not active though {pids} runs"
        tracked = self.manager_pid(host)
        if tracked is not None:
            assert tracked == pids[0], f"{self.SERVICE} tracks pid {tracked}, process is {pids}"
        return pids

    def assert_stopped(self, host) -> None:
        assert host.pids() == [], "a client process is still there"
        assert not self.manager_active(host), f"{self.SERVICE} still active"

    def ensure_running(self, host) -> list[int]:
        if not host.pids():
            self.manager_start(host)
        return self.assert_running(host)

    def ensure_stopped(self, host) -> None:
        if host.pids() or self.manager_active(host):
            self.manager_stop(host)
        host.wait_for(lambda: not host.pids(), timeout=10, what="the client to stop")
        self.assert_stopped(host)

    def check_branch(self, ret: dict) -> None:
        assert ret["init_system"] == self.INIT, ret
        assert ret["service"] == self.SERVICE, ret
        assert ret["version"] == self.VERSION, ret

    # -- execution module -----------------------------------------------------------------
    def test_version(self, host):
        res = host.call("cloudassist.version", check=True)
        assert res.ret == self.VERSION, res

    def test_status_running(self, host):
        pids = self.ensure_running(host)
        res = host.call("cloudassist.status", check=True)
        st = res.ret
        assert st["installed"] is True, res
        assert st["running"] is True, res
        assert sorted(st["pids"]) == pids, res
        self.check_branch(st)
        assert st["commands"] == {"stop": self.STOP, "start": self.START}, res
        assert isinstance(st["evidence"], list) and st["evidence"], res

    def test_stop(self, host):
        self.ensure_running(host)
        res = host.call("cloudassist.stop", check=True)
        ret = res.ret
        assert ret["running"] is False, res
        assert ret["changed"] is True, res
        assert ret["command"] == self.STOP, res
        self.check_branch(ret)
        assert ret["comment"], res
        # The vendor's warning: the instance stops receiving Cloud Assistant commands.
        assert (
            "no longer receives Cloud Assistant commands" in ret.get("warning", "") + ret["comment"]
        ), res
        self.assert_stopped(host)

    def test_status_stopped(self, host):
        self.ensure_stopped(host)
        st = host.call("cloudassist.status", check=True).ret
        assert st["installed"] is True and st["running"] is False and not st["pids"], st
        self.check_branch(st)

    def test_stop_when_stopped_changes_nothing(self, host):
        self.ensure_stopped(host)
        res = host.call("cloudassist.stop", check=True)
        assert res.ret["running"] is False and res.ret["changed"] is False, res
        self.assert_stopped(host)

    def test_start(self, host):
        self.ensure_stopped(host)
        res = host.call("cloudassist.start", check=True)
        ret = res.ret
        assert ret["running"] is True, res
        assert ret["changed"] is True, res
        assert ret["command"] == self.START, res
        self.check_branch(ret)
        self.assert_running(host)

    def test_start_when_running_changes_nothing(self, host):
        before = self.ensure_running(host)
        res = host.call("cloudassist.start", check=True)
        assert res.ret["running"] is True and res.ret["changed"] is False, res
        assert self.assert_running(host) == before, "start of a running client replaced it"

    def test_restart(self, host):
        before = self.ensure_running(host)
        res = host.call("cloudassist.restart", check=True)
        ret = res.ret
        assert ret["running"] is True, res
        self.check_branch(ret)
        after = self.assert_running(host)
        assert set(after).isdisjoint(before), f"restart kept the old process {before} -> {after}"

    # -- state module ---------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def sls(cls, host):
        host.salt.write_sls("ca_stopped", SLS_STOPPED)
        host.salt.write_sls("ca_running", SLS_RUNNING)

    def test_state_stopped_test_mode_leaves_host_alone(self, host, sls):
        before = self.ensure_running(host)
        res = host.call("state.apply", "ca_stopped", "test=True")
        st = single_state(res)
        assert st["result"] is None, res
        assert st["changes"] == {"running": {"old": True, "new": False}}, res
        assert self.STOP in st["comment"], res
        assert self.assert_running(host) == before, "test=True touched the client"

    def test_state_stopped_twice(self, host, sls):
        self.ensure_running(host)
        first = host.call("state.apply", "ca_stopped", check=True)
        st = single_state(first)
        assert st["result"] is True, first
        assert st["changes"] == {"running": {"old": True, "new": False}}, first
        self.assert_stopped(host)
        second = host.call("state.apply", "ca_stopped", check=True)
        st = single_state(second)
        assert st["result"] is True and st["changes"] == {}, second
        self.assert_stopped(host)

    def test_state_dead_alias(self, host, sls):
        self.ensure_stopped(host)
        host.salt.write_sls(
            "ca_dead", SLS_STOPPED.replace("cloudassist.stopped", "cloudassist.dead")
        )
        res = host.call("state.apply", "ca_dead", check=True)
        st = single_state(res)
        assert st["result"] is True and st["changes"] == {}, res
        self.assert_stopped(host)

    def test_state_running_test_mode_leaves_host_alone(self, host, sls):
        self.ensure_stopped(host)
        res = host.call("state.apply", "ca_running", "test=True")
        st = single_state(res)
        assert st["result"] is None, res
        assert st["changes"] == {"running": {"old": False, "new": True}}, res
        assert self.START in st["comment"], res
        self.assert_stopped(host)

    def test_state_running_twice(self, host, sls):
        self.ensure_stopped(host)
        first = host.call("state.apply", "ca_running", check=True)
        st = single_state(first)
        assert st["result"] is True, first
        assert st["changes"] == {"running": {"old": False, "new": True}}, first
        pids = self.assert_running(host)
        second = host.call("state.apply", "ca_running", check=True)
        st = single_state(second)
        assert st["result"] is True and st["changes"] == {}, second
        assert self.assert_running(host) == pids


def no_traceback(res) -> None:
    assert "Traceback" not in res.text, f"salt-call printed a traceback: {res!r}"


def module_error(res, fun: str) -> str:
    """The CommandExecutionError text of a failed ``salt-call fun``."""
    assert res.returncode != 0, f"salt-call should have failed: {res!r}"
    no_traceback(res)
    m = re.search(rf"Error running '{re.escape(fun)}': (.*)", res.text, re.S)
    assert m, f"no 'Error running {fun!r}' in the output: {res!r}"
    return m.group(1).strip()
