"""Deciding what an action would do: one pure function, used by test mode and the real run.

``make(status, action, stop_watchdog=, watchdog_stop_step=, watchdog_blocked=, enable=,
reset_failed=)`` turns the facts about this host (a ``ClientStatus``) and what is wanted into a
``Plan``: the steps that would run, the changes they would make, or why nothing can run.
``enable`` (True, False, or None to leave it) is whether the client's service should start at
boot; the actions ``enable`` and ``disable`` change only that.  ``describe`` words a plan for
``test=True``.  The execution module's ``stop``/``start``/``restart`` act on the same plan, and
the states (``running``, ``stopped``, ``mod_watch``) call those functions, so the prediction
and the real run cannot disagree.
"""

from _cloudassist_args import LEFTOVER_MODES
from _cloudassist_records import Change, Plan, Step, steps_text

RUN_ACTIONS = ("stop", "start", "restart")
LEFTOVER_ACTIONS = ("stop", "restart")
ACTIONS = RUN_ACTIONS + ("enable", "disable")
# What test=True shows for the pids a restart would give; they exist only after the run.
NEW_PIDS = "new pids"


def make(
    status,
    action,
    *,
    stop_watchdog=False,
    watchdog_stop_step=None,
    watchdog_blocked=None,
    enable=None,
    reset_failed=True,
    leftovers="end",
):
    """The ``Plan`` for ``action`` on a host in ``status``.

    ``watchdog_stop_step`` is the step that stops the running watchdog, ``watchdog_blocked`` why it
    cannot be stopped (one of them, asked for only when ``stop_watchdog`` and the watchdog runs).
    ``reset_failed``: where systemd has given up on the unit (its start limit), a start first
    runs ``systemctl reset-failed UNIT``; False forbids that, and such a start is blocked.
    ``leftovers`` ("end" or "keep"): what ``stop`` and ``restart`` do with the processes the
    client leaves in its unit or install folder (``status.leftovers``: those seen now).
    """
    if action not in ACTIONS:
        raise ValueError("unknown action {!r}; valid: {}".format(action, ", ".join(ACTIONS)))
    if action in ("enable", "disable"):
        return _with_boot(status, Plan(action), action == "enable", stop_watchdog=False)
    run_plan = _run_plan(
        status,
        action,
        stop_watchdog=stop_watchdog,
        watchdog_stop_step=watchdog_stop_step,
        watchdog_blocked=watchdog_blocked,
    )
    if run_plan.start_steps and status.start_limit_hit and not run_plan.blocked:
        run_plan = _with_reset(status, run_plan, reset_failed=reset_failed)
    pidfile = status.pidfile
    if pidfile is not None and pidfile.stale and not run_plan.blocked:
        run_plan = _with_pidfile(status, run_plan)
    if action in LEFTOVER_ACTIONS and not run_plan.blocked:
        run_plan = _with_leftovers(status, run_plan, mode=leftovers)
    return _with_boot(status, run_plan, enable, stop_watchdog=stop_watchdog)


def reset_step(unit):
    return Step(argv=("systemctl", "reset-failed", unit))


def _with_reset(status, plan, *, reset_failed):
    """``plan`` with ``systemctl reset-failed UNIT`` before its start: systemd refuses to start
    a unit whose start limit was hit until it is reset; or blocked, where that is forbidden."""
    unit = status.unit
    step = reset_step(unit.name)
    if not reset_failed:
        return Plan(
            plan.action,
            changes=plan.changes,
            blocked=f"systemd has given up on {unit.name} (its start limit: "
            f"{unit.start_limit_burst} starts within StartLimitIntervalSec; {unit.state}) and "
            f"refuses to start it until `{step.text}` is run; reset_failed=False forbids "
            "cloudassist to run it, so nothing was run. Run it by hand once the cause of the "
            "failures is fixed, or allow it (reset_failed=True, or the config key "
            "cloudassist:reset_failed)",
        )
    return plan._replace(
        reset_steps=(step,), changes=(Change("start_limit_hit", True, False),) + plan.changes
    )


def _with_leftovers(status, plan, *, mode):
    """``plan`` that ends (``mode`` "end") or names ("keep") the processes the client leaves
    behind: those of ``status.leftovers`` now; the run acts on those found after the stop."""
    if mode not in LEFTOVER_MODES:
        raise ValueError(f"unknown leftovers mode {mode!r}; valid: {', '.join(LEFTOVER_MODES)}")
    plan = plan._replace(leftovers=status.leftovers, leftovers_mode=mode)
    if mode == "end" and status.leftovers:
        named = [proc.as_dict() for proc in status.leftovers]
        plan = plan._replace(changes=plan.changes + (Change("leftovers", named, []),))
    return plan


def leftovers_text(procs):
    return "; ".join(proc.text for proc in procs)


def pidfile_steps(pidfile, client_pid=None):
    """The step that makes a stale pid file safe: removed, or naming ``client_pid``."""
    if client_pid is None:
        return (Step(("drop-pidfile", pidfile.path, pidfile.content), kind="file"),)
    return (Step(("write-pidfile", pidfile.path, pidfile.content, client_pid), kind="file"),)


def _with_pidfile(status, plan):
    """``plan`` with the init script's stale pid file made safe right before the script runs.

    The vendor's kind of script trusts its pid file.  Its start says "running" and starts
    nothing while the file names a live process, whatever it is: before a start the file is
    removed.  Its stop kills the pid the file names: before a stop (of a running client) the
    file is made to name the client, so the script stops the client and never another process;
    with several clients running, no one pid would do, and the plan is blocked.
    """
    if not (plan.stop_steps or plan.start_steps):
        return plan
    pidfile = status.pidfile
    old = {"path": pidfile.path, "pid": pidfile.pid}
    if not plan.stop_steps:
        return plan._replace(
            pidfile_steps=pidfile_steps(pidfile),
            changes=(Change("stale_pidfile", old, None),) + plan.changes,
        )
    if len(status.pids) != 1:
        return Plan(
            plan.action,
            changes=plan.changes,
            blocked=f"the init script {pidfile.script} trusts its pid file {pidfile.path}, which "
            f"names {pidfile.owner_text}, not the client; the script's stop kills the pid its "
            "pid file names, and with several clients running "
            f"(pid {pid_text(status.pids)}) no one pid written into it would stop them all, so "
            f"nothing was run. Stop the clients yourself (`kill {' '.join(map(str, status.pids))}`)"
            f" and remove {pidfile.path}",
        )
    client = status.pids[0]
    return plan._replace(
        pidfile_steps=pidfile_steps(pidfile, client),
        changes=(Change("stale_pidfile", old, {"path": pidfile.path, "pid": client}),)
        + plan.changes,
    )


def _run_plan(status, action, *, stop_watchdog, watchdog_stop_step, watchdog_blocked):
    # A client whose unit is being stopped is not "already running"; one that is down while
    # systemd will restart it (or is starting it) is not "already stopped".
    up = status.running and not status.stopping
    coming_back = not status.running and (status.restart_pending or _activating(status))
    changes = []
    blocked = None
    watchdog_stop_steps = ()
    if action == "stop" and stop_watchdog and status.watchdog.at_stake:
        if watchdog_blocked:
            blocked = watchdog_blocked
        else:
            watchdog_stop_steps = (watchdog_stop_step,)
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
    return Plan(
        action,
        watchdog_stop_steps=watchdog_stop_steps,
        stop_steps=stop,
        start_steps=start,
        changes=tuple(changes),
    )


def _with_boot(status, plan, enable, *, stop_watchdog):
    """``plan`` with the boot status: the steps that make it ``enable``, or what the action's
    own steps do to it (the vendor's ``chkconfig agentwatch off|on``)."""
    if plan.blocked:
        return plan._replace(enable=enable)
    boot_state = status.boot_state
    before = boot_state.enabled if boot_state else None
    after = before
    if status.branch.sets_boot and boot_state is not None and (plan.stop_steps or plan.start_steps):
        after = bool(plan.start_steps)
    changes, notes, boot_steps = list(plan.changes), [], ()
    if enable is not None and after != enable:
        why = boot_state.why_not(enable) if boot_state else "this host's boot status cannot be read"
        if why:
            return Plan(
                plan.action,
                changes=plan.changes,
                enable=enable,
                blocked="the client's service {} cannot be {} at boot: {}; "
                "nothing was run{}".format(
                    boot_state.service if boot_state else status.branch.service,
                    "enabled" if enable else "disabled",
                    why,
                    "" if plan.noop else " and the client was left as it is",
                ),
            )
        boot_steps, after = boot_state.steps(enable), enable
    if after != before:
        changes.append(Change("enabled", before, after))
    watchdog_boot_steps = ()
    if stop_watchdog and enable is False:
        watchdog_boot_steps, change, note = _watchdog_boot_steps(status.watchdog)
        changes += [change] if change else []
        notes += [note] if note else []
    elif enable is False and status.watchdog.boot_state and status.watchdog.boot_state.enabled:
        notes.append(
            f"the watchdog's {status.watchdog.boot_state.service} still starts at boot and may "
            "start the client again; "
            "stop_watchdog=True with enable=False disables it too"
        )
    return plan._replace(
        boot_steps=boot_steps,
        watchdog_boot_steps=watchdog_boot_steps,
        changes=tuple(changes),
        enable=enable,
        notes=tuple(notes),
    )


def _watchdog_boot_steps(watchdog):
    """``(steps, change, note)`` that keep the watchdog from starting at boot."""
    boot_state = watchdog.boot_state
    if boot_state is None:
        if not watchdog.running:
            return (), None, None
        return (
            (),
            None,
            (
                "the watchdog assist_daemon runs as a process that no boot registration "
                "cloudassist knows starts (no AssistDaemon.service, /etc/init.d/AssistDaemon or "
                "/etc/init/AssistDaemon.conf), so it was not disabled at boot; "
                "`assist_daemon --delete` removes its own registration"
            ),
        )
    if not boot_state.enabled:
        return (), None, None
    why = boot_state.why_not(False)
    if why:
        return (), None, f"the watchdog's {boot_state.service} could not be disabled at boot: {why}"
    return boot_state.disable, Change("watchdog_enabled", True, False), None


def _activating(status):
    return bool(status.unit and status.unit.active_state == "activating")


def changes_dict(changes):
    return {change.name: {"old": change.old, "new": change.new} for change in changes}


def already(status, action):
    """Why ``action`` has nothing to do: the sentence the module returns."""
    if action in ("enable", "disable"):
        boot_state = status.boot_state
        return "the client's service {} already {} at boot ({}); `{}` was not run".format(
            boot_state.service,
            "starts" if boot_state.enabled else "does not start",
            boot_state.how,
            steps_text(boot_state.steps(action == "enable")),
        )
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
    if plan.watchdog_boot_steps:
        parts.append(f"disable the watchdog at boot (`{steps_text(plan.watchdog_boot_steps)}`)")
    if plan.watchdog_stop_steps:
        parts.append(f"stop the watchdog assist_daemon (`{steps_text(plan.watchdog_stop_steps)}`)")
    if plan.pidfile_steps:
        parts.append(
            "{} the stale pid file, which names {} (`{}`)".format(
                "correct" if plan.stop_steps else "remove",
                status.pidfile.owner_text,
                steps_text(plan.pidfile_steps),
            )
        )
    between = []
    if plan.ends_leftovers and plan.leftovers:
        between.append(
            "end what the client leaves running (SIGTERM, then SIGKILL after the timeout): "
            + leftovers_text(plan.leftovers)
        )
    if plan.reset_steps:
        between.append(f"reset systemd's start limit (`{steps_text(plan.reset_steps)}`)")
    if plan.stop_steps and plan.start_steps and not between:
        parts.append(f"run `{steps_text(plan.stop_steps)}; {steps_text(plan.start_steps)}`")
    else:
        if plan.stop_steps:
            parts.append(f"run `{steps_text(plan.stop_steps)}`")
        parts += between
        if plan.start_steps:
            parts.append(f"run `{steps_text(plan.start_steps)}`")
    if plan.boot_steps:
        parts.append(
            "{} {} at boot (`{}`)".format(
                "enable" if plan.enable else "disable",
                status.boot_state.service,
                steps_text(plan.boot_steps),
            )
        )
    return "The Cloud Assistant client would be {}: would {} ({}).".format(
        want, " and then ".join(parts), status.branch.name
    )


def pid_text(pids):
    return ", ".join(str(p) for p in pids)
