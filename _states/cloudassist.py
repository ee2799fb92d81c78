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
        - enable: False

    cloud-assistant-at-boot:
      cloudassist.enabled

    cloud-assistant-reloaded:
      cloudassist.running:
        - watch:
          - file: /etc/aliyun-assist/config.json
"""

import importlib.util
import os
import re

from salt.exceptions import CommandExecutionError, SaltInvocationError

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
        import _cloudassist_errors as errors
        import _cloudassist_install as install

__virtualname__ = "cloudassist"


def __virtual__():
    if not os.path.isfile(_LIB):
        return (
            False,
            f"cloudassist: {_LIB} is missing: sync the execution modules too, with "
            "saltutil.sync_all (salt-run saltutil.sync_all on a master)",
        )
    refusal = install.refusal(__file__)
    if refusal:
        return (False, refusal)
    if "cloudassist.status" in __salt__:
        return __virtualname__
    return (False, "cloudassist: the cloudassist execution module is not available")


def _made_before(exc):
    """The changes a failure says were made before it (none for Salt's own errors)."""
    return dict(exc.changes) if isinstance(exc, (errors.Failure, errors.Failed)) else {}


def _check_args(
    timeout,
    settle,
    stop_watchdog=False,
    *,
    extra=None,
    fun=None,
    takes=(),
    enable=None,
    reset_failed=None,
    leftovers=None,
    updates=None,
):
    unknown = sorted(key for key in (extra or {}) if not key.startswith("__"))
    if unknown:
        raise SaltInvocationError(
            "cloudassist.{} does not take {} (it takes: name, {})".format(
                fun, ", ".join(repr(key) for key in unknown), ", ".join(takes)
            )
        )
    if timeout is not None:
        args.seconds("timeout", timeout)
    if settle is not None:
        args.seconds("settle", settle, allow_zero=True)
    args.flag("stop_watchdog", stop_watchdog)
    if enable is not None:
        args.flag("enable", enable)
    if reset_failed is not None:
        args.flag("reset_failed", reset_failed)
    if leftovers is not None:
        args.choice("leftovers", leftovers, args.LEFTOVER_MODES)
    if updates is not None:
        args.choice("updates", updates, args.UPDATE_MODES)


def _act(ret, action, **kwargs):
    """Run (or, under test=True, plan) ``action`` through the execution module: one plan for
    both."""
    test = bool(__opts__["test"])
    result = __salt__["cloudassist." + action](test=test, **kwargs)
    ret["changes"] = result["changes"]
    return result, test


def _ensure(
    name,
    want_running,
    timeout,
    *,
    settle,
    stop_watchdog,
    extra,
    fun,
    enable=None,
    reset_failed=None,
    leftovers=None,
    updates=None,
):
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    want = "running" if want_running else "stopped"
    takes = (
        ("timeout", "settle", "enable", "reset_failed", "updates")
        if want_running
        else ("timeout", "settle", "stop_watchdog", "enable", "leftovers", "updates")
    )
    switched = None
    try:
        _check_args(
            timeout,
            settle,
            stop_watchdog,
            extra=extra,
            fun=fun,
            takes=takes,
            enable=enable,
            reset_failed=reset_failed,
            leftovers=leftovers,
            updates=updates,
        )
        if updates is not None:
            # First: a client to be frozen must not update itself when it is started here.
            try:
                switched = __salt__[
                    "cloudassist.freeze_updates"
                    if updates == "frozen"
                    else "cloudassist.allow_updates"
                ](timeout=timeout, test=bool(__opts__["test"]))
            except (errors.Failure, CommandExecutionError) as exc:
                ret["changes"] = _with_updates({}, _made_before(exc))
                ret["comment"] = "{} The client's {} state was left alone.".format(
                    _sentence(str(exc).rstrip(".")), want
                )
                return ret
        kwargs = {"timeout": timeout, "settle": settle, "enable": enable}
        if want_running:
            kwargs["reset_failed"] = reset_failed
        else:
            kwargs["stop_watchdog"] = stop_watchdog
            kwargs["leftovers"] = leftovers
        # The action reads the status first and does nothing when there is nothing to do.
        result, test = _act(ret, "start" if want_running else "stop", **kwargs)
    except (errors.Failure, CommandExecutionError, SaltInvocationError) as exc:
        ret["changes"] = _with_updates(_made_before(exc), switched and switched["changes"])
        ret["comment"] = str(exc)
        if switched is not None:
            ret["comment"] += " " + _updates_comment(switched)
        return ret
    holds = result["running"] == want_running and (enable is None or result["enabled"] == enable)
    warnings = [_sentence(w) for w in result.get("warnings", [])]
    updated = [] if switched is None else [_updates_comment(switched)]
    if not ret["changes"]:
        ret["result"] = holds
        ret["comment"] = " ".join([_already(want, result, enable)] + updated + warnings)
    elif test:
        ret["result"] = None
        ret["comment"] = " ".join([result["comment"]] + updated + warnings)
    else:
        ret["result"] = holds
        comment = [_sentence(result["comment"])] + updated + warnings
        if not want_running and set(ret["changes"]) - {"enabled", "watchdog_enabled"}:
            comment.append(result["warning"])
        ret["comment"] = " ".join(comment)
    if switched is not None:
        ret["changes"] = _with_updates(ret["changes"], switched["changes"])
        if switched["changes"] and test:
            ret["result"] = None if ret["result"] is not False else False
        elif ret["result"] is True:
            ret["result"] = switched["frozen"] is (updates == "frozen")
    return ret


def _updates_comment(switched):
    return _sentence(switched["comment"].rstrip("."))


def _with_updates(changes, updates_changes):
    """``changes`` with the self-update's own under ``updates`` (where it changed)."""
    return {**changes, "updates": updates_changes} if updates_changes else dict(changes)


def _already(want, result, enable=None):
    at_boot = ""
    if enable is not None:
        at_boot = " and {} at boot".format("starts" if result["enabled"] else "does not start")
    return "The Cloud Assistant client is already {}{} ({}, {}).".format(
        want, at_boot, result["service"], result["init_system"]
    )


def _ensure_boot(name, want_enabled, timeout, *, extra, fun):
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    try:
        _check_args(timeout, None, extra=extra, fun=fun, takes=("timeout",))
        result, test = _act(ret, "enable" if want_enabled else "disable", timeout=timeout)
    except (errors.Failure, CommandExecutionError, SaltInvocationError) as exc:
        ret["changes"] = _made_before(exc)
        ret["comment"] = str(exc)
        return ret
    warnings = [_sentence(w) for w in result.get("warnings", [])]
    if not ret["changes"]:
        ret["result"] = result["enabled"] == want_enabled
        comment = "The Cloud Assistant client already {} at boot ({}, {}).".format(
            "starts" if result["enabled"] else "does not start",
            result["service"],
            result["init_system"],
        )
    else:
        ret["result"] = None if test else result["enabled"] == want_enabled
        comment = result["comment"] if test else _sentence(result["comment"])
    ret["comment"] = " ".join([comment] + warnings)
    return ret


def _sentence(text):
    return text[:1].upper() + text[1:] + "."


def running(
    name, timeout=None, settle=None, enable=None, reset_failed=None, updates=None, **kwargs
):
    """
    Ensure the Cloud Assistant client is running.

    name
        Any label; the client is found on the minion itself.
    timeout
        Seconds each command may take (default: ``cloudassist:timeout``, else 30).
    settle
        Seconds a started client must stay up before success is reported (default 2).
    enable
        ``True``: the client's service also starts at boot; ``False``: it does not;
        absent: boot is left alone.  ``changes`` has an ``enabled`` entry only when the boot
        status really changed.
    reset_failed
        Where systemd has given up on the client's unit (its start limit), run
        ``systemctl reset-failed UNIT`` before the start (``changes`` then has
        ``start_limit_hit``); ``False`` forbids it and the state fails, naming the unit and
        the command.  Default: ``cloudassist:reset_failed``, else True.  A ``watch`` restart
        follows the same setting.
    updates
        ``frozen``: the client does not update itself (``cloudassist.freeze_updates``: the
        markers ``disable_update`` and ``disable_bootstrap_update`` in its cross-version config
        folder); ``allowed``: it may (``cloudassist.allow_updates``: every such marker it reads
        removed); absent: left alone.  Done first, so a client started here does not update
        itself at its start; ``changes`` then has ``updates`` (what was created or removed).

    .. code-block:: yaml

        cloud-assistant:
          cloudassist.running:
            - enable: True
            - updates: frozen
    """
    return _ensure(
        name,
        True,
        timeout,
        settle=settle,
        stop_watchdog=False,
        extra=kwargs,
        fun="running",
        enable=enable,
        reset_failed=reset_failed,
        updates=updates,
    )


def stopped(
    name,
    timeout=None,
    settle=None,
    stop_watchdog=False,
    enable=None,
    leftovers=None,
    updates=None,
    **kwargs,
):
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
        Stop the watchdog first (its systemd unit ``AssistDaemon.service``, or
        ``assist_daemon --stop``), so it cannot start the client again; with
        ``enable: False`` it is also kept from starting at boot.
    enable
        ``False``: the client's service does not start at boot either, so the next reboot
        does not bring it back; ``True``: it starts at boot; absent: boot is left alone.
    leftovers
        ``end`` (the default, else ``cloudassist:leftovers``): the processes the client
        leaves running when it stops (its updater, a console command: under systemd what is
        left in its unit, elsewhere programs of its install folder) are ended, and named in
        ``changes`` as ``leftovers``; ``keep``: they are named in the comment and left
        running.  See ``cloudassist.stop``.
    updates
        ``frozen``: the client does not update itself (``cloudassist.freeze_updates``: the
        markers ``disable_update`` and ``disable_bootstrap_update`` in its cross-version config
        folder); ``allowed``: it may (``cloudassist.allow_updates``: every such marker it reads
        removed); absent: left alone.  Done first; ``changes`` then has ``updates`` (what
        was created or removed).

    .. code-block:: yaml

        cloud-assistant:
          cloudassist.stopped:
            - stop_watchdog: True
            - enable: False
            - updates: frozen
    """
    return _ensure(
        name,
        False,
        timeout,
        settle=settle,
        stop_watchdog=stop_watchdog,
        extra=kwargs,
        fun="stopped",
        enable=enable,
        leftovers=leftovers,
        updates=updates,
    )


def dead(
    name,
    timeout=None,
    settle=None,
    stop_watchdog=False,
    enable=None,
    leftovers=None,
    updates=None,
    **kwargs,
):
    """
    Ensure the Cloud Assistant client is stopped: an alias of ``cloudassist.stopped``, as
    ``service.dead`` is of a stopped service.

    .. code-block:: yaml

        cloud-assistant:
          cloudassist.dead:
            - enable: False
    """
    return _ensure(
        name,
        False,
        timeout,
        settle=settle,
        stop_watchdog=stop_watchdog,
        extra=kwargs,
        fun="dead",
        enable=enable,
        leftovers=leftovers,
        updates=updates,
    )


def installed(
    name,
    source,
    version=None,
    source_hash=None,
    updates=None,
    running=True,
    allow_downgrade=False,
    timeout=None,
    settle=None,
    **kwargs,
):
    """
    Ensure the Cloud Assistant client's package is installed (``cloudassist.install``), its
    self-update frozen or allowed, and the client running or stopped.

    The plan is ``cloudassist.install`` with ``test=True``, under ``test=True`` and for real
    alike; then, in this order:

    1. ``updates``, where a client is installed already: frozen (or allowed) before the
       package is installed, so the version the package starts does not update itself at its
       start;
    2. the package, where the plan installs it (``dpkg -i``, ``dnf install``, ... the
       minion's own tool, as ``cloudassist.install`` says; the package's own scripts start
       the client and ``cloudassist.install`` checks it runs at the package's version);
    3. ``updates``, where no client was there before (a first install: the markers are made as
       soon as there is a client to read them), or again after an upgrade, in case the
       package's scripts changed them;
    4. ``running``: started (``cloudassist.start``) or stopped (``cloudassist.stop``).

    The package at the file's version with the client stopped is not installed again: the
    client is started (or left stopped with ``running: False``).  A newer client is kept, and
    the comment says so, unless ``allow_downgrade``.  ``changes`` has ``version``
    (``old``, ``new``: ``old`` None where there was no client), ``updates`` (see
    ``cloudassist.running``) and the start's or stop's own (``running``, ...), each only where
    it changed; a step that fails ends the state (``result`` False) with the changes made
    before it.

    name
        Any label.
    source
        The package, as for ``cloudassist.install`` (``.deb``, ``.rpm``, the Windows
        installer): ``salt://``, an absolute path on the minion, or ``https://``/``http://``
        with ``source_hash``.
    version
        The version the package must hold (four integers); a file of another version fails
        the state, and nothing is changed.
    source_hash
        The package's hash, for ``https://`` and ``http://`` sources (see
        ``cloudassist.install``).
    updates
        ``frozen`` or ``allowed`` (as for ``cloudassist.running``); absent: left alone.
    running
        ``True`` (the default): the client runs afterwards, as ``cloudassist.running`` makes
        it; ``False``: it is stopped after the install (the package's scripts start it; its
        service still starts at boot: add ``cloudassist.disabled`` for that).
    allow_downgrade
        Install the package even when a newer client is installed (default False: the newer
        one is kept and the state succeeds, saying so).
    timeout
        Seconds each command may take (default: ``cloudassist:timeout``, else 30; see
        ``cloudassist.install`` for the package tool's own command).
    settle
        Seconds the installed (or started) client must stay up before the step counts as done
        (default: ``cloudassist:settle``, else 2).

    .. code-block:: yaml

        cloud-assistant-installed:
          cloudassist.installed:
            - source: salt://cloudassist/aliyun-assist_2.2.4.1065.deb
            - version: 2.2.4.1065
            - updates: frozen
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    test = bool(__opts__["test"])
    try:
        _check_args(
            timeout,
            settle,
            extra=kwargs,
            fun="installed",
            takes=(
                "source",
                "version",
                "source_hash",
                "updates",
                "running",
                "allow_downgrade",
                "timeout",
                "settle",
            ),
            updates=updates,
        )
        args.flag("running", running)
        args.flag("allow_downgrade", allow_downgrade)
        planned = __salt__["cloudassist.install"](
            source,
            version=version,
            source_hash=source_hash,
            timeout=timeout,
            test=True,
            allow_downgrade=allow_downgrade,
        )
    except (errors.Failure, CommandExecutionError, SaltInvocationError) as exc:
        ret["comment"] = str(exc)
        return ret
    change = planned["changes"].get("version")
    present = planned.get("installed") is True and not planned.get("broken")
    # The package at its version with the client stopped: starting it (or not) is the running
    # step's business, not a reinstall's.
    install_now = bool(change) and not (present and change["old"] == change["new"])
    steps = _InstallSteps(ret, test=test, timeout=timeout, settle=settle)
    if updates is not None and present and not steps.switch_updates(updates, "updates"):
        return steps.failed("The package and the client's running state were left alone.")
    if not install_now:
        steps.comments.append(
            f"The client's package is installed at {change['new']}."
            if change
            else planned["comment"].rstrip(".") + "."
        )
    elif test:
        ret["changes"]["version"] = change
        steps.comments.append(planned["comment"].rstrip(".") + ".")
    elif not steps.install(
        source, version=version, source_hash=source_hash, allow_downgrade=allow_downgrade
    ):
        return steps.failed("The client's updates and running state were left alone.")
    if updates is not None and (not present or (install_now and not test)):
        if test:
            steps.comments.append(f"The client's updates would be {updates} once it is installed.")
            if updates == "frozen":
                ret["changes"]["updates"] = {
                    "frozen": {"old": False, "new": True},
                    "bootstrap_frozen": {"old": False, "new": True},
                }
        elif not steps.switch_updates(
            updates, "updates_again" if "updates" in ret["changes"] else "updates"
        ):
            return steps.failed("The client's running state was left alone.")
    if test and install_now:
        if not running:
            ret["changes"]["running"] = {"old": True, "new": False}
            steps.comments.append(
                "The client would then be stopped (the package's scripts start it)."
            )
    elif not steps.run_or_stop(running):
        return steps.failed()
    ret["comment"] = " ".join(steps.comments)
    ret["result"] = None if test and ret["changes"] else True
    return ret


class _InstallSteps:
    """The steps of ``installed`` after its plan: each adds its changes and its comment to
    ``ret``, and says whether it succeeded (``failed`` then gives the state's return)."""

    def __init__(self, ret, *, test, timeout, settle):
        self.ret, self.test, self.timeout, self.settle = ret, test, timeout, settle
        self.comments = []

    def _call(self, function, key, **kwargs):
        try:
            return __salt__["cloudassist." + function](**kwargs)
        except (errors.Failure, CommandExecutionError) as exc:
            made = _made_before(exc)
            if key is None:
                self.ret["changes"].update(made)
            elif made:
                self.ret["changes"][key] = made
            self.comments.append(_sentence(str(exc).rstrip(".")))
            return None

    def switch_updates(self, updates, key):
        switched = self._call(
            "freeze_updates" if updates == "frozen" else "allow_updates",
            key,
            timeout=self.timeout,
            test=self.test,
        )
        if switched is None:
            return False
        if switched["changes"]:
            self.ret["changes"][key] = switched["changes"]
        self.comments.append(_updates_comment(switched))
        return True

    def install(self, source, *, version, source_hash, allow_downgrade):
        done = self._call(
            "install",
            None,
            source=source,
            version=version,
            source_hash=source_hash,
            timeout=self.timeout,
            allow_downgrade=allow_downgrade,
            settle=self.settle,
        )
        if done is None:
            return False
        self.ret["changes"].update(done["changes"])
        self.comments.append(done["comment"].rstrip(".") + ".")
        return True

    def run_or_stop(self, running):
        result = self._call(
            "start" if running else "stop",
            None,
            timeout=self.timeout,
            settle=self.settle,
            test=self.test,
        )
        if result is None:
            return False
        self.ret["changes"].update(result["changes"])
        if result["changes"]:
            self.comments.append(_sentence(result["comment"].rstrip(".")))
        elif not running:
            self.comments.append("The client is already stopped.")
        if not self.test and result["running"] is not running:
            self.comments.append(
                "Read again, the client is {}.".format(
                    "running" if result["running"] else "stopped"
                )
            )
            return False
        return True

    def failed(self, left=""):
        self.ret["result"] = False
        self.ret["comment"] = " ".join(self.comments + ([left] if left else []))
        return self.ret


def enabled(name, timeout=None, **kwargs):
    """
    Ensure the Cloud Assistant client's service starts at boot (see
    ``cloudassist.enable``); whether it runs now is left alone.

    .. code-block:: yaml

        cloud-assistant-at-boot:
          cloudassist.enabled
    """
    return _ensure_boot(name, True, timeout, extra=kwargs, fun="enabled")


def disabled(name, timeout=None, **kwargs):
    """
    Ensure the Cloud Assistant client's service does not start at boot (see
    ``cloudassist.disable``); a running client keeps running.

    .. code-block:: yaml

        cloud-assistant-not-at-boot:
          cloudassist.disabled
    """
    return _ensure_boot(name, False, timeout, extra=kwargs, fun="disabled")


def removed(name, timeout=None, remove_watchdog=True, **kwargs):
    """
    Ensure the Cloud Assistant client is removed: no package, process, updater, unit, init
    script, watchdog, self-update marker or binary link of it is left (see
    ``cloudassist.remove``: the watchdog stopped and its files removed, ``dpkg --purge`` on
    dpkg hosts or ``dnf``/``yum``/``zypper remove``, ``rpm -e`` on rpm hosts, then the markers
    and the client's empty folders, each read back; on Windows the service's binary with
    ``--remove`` then ``--stop``, as the vendor's own removal, then its version folders, read
    back from the Service Control Manager, the process table and the folders).  ``changes``
    has ``version`` (old, new None) when the package was removed, ``watchdog`` when it was
    stopped, ``service`` when ``AliyunService`` was deleted (Windows) and ``files`` (the paths
    removed); a failure names what is left.  Files that are not the package's (on Windows:
    not in a version folder) and stay are named in the comment (``kept``).

    name
        Any label; the client is found on the minion itself.
    timeout
        Seconds each command may take, and what is left may take to go after the removal
        (default: ``cloudassist:timeout``, else 30).
    remove_watchdog
        Stop and remove the watchdog ``assist_daemon`` too (default True, as
        ``cloudassist.remove``; ignored on Windows, where the removal touches no watchdog).

    .. code-block:: yaml

        cloud-assistant-gone:
          cloudassist.removed
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    try:
        _check_args(
            timeout, None, extra=kwargs, fun="removed", takes=("timeout", "remove_watchdog")
        )
        remove_watchdog = args.flag("remove_watchdog", remove_watchdog)
        result, test = _act(ret, "remove", timeout=timeout, remove_watchdog=remove_watchdog)
    except (errors.Failure, CommandExecutionError, SaltInvocationError) as exc:
        ret["changes"] = _made_before(exc)
        ret["comment"] = str(exc)
        return ret
    if not result["steps"]:
        ret["result"] = True
        ret["comment"] = "The Cloud Assistant client is already removed ({}).".format(
            result["comment"]
        )
    elif test:
        ret["result"] = None
        left = " (left now: {})".format("; ".join(result["left"])) if result["left"] else ""
        ret["comment"] = result["comment"] + left + "."
    else:
        # The module read the truth back: it raises when anything is left.
        ret["result"] = True
        ret["comment"] = _sentence(result["comment"])
    if result.get("kept"):
        ret["comment"] += " Kept (not the package's): {}.".format(", ".join(result["kept"]))
    return ret


def mod_watch(name, sfun=None, timeout=None, settle=None, reset_failed=None, **kwargs):
    """
    Restart a running client when a watched state changed (``watch:`` on
    ``cloudassist.running``); start it when it was stopped.  ``cloudassist.stopped`` ignores
    watch: a stopped client stays stopped.  Salt calls it; an SLS never names it:

    .. code-block:: yaml

        cloud-assistant:
          cloudassist.running:
            - watch:
              - file: /etc/aliyun-assist/config.json
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    if sfun not in ("running",):
        ret["result"] = True
        ret["comment"] = f"A watch on cloudassist.{sfun} does nothing: the client stays stopped."
        return ret
    try:
        _check_args(timeout, settle, reset_failed=reset_failed)
        result, test = _act(
            ret, "restart", timeout=timeout, settle=settle, reset_failed=reset_failed
        )
    except (errors.Failure, CommandExecutionError, SaltInvocationError) as exc:
        ret["changes"] = _made_before(exc)
        ret["comment"] = f"Failed to restart the Cloud Assistant client: {exc}"
        return ret
    ret["result"] = None if test else result["running"]
    ret["comment"] = result["comment"] if test else _sentence(result["comment"])
    return ret
