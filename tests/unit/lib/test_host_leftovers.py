"""What a stopped client leaves running (issue 17), found and ended on this host for real:
``facts.cgroup_pids``/``in_folder``/``lineage`` and ``LinuxHost.leftovers``/``signal``, with
real processes started from an install folder laid out as the vendor's package does."""

import os
import shutil
import signal
import subprocess

import pytest

import _cloudassist_act as act
import _cloudassist_facts as facts
import _cloudassist_host as hosts
import _cloudassist_procedure as procedure
from _cloudassist_records import ClientStatus, InitDecision, UnitState

from .helpers import wait_until

SYSVINIT = next(
    row for row in procedure.TABLE if row.init_systems == ("sysvinit",) and row.legacy is False
)
SLEEP = shutil.which("sleep")


def linux_host(timeout=5):
    return hosts.LinuxHost(lambda key, default=None: default, {}, timeout)


@pytest.fixture
def install(tmp_path):
    """``/usr/local/share/aliyun-assist`` in a temp folder, and a way to run a program
    (a copy of ``sleep``) from it or from elsewhere."""
    folder = tmp_path / "aliyun-assist"
    (folder / "2.2.3.578").mkdir(parents=True)
    started = []

    def run(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            shutil.copy(SLEEP, path)
        proc = subprocess.Popen([str(path), "300"])
        started.append(proc)
        assert wait_until(lambda: os.path.realpath(f"/proc/{proc.pid}/exe") == str(path))
        return proc

    yield folder, run
    for proc in started:
        proc.kill()
        proc.wait()


def sysv_status(binary, pids=()):
    return ClientStatus(
        platform="linux",
        version="2.2.3.578",
        binary=str(binary),
        init=InitDecision("sysvinit", "the test says so"),
        branch=SYSVINIT,
        steps={"stop": SYSVINIT.stop, "start": SYSVINIT.start},
        pids=tuple(pids),
    )


def test_the_programs_of_the_install_folder_are_leftovers_and_nothing_else(install, tmp_path):
    folder, run = install
    updater = run(folder / "2.2.3.578" / "aliyun_assist_update")
    older = run(folder / "2.2.2.1" / "aliyun_assist_update")
    elsewhere = run(tmp_path / "elsewhere" / "aliyun_assist_update")
    status = sysv_status(folder / "2.2.3.578" / "aliyun-service")
    found = linux_host().leftovers(status)
    assert sorted(proc.pid for proc in found) == sorted([updater.pid, older.pid])
    assert elsewhere.pid not in [proc.pid for proc in found]
    proc = next(proc for proc in found if proc.pid == updater.pid)
    assert proc.exe == str(folder / "2.2.3.578" / "aliyun_assist_update")
    assert proc.argv == (str(folder / "2.2.3.578" / "aliyun_assist_update"), "300")
    assert proc.as_dict() == {"pid": proc.pid, "exe": proc.exe, "cmdline": list(proc.argv)}


def test_the_client_itself_is_never_a_leftover(install):
    folder, run = install
    client = run(folder / "2.2.3.578" / "aliyun-service")
    status = sysv_status(folder / "2.2.3.578" / "aliyun-service", pids=[client.pid])
    assert linux_host().leftovers(status) == ()
    assert linux_host().leftovers(status, client=()) != ()


def test_a_client_outside_a_version_folder_has_no_install_folder_to_search(install, tmp_path):
    _, run = install
    neighbour = run(tmp_path / "sbin" / "cron")
    status = sysv_status(tmp_path / "sbin" / "aliyun-service")
    assert linux_host().leftovers(status) == ()
    assert neighbour.poll() is None


def test_this_job_and_its_ancestors_are_never_leftovers(install, monkeypatch):
    """A salt-call the client runs for the console is in its unit: it must not end itself."""
    folder, run = install
    updater = run(folder / "2.2.3.578" / "aliyun_assist_update")
    mine = facts.lineage()
    assert {os.getpid(), os.getppid()} <= mine
    real_in_folder = facts.in_folder

    def with_this_job(path):  # as if this job ran from the install folder
        return real_in_folder(path) + [facts.process(os.getpid()), facts.process(os.getppid())]

    monkeypatch.setattr(facts, "in_folder", with_this_job)
    status = sysv_status(folder / "2.2.3.578" / "aliyun-service")
    assert [proc.pid for proc in linux_host().leftovers(status)] == [updater.pid]


def test_leftovers_are_ended_term_first_and_checked(install):
    folder, run = install
    updater = run(folder / "2.2.3.578" / "aliyun_assist_update")
    status = sysv_status(folder / "2.2.3.578" / "aliyun-service")
    host = linux_host(timeout=2)
    [proc] = host.leftovers(status)
    assert host.still_leftover(proc, status)
    act._end(host, status, (proc,), where="from its install folder")
    assert updater.wait(5) == -signal.SIGTERM
    assert not host.still_leftover(proc, status)
    assert host.signal(proc, signal.SIGKILL, status) is False  # gone: nothing is sent


def test_a_pid_that_is_no_longer_the_leftover_is_not_signalled(install, tmp_path):
    folder, run = install
    updater = run(folder / "2.2.3.578" / "aliyun_assist_update")
    status = sysv_status(folder / "2.2.3.578" / "aliyun-service")
    host = linux_host()
    [proc] = host.leftovers(status)
    # the same pid, another program (as after a reuse): never signalled
    other = proc._replace(exe=str(tmp_path / "other"), argv=("other",))
    assert host.signal(other, signal.SIGTERM, status) is False
    assert updater.poll() is None


def test_the_processes_of_a_cgroup_and_its_children_are_read_from_cgroup_procs(tmp_path):
    unit = tmp_path / "system.slice" / "aliyun.service"
    (unit / "child").mkdir(parents=True)
    (unit / "cgroup.procs").write_text("12\n34\n")
    (unit / "child" / "cgroup.procs").write_text("56\n")
    assert facts.cgroup_pids("/system.slice/aliyun.service", root=str(tmp_path)) == [12, 34, 56]
    # systemd removes the cgroup once the last process left it
    assert facts.cgroup_pids("/system.slice/gone.service", root=str(tmp_path)) == []
    assert facts.cgroup_pids("/system.slice/../../etc", root=str(tmp_path)) is None


def test_under_systemd_a_unit_without_a_cgroup_left_nothing(install):
    folder, run = install
    run(folder / "2.2.3.578" / "aliyun_assist_update")
    status = sysv_status(folder / "2.2.3.578" / "aliyun-service")._replace(
        unit=UnitState("aliyun.service", "loaded", "inactive", "dead", control_group="")
    )
    # under systemd only the unit's cgroup counts, not the install folder
    assert linux_host().leftovers(status) == ()
