"""
Stop, start, restart and inspect the Alibaba Cloud Assistant client.

The client is ``aliyun-service`` on Linux and the service ``AliyunService`` on Windows.
Each minion decides for itself how to manage it, as the vendor's procedure says: by
platform, then by client version (``aliyun-service -v``), then by init system (see
``_modules/_cloudassist_procedure.py`` for the table).  Every action re-reads the status
afterwards and raises ``CommandExecutionError`` when the client is not in the state that
was asked for.  A failed action's error ends with what the host itself said since the action
began: the last lines of the client unit's journal under systemd, the init script's or
``initctl``'s output under sysvinit and upstart (at most 20 lines).

Configuration (minion config or pillar, under ``cloudassist``):

binary
    Path of the client binary (default: ``/usr/sbin/aliyun-service``,
    ``/opt/sbin/aliyun-service``, then ``aliyun-service`` on the PATH).
init_system
    ``systemd``, ``upstart`` or ``sysvinit``: skip detection.
timeout
    Seconds any one command may take (default 30).
settle
    Seconds a started client must stay up, and a stopped one down while its watchdog
    runs, before the result is reported (default 2).
watchdog
    Path of the watchdog ``assist_daemon``
    (default ``/usr/local/share/assist-daemon/assist_daemon``); a process is the watchdog
    only when its executable is this file (or systemd runs it as ``AssistDaemon.service``).
windows_root
    Where the client's version folders are on Windows (default
    ``%ProgramData%\\aliyun\\assist``).
reset_failed
    Whether ``start``, ``restart`` and the ``running`` state may run ``systemctl reset-failed``
    where systemd has given up on the client's unit (default True).
version_cache
    Linux: whether the client's version is kept in the minion's cache folder and given again
    without running ``aliyun-service -v`` while the binary is the same file (default True).
"""

import functools
import importlib.util
import logging
import os
import re

import salt.exceptions
import salt.utils.platform

# The library: the _cloudassist_*.py files beside the execution module, in every install (pip,
# sync, salt-ssh); _modules/_cloudassist_lib.py says why it lies there and is imported so.
_LIB = re.sub(
    r"[a-z]+([\\/])cloudassist\.py$", r"modules\1_cloudassist_lib.py", os.path.abspath(__file__)
)
if os.path.isfile(_LIB):  # else __virtual__ says what is missing
    _spec = importlib.util.spec_from_file_location("_cloudassist_lib", _LIB)
    _spec.loader.exec_module(_cloudassist_lib := importlib.util.module_from_spec(_spec))
    with _cloudassist_lib.imported():
        import _cloudassist_args as args
        import _cloudassist_config as settings
        import _cloudassist_errors as errors
        import _cloudassist_host as hosts
        import _cloudassist_install as copies
        import _cloudassist_updates as updater

log = logging.getLogger(__name__)

# The library modules that plan and make a change, set by _changing() on the first call that
# may make one: status, version and enabled never import them (every job loads this module
# afresh, and a fleet-wide status pays only for what it runs).
act = plans = packages = None

__virtualname__ = "cloudassist"

DEFAULT_TIMEOUT = 30
DEFAULT_SETTLE = 2.0

STOP_WARNING = (
    "Stopping the Cloud Assistant client means this instance no longer receives Cloud "
    "Assistant commands; Alibaba Cloud warns that it may make the instance misbehave and keep "
    "the ECS console from stopping it."
)


def __virtual__():
    if not os.path.isfile(_LIB):
        return (
            False,
            f"cloudassist: {_LIB} is missing: sync the execution modules too, with "
            "saltutil.sync_all (salt-run saltutil.sync_all on a master)",
        )
    if not (salt.utils.platform.is_linux() or salt.utils.platform.is_windows()):
        return (False, "cloudassist: the Cloud Assistant client runs on Linux and Windows only")
    refusal = copies.refusal(__file__)
    if refusal:
        return (False, refusal)
    return __virtualname__


def _at_salts_boundary(function):
    """A library failure leaves a public function as ``errors.Failed``: a
    ``CommandExecutionError`` with the same text and the changes made before it (the states
    report those)."""

    @functools.wraps(function)
    def public(*positional, **keywords):
        try:
            return function(*positional, **keywords)
        except errors.Failure as exc:
            raise errors.Failed(exc) from exc

    return public


def _configuration():
    """This call's ``cloudassist:`` configuration, ``get(key, default)``: read once, in
    ``config.get``'s order but never from grains (the ``cloudassist`` grain has keys of the same
    names, and a grain must never pass for the operator's setting)."""
    return settings.reader(__opts__, __pillar__)


def _seconds(name, value, default, *, config, allow_zero=False):
    if value is None:
        return args.seconds(
            "the config key cloudassist:" + name, config(name, default), allow_zero=allow_zero
        )
    return args.seconds("the argument " + name, value, allow_zero=allow_zero)


def _changing():
    global act, plans, packages
    if act is not None:
        return
    with _cloudassist_lib.imported():
        import _cloudassist_act
        import _cloudassist_package
        import _cloudassist_plan
    if _cloudassist_act.errors is not errors:
        # imported() found the library's files changed since this module was loaded (a sync
        # ran in between): the two halves must not be mixed in one call.
        raise errors.LibraryChanged(folder=os.path.dirname(_LIB))
    act, plans, packages = _cloudassist_act, _cloudassist_plan, _cloudassist_package


def _host(timeout, config=None):
    platform = "windows" if salt.utils.platform.is_windows() else "linux"
    if config is None:
        config = _configuration()
    return hosts.host_for(
        platform,
        config,
        __salt__,
        timeout=_seconds("timeout", timeout, DEFAULT_TIMEOUT, config=config),
        cache_dir=_cache_dir(),
    )


def _cache_dir():
    """Where the client's version is kept between calls (the grain keeps it there too)."""
    cachedir = __opts__.get("cachedir")
    return os.path.join(cachedir, "cloudassist") if cachedir else None


def _do(
    action,
    timeout=None,
    settle=None,
    *,
    stop_watchdog=False,
    test=False,
    enable=None,
    reset_failed=None,
    leftovers=None,
):
    _changing()
    config = _configuration()
    host = _host(timeout, config)
    settle = _seconds("settle", settle, DEFAULT_SETTLE, config=config, allow_zero=True)
    stop_watchdog = args.flag("the argument stop_watchdog", stop_watchdog)
    if reset_failed is None:
        reset_failed = args.flag(
            "the config key cloudassist:reset_failed", config("reset_failed", True)
        )
    else:
        reset_failed = args.flag("the argument reset_failed", reset_failed)
    test = args.flag("the argument test", test)
    if leftovers is None:
        leftovers = args.choice(
            "the config key cloudassist:leftovers",
            config("leftovers", "end"),
            args.LEFTOVER_MODES,
        )
    else:
        leftovers = args.choice("the argument leftovers", leftovers, args.LEFTOVER_MODES)
    if enable is not None:
        enable = args.flag("the argument enable", enable)
    if action == "stop" and not test:
        log.warning("cloudassist: %s", STOP_WARNING)
    lock = os.path.join(__opts__["cachedir"], "cloudassist.lock")
    with act.exclusive(lock, host.timeout):
        status = host.status()
        if action in plans.LEFTOVER_ACTIONS and status.running:
            # What the running client has started, which a stop may leave behind.
            status = status._replace(leftovers=host.leftovers(status))
        watchdog_stop_step = watchdog_blocked = None
        if stop_watchdog and status.watchdog.at_stake:
            try:
                watchdog_stop_step = host.watchdog_stop_step(status)
            except errors.Blocked as exc:  # the plan says so, as for test=True
                watchdog_blocked = exc.reason
        plan = plans.make(
            status,
            action,
            stop_watchdog=stop_watchdog,
            watchdog_stop_step=watchdog_stop_step,
            watchdog_blocked=watchdog_blocked,
            enable=enable,
            reset_failed=reset_failed,
            leftovers=leftovers,
        )
        if test:
            if plan.blocked:
                raise errors.Blocked(plan.blocked)
            return _predicted(status, plan)
        try:
            outcome = act.carry_out(host, status, plan, settle=settle)
        except errors.Failure as exc:
            if exc.changes:
                _refresh_grains()
            raise
    if plan.changes:
        _refresh_grains()
    return _result(status, plan, outcome)


def _refresh_grains():
    """The ``cloudassist`` grain tells the version and boot status: refresh it after a change.

    With the pillar, as Salt's default: the pillar request carries the new grains to the
    master's cache, which ``salt -G`` reads to know which minions to wait for; without it, a
    minion targeted by its new version is published to but not waited for."""
    try:
        __salt__["saltutil.refresh_grains"]()
    except Exception as exc:  # pylint: disable=broad-except
        # The change is made and verified; a stale grain must not turn it into a failure.
        log.warning("cloudassist: could not refresh the grains after a change: %s", exc)


def _result(status, plan, outcome):
    """The documented return of every action, after the real run."""
    action = plan.action
    changes = plans.changes_dict(plan.changes)
    if "restarted" in changes:
        changes["restarted"]["new"] = list(outcome.pids)
    changes.pop("leftovers", None)
    if outcome.leftovers_ended:
        changes["leftovers"] = {"old": [proc.as_dict() for proc in outcome.leftovers], "new": []}
    boot_done = "{} {} at boot with `{}`".format(
        "enabled" if plan.enable else "disabled",
        status.boot_state.service if status.boot_state else "",
        outcome.boot_command,
    )
    if action in ("enable", "disable"):
        command = outcome.boot_command or _idle_command(status, action)
        comment = boot_done if plan.boot_steps else plans.already(status, action)
    elif not (plan.stop_steps or plan.start_steps):
        command, comment = _idle_command(status, action), plans.already(status, action)
        if plan.boot_steps:
            command, comment = outcome.boot_command, comment + "; " + boot_done
    elif action == "restart":
        command = outcome.command
        comment = "restarted the client with `{}` (pid {} -> {})".format(
            command, plans.pid_text(status.pids) or "none", plans.pid_text(outcome.pids)
        )
    else:
        command = outcome.command
        comment = "{} the client with `{}`".format(
            "stopped" if action == "stop" else "started", command
        )
    if (
        plan.boot_steps
        and action not in ("enable", "disable")
        and (plan.stop_steps or plan.start_steps)
    ):
        command = "; ".join((command, outcome.boot_command))
        comment += " and " + boot_done
    if outcome.leftovers_ended:
        comment += "; ended what it left running (SIGTERM, SIGKILL after the timeout): " + (
            plans.leftovers_text(outcome.leftovers)
        )
    result = _boundary(
        status,
        plan,
        bool(outcome.pids),
        pids=outcome.pids,
        command=command,
        comment=comment,
        changes=changes,
        enabled=outcome.enabled,
        leftovers=outcome.leftovers,
    )
    if outcome.warnings:
        result["warnings"] = list(outcome.warnings)
    return result


WANTS = {
    "stop": "stopped",
    "start": "running",
    "restart": "restarted",
    "enable": "started at boot",
    "disable": "kept from starting at boot",
}


def _predicted(status, plan):
    """The same return under test=True: what would be, with nothing run."""
    changes = plans.changes_dict(plan.changes)
    if plan.noop:
        comment = plans.already(status, plan.action)
    else:
        comment = plans.describe(status, plan, WANTS[plan.action])
    phases = [
        plans.steps_text(phase)
        for phase in (plan.stop_steps, plan.start_steps, plan.boot_steps)
        if phase
    ]
    command = "; ".join(phases) or _idle_command(status, plan.action)
    running = changes["running"]["new"] if "running" in changes else status.running
    enabled = changes["enabled"]["new"] if "enabled" in changes else status.enabled
    result = _boundary(
        status,
        plan,
        running,
        pids=status.pids if running else (),
        command=command,
        comment=comment,
        changes=changes,
        enabled=enabled,
        leftovers=plan.leftovers,
    )
    warnings = list(plan.notes)
    if plan.leftovers and not plan.ends_leftovers:
        warnings.append(
            "these processes of the client would be left running, as leftovers=keep asks: "
            + plans.leftovers_text(plan.leftovers)
        )
    if warnings:
        result["warnings"] = warnings
    result["test"] = True
    return result


def _switch_updates(action, timeout, *, test):
    """``freeze_updates`` and ``allow_updates``: the markers to make or remove, decided from
    what the client reads now, then (unless ``test``) done under the minion's lock and read
    again."""
    test = args.flag("the argument test", test)
    host = _host(timeout)
    want = action == "freeze"
    if test:
        return _updates_result(*_updates_todo(action, host), action)
    _changing()
    lock = os.path.join(__opts__["cachedir"], "cloudassist.lock")
    with act.exclusive(lock, host.timeout):
        before, todo = _updates_todo(action, host)
        if not todo:
            return _updates_result(before, (), action, done=True)
        try:
            if want:
                done = updater.create(before.config_dir, todo)
            else:
                done = updater.remove(todo)
        except errors.PartlyDone:
            _refresh_grains()
            raise
        after = host.updates_now()
        left = updater.not_yet(todo, present=want)
        if left or after.frozen != want or after.bootstrap_frozen != want:
            raise errors.NotVerified(
                "cloudassist.{}: the markers were {}, but read again the client's updates are "
                "{} ({}){}".format(
                    updater.ACTIONS[action],
                    "made" if want else "removed",
                    "frozen" if after.frozen else "allowed",
                    ", ".join(after.markers) or "no marker present",
                    "; still {}: {}".format("missing" if want else "present", ", ".join(left))
                    if left
                    else "",
                ),
                command=updater.ACTIONS[action],
            )
    if done:
        _refresh_grains()
    return _updates_result(before, done, action, done=True, after=after)


def _updates_todo(action, host):
    """``(Updates now, the marker paths to make or remove)``."""
    state = host.updates_now()
    if action == "freeze":
        return state, updater.to_freeze(state, paths=host.paths)
    return state, updater.to_allow(state, paths=host.paths)


def _updates_result(before, todo, action, *, done=False, after=None):
    """The return of ``freeze_updates``/``allow_updates``: ``updates``' dict as it is (or would
    be), with ``changed``, ``changes`` and ``comment`` (and ``test: True`` in test mode)."""
    want = action == "freeze"
    if after is None:  # test mode, or nothing to do: what would be
        after = before
        if todo:
            made = tuple(path for path in todo if path != before.config_dir)
            present = set(before.markers + made)
            markers = tuple(path for path in before.checked if path in present) if want else ()
            after = before._replace(
                markers=markers, frozen=want, bootstrap_frozen=want, installed_frozen=want
            )
    changes = {
        key: {"old": getattr(before, key), "new": getattr(after, key)}
        for key in ("frozen", "bootstrap_frozen")
        if getattr(before, key) != getattr(after, key)
    }
    if todo:
        changes["created" if want else "removed"] = (
            {"old": [], "new": list(todo)} if want else {"old": list(todo), "new": []}
        )
    result = after.as_dict()
    what = "frozen" if want else "allowed"
    if not todo:
        comment = (
            f"the client's updates are already frozen in {before.config_dir}"
            if want
            else "the client's updates are already allowed: no marker it reads is present"
        )
    elif done:
        comment = "the client's updates are {}: {} {}".format(
            what, "created" if want else "removed", ", ".join(todo)
        )
    else:
        comment = "the client's updates would be {}: would {} {}".format(
            what, "create" if want else "remove", ", ".join(todo)
        )
    result.update(changed=bool(changes), changes=changes, comment=comment)
    if not done:
        result["test"] = True
    return result


def _idle_command(status, action):
    if action in ("enable", "disable"):
        return plans.steps_text(status.boot_state.steps(action == "enable"))
    return status.command("stop" if action == "stop" else "start")


def _boundary(status, plan, running, *, pids, command, comment, changes, enabled, leftovers=()):
    result = {
        "running": running,
        "enabled": enabled,
        "changed": bool(changes),
        "init_system": status.init.init_system,
        "service": status.branch.service,
        "version": status.version,
        "command": command,
        "pids": list(pids),
        "pids_before": list(status.pids),
        "comment": comment,
        "changes": changes,
    }
    if plan.action in plans.LEFTOVER_ACTIONS:
        result["leftovers"] = [proc.as_dict() for proc in leftovers]
    if plan.action == "stop":
        result["warning"] = STOP_WARNING
        result["watchdog_stopped"] = bool(plan.watchdog_stop_steps)
    return result


# --- public functions ---------------------------------------------------------------------


@_at_salts_boundary
def version(timeout=None):
    """
    Return the installed Cloud Assistant client's version, e.g. ``'2.2.3.578'``.

    Linux: what ``aliyun-service -v`` says (the line that is a version; anything else the
    client prints is ignored), read again whenever the binary changed: it is kept in the
    minion's cache folder while the binary is the very same file (its link, the file it leads
    to, device, inode, size, mtime and ctime), so a call then runs nothing
    (``cloudassist:version_cache: false`` runs ``-v`` every time).  Windows:
    ``aliyun_assist_service.exe --version`` of the binary the ``AliyunService`` configuration
    names, else of the newest version folder, read every time.

    timeout
        Seconds the command may take (default: ``cloudassist:timeout``, else 30).

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.version
    """
    return _host(timeout).version()


@_at_salts_boundary
def status(timeout=None):
    """
    Return what this minion knows about its Cloud Assistant client.

    The dict holds ``installed``, ``running`` (whether a client process is running, read
    from the process table or the Service Control Manager), ``pids``, ``version`` (as
    ``cloudassist.version`` reads it),
    ``init_system`` (``systemd``, ``upstart``, ``sysvinit`` or ``windows``), ``service``
    (the unit, job, script or Windows service the vendor's procedure manages here),
    ``branch``, ``commands`` (what ``stop`` and ``start`` would run), ``decided_by`` and
    ``evidence`` (how the init system was decided, most trusted source first),
    ``enabled`` (whether the client's service starts at boot, None where that cannot be
    told) and ``boot`` (how that was read, and the commands that would change it),
    ``watchdog`` (``running``, ``pids``, ``form``: ``unit`` for systemd's
    ``AssistDaemon.service``, ``service`` on Windows, ``process`` otherwise, ``service`` and
    ``enabled``: its boot registration, and ``others``: processes named ``assist_daemon``
    that are not this host's watchdog, with why), ``blocked`` (why ``stop``/``start`` cannot run
    here, e.g. a missing ``chkconfig``, or None), and ``leftovers``: for a stopped client, the
    processes it left running (pid, exe, cmdline; under systemd those in its unit, elsewhere
    those whose program lies in its install folder; see ``stop``), empty while it runs;
    ``updates``: whether the client may update itself (the dict ``cloudassist.updates``
    returns; None where its binary is not known).

    Where the branch runs an init script (sysvinit), ``pidfile`` is the script's pid file:
    ``path`` (the script's ``PIDFILE=`` when it is a plain absolute path, else the vendor's
    ``/var/run/aliyun-service.pid``), ``source`` (which of the two), ``pid`` (the pid it names,
    None when it holds none), ``owner`` (that live process: ``pid``, ``comm``, ``exe``,
    ``cmdline``; None when no process has the pid), ``stale`` (the file is there but does not
    name a running client: the script would take another program, or nothing, for the
    client) and ``problem`` (why it was not read, e.g. a link).  Two small file reads; no
    process is started.

    On a minion without the client the call succeeds all the same: ``installed`` is False,
    ``comment`` says where the client was looked for (``looked_in`` lists those places), and
    ``platform``, ``init_system``, ``decided_by`` and ``evidence`` are what the minion still
    knows (``init_problem`` says why the init system cannot be told, where it cannot); the
    other keys are None or empty.  ``stop``, ``start`` and the states fail there, saying the
    client is not installed.

    timeout
        Seconds any command may take (default: ``cloudassist:timeout``, else 30).

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.status
        salt -G 'cloudassist:installed:False' cloudassist.status --out=json
    """
    host = _host(timeout)
    try:
        return host.status().as_dict()
    except errors.NotInstalled as exc:
        # An inventory over a mixed fleet: a minion without the client answers, it does not
        # fail the job.  The actions still fail with the same sentence.
        return host.no_client(exc).as_dict()


@_at_salts_boundary
def stop(timeout=None, settle=None, stop_watchdog=False, test=False, enable=None, leftovers=None):
    """
    Stop the Cloud Assistant client with the command the vendor's procedure gives for this
    minion, then check that it really stopped.

    Stopping the client means the instance no longer receives Cloud Assistant commands, and
    the vendor warns it can make the instance misbehave: the warning is logged and returned.

    The init script's stale pid file (sysvinit, see ``status``): before the script's stop of a
    running client the file is made to name the client (``echo PID > FILE``, in ``changes`` as
    ``stale_pidfile``), since the script kills the pid its file names and would otherwise kill
    another program; with several clients running nothing is run and the call fails.

    timeout
        Seconds each command may take, and the client may take to stop (default 30).
    settle
        Seconds to watch for a restart by the watchdog ``assist_daemon`` when it runs
        (default 2).

    stop_watchdog
        Stop the watchdog first (``systemctl stop AssistDaemon.service`` where that unit runs
        it, ``assist_daemon --stop`` otherwise), so it cannot restart the client (default
        False).  With ``enable=False`` the watchdog is also kept from starting at boot.
        A process named ``assist_daemon`` on this host that runs from another file than
        ``cloudassist:watchdog`` makes it an error before anything runs.
    enable
        ``False``: also keep the client from starting at boot (see ``disable``); ``True``:
        make it start at boot; absent: leave boot alone.
    leftovers
        What to do with the processes the client leaves running when it stops: under
        systemd those still in its unit (the vendor's unit has ``KillMode=process``, so
        ``systemctl stop`` ends only the client, and its updater ``aliyun_assist_update`` or a
        console command it runs stays), elsewhere those whose program lies in the client's
        install folder (``/usr/local/share/aliyun-assist``).  ``end`` (the default): SIGTERM,
        then SIGKILL for what is left after ``timeout``, checked, and named in ``changes``
        (``leftovers``); the updater could otherwise install and start the client again.
        ``keep``: they are named in a warning and left running.  Either way the return's
        ``leftovers`` lists them (pid, exe, cmdline).  Nothing outside the client's unit or
        install folder is touched, nor this job itself.  Default: ``cloudassist:leftovers``,
        else ``end``.
    test
        Only say what would be done: the same return, with ``test: True``, the predicted
        ``running`` and ``changes``, and a comment naming the commands that would run.
        Nothing is run on the host (default False).

    Raises an error naming the command, its exit code and output when the command fails, or
    when the client is still (or again) running afterwards; it ends with what the host said
    since the stop began (the unit's journal under systemd, the init script's output
    otherwise: at most 20 lines).

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.stop
        salt '*' cloudassist.stop stop_watchdog=True
        salt '*' cloudassist.stop test=True
        salt '*' cloudassist.stop stop_watchdog=True enable=False
        salt '*' cloudassist.stop leftovers=keep
    """
    return _do(
        "stop",
        timeout=timeout,
        settle=settle,
        stop_watchdog=stop_watchdog,
        test=test,
        enable=enable,
        leftovers=leftovers,
    )


@_at_salts_boundary
def start(timeout=None, settle=None, test=False, enable=None, reset_failed=None):
    """
    Start the Cloud Assistant client with the command the vendor's procedure gives for this
    minion, then check that it is running and stays up for ``settle`` seconds.

    Under sysvinit a stale pid file of the init script (``status`` shows it as ``pidfile`` with
    ``stale: True``: it names another program's pid, or none) is removed first (``rm -f FILE``),
    as a planned step: in the ``test=True`` comment and in ``changes`` as ``stale_pidfile``.  It
    is removed only while it still holds what was read.  Where the host refuses (an immutable
    file, a read-only file system) the call fails at once, naming the file and the pid's owner,
    and the script is not called.

    timeout
        Seconds each command may take, and the client may take to appear (default 30).
    settle
        Seconds the started client must stay up (default 2).
    test
        Only say what would be done: the same return, with ``test: True``, the predicted
        ``running`` and ``changes``, and a comment naming the commands that would run.
        Nothing is run on the host (default False).
    enable
        ``True``: the client's service also starts at boot; ``False``: it does not; absent:
        boot is left alone.
    reset_failed
        Where systemd has given up on the client's unit (its start limit was hit, which
        ``status`` shows as ``start_limit_hit``), run ``systemctl reset-failed UNIT`` before
        the start, as a planned step (in ``changes`` as ``start_limit_hit``, and in the
        ``test=True`` comment).  ``False`` forbids it: the call then fails, naming the unit and
        the command.  Default: ``cloudassist:reset_failed``, else True.

    Raises an error naming the command when it fails, or when the client does not come up or
    does not stay up; it ends with what the host said since the start began (the unit's
    journal under systemd, the init script's or ``initctl``'s output otherwise: at most 20
    lines).

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.start
        salt '*' cloudassist.start test=True
        salt '*' cloudassist.start enable=True
        salt '*' cloudassist.start reset_failed=False
    """
    return _do(
        "start", timeout=timeout, settle=settle, test=test, enable=enable, reset_failed=reset_failed
    )


@_at_salts_boundary
def restart(timeout=None, settle=None, test=False, enable=None, reset_failed=None, leftovers=None):
    """
    Restart the Cloud Assistant client: the vendor's stop command (when it runs), then its
    start command, each checked.  A stopped client is just started.  The init script's stale
    pid file is handled as for ``stop`` (a running client) or ``start`` (a stopped one).

    timeout
        Seconds each command may take, and the client may take to stop or appear (default 30).
    settle
        Seconds the started client must stay up (default 2).
    test
        Only say what would be done: the same return, with ``test: True``, the predicted
        ``running`` and ``changes``, and a comment naming the commands that would run.
        Nothing is run on the host (default False).
    enable
        As for ``start``.
    reset_failed
        As for ``start``: whether a unit systemd has given up on is reset first.
    leftovers
        As for ``stop``: what the stopped client left running is ended (``end``, the
        default) before the start, or kept (``keep``).

    Raises as ``stop`` and ``start`` do, the error ending with what the host said since the
    restart began; a start that fails after the stop names the stop as already done.

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.restart
        salt '*' cloudassist.restart test=True
    """
    return _do(
        "restart",
        timeout=timeout,
        settle=settle,
        test=test,
        enable=enable,
        reset_failed=reset_failed,
        leftovers=leftovers,
    )


@_at_salts_boundary
def enabled(timeout=None):
    """
    Return True when the Cloud Assistant client's service starts at boot, else False.

    Read as the init system reads it at the next boot: systemd's ``UnitFileState`` of the
    unit that manages the client, the ``S`` links in ``/etc/rc[2-5].d`` (sysvinit, and the
    vendor's ``agentwatch`` of clients 1.0.1.308 and older), the job's ``.override`` file
    (upstart), the service's start type (Windows).  ``cloudassist.status`` says how it was
    read.  A service whose boot status cannot be told (a unit without an ``[Install]``
    section) is an error that says so.

    timeout
        Seconds any command may take (default: ``cloudassist:timeout``, else 30).

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.enabled
    """
    status = _host(timeout).status()
    if status.enabled is None:
        raise errors.Unreadable(
            f"whether {status.boot_state.service} starts at boot cannot be told: "
            f"{status.boot_state.how}",
            what="boot",
        )
    return status.enabled


@_at_salts_boundary
def enable(timeout=None, test=False):
    """
    Make the Cloud Assistant client's service start at boot, with the command its init
    system uses, then read the boot status again and check it.

    systemd: ``systemctl enable`` of the unit that manages the client (``agentwatch`` for
    clients 1.0.1.308 and older); upstart: the ``manual`` stanza is removed from
    ``/etc/init/aliyun-service.override``; sysvinit: ``update-rc.d aliyun-service defaults``
    and ``enable``, or ``chkconfig --add`` and ``on``, whichever the host has (clients
    1.0.1.308 and older: the vendor's ``chkconfig agentwatch on``); Windows: the start type
    of ``AliyunService`` becomes automatic.  Nothing is started now.

    Returns the dict ``stop``/``start`` return, with ``enabled``, ``changes``
    (``enabled: {old, new}`` only when the boot status changed) and ``comment``.

    timeout
        Seconds each command may take (default 30).
    test
        Only say what would be done (default False).

    Raises an error naming the command when it fails or the boot status read back is not
    what was asked; it ends with what the host said since the change began (as for
    ``stop``).

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.enable
        salt '*' cloudassist.enable test=True
    """
    return _do("enable", timeout=timeout, test=test)


@_at_salts_boundary
def disable(timeout=None, test=False):
    """
    Keep the Cloud Assistant client's service from starting at boot, with the command its
    init system uses, then read the boot status again and check it.  A running client keeps
    running; ``cloudassist.stop enable=False`` stops it too.

    systemd: ``systemctl disable`` of the unit that manages the client; upstart: ``manual``
    in ``/etc/init/aliyun-service.override``; sysvinit: ``update-rc.d aliyun-service
    disable`` or ``chkconfig aliyun-service off`` (clients 1.0.1.308 and older: the
    vendor's ``chkconfig agentwatch off``); Windows: the start type of ``AliyunService``
    becomes disabled.  Where the watchdog still starts at boot, the return's ``warnings`` say
    so.

    timeout
        Seconds each command may take (default 30).
    test
        Only say what would be done (default False).

    Raises an error naming the command when it fails or the boot status read back is not
    what was asked; it ends with what the host said since the change began (as for
    ``stop``).

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.disable
        salt '*' cloudassist.disable test=True
    """
    return _do("disable", timeout=timeout, test=test)


@_at_salts_boundary
def updates(timeout=None):
    """
    Return whether the Cloud Assistant client may update itself, as the client decides it.

    The client skips its self-update while a file ``disable_update`` exists in its
    cross-version config folder (``<install root>/config``, read by every version: on Linux
    ``/usr/local/share/aliyun-assist/config``, on Windows
    ``C:\\ProgramData\\aliyun\\assist\\config``) or in the ``config`` folder of the version
    folder its binary lies in (that version only); ``disable_bootstrap_update`` in the same
    two places skips the update when it starts.  What a file holds does not matter.  After a
    self-update the running client can be an older version folder's binary than the installed
    one: the running client's folder counts, and the installed one's is read too.

    The dict holds ``frozen`` and ``bootstrap_frozen`` (a ``disable_update``, a
    ``disable_bootstrap_update`` the client reads exists), ``markers`` (the marker files
    present, of those read), ``config_dir`` (the cross-version config folder),
    ``version_dir`` (the version folder whose ``config`` counts), ``version_dir_of``
    (``running``: the running client's; ``installed``: the installed binary's, no client
    runs), ``installed_version_dir`` and ``installed_frozen`` (what the installed version
    reads, which runs after the next restart).  ``cloudassist.status`` gives the same dict as
    ``updates``.  A few ``stat`` calls; no program is run.  A client that is not installed is
    an error, as for the actions.

    timeout
        Seconds any command may take (default: ``cloudassist:timeout``, else 30).

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.updates
    """
    return _host(timeout).updates_now().as_dict()


@_at_salts_boundary
def freeze_updates(timeout=None, test=False):
    """
    Keep the Cloud Assistant client from updating itself: create ``disable_update`` and
    ``disable_bootstrap_update`` in its cross-version config folder
    (``<install root>/config``, made with mode 0755 where it is missing; the files empty, mode
    0644, owned by root), which every version reads, so the freeze outlasts a change of
    version.  Then the markers are read again and checked.

    Nothing else is changed: the client keeps running, and Salt's ``pkg.hold`` (which pins the
    package manager's version) is neither needed nor enough, since the client's own updater
    does not go through the package manager.  Already frozen there: nothing is done
    (``changed`` False).  A marker or folder that is a link, a directory or not a plain file
    is an error, and nothing is changed.

    Returns ``updates``' dict after the change, with ``changed``, ``comment`` and ``changes``:
    ``created`` (``old: []``, ``new``: the paths made) and ``frozen`` / ``bootstrap_frozen``
    (``old``, ``new``) where they changed.

    timeout
        Seconds any command may take (default: ``cloudassist:timeout``, else 30).
    test
        Only say what would be created: the same return, with ``test: True``; nothing is
        changed (default False).

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.freeze_updates test=True
        salt '*' cloudassist.freeze_updates
    """
    return _switch_updates("freeze", timeout, test=test)


@_at_salts_boundary
def allow_updates(timeout=None, test=False):
    """
    Let the Cloud Assistant client update itself again: remove every ``disable_update`` and
    ``disable_bootstrap_update`` it reads (in the cross-version config folder, and in the
    ``config`` folder of its running and of its installed version folder), then read them
    again and check.

    A marker that is a directory or a symbolic link (or lies in a folder that is a link) is
    neither followed nor removed: the call fails naming it, and nothing is changed.  No
    marker present: nothing is done (``changed`` False).

    Returns ``updates``' dict after the change, with ``changed``, ``comment`` and ``changes``:
    ``removed`` (``old``: the paths removed, ``new: []``) and ``frozen`` /
    ``bootstrap_frozen`` (``old``, ``new``) where they changed.

    timeout
        Seconds any command may take (default: ``cloudassist:timeout``, else 30).
    test
        Only say what would be removed: the same return, with ``test: True``; nothing is
        changed (default False).

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.allow_updates test=True
        salt '*' cloudassist.allow_updates
    """
    return _switch_updates("allow", timeout, test=test)


@_at_salts_boundary
def install(
    source,
    version=None,
    source_hash=None,
    timeout=None,
    test=False,
    allow_downgrade=False,
    settle=None,
):
    """
    Install or upgrade the Cloud Assistant client from its package, then check that the
    package, the binary and the running client are all at the package's version.

    The package tool is the minion's own, chosen from its PATH (the ``os_family`` grain
    settles a host that has both dpkg and rpm); none of them: the call fails, saying so, and
    changes nothing.

    - dpkg (with ``/var/lib/dpkg/status``): the vendor's ``.deb``, package ``aliyun-assist``,
      read with ``dpkg-deb --field FILE Package Version``, installed (upgraded, downgraded,
      reinstalled) with ``env DEBIAN_FRONTEND=noninteractive dpkg -i FILE``; what is installed:
      ``dpkg-query -W aliyun-assist``.
    - rpm hosts: the vendor's ``.rpm``, package ``aliyun_assist``, read with
      ``rpm -qp --queryformat '%{NAME} %{VERSION}\\n' FILE``; what is installed:
      ``rpm -q aliyun_assist``.  With dnf: ``dnf install -y FILE`` (``dnf downgrade -y``,
      ``dnf reinstall -y``); else yum:
      ``yum --setopt=exit_on_lock=True install -y FILE`` (``downgrade``, ``reinstall``);
      else zypper: ``zypper --non-interactive install FILE`` (``--oldpackage``, ``--force``);
      else ``rpm -Uvh FILE`` (``--oldpackage``, ``--replacepkgs``).
    - Windows: the installer ``aliyun_agent_latest_setup.exe``, run as ``FILE /S``; its
      version cannot be read without running it, so ``version`` is required and the file must
      be a Windows program; what is installed: the ``AliyunService`` client's version.

    The package's own scripts (the installer on Windows) write, enable and start the client's
    service (``aliyun.service`` under systemd, ``/etc/init.d/aliyun-service`` elsewhere) and
    stop the old version's on an upgrade.

    Before anything runs, the file must be the client's package at a version of four integers
    (and ``version``, when given).  Then, from what the package database knows and the
    client's status:

    - that version installed and the client running: nothing is run, ``changes`` is empty;
    - a newer version installed: it is kept, nothing is run, and the comment says so
      (``allow_downgrade=True`` installs the older package, with the tool's downgrade);
    - the same version with the client not running: the tool's reinstall;
    - otherwise the tool's install runs, and the truth is read again: the package database
      (on Windows the service) must say the version, the client's binary that version, and
      the client must run (``cloudassist.status``), within ``timeout`` seconds, and stay up
      ``settle`` seconds, as after ``cloudassist.start``: a client that exits or is restarted
      in that time fails the call, with the version change reported.

    Returns the client's status afterwards (as ``cloudassist.status``; ``broken`` says why where
    ``test=True`` finds a broken client), with ``changed``,
    ``changes`` (``version: {old, new}``, ``old`` None where the client was not installed),
    ``command`` (what ran, or would run) and ``comment``.

    source
        The package (``.deb``, ``.rpm``, the Windows installer): a ``salt://`` path (fetched
        from the master with ``cp.cache_file``), an ``https://`` or ``http://`` URL
        (downloaded with ``cp.cache_file`` into the minion's cache; ``source_hash`` is then
        required), or an absolute path on the minion.  A download that fails (404, no route,
        TLS) is an error naming the URL and Salt's words; nothing is changed.
    version
        The version the package must be (four integers); the call fails, changing nothing,
        when the file holds another.
    source_hash
        The hash the file must have, as Salt's states take it: ``sha256=HEX`` (or ``sha512``,
        ``sha384``, ``sha224``, ``sha1``, ``md5``; ``TYPE:HEX``, or the hex digest alone).
        Required for a URL, optional for the others.  The file is hashed on the minion before
        anything reads it (even ``dpkg-deb`` or ``rpm -qp``): another hash is an error and
        nothing is changed.  For a URL it is also passed to ``cp.cache_file``, so a cached
        download with that hash is not fetched again (Salt's ``cp.cache_file`` does not check a
        new download's hash itself).
    timeout
        Seconds each check may take, the client may take to run after the install, and the
        call waits while another process (apt, yum-cron, PackageKit, ...) holds the tool's
        lock, recognised by its words (dpkg's lock messages, yum's ``Another app is currently
        holding the yum lock``, dnf's ``Waiting for process with pid``, zypper's exit code 7,
        rpm's ``can't create transaction lock``) (default: ``cloudassist:timeout``, else 30).
        The install itself may take up to 300 seconds, or ``timeout`` when longer.
    test
        Only say what would be done: the comment names the command and both versions, and
        ``changes`` is what would change.  Nothing is run but the reads (default False).
    allow_downgrade
        Install the package even when a newer version is installed (default False).
    settle
        Seconds the new client must stay up, the same process, before the install is reported
        (default: ``cloudassist:settle``, else 2; 0 checks only that it runs).

    Raises an error naming what was tried, the host's words (the tool's last lines) and what to
    do when the tool fails or the check afterwards does not hold; a failure after the tool
    changed the package still carries that change in ``changes``.

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.install salt://cloudassist/aliyun-assist_2.2.4.1065.deb
        salt '*' cloudassist.install /root/aliyun-assist_2.2.4.1065.deb version=2.2.4.1065 test=True
        salt '*' cloudassist.install https://example.com/ca.deb source_hash=sha256=HEX
        salt -G 'os_family:RedHat' cloudassist.install salt://ca/aliyun_assist-2.2.4.1065-1.x86_64.rpm
        salt -G 'os:Windows' cloudassist.install salt://ca/setup.exe version=2.2.4.1065
    """
    _changing()
    config = _configuration()
    seconds = _seconds("timeout", timeout, DEFAULT_TIMEOUT, config=config)
    test = args.flag("the argument test", test)
    allow_downgrade = args.flag("the argument allow_downgrade", allow_downgrade)
    settle = _seconds("settle", settle, DEFAULT_SETTLE, config=config, allow_zero=True)
    tool = packages.host_tool(
        os_family=__grains__.get("os_family"), windows=salt.utils.platform.is_windows()
    )
    kind, where = packages.source_kind(source)
    wanted_hash = None if source_hash is None else packages.parse_hash(source_hash)
    if kind == "url" and wanted_hash is None:
        raise errors.BadArgument(
            f"the argument source {where!r} is a URL: give source_hash too (sha256=HEX, the "
            "hash the package must have), so that a file altered on its way is not installed; "
            "nothing was changed",
            source="the argument source_hash",
            value=source_hash,
        )
    path = where if kind == "file" else _fetched(kind, where, wanted_hash)
    if wanted_hash is not None:
        # Before anything reads the file, even dpkg-deb.
        packages.checked_hash(where, wanted_hash, packages.file_hash(path, wanted_hash[0]))
    new = packages.identify(path, seconds, version, tool=tool)
    lock = os.path.join(__opts__["cachedir"], "cloudassist.lock")
    with act.exclusive(lock, seconds):
        before = _status_or_none(_host(timeout, config))
        now = _package_now(tool, seconds, before)
        running = bool(before is not None and before.running)
        plan = packages.make_plan(
            new, now, path=path, running=running, allow_downgrade=allow_downgrade, tool=tool
        )
        if test or plan.action != "install":
            result = _installed_result(_host(timeout, config), plan, ran=False)
            if test:
                result["test"] = True
            return result
        res = packages.run_tool(plan, timeout=seconds, wait=seconds)
        # The status only where it is the record (Windows): after a failed postinst the host
        # may not tell its init system, and the package database says what was left.
        after = _package_now(
            tool,
            seconds,
            _status_or_none(_host(timeout, config)) if tool.kind == "exe" else None,
        )
        done = {}
        if after != now:
            done[f"{tool.name} left {tool.package} {after.state} {after.version}"] = (
                "version",
                plan.old,
                # What dpkg left, where it is not a clean install: "2.2.3.578 (half-configured)".
                after.version if after.ok else packages.left_text(after),
            )
        try:
            status = packages.verify(
                res, after, plan, read_status=lambda: _host(timeout, config).status(), wait=seconds
            )
            act.verify_started(_host(timeout, config), status, res.command, settle=settle)
        except errors.Failure as exc:
            if done:
                _refresh_grains()
                raise errors.PartlyDone(cause=exc, done=done) from exc
            raise
    _refresh_grains()
    return _installed_result(_host(timeout, config), plan, ran=True)


def _package_now(tool, seconds, status):
    """What is installed: the package database's word, or on Windows (no database cloudassist
    reads) the client's ``status``."""
    if tool.kind == "exe":
        return packages.from_status(status)
    return packages.installed(seconds, tool=tool)


def _fetched(kind, where, wanted_hash):
    """The local path of ``where`` (a ``salt://`` path or a URL) after ``cp.cache_file`` fetched
    it into the minion's cache; a cached URL whose hash is ``wanted_hash`` is not fetched
    again."""
    keywords = {}
    if kind == "url":
        keywords["source_hash"] = "{}={}".format(*wanted_hash)
    try:
        path = __salt__["cp.cache_file"](where, **keywords)
    except salt.exceptions.SaltException as exc:
        if kind != "url":
            raise
        raise errors.FetchFailed(
            f"could not download {where}: {exc}; nothing was changed. Check the URL from the "
            "minion (curl -fI URL) and its proxy settings (proxy_host in the minion config)",
            source=where,
        ) from exc
    if path and os.path.isfile(path):
        return path
    if kind == "url":
        raise errors.FetchFailed(
            f"could not download {where} (cp.cache_file fetched nothing; the minion's log says "
            "why); nothing was changed. Check the URL from the minion (curl -fI URL)",
            source=where,
        )
    raise errors.BadArgument(
        f"could not fetch {where} from the master (cp.cache_file found nothing there); "
        "check the path in the master's file_roots; nothing was changed",
        source="the argument source",
        value=where,
    )


@_at_salts_boundary
def remove(timeout=None, test=False, remove_watchdog=True):
    """
    Remove the Cloud Assistant client for good: its watchdog, package, service, binary and
    self-update markers, then check that nothing of it is left.

    The package is removed with the host's own tool, chosen as ``cloudassist.install`` chooses
    it: the vendor's ``.deb`` (package ``aliyun-assist``) with dpkg; its ``.rpm`` (package
    ``aliyun_assist``) with ``dnf remove -y``, ``yum --setopt=exit_on_lock=True remove -y``,
    ``zypper --non-interactive remove`` or ``rpm -e``, whichever the host has first.  The
    package's own scripts stop and remove the client's service (``aliyun.service`` under
    systemd, ``/etc/init.d/aliyun-service`` elsewhere) and its files.  On Windows, see below.

    From what the package database knows (``dpkg-query -W aliyun-assist``, ``rpm -q
    aliyun_assist``) and what of the client is on the
    host (its processes, its updater's ``aliyun_assist_update`` from a version folder and the
    watchdog's, found by their executables; the units ``aliyun.service``,
    ``aliyun-service.service``, ``agentwatch.service`` and ``AssistDaemon.service``; the init
    scripts ``/etc/init.d/aliyun-service``, ``/etc/init.d/agentwatch``,
    ``/etc/init.d/AssistDaemon`` and the upstart job; the links ``/usr/sbin/aliyun-service``
    and ``/opt/sbin/aliyun-service``), in this order:

    1. with ``remove_watchdog`` (the default), the watchdog is stopped first as
       ``cloudassist.stop stop_watchdog=True`` stops it (``systemctl stop AssistDaemon.service``
       where that unit runs it, else ``assist_daemon --stop``), so that it cannot start the
       client again, and the process table must show it gone within ``timeout``; then its files
       are removed: the links that start ``AssistDaemon.service`` at boot and its unit files
       (``systemctl daemon-reload`` after), the rc links and ``/etc/init.d/AssistDaemon``, and
       its folder (``/usr/local/share/assist-daemon``; a watchdog configured elsewhere with
       ``cloudassist:watchdog`` loses its binary alone, never its folder).  A file that a
       package's file list holds (``dpkg-query -S``, ``rpm -qf``) is never removed: another
       package's stays and is named in ``kept``;
    2. ``DEBIAN_FRONTEND=noninteractive dpkg --purge aliyun-assist`` (or the rpm tool's
       removal) runs, waiting, within ``timeout``, while another process (apt, yum-cron,
       PackageKit, ...) holds the tool's lock;
    3. after a successful removal only, the self-update markers ``disable_update`` and
       ``disable_bootstrap_update`` (``cloudassist.freeze_updates`` made them; no package owns
       them) are removed from ``/usr/local/share/aliyun-assist/config/`` and the version
       folders' ``config/``, and the client's folders left empty (``config/``, the version
       folders, ``/usr/local/share/aliyun-assist``) with them.  Any other file left there (a
       self-update's version, logs) is not the package's: it is not removed but named in
       ``kept`` and in ``warnings``;
    4. the same truth is read again until ``timeout`` seconds passed: the package database
       must know no package and nothing of the client, its updater, or (with
       ``remove_watchdog``) its watchdog and the files removed may be left.  What is left is
       named in the error.

    Nothing is run when the database knows no such package and nothing of the above is left:
    ``changes`` is empty.

    On Windows, where the vendor publishes no uninstaller, the client is removed as the
    vendor's own "remove agent" action removes it: from the service ``AliyunService`` (Salt's
    ``service.info``; the binary is the one its configuration names, never an argument), its
    state, the version folders under ``cloudassist:windows_root`` (default
    ``C:\\ProgramData\\aliyun\\assist``) and the processes running from the service's binary or
    a version folder (Salt's ``ps.pgrep`` and ``ps.proc_info``), in this order:

    1. ``"<binary>" --remove`` deletes the service, then ``"<binary>" --stop`` stops it (both
       exit 0 whatever happens: they are not trusted);
    2. the Service Control Manager must know no ``AliyunService`` and no process of the client
       may run, read again until ``timeout`` seconds passed;
    3. the version folders are removed (the client's binaries, its updater, its per-version
       ``config/`` and markers); any other file under the root (logs, the client's
       configuration) is not removed but named in ``kept`` and in ``warnings``;
    4. the service, the processes and the folders are read again until ``timeout``; what is
       left is named in the error.

    ``changes`` there has ``service: {old: AliyunService, new: None}``, ``version: {old,
    new: None}`` (the version folder of the service's binary) and ``files`` (the folders
    removed).  Nothing is run where no service is registered and no process or version
    folder is left.

    Returns the client's status afterwards (as ``cloudassist.status``: ``installed`` False once
    it is gone), with ``changed``, ``changes`` (``version: {old, new: None}``; ``watchdog:
    {old: True, new: False}`` where it was stopped; ``files: {old: [paths], new: []}``, each
    file and folder removed), ``command`` (the removal that ran, or would run), ``steps``
    (each step in order, done or as it would be done), ``comment`` (the steps in one
    sentence), ``kept`` (the files that stay, see above) and ``left``: what of the client is on
    the host (before the removal under ``test=True``, else after it; empty when nothing is).

    timeout
        Seconds each check may take, the watchdog may take to go, the call waits for the
        tool's lock, and what is left may take to go after the removal (default:
        ``cloudassist:timeout``, else 30).  The removal itself may take up to 300 seconds, or
        ``timeout`` when longer.
    test
        Only say what would be done: the comment and ``steps`` name each step, ``changes`` is
        what would change and ``left`` what is there now.  The folders it names are those
        only something besides the package kept (``config/``, made by ``freeze_updates``, and
        the share folder it alone kept); the package's own (``dpkg-query -L`` or ``rpm -ql``,
        and what its version folders hold) are presumed to go with it.  Nothing is run but the reads
        (default False).
    remove_watchdog
        Stop and remove the watchdog ``assist_daemon`` too (default True: a removal is for
        good, and a watchdog left behind would look for a client that is gone; the vendor says
        to stop and delete it before stopping the client for good).  ``cloudassist.stop``
        keeps ``stop_watchdog=False`` by default because a stop is for a while; with
        ``remove_watchdog=False`` the watchdog is neither stopped nor checked.  Where a process
        of the watchdog's name runs from another binary than ``cloudassist:watchdog``, the call
        fails before anything runs, as ``stop_watchdog=True`` does.  On Windows it is
        accepted and ignored: the Windows removal touches no watchdog, as the vendor's own
        "remove agent" action there runs ``--remove`` and ``--stop`` alone.

    Raises an error naming the command, the tool's last lines and what to do when it fails, or
    naming each thing left when the check afterwards finds one; a failure after a step changed
    something (the watchdog stopped, files removed, the package gone) still carries those
    changes in ``changes``.

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.remove test=True
        salt '*' cloudassist.remove
        salt '*' cloudassist.remove remove_watchdog=False
    """
    _changing()
    config = _configuration()
    seconds = _seconds("timeout", timeout, DEFAULT_TIMEOUT, config=config)
    test = args.flag("the argument test", test)
    remove_watchdog = args.flag("the argument remove_watchdog", remove_watchdog)
    tool = packages.host_tool(
        os_family=__grains__.get("os_family"),
        windows=salt.utils.platform.is_windows(),
        action="remove",
    )
    host = _host(timeout, config)
    if tool.kind == "exe":
        return _remove_windows(host, seconds=seconds, test=test)
    watchdog = host.watchdog_binary()
    lock = os.path.join(__opts__["cachedir"], "cloudassist.lock")
    with act.exclusive(lock, seconds):
        now = packages.installed(seconds, tool=tool)
        stop_step, wd_files = None, ()
        if remove_watchdog:
            found = host.watchdog_alone()
            if found.at_stake:
                stop_step = host.watchdog_stop_step_of(found, asked="remove_watchdog=True")
            wd_files = packages.watchdog_files(watchdog)
        markers = packages.client_markers()
        owned = packages.owners(wd_files + markers, seconds, tool=tool)
        # Another package's files stay (named in kept); the client's own package's go with it.
        others = [f"{path} ({names})" for path, names in owned.items() if names != tool.package]
        plan = packages.make_removal(
            now,
            packages.remains(watchdog, with_watchdog=remove_watchdog),
            watchdog_stop=stop_step,
            watchdog_files=[path for path in wd_files if path not in owned],
            markers=[path for path in markers if path not in owned],
            folders=packages.emptied_folders(
                packages.package_files(seconds, tool=tool) if now.known else (), markers
            ),
            tool=tool,
        )
        if test or plan.action != "remove":
            result = _removed_result(
                host, plan, ran=False, kept=_kept(plan, ran=False, others=others)
            )
            result["left"] = list(packages.remains(watchdog, with_watchdog=remove_watchdog))
            if test:
                result["test"] = True
            return result
        done = {}
        try:
            if plan.watchdog_stop is not None:
                packages.stop_watchdog(
                    plan.watchdog_stop,
                    run_step=host.run_step,
                    pids=lambda: host.watchdog_alone().pids,
                    wait=seconds,
                )
                done[f"stopped the watchdog with `{plan.watchdog_stop.text}`"] = (
                    "watchdog",
                    True,
                    False,
                )
            removed = packages.remove_files(plan.watchdog_files)
            if removed:
                done.update(packages.files_done(removed))
                packages.reload_units(removed, seconds)
            res = packages.run_tool(plan, timeout=seconds, wait=seconds)
            after = packages.installed(seconds, tool=tool)
            if after != now:
                done[
                    f"{tool.name} left {tool.package} {after.state} {after.version}"
                    if after.known
                    else f"{tool.name} removed {tool.package} {plan.old}"
                ] = ("version", plan.old, packages.left_text(after) if after.known else None)
            if res.retcode == 0:
                # Only after a successful purge: the markers keep a client still there frozen.
                cleaned = packages.remove_files(plan.markers)
                cleaned += packages.remove_empty(packages.empty_folders())
                if cleaned:
                    done = {key: value for key, value in done.items() if value[0] != "files"}
                    done.update(packages.files_done(removed + cleaned))
            packages.verify_removed(
                res,
                plan,
                read=lambda: (
                    packages.installed(seconds, tool=tool),
                    packages.remains(
                        watchdog,
                        with_watchdog=remove_watchdog,
                        files=plan.watchdog_files + plan.markers,
                    ),
                ),
                wait=seconds,
            )
        except errors.Failure as exc:
            failure = _after(exc, done)
            if failure is exc:
                raise
            raise failure from exc
    return _removal_done(host, plan, done, kept=_kept(plan, ran=True, others=others))


# Why the files under cloudassist:windows_root that a removal leaves are not its own.
WINDOWS_KEPT = "not in the client's version folders"


def _remove_windows(host, *, seconds, test):
    """``cloudassist.remove`` on Windows: the vendor's own removal (the service's binary with
    ``--remove``, then ``--stop``), read back from the Service Control Manager and the process
    table, then the version folders, read back too."""
    lock = os.path.join(__opts__["cachedir"], "cloudassist.lock")
    with act.exclusive(lock, seconds):
        found = host.on_host()
        plan = packages.make_windows_removal(found)
        if test or plan.action != "remove":
            result = _removed_result(host, plan, ran=False, kept=found.kept, why=WINDOWS_KEPT)
            result["left"] = list(packages.windows_left(found))
            if test:
                result["test"] = True
            return result
        done = {}
        try:
            said = packages.run_windows_removal(plan, timeout=seconds)
            after = packages.settled(
                host.on_host,
                left=lambda now: packages.windows_left(now, folders=False),
                wait=seconds,
            )
            if plan.service and after.service is None:
                done[f"removed the service {plan.service}"] = ("service", plan.service, None)
                if plan.old:
                    done[f"removed the client {plan.old}"] = ("version", plan.old, None)
            left = packages.windows_left(after, folders=False)
            if left:
                # Its binary runs: its folder could not be removed.
                raise packages.windows_left_behind(plan, said, left, wait=seconds)
            removed = packages.remove_files(plan.folders, by_hand=packages.WINDOWS_BY_HAND)
            if removed:
                done.update(packages.files_done(removed))
            after = packages.settled(host.on_host, left=packages.windows_left, wait=seconds)
            left = packages.windows_left(after)
            if left:
                raise packages.windows_left_behind(plan, said, left, wait=seconds)
        except errors.Failure as exc:
            failure = _after(exc, done)
            if failure is exc:
                raise
            raise failure from exc
    return _removal_done(host, plan, done, kept=after.kept, why=WINDOWS_KEPT)


def _removal_done(host, plan, done, **kept):
    """A removal's return once every step held: the status with ``changes`` from ``done``
    (``{sentence: (key, old, new)}``), ``steps`` and ``kept`` (see :func:`_removed_result`)."""
    _refresh_grains()
    changes = {key: {"old": old, "new": new} for key, old, new in done.values()}
    result = _removed_result(host, plan, ran=True, **kept)
    result.update(changed=bool(changes), changes=changes, left=[])
    return result


def _removed_result(
    host, plan, *, ran, kept, why="not the client's package's, or another package's"
):
    """``_installed_result`` of a removal, with ``steps`` (each step, in order) and ``kept``:
    the files that stay (``why``: why they are not the removal's), also in ``warnings``."""
    result = _installed_result(host, plan, ran=ran)
    result["steps"] = (
        [packages.tense(part, ran=ran) for part in plan.parts] if plan.action == "remove" else []
    )
    result["kept"] = list(kept)
    if kept:
        result.setdefault("warnings", []).append(f"kept ({why}): " + ", ".join(kept))
    return result


def _after(failure, done):
    """What a removal raises for ``failure`` after the changes ``done`` (a ``PartlyDone``'s
    ``done``): ``failure`` itself where nothing was done, else a ``PartlyDone`` with both its
    changes and ``done``, the files removed in one change."""
    if isinstance(failure, errors.PartlyDone):
        both = {**done, **failure.done}
        files = [path for key, old, _ in both.values() if key == "files" for path in old]
        done = {key: value for key, value in both.items() if value[0] != "files"}
        if files:
            done.update(packages.files_done(list(dict.fromkeys(files))))
        failure = failure.cause
    if not done:
        return failure
    _refresh_grains()
    return errors.PartlyDone(cause=failure, done=done)


def _kept(plan, *, ran, others):
    """The files of the client's share folders and the watchdog's that a removal leaves:
    ``others`` (another package's), and files no package owned (logs, another version's)."""
    kept = list(others)
    if ran or plan.action != "remove":
        kept += [path for path in packages.kept_files() if path not in plan.markers]
    return kept


def _status_or_none(host):
    """The client's status, or None where it is not installed or broken (a package mends it)."""
    try:
        return host.status()
    except (errors.NotInstalled, errors.Broken):
        return None


def _installed_result(host, plan, *, ran):
    """The status now, with what ``install`` did (``ran``) or would do."""
    try:
        result = host.status().as_dict()
    except errors.NotInstalled as exc:
        result = host.no_client(exc).as_dict()
    except errors.Broken as exc:  # test=True over a broken client, which the package mends
        result = {"installed": True, "running": False, "version": None, "broken": str(exc)}
    changes = plan.changes
    result.update(
        changed=bool(changes),
        changes=changes,
        command=plan.command_text,
        comment=plan.described(ran=ran),
    )
    return result
