"""``_modules/_cloudassist_plan.py``: the init script's stale pid file (sysvinit).  Before the
script's start the file is removed; before its stop of a running client it is made to name the
client (the script kills the pid its file names); each is a planned step, shown and recorded."""

import pytest

import _cloudassist_plan as plans
import _cloudassist_procedure as procedure
from _cloudassist_records import Change, PidFile, Process, Step

from .test_plan import CLIENT_PIDS, status_for

SYSV = next(row for row in procedure.TABLE if row.name.endswith("newer than 1.0.1.308, sysvinit"))
PATH = "/var/run/aliyun-service.pid"
SLEEP = Process(4000, "sleep", "/usr/bin/sleep", ("sleep", "1000"))
STALE = PidFile(
    PATH,
    "the vendor's default",
    "/etc/init.d/aliyun-service",
    content=b"4000\n",
    pid=4000,
    owner=SLEEP,
    stale=True,
)
DROP = Step(("drop-pidfile", PATH, b"4000\n"), kind="file")
OLD = {"path": PATH, "pid": 4000}


def sysv(running, pidfile=STALE, pids=None):
    status = status_for(SYSV, running, False)._replace(pidfile=pidfile)
    return status._replace(pids=pids) if pids is not None else status


@pytest.mark.parametrize("action", ["start", "restart"])
@pytest.mark.parametrize(
    "pidfile",
    [
        STALE,  # another live program has the pid
        STALE._replace(owner=None),  # no process has it
        STALE._replace(content=b"junk\n", pid=None, owner=None),  # no pid at all
    ],
)
def test_a_start_removes_the_stale_pid_file_first(action, pidfile):
    status = sysv(False, pidfile)
    plan = plans.make(status, action)
    drop = (Step(("drop-pidfile", PATH, pidfile.content), kind="file"),)
    assert plan.pidfile_steps == drop and plan.steps == drop + SYSV.start
    assert plan.changes[0] == Change("stale_pidfile", {"path": PATH, "pid": pidfile.pid}, None)
    assert Change("running", False, True) in plan.changes
    sentence = plans.describe(status, plan, "running")
    assert f"remove the stale pid file, which names {pidfile.owner_text} (`rm -f {PATH}`)" in (
        sentence
    )
    assert sentence.index("rm -f") < sentence.index("/etc/init.d/aliyun-service start")
    assert plans.changes_dict(plan.changes)["stale_pidfile"] == {
        "old": OLD | {"pid": pidfile.pid},
        "new": None,
    }


@pytest.mark.parametrize("action", ["stop", "restart"])
def test_a_stop_makes_the_stale_file_name_the_client_so_the_script_kills_no_other(action):
    status = sysv(True, pids=(4242,))
    plan = plans.make(status, action)
    write = (Step(("write-pidfile", PATH, b"4000\n", 4242), kind="file"),)
    assert plan.pidfile_steps == write
    assert plan.steps[: len(write) + 1] == write + SYSV.stop  # right before the script's stop
    assert plan.changes[0] == Change("stale_pidfile", OLD, {"path": PATH, "pid": 4242})
    sentence = plans.describe(status, plan, "stopped")
    assert (
        "correct the stale pid file, which names pid 4000 (sleep, /usr/bin/sleep: sleep 1000) "
        f"(`echo 4242 > {PATH}`)" in sentence
    )


@pytest.mark.parametrize("action", ["stop", "restart"])
def test_several_clients_and_a_stale_file_block_the_stop(action):
    status = sysv(True)
    assert len(status.pids) == len(CLIENT_PIDS) > 1
    plan = plans.make(status, action)
    assert plan.steps == () and plan.pidfile_steps == ()
    assert plan.blocked.startswith(
        f"the init script /etc/init.d/aliyun-service trusts its pid file {PATH}, which names "
        "pid 4000 (sleep, /usr/bin/sleep: sleep 1000), not the client;"
    )
    assert "several clients running (pid 4242, 4243)" in plan.blocked
    assert "`kill 4242 4243`" in plan.blocked


@pytest.mark.parametrize(
    "running,action,pidfile",
    [
        (False, "stop", STALE),  # nothing runs: the script is not called at all
        (True, "start", STALE),  # already running: nothing runs either
        (False, "start", STALE._replace(stale=False)),  # the file names the client
        (False, "start", PidFile(PATH, "the vendor's default", "/etc/init.d/aliyun-service")),
        (False, "start", None),  # no init script (systemd, upstart)
    ],
)
def test_no_pid_file_step_where_the_script_is_not_called_or_the_file_is_sound(
    running, action, pidfile
):
    plan = plans.make(sysv(running, pidfile), action)
    assert plan.pidfile_steps == () and not plan.blocked
    assert "stale_pidfile" not in {change.name for change in plan.changes}


def test_a_plan_blocked_for_another_reason_stays_blocked():
    status = sysv(False)._replace(blocked="the branch needs a tool this host does not have")
    plan = plans.make(status, "start")
    assert plan.blocked == status.blocked and plan.steps == ()
