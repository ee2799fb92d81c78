"""``_modules/_cloudassist_host.py``: reading the init script's pid file on a Linux host (what
its pid names, against the real process table) and changing it only while it holds what the
plan saw."""

import os
import pathlib
import subprocess

import pytest

import _cloudassist_errors as errors
import _cloudassist_facts as facts
import _cloudassist_host as hosts
import _cloudassist_procedure as procedure
from _cloudassist_records import Step

from .test_plan import status_for

BRANCHES = {row.name: row for row in procedure.TABLE}
SYSV = BRANCHES["Linux, client newer than 1.0.1.308, sysvinit"]


@pytest.fixture
def host():
    return hosts.LinuxHost(lambda key, default=None: default, {}, 5)


class Path(type(pathlib.Path())):
    seen = None


@pytest.fixture
def pidfile(tmp_path, monkeypatch):
    path = Path(tmp_path / "aliyun-service.pid")
    seen = []

    def of_script(script, default=None):
        seen.append((script, default))
        return str(path), f"PIDFILE= in {script}"

    monkeypatch.setattr(facts, "pidfile_of_script", of_script)
    path.seen = seen
    return path


def dead_pid():
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_pid_file_naming_another_live_program_is_stale(host, pidfile):
    pidfile.write_text(f"{os.getpid()}\n")
    found = host._pidfile(status_for(SYSV, True, False))
    assert pidfile.seen == [("/etc/init.d/aliyun-service", facts.VENDOR_PIDFILE)]
    assert found.stale and found.pid == os.getpid()
    assert found.owner.pid == os.getpid() and found.owner.exe == os.path.realpath(
        f"/proc/{os.getpid()}/exe"
    )


def test_a_pid_file_naming_a_gone_pid_or_no_pid_is_stale(host, pidfile):
    pidfile.write_text(f"{dead_pid()}\n")
    found = host._pidfile(status_for(SYSV, False, False))
    assert found.stale and found.owner is None
    pidfile.write_text("garbage\n")
    found = host._pidfile(status_for(SYSV, False, False))
    assert found.stale and found.pid is None


def test_a_pid_file_naming_the_client_is_sound_and_no_file_is_nothing_stale(host, pidfile):
    pidfile.write_text(f"{os.getpid()}\n")
    status = status_for(SYSV, True, False)._replace(pids=(os.getpid(),))
    assert host._pidfile(status).stale is False
    pidfile.unlink()
    found = host._pidfile(status)
    assert found.content is None and found.stale is False and found.problem is None


@pytest.mark.parametrize(
    "name",
    [
        "Linux, client newer than 1.0.1.308, systemd",
        "Linux, client newer than 1.0.1.308, upstart",
        "Linux, client 1.0.1.308 or older, systemd",
    ],
)
def test_no_pid_file_where_the_branch_runs_no_init_script(host, pidfile, name):
    assert host._pidfile(status_for(BRANCHES[name], False, False)) is None
    assert pidfile.seen == []


def test_the_legacy_agentwatch_script_has_no_default(host, monkeypatch):
    monkeypatch.setattr(facts, "pidfile_of_script", lambda script, default=None: (default, "x"))
    legacy = BRANCHES["Linux, client 1.0.1.308 or older, init system other than systemd"]
    assert host._pidfile(status_for(legacy, False, False)) is None


def test_the_file_is_changed_only_while_it_holds_what_was_seen(host, tmp_path):
    path = tmp_path / "a.pid"
    path.write_bytes(b"4000\n")
    assert host.run_step(Step(("drop-pidfile", str(path), b"4001\n"), kind="file")) is False
    assert path.read_bytes() == b"4000\n"
    write = Step(("write-pidfile", str(path), b"4000\n", 4242), kind="file")
    assert host.run_step(write) is True and path.read_bytes() == b"4242\n"
    assert host.run_step(Step(("drop-pidfile", str(path), b"4242\n"), kind="file")) is True
    assert not path.exists()
    assert host.run_step(Step(("drop-pidfile", str(path), b"4242\n"), kind="file")) is False


def test_a_refusal_of_the_host_is_a_failed_step(host, tmp_path, monkeypatch):
    path = tmp_path / "a.pid"
    path.write_bytes(b"4000\n")

    def refuse(name):
        raise OSError(30, "Read-only file system", name)

    monkeypatch.setattr(hosts.os, "unlink", refuse)
    with pytest.raises(errors.CommandFailed) as caught:
        host.run_step(Step(("drop-pidfile", str(path), b"4000\n"), kind="file"))
    assert "Read-only file system" in caught.value.output
