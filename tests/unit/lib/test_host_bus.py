"""``_modules/_cloudassist_host.py``: the host reads systemd over the bus first, and runs systemctl
only when the bus cannot answer."""

import _cloudassist_sdbus as sdbus

# --- the host: the bus first, systemctl only when the bus cannot answer -----------------------


def _linux_host(monkeypatch, bus):
    import _cloudassist_host as hosts
    import _cloudassist_run as run
    from _cloudassist_records import CommandResult

    spawned = []

    def fake_run(argv, timeout):
        spawned.append(list(argv))
        return CommandResult(
            " ".join(argv),
            0,
            "Id=aliyun.service\nLoadState=loaded\nActiveState=active\n"
            "SubState=running\nMainPID=42\nNRestarts=0\nUnitFileState=enabled\n"
            "ControlGroup=/system.slice/aliyun.service\n",
            "",
        )

    monkeypatch.setattr(run, "run", fake_run)
    monkeypatch.setattr(sdbus, "unit_properties", bus)
    return hosts.LinuxHost(lambda key, default=None: default, {}, 30), spawned


def test_the_host_reads_systemd_over_the_bus_and_spawns_nothing(monkeypatch):
    asked = []

    def bus(units, timeout, path=sdbus.SOCKET_PATH):
        asked.append((list(units), timeout))
        return [
            {
                "Id": "aliyun.service",
                "LoadState": "loaded",
                "ActiveState": "activating",
                "SubState": "auto-restart",
                "MainPID": "0",
                "NRestarts": "3",
            }
        ]

    host, spawned = _linux_host(monkeypatch, bus)
    (unit,) = host._show(["aliyun.service"])
    assert spawned == [] and asked == [(["aliyun.service"], 5)]
    assert unit.restart_pending and unit.n_restarts == 3 and unit.main_pid == 0


def test_the_host_asks_systemctl_when_the_bus_cannot_answer(monkeypatch):
    def bus(units, timeout, path=sdbus.SOCKET_PATH):
        raise sdbus.Unavailable("no /run/systemd/private")

    host, spawned = _linux_host(monkeypatch, bus)
    (unit,) = host._show(["aliyun.service"])
    assert spawned == [
        [
            "systemctl",
            "show",
            "--property=Id,LoadState,ActiveState,SubState,MainPID,"
            "NRestarts,UnitFileState,ControlGroup,Result,StartLimitBurst",
            "--",
            "aliyun.service",
        ]
    ]
    assert unit.active_state == "active" and unit.main_pid == 42 and unit.enabled
