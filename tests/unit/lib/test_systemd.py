"""``_modules/_cloudassist_systemd.py``: systemd's view of a unit, from ``systemctl show`` and from
the unit files alone."""

import os

import pytest

import _cloudassist_systemd as systemd
from _cloudassist_records import UnitState

from .helpers import link


def test_unit_from_files_reads_links_without_systemd(tmp_path):
    lib = tmp_path / "lib/systemd/system"
    lib.mkdir(parents=True)
    (lib / "aliyun.service").write_text("[Service]\n")
    assert systemd.unit_from_files("aliyun.service", str(tmp_path)) == UnitState(
        "aliyun.service", "loaded", unit_file_state="disabled"
    )
    link(
        tmp_path,
        "/etc/systemd/system/multi-user.target.wants",
        "aliyun.service",
        "/lib/systemd/system/aliyun.service",
    )
    assert systemd.unit_from_files("aliyun.service", str(tmp_path)).unit_file_state == "enabled"
    assert systemd.unit_from_files("AssistDaemon.service", str(tmp_path)).load_state == "not-found"
    os.symlink("/dev/null", tmp_path / "etc/systemd/system/aliyun.service")
    assert systemd.unit_from_files("aliyun.service", str(tmp_path)).unit_file_state == "masked"


def test_show_argv_asks_for_every_property_and_ends_the_options():
    assert systemd.show_argv(["aliyun.service", "-x"]) == [
        "systemctl",
        "show",
        "--property=" + ",".join(systemd.PROPERTIES),
        "--",
        "aliyun.service",
        "-x",
    ]


def test_parse_show_gives_one_state_per_unit_in_order():
    text = (
        "Id=aliyun.service\nLoadState=loaded\nActiveState=active\nSubState=running\n"
        "MainPID=42\nNRestarts=2\nUnitFileState=enabled\n"
        "ControlGroup=/system.slice/aliyun.service\nDescription=a=b\n\n"
        "Id=AssistDaemon.service\nLoadState=not-found\nMainPID=\n"
    )
    aliyun, daemon, missing = systemd.parse_show(
        text, ["aliyun.service", "AssistDaemon.service", "agentwatch.service"]
    )
    assert aliyun == UnitState(
        "aliyun.service",
        "loaded",
        "active",
        "running",
        42,
        2,
        "enabled",
        "/system.slice/aliyun.service",
    )
    assert (daemon.load_state, daemon.main_pid, daemon.active_state) == ("not-found", 0, "")
    # a unit systemctl printed nothing for is empty, not shifted onto another's block
    assert missing == UnitState("agentwatch.service", "", "", "", 0, 0, "", "")
    assert systemd.parse_show("", ["aliyun.service"]) == (systemd.unit_state("aliyun.service", {}),)


def test_not_found_is_what_systemd_says_of_a_unit_without_a_file():
    assert systemd.not_found("nope.service") == UnitState(
        "nope.service", "not-found", "inactive", "dead", 0, 0, "", ""
    )


def test_a_unit_file_or_a_mask_anywhere_in_the_load_path_counts(tmp_path):
    assert not systemd.has_unit_file("AssistDaemon.service", str(tmp_path))
    folder = tmp_path / "run/systemd/transient"
    folder.mkdir(parents=True)
    (folder / "AssistDaemon.service").symlink_to("/dev/null")
    assert systemd.has_unit_file("AssistDaemon.service", str(tmp_path))


@pytest.mark.parametrize(
    "lines,unit",
    [
        (["0::/system.slice/aliyun.service"], "aliyun.service"),
        (["0::/user.slice/user-0.slice/session-1.scope"], None),
        (
            ["12:name=systemd:/system.slice/AssistDaemon.service", "3:cpu:/other.service"],
            "AssistDaemon.service",
        ),
        # the v2 line wins over the v1 one; the innermost service counts
        (
            ["1:name=systemd:/system.slice/a.service", "0::/system.slice/b.service/sub.service"],
            "sub.service",
        ),
        (["garbage"], None),
        ([], None),
    ],
)
def test_the_unit_a_process_runs_in_is_read_from_its_cgroup(lines, unit):
    assert systemd.unit_in_cgroup_lines(lines) == unit


def test_the_unit_of_this_test_process_or_none():
    found = systemd.unit_of(os.getpid())
    assert found is None or found.endswith(".service")
    assert systemd.unit_of(2**31 - 1) is None
