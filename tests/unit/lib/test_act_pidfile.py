"""``_modules/_cloudassist_act.py``: the init script's stale pid file made safe before the
script runs, against a fake sysvinit host whose script trusts a real pid file (in a temp
folder) the way the vendor's does: its start does nothing while the file names a live process,
its stop kills whatever the file names."""

import os

import pytest

import _cloudassist_act as act
import _cloudassist_errors as errors
import _cloudassist_facts as facts
import _cloudassist_host as hosts
import _cloudassist_plan as plans
import _cloudassist_procedure as procedure
from _cloudassist_records import PidFile, Process

from ..test_states import FakeHost

SYSV = next(row for row in procedure.TABLE if row.name.endswith("newer than 1.0.1.308, sysvinit"))
SCRIPT = "/etc/init.d/aliyun-service"


class TrustingHost(FakeHost):
    """A sysvinit host whose init script trusts ``pidfile``; ``other`` is an innocent
    process's pid."""

    def __init__(self, pidfile, *, client=False):
        super().__init__(SYSV, client=client)
        self.timeout = 0.3
        self.pidfile = str(pidfile)
        self.other = self._spawn("other")
        if client:
            self.write(self._pids("client")[0])

    def write(self, pid):
        with open(self.pidfile, "w") as handle:
            handle.write(f"{pid}\n")

    def _read(self, pids):
        content, problem = facts.read_pidfile(self.pidfile)
        if content is None:
            return PidFile(self.pidfile, "the test", SCRIPT, problem=problem)
        pid = facts.parse_pid(content)
        what = self.table.get(pid)
        owner = Process(pid, what, f"/usr/bin/{what}", (what,)) if what else None
        return PidFile(
            self.pidfile,
            "the test",
            SCRIPT,
            content=content,
            pid=pid,
            owner=owner,
            stale=owner is None or pid not in pids,
        )

    def status(self):
        return super().status()._replace(pidfile=self._read(self._pids("client")))

    def pidfile_now(self, status, pids):
        return self._read(pids)

    def run_step(self, step, branch=None, check=True):
        if step.kind == "file":  # the real host's edit of the file
            self.ran.append((step, branch, check))
            return hosts.LinuxHost.run_step(self, step, branch, check)
        named = self._read(()).pid
        if step == SYSV.start[-1]:
            self.ran.append((step, branch, check))
            if named in self.table:
                return None  # "already running": the script trusts its file
            self.write(self._spawn("client"))
            return None
        if step == SYSV.stop[-1]:
            self.ran.append((step, branch, check))
            self.table.pop(named, None)  # kills whatever the file names
            if os.path.exists(self.pidfile):
                os.unlink(self.pidfile)
            return None
        return super().run_step(step, branch, check)


@pytest.fixture
def stale(tmp_path):
    host = TrustingHost(tmp_path / "aliyun-service.pid")
    host.write(host.other)
    return host


def test_a_start_removes_the_stale_file_then_the_script_starts_the_client(stale):
    status = stale.status()
    assert status.pidfile.stale and status.pidfile.owner.comm == "other"
    outcome = act.carry_out(stale, status, plans.make(status, "start"), settle=0)
    assert outcome.pids == stale._pids("client") and len(outcome.pids) == 1
    assert stale.table[stale.other] == "other", "the innocent process was touched"
    assert stale._read(outcome.pids).pid == outcome.pids[0]  # the script wrote its own file
    assert stale.ran_texts == [f"rm -f {stale.pidfile}", "/etc/init.d/aliyun-service start"]


def test_a_stop_makes_the_file_name_the_client_and_never_kills_another(tmp_path):
    host = TrustingHost(tmp_path / "aliyun-service.pid", client=True)
    (client,) = host._pids("client")
    host.write(host.other)  # the client was restarted outside the script, say
    status = host.status()
    outcome = act.carry_out(host, status, plans.make(status, "stop"), settle=0)
    assert outcome.pids == () and host._pids("client") == ()
    assert host.table == {host.other: "other"}
    assert host.ran_texts[:2] == [
        f"echo {client} > {host.pidfile}",
        "/etc/init.d/aliyun-service stop",
    ]


def test_a_file_that_cannot_be_removed_fails_at_once_naming_it_and_its_owner(stale, monkeypatch):
    def refuse(path):
        raise PermissionError(1, "Operation not permitted", path)

    monkeypatch.setattr(hosts.os, "unlink", refuse)
    status = stale.status()
    with pytest.raises(errors.StalePidFile) as caught:
        act.carry_out(stale, status, plans.make(status, "start"), settle=0)
    failure = caught.value
    assert (failure.path, failure.pid, failure.owner.comm) == (stale.pidfile, stale.other, "other")
    assert str(failure).startswith(
        f"the init script {SCRIPT} trusts its pid file {stale.pidfile}, which names pid "
        f"{stale.other} (other, /usr/bin/other: other), not the client, and cloudassist could "
        f"not remove it (`rm -f {stale.pidfile}`: [Errno 1] Operation not permitted"
    )
    assert f"{SCRIPT} was not called" in str(failure)
    assert stale.ran_texts == [f"rm -f {stale.pidfile}"]  # the script never ran
    assert failure.changes == {}


def test_a_file_changed_meanwhile_is_left_alone(stale):
    status = stale.status()
    plan = plans.make(status, "start")
    stale.write(stale._spawn("other"))  # another program wrote it since it was read
    with pytest.raises(errors.StalePidFile) as caught:
        act.carry_out(stale, status, plan, settle=0)
    assert "changed while cloudassist was about to remove it" in str(caught.value)
    assert stale.ran == [] and os.path.exists(stale.pidfile)


def test_a_file_gone_meanwhile_lets_the_start_go_on(stale):
    status = stale.status()
    plan = plans.make(status, "start")
    os.unlink(stale.pidfile)
    outcome = act.carry_out(stale, status, plan, settle=0)
    assert outcome.pids == stale._pids("client")
    assert stale.ran_texts == ["/etc/init.d/aliyun-service start"]
