"""What the beacon watches: a snapshot of this host's client, and the events two snapshots mean.

``snapshot(binary)`` finds the facts without starting a process: the client's pids from the
process table (``facts.client_pids_by_exe``, the pids ``classify`` gives: look-alikes and
clients in containers do not count) and the versions from the install's files; ``quiet``
tells, for a fraction of that cost, that nothing changed since (the poll runs in the minion's
main process for ever).
``changes`` and ``startup`` decide, purely, what the beacon reports.
"""

import os
from typing import NamedTuple

# Only ``facts`` (and the ``records`` it imports): importing ``host`` would load every helper
# into the minion's main process, where beacons run.
import _cloudassist_facts as facts

# The units the client runs in (``procedure.CLIENT_UNITS``, not imported: see above), under
# systemd's usual slice for services.
CLIENT_UNITS = ("aliyun.service", "aliyun-service.service")
SERVICE_SLICE = "/system.slice"

# The vendor's install folder for each standard binary; its ``version`` file names the version.
INSTALL_ROOTS = {
    "/usr/sbin/aliyun-service": "/usr/local/share/aliyun-assist",
    "/opt/sbin/aliyun-service": "/opt/local/share/aliyun-assist",
}

# A quiet poll checks cheaply that nothing changed (``quiet``); at least this often, and when
# more processes started since the last poll than this, it reads the whole process table.
FULL_EVERY = 60.0
NEW_PIDS_MAX = 512

STOPPED = "stopped"
STARTED = "started"
RESTARTED = "restarted"
VERSION = "version"
STARTUP = "startup"


class Snapshot(NamedTuple):
    """The client as one poll saw it.

    ``version`` is the installed version (what ``cloudassist.version`` answers): the version
    folder the binary leads to, else the install's ``version`` file.  ``running_version`` is
    the version folder of the running client's executable; after a self-update it is the old
    one until the client restarts.
    """

    binary: str
    installed: bool
    pids: tuple
    version: str | None
    running_version: str | None

    @property
    def running(self):
        return bool(self.pids)


# --- finding the facts ------------------------------------------------------------------


def default_binary():
    """The binary the execution module manages when ``cloudassist:binary`` does not say
    (``facts.client_binary``: the first standard location that exists, else
    ``aliyun-service`` on the PATH and the system folders), else the first standard location
    (the client is then "not installed")."""
    return facts.client_binary() or facts.LINUX_BINARIES[0]


def folder_version(path):
    """The version a path's folder names (``.../aliyun-assist/2.2.3.578/aliyun-service``), or
    None."""
    try:
        parts = facts.version_tuple(os.path.basename(os.path.dirname(path)))
    except ValueError:
        return None
    return ".".join(str(part) for part in parts)


def read_version_file(path):
    """The version an install's ``version`` file holds, or None (missing, unreadable, not a
    version)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(4096).decode(errors="replace")
    except OSError:
        return None
    try:
        return facts.parse_version_output(text)
    except facts.SeveralVersions:
        return None


def newest(versions):
    found = [v for v in versions if v]
    return max(found, key=facts.version_tuple) if found else None


def installed_version(binary):
    """The version installed at ``binary``: its version folder, else the install's file."""
    version = folder_version(os.path.realpath(binary))
    if version is None and binary in INSTALL_ROOTS:
        version = read_version_file(os.path.join(INSTALL_ROOTS[binary], "version"))
    return version


def snapshot(binary):
    """The ``Snapshot`` of the client at ``binary``, read from ``/proc`` and the install's files."""
    pids = facts.client_pids_by_exe(binary)
    procs = [facts.process(pid) for pid in pids]
    # several clients at once are rare (a second copy started by hand): the newest counts
    running_version = newest(folder_version(proc.exe) for proc in procs if proc and proc.exe)
    version = installed_version(binary)
    return Snapshot(binary, os.path.exists(binary), tuple(pids), version, running_version)


def last_pid():
    return facts.last_pid()


class Seen(NamedTuple):
    """What the last full poll saw, for the quiet polls after it: the client's processes
    with their start times, the last pid allocated before the process table was read, and
    when (``time.monotonic``)."""

    binary: str
    starts: tuple  # ((pid, start time), ...)
    last_pid: int | None
    at: float


def seen(after, *, last_pid, at):
    """The ``Seen`` of a full poll whose snapshot is ``after``; ``last_pid`` read before it."""
    return Seen(
        after.binary, tuple((pid, facts.start_time(pid)) for pid in after.pids), last_pid, at
    )


def _new_pids(before, now):
    """The pids allocated after ``before`` up to ``now``; None when they cannot be listed
    cheaply (unknown, wrapped around, or too many)."""
    if before is None or now is None or now < before or now - before > NEW_PIDS_MAX:
        return None
    return range(before + 1, now + 1)


def quiet(before, last, binary, *, now):
    """``(snapshot, seen)`` of a poll at ``now`` when it can be told cheaply that no client
    process started or ended since the full poll ``last`` (a ``Seen``) whose snapshot is
    ``before``: none of the processes started since has a client's name, and each of the
    client's processes is still the one that was seen (same pid, same start time); the
    version is read again from the files.  None when that cannot be told: the caller reads the
    whole process table (``snapshot``), as it does at least every ``FULL_EVERY`` seconds."""
    if last is None or last.binary != binary or now - last.at >= FULL_EVERY:
        return None
    if len(last.starts) != len(before.pids) or any(start is None for _, start in last.starts):
        return None
    last_pid = facts.last_pid()
    new = _new_pids(last.last_pid, last_pid)
    if new is None or facts.processes(facts.client_names(binary), pids=new):
        return None
    if any(facts.start_time(pid) != start for pid, start in last.starts):
        return None
    after = before._replace(installed=os.path.exists(binary), version=installed_version(binary))
    return after, last._replace(last_pid=last_pid)


def leftovers(binary):
    """What a stopped client left running (``Process`` records), as far as files tell without
    systemd's bus: the processes in the client's unit's cgroup (``/system.slice/aliyun.service``
    or ``aliyun-service.service``) and those whose program lies in its install folder; never
    the client, pid 1 or this process and its ancestors.  Read only on the poll that sees the
    client stop (or the first one, for ``startup``), never on a quiet poll."""
    spared = set(facts.client_pids(binary)) | facts.lineage() | {1}
    pids = set()
    root = facts.cgroup_root()
    if root is not None:
        for unit in CLIENT_UNITS:
            pids.update(facts.cgroup_pids(f"{SERVICE_SLICE}/{unit}", root) or ())
    found = {pid: facts.process(pid) for pid in pids - spared}
    folder = facts.install_of(binary)[1]
    if folder is not None:
        found.update((proc.pid, proc) for proc in facts.in_folder(folder) if proc.pid not in spared)
    return tuple(found[pid] for pid in sorted(found) if found[pid] is not None)


# --- deciding -------------------------------------------------------------------------------


def _data(kind, kinds, *, before, after, left=()):
    return {
        "tag": kind,
        "changes": list(kinds),
        "running": after.running,
        "pids": list(after.pids),
        "pids_before": None if before is None else list(before.pids),
        "version": after.version,
        "version_before": None if before is None else before.version,
        "running_version": after.running_version,
        "running_version_before": None if before is None else before.running_version,
        "installed": after.installed,
        "binary": after.binary,
        "leftovers": [proc.as_dict() for proc in left],
    }


def changes(before, after, left=()):
    """The events (dicts, each with its ``tag``) that two polls' snapshots mean, in this order:

    - ``stopped``: a client ran, none runs now;
    - ``started``: none ran, one runs now;
    - ``restarted``: a client runs at both polls, but not the same pids (it was restarted
      between them, or a second copy started or ended);
    - ``version``: the installed version changed (a self-update or a package upgrade; also
      an install or removal, where one side is None).

    Every event carries the same data, ``changes`` naming all the kinds of this poll;
    ``leftovers`` is ``left``: what the stopped client left running (``leftovers``), read by
    the caller when the client stopped.
    """
    kinds = []
    if before.running and not after.running:
        kinds.append(STOPPED)
    elif after.running and not before.running:
        kinds.append(STARTED)
    elif after.running and set(after.pids) != set(before.pids):
        kinds.append(RESTARTED)
    if after.version != before.version:
        kinds.append(VERSION)
    return [_data(kind, kinds, before=before, after=after, left=left) for kind in kinds]


def stopped(before, after):
    """Whether the client stopped between the two polls (then ``leftovers`` is worth reading)."""
    return before.running and not after.running


def startup(after, left=()):
    """The one event of a first poll (``emitatstartup``): the client as the beacon found it
    (``left``: what a stopped client left running)."""
    return [_data(STARTUP, [STARTUP], before=None, after=after, left=left)]
