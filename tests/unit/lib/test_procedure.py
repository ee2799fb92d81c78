"""``_modules/_cloudassist_procedure.py``: the vendor's table, row by row: every platform, version
and init system it names."""

import pytest

import _cloudassist_procedure as procedure
from _cloudassist_facts import version_tuple
from _cloudassist_records import steps_text

# platform, client version, init system -> service, stop command, start command
ROWS = [
    (
        "windows",
        None,
        "windows",
        "AliyunService",
        "service.stop AliyunService",
        "service.start AliyunService",
    ),
    (
        "windows",
        "1.0.0.81",
        "windows",
        "AliyunService",
        "service.stop AliyunService",
        "service.start AliyunService",
    ),
    (
        "linux",
        "1.0.1.308",
        "systemd",
        "agentwatch",
        "systemctl stop agentwatch",
        "systemctl start agentwatch",
    ),
    (
        "linux",
        "1.0.0.81",
        "systemd",
        "agentwatch",
        "systemctl stop agentwatch",
        "systemctl start agentwatch",
    ),
    (
        "linux",
        "1.0.1.308",
        "sysvinit",
        "agentwatch",
        "chkconfig agentwatch off; /etc/init.d/agentwatch stop",
        "chkconfig agentwatch on; /etc/init.d/agentwatch start",
    ),
    (
        "linux",
        "1.0.1.259",
        "upstart",
        "agentwatch",
        "chkconfig agentwatch off; /etc/init.d/agentwatch stop",
        "chkconfig agentwatch on; /etc/init.d/agentwatch start",
    ),
    (
        "linux",
        "1.0.1.309",
        "systemd",
        "aliyun.service",
        "systemctl stop aliyun.service",
        "systemctl start aliyun.service",
    ),
    (
        "linux",
        "1.0.1.1000",
        "systemd",
        "aliyun.service",
        "systemctl stop aliyun.service",
        "systemctl start aliyun.service",
    ),
    (
        "linux",
        "2.2.3.578",
        "upstart",
        "aliyun-service",
        "/sbin/initctl stop aliyun-service",
        "/sbin/initctl start aliyun-service",
    ),
    (
        "linux",
        "1.0.1.346",
        "sysvinit",
        "/etc/init.d/aliyun-service",
        "/etc/init.d/aliyun-service stop",
        "/etc/init.d/aliyun-service start",
    ),
    (
        "linux",
        "2.2.4.1065",
        "sysvinit",
        "/etc/init.d/aliyun-service",
        "/etc/init.d/aliyun-service stop",
        "/etc/init.d/aliyun-service start",
    ),
]


@pytest.mark.parametrize("platform,version,init_system,service,stop,start", ROWS)
def test_every_row_of_the_vendor_table(platform, version, init_system, service, stop, start):
    row = procedure.choose(platform, version_tuple(version) if version else None, init_system)
    assert isinstance(row, procedure.Branch)
    assert row.service == service
    assert steps_text(row.stop) == stop
    assert steps_text(row.start) == start


def test_the_rows_above_cover_the_whole_table():
    covered = {procedure.choose(p, version_tuple(v) if v else None, i).name for p, v, i, *_ in ROWS}
    assert covered == {row.name for row in procedure.TABLE}
    assert len(covered) == len(procedure.TABLE), "two rows share a name"


@pytest.mark.parametrize(
    "version,legacy",
    [
        ("1.0.0.81", True),
        ("1.0.1.259", True),
        ("1.0.1.308", True),
        ("1.0.1.309", False),
        ("1.0.1.1000", False),
        ("1.0.2.0", False),
        ("0.9.99.99999", True),
        ("2.1.3.578", False),
    ],
)
def test_version_boundary_compares_integer_tuples(version, legacy):
    assert procedure.is_legacy(version_tuple(version)) is legacy
    row = procedure.choose("linux", version_tuple(version), "systemd")
    assert row.service == ("agentwatch" if legacy else "aliyun.service")


def test_every_linux_command_is_an_argument_list():
    for row in procedure.TABLE:
        for step in row.stop + row.start:
            assert isinstance(step.argv, tuple) and all(isinstance(a, str) for a in step.argv)
            assert len(step.argv) >= 2
            assert step.kind == ("salt" if row.platform == "windows" else "command")


@pytest.mark.parametrize(
    "platform,version,init_system,message",
    [
        (
            "linux",
            (2, 2, 3, 578),
            "openrc",
            "unknown init system 'openrc'; valid: systemd, upstart, sysvinit, windows",
        ),
        ("linux", None, "systemd", "depends on the client version"),
        (
            "linux",
            (2, 2, 3, 578),
            "windows",
            "no branch for platform 'linux' with init system 'windows'",
        ),
        ("windows", None, "systemd", "no branch for platform 'windows' with init system 'systemd'"),
    ],
)
def test_combinations_outside_the_table_are_refused(platform, version, init_system, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        procedure.choose(platform, version, init_system)
