"""What systemd knows about the client's unit: ``systemctl show`` parsed, cgroups read as files.

One ``systemctl show`` covers every candidate unit at once; the unit a process runs in is
read from ``/proc/PID/cgroup``, so no process is spawned for it.
"""

import os

from _cloudassist_records import UnitState

# What is read of a unit, by ``systemctl show`` and over the bus (``sdbus``), in this order.
# Id, LoadState, ActiveState, SubState and UnitFileState are every unit's
# (org.freedesktop.systemd1.Unit); MainPID and NRestarts a service's, ControlGroup that of a
# unit type with a cgroup.  A unit without one of them (a target has none of the three) does
# not get it printed by systemctl either.
PROPERTIES = (
    "Id",
    "LoadState",
    "ActiveState",
    "SubState",
    "MainPID",
    "NRestarts",
    "UnitFileState",
    "ControlGroup",
    # Whether systemd has given up on the unit (UnitState.start_limit_hit).
    "Result",
    "StartLimitBurst",
)


def show_argv(units):
    return ["systemctl", "show", "--property=" + ",".join(PROPERTIES), "--"] + list(units)


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


def unit_state(name, props):
    """The ``UnitState`` of ``name`` from its properties as ``systemctl show`` prints them."""
    return UnitState(
        name=name,
        load_state=props.get("LoadState", ""),
        active_state=props.get("ActiveState", ""),
        sub_state=props.get("SubState", ""),
        main_pid=_int(props.get("MainPID")),
        n_restarts=_int(props.get("NRestarts")),
        unit_file_state=props.get("UnitFileState", ""),
        control_group=props.get("ControlGroup", ""),
        result=props.get("Result", ""),
        start_limit_burst=_int(props.get("StartLimitBurst")),
    )


def journal_argv(unit, since, *, lines):
    """The ``journalctl`` that prints the last ``lines`` lines of ``unit``'s journal since
    ``since`` (epoch seconds), without a pager or the journal's own notes.

    ``--since @SECONDS`` (whole seconds, rounded down: a second early at most) means the same
    to journalctl whatever the host's time zone, locale or clock format, unlike a written date:
    the ``@`` (UNIX time) form of systemd.time(7) is old (about systemd 210; CentOS 7's 219
    has it).  Tried: systemd 252 (the real-init containers, Debian 12) takes
    ``--since @SECONDS`` and ``--quiet``.  ``--quiet`` drops "-- No entries --" and, in older
    versions, "-- Logs begin at ... --"; :func:`journal_lines` drops any marker left."""
    return [
        "journalctl",
        "--unit",
        unit,
        "--since",
        f"@{int(since)}",
        "--lines",
        str(lines),
        "--no-pager",
        "--quiet",
    ]


def journal_lines(text):
    """The journal's lines in ``journalctl``'s output, without its own markers ("-- Boot
    ... --", "-- No entries --"), which some versions print even with ``--quiet``."""
    return [
        line for line in text.splitlines() if not (line.startswith("-- ") and line.endswith(" --"))
    ]


def parse_show(text, units):
    """``UnitState`` per unit of ``units``, in order, from ``systemctl show`` output."""
    blocks = text.strip().split("\n\n") if text.strip() else []
    blocks += [""] * (len(units) - len(blocks))
    return tuple(
        unit_state(name, dict(line.split("=", 1) for line in block.splitlines() if "=" in line))
        for name, block in zip(units, blocks, strict=False)
    )


UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)
# Every folder of systemd's system unit load path (systemd.unit(5)), transient and generated
# units included.
LOAD_PATH = (
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/run/systemd/generator.early",
    "/etc/systemd/system",
    "/etc/systemd/system.attached",
    "/run/systemd/system",
    "/run/systemd/system.attached",
    "/run/systemd/generator",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    "/run/systemd/generator.late",
)
NOT_FOUND = {
    "LoadState": "not-found",
    "ActiveState": "inactive",
    "SubState": "dead",
    "MainPID": "0",
    "NRestarts": "0",
    "UnitFileState": "",
    "ControlGroup": "",
}


def has_unit_file(name, root="/"):
    """Whether a file or link (a mask too) named ``name`` is in systemd's unit load path: a
    unit without one is not found, unless it still runs from a file since removed."""
    return any(
        os.path.lexists(os.path.join(root, folder.lstrip("/"), name)) for folder in LOAD_PATH
    )


def not_found(name):
    """The ``UnitState`` systemd gives a unit it has no file for."""
    return unit_state(name, dict(NOT_FOUND, Id=name))


def unit_from_files(name, root="/"):
    """A ``UnitState`` read from the unit files alone, where neither the bus nor ``systemctl``
    may be used: loaded or not, and enabled (a link in a ``.wants``/``.requires`` folder of
    /etc/systemd/system), disabled or masked.  The active state stays unknown."""

    def at(path):
        return os.path.join(root, path.lstrip("/"))

    files = [at(os.path.join(folder, name)) for folder in UNIT_DIRS]
    if any(os.path.realpath(path) == "/dev/null" for path in files if os.path.lexists(path)):
        return UnitState(name, load_state="masked", unit_file_state="masked")
    if not any(os.path.isfile(path) for path in files):
        return UnitState(name, load_state="not-found")
    etc = at("/etc/systemd/system")
    try:
        folders = [entry for entry in os.listdir(etc) if entry.endswith((".wants", ".requires"))]
    except OSError:
        folders = []
    linked = any(os.path.lexists(os.path.join(etc, folder, name)) for folder in folders)
    return UnitState(name, load_state="loaded", unit_file_state="enabled" if linked else "disabled")


def unit_of(pid):
    """The systemd unit ``pid`` runs in, read from ``/proc/PID/cgroup``; None outside a service."""
    try:
        with open(f"/proc/{pid}/cgroup") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    return unit_in_cgroup_lines(lines)


def unit_in_cgroup_lines(lines):
    """The last ``*.service`` in the systemd hierarchy's path (v2 ``0::``, else
    ``name=systemd``)."""
    paths = {}
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            paths[parts[1]] = parts[2]
    path = paths.get("") or paths.get("name=systemd") or ""
    for part in reversed(path.split("/")):
        if part.endswith(".service"):
            return part
    return None
