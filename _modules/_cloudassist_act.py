"""Acting on a plan: run its steps in order, then read the truth again and check it holds.

Nothing here decides what to run (``plan`` does); nothing here trusts an exit
code for the result: the host's process table (Linux) or Service Control Manager (Windows)
is read after every phase.  A failure after a change names the change.
"""

import contextlib
import os
import signal
import time
from typing import NamedTuple

import _cloudassist_errors as errors
from _cloudassist_host import WATCHDOG_NAME
from _cloudassist_plan import LEFTOVER_ACTIONS, pid_text
from _cloudassist_records import steps_text

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

POLL = 0.1


class Outcome(NamedTuple):
    pids: tuple
    command: str
    warnings: tuple = ()
    enabled: object = None
    boot_command: str = ""
    leftovers: tuple = ()  # what the stopped client left running (Process), after the stop
    leftovers_ended: bool = False


@contextlib.contextmanager
def exclusive(path, timeout):
    """One change at a time on a minion: a racing job waits, then sees the true status."""
    if fcntl is None:
        yield
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as handle:
        deadline = time.monotonic() + 4 * timeout + 60
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise errors.Busy(
                        f"another cloudassist job on this minion has held {path} for too long; "
                        "nothing was changed. Try again when it has finished",
                        path=path,
                    ) from None
                time.sleep(POLL)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(POLL)


def carry_out(host, status, plan, *, settle):
    """Run ``plan`` on ``host`` and verify it: an ``Outcome``; a failure after a change is
    ``errors.PartlyDone``, which names every change already made."""
    if plan.blocked:
        raise errors.Blocked(plan.blocked)
    done = {}
    heard = []  # the result of every step that ran and succeeded, in order
    began = time.time()  # the journal is read from here on, should the action fail
    try:
        return _carry_out(host, status, plan, settle=settle, done=done, heard=heard)
    except errors.Failure as exc:
        # Only a failed action asks the host what it said (at most one journalctl).
        exc.heard(*host.host_said(status, since=began, heard=heard))
        if not done:
            raise
        raise errors.PartlyDone(cause=exc, done=done) from None


def _carry_out(host, status, plan, *, settle, done, heard):
    timeout = host.timeout
    warnings = list(plan.notes)
    pids = status.pids
    if plan.watchdog_boot_steps:
        command = _run_phase(host, status, plan.watchdog_boot_steps, heard=heard)
        watchdog = host.watchdog_now(status)
        if not watchdog.boot_state or watchdog.boot_state.enabled:
            raise errors.NotVerified(
                "ran `{}` but the watchdog still starts at boot ({}); "
                "the client was not stopped".format(
                    command,
                    watchdog.boot_state.how
                    if watchdog.boot_state
                    else "its boot status can no longer be read",
                ),
                command=command,
            )
        done[f"disabled the watchdog at boot with `{command}`"] = ("watchdog_enabled", True, False)
        warnings.append(f"disabled the watchdog at boot: `{command}`")
    if plan.watchdog_stop_steps:
        command = steps_text(plan.watchdog_stop_steps)
        for step in plan.watchdog_stop_steps:
            # assist_daemon --stop exits 0 whatever happens: only the process table tells.
            result = host.run_step(step, check=False)
            if result is not None:
                heard.append(result)
        if not wait_for(lambda: not host.watchdog_now(status).pids, timeout):
            raise errors.NotVerified(
                f"ran `{command}` but the watchdog is still running "
                f"({pid_text(host.watchdog_now(status).pids)}); the client was not stopped",
                command=command,
            )
        done[f"stopped the watchdog with `{command}`"] = ("watchdog", True, False)
        warnings.append(f"stopped the watchdog first: `{command}`")
    if plan.pidfile_steps:
        _fix_pidfile(host, status, plan, done=done)
    commands = []
    if plan.stop_steps:
        commands.append(_run_phase(host, status, plan.stop_steps, heard=heard))
        if plan.start_steps:
            _wait_stopped(host, status, commands[-1])
        else:
            warnings += _verify_stopped(host, status, commands[-1], settle=settle)
        if status.running:
            done[f"stopped the client with `{commands[-1]}`"] = ("running", True, False)
        else:
            done[f"cancelled the pending restart with `{commands[-1]}`"] = (
                "restart_pending",
                True,
                False,
            )
        pids = ()
    leftovers, ended = _leftovers(host, status, plan, done=done, warnings=warnings)
    if plan.reset_steps:
        command = _run_phase(host, status, plan.reset_steps, heard=heard)
        unit = host.unit_state(status)
        if unit.start_limit_hit:
            raise errors.NotVerified(
                f"ran `{command}` but systemd still refuses to start {unit.name} "
                f"({unit.state}, result {unit.result or 'unknown'}); the client was not started",
                command=command,
            )
        done[f"reset systemd's start limit of {unit.name} with `{command}`"] = (
            "start_limit_hit",
            True,
            False,
        )
    if plan.start_steps:
        commands.append(_run_phase(host, status, plan.start_steps, heard=heard))
        pids = verify_started(host, status, commands[-1], settle=settle)
        if status.running and plan.stop_steps:
            done.pop(f"stopped the client with `{commands[0]}`", None)
            done["restarted the client with `{}`".format("; ".join(commands))] = (
                "restarted",
                list(status.pids),
                list(pids),
            )
        else:
            done[f"started the client with `{commands[-1]}`"] = ("running", False, True)
    enabled, boot_command = _verify_boot(
        host, status, plan, commands=commands, done=done, heard=heard
    )
    return Outcome(
        pids=tuple(pids),
        command="; ".join(commands),
        warnings=tuple(warnings),
        enabled=enabled,
        boot_command=boot_command,
        leftovers=leftovers,
        leftovers_ended=ended,
    )


def _leftovers(host, status, plan, *, done, warnings):
    """After the stop: what the client left running, read again, then ended or named.
    ``(leftovers, ended)``."""
    if plan.action not in LEFTOVER_ACTIONS or not (plan.stop_steps or plan.leftovers):
        return (), False
    found = host.leftovers(status, client=host.client_pids(status))
    if not found:
        return (), False
    text = "; ".join(proc.text for proc in found)
    where = f"in {status.unit.name}" if status.unit is not None else "from its install folder"
    if not plan.ends_leftovers:
        warnings.append(
            f"the client left these processes running {where}, kept as leftovers=keep asks: "
            f"{text}. They may start the client again (its updater does); "
            "leftovers=end ends them"
        )
        return found, False
    _end(host, status, found, where=where)
    done[f"ended what the client left running {where}: {text}"] = (
        "leftovers",
        [proc.as_dict() for proc in found],
        [],
    )
    return found, True


def _end(host, status, procs, *, where):
    """SIGTERM, then SIGKILL for what is still there after the timeout; then none may be
    left."""

    def alive():
        return [proc for proc in procs if host.still_leftover(proc, status)]

    for proc in procs:
        host.signal(proc, signal.SIGTERM, status)
    if wait_for(lambda: not alive(), host.timeout):
        return
    for proc in alive():
        host.signal(proc, signal.SIGKILL, status)
    if wait_for(lambda: not alive(), min(host.timeout, 5)):
        return
    left = "; ".join(proc.text for proc in alive())
    raise errors.NotVerified(
        f"the client left processes running {where}; sent them SIGTERM and, "
        f"{host.timeout} s later, SIGKILL, but these are still running: {left}. "
        "See what holds them (`cat /proc/PID/status`, a process in uninterruptible sleep "
        "cannot be killed) and end them by hand",
        command="kill",
    )


def _fix_pidfile(host, status, plan, *, done):
    """Make the init script's stale pid file safe before the script runs: read it again, act
    only while it still holds what the plan saw, then check.  A refusal fails at once, before
    the script (which would trust the file) is called."""
    pidfile = status.pidfile
    (step,) = plan.pidfile_steps
    change = next(change for change in plan.changes if change.name == "stale_pidfile")
    dropping = step.argv[0] == "drop-pidfile"
    what = "remove it" if dropping else f"write the client's pid {step.argv[-1]} into it"
    pids = host.client_pids(status)
    now = host.pidfile_now(status, pids)
    if now.content == pidfile.content and not now.stale:
        return  # it names a running client now: the script will see that client
    if now.content == pidfile.content and (dropping or step.argv[-1] in pids):
        try:
            edited = host.run_step(step, branch=status.branch)
        except errors.CommandFailed as exc:
            raise errors.StalePidFile(
                f"the init script {pidfile.script} trusts its pid file {pidfile.path}, which "
                f"names {pidfile.owner_text}, not the client, and cloudassist could not {what} "
                f"(`{step.text}`: {exc.output}); {pidfile.script} was not called, as it would "
                "take that process for the client. Fix what keeps the file from being changed "
                f"(`lsattr {pidfile.path}` and `chattr -i` for an immutable file; a read-only "
                "file system; permissions), then try again",
                path=pidfile.path,
                pid=pidfile.pid,
                owner=pidfile.owner,
            ) from None
        if edited:
            now = host.pidfile_now(status, pids)
            if (now.content is not None) if dropping else (now.pid != step.argv[-1]):
                raise errors.NotVerified(
                    f"ran `{step.text}` but {pidfile.path} still names {now.owner_text}; "
                    f"{pidfile.script} was not called",
                    command=step.text,
                )
            done[f"made the stale pid file {pidfile.path} safe with `{step.text}`"] = change
            return
    if dropping and now.content is None and now.problem is None:
        return  # gone meanwhile: the start finds no stale file
    raise errors.StalePidFile(
        f"the pid file {pidfile.path} of the init script {pidfile.script} changed while "
        f"cloudassist was about to {what} (it named {pidfile.owner_text}; now "
        f"{'it is gone' if now.content is None else now.owner_text}); it was left as it is and "
        f"{pidfile.script} was not called. See cloudassist.status, then try again",
        path=pidfile.path,
        pid=pidfile.pid,
        owner=pidfile.owner,
    )


def _verify_boot(host, status, plan, *, commands, done, heard):
    """Run the boot steps, then read the boot status again: it must be what the plan said.
    ``(enabled, the boot command run)``."""
    wanted = {change.name: change.new for change in plan.changes}
    if not plan.boot_steps and "enabled" not in wanted:
        return status.enabled, ""
    want = plan.enable if plan.boot_steps else wanted["enabled"]
    command = _run_phase(host, status, plan.boot_steps, heard=heard) if plan.boot_steps else ""
    now = host.boot_now(status)
    if now.enabled != want:
        ran = "; ".join(commands + [command] if command else commands)
        raise errors.NotVerified(
            "ran `{}` but {} {} at boot ({})".format(
                ran,
                now.service,
                "still does not start" if want else "still starts",
                now.how,
            ),
            command=ran,
        )
    if command and "enabled" in wanted:
        done[
            "{} {} at boot with `{}`".format(
                "enabled" if want else "disabled", now.service, command
            )
        ] = (
            "enabled",
            status.enabled,
            want,
        )
    return now.enabled, command


def _run_phase(host, status, steps, *, heard):
    for step in steps:
        result = host.run_step(step, branch=status.branch)
        if result is not None:
            heard.append(result)
    return steps_text(steps)


def _wait_stopped(host, status, command):
    if not wait_for(lambda: not host.client_pids(status), host.timeout):
        raise errors.NotVerified(
            f"`{command}` succeeded but the client is still running after {host.timeout} s "
            f"(pid {pid_text(host.client_pids(status))}); nothing "
            f"else was tried ({status.branch.name})",
            command=command,
        )


def _verify_stopped(host, status, command, *, settle):
    """Stopped, not about to be restarted by systemd, and not brought back by the watchdog
    within ``settle`` seconds."""
    _wait_stopped(host, status, command)
    if status.unit is not None:
        unit = host.unit_state(status)
        if unit.restart_pending or unit.active_state in ("active", "activating"):
            raise errors.NotVerified(
                f"`{command}` ran and no client process is left, but systemd still has "
                f"{unit.name} {unit.state}: it will "
                f"start the client again. See `systemctl status {unit.name}`",
                command=command,
            )
    now = host.watchdog_now(status)
    watchdog = now.pids
    if not watchdog and not now.suspects:
        return []
    back = wait_for(lambda: host.client_pids(status), settle)
    if back and watchdog:
        raise errors.NotVerified(
            f"`{command}` stopped the client, but it was running again within {settle} s "
            f"(pid {pid_text(back)}): its "
            f"watchdog {WATCHDOG_NAME} (pid {pid_text(watchdog)}) restarted it. "
            "Stop the watchdog first: "
            "cloudassist.stop stop_watchdog=True",
            command=command,
        )
    if back:
        raise errors.NotVerified(
            f"`{command}` stopped the client, but it was running again within {settle} s "
            f"(pid {pid_text(back)}). {now.suspects_text()}",
            command=command,
        )
    if watchdog:
        return [
            f"the watchdog {WATCHDOG_NAME} (pid {pid_text(watchdog)}) is still running and may "
            "start the client again; "
            "stop it with stop_watchdog=True"
        ]
    return [now.suspects_text()]


def verify_started(host, status, command, *, settle):
    """Running, and still the same process ``settle`` seconds later: a new pid in that window
    is a crash loop or a restart, however long the client lived before it.  (``command``:
    what started it, a start or a package's install.)"""
    pids = wait_for(lambda: host.client_pids(status), host.timeout)
    if not pids:
        raise errors.NotVerified(
            f"`{command}` succeeded but the client is not running after {host.timeout} s "
            f"({status.branch.name}). Check the client's "
            "log and the service's own status",
            command=command,
        )
    first = set(pids)
    seen = set(pids)
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
        seen.update(host.client_pids(status))
    after = host.client_pids(status) if settle else pids
    unit = host.unit_state(status) if status.unit is not None and settle else None
    restarts = len(seen - first)
    if unit is not None and unit.n_restarts > status.unit.n_restarts:
        restarts = max(restarts, unit.n_restarts - status.unit.n_restarts)
    if not after:
        raise errors.NotVerified(
            "`{}` started the client (pid {}) but it exited within {} s{}. Check the "
            "client's log".format(
                command,
                pid_text(pids),
                settle,
                f" and was restarted {restarts} time(s)" if restarts else "",
            ),
            command=command,
        )
    if restarts or not first.intersection(after):
        raise errors.NotVerified(
            "`{}` started the client (pid {}), but within {} s it was restarted {} time(s) "
            "(now pid {}): a crash loop or a restart, not a client that stays up. Check the "
            "client's log{}".format(
                command,
                pid_text(pids),
                settle,
                max(restarts, 1),
                pid_text(after),
                f" and `systemctl status {status.unit.name}`" if status.unit is not None else "",
            ),
            command=command,
        )
    return after
