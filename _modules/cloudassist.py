"""
Stop, start, restart and inspect the Alibaba Cloud Assistant client.

The client is ``aliyun-service`` on Linux and the service ``AliyunService`` on Windows.
Each minion decides for itself how to manage it, as the vendor's procedure says: by
platform, then by client version (``aliyun-service -v``), then by init system (see
``_utils/cloudassist_procedure.py`` for the table).  Every action re-reads the status
afterwards and raises ``CommandExecutionError`` when the client is not in the state that
was asked for.

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
    (default ``/usr/local/share/assist-daemon/assist_daemon``).
windows_root
    Where the client's version folders are on Windows (default
    ``%ProgramData%\\aliyun\\assist``).
"""

import contextlib
import logging
import os
import time

import salt.utils.platform
from salt.exceptions import CommandExecutionError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

log = logging.getLogger(__name__)

__virtualname__ = "cloudassist"

LINUX_BINARIES = ("/usr/sbin/aliyun-service", "/opt/sbin/aliyun-service")
CLIENT_NAME = "aliyun-service"
WINDOWS_SERVICE = "AliyunService"
WINDOWS_EXE = "aliyun_assist_service.exe"
WATCHDOG_NAME = "assist_daemon"
WATCHDOG_BINARY = "/usr/local/share/assist-daemon/assist_daemon"
WATCHDOG_SERVICE = "AssistDaemon"
INITCTL = "/sbin/initctl"
DEFAULT_TIMEOUT = 30
DEFAULT_SETTLE = 2.0
POLL = 0.1

# Killing a timed-out client of these init systems does not end the job it asked for.
JOB_GOES_ON = {
    "systemctl": (
        "systemd goes on with the job for {0} in the background, so the client may still "
        "stop or start later: see `systemctl list-jobs` and `systemctl status {0}`, and "
        "`systemctl cancel JOB` drops a job that has not begun"
    ),
    INITCTL: (
        "upstart goes on with the job for {0} in the background, so the client may still "
        "stop or start later: see `initctl status {0}`"
    ),
}

STOP_WARNING = (
    "Stopping the Cloud Assistant client means this instance no longer receives Cloud "
    "Assistant commands; Alibaba Cloud warns that it may make the instance misbehave and keep "
    "the ECS console from stopping it."
)


def __virtual__():
    if salt.utils.platform.is_linux() or salt.utils.platform.is_windows():
        return __virtualname__
    return (False, "cloudassist: the Cloud Assistant client runs on Linux and Windows only")


# --- options ----------------------------------------------------------------------------


def _config(key, default=None):
    return __salt__["config.get"]("cloudassist:" + key, default)


def _seconds(name, value, default, allow_zero=False):
    if value is None:
        return _u("cloudassist_args.seconds")(
            "the config key cloudassist:" + name, _config(name, default), allow_zero
        )
    return _u("cloudassist_args.seconds")("the argument " + name, value, allow_zero)


def _platform():
    return "windows" if salt.utils.platform.is_windows() else "linux"


def _u(name):
    return __utils__[name]


# --- facts: Linux -------------------------------------------------------------------------


def _checked_binary(path, origin):
    if not os.path.lexists(path):
        raise CommandExecutionError(
            "the Cloud Assistant client is not installed: looked for {} ({}), which does not "
            "exist".format(path, origin)
        )
    if not os.path.exists(path):
        raise CommandExecutionError(
            "the Cloud Assistant client is broken: {} is a link to {}, which does not exist. "
            "Reinstall the client".format(path, os.readlink(path))
        )
    if not os.path.isfile(path):
        raise CommandExecutionError("{} ({}) is not a file, so it cannot be the client".format(path, origin))
    if not os.access(path, os.X_OK):
        raise CommandExecutionError(
            "the Cloud Assistant client at {} is not executable (mode {:o}). Restore its mode "
            "(chmod 755) or reinstall the client".format(path, os.stat(path).st_mode & 0o7777)
        )
    return path


def _linux_binary():
    override = _config("binary")
    if override is not None:
        if not isinstance(override, str) or not os.path.isabs(override):
            raise CommandExecutionError(
                "the config key cloudassist:binary must be an absolute path, not {!r}".format(override)
            )
        return _checked_binary(override, "set by cloudassist:binary")
    for path in LINUX_BINARIES:
        if os.path.lexists(path):
            return _checked_binary(path, "the standard location")
    found = _u("cloudassist_run.which")(CLIENT_NAME)
    if found:
        return found
    raise CommandExecutionError(
        "the Cloud Assistant client is not installed: looked for {} and {} on the PATH. "
        "Install the client, or set cloudassist:binary to where it is".format(
            ", ".join(LINUX_BINARIES), CLIENT_NAME
        )
    )


def _binary_version(argv, timeout):
    res = _u("cloudassist_run.run")(argv, timeout)
    output = (res["stdout"] + res["stderr"]).strip()
    if res["retcode"] != 0:
        raise CommandExecutionError(
            "`{}` exited with code {}: {}. The client looks broken; reinstall it".format(
                res["command"], res["retcode"], output or "(no output)"
            )
        )
    version = _u("cloudassist_facts.parse_version_output")(res["stdout"])
    if version is None:
        raise CommandExecutionError(
            "`{}` printed no version (four dot-separated numbers): {}".format(
                res["command"], repr(output[:500]) if output else "no output at all"
            )
        )
    return version


def _linux_init_system(timeout):
    facts = "cloudassist_facts."
    override = _config("init_system")
    if override is not None:
        decision = _u(facts + "decide_init_system")({}, override=override)
        evidence = [{"source": "the config key cloudassist:init_system", "found": repr(override)}]
    else:
        evidence = {
            "systemd_booted": _u(facts + "systemd_booted")(),
            "pid1": _u(facts + "read_pid1")(),
            "initctl": None,
            "init_file": None,
            "init_script": _u(facts + "init_script_present")(),
        }
        if not evidence["systemd_booted"] and evidence["pid1"]["comm"] != "systemd":
            if os.path.exists(INITCTL):
                evidence["initctl"] = _initctl_version(timeout)
            if "upstart" not in (evidence["initctl"] or ""):
                evidence["init_file"] = _u(facts + "read_init_file")()
        decision = _u(facts + "decide_init_system")(evidence)
        evidence = _u(facts + "evidence_report")(evidence)
    if decision["error"]:
        raise CommandExecutionError(decision["error"])
    decision["evidence"] = evidence
    return decision


def _initctl_version(timeout):
    try:
        res = _u("cloudassist_run.run")([INITCTL, "--version"], timeout)
    except CommandExecutionError as exc:
        log.debug("cloudassist: %s", exc)
        return None
    return res["stdout"] if res["retcode"] == 0 else None


def _steps(row, action):
    return [
        step
        for step in row[action]
        if "if_exists" not in step or os.path.exists(step["if_exists"])
    ]


def _linux_state(timeout):
    binary = _linux_binary()
    version = _binary_version([binary, "-v"], timeout)
    init = _linux_init_system(timeout)
    row = _u("cloudassist_procedure.choose")(
        "linux", _u("cloudassist_facts.version_tuple")(version), init["init_system"]
    )
    pids = _u("cloudassist_facts.client_pids")(binary)
    blocked = None
    if not _u("cloudassist_run.which")(row["tool"]):
        blocked = (
            "the branch '{}' needs {} to manage {}, and this host has no {}; nothing was run "
            "and the client is {} as before. Manage the client by hand or set "
            "cloudassist:init_system if the init system was misjudged ({})".format(
                row["branch"], row["tool"], row["service"], row["tool"],
                "running" if pids else "stopped", init["decided_by"],
            )
        )
    return _state_dict(
        row,
        running=bool(pids),
        pids=pids,
        version=version,
        binary=binary,
        init=init,
        watchdog=_watchdog_now("linux"),
        blocked=blocked,
    )


def _state_dict(row, running, pids, version, binary, init, watchdog, **extra):
    text = _u("cloudassist_procedure.command_text")
    state = {
        "installed": True,
        "running": running,
        "pids": pids,
        "version": version,
        "binary": binary,
        "platform": row["platform"],
        "init_system": init["init_system"],
        "service": row["service"],
        "branch": row["branch"],
        "commands": {"stop": text(_steps(row, "stop")), "start": text(_steps(row, "start"))},
        "decided_by": init["decided_by"],
        "evidence": init["evidence"],
        "watchdog": {"running": bool(watchdog), "pids": watchdog},
        "blocked": None,
    }
    state.update(extra)
    return state, row


# --- facts: Windows -----------------------------------------------------------------------


def _windows_state(timeout):
    try:
        info = __salt__["service.info"](WINDOWS_SERVICE)
    except CommandExecutionError as exc:
        raise CommandExecutionError(
            "the Cloud Assistant client is not installed: looked for the Windows service {} "
            "({})".format(WINDOWS_SERVICE, exc)
        )
    running = bool(__salt__["service.status"](WINDOWS_SERVICE))
    version, exe, problem = _windows_version(info, timeout)
    row = _u("cloudassist_procedure.choose")("windows", None, "windows")
    init = {
        "init_system": "windows",
        "decided_by": "the minion runs Windows",
        "evidence": [{"source": "salt.utils.platform.is_windows()", "found": "True"}],
    }
    extra = {"version_problem": problem} if problem else {}
    return _state_dict(row, running, [], version, exe, init, _watchdog_now("windows"), **extra)


def _exe_from_service_path(binary_path):
    """``"C:\\...\\aliyun_assist_service.exe" --args`` -> the exe path."""
    text = (binary_path or "").strip()
    if text.startswith('"'):
        return text[1:].split('"', 1)[0] or None
    lower = text.lower()
    end = lower.find(".exe")
    return text[: end + 4] if end >= 0 else (text or None)


def _windows_root():
    default = os.path.join(os.environ.get("ProgramData", "C:\\ProgramData"), "aliyun", "assist")
    return _config("windows_root", default)


def _newest_windows_exe(root):
    try:
        names = os.listdir(root)
    except OSError:
        return None
    versions = []
    for name in names:
        try:
            versions.append((_u("cloudassist_facts.version_tuple")(name), name))
        except ValueError:
            continue
    for _, name in sorted(versions, reverse=True):
        exe = os.path.join(root, name, WINDOWS_EXE)
        if os.path.isfile(exe):
            return exe
    return None


def _windows_version(info, timeout):
    """``(version, exe, problem)``: from the service's binary, else the newest version folder."""
    problems = []
    configured = _exe_from_service_path(info.get("BinaryPath"))
    root = _windows_root()
    candidates = (
        ("the AliyunService configuration", lambda: configured),
        ("the newest folder in " + root, lambda: _newest_windows_exe(root)),
    )
    for origin, find in candidates:
        exe = find()
        if not exe:
            continue
        if not os.path.isfile(exe):
            problems.append("{} (from {}) does not exist".format(exe, origin))
            continue
        try:
            return _binary_version([exe, "--version"], timeout), exe, None
        except CommandExecutionError as exc:
            problems.append(str(exc))
    if not problems:
        problems.append("neither the AliyunService configuration nor {} names a client binary".format(root))
    return None, configured, "; ".join(problems)


# --- acting -------------------------------------------------------------------------------


@contextlib.contextmanager
def _exclusive(timeout):
    """One change at a time on a minion: a racing job waits, then sees the true status."""
    if fcntl is None:
        yield
        return
    path = os.path.join(__opts__["cachedir"], "cloudassist.lock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as handle:
        deadline = time.monotonic() + 4 * timeout + 60
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CommandExecutionError(
                        "another cloudassist job on this minion has held {} for too long; "
                        "nothing was changed. Try again when it has finished".format(path)
                    )
                time.sleep(POLL)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _state(timeout):
    if _platform() == "windows":
        return _windows_state(timeout)
    return _linux_state(timeout)


def _wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(POLL)


def _run_steps(state, row, action, timeout):
    """Run the branch's commands for ``action``; raise on a missing tool or a failed command."""
    steps = _steps(row, action)
    text = _u("cloudassist_procedure.command_text")(steps)
    if row["kind"] == "salt":
        fun, arg = steps[0]["argv"]
        try:
            __salt__[fun](arg, timeout=timeout)
        except CommandExecutionError as exc:
            raise CommandExecutionError("`{}` failed: {}".format(text, exc))
        return text
    tool = row["tool"]
    if state["blocked"]:
        raise CommandExecutionError(state["blocked"])
    for step in steps:
        try:
            res = _u("cloudassist_run.run")(list(step["argv"]), timeout)
        except CommandExecutionError as exc:
            if getattr(exc, "timed_out", False) and tool in JOB_GOES_ON:
                raise CommandExecutionError("{}. {}".format(exc, JOB_GOES_ON[tool].format(row["service"])))
            raise
        if res["retcode"] != 0:
            output = (res["stdout"] + res["stderr"]).strip() or "(no output)"
            raise CommandExecutionError(
                "`{}` exited with code {}: {} (branch: {})".format(
                    res["command"], res["retcode"], output, row["branch"]
                )
            )
    return text


def _pids_now(state):
    if state["platform"] == "windows":
        return [WINDOWS_SERVICE] if __salt__["service.status"](WINDOWS_SERVICE) else []
    return _u("cloudassist_facts.client_pids")(state["binary"])


def _watchdog_now(platform):
    """Pids of the running watchdog (Windows: the running watchdog service's name)."""
    if platform == "windows":
        if __salt__["service.available"](WATCHDOG_SERVICE) and __salt__["service.status"](WATCHDOG_SERVICE):
            return [WATCHDOG_SERVICE]
        return []
    return _u("cloudassist_facts.pids_named")(WATCHDOG_NAME)


def _stop_watchdog(state, timeout):
    if not _watchdog_now(state["platform"]):
        return None
    if state["platform"] == "windows":
        try:
            __salt__["service.stop"](WATCHDOG_SERVICE, timeout=timeout)
        except CommandExecutionError as exc:
            raise CommandExecutionError("could not stop the watchdog service {}: {}".format(WATCHDOG_SERVICE, exc))
        command = "service.stop " + WATCHDOG_SERVICE
    else:
        binary = _config("watchdog", WATCHDOG_BINARY)
        if not isinstance(binary, str) or not os.path.isabs(binary) or not os.path.isfile(binary):
            raise CommandExecutionError(
                "the watchdog {} is running but its binary {!r} was not found, so it cannot be "
                "stopped; nothing was changed. Set cloudassist:watchdog to its path".format(WATCHDOG_NAME, binary)
            )
        # assist_daemon --stop exits 0 whatever happens: only the process table tells.
        res = _u("cloudassist_run.run")([binary, "--stop"], timeout)
        command = res["command"]
    left = _wait_for(lambda: not _watchdog_now(state["platform"]), timeout)
    if not left:
        raise CommandExecutionError(
            "ran `{}` but the watchdog is still running ({}); the client was not stopped".format(
                command, ", ".join(str(p) for p in _watchdog_now(state["platform"]))
            )
        )
    return command


def _wait_stopped(state, command, timeout):
    if not _wait_for(lambda: not _pids_now(state), timeout):
        raise CommandExecutionError(
            "`{}` succeeded but the client is still running after {} s (pid {}); nothing "
            "else was tried ({})".format(command, timeout, _pid_text(_pids_now(state)), state["branch"])
        )


def _verify_stopped(state, command, timeout, settle):
    """Stopped, and not brought back by the watchdog within ``settle`` seconds."""
    _wait_stopped(state, command, timeout)
    watchdog = _watchdog_now(state["platform"])
    if watchdog:
        back = _wait_for(lambda: _pids_now(state), settle)
        if back:
            raise CommandExecutionError(
                "`{}` stopped the client, but it was running again within {} s (pid {}): its "
                "watchdog {} (pid {}) restarted it. Stop the watchdog first: "
                "cloudassist.stop stop_watchdog=True, or `{} --stop`".format(
                    command, settle, _pid_text(back), WATCHDOG_NAME, _pid_text(watchdog), WATCHDOG_BINARY
                )
            )
        return [
            "the watchdog {} (pid {}) is still running and may start the client again; "
            "stop it with stop_watchdog=True".format(WATCHDOG_NAME, _pid_text(watchdog))
        ]
    return []


def _verify_started(state, command, timeout, settle):
    pids = _wait_for(lambda: _pids_now(state), timeout)
    if not pids:
        raise CommandExecutionError(
            "`{}` succeeded but the client is not running after {} s ({}). Check the client's "
            "log and the service's own status".format(command, timeout, state["branch"])
        )
    if settle:
        time.sleep(settle)
        after = _pids_now(state)
        if not after:
            raise CommandExecutionError(
                "`{}` started the client (pid {}) but it exited within {} s. Check the "
                "client's log".format(command, _pid_text(pids), settle)
            )
        pids = after
    return pids


def _pid_text(pids):
    return ", ".join(str(p) for p in pids)


def _result(state, action, changed, command, pids, comment, warnings=()):
    result = {
        "running": bool(pids),
        "changed": changed,
        "init_system": state["init_system"],
        "service": state["service"],
        "version": state["version"],
        "command": command,
        "pids": pids,
        "pids_before": state["pids"],
        "comment": comment,
    }
    if action == "stop":
        result["warning"] = STOP_WARNING
    if warnings:
        result["warnings"] = list(warnings)
    return result


def _do(action, timeout=None, settle=None, stop_watchdog=False):
    timeout = _seconds("timeout", timeout, DEFAULT_TIMEOUT)
    settle = _seconds("settle", settle, DEFAULT_SETTLE, allow_zero=True)
    stop_watchdog = _u("cloudassist_args.flag")("the argument stop_watchdog", stop_watchdog)
    with _exclusive(timeout):
        state, row = _state(timeout)
        planned = state["commands"]
        warnings = []
        if action == "stop":
            log.warning("cloudassist: %s", STOP_WARNING)
            stopped = _stop_watchdog(state, timeout) if stop_watchdog else None
            if stopped:
                warnings.append("stopped the watchdog first: `{}`".format(stopped))
            if not state["running"]:
                result = _result(state, action, bool(stopped), planned["stop"], [],
                                 "the client is already stopped ({}); `{}` was not run".format(
                                     state["service"], planned["stop"]), warnings)
            else:
                command = _run_steps(state, row, "stop", timeout)
                warnings += _verify_stopped(state, command, timeout, settle)
                result = _result(state, action, True, command, [],
                                 "stopped the client with `{}`".format(command), warnings)
            result["watchdog_stopped"] = bool(stopped)
            return result
        if action == "start":
            if state["running"]:
                return _result(state, action, False, planned["start"], state["pids"],
                               "the client is already running (pid {}); `{}` was not run".format(
                                   _pid_text(state["pids"]), planned["start"]))
            command = _run_steps(state, row, "start", timeout)
            pids = _verify_started(state, command, timeout, settle)
            return _result(state, action, True, command, pids, "started the client with `{}`".format(command))
        commands = []
        if state["running"]:
            commands.append(_run_steps(state, row, "stop", timeout))
            _wait_stopped(state, commands[-1], timeout)
        commands.append(_run_steps(state, row, "start", timeout))
        pids = _verify_started(state, commands[-1], timeout, settle)
        command = "; ".join(commands)
        return _result(state, action, True, command, pids,
                       "restarted the client with `{}` (pid {} -> {})".format(
                           command, _pid_text(state["pids"]) or "none", _pid_text(pids)))


# --- public functions ---------------------------------------------------------------------


def version(timeout=None):
    """
    Return the installed Cloud Assistant client's version, e.g. ``'2.2.3.578'``.

    Linux: the output of ``aliyun-service -v`` (the line that is a version; anything else
    the client prints is ignored).  Windows: ``aliyun_assist_service.exe --version`` of the
    binary the ``AliyunService`` configuration names, else of the newest version folder.

    timeout
        Seconds the command may take (default: ``cloudassist:timeout``, else 30).

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.version
    """
    timeout = _seconds("timeout", timeout, DEFAULT_TIMEOUT)
    if _platform() == "windows":
        state, _ = _windows_state(timeout)
        if state["version"] is None:
            raise CommandExecutionError(
                "the version of the Cloud Assistant client could not be read: " + state["version_problem"]
            )
        return state["version"]
    return _binary_version([_linux_binary(), "-v"], timeout)


def status(timeout=None):
    """
    Return what this minion knows about its Cloud Assistant client.

    The dict holds ``installed``, ``running`` (whether a client process is running, read
    from the process table or the Service Control Manager), ``pids``, ``version``,
    ``init_system`` (``systemd``, ``upstart``, ``sysvinit`` or ``windows``), ``service``
    (the unit, job, script or Windows service the vendor's procedure manages here),
    ``branch``, ``commands`` (what ``stop`` and ``start`` would run), ``decided_by`` and
    ``evidence`` (how the init system was decided, most trusted source first),
    ``watchdog``, and ``blocked`` (why ``stop``/``start`` cannot run here, e.g. a missing
    ``chkconfig``, or None).

    timeout
        Seconds any command may take (default: ``cloudassist:timeout``, else 30).

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.status
    """
    state, _ = _state(_seconds("timeout", timeout, DEFAULT_TIMEOUT))
    return state


def stop(timeout=None, settle=None, stop_watchdog=False):
    """
    Stop the Cloud Assistant client with the command the vendor's procedure gives for this
    minion, then check that it really stopped.

    Stopping the client means the instance no longer receives Cloud Assistant commands, and
    the vendor warns it can make the instance misbehave: the warning is logged and returned.

    timeout
        Seconds each command may take, and the client may take to stop (default 30).
    settle
        Seconds to watch for a restart by the watchdog ``assist_daemon`` when it runs
        (default 2).
    stop_watchdog
        Stop ``assist_daemon`` first (``assist_daemon --stop``), so it cannot restart the
        client (default False).

    Raises an error naming the command, its exit code and output when the command fails, or
    when the client is still (or again) running afterwards.

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.stop
        salt '*' cloudassist.stop stop_watchdog=True
    """
    return _do("stop", timeout=timeout, settle=settle, stop_watchdog=stop_watchdog)


def start(timeout=None, settle=None):
    """
    Start the Cloud Assistant client with the command the vendor's procedure gives for this
    minion, then check that it is running and stays up for ``settle`` seconds.

    timeout
        Seconds each command may take, and the client may take to appear (default 30).
    settle
        Seconds the started client must stay up (default 2).

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.start
    """
    return _do("start", timeout=timeout, settle=settle)


def restart(timeout=None, settle=None):
    """
    Restart the Cloud Assistant client: the vendor's stop command (when it runs), then its
    start command, each checked.  A stopped client is just started.

    timeout
        Seconds each command may take, and the client may take to stop or appear (default 30).
    settle
        Seconds the started client must stay up (default 2).

    CLI Example:

    .. code-block:: bash

        salt '*' cloudassist.restart
    """
    return _do("restart", timeout=timeout, settle=settle)
