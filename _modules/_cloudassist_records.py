"""The records cloudassist passes between finding facts, deciding and acting.

Small frozen records with named fields, so that a field cannot be misspelt or changed on the
way.  Dicts appear only at Salt's boundary (``ClientStatus.as_dict``, the module's return
values).

They are ``typing.NamedTuple`` classes rather than ``@dataclass(frozen=True)``: a minion
imports this file on every job, and defining a frozen dataclass generates and ``exec``s six
methods, which (measured when this file held thirteen records) took longer (16 to 30 ms) than
loading Salt's whole native ``service`` module; a NamedTuple is as immutable and costs a tenth
of that.
``bench/percall.py`` measures the load.  ``record._replace(field=value)`` makes a changed copy.
"""

import shlex
from typing import NamedTuple


class Step(NamedTuple):
    """One thing to run.

    ``kind`` "command": ``argv`` is a program and its arguments, run without a shell.
    ``kind`` "salt": ``argv`` is a Salt execution function and its one argument (Windows).
    ``kind`` "file": ``argv`` is ("add-manual"|"drop-manual", path): the ``manual`` stanza of an
    upstart override file, written by the module itself; or ("drop-pidfile", path, content):
    an init script's stale pid file removed, or ("write-pidfile", path, content, pid): the
    client's pid written into it, each only while the file still holds ``content``.
    A step with ``if_exists`` runs only where that path exists on the host.
    """

    argv: tuple
    kind: str = "command"
    if_exists: str = None

    @property
    def text(self):
        """The step as an operator would type it."""
        if self.kind == "command":
            return shlex.join(self.argv)
        if self.kind == "file":
            edit, path = self.argv[:2]
            if edit == "drop-pidfile":
                return f"rm -f {shlex.quote(path)}"
            if edit == "write-pidfile":
                return f"echo {self.argv[3]} > {shlex.quote(path)}"
            if edit == "add-manual":
                return f"echo manual >> {shlex.quote(path)}"
            return f"sed -i '/^manual$/d' {shlex.quote(path)}"
        return " ".join(self.argv)


def steps_text(steps):
    """``a b; c d``"""
    return "; ".join(step.text for step in steps)


class Branch(NamedTuple):
    """A row of the vendor's table: where it applies, what it manages and how."""

    platform: str
    legacy: object  # True, False, or None where the version does not matter
    init_systems: tuple
    name: str
    service: str
    tool: str  # the program the branch cannot do without (None: Salt drives it)
    stop: tuple
    start: tuple
    sets_boot: bool = False  # its stop/start also switch starting at boot off/on (chkconfig)


class BootState(NamedTuple):
    """Whether a service starts at boot, how that was read, and how it would be changed.

    ``enabled`` is None where it cannot be told.  ``enable``/``disable`` are the steps that
    change it; ``cannot`` maps "enable"/"disable" to why that change is impossible here.
    """

    service: str
    enabled: object
    how: str
    enable: tuple = ()
    disable: tuple = ()
    cannot: tuple = ()  # (("enable"|"disable", why), ...)

    def steps(self, want):
        return self.enable if want else self.disable

    def why_not(self, want):
        direction = "enable" if want else "disable"
        return "; ".join(why for which, why in self.cannot if which == direction) or None

    def as_dict(self):
        return {
            "service": self.service,
            "enabled": self.enabled,
            "how": self.how,
            "commands": {"enable": steps_text(self.enable), "disable": steps_text(self.disable)},
        }


class Watchdog(NamedTuple):
    """The watchdog ``assist_daemon`` in whichever form it is installed and runs.

    ``form`` is "unit" (systemd's ``AssistDaemon.service`` runs it), "service" (Windows),
    "process" (a process not under a service of its own), or None when it does not run.
    """

    pids: tuple = ()
    form: str = None
    unit: object = None  # UnitState of AssistDaemon.service under systemd
    boot_state: BootState = None  # whether it starts at boot
    others: tuple = ()  # (Process, why it is not this host's watchdog)
    suspects: tuple = ()  # the others on this host itself: another binary of the watchdog's name

    @property
    def running(self):
        return bool(self.pids)

    @property
    def at_stake(self):
        """A stop must reckon with it: the watchdog runs, or something of its name on this host."""
        return bool(self.pids or self.suspects)

    def suspects_text(self):
        """What to say of the processes of the watchdog's name that are another executable."""
        return (
            "{} (pid {}) runs from {}, not from the watchdog binary cloudassist knows, so it was "
            "neither counted nor stopped and may start the client again. If it is this host's "
            "watchdog, set cloudassist:watchdog to its path".format(
                "assist_daemon",
                ", ".join(str(proc.pid) for proc in self.suspects),
                ", ".join(sorted({proc.exe or "an unknown executable" for proc in self.suspects})),
            )
        )

    def as_dict(self):
        result = {"running": self.running, "pids": list(self.pids), "form": self.form}
        if self.others:
            result["others"] = [
                {"pid": proc.pid, "exe": proc.exe, "why": why} for proc, why in self.others
            ]
        result["service"] = self.boot_state.service if self.boot_state else None
        result["enabled"] = self.boot_state.enabled if self.boot_state else None
        if self.unit is not None:
            result["unit"] = {
                "name": self.unit.name,
                "state": self.unit.state,
                "unit_file_state": self.unit.unit_file_state,
            }
        return result


class Evidence(NamedTuple):
    """What one source said about the init system."""

    source: str
    found: str

    def as_dict(self):
        return {"source": self.source, "found": self.found}


class InitDecision(NamedTuple):
    init_system: str
    decided_by: str
    evidence: tuple = ()


class Pid1(NamedTuple):
    comm: str = None
    exe: str = None


class InitFile(NamedTuple):
    """The vendor's marker scan of ``/sbin/init``."""

    path: str = "/sbin/init"
    target: str = None
    markers: tuple = ()
    problem: str = None


class CommandResult(NamedTuple):
    command: str
    retcode: int
    stdout: str
    stderr: str

    @property
    def output(self):
        return (self.stdout + self.stderr).strip()


class NoClient(NamedTuple):
    """What a host without the client still knows: where it looked, and its init system (or
    why that cannot be told).  ``status`` answers with it; actions still fail."""

    platform: str
    looked_in: tuple
    reason: str  # the "not installed" sentence
    init: InitDecision = None
    init_problem: str = None  # why the init system cannot be told, where it cannot

    def as_dict(self):
        result = {
            "installed": False,
            "running": False,
            "pids": [],
            "version": None,
            "binary": None,
            "platform": self.platform,
            "init_system": self.init.init_system if self.init else None,
            "service": None,
            "branch": None,
            "commands": None,
            "decided_by": self.init.decided_by if self.init else None,
            "evidence": [item.as_dict() for item in self.init.evidence] if self.init else [],
            "enabled": None,
            "boot": None,
            "watchdog": None,
            "blocked": None,
            "restart_pending": False,
            "start_limit_hit": False,
            "others": [],
            "leftovers": [],
            "updates": None,
            "looked_in": list(self.looked_in),
            "comment": self.reason,
        }
        if self.init_problem:
            result["init_problem"] = self.init_problem
        return result


class PidFile(NamedTuple):
    """The pid file an init script trusts (sysvinit), and what the pid it names is.

    ``source`` says how ``path`` was found (the script's ``PIDFILE=``, or the vendor's
    default).  ``content`` is what the file held (None: no such file, or ``problem`` says why
    it was not read); ``pid`` the pid it names (None: none that ``kill`` would take);
    ``owner`` the live process of that pid (None: no such process); ``stale``: the file is
    there but does not name a running client of this host.
    """

    path: str
    source: str
    script: str
    content: bytes = None
    pid: int = None
    owner: object = None  # a Process
    stale: bool = False
    problem: str = None

    @property
    def owner_text(self):
        """``pid 4242 (sleep, /usr/bin/sleep: sleep 1000)``, or why there is no owner."""
        if self.pid is None:
            return "no pid" if self.content is None else f"no pid (it holds {self.content[:40]!r})"
        if self.owner is None:
            return f"pid {self.pid}, which no process has now"
        proc = self.owner
        return "pid {} ({}, {}: {})".format(
            proc.pid,
            proc.comm or "?",
            proc.exe or "executable unknown",
            shlex.join(proc.argv) if proc.argv else "no command line",
        )

    def as_dict(self):
        owner = self.owner
        return {
            "path": self.path,
            "source": self.source,
            "pid": self.pid,
            "owner": None
            if owner is None
            else {
                "pid": owner.pid,
                "comm": owner.comm,
                "exe": owner.exe,
                "cmdline": list(owner.argv),
            },
            "stale": self.stale,
            "problem": self.problem,
        }


class Updates(NamedTuple):
    """Whether the client may update itself, read from the vendor's marker files
    (``_cloudassist_updates``).

    ``config_dir`` is the cross-version config folder (every version reads it),
    ``version_dir`` the version folder whose ``config`` the client reads now: the running
    client's (``version_dir_of`` "running"), else the installed binary's ("installed");
    ``installed_version_dir`` the installed binary's, which differs after a self-update until
    the client restarts.  ``checked`` are the marker paths read, ``markers`` those present.
    ``frozen``/``bootstrap_frozen``: a ``disable_update``/``disable_bootstrap_update`` the
    client reads now exists; ``installed_frozen``: a ``disable_update`` the installed version
    would read.
    """

    config_dir: str
    version_dir: str
    version_dir_of: str
    installed_version_dir: str
    checked: tuple
    markers: tuple
    frozen: bool
    bootstrap_frozen: bool
    installed_frozen: bool

    def as_dict(self):
        return {
            "frozen": self.frozen,
            "bootstrap_frozen": self.bootstrap_frozen,
            "markers": list(self.markers),
            "config_dir": self.config_dir,
            "version_dir": self.version_dir,
            "version_dir_of": self.version_dir_of,
            "installed_version_dir": self.installed_version_dir,
            "installed_frozen": self.installed_frozen,
        }


class ClientStatus(NamedTuple):
    """What a host knows about its client, gathered once per call."""

    platform: str
    version: str
    binary: str
    init: InitDecision
    branch: Branch
    steps: dict = None  # action -> the branch's steps that apply here
    pids: tuple = ()
    watchdog: Watchdog = Watchdog()
    blocked: str = None
    unit: object = None  # UnitState under systemd
    service_decided_by: str = None
    vendor_service: str = None  # what the vendor's page names, where the host's name differs
    others: tuple = ()  # (Process, why it is not this host's client)
    extra: tuple = ()  # (key, value) pairs shown as they are, e.g. the Windows version problem
    boot_state: BootState = None  # whether the client's service starts at boot
    # Processes the client left in its unit (systemd) or its install folder's programs
    # (sysvinit, upstart): read for a stopped client, and by stop/restart.
    leftovers: tuple = ()
    pidfile: PidFile = None  # the init script's pid file, where the branch runs one (sysvinit)
    updates: Updates = None  # whether the client may update itself (None: its binary is unknown)

    @property
    def enabled(self):
        return self.boot_state.enabled if self.boot_state else None

    @property
    def running(self):
        return bool(self.pids)

    @property
    def restart_pending(self):
        return bool(self.unit and self.unit.restart_pending)

    @property
    def stopping(self):
        return bool(self.unit and self.unit.stopping)

    @property
    def start_limit_hit(self):
        return bool(self.unit and self.unit.start_limit_hit)

    def command(self, action):
        return steps_text(self.steps[action])

    def as_dict(self):
        result = {
            "installed": True,
            "running": self.running,
            "pids": list(self.pids),
            "version": self.version,
            "binary": self.binary,
            "platform": self.platform,
            "init_system": self.init.init_system,
            "service": self.branch.service,
            "branch": self.branch.name,
            "commands": {"stop": self.command("stop"), "start": self.command("start")},
            "decided_by": self.init.decided_by,
            "evidence": [item.as_dict() for item in self.init.evidence],
            "enabled": self.enabled,
            "boot": self.boot_state.as_dict() if self.boot_state else None,
            "watchdog": self.watchdog.as_dict(),
            "blocked": self.blocked,
            "restart_pending": self.restart_pending,
            "start_limit_hit": self.start_limit_hit,
            "others": [{"pid": proc.pid, "exe": proc.exe, "why": why} for proc, why in self.others],
            "leftovers": [proc.as_dict() for proc in self.leftovers],
            "updates": self.updates.as_dict() if self.updates else None,
        }
        if self.service_decided_by:
            result["service_decided_by"] = self.service_decided_by
        if self.vendor_service:
            result["vendor_service"] = self.vendor_service
        if self.unit is not None:
            result["unit"] = {
                "name": self.unit.name,
                "state": self.unit.state,
                "main_pid": self.unit.main_pid,
                "restarts": self.unit.n_restarts,
                "result": self.unit.result,
                "unit_file_state": self.unit.unit_file_state,
            }
        if self.pidfile is not None:
            result["pidfile"] = self.pidfile.as_dict()
        result.update(self.extra)
        return result


class Change(NamedTuple):
    name: str
    old: object
    new: object


class Plan(NamedTuple):
    """What an action would do on this host, decided before anything runs.

    ``watchdog_boot_steps``, ``watchdog_stop_steps``, ``stop_steps``, ``reset_steps``,
    ``start_steps`` and ``boot_steps`` are the steps in the order they run; an empty tuple is a
    phase that is skipped (``reset_steps``: ``systemctl reset-failed`` where systemd has given
    up on the unit) (``stop_watchdog`` is the caller's flag that asks for the watchdog's steps).
    ``pidfile_steps`` (sysvinit) make the init script's stale pid file safe right before the
    script's first command: removed before a start, or naming the running client before a
    stop (the script's stop kills the pid its pid file names).
    ``changes`` is what an operator is told would change (``test=True``) or did change (after
    verification).  ``blocked`` is why the plan cannot run at all; then nothing runs.
    """

    action: str
    watchdog_stop_steps: tuple = ()
    stop_steps: tuple = ()
    start_steps: tuple = ()
    changes: tuple = ()
    blocked: str = None
    boot_steps: tuple = ()  # the steps that make the client's boot status the wanted one
    watchdog_boot_steps: tuple = ()  # the same for the watchdog's
    enable: object = None  # the boot status asked for: True, False, or None to leave it
    notes: tuple = ()  # what could not be done and why, told to the operator but not failing
    reset_steps: tuple = ()
    # Processes left in the unit / install folder after the stop (seen when planning; those
    # found after the stop are the ones acted on), and whether they are ended ("end") or
    # named and kept ("keep").
    leftovers: tuple = ()
    leftovers_mode: str = "end"
    # the init script's stale pid file, made right before the script runs (sysvinit)
    pidfile_steps: tuple = ()

    @property
    def steps(self):
        return (
            self.watchdog_boot_steps
            + self.watchdog_stop_steps
            + self.pidfile_steps
            + self.stop_steps
            + self.reset_steps
            + self.start_steps
            + self.boot_steps
        )

    @property
    def ends_leftovers(self):
        # leftovers are planned only for the actions that stop (plan.LEFTOVER_ACTIONS)
        return self.leftovers_mode == "end"

    @property
    def noop(self):
        return not self.steps and not (self.ends_leftovers and self.leftovers)


class UnitState(NamedTuple):
    """What systemd says of one unit (``systemctl show``)."""

    name: str
    load_state: str = ""
    active_state: str = ""
    sub_state: str = ""
    main_pid: int = 0
    n_restarts: int = 0
    unit_file_state: str = ""
    control_group: str = ""
    result: str = ""  # systemd's Result: success, exit-code, start-limit-hit, ...
    start_limit_burst: int = 0

    @property
    def exists(self):
        return self.load_state == "loaded"

    @property
    def restart_pending(self):
        """Down, and systemd will start it again when RestartSec has passed."""
        return self.sub_state == "auto-restart"

    @property
    def stopping(self):
        return self.active_state == "deactivating"

    @property
    def start_limit_hit(self):
        """systemd has given up on the unit: it refuses every plain start until
        ``systemctl reset-failed``.  systemd says so in ``Result=start-limit-hit`` where it
        records that result; systemd 252 (Debian 12, measured) keeps the result of the last
        failure (``exit-code``) instead, and there a failed unit that systemd restarted
        ``StartLimitBurst`` times is one whose limit was hit (its journal says "Start request
        repeated too quickly", text this does not read)."""
        if self.active_state != "failed":
            return False
        if self.result == "start-limit-hit":
            return True
        return 0 < self.start_limit_burst <= self.n_restarts

    @property
    def live(self):
        """Running, starting, stopping, reloading, or down until systemd restarts it."""
        return (
            self.active_state in ("active", "activating", "deactivating", "reloading")
            or self.restart_pending
        )

    @property
    def enabled(self):
        """Started at the next boot: only "enabled" survives a reboot (see _cloudassist_boot)."""
        return self.unit_file_state == "enabled"

    @property
    def state(self):
        return "{}/{}".format(self.active_state or "unknown", self.sub_state or "unknown")


class Process(NamedTuple):
    """One live process as /proc shows it."""

    pid: int
    comm: str
    exe: str
    argv: tuple = ()

    @property
    def text(self):
        """``pid 42 (/usr/local/share/aliyun-assist/2.2.3.578/aliyun_assist_update)``"""
        cmdline = shlex.join(self.argv)
        return "pid {} ({}{})".format(
            self.pid,
            self.exe or self.comm,
            f": {cmdline}" if cmdline and cmdline != self.exe else "",
        )

    def as_dict(self):
        return {"pid": self.pid, "exe": self.exe, "cmdline": list(self.argv)}
