"""``_modules/_cloudassist_plan.py``, the planning function: for every row of the vendor's
table and every situation a host can be in, what ``stop``, ``start`` and ``restart`` would run
and change, decided before anything runs.  Pure: no host, no root, no process is started."""

import itertools
import re

import pytest

import _cloudassist_plan as plans
import _cloudassist_procedure as procedure
from _cloudassist_host import WATCHDOG_BINARY, WATCHDOG_SERVICE
from _cloudassist_records import (
    Change,
    ClientStatus,
    InitDecision,
    Plan,
    Process,
    Step,
    UnitState,
    Watchdog,
    steps_text,
)

BRANCHES = {row.name: row for row in procedure.TABLE}
CLIENT_PIDS = (4242, 4243)
WATCHDOG_PIDS = (77,)
BLOCKED = "the branch needs a tool this host does not have; nothing was run"
NO_WATCHDOG_BINARY = "the watchdog assist_daemon is running but its binary was not found"


def watchdog_step(branch):
    if branch.platform == "windows":
        return Step(("service.stop", WATCHDOG_SERVICE), kind="salt")
    return Step((WATCHDOG_BINARY, "--stop"))


def applicable(steps, present):
    """The steps a host runs: those with ``if_exists`` only where that path is ``present``."""
    return tuple(step for step in steps if step.if_exists is None or present)


def status_for(branch, running, watchdog, blocked=None, present=True, unit=None):
    return ClientStatus(
        platform=branch.platform,
        version="2.2.3.578" if branch.legacy is not True else "1.0.1.308",
        binary="/usr/sbin/aliyun-service",
        init=InitDecision(branch.init_systems[0], "the test says so"),
        branch=branch,
        steps={
            action: applicable(getattr(branch, action), present) for action in ("stop", "start")
        },
        pids=CLIENT_PIDS if running else (),
        watchdog=Watchdog(WATCHDOG_PIDS, "process") if watchdog else Watchdog(),
        blocked=blocked,
        unit=unit,
    )


# (action, client running) -> the phases of the branch that run, and what changes.
# Written out by hand from the docs (the vendor's table), not computed: the oracle for every
# row below.
EXPECTED = {
    ("stop", True): (("stop",), (Change("running", True, False),)),
    ("stop", False): ((), ()),
    ("start", True): ((), ()),
    ("start", False): (("start",), (Change("running", False, True),)),
    ("restart", True): (
        ("stop", "start"),
        (Change("restarted", list(CLIENT_PIDS), plans.NEW_PIDS),),
    ),
    ("restart", False): (("start",), (Change("running", False, True),)),
}

CASES = [
    pytest.param(
        name,
        action,
        running,
        watchdog,
        stop_watchdog,
        blocked,
        present,
        id="{}|{}|client {}|watchdog {}|stop_watchdog={}|{}{}".format(
            name,
            action,
            "up" if running else "down",
            "up" if watchdog else "down",
            stop_watchdog,
            "blocked" if blocked else "free",
            "" if present else "|no init.d script",
        ),
    )
    for name, action, running, watchdog, stop_watchdog, blocked, present in itertools.product(
        BRANCHES,
        plans.RUN_ACTIONS,
        (True, False),
        (True, False),
        (True, False),
        (False, True),
        (True, False),
    )
    # only one branch has a step that depends on a path; the others need not repeat
    if present or any(step.if_exists for step in BRANCHES[name].stop + BRANCHES[name].start)
]


@pytest.mark.parametrize("name,action,running,watchdog,stop_watchdog,blocked,present", CASES)
def test_every_branch_action_and_situation(
    name, action, running, watchdog, stop_watchdog, blocked, present
):
    branch = BRANCHES[name]
    status = status_for(branch, running, watchdog, BLOCKED if blocked else None, present)
    asked_watchdog = action == "stop" and stop_watchdog and watchdog
    plan = plans.make(
        status,
        action,
        stop_watchdog=stop_watchdog,
        watchdog_stop_step=watchdog_step(branch) if asked_watchdog else None,
    )

    phases, changes = EXPECTED[(action, running)]
    wd_steps = (watchdog_step(branch),) if asked_watchdog else ()
    if asked_watchdog:
        changes = (Change("watchdog", True, False),) + changes
    assert plan.action == action
    assert plan.changes == changes
    if blocked and phases:
        # the branch cannot run here: nothing at all runs, not even the watchdog's stop
        assert plan.blocked == BLOCKED
        assert (
            plan.steps == ()
            and plan.watchdog_stop_steps == ()
            and plan.stop_steps == ()
            and plan.start_steps == ()
        )
        return
    assert plan.blocked is None
    assert plan.watchdog_stop_steps == wd_steps
    assert plan.stop_steps == (status.steps["stop"] if "stop" in phases else ())
    assert plan.start_steps == (status.steps["start"] if "start" in phases else ())
    assert plan.steps == plan.watchdog_stop_steps + plan.stop_steps + plan.start_steps
    assert plan.noop is (not plan.steps)
    # the steps are the branch's own, in the vendor's order, minus those whose path is absent
    for phase in phases:
        expected = (
            getattr(branch, phase)
            if present
            else tuple(s for s in getattr(branch, phase) if not s.if_exists)
        )
        assert getattr(plan, phase + "_steps") == expected


@pytest.mark.parametrize("name", BRANCHES)
@pytest.mark.parametrize("action", plans.RUN_ACTIONS)
@pytest.mark.parametrize("running", [True, False])
@pytest.mark.parametrize("watchdog", [True, False])
def test_describe_names_exactly_the_commands_the_steps_hold(name, action, running, watchdog):
    branch = BRANCHES[name]
    status = status_for(branch, running, watchdog)
    stop_watchdog = action == "stop" and watchdog
    plan = plans.make(
        status,
        action,
        stop_watchdog=stop_watchdog,
        watchdog_stop_step=watchdog_step(branch) if stop_watchdog else None,
    )
    if plan.noop:
        text = plans.already(status, action)
        assert "already" in text and "was not run" in text
        assert re.findall(r"`([^`]*)`", text) == [
            status.command("stop" if action == "stop" else "start")
        ]
        return
    want = {"stop": "stopped", "start": "running", "restart": "restarted"}[action]
    text = plans.describe(status, plan, want)
    assert text.startswith(f"The Cloud Assistant client would be {want}: would ")
    assert text.endswith(f"({branch.name}).")
    quoted = re.findall(r"`([^`]*)`", text)
    named = [command for segment in quoted for command in segment.split("; ")]
    assert named == [step.text for step in plan.steps]
    if plan.watchdog_stop_steps:
        assert (
            quoted[0] == steps_text(plan.watchdog_stop_steps)
            and "stop the watchdog assist_daemon" in text
        )


def test_a_watchdog_that_cannot_be_stopped_blocks_the_stop_and_nothing_runs():
    branch = BRANCHES["Linux, client newer than 1.0.1.308, systemd"]
    status = status_for(branch, True, True)
    plan = plans.make(status, "stop", stop_watchdog=True, watchdog_blocked=NO_WATCHDOG_BINARY)
    assert plan.blocked == NO_WATCHDOG_BINARY
    assert plan.steps == ()
    # the same stop without stop_watchdog is not blocked: the watchdog is left alone
    free = plans.make(status, "stop")
    assert (
        free.blocked is None and free.watchdog_stop_steps == () and free.stop_steps == branch.stop
    )


def test_a_look_alike_of_the_watchdog_blocks_stop_watchdog_only():
    from _cloudassist_records import Process

    branch = BRANCHES["Linux, client newer than 1.0.1.308, sysvinit"]
    look_alike = Process(91, "assist_daemon", "/opt/other/assist_daemon")
    status = status_for(branch, True, False)._replace(watchdog=Watchdog(suspects=(look_alike,)))
    why = "stop_watchdog=True, but nothing was changed: " + status.watchdog.suspects_text()
    plan = plans.make(status, "stop", stop_watchdog=True, watchdog_blocked=why)
    assert plan.blocked == why and plan.steps == ()
    free = plans.make(status, "stop")
    assert free.blocked is None and free.stop_steps == branch.stop


def test_a_blocked_branch_wins_over_a_watchdog_without_binary():
    branch = BRANCHES["Linux, client newer than 1.0.1.308, upstart"]
    status = status_for(branch, True, True, BLOCKED)
    plan = plans.make(status, "stop", stop_watchdog=True, watchdog_blocked=NO_WATCHDOG_BINARY)
    assert plan.blocked == BLOCKED and plan.steps == ()


@pytest.mark.parametrize("action", ["start", "restart"])
def test_stop_watchdog_belongs_to_stop_only(action):
    branch = BRANCHES["Linux, client newer than 1.0.1.308, sysvinit"]
    status = status_for(branch, True, True)
    plan = plans.make(status, action, stop_watchdog=True, watchdog_stop_step=watchdog_step(branch))
    assert plan.watchdog_stop_steps == () and all(c.name != "watchdog" for c in plan.changes)


@pytest.mark.parametrize("action", ["status", "", None, "STOP"])
def test_an_unknown_action_is_refused(action):
    with pytest.raises(
        ValueError, match="unknown action .*; valid: stop, start, restart, enable, disable"
    ):
        plans.make(status_for(procedure.TABLE[0], True, False), action)


def test_plans_and_records_are_frozen():
    plan = plans.make(status_for(procedure.TABLE[0], True, False), "stop")
    with pytest.raises(AttributeError):
        plan.stop_steps = ()
    assert isinstance(plan, Plan) and isinstance(plan.stop_steps, tuple)


def test_changes_dict_is_what_salt_shows():
    changes = (Change("watchdog", True, False), Change("running", True, False))
    assert plans.changes_dict(changes) == {
        "watchdog": {"old": True, "new": False},
        "running": {"old": True, "new": False},
    }
    assert plans.changes_dict(()) == {}


# --- systemd's view of the unit ---------------------------------------------------------------

SYSTEMD_BRANCHES = [row.name for row in procedure.TABLE if row.init_systems == ("systemd",)]


def unit(active, sub):
    return UnitState(
        "aliyun.service",
        "loaded",
        active,
        sub,
        main_pid=CLIENT_PIDS[0] if active != "inactive" else 0,
    )


# situation -> (client running, UnitState)
UNIT_SITUATIONS = {
    "active": (True, unit("active", "running")),
    "inactive": (False, unit("inactive", "dead")),
    "deactivating": (True, unit("deactivating", "stop-sigterm")),
    "auto-restart": (False, unit("activating", "auto-restart")),
    "activating": (False, unit("activating", "start")),
}

RUNNING_FALSE_TRUE = (Change("running", False, True),)
# (situation, action) -> phases and changes: a client whose unit is being stopped is not
# "already running"; one that is down while systemd restarts or starts it is not "already stopped".
UNIT_EXPECTED = {
    ("active", "stop"): EXPECTED[("stop", True)],
    ("active", "start"): EXPECTED[("start", True)],
    ("active", "restart"): EXPECTED[("restart", True)],
    ("inactive", "stop"): EXPECTED[("stop", False)],
    ("inactive", "start"): EXPECTED[("start", False)],
    ("inactive", "restart"): EXPECTED[("restart", False)],
    ("deactivating", "stop"): (("stop",), (Change("running", True, False),)),
    ("deactivating", "start"): (("start",), (Change("running", "stopping", True),)),
    ("deactivating", "restart"): (
        ("stop", "start"),
        (Change("restarted", list(CLIENT_PIDS), plans.NEW_PIDS),),
    ),
    ("auto-restart", "stop"): (("stop",), (Change("restart_pending", True, False),)),
    # The stop command cancels the pending restart, which would hold the start job back.
    ("auto-restart", "start"): (("stop", "start"), RUNNING_FALSE_TRUE),
    ("auto-restart", "restart"): (("stop", "start"), RUNNING_FALSE_TRUE),
    ("activating", "stop"): (("stop",), (Change("running", "starting", False),)),
    ("activating", "start"): (("start",), RUNNING_FALSE_TRUE),
    ("activating", "restart"): (("start",), RUNNING_FALSE_TRUE),
}


def test_every_unit_situation_has_an_expectation():
    assert set(UNIT_EXPECTED) == set(itertools.product(UNIT_SITUATIONS, plans.RUN_ACTIONS))


@pytest.mark.parametrize("name", SYSTEMD_BRANCHES)
@pytest.mark.parametrize("situation", UNIT_SITUATIONS)
@pytest.mark.parametrize("action", plans.RUN_ACTIONS)
@pytest.mark.parametrize("blocked", [False, True])
def test_systemds_view_of_the_unit_decides_what_is_already_done(name, situation, action, blocked):
    branch = BRANCHES[name]
    running, unit_state = UNIT_SITUATIONS[situation]
    status = status_for(branch, running, False, BLOCKED if blocked else None, unit=unit_state)
    plan = plans.make(status, action)
    phases, changes = UNIT_EXPECTED[(situation, action)]
    assert plan.changes == changes
    if blocked and phases:
        assert plan.blocked == BLOCKED and plan.steps == ()
        return
    assert plan.blocked is None
    assert plan.stop_steps == (branch.stop if "stop" in phases else ())
    assert plan.start_steps == (branch.start if "start" in phases else ())


# --- starting at boot ---------------------------------------------------------------------------

from _cloudassist_records import BootState  # noqa: E402

ENABLE = (Step(("boot-on", "svc")),)
DISABLE = (Step(("boot-off", "svc")),)


def booting(status, enabled, cannot=()):
    return status._replace(
        boot_state=BootState("svc", enabled, "the test says so", ENABLE, DISABLE, cannot)
    )


# (the action's own effect on boot, enabled before, enable asked) -> (boot steps, enabled change),
# written out by hand.  Only the vendor's chkconfig branch has an effect: its stop runs
# `chkconfig agentwatch off` (False), its start `chkconfig agentwatch on` (True).
BOOT_EXPECTED = {
    (None, True, None): ((), None),
    (None, False, None): ((), None),
    (None, True, True): ((), None),
    (None, False, True): (ENABLE, (False, True)),
    (None, True, False): (DISABLE, (True, False)),
    (None, False, False): ((), None),
    (False, True, None): ((), (True, False)),
    (False, False, None): ((), None),
    (False, True, False): ((), (True, False)),
    (False, False, False): ((), None),
    (False, True, True): (ENABLE, None),
    (False, False, True): (ENABLE, (False, True)),
    (True, True, None): ((), None),
    (True, False, None): ((), (False, True)),
    (True, True, True): ((), None),
    (True, False, True): ((), (False, True)),
    (True, True, False): (DISABLE, (True, False)),
    (True, False, False): (DISABLE, None),
}


@pytest.mark.parametrize("name", BRANCHES)
@pytest.mark.parametrize("action", plans.RUN_ACTIONS)
@pytest.mark.parametrize("running", [True, False])
@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("enable", [None, True, False])
def test_the_boot_status_follows_enable_and_the_branch(name, action, running, enabled, enable):
    branch = BRANCHES[name]
    status = booting(status_for(branch, running, False), enabled)
    plan = plans.make(status, action, enable=enable)
    ran = plan.stop_steps or plan.start_steps
    effect = (bool(plan.start_steps) if ran else None) if branch.sets_boot else None
    steps, change = BOOT_EXPECTED[(effect, enabled, enable)]
    assert plan.boot_steps == steps
    boot_changes = [c for c in plan.changes if c.name == "enabled"]
    assert boot_changes == ([Change("enabled", *change)] if change else [])
    assert plan.steps[-len(steps) :] == steps if steps else True
    # the run part is what it was without enable
    without = plans.make(status._replace(boot_state=None), action)
    assert (plan.stop_steps, plan.start_steps) == (without.stop_steps, without.start_steps)


@pytest.mark.parametrize("name", BRANCHES)
@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("action", ["enable", "disable"])
def test_enable_and_disable_change_only_the_boot_status(name, enabled, action):
    status = booting(status_for(BRANCHES[name], True, False), enabled)
    plan = plans.make(status, action)
    want = action == "enable"
    assert plan.stop_steps == plan.start_steps == plan.watchdog_stop_steps == ()
    if enabled == want:
        assert plan.noop and plan.changes == ()
        assert plans.already(status, action).startswith("the client's service svc already")
    else:
        assert plan.boot_steps == (ENABLE if want else DISABLE)
        assert plan.changes == (Change("enabled", enabled, want),)


def test_a_boot_change_that_cannot_be_made_blocks_everything():
    branch = BRANCHES["Linux, client newer than 1.0.1.308, sysvinit"]
    status = booting(
        status_for(branch, True, True),
        True,
        (("disable", "this host has neither update-rc.d nor chkconfig"),),
    )
    plan = plans.make(
        status, "stop", stop_watchdog=True, watchdog_stop_step=watchdog_step(branch), enable=False
    )
    assert plan.blocked == (
        "the client's service svc cannot be disabled at boot: this host has neither update-rc.d "
        "nor chkconfig; nothing was run and the client was left as it is"
    )
    assert plan.steps == ()
    # the same boot status asked for where it already holds is no reason to block
    assert (
        plans.make(
            status._replace(boot_state=status.boot_state._replace(enabled=False)),
            "stop",
            enable=False,
        ).blocked
        is None
    )


def _watchdog(running, boot_state):
    return Watchdog(WATCHDOG_PIDS if running else (), "unit" if running else None, None, boot_state)


WD_BOOT = BootState(
    "AssistDaemon.service", True, "enabled", (Step(("wd-on",)),), (Step(("wd-off",)),)
)


def test_stop_watchdog_with_enable_false_disables_the_watchdog_at_boot_first():
    branch = BRANCHES["Linux, client newer than 1.0.1.308, systemd"]
    status = booting(status_for(branch, True, False), True)._replace(
        watchdog=_watchdog(True, WD_BOOT)
    )
    stop_wd = Step(("systemctl", "stop", "AssistDaemon.service"))
    plan = plans.make(status, "stop", stop_watchdog=True, watchdog_stop_step=stop_wd, enable=False)
    assert plan.watchdog_boot_steps == WD_BOOT.disable and plan.watchdog_stop_steps == (stop_wd,)
    assert plan.steps == WD_BOOT.disable + (stop_wd,) + branch.stop + DISABLE
    assert [c.name for c in plan.changes] == ["watchdog", "running", "enabled", "watchdog_enabled"]
    text = plans.describe(status, plan, "stopped")
    assert (
        "disable the watchdog at boot (`wd-off`)" in text
        and "disable svc at boot (`boot-off svc`)" in text
    )
    # without enable=False the watchdog's boot is left alone
    assert (
        plans.make(
            status, "stop", stop_watchdog=True, watchdog_stop_step=stop_wd, enable=None
        ).watchdog_boot_steps
        == ()
    )
    # a watchdog already disabled at boot needs nothing
    off = status._replace(watchdog=_watchdog(True, WD_BOOT._replace(enabled=False)))
    assert (
        plans.make(
            off, "stop", stop_watchdog=True, watchdog_stop_step=stop_wd, enable=False
        ).watchdog_boot_steps
        == ()
    )


def test_a_watchdog_that_cannot_be_disabled_at_boot_is_told_not_hidden():
    branch = BRANCHES["Linux, client newer than 1.0.1.308, sysvinit"]
    status = booting(status_for(branch, True, False), True)._replace(watchdog=_watchdog(True, None))
    plan = plans.make(
        status, "stop", stop_watchdog=True, watchdog_stop_step=watchdog_step(branch), enable=False
    )
    assert plan.blocked is None and plan.watchdog_boot_steps == ()
    assert len(plan.notes) == 1 and "was not disabled at boot" in plan.notes[0]
    assert "assist_daemon --delete" in plan.notes[0]
    stuck = status._replace(
        watchdog=_watchdog(True, WD_BOOT._replace(cannot=(("disable", "no update-rc.d"),)))
    )
    plan = plans.make(
        stuck, "stop", stop_watchdog=True, watchdog_stop_step=watchdog_step(branch), enable=False
    )
    assert plan.notes == (
        "the watchdog's AssistDaemon.service could not be disabled at boot: no update-rc.d",
    )


def test_disable_alone_says_the_watchdog_still_starts_at_boot():
    branch = BRANCHES["Linux, client newer than 1.0.1.308, systemd"]
    status = booting(status_for(branch, True, False), True)._replace(
        watchdog=_watchdog(False, WD_BOOT)
    )
    plan = plans.make(status, "disable")
    assert plan.boot_steps == DISABLE and plan.watchdog_boot_steps == ()
    assert plan.notes and "AssistDaemon.service still starts at boot" in plan.notes[0]


# --- systemd has given up on the unit (its start limit) ---------------------------------------

SYSTEMD = BRANCHES["Linux, client newer than 1.0.1.308, systemd"]
GAVE_UP = UnitState(
    "aliyun.service",
    "loaded",
    "failed",
    "failed",
    n_restarts=10,
    result="exit-code",
    start_limit_burst=10,
)
RESET = Step(("systemctl", "reset-failed", "aliyun.service"))


@pytest.mark.parametrize("action", ["start", "restart"])
def test_a_start_where_systemd_gave_up_resets_the_unit_first(action):
    status = status_for(SYSTEMD, False, False, unit=GAVE_UP)
    plan = plans.make(status, action)
    assert plan.reset_steps == (RESET,)
    assert plan.start_steps == SYSTEMD.start and plan.stop_steps == ()
    assert plan.steps == (RESET,) + SYSTEMD.start  # the reset runs before the start
    assert plan.changes[0] == Change("start_limit_hit", True, False)
    assert Change("running", False, True) in plan.changes
    sentence = plans.describe(status, plan, "running")
    assert "reset systemd's start limit (`systemctl reset-failed aliyun.service`)" in sentence
    assert sentence.index("reset-failed") < sentence.index("systemctl start aliyun.service")


@pytest.mark.parametrize("action", ["start", "restart"])
def test_a_forbidden_reset_blocks_the_start_and_names_the_unit_and_the_command(action):
    status = status_for(SYSTEMD, False, False, unit=GAVE_UP)
    plan = plans.make(status, action, reset_failed=False)
    assert plan.steps == ()
    assert "systemd has given up on aliyun.service (its start limit: 10 starts" in plan.blocked
    assert "until `systemctl reset-failed aliyun.service` is run" in plan.blocked
    assert "reset_failed=False forbids" in plan.blocked


@pytest.mark.parametrize(
    "unit,action",
    [
        (GAVE_UP, "stop"),  # a stop has nothing to start
        (GAVE_UP._replace(n_restarts=3), "start"),  # failed, but under the limit
        (UnitState("aliyun.service", "loaded", "inactive", "dead"), "start"),
    ],
)
def test_no_reset_where_systemd_accepts_a_start_or_nothing_starts(unit, action):
    status = status_for(SYSTEMD, False, False, unit=unit)
    for reset_failed in (True, False):
        plan = plans.make(status, action, reset_failed=reset_failed)
        assert plan.reset_steps == () and not plan.blocked
        assert "start_limit_hit" not in {change.name for change in plan.changes}


# --- what the client leaves running (issue 17) ------------------------------------------------

UPDATER = Process(
    99, "aliyun_assist_u", "/usr/local/share/aliyun-assist/2.2.3.578/aliyun_assist_update"
)
LINUX_BRANCHES = [row for row in procedure.TABLE if row.platform == "linux"]


@pytest.mark.parametrize("branch", LINUX_BRANCHES, ids=lambda row: row.name)
@pytest.mark.parametrize("action", ["stop", "restart"])
@pytest.mark.parametrize("running", [True, False])
def test_stop_and_restart_plan_to_end_what_the_client_leaves(branch, action, running):
    status = status_for(branch, running, False)._replace(leftovers=(UPDATER,))
    plan = plans.make(status, action)
    assert plan.leftovers == (UPDATER,) and plan.ends_leftovers and not plan.noop
    assert Change("leftovers", [UPDATER.as_dict()], []) in plan.changes
    text = plans.describe(status, plan, "stopped")
    ending = "end what the client leaves running (SIGTERM, then SIGKILL after the timeout): "
    assert f"{ending}pid 99 ({UPDATER.exe})" in text
    # the leftovers end after the stop and before any start
    if plan.stop_steps:
        assert text.index("SIGTERM") > text.index(f"run `{steps_text(plan.stop_steps)}`")
    if plan.start_steps:
        assert text.index("SIGTERM") < text.index(steps_text(plan.start_steps))


@pytest.mark.parametrize("action", ["stop", "restart"])
def test_keep_plans_no_change_but_knows_the_leftovers(action):
    status = status_for(BRANCHES[LINUX_BRANCHES[0].name], False, False)._replace(
        leftovers=(UPDATER,)
    )
    plan = plans.make(status, action, leftovers="keep")
    assert plan.leftovers == (UPDATER,) and not plan.ends_leftovers
    assert all(change.name != "leftovers" for change in plan.changes)
    assert "SIGTERM" not in plans.describe(status, plan, "stopped")


def test_start_does_not_touch_leftovers():
    status = status_for(LINUX_BRANCHES[0], False, False)._replace(leftovers=(UPDATER,))
    plan = plans.make(status, "start")
    assert plan.leftovers == () and all(change.name != "leftovers" for change in plan.changes)


def test_an_unknown_leftovers_mode_is_refused():
    with pytest.raises(ValueError, match="unknown leftovers mode 'kill'"):
        plans.make(status_for(LINUX_BRANCHES[0], True, False), "stop", leftovers="kill")
