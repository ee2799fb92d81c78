"""``_cloudassist_sdbus`` against real systemd booted in systemd-nspawn: what it reads over
``/run/systemd/private`` is what ``systemctl show`` prints, unit by unit, and it costs less.

Everything is asked inside the container, from one script run with the checkout's ``_modules``
on ``sys.path``: ``unit_properties`` and ``systemctl show --property=...`` for the same units,
one right after the other, then ``unit_states`` against ``parse_show`` of that output.

Each unit and its state when compared:

- `aliyun.service`: running (enabled, started at boot)
- `aliyun-service.service`: enabled, started at boot, then stopped: loaded, inactive
- `ca-stopped.service`: disabled, never started: not loaded until asked
- `ca-pending.service`: `Restart=on-failure`, `RestartSec=60`, killed with SIGKILL:
  activating/auto-restart
- `ca-failed.service`: `Restart=no`, killed with SIGKILL: failed
- `ca-masked.service`: masked (a link to /dev/null)
- `ca-nope.service`, `0ca.service`: do not exist (the second's object path escapes its
  leading digit)
- `aliyun`, `ca-nope`: names without a suffix: services
- `multi-user.target`, `dbus.socket`: not services: systemctl prints no MainPID (neither has
  one), no ControlGroup for the target
"""

from __future__ import annotations

import json
import textwrap

import pytest
import realinit_testbed as tb
from realinit_checks import make_host, put_client, put_unit

pytestmark = pytest.mark.realinit

VERSION = "2.2.3.578"
UTILS = str(tb.PROJECT_DIR / "_modules")
PYTHON = tb.VENV_PYTHON.as_posix()

UNITS = [
    "aliyun.service",
    "aliyun-service.service",
    "ca-stopped.service",
    "ca-pending.service",
    "ca-failed.service",
    "ca-masked.service",
    "ca-nope.service",
    "0ca.service",
    "aliyun",
    "ca-nope",
    "multi-user.target",
    "dbus.socket",
]
# What status asks for: the units the client may run in.
CANDIDATES = ["aliyun.service", "aliyun-service.service"]

COMPARE = textwrap.dedent("""\
    import json, subprocess, sys
    sys.path.insert(0, sys.argv[1])
    import _cloudassist_sdbus as sdbus
    import _cloudassist_systemd as systemd
    units = json.loads(sys.argv[2])
    mine = sdbus.unit_properties(units)
    text = subprocess.run(
        systemd.show_argv(units), capture_output=True, text=True, check=True
    ).stdout
    states = sdbus.unit_states(units)
    theirs = [
        dict(line.split("=", 1) for line in block.splitlines())
        for block in text.strip().split("\\n\\n")
    ]
    print(json.dumps({"sdbus": mine, "systemctl": theirs,
                      "states": [list(s) for s in states],
                      "parse_show": [list(s) for s in systemd.parse_show(text, units)]}))
    """)

TIMING = textwrap.dedent("""\
    import json, subprocess, sys, time
    sys.path.insert(0, sys.argv[1])
    import _cloudassist_sdbus as sdbus
    import _cloudassist_systemd as systemd
    units = json.loads(sys.argv[2])
    n = int(sys.argv[3])
    def sdbus_call():
        return sdbus.unit_states(units)
    def systemctl_call():
        out = subprocess.run(systemd.show_argv(units), capture_output=True, text=True).stdout
        return systemd.parse_show(out, units)
    assert sdbus_call() == systemctl_call()
    result = {}
    for name, call in (("sdbus", sdbus_call), ("systemctl", systemctl_call)) * 2:  # interleaved
        times = []
        for _ in range(n):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        result.setdefault(name, []).extend(times)
    print(json.dumps(result))
    """)

NOT_ROOT = textwrap.dedent("""\
    import sys
    sys.path.insert(0, sys.argv[1])
    import _cloudassist_sdbus as sdbus
    try:
        sdbus.unit_properties(["aliyun.service"])
    except sdbus.Unavailable as exc:
        print("Unavailable:", exc.reason)
    """)


def prop(host, name: str, unit: str) -> str:
    return host.run("systemctl", "show", "-p", name, "--value", unit).stdout.strip()


def kill_main(host, unit: str) -> None:
    host.run("systemctl", "start", unit)
    pid = host.wait_for(lambda: int(prop(host, "MainPID", unit)), what=f"{unit}'s main process")
    host.run("kill", "-9", str(pid))


class TestPrivateBus:
    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            put_client(c, VERSION)
            put_unit(c, "aliyun.service")
            put_unit(c, "aliyun-service.service")
            put_unit(c, "ca-stopped.service", enable=False)
            put_unit(c, "ca-pending.service", enable=False)
            c.write(
                "/etc/systemd/system/ca-pending.service.d/restart.conf",
                "[Service]\nRestart=on-failure\nRestartSec=60\n",
            )
            put_unit(c, "ca-failed.service", enable=False)
            c.path("/etc/systemd/system/ca-masked.service").symlink_to("/dev/null")

        h = make_host(request, roots, "ca-sdbus", "systemd", prepare)
        h.run("systemctl", "stop", "aliyun-service.service")
        kill_main(h, "ca-pending.service")
        h.wait_for(
            lambda: prop(h, "SubState", "ca-pending.service") == "auto-restart",
            what="ca-pending's pending restart",
        )
        kill_main(h, "ca-failed.service")
        h.wait_for(
            lambda: prop(h, "ActiveState", "ca-failed.service") == "failed",
            what="ca-failed to fail",
        )
        return h

    def python(self, host, script: str, *args: str, python: str = PYTHON, wrap: tuple = ()):
        res = host.run(*wrap, python, "-c", script, UTILS, *args)
        return json.loads(res.stdout) if res.stdout.lstrip().startswith("{") else res.stdout

    def test_the_scenario_is_what_it_says(self, host):
        def state(unit):
            return "{}/{}".format(prop(host, "ActiveState", unit), prop(host, "SubState", unit))

        assert state("aliyun.service") == "active/running"
        assert state("aliyun-service.service") == "inactive/dead"
        assert state("ca-pending.service") == "activating/auto-restart"
        assert state("ca-failed.service") == "failed/failed"
        assert prop(host, "LoadState", "ca-masked.service") == "masked"
        # not loaded before it is asked for: `systemctl list-units --all` does not show it
        listed = host.run(
            "systemctl", "list-units", "--all", "--no-legend", "ca-stopped.service"
        ).stdout
        assert "ca-stopped" not in listed, listed

    def test_properties_are_what_systemctl_show_prints(self, host):
        out = self.python(host, COMPARE, json.dumps(UNITS))
        mismatches = [
            (unit, mine, theirs)
            for unit, mine, theirs in zip(UNITS, out["sdbus"], out["systemctl"], strict=False)
            if mine != theirs
        ]
        assert len(out["sdbus"]) == len(out["systemctl"]) == len(UNITS), out
        assert not mismatches, "\n".join(
            "{}:\n  sdbus     {}\n  systemctl {}".format(*m) for m in mismatches
        )
        by_name = dict(zip(UNITS, out["sdbus"], strict=False))
        running = by_name["aliyun.service"]
        assert (
            int(running["MainPID"]) > 0
            and running["ControlGroup"] == "/system.slice/aliyun.service"
        )
        assert running["UnitFileState"] == "enabled"
        assert by_name["aliyun-service.service"]["UnitFileState"] == "enabled"
        assert by_name["aliyun-service.service"]["MainPID"] == "0"
        assert by_name["ca-stopped.service"]["UnitFileState"] == "disabled"
        pending = by_name["ca-pending.service"]
        assert (pending["ActiveState"], pending["SubState"], pending["MainPID"]) == (
            "activating",
            "auto-restart",
            "0",
        )
        assert by_name["ca-failed.service"]["SubState"] == "failed"
        assert by_name["ca-masked.service"]["LoadState"] == "masked"
        for name in ("ca-nope.service", "0ca.service", "ca-nope"):
            assert by_name[name] == {
                "Id": name if name.endswith(".service") else name + ".service",
                "LoadState": "not-found",
                "ActiveState": "inactive",
                "SubState": "dead",
                "MainPID": "0",
                "NRestarts": "0",
                "UnitFileState": "",
                "ControlGroup": "",
                "Result": "success",
                "StartLimitBurst": "5",  # systemd's DefaultStartLimitBurst
            }
        assert by_name["aliyun"] == running
        assert by_name["ca-failed.service"]["Result"] != "success"
        assert set(by_name["multi-user.target"]) == {
            "Id",
            "LoadState",
            "ActiveState",
            "SubState",
            "UnitFileState",
            "StartLimitBurst",
        }
        assert by_name["dbus.socket"]["ControlGroup"] == "/system.slice/dbus.socket"
        assert "MainPID" not in by_name["dbus.socket"]
        # and the records are the ones parse_show makes of systemctl's output
        assert out["states"] == out["parse_show"]

    def test_faster_than_systemctl_show(self, host, capsys):
        report = []
        for units in (CANDIDATES, ["aliyun.service"], UNITS):
            times = self.python(host, TIMING, json.dumps(units), "25")  # 25 each, twice: 50 calls
            ms = {name: sorted(t * 1000 for t in ts) for name, ts in times.items()}
            mean = {name: sum(ts) / len(ts) for name, ts in ms.items()}
            median = {name: ts[len(ts) // 2] for name, ts in ms.items()}
            report.append(
                "{} unit(s) {}: sdbus {:.2f} ms (median {:.2f}), systemctl show {:.2f} ms "
                "(median {:.2f}) per call, {} calls each".format(
                    len(units),
                    "+".join(units) if len(units) < 3 else "(all of UNITS)",
                    mean["sdbus"],
                    median["sdbus"],
                    mean["systemctl"],
                    median["systemctl"],
                    len(ms["sdbus"]),
                )
            )
            assert median["sdbus"] < median["systemctl"], report[-1]
        with capsys.disabled():
            print("\n[sdbus timing] " + "\n[sdbus timing] ".join(report))

    def test_not_root_is_unavailable(self, host):
        # The container's own python3, as nobody (the venv's interpreter is under /root).
        out = self.python(
            host,
            NOT_ROOT,
            python="/usr/bin/python3",
            wrap=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"),
        )
        assert out.strip() == "Unavailable: /run/systemd/private is for root only", out
