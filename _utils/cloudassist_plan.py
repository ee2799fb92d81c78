"""Deciding what an action would do: one pure function, used by test mode and the real run.

``make(status, action, stop_watchdog, watchdog_stop)`` turns the facts about this host
(a ``ClientStatus``) and what is wanted into a ``Plan``: the steps that would run, the
changes they would make, or why nothing can run.  ``describe`` words a plan for ``test=True``.
The execution module's ``stop``/``start``/``restart`` act on the same plan, and the states
(``running``, ``stopped``, ``mod_watch``) call those functions, so the prediction and the
real run cannot disagree.
"""

try:  # installed with pip
    from .cloudassist_records import Change, Plan, steps_text
except ImportError:  # synced through file_roots
    from cloudassist_records import Change, Plan, steps_text

ACTIONS = ("stop", "start", "restart")
# What test=True shows for the pids a restart would give; they exist only after the run.
NEW_PIDS = "new pids"


def make(status, action, stop_watchdog=False, watchdog_stop=None):
    """The ``Plan`` for ``action`` on a host in ``status``.

    ``watchdog_stop`` is the step that stops the running watchdog, or a text saying why it
    cannot be stopped (asked for only when ``stop_watchdog`` and the watchdog runs).
    """
    if action not in ACTIONS:
        raise ValueError("unknown action {!r}; valid: {}".format(action, ", ".join(ACTIONS)))
    # A client whose unit is being stopped is not "already running"; one that is down while
    # systemd will restart it (or is starting it) is not "already stopped".
    up = status.running and not status.stopping
    coming_back = not status.running and (status.restart_pending or _activating(status))
    changes = []
    blocked = None
    stop_wd = ()
    if action == "stop" and stop_watchdog and status.watchdog_pids:
        if isinstance(watchdog_stop, str):
            blocked = watchdog_stop
        else:
            stop_wd = (watchdog_stop,)
            changes.append(Change("watchdog", True, False))
    stop = start = ()
    if action == "stop":
        if status.running or coming_back:
            stop = status.steps["stop"]
        if status.running:
            changes.append(Change("running", True, False))
        elif status.restart_pending:
            changes.append(Change("restart_pending", True, False))
        elif coming_back:
            changes.append(Change("running", "starting", False))
    elif action == "start" or not status.running:
        if not up:
            # systemd holds a start job back until RestartSec has passed (the real unit waits
            # 120 s); the stop command cancels the pending restart, so the start runs at once.
            stop = status.steps["stop"] if status.restart_pending else ()
            start = status.steps["start"]
            changes.append(Change("running", status.running and "stopping", True))
    else:
        stop, start = status.steps["stop"], status.steps["start"]
        changes.append(Change("restarted", list(status.pids), NEW_PIDS))
    if (stop or start) and status.blocked:
        # The branch cannot run here: nothing at all runs, the watchdog included.
        blocked = status.blocked
    if blocked:
        return Plan(action, changes=tuple(changes), blocked=blocked)
    return Plan(action, stop_wd, stop, start, tuple(changes))


def _activating(status):
    return bool(status.unit and status.unit.active_state == "activating")


def changes_dict(changes):
    return {change.name: {"old": change.old, "new": change.new} for change in changes}


def already(status, action):
    """Why ``action`` has nothing to do: the sentence the module returns."""
    if action == "stop":
        return "the client is already stopped ({}); `{}` was not run".format(
            status.branch.service, status.command("stop")
        )
    return "the client is already running (pid {}); `{}` was not run".format(
        pid_text(status.pids), status.command("start")
    )


def describe(status, plan, want):
    """The ``test=True`` sentence: what would run, in order, and on which branch."""
    parts = []
    if plan.stop_watchdog:
        parts.append("stop the watchdog assist_daemon (`{}`)".format(steps_text(plan.stop_watchdog)))
    commands = [steps_text(phase) for phase in (plan.stop, plan.start) if phase]
    if commands:
        parts.append("run `{}`".format("; ".join(commands)))
    return "The Cloud Assistant client would be {}: would {} ({}).".format(
        want, " and then ".join(parts), status.branch.name
    )


def pid_text(pids):
    return ", ".join(str(p) for p in pids)
