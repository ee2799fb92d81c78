"""What a stopped client leaves running (issue 17), on a real systemd 252 and a real sysvinit.

The client is laid out as the vendor's package does (``/usr/local/share/aliyun-assist/<version>/``,
``/usr/sbin/aliyun-service`` a link) and, like the real one, starts its updater
``aliyun_assist_update`` from its version folder on every start (the stand-in's ``updater``
knob).  Under systemd the unit has the vendor's ``KillMode=process``, so ``systemctl stop`` ends
only the client and the updater stays in the unit's cgroup; under sysvinit the script kills the
pid of its pid file only, and the updater, in a session of its own, stays.

Each test checks what the module says against the container itself: the process table, the
unit's cgroup (``/proc/PID/cgroup``, ``systemctl show -p ControlGroup``), never the module's
own word.
"""

from __future__ import annotations

import pytest
from realinit_checks import make_host, put_sysv, put_unit
from support import standin

pytestmark = pytest.mark.realinit

VERSION = "2.2.3.578"
FOLDER = f"/usr/local/share/aliyun-assist/{VERSION}"
UPDATER = f"{FOLDER}/{standin.UPDATER_NAME}"
UPDATER_COMM = standin.UPDATER_NAME[:15]
UNIT = "aliyun.service"
DROPIN = """\
[Service]
Restart=on-failure
RestartSec=120
KillMode=process
"""


def put_versioned_client(c, **updater_knobs):
    standin.install_versioned_client(c.path("/"), VERSION, updater=UPDATER)
    standin.install_updater(c.path(FOLDER), **updater_knobs)


def updaters(host):
    return host.pids(UPDATER_COMM)


def start_with_updater(host, start):
    start()
    host.wait_for(lambda: host.pids() and updaters(host), what="the client and its updater")
    return host.pids(), updaters(host)


def unit_of(host, pid):
    text = host.read(f"/proc/{pid}/cgroup") or ""
    return [line for line in text.splitlines() if line.startswith("0::")]


def pids_of(named):
    return [entry["pid"] for entry in named]


def background(host, *argv):
    """A process started in the container outside the client (its pid as the container sees
    it)."""
    res = host.sh(" ".join(argv) + " >/dev/null 2>&1 </dev/null & echo $!")
    return int(res.stdout.split()[-1])


def alive(host, pid):
    return host.run("kill", "-0", str(pid), check=False).returncode == 0


class TestSystemd:
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_versioned_client(c)
            put_unit(c, UNIT, enable=False)
            c.write(f"/etc/systemd/system/{UNIT}.d/vendor.conf", DROPIN)

        return make_host(request, roots, "ca-leftovers-systemd", "systemd", prepare)

    @pytest.fixture
    def started(self, host):
        yield start_with_updater(host, lambda: host.run("systemctl", "start", UNIT))
        host.run("systemctl", "stop", UNIT, check=False)
        for pid in updaters(host):
            host.run("kill", "-9", str(pid), check=False)

    def control_group(self, host):
        out = host.run("systemctl", "show", "-p", "ControlGroup", "--value", UNIT).stdout
        return out.strip()

    def test_a_plain_systemctl_stop_leaves_the_updater_in_the_unit(self, host, started):
        """The vendor's KillMode=process, as systemd really does it: what stop() must handle."""
        _, [updater] = started
        assert unit_of(host, updater) == unit_of(host, host.pids()[0])
        host.run("systemctl", "stop", UNIT)
        assert not host.pids() and updaters(host) == [updater]
        # systemd keeps the cgroup, and names it, while a process is left in it
        assert self.control_group(host).endswith(UNIT)
        status = host.call("cloudassist.status", check=True).ret
        assert pids_of(status["leftovers"]) == [updater], status
        assert status["leftovers"][0]["exe"] == UPDATER, status
        assert status["running"] is False and updater not in status["pids"], status
        # a stopped client with a leftover is stopped for good only once that is ended
        ret = host.call("cloudassist.stop", check=True).ret
        assert ret["changes"] == {"leftovers": {"old": status["leftovers"], "new": []}}, ret
        assert updaters(host) == [] and not host.pids()
        assert self.control_group(host) == ""

    def test_test_mode_names_the_updater_and_ends_nothing(self, host, started):
        [client], [updater] = started
        ret = host.call("cloudassist.stop", "test=True", check=True).ret
        assert pids_of(ret["changes"]["leftovers"]["old"]) == [updater], ret
        assert f"pid {updater} ({UPDATER})" in ret["comment"], ret
        assert host.pids() == [client] and updaters(host) == [updater]

    def test_stop_ends_the_updater_and_says_so(self, host, started):
        _, [updater] = started
        ret = host.call("cloudassist.stop", check=True).ret
        assert ret["changes"]["running"] == {"old": True, "new": False}, ret
        assert pids_of(ret["changes"]["leftovers"]["old"]) == [updater], ret
        assert ret["leftovers"][0] == {"pid": updater, "exe": UPDATER, "cmdline": [UPDATER]}
        assert f"pid {updater} ({UPDATER})" in ret["comment"], ret
        assert not host.pids() and updaters(host) == []
        assert self.control_group(host) == ""
        assert host.call("cloudassist.status", check=True).ret["leftovers"] == []

    def test_keep_names_the_updater_and_leaves_it(self, host, started):
        _, [updater] = started
        ret = host.call("cloudassist.stop", "leftovers=keep", check=True).ret
        assert "leftovers" not in ret["changes"], ret
        assert pids_of(ret["leftovers"]) == [updater], ret
        assert any("leftovers=keep" in w and str(updater) in w for w in ret["warnings"]), ret
        assert not host.pids() and updaters(host) == [updater]
        assert pids_of(host.call("cloudassist.status", check=True).ret["leftovers"]) == [updater]

    def test_a_console_command_in_the_unit_is_ended_and_nothing_outside_it(self, host, started):
        _, [updater] = started
        command = background(host, "sleep", "600")
        outsider = background(host, "sleep", "601")
        # the client ran it: it is in the client's cgroup, as the kernel says
        group = self.control_group(host)
        # every hierarchy that tracks the unit: v2, or a hybrid's unified and name=systemd
        host.sh(
            f"for h in /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/systemd; do "
            f"[ -e $h{group}/cgroup.procs ] && echo {command} > $h{group}/cgroup.procs; done; true"
        )
        assert unit_of(host, command) == unit_of(host, updater)
        ret = host.call("cloudassist.stop", check=True).ret
        assert sorted(pids_of(ret["changes"]["leftovers"]["old"])) == sorted([updater, command])
        assert not alive(host, command) and updaters(host) == []
        assert alive(host, outsider), "a process outside the client's unit was touched"
        host.run("kill", str(outsider))

    def test_the_stopped_state_ends_the_updater(self, host, started):
        _, [updater] = started
        host.salt.write_sls(
            "ca_stopped", "cloudassist_client:\n  cloudassist.stopped:\n    - name: aliyun\n"
        )
        (state,) = host.call("state.apply", "ca_stopped", check=True).ret.values()
        assert state["result"] is True, state
        assert pids_of(state["changes"]["leftovers"]["old"]) == [updater], state
        assert updaters(host) == []


class TestSysvinit:
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_versioned_client(c)
            put_sysv(c, enable=False)

        return make_host(request, roots, "ca-leftovers-sysvinit", "sysvinit", prepare)

    @pytest.fixture
    def started(self, host):
        script = "/etc/init.d/aliyun-service"
        yield start_with_updater(host, lambda: host.run(script, "start"))
        host.run(script, "stop", check=False)
        for pid in updaters(host):
            host.run("kill", "-9", str(pid), check=False)

    def test_the_script_s_stop_leaves_the_updater_and_status_names_it(self, host, started):
        _, [updater] = started
        host.run("/etc/init.d/aliyun-service", "stop")
        assert not host.pids() and updaters(host) == [updater]
        status = host.call("cloudassist.status", check=True).ret
        assert status["leftovers"] == [{"pid": updater, "exe": UPDATER, "cmdline": [UPDATER]}]

    def test_stop_ends_the_programs_of_the_install_folder_only(self, host, started):
        _, [updater] = started
        # the same program outside the client's install folder is not the client's
        host.run("cp", f"{FOLDER}/{standin.UPDATER_NAME}", "/usr/local/bin/")
        host.run("cp", f"{FOLDER}/.standin-{standin.UPDATER_NAME}.conf", "/usr/local/bin/")
        outsider = background(host, f"/usr/local/bin/{standin.UPDATER_NAME}")
        host.wait_for(lambda: len(updaters(host)) == 2, what="the outsider")
        ret = host.call("cloudassist.stop", check=True).ret
        assert pids_of(ret["changes"]["leftovers"]["old"]) == [updater], ret
        assert not host.pids() and updaters(host) == [outsider]
        host.run("kill", str(outsider))
