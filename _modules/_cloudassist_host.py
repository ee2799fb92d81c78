"""Finding the facts about this host's client: one interface, one implementation per platform.

``host_for(platform, config, salt, timeout=, spawn=)`` gives a ``LinuxHost`` or a ``WindowsHost``.
Each answers the same questions (``version``, ``status``, ``client_pids``, ``watchdog_now``,
``watchdog_stop_step``, ``boot_now``) and runs a ``Step`` the way its platform runs it.  A further
platform (FreeBSD's ``service aliyun``) is one more class here plus rows in the vendor's
table.

``config(key, default)`` reads the ``cloudassist:*`` configuration; ``salt`` is the loader's
``__salt__`` (Windows drives the Service Control Manager through Salt's ``win_service``).
"""

import logging
import ntpath
import os
import posixpath
import signal
import stat
from typing import NamedTuple

from salt.exceptions import CommandExecutionError

import _cloudassist_args as args
import _cloudassist_boot as boot
import _cloudassist_errors as errors
import _cloudassist_facts as facts
import _cloudassist_init_system as init
import _cloudassist_procedure as procedure
import _cloudassist_run as run
import _cloudassist_sdbus as sdbus
import _cloudassist_systemd as systemd
import _cloudassist_updates as updater
import _cloudassist_version_cache as version_cache
from _cloudassist_records import (
    ClientStatus,
    Evidence,
    InitDecision,
    NoClient,
    PidFile,
    Step,
    Watchdog,
)

log = logging.getLogger(__name__)

WINDOWS_SERVICE = "AliyunService"
WINDOWS_EXE = "aliyun_assist_service.exe"
# What ps.pgrep looks for on Windows: the client's programs (aliyun_assist_service.exe, its
# updater aliyun_assist_update.exe) have it in their names.
WINDOWS_PROGRAMS = "aliyun_assist"
WATCHDOG_NAME = facts.WATCHDOG_NAME
WATCHDOG_BINARY = "/usr/local/share/assist-daemon/assist_daemon"
WATCHDOG_SERVICE = "AssistDaemon"
WATCHDOG_UNIT = WATCHDOG_SERVICE + ".service"
WATCHDOG_SCRIPT = "/etc/init.d/" + WATCHDOG_SERVICE
AGENTWATCH_SCRIPT = "/etc/init.d/agentwatch"
# systemd answers on its bus in milliseconds; past this, systemctl is asked instead.
BUS_TIMEOUT = 5
# The journal's last lines are read in well under a second; a failed action's error must not
# wait long for them.
JOURNAL_TIMEOUT = 10

# Killing a timed-out client of these init systems does not end the job it asked for.
JOB_GOES_ON = {
    "systemctl": (
        "systemd goes on with the job for {0} in the background, so the client may still "
        "stop or start later: see `systemctl list-jobs` and `systemctl status {0}`, and "
        "`systemctl cancel JOB` drops a job that has not begun"
    ),
    facts.INITCTL: (
        "upstart goes on with the job for {0} in the background, so the client may still "
        "stop or start later: see `initctl status {0}`"
    ),
}


def host_for(platform, config, salt, *, timeout, spawn=True, cache_dir=None):
    """``spawn=False`` (the grain): no program runs but the client's ``-v``; what only a
    program could tell is read from files instead (see ``LinuxHost._show``).  ``cache_dir``
    (the minion's ``<cachedir>/cloudassist``) is where the client's version is kept while its
    binary is unchanged (``_cloudassist_version_cache``); None reads ``-v`` every time."""
    return (WindowsHost if platform == "windows" else LinuxHost)(
        config, salt, timeout, spawn=spawn, cache_dir=cache_dir
    )


class _Host:
    platform = None

    def __init__(self, config, salt, timeout, *, spawn=True, cache_dir=None):
        self.config = config
        self.salt = salt
        self.timeout = timeout
        self.spawn = spawn
        self.cache_dir = cache_dir

    def no_client(self, failure):
        """The ``NoClient`` record for ``failure`` (``errors.NotInstalled``): what this host
        knows without its client."""
        try:
            return NoClient(self.platform, failure.looked_in, str(failure), init=self.init_system())
        except (errors.BadArgument, errors.Undecided, errors.Unreadable) as exc:
            return NoClient(self.platform, failure.looked_in, str(failure), init_problem=str(exc))

    def _status(self, version, binary, decision, *, pids, **kwargs):
        branch = procedure.choose(
            self.platform,
            facts.version_tuple(version) if self.platform == "linux" else None,
            decision.init_system,
        )
        steps = {action: self._applicable(getattr(branch, action)) for action in ("stop", "start")}
        return ClientStatus(
            platform=self.platform,
            version=version,
            binary=binary,
            init=decision,
            branch=branch,
            steps=steps,
            pids=tuple(pids),
            **kwargs,
        )

    def _applicable(self, steps):
        return tuple(
            step for step in steps if step.if_exists is None or os.path.exists(step.if_exists)
        )

    def version_of(self, argv):
        """The version a client binary prints (stdout, else stderr); an error that says why
        there is none."""
        res = run.run(argv, self.timeout)
        if res.retcode != 0:
            raise errors.Broken(
                "`{}` exited with code {}: {}. The client looks broken; reinstall it".format(
                    res.command, res.retcode, res.output or "(no output)"
                ),
                path=argv[0],
            )
        try:
            version = facts.parse_version_output(res.stdout) or facts.parse_version_output(
                res.stderr
            )
        except facts.SeveralVersions as exc:
            raise errors.Unreadable(
                f"`{res.command}` printed several versions ({exc}); the branch depends on the "
                "version, so nothing is chosen from a guess. Check which client is installed, "
                "or reinstall it",
                what="version",
            ) from None
        if version is None:
            raise errors.Unreadable(
                "`{}` printed no version (four dot-separated numbers): {}".format(
                    res.command, repr(res.output[:500]) if res.output else "no output at all"
                ),
                what="version",
            )
        return version


class LinuxHost(_Host):
    platform = "linux"
    paths = posixpath  # the rules of its paths (the client's marker folders)

    def binary(self):
        override = self.config("binary")
        if override is not None:
            if not isinstance(override, str) or not os.path.isabs(override):
                raise errors.BadArgument(
                    f"the config key cloudassist:binary must be an absolute path, not {override!r}",
                    source="cloudassist:binary",
                    value=override,
                )
            return _checked_binary(override, "set by cloudassist:binary")
        found = facts.client_binary()
        if found in facts.LINUX_BINARIES:
            return _checked_binary(found, "the standard location")
        if found:
            return found
        raise errors.NotInstalled(
            "the Cloud Assistant client is not installed: looked for {} and {} on the PATH. "
            "Install the client, or set cloudassist:binary to where it is".format(
                ", ".join(facts.LINUX_BINARIES), facts.CLIENT_NAME
            ),
            looked_in=(*facts.LINUX_BINARIES, "PATH"),
        )

    def version(self):
        return self._client_version(self.binary())

    def _client_version(self, binary):
        """What ``binary -v`` says: kept from an earlier call while the binary is the same file
        (``cloudassist:version_cache``), else read now."""
        argv = [binary, "-v"]
        if self.cache_dir is None or not args.flag(
            "the config key cloudassist:version_cache", self.config("version_cache", True)
        ):
            return self.version_of(argv)
        return version_cache.read(self.cache_dir, binary, lambda: self.version_of(argv))

    def init_system(self):
        override = self.config("init_system")
        if override is not None:
            return init.overridden(override)
        return init.decide(self.gatherers())

    def gatherers(self):
        """What reads each source of the init system's evidence (``init.TRUST_ORDER``)."""
        return {
            "systemd_booted": facts.systemd_booted,
            "pid1": facts.read_pid1,
            "initctl": self._initctl,
            "init_file": facts.read_init_file,
            "init_script": facts.init_script_present,
        }

    def _initctl(self):
        if not facts.initctl_present():
            return None
        if not self.spawn:
            return facts.upstart_listening()
        try:
            res = run.run([facts.INITCTL, "--version"], self.timeout)
        except (errors.CannotRun, errors.TimedOut) as exc:
            log.debug("cloudassist: %s", exc)
            return None
        return res.stdout if res.retcode == 0 else None

    def status(self):
        binary = self.binary()
        version = self._client_version(binary)
        decision = self.init_system()
        # One pass over /proc for the client and the watchdog.
        watchdog_binary = self._watchdog_binary()
        found = facts.processes(facts.client_names(binary) | facts.watchdog_names(watchdog_binary))
        pids, others = facts.classify(binary, found)
        status = self._status(version, binary, decision, pids=pids, others=tuple(others))
        units = {}
        if decision.init_system == "systemd":
            status, units = self._with_unit(
                status, self._watchdog_unit_may_exist(found, watchdog_binary)
            )
        watchdog = self._watchdog(
            decision.init_system, units.get(WATCHDOG_UNIT), found=found, binary=watchdog_binary
        )
        status = status._replace(
            boot_state=self._client_boot(status),
            watchdog=watchdog,
            pidfile=self._pidfile(status),
            updates=self._updates(binary, status.pids),
        )
        if not status.running:
            status = status._replace(leftovers=self.leftovers(status))
        tool = status.branch.tool
        if facts.which(tool):
            return status
        present = os.path.isabs(tool) and os.path.isfile(tool)
        blocked = (
            "the branch '{}' needs {} to manage {}, and {}; nothing was run "
            "and the client is {} as before. {}".format(
                status.branch.name,
                tool,
                status.branch.service,
                f"{tool} is present but not executable ({run.mode_text(tool)})"
                if present
                else f"this host has no {tool}",
                "running" if status.running else "stopped",
                f"Restore its mode (chmod 755 {tool})"
                if present
                else "Manage the client by hand or set cloudassist:init_system if the init system "
                f"was misjudged ({decision.decided_by})",
            )
        )
        return status._replace(blocked=blocked)

    def updates_now(self):
        """Whether the client may update itself (``_cloudassist_updates``), read now: its
        binary, the running clients' executables and a few ``lstat`` calls; no process is
        started.  ``errors.NotInstalled`` as for every action."""
        binary = self.binary()
        return self._updates(binary, facts.client_pids(binary))

    def _updates(self, binary, pids):
        """The markers the client of ``binary`` reads, running as ``pids``: the folder of a
        running client's executable counts (after a self-update, an older version folder than
        the installed binary's), else the installed binary's."""
        install = facts.install_of(binary)
        running = []
        for pid in sorted(pids):
            proc = facts.process(pid)
            if proc is not None and proc.exe and facts.is_client_exe(proc.exe, install):
                running.append(proc.exe)
        return updater.read(install[0], running, paths=posixpath)

    def _watchdog_unit_may_exist(self, found, binary):
        """Whether systemd may know AssistDaemon.service: a file of that name in its load path,
        or a process of the watchdog's name in its cgroup (its file removed while it runs).
        Without either, asking the bus for it would only cost time."""
        if systemd.has_unit_file(WATCHDOG_UNIT):
            return True
        names = facts.watchdog_names(binary)
        return any(systemd.unit_of(proc.pid) == WATCHDOG_UNIT for proc in facts.named(found, names))

    def _with_unit(self, status, watchdog_unit=True):
        """Under systemd: the unit that really manages the client, its state, and the client
        as what runs in that unit."""
        vendor = status.branch.service
        legacy = status.branch.legacy
        # The units the client's processes run in, read from /proc/PID/cgroup.
        running_in = [] if legacy else sorted({u for u in map(systemd.unit_of, status.pids) if u})
        candidates = (
            [vendor] if legacy else list(dict.fromkeys(running_in + list(procedure.CLIENT_UNITS)))
        )
        # The watchdog's unit is read in the same call, where systemd may know it.
        units = {
            unit.name: unit
            for unit in self._show(candidates + ([WATCHDOG_UNIT] if watchdog_unit else []))
        }
        units.setdefault(WATCHDOG_UNIT, systemd.not_found(WATCHDOG_UNIT))
        # A unit is the client's only when the client is its main process: a client someone
        # started by hand from another service (a Salt job, say) does not make that service its
        # unit.
        running_in = [name for name in running_in if units[name].main_pid in status.pids]
        unit, decided_by = _choose_unit(vendor, candidates, units, running_in=running_in)
        branch = procedure.for_service(status.branch, unit.name)
        # The unit's main process is the client even where its executable is not the one
        # configured; a copy of the client started by hand outside the unit runs all the same,
        # and is shown, since the unit's stop command will not stop it.
        pids = set(status.pids)
        if unit.main_pid and facts.process(unit.main_pid):
            pids.add(unit.main_pid)
        outside = sorted(pid for pid in pids if systemd.unit_of(pid) != sdbus.unit_id(unit.name))
        extra = status.extra + ((("outside_unit", outside),) if outside else ())
        status = status._replace(
            branch=branch,
            steps={
                action: self._applicable(getattr(branch, action)) for action in ("stop", "start")
            },
            pids=tuple(sorted(pids)),
            unit=unit,
            service_decided_by=decided_by,
            vendor_service=vendor if unit.name != vendor else None,
            extra=extra,
        )
        return status, units

    def _client_boot(self, status):
        """Whether the client's service starts at boot, as the branch's init system decides it."""
        if status.unit is not None:
            return boot.systemd_boot(status.unit)
        if status.branch.sets_boot:  # the vendor's chkconfig agentwatch, off systemd
            tool = "chkconfig" if facts.which("chkconfig") else None
            return boot.sysv_boot(
                "agentwatch",
                AGENTWATCH_SCRIPT,
                tool,
                links=boot.rc_links("agentwatch"),
                vendor_chkconfig=True,
            )
        if status.init.init_system == "upstart":
            return boot.upstart_boot(facts.CLIENT_NAME)
        name = facts.CLIENT_NAME
        return boot.sysv_boot(name, facts.INIT_SCRIPT, self._sysv_tool(), links=boot.rc_links(name))

    def _pidfile(self, status, pids=None):
        """The pid file of the init script the branch runs (sysvinit, and the vendor's
        agentwatch script), read with the pid it names: a ``PidFile``, or None where the branch
        runs no init script or its pid file is unknown.  Two small file reads and the named
        pid's /proc entry; no process is started."""
        if status.unit is not None:
            return None
        script = sysv_script(status.steps)
        if script is None:
            return None
        default = facts.VENDOR_PIDFILE if script == facts.INIT_SCRIPT else None
        path, source = facts.pidfile_of_script(script, default)
        if path is None:
            return None
        content, problem = facts.read_pidfile(path)
        if content is None:
            return PidFile(path, source, script, problem=problem)
        pid = facts.parse_pid(content)
        owner = facts.process(pid) if pid else None
        pids = status.pids if pids is None else pids
        return PidFile(
            path,
            source,
            script,
            content=content,
            pid=pid,
            owner=owner,
            stale=owner is None or pid not in pids,
        )

    def pidfile_now(self, status, pids):
        """The status's pid file read again, judged against the client's ``pids`` now."""
        return self._pidfile(status, pids)

    def _sysv_tool(self):
        return next((tool for tool in boot.SYSV_TOOLS if facts.which(tool)), None)

    def watchdog_binary(self):
        """The watchdog's binary (``cloudassist:watchdog``), checked."""
        return self._watchdog_binary()

    def _watchdog_binary(self):
        """The watchdog's binary: ``cloudassist:watchdog``, which must be an absolute path."""
        binary = self.config("watchdog", WATCHDOG_BINARY)
        if not isinstance(binary, str) or not os.path.isabs(binary):
            raise errors.BadArgument(
                "the config key cloudassist:watchdog must be the absolute path of assist_daemon, "
                f"not {binary!r}",
                source="cloudassist:watchdog",
                value=binary,
            )
        return binary

    def _watchdog(self, init_system, unit=None, *, found=None, binary=None):
        """The watchdog: its processes, the unit that runs it, and how it starts at boot."""
        pids, others, here = facts.classify_watchdog(binary or self._watchdog_binary(), found)
        pids = set(pids)
        managed = unit is not None and unit.live
        if managed and unit.main_pid and facts.process(unit.main_pid):
            pids.add(unit.main_pid)
        if managed:
            # whatever of this host runs inside AssistDaemon.service's cgroup is the watchdog,
            # as the kernel says, whichever file it runs from (a container's cgroup path may
            # end in a unit of that name too)
            pids.update(proc.pid for proc in here if systemd.unit_of(proc.pid) == WATCHDOG_UNIT)
        if init_system == "systemd" and unit is not None and unit.exists:
            boot_state = boot.systemd_boot(unit)
        elif init_system == "upstart" and os.path.exists(
            os.path.join(boot.UPSTART_DIR, WATCHDOG_SERVICE + ".conf")
        ):
            boot_state = boot.upstart_boot(WATCHDOG_SERVICE)
        elif init_system not in ("systemd", None) and os.path.exists(WATCHDOG_SCRIPT):
            boot_state = boot.sysv_boot(
                WATCHDOG_SERVICE,
                WATCHDOG_SCRIPT,
                self._sysv_tool(),
                links=boot.rc_links(WATCHDOG_SERVICE),
            )
        else:
            boot_state = None
        form = "unit" if managed else ("process" if pids else None)
        others = tuple((proc, why) for proc, why in others if proc.pid not in pids)
        suspects = tuple(proc for proc in here if proc.pid not in pids)
        return Watchdog(
            tuple(sorted(pids)),
            form,
            unit if init_system == "systemd" else None,
            boot_state,
            others,
            suspects,
        )

    def watchdog_alone(self):
        """The watchdog as :meth:`status` reads it, without the client (which a removal may
        find gone): its processes, and its unit where systemd runs and may know it.  Where the
        init system cannot be decided (a container whose PID 1 is no init), the process table
        alone: a removal works there as it did before it read the watchdog."""
        try:
            init_system = self.init_system().init_system
        except errors.Undecided as exc:
            log.debug("cloudassist: the watchdog from the process table alone: %s", exc)
            init_system = None
        binary = self._watchdog_binary()
        found = facts.processes(facts.watchdog_names(binary))
        unit = None
        if init_system == "systemd" and self._watchdog_unit_may_exist(found, binary):
            unit = self._show([WATCHDOG_UNIT])[0]
        return self._watchdog(init_system, unit, found=found, binary=binary)

    def watchdog_now(self, status):
        """The watchdog read again (its unit too, under systemd)."""
        unit = self._show([WATCHDOG_UNIT])[0] if status.unit is not None else None
        return self._watchdog(status.init.init_system, unit)

    def boot_now(self, status):
        """The client's boot status read again."""
        if status.unit is not None:
            return boot.systemd_boot(self.unit_state(status))
        return self._client_boot(status)

    def _show(self, units):
        """systemd's view of ``units``: read over its private bus, else from ``systemctl show``
        (without ``spawn``, from the unit files: no active state then)."""
        try:
            return sdbus.unit_states(units, timeout=min(self.timeout, BUS_TIMEOUT))
        except sdbus.Unavailable as exc:
            log.debug("cloudassist: systemd's bus: %s; asking systemctl", exc)
        if not self.spawn:
            return tuple(systemd.unit_from_files(name) for name in units)
        argv = systemd.show_argv(units)
        res = self.run_step(Step(tuple(argv)), check=False)
        if res.retcode != 0 and not res.stdout.strip():
            raise errors.CommandFailed(
                "`{}` exited with code {}: {}; systemd's view of the client's unit is needed to "
                "tell whether it runs".format(
                    res.command, res.retcode, res.output or "(no output)"
                ),
                command=res.command,
                retcode=res.retcode,
                output=res.output,
            )
        return systemd.parse_show(res.stdout, units)

    def unit_state(self, status):
        """systemd's view of the status's unit, read again (one ``systemctl show``)."""
        return self._show([status.unit.name])[0]

    def client_pids(self, status):
        return tuple(facts.client_pids(status.binary))

    def leftovers(self, status, *, client=None):
        """What the client's processes are not, but runs where only the client puts things:
        under systemd the processes in its unit's cgroup (with the vendor's
        ``KillMode=process`` a stop ends only the main process, and what it started, such as
        the updater ``aliyun_assist_update`` or a console command, stays); elsewhere the
        processes whose executable lies in the client's install folder.  Never the client
        (``client``: its pids, default the status's), its watchdog, pid 1, or this job and its
        ancestors (a ``salt-call`` run for the console is in the client's unit)."""
        spared = set(status.pids if client is None else client) | set(status.watchdog.pids)
        spared |= facts.lineage() | {1}
        if status.unit is not None:
            pids = self._unit_pids(status)
            found = (facts.process(pid) for pid in pids if pid not in spared)
            return tuple(proc for proc in found if proc is not None)
        folder = facts.install_of(status.binary)[1]
        if folder is None:
            # A client outside a version folder has no install folder of its own: its folder
            # holds other programs (/usr/sbin), none of which is the client's to end.
            return ()
        return tuple(proc for proc in facts.in_folder(folder) if proc.pid not in spared)

    def _unit_pids(self, status):
        group = status.unit.control_group
        if not group:
            # systemd keeps a unit's cgroup, and names it, while a process is left in it.
            return ()
        pids = facts.cgroup_pids(group)
        if pids is None:  # no cgroup hierarchy to read: each process says where it runs
            name = status.unit.name
            pids = [pid for pid in facts.live_pids() if systemd.unit_of(pid) == name]
        return pids

    def still_leftover(self, proc, status):
        """Whether ``proc`` is still the same leftover of the client (not a new process that
        got its pid, not one that left the unit or the folder)."""
        now = facts.process(proc.pid)
        if now is None or (now.exe, now.argv) != (proc.exe, proc.argv):
            return False
        if status.unit is not None:
            return systemd.unit_of(proc.pid) == status.unit.name
        folder = facts.install_of(status.binary)[1]
        return folder is not None and now.exe.startswith(folder.rstrip("/") + "/")

    def signal(self, proc, signum, status):
        """Send ``signum`` to the leftover ``proc``, only while it is still one (its pid held
        by a pidfd meanwhile, so it cannot be reused under us); False when it is gone."""
        try:
            handle = os.pidfd_open(proc.pid)
        except ProcessLookupError:
            return False
        except (AttributeError, OSError):  # Linux before 5.3: the check and kill, as ever
            handle = None
        try:
            if not self.still_leftover(proc, status):
                return False
            if handle is None:
                os.kill(proc.pid, signum)
            else:
                signal.pidfd_send_signal(handle, signum)
        except ProcessLookupError:
            return False
        finally:
            if handle is not None:
                os.close(handle)
        return True

    def host_said(self, status, *, since, heard=()):
        """What the host said while an action begun at ``since`` (epoch seconds) failed:
        ``(said_by, lines)``, no lines when it said nothing.  Under systemd the last lines of
        the client unit's journal since then (one ``journalctl``, where there is one); under
        sysvinit and upstart what the steps that ran (``heard``: their ``CommandResult``)
        printed, the script's or ``initctl``'s own words.  A step that exited non-zero is not
        in ``heard``: its error quotes its output already."""
        if status.unit is not None:
            return self._journal(status.unit.name, since)
        said = [res for res in heard if res.output]
        return (
            "; ".join(res.command for res in said),
            [line for res in said for line in res.output.splitlines()],
        )

    def _journal(self, unit, since):
        """The last lines of ``unit``'s journal since ``since``; none where there is no
        journalctl, or it fails or hangs: the action's own error stays the error."""
        if not facts.which("journalctl"):
            return "", ()
        argv = systemd.journal_argv(unit, since, lines=errors.SAID_LINES)
        try:
            res = run.run(argv, min(self.timeout, JOURNAL_TIMEOUT))
        except (errors.CannotRun, errors.TimedOut) as exc:
            log.debug("cloudassist: the journal of %s: %s", unit, exc)
            return "", ()
        if res.retcode != 0:
            log.debug("cloudassist: the journal of %s: %s", unit, res.output)
            return "", ()
        return res.command, systemd.journal_lines(res.stdout)

    def watchdog_stop_step(self, status):
        """The step that stops the running watchdog; ``errors.Blocked`` says why there is none."""
        return self.watchdog_stop_step_of(status.watchdog)

    def watchdog_stop_step_of(self, watchdog, asked="stop_watchdog=True"):
        """The step that stops ``watchdog`` (a ``Watchdog``); ``errors.Blocked`` says why there
        is none (``asked``: the argument that asked for the stop)."""
        if watchdog.form == "unit":
            return Step(("systemctl", "stop", WATCHDOG_UNIT))
        if watchdog.suspects:
            raise errors.Blocked(f"{asked}, but nothing was changed: " + watchdog.suspects_text())
        binary = self._watchdog_binary()
        if not os.path.isfile(binary):
            raise errors.Blocked(
                "the watchdog {} is running but its binary {!r} is gone (removed while it runs), "
                "so it cannot be stopped with --stop; nothing was changed. Reinstall the client "
                "or stop pid {} yourself".format(
                    WATCHDOG_NAME, binary, ", ".join(map(str, watchdog.pids))
                )
            )
        return Step((binary, "--stop"))

    def run_step(self, step, branch=None, check=True):
        """Run a step; raise on a failed start, a timeout or (with ``check``) a non-zero exit."""
        if step.kind == "file":
            edit, path = step.argv[:2]
            try:
                if edit in PIDFILE_EDITS:
                    return edit_pidfile(step)
                boot.set_manual(path, edit == "add-manual")
            except OSError as exc:
                raise errors.CommandFailed(
                    f"`{step.text}` failed: {exc}", command=step.text, retcode=None, output=str(exc)
                ) from exc
            return None
        try:
            res = run.run(list(step.argv), self.timeout)
        except errors.TimedOut as exc:
            goes_on = branch and JOB_GOES_ON.get(branch.tool)
            if not goes_on:
                raise
            raise errors.TimedOut(
                f"{exc}. {goes_on.format(branch.service)}", command=exc.command, timeout=exc.timeout
            ) from None
        if check and res.retcode != 0:
            raise errors.CommandFailed(
                "`{}` exited with code {}: {} (branch: {})".format(
                    res.command,
                    res.retcode,
                    res.output or "(no output)",
                    branch.name if branch else "watchdog",
                ),
                command=res.command,
                retcode=res.retcode,
                output=res.output,
            )
        return res


PIDFILE_EDITS = ("drop-pidfile", "write-pidfile")


def edit_pidfile(step):
    """Remove the pid file (``drop-pidfile``) or write the client's pid into it
    (``write-pidfile``), only while it is still a regular file holding what the plan saw:
    True when done, False when the file changed or went meanwhile (left as it is).  OSError
    when the host refuses (read-only, immutable, permissions)."""
    edit, path, content = step.argv[:3]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return False
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode) or handle.read(64) != content:
            return False
    if edit == "drop-pidfile":
        os.unlink(path)
        return True
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{step.argv[3]}\n")
    return True


def sysv_script(steps):
    """The ``/etc/init.d`` script the branch's steps run, or None."""
    for step in steps["start"] + steps["stop"]:
        if step.kind == "command" and step.argv[0].startswith("/etc/init.d/"):
            return step.argv[0]
    return None


def _choose_unit(vendor, candidates, units, *, running_in):
    """``(UnitState, why)``: the client's running unit, else an installed candidate (the one
    that runs or is enabled when there are two), else the vendor's name."""
    if running_in:
        name = running_in[0]
        why = (
            f"the running client is the main process of {name} (its cgroup, and systemd's MainPID)"
        )
        if len(running_in) > 1:
            why += "; clients also run in {}".format(", ".join(running_in[1:]))
        also = [other for other in candidates if other not in running_in and units[other].exists]
        if also:
            why += "; {} {} also installed".format(
                ", ".join(also), "is" if len(also) == 1 else "are"
            )
        return units[name], why
    loaded = [units[name] for name in candidates if units[name].exists]
    if not loaded:
        return units[
            vendor
        ], "no unit file of {} is installed; the vendor's name is the last resort".format(
            " or ".join(candidates)
        )
    if len(loaded) == 1:
        return loaded[0], "{} is the installed unit among {}".format(
            loaded[0].name, ", ".join(candidates)
        )
    live = [u for u in loaded if u.live]
    chosen = (live or [u for u in loaded if u.enabled] or loaded)[0]
    return chosen, "two units are installed ({}); {} {}".format(
        ", ".join(u.name for u in loaded),
        chosen.name,
        "runs" if live else ("is enabled" if chosen.enabled else "comes first"),
    )


def _checked_binary(path, origin):
    if not os.path.lexists(path):
        raise errors.NotInstalled(
            f"the Cloud Assistant client is not installed: looked for {path} ({origin}), "
            "which does not exist",
            looked_in=(path,),
        )
    if not os.path.exists(path):
        raise errors.Broken(
            f"the Cloud Assistant client is broken: {path} is a link to {os.readlink(path)}, "
            "which does not exist. Reinstall the client",
            path=path,
        )
    if not os.path.isfile(path):
        raise errors.Broken(
            f"{path} ({origin}) is not a file, so it cannot be the client", path=path
        )
    if not os.access(path, os.X_OK):
        raise errors.Broken(
            f"the Cloud Assistant client at {path} is not executable "
            f"(mode {os.stat(path).st_mode & 0o7777:o}). Restore its mode (chmod 755) or "
            "reinstall the client",
            path=path,
        )
    return path


WINDOWS_DECISION = InitDecision(
    "windows",
    "the minion runs Windows",
    (Evidence("salt.utils.platform.is_windows()", "True"),),
)


class WindowsHost(_Host):
    platform = "windows"
    paths = ntpath  # its paths' rules, also where Windows is tested on Linux

    def init_system(self):
        return WINDOWS_DECISION

    def _info(self):
        try:
            return self.salt["service.info"](WINDOWS_SERVICE)
        except CommandExecutionError as exc:  # Salt's win_service says the service is missing
            raise errors.NotInstalled(
                "the Cloud Assistant client is not installed: looked for the Windows service "
                f"{WINDOWS_SERVICE} ({exc})",
                looked_in=(WINDOWS_SERVICE,),
            ) from exc

    def status(self):
        info = self._info()
        pids = self._service_pids()
        version, exe, problem = self._version(info)
        extra = (("version_problem", problem),) if problem else ()
        return self._status(
            version,
            exe,
            WINDOWS_DECISION,
            pids=pids,
            extra=extra,
            boot_state=self._boot_state(WINDOWS_SERVICE, info),
            watchdog=self._watchdog(),
            updates=self._updates(exe, pids) if exe else None,
        )

    def updates_now(self):
        """Whether the client may update itself, read now from the version folder of the
        binary the ``AliyunService`` configuration names (else of the newest version folder):
        a few ``stat`` calls, no program run."""
        info = self._info()
        exe = exe_from_service_path(info.get("BinaryPath")) or newest_windows_exe(self._root())
        if not exe:
            raise errors.Unreadable(
                f"neither the AliyunService configuration nor {self._root()} names a client "
                "binary, so its version folder, where the markers that freeze its updates lie, "
                "is not known",
                what="updates",
            )
        return self._updates(exe, self._service_pids())

    def _updates(self, exe, pids):
        """The Service Control Manager runs the binary its configuration names: with the
        service running, that binary's folder is the running client's."""
        return updater.read(
            ntpath.normpath(exe), [ntpath.normpath(exe)] if pids else (), paths=ntpath
        )

    def _boot_state(self, service, info=None):
        info = info if info is not None else self.salt["service.info"](service)
        return boot.windows_boot(
            service, info.get("StartType"), bool(self.salt["service.enabled"](service))
        )

    def boot_now(self, status):
        return self._boot_state(WINDOWS_SERVICE)

    def version(self):
        version, _, problem = self._version(self._info())
        if version is None:
            raise errors.Unreadable(
                "the version of the Cloud Assistant client could not be read: " + problem,
                what="version",
            )
        return version

    def _service_pids(self):
        # The Service Control Manager is the truth here; the service's name stands for its pid.
        return (WINDOWS_SERVICE,) if self.salt["service.status"](WINDOWS_SERVICE) else ()

    def client_pids(self, status):
        return self._service_pids()

    def leftovers(self, status, *, client=None):
        # The Service Control Manager keeps no group of the service's processes to read.
        return ()

    def host_said(self, status, *, since, heard=()):
        """Nothing: the Service Control Manager keeps no journal of the service, and Salt's
        ``win_service`` errors quote what it said already."""
        return "", ()

    def _watchdog(self):
        if not self.salt["service.available"](WATCHDOG_SERVICE):
            return Watchdog()
        running = bool(self.salt["service.status"](WATCHDOG_SERVICE))
        return Watchdog(
            (WATCHDOG_SERVICE,) if running else (),
            "service" if running else None,
            None,
            self._boot_state(WATCHDOG_SERVICE),
        )

    def watchdog_now(self, status):
        return self._watchdog()

    def watchdog_stop_step(self, status):
        return Step(("service.stop", WATCHDOG_SERVICE), kind="salt")

    def run_step(self, step, branch=None, check=True):
        function, argument = step.argv
        try:
            self.salt[function](argument, timeout=self.timeout)
        except CommandExecutionError as exc:  # from Salt's win_service
            raise errors.CommandFailed(
                f"`{step.text}` failed: {exc}", command=step.text, retcode=None, output=str(exc)
            ) from exc

    def on_host(self):
        """What of the client is on this host, for ``cloudassist.remove``: the ``AliyunService``
        service (its binary from its configuration, never from the caller), its state, the
        version folders under ``cloudassist:windows_root`` and the processes running from them
        or from the service's binary."""
        root = self._root()
        folders = windows_version_folders(root)
        exe = running = None
        service = None
        if self.salt["service.available"](WINDOWS_SERVICE):
            service = WINDOWS_SERVICE
            exe = exe_from_service_path(self._info().get("BinaryPath"))
            running = bool(self.salt["service.status"](WINDOWS_SERVICE))
        return WindowsClient(
            service,
            exe,
            running=running,
            folders=folders,
            processes=self._client_processes(exe, folders),
            kept=windows_kept(root, folders),
        )

    def _client_processes(self, exe, folders):
        """``(pid, exe)`` of each process whose program is ``exe`` or lies in one of
        ``folders`` (the updater's too), read from the process table with Salt's ``ps``
        functions (psutil, which Salt ships on Windows).  One that ends while it is read is
        not counted; one whose program cannot be read is, named ``(unreadable)``."""
        if "ps.pgrep" not in self.salt:
            raise errors.Unreadable(
                "Salt's ps module is not loaded on this minion (it needs psutil), so the process "
                "table cannot be read to check that no process of the client runs; nothing was "
                "changed",
                what="processes",
            )
        wanted = {ntpath.normcase(path) for path in (exe,) if path}
        homes = {ntpath.normcase(folder) for folder in folders}
        found = []
        for pid in self.salt["ps.pgrep"](WINDOWS_PROGRAMS) or ():
            try:
                program = self.salt["ps.proc_info"](pid, attrs=["exe"]).get("exe") or ""
            except CommandExecutionError:  # psutil's NoSuchProcess or AccessDenied
                if pid not in (self.salt["ps.get_pid_list"]() or ()):
                    continue
                program = "(unreadable)"
            key = ntpath.normcase(program)
            if program == "(unreadable)" or key in wanted or ntpath.dirname(key) in homes:
                found.append((pid, program))
        return tuple(found)

    def _root(self):
        default = os.path.join(os.environ.get("ProgramData", "C:\\ProgramData"), "aliyun", "assist")
        return self.config("windows_root", default)

    def _version(self, info):
        """``(version, exe, problem)``: from the service's binary, else the newest version
        folder.  Read with ``--version`` every time: the version cache is Linux's only
        (``LinuxHost._client_version``), proven there against real self-updates; no Windows
        host runs the tests that would prove it here."""
        problems = []
        configured = exe_from_service_path(info.get("BinaryPath"))
        root = self._root()
        candidates = (
            ("the AliyunService configuration", lambda: configured),
            ("the newest folder in " + root, lambda: newest_windows_exe(root)),
        )
        for origin, find in candidates:
            exe = find()
            if not exe:
                continue
            if not os.path.isfile(exe):
                problems.append(f"{exe} (from {origin}) does not exist")
                continue
            try:
                return self.version_of([exe, "--version"]), exe, None
            except errors.Failure as exc:
                problems.append(str(exc))
        if not problems:
            problems.append(
                f"neither the AliyunService configuration nor {root} names a client binary"
            )
        return None, configured, "; ".join(problems)


def exe_from_service_path(binary_path):
    """``"C:\\...\\aliyun_assist_service.exe" --args`` -> the exe path."""
    text = (binary_path or "").strip()
    if text.startswith('"'):
        return text[1:].split('"', 1)[0] or None
    lower = text.lower()
    end = lower.find(".exe")
    return text[: end + 4] if end >= 0 else (text or None)


class WindowsClient(NamedTuple):
    """What of the client is on a Windows host (``WindowsHost.on_host``): ``service``
    (``AliyunService`` where it is registered, else None), ``exe`` (the binary its configuration
    names), ``running``, ``folders`` (the version folders under the root), ``processes``
    (``(pid, exe)`` of those running from the binary or a version folder) and ``kept`` (the
    root's other files, which no removal touches)."""

    service: object
    exe: object
    running: object = None
    folders: tuple = ()
    processes: tuple = ()
    kept: tuple = ()

    @property
    def version(self):
        """The version folder's name of the service's binary, where it is one."""
        name = ntpath.basename(ntpath.dirname(self.exe or ""))
        return name if _is_version(name) else None


def _is_version(name):
    try:
        facts.version_tuple(name)
    except ValueError:
        return False
    return name == name.strip()


def windows_version_folders(root):
    """The client's version folders under ``root`` (folders named as a version, not links),
    sorted by version."""
    try:
        names = os.listdir(root)
    except OSError:
        return ()
    found = []
    for name in names:
        path = os.path.join(root, name)
        if _is_version(name) and os.path.isdir(path) and not os.path.islink(path):
            found.append((facts.version_tuple(name), path))
    return tuple(path for _, path in sorted(found))


def windows_kept(root, folders):
    """The paths under ``root`` that no version folder holds (logs, the client's config), each
    file and link, sorted."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if os.path.join(folder, d) not in folders)
        found += [os.path.join(folder, name) for name in sorted(names)]
        found += [os.path.join(folder, d) for d in dirs if os.path.islink(os.path.join(folder, d))]
    return tuple(found)


def newest_windows_exe(root):
    try:
        names = os.listdir(root)
    except OSError:
        return None
    versions = []
    for name in names:
        try:
            versions.append((facts.version_tuple(name), name))
        except ValueError:
            continue
    for _, name in sorted(versions, reverse=True):
        exe = os.path.join(root, name, WINDOWS_EXE)
        if os.path.isfile(exe):
            return exe
    return None
