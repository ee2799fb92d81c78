"""
Declare whether the Alibaba Cloud Assistant client should be running.

Each minion manages its client the way the vendor's procedure says for it (see the
``cloudassist`` execution module), reads the status again afterwards, and reports a change
only when the client's status really changed.

.. code-block:: yaml

    cloud-assistant:
      cloudassist.running

    cloud-assistant-off:
      cloudassist.stopped:
        - stop_watchdog: True

    cloud-assistant-reloaded:
      cloudassist.running:
        - watch:
          - file: /etc/aliyun-assist/config.json
"""

from salt.exceptions import CommandExecutionError, SaltInvocationError

__virtualname__ = "cloudassist"


def __virtual__():
    if "cloudassist.status" in __salt__:
        return __virtualname__
    return (False, "cloudassist: the cloudassist execution module is not available")


def _check_args(timeout, settle, stop_watchdog=False, extra=None, fun=None, takes=()):
    unknown = sorted(key for key in (extra or {}) if not key.startswith("__"))
    if unknown:
        raise SaltInvocationError(
            "cloudassist.{} does not take {} (it takes: name, {}){}".format(
                fun,
                ", ".join(repr(key) for key in unknown),
                ", ".join(takes),
                "; starting at boot is not managed here, use service.enabled"
                if "enable" in unknown
                else "",
            )
        )
    if timeout is not None:
        __utils__["cloudassist_args.seconds"]("timeout", timeout)
    if settle is not None:
        __utils__["cloudassist_args.seconds"]("settle", settle, True)
    __utils__["cloudassist_args.flag"]("stop_watchdog", stop_watchdog)


def _ensure(name, want_running, timeout, settle, stop_watchdog, extra, fun):
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    want = "running" if want_running else "stopped"
    action = "start" if want_running else "stop"
    takes = ("timeout", "settle") if want_running else ("timeout", "settle", "stop_watchdog")
    try:
        _check_args(timeout, settle, stop_watchdog, extra, fun, takes)
        if __opts__["test"]:
            return _predict(ret, want_running, stop_watchdog, __salt__["cloudassist.status"](timeout=timeout))
        kwargs = {"timeout": timeout, "settle": settle}
        if action == "stop":
            kwargs["stop_watchdog"] = stop_watchdog
        # The action reads the status first and does nothing when there is nothing to do.
        result = __salt__["cloudassist." + action](**kwargs)
    except (CommandExecutionError, SaltInvocationError) as exc:
        ret["comment"] = str(exc)
        return ret

    was_running = bool(result["pids_before"])
    if result["running"] != was_running:
        ret["changes"]["running"] = {"old": was_running, "new": result["running"]}
    if result.get("watchdog_stopped"):
        ret["changes"]["watchdog"] = {"old": True, "new": False}
    ret["result"] = result["running"] == want_running
    if not ret["changes"]:
        ret["comment"] = _already(want, result)
        return ret
    comment = [_sentence(result["comment"])] + [_sentence(w) for w in result.get("warnings", [])]
    if action == "stop":
        comment.append(result["warning"])
    ret["comment"] = " ".join(comment)
    return ret


def _predict(ret, want_running, stop_watchdog, status):
    want = "running" if want_running else "stopped"
    action = "start" if want_running else "stop"
    watchdog_to_stop = not want_running and stop_watchdog and status["watchdog"]["running"]
    if status["running"] == want_running and not watchdog_to_stop:
        ret["result"] = True
        ret["comment"] = _already(want, status)
        return ret
    if status["blocked"] and status["running"] != want_running:
        ret["comment"] = status["blocked"]
        return ret
    steps = []
    if watchdog_to_stop:
        ret["changes"]["watchdog"] = {"old": True, "new": False}
        steps.append("stop the watchdog assist_daemon (assist_daemon --stop)")
    if status["running"] != want_running:
        ret["changes"]["running"] = {"old": status["running"], "new": want_running}
        steps.append("run `{}`".format(status["commands"][action]))
    ret["result"] = None
    ret["comment"] = "The Cloud Assistant client would be {}: would {} ({}).".format(
        want, " and then ".join(steps), status["branch"]
    )
    return ret


def _already(want, facts):
    return "The Cloud Assistant client is already {} ({}, {}).".format(
        want, facts["service"], facts["init_system"]
    )


def _sentence(text):
    return text[:1].upper() + text[1:] + "."


def running(name, timeout=None, settle=None, **kwargs):
    """
    Ensure the Cloud Assistant client is running.

    name
        Any label; the client is found on the minion itself.
    timeout
        Seconds each command may take (default: ``cloudassist:timeout``, else 30).
    settle
        Seconds a started client must stay up before success is reported (default 2).

    .. code-block:: yaml

        cloud-assistant:
          cloudassist.running
    """
    return _ensure(name, True, timeout, settle, False, kwargs, "running")


def stopped(name, timeout=None, settle=None, stop_watchdog=False, **kwargs):
    """
    Ensure the Cloud Assistant client is stopped.

    Stopping the client means the instance no longer receives Cloud Assistant commands; the
    vendor warns it may make the instance misbehave.

    name
        Any label; the client is found on the minion itself.
    timeout
        Seconds each command may take (default: ``cloudassist:timeout``, else 30).
    settle
        Seconds to watch for a restart by the watchdog when it runs (default 2).
    stop_watchdog
        Stop the watchdog ``assist_daemon`` first, so it cannot start the client again.

    .. code-block:: yaml

        cloud-assistant:
          cloudassist.stopped:
            - stop_watchdog: True
    """
    return _ensure(name, False, timeout, settle, stop_watchdog, kwargs, "stopped")


def dead(name, timeout=None, settle=None, stop_watchdog=False, **kwargs):
    """
    Ensure the Cloud Assistant client is stopped: an alias of ``cloudassist.stopped``, as
    ``service.dead`` is of a stopped service.

    .. code-block:: yaml

        cloud-assistant:
          cloudassist.dead
    """
    return _ensure(name, False, timeout, settle, stop_watchdog, kwargs, "dead")


def mod_watch(name, sfun=None, timeout=None, settle=None, **kwargs):
    """
    Restart a running client when a watched state changed (``watch:`` on
    ``cloudassist.running``); start it when it was stopped.  ``cloudassist.stopped`` ignores
    watch: a stopped client stays stopped.
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    if sfun not in ("running",):
        ret["result"] = True
        ret["comment"] = "A watch on cloudassist.{} does nothing: the client stays stopped.".format(sfun)
        return ret
    try:
        _check_args(timeout, settle)
        if __opts__["test"]:
            status = __salt__["cloudassist.status"](timeout=timeout)
            if status["blocked"]:
                ret["comment"] = status["blocked"]
                return ret
            ret["result"] = None
            if status["running"]:
                ret["changes"] = {"restarted": {"old": status["pids"], "new": "new pids"}}
            else:
                ret["changes"] = {"running": {"old": False, "new": True}}
            ret["comment"] = "The Cloud Assistant client would be {}: would run `{}`.".format(
                "restarted" if status["running"] else "started",
                "; ".join(
                    [status["commands"]["stop"]] * status["running"] + [status["commands"]["start"]]
                ),
            )
            return ret
        result = __salt__["cloudassist.restart"](timeout=timeout, settle=settle)
    except (CommandExecutionError, SaltInvocationError) as exc:
        ret["comment"] = "Failed to restart the Cloud Assistant client: {}".format(exc)
        return ret
    ret["result"] = result["running"]
    if result["pids_before"]:
        ret["changes"] = {"restarted": {"old": result["pids_before"], "new": result["pids"]}}
    else:
        ret["changes"] = {"running": {"old": False, "new": result["running"]}}
    ret["comment"] = _sentence(result["comment"])
    return ret
