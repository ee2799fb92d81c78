"""
Send an event when the Alibaba Cloud Assistant client stops, starts, is restarted or changes
version.

A poll starts no process: the client's pids come from the process table (the same test as
``cloudassist.status``: the client's own executable, in this host's PID namespace and root;
look-alikes do not count) and its versions from the install's files.  A quiet poll does not read
the whole process table: it checks that none of the processes started since the last poll (the
pids allocated since, from ``/proc/loadavg``) has the client's name and that the client's
processes are still the same ones (pid and start time); the whole table is read again when that
cannot be told, and at least every 60 seconds (a process started before a poll that only later
becomes the client, by ``exec``, is seen by then).  Events fire only on a
change since the last poll, which is also kept in ``<cachedir>/cloudassist-beacon-<name>.json``
so that a reload (a module refresh, a minion restart) loses no change.  The very first poll
records what it finds and, unless ``emitatstartup`` is set, fires nothing.

.. code-block:: yaml

    beacons:
      cloudassist:
        - interval: 10              # seconds between polls (Salt's own key)
        - binary: /usr/sbin/aliyun-service   # optional, see below
        - emitatstartup: False      # optional: one ``startup`` event at the first poll

``binary`` defaults to ``cloudassist:binary`` (minion config or pillar), else
``/usr/sbin/aliyun-service``, ``/opt/sbin/aliyun-service``, then ``aliyun-service`` on the
PATH, as the execution module.

Tags: ``salt/beacon/<minion id>/cloudassist/<kind>``, kind ``stopped``, ``started``,
``restarted`` (the client ran at both polls with other pids), ``version`` (the installed
version changed), and ``startup``.  Data: ``changes`` (every kind of this poll), ``running``,
``pids``, ``pids_before``, ``version``, ``version_before``, ``running_version``,
``running_version_before``, ``installed``, ``binary``, ``leftovers`` (on ``stopped`` and
``startup``: what the stopped client left running, each with ``pid``, ``exe`` and
``cmdline``: the processes in its systemd unit's cgroup and those whose program lies in its
install folder, e.g. its updater ``aliyun_assist_update``; read only on the poll that saw the
client stop; empty otherwise) (and ``id``, added by Salt).
"""

import importlib.util
import json
import logging
import os
import re
import time

import salt.utils.beacons
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
        import _cloudassist_install as install
        import _cloudassist_watch as watch

log = logging.getLogger(__name__)

__virtualname__ = "cloudassist"

# Keys Salt's beacon machinery reads itself.
SALT_KEYS = (
    "interval",
    "enabled",
    "beacon_module",
    "disable_during_state_run",
    "run_once",
    "_beacon_name",
)
OWN_KEYS = ("binary", "emitatstartup")
CONTEXT = "cloudassist.beacon"


def __virtual__():
    if not os.path.isfile(_LIB):
        return (
            False,
            f"cloudassist: {_LIB} is missing: sync the execution modules too, with "
            "saltutil.sync_all (salt-run saltutil.sync_all on a master)",
        )
    if not salt.utils.platform.is_linux():
        return (
            False,
            "the cloudassist beacon reads the Linux process table; it runs on Linux only",
        )
    refusal = install.refusal(__file__)
    if refusal:
        return (False, refusal)
    return __virtualname__


def validate(config):
    """
    Validate the beacon configuration: a list of one-key dicts, keys as in the module's doc.
    Salt calls it on the minion configuration that turns the beacon on:

    .. code-block:: yaml

        beacons:
          cloudassist:
            - interval: 10
            - emitatstartup: True
    """
    shape = "Configuration for the cloudassist beacon must be a list of dicts (`- interval: 10`)"
    if not isinstance(config, list):
        return False, f"{shape}, not {type(config).__name__}"
    for item in config:
        if not isinstance(item, dict):
            return False, f"{shape}; {item!r} is not a dict"
    config = salt.utils.beacons.list_to_dict(config)
    unknown = sorted(set(config) - set(SALT_KEYS) - set(OWN_KEYS))
    if unknown:
        return False, "the cloudassist beacon does not take {}; it takes {}".format(
            ", ".join(map(repr, unknown)), ", ".join(("interval",) + OWN_KEYS)
        )
    interval = config.get("interval", 1)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
        return False, f"interval must be a positive number of seconds, not {interval!r}"
    binary = config.get("binary")
    if binary is not None and not (isinstance(binary, str) and os.path.isabs(binary)):
        return False, f"binary must be the absolute path of the client, not {binary!r}"
    if not isinstance(config.get("emitatstartup", False), bool):
        return False, "emitatstartup must be true or false, not {!r}".format(
            config["emitatstartup"]
        )
    return True, "Valid beacon configuration"


def _binary(config):
    binary = config.get("binary")
    if binary is None:
        binary = __salt__["config.get"]("cloudassist:binary", None, omit_grains=True)
        if binary is not None and not (isinstance(binary, str) and os.path.isabs(binary)):
            raise ValueError(
                f"the config key cloudassist:binary must be an absolute path, not {binary!r}"
            )
    return binary or watch.default_binary()


def _saved(name):
    return os.path.join(__opts__["cachedir"], f"cloudassist-beacon-{name}.json")


def _load(name):
    """The snapshot of the last poll before this load, or None (none, or unreadable)."""
    try:
        with open(_saved(name)) as handle:
            data = json.load(handle)
        return watch.Snapshot(
            data["binary"],
            data["installed"],
            tuple(data["pids"]),
            data["version"],
            data["running_version"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save(name, snapshot):
    path = _saved(name)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as handle:
            json.dump(snapshot._asdict(), handle)
        os.replace(path + ".tmp", path)
    except OSError as exc:
        log.debug("cloudassist beacon %s: cannot keep the last poll in %s: %s", name, path, exc)


def _poll(state, binary):
    """This poll's snapshot: checked cheaply against the last full one when it can be
    (``watch.quiet``), else read in full; ``state`` keeps what the next poll needs."""
    now = time.monotonic()
    if "snapshot" in state:
        quick = watch.quiet(state["snapshot"], state.get("seen"), binary, now=now)
        if quick is not None:
            after, state["seen"] = quick
            return after
    last_pid = watch.last_pid()  # before the table is read: what starts later is new
    after = watch.snapshot(binary)
    state["seen"] = watch.seen(after, last_pid=last_pid, at=now)
    return after


def beacon(config):
    """
    Poll the client and return the events its change since the last poll means (a list of
    dicts, each with its ``tag``); see the module's doc.

    .. code-block:: yaml

        beacons:
          cloudassist:
            - interval: 10
    """
    config = salt.utils.beacons.list_to_dict(config)
    name = config.get("_beacon_name", __virtualname__)
    state = __context__.setdefault(CONTEXT, {}).setdefault(name, {})
    try:
        after = _poll(state, _binary(config))
    except Exception as exc:  # pylint: disable=broad-except
        # Raised, it would be logged with a traceback at every poll; the baseline is kept.
        message = f"{type(exc).__name__}: {exc}"
        if state.get("fault") != message:
            log.error(
                "cloudassist beacon %s: cannot read the client's state, no event this poll: %s",
                name,
                message,
            )
            log.debug("cloudassist beacon %s: the fault in full", name, exc_info=True)
            state["fault"] = message
        return []
    if state.pop("fault", None):
        log.info("cloudassist beacon %s: reading the client's state works again", name)
    # A reload (every module refresh, e.g. the grains refresh after each cloudassist action)
    # empties __context__: the last poll is also kept on disk, so no change goes unreported.
    before = state["snapshot"] if "snapshot" in state else _load(name)
    state["snapshot"] = after
    if after != before:
        _save(name, after)
    if before is None:
        if not config.get("emitatstartup"):
            return []
        return watch.startup(after, () if after.running else watch.leftovers(after.binary))
    if before.binary != after.binary:
        # Another client is watched now (the configuration changed): a new baseline.
        return []
    left = watch.leftovers(after.binary) if watch.stopped(before, after) else ()
    return watch.changes(before, after, left)
