"""``_modules/_cloudassist_records.py``: the records the library passes around, and the texts
and dicts operators see of them."""

import pytest

import _cloudassist_procedure as procedure
from _cloudassist_records import (
    BootState,
    ClientStatus,
    InitDecision,
    Step,
    UnitState,
    Watchdog,
    steps_text,
)


@pytest.mark.parametrize(
    "step,text",
    [
        (Step(("systemctl", "stop", "aliyun.service")), "systemctl stop aliyun.service"),
        (Step(("/etc/init.d/aliyun service", "start")), "'/etc/init.d/aliyun service' start"),
        (Step(("sh", "-c", "a; b")), "sh -c 'a; b'"),
        (Step(("service.stop", "AliyunService"), kind="salt"), "service.stop AliyunService"),
        (
            Step(("add-manual", "/etc/init/aliyun-service.override"), kind="file"),
            "echo manual >> /etc/init/aliyun-service.override",
        ),
        (
            Step(("drop-manual", "/etc/init/my init.override"), kind="file"),
            "sed -i '/^manual$/d' '/etc/init/my init.override'",
        ),
    ],
)
def test_a_step_reads_as_an_operator_would_type_it(step, text):
    assert step.text == text


def test_steps_text_joins_the_steps_in_order():
    steps = (Step(("chkconfig", "agentwatch", "off")), Step(("/etc/init.d/agentwatch", "stop")))
    assert steps_text(steps) == "chkconfig agentwatch off; /etc/init.d/agentwatch stop"
    assert steps_text(()) == ""


ENABLE = (Step(("systemctl", "enable", "aliyun.service")),)
DISABLE = (Step(("systemctl", "disable", "aliyun.service")),)


def test_boot_state_steps_and_why_a_change_cannot_be_made():
    state = BootState(
        "aliyun.service",
        None,
        "UnitFileState static",
        ENABLE,
        DISABLE,
        (("enable", "it is static"), ("disable", "it is static"), ("enable", "and masked")),
    )
    assert state.steps(True) == ENABLE and state.steps(False) == DISABLE
    assert state.why_not(True) == "it is static; and masked"
    assert state.why_not(False) == "it is static"
    free = BootState("aliyun.service", True, "UnitFileState enabled", ENABLE, DISABLE)
    assert free.why_not(True) is None and free.why_not(False) is None
    assert free.as_dict() == {
        "service": "aliyun.service",
        "enabled": True,
        "how": "UnitFileState enabled",
        "commands": {
            "enable": "systemctl enable aliyun.service",
            "disable": "systemctl disable aliyun.service",
        },
    }


BRANCH = next(row for row in procedure.TABLE if row.platform == "linux" and "systemd" in row.name)

KEYS = {
    "installed",
    "running",
    "pids",
    "version",
    "binary",
    "platform",
    "init_system",
    "service",
    "branch",
    "commands",
    "decided_by",
    "evidence",
    "enabled",
    "boot",
    "watchdog",
    "blocked",
    "restart_pending",
    "start_limit_hit",
    "others",
    "leftovers",
    "updates",
}


def _status(**fields):
    return ClientStatus(
        platform="linux",
        version="2.2.3.578",
        binary="/usr/sbin/aliyun-service",
        init=InitDecision("systemd", "the test says so"),
        branch=BRANCH,
        steps={"stop": BRANCH.stop, "start": BRANCH.start},
        **fields,
    )


def test_client_status_as_dict_has_the_documented_keys_only():
    status = _status(pids=(42,))
    result = status.as_dict()
    assert set(result) == KEYS
    assert result["running"] is True and result["pids"] == [42]
    assert result["commands"] == {
        "stop": steps_text(BRANCH.stop),
        "start": steps_text(BRANCH.start),
    }
    assert result["enabled"] is None and result["boot"] is None
    assert result["watchdog"] == Watchdog().as_dict()


def test_client_status_as_dict_adds_the_unit_and_the_optional_keys_when_known():
    unit = UnitState(
        BRANCH.service, "loaded", "activating", "auto-restart", 0, 3, "enabled", "/system.slice/x"
    )
    status = _status(
        unit=unit,
        service_decided_by="the unit file",
        vendor_service="aliyun",
        extra=(("windows_version", "unknown"),),
        boot_state=BootState(BRANCH.service, True, "UnitFileState enabled", ENABLE, DISABLE),
    )
    result = status.as_dict()
    assert set(result) == KEYS | {"unit", "service_decided_by", "vendor_service", "windows_version"}
    assert result["unit"] == {
        "name": BRANCH.service,
        "state": unit.state,
        "main_pid": 0,
        "restarts": 3,
        "result": "",
        "unit_file_state": "enabled",
    }
    assert result["restart_pending"] is status.restart_pending is True
    assert result["start_limit_hit"] is False
    assert result["enabled"] is True and result["boot"]["how"] == "UnitFileState enabled"
    assert result["running"] is False


@pytest.mark.parametrize(
    "active,result,restarts,burst,hit",
    [
        # systemd says so in Result where it records the start limit as the result
        ("failed", "start-limit-hit", 0, 10, True),
        # systemd 252 keeps the last failure's result; its restart counter reached the burst
        ("failed", "exit-code", 10, 10, True),
        ("failed", "exit-code", 3, 3, True),
        # failed, but restarted fewer times than the burst: a plain start is still accepted
        ("failed", "exit-code", 2, 3, False),
        ("failed", "exit-code", 0, 0, False),  # no start limit (StartLimitBurst unknown)
        # not failed: whatever the counters say, systemd has not given up
        ("activating", "exit-code", 10, 10, False),
        ("inactive", "success", 10, 10, False),
        ("active", "success", 0, 10, False),
    ],
)
def test_start_limit_hit(active, result, restarts, burst, hit):
    unit = UnitState(
        "aliyun.service",
        "loaded",
        active,
        "failed" if active == "failed" else "dead",
        n_restarts=restarts,
        result=result,
        start_limit_burst=burst,
    )
    assert unit.start_limit_hit is hit
    assert _status(unit=unit).start_limit_hit is hit
    assert _status(unit=unit).as_dict()["start_limit_hit"] is hit
