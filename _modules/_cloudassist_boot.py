"""Whether a service starts at boot, read the way its init system reads it at the next boot.

Facts are files: systemd's ``UnitFileState`` (already read with the unit), the ``S``/``K``
links in the rc folders (sysvinit), the job's ``.override`` file (upstart).  The ``*_boot``
functions turn those facts into a ``BootState``: the status, how it was read, and the steps
that would change it.  Nothing here runs a program; ``tool`` is whichever of ``update-rc.d``
and ``chkconfig`` the host has, found by the caller.
"""

import os
import re

from _cloudassist_records import BootState, Step

# The runlevels a sysvinit or upstart host boots into (Debian 2, Red Hat 3 or 5).
BOOT_RUNLEVELS = ("2", "3", "4", "5")
RC_DIRS = ("/etc/rc{}.d", "/etc/rc.d/rc{}.d")
UPSTART_DIR = "/etc/init"
SYSV_TOOLS = ("update-rc.d", "chkconfig")
_LINK = re.compile(r"^([SK])(\d\d)(.+)$")

# Only "enabled" survives a reboot: "enabled-runtime" and "linked-runtime" live under /run,
# and a "linked" unit file is known to systemd but pulled in by nothing at boot.
ENABLED_STATES = ("enabled",)


def rc_links(name, root="/"):
    """``((runlevel, link), ...)``: the ``S``/``K`` links to the init script ``name``."""
    found = []
    seen = set()
    for pattern in RC_DIRS:
        for level in BOOT_RUNLEVELS + ("0", "1", "6", "S"):
            folder = os.path.join(root, pattern.format(level).lstrip("/"))
            real = os.path.realpath(folder)
            if real in seen:  # /etc/rc3.d is a link to /etc/rc.d/rc3.d on Red Hat hosts
                continue
            seen.add(real)
            try:
                entries = sorted(os.listdir(folder))
            except OSError:
                continue
            for entry in entries:
                match = _LINK.match(entry)
                if match and match.group(3) == name:
                    found.append((level, entry))
    return tuple(found)


def starts_in(links):
    """The boot runlevels in which ``links`` start the script."""
    return tuple(
        sorted({level for level, link in links if link.startswith("S") and level in BOOT_RUNLEVELS})
    )


def sysv_boot(name, script, tool, *, links, vendor_chkconfig=False):
    """``BootState`` of the init script ``name`` from its rc ``links``.

    ``tool`` is ``update-rc.d`` or ``chkconfig`` (whichever the host has) or None.  With
    ``vendor_chkconfig`` (agentwatch) only the vendor's ``chkconfig NAME on|off`` is used, and
    ``tool`` is ``chkconfig`` where the host has it, else None.
    """
    levels = starts_in(links)
    if levels:
        how = "S links to {} in rc{}.d".format(name, ".d, rc".join(levels))
    elif links:
        how = f"only K links to {name} in the boot runlevels' rc folders"
    else:
        how = f"no rc links to {name} in /etc/rc[2-5].d"
    enabled = bool(levels)
    if tool == "update-rc.d":
        # ``enable`` only renames existing links; ``defaults`` makes them first where there are
        # none.
        enable = (_step("update-rc.d", name, "defaults"), _step("update-rc.d", name, "enable"))
        disable = (_step("update-rc.d", name, "disable"),)
    elif tool == "chkconfig":
        enable = (() if vendor_chkconfig else (_step("chkconfig", "--add", name),)) + (
            _step("chkconfig", name, "on"),
        )
        disable = (_step("chkconfig", name, "off"),)
    else:
        enable = disable = ()
    cannot = []
    if not os.path.exists(script):
        cannot.append(("enable", f"{script} does not exist"))
    if tool is None:
        why = (
            f"this host has no chkconfig, which the vendor's procedure uses for {name}"
            if vendor_chkconfig
            else "this host has neither {}".format(" nor ".join(SYSV_TOOLS))
        )
        cannot += [("enable", why), ("disable", why)]
    return BootState(name, enabled, how, enable, disable, tuple(cannot))


def upstart_manual(job, root="/"):
    """True when the job's override file holds the ``manual`` stanza."""
    path = os.path.join(root, UPSTART_DIR.lstrip("/"), job + ".override")
    try:
        with open(path) as handle:
            return any(line.split("#", 1)[0].strip() == "manual" for line in handle)
    except OSError:
        return False


def upstart_boot(job):
    """``BootState`` of an upstart job: started on its ``start on`` events unless ``manual``."""
    conf = os.path.join(UPSTART_DIR, job + ".conf")
    override = os.path.join(UPSTART_DIR, job + ".override")
    exists = os.path.exists(conf)
    manual = upstart_manual(job)
    if not exists:
        enabled, how = False, f"{conf} does not exist"
    elif manual:
        enabled, how = False, f"{override} holds `manual`"
    else:
        enabled, how = True, f"{conf} starts on its `start on` events (no `manual` in {override})"
    cannot = () if exists else (("enable", f"{conf} does not exist"),)
    return BootState(
        job,
        enabled,
        how,
        (Step(("drop-manual", override), kind="file"),),
        (Step(("add-manual", override), kind="file"),),
        cannot,
    )


def systemd_boot(unit):
    """``BootState`` of a systemd unit from its ``UnitFileState``."""
    state = unit.unit_file_state or "unknown"
    enabled = unit.unit_file_state in ENABLED_STATES
    how = f"systemd's UnitFileState of {unit.name} is {state!r}"
    cannot = []
    if not unit.exists:
        why = "systemd has no unit file for {} (LoadState {!r})".format(
            unit.name, unit.load_state or "unknown"
        )
        cannot += [("enable", why), ("disable", why)]
        how = why
    elif unit.unit_file_state == "masked":
        cannot.append(("enable", f"{unit.name} is masked; `systemctl unmask {unit.name}` first"))
    elif unit.unit_file_state == "alias":
        why = f"{unit.name} is an alias of another unit (UnitFileState 'alias'); manage that unit"
        cannot += [("enable", why), ("disable", why)]
        enabled = None
    elif unit.unit_file_state == "static":
        why = f"{unit.name} has no [Install] section (UnitFileState 'static')"
        cannot += [("enable", why), ("disable", why)]
        enabled = None
    return BootState(
        unit.name,
        enabled,
        how,
        (_step("systemctl", "enable", unit.name),),
        (_step("systemctl", "disable", unit.name),),
        tuple(cannot),
    )


def windows_boot(service, start_type, enabled):
    how = "the Service Control Manager's start type of {} is {}".format(
        service, start_type or "unknown"
    )
    return BootState(
        service,
        enabled,
        how,
        (Step(("service.enable", service), kind="salt"),),
        (Step(("service.disable", service), kind="salt"),),
    )


def set_manual(path, manual):
    """Add or drop the ``manual`` stanza in an upstart override file, keeping its other lines."""
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        lines = []
    kept = [line for line in lines if line.split("#", 1)[0].strip() != "manual"]
    if manual:
        kept.append("manual")
    if kept:
        tmp = path + ".cloudassist-tmp"
        with open(tmp, "w") as handle:
            handle.write("\n".join(kept) + "\n")
        os.replace(tmp, path)
    elif os.path.exists(path):
        os.remove(path)


def _step(*argv):
    return Step(argv=argv)
