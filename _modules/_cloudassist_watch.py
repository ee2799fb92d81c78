"""What the beacon watches: a snapshot of this host's client, and the events two snapshots mean.

``snapshot(binary)`` finds the facts without starting a process: the client's pids from the
process table (``facts.classify``, so look-alikes and clients in containers do
not count) and the versions from the install's files.  ``changes`` and ``startup`` decide,
purely, what the beacon reports.
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


def snapshot(binary):
    """The ``Snapshot`` of the client at ``binary``, read from ``/proc`` and the install's files."""
    pids, _ = facts.classify(binary)
    procs = [facts.process(pid) for pid in pids]
    # several clients at once are rare (a second copy started by hand): the newest counts
    running_version = newest(folder_version(proc.exe) for proc in procs if proc and proc.exe)

    version = folder_version(os.path.realpath(binary))
    if version is None and binary in INSTALL_ROOTS:
        version = read_version_file(os.path.join(INSTALL_ROOTS[binary], "version"))
    return Snapshot(binary, os.path.exists(binary), tuple(pids), version, running_version)


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
