"""Installing and removing the client's package (``cloudassist.install``, ``cloudassist.remove``):
the host's package tool, the file's identity, the plan, and the truth read back after the tool
ran (``dpkg -i``, ``dnf install``, ...) or after ``dpkg --purge``.

The tools are data (``_cloudassist_tools``): dpkg for the ``.deb``, dnf, yum, zypper or rpm for
the ``.rpm``, the installer on Windows.  The vendor's package is ``aliyun-assist`` (``.deb``) or
``aliyun_assist`` (``.rpm``), version four dot-separated integers (spec: cloud-assistant.md,
"Packages and self-update"); its after-install script (the client's ``init/install``) links
``/usr/sbin/aliyun-service`` and writes, enables and starts the client's own service, so what is
checked afterwards is the package, the binary's ``-v`` and the running client.  Its
before-remove script (``init/uninstall``) stops and removes that service, so what is checked
after ``dpkg --purge`` or ``dnf remove`` (and yum's, zypper's, rpm's) is that nothing of the
client is left (:func:`remains`).  On Windows, where the vendor publishes no uninstaller, the
removal is the vendor's own "remove agent" action (the service's binary with ``--remove``, then
``--stop``), then the version folders; what is checked is the Service Control Manager, the
process table and the folders (:func:`windows_left`).

The facts are read here (:func:`host_tool`, :func:`identify`, :func:`installed`); the plan
(:func:`make_plan`) and the readings of the commands' output (:func:`fields`,
:func:`query_state`, :func:`locked`) are pure.
"""

import hashlib
import os
import re
import shutil
import time
from typing import NamedTuple

import _cloudassist_boot as boot
import _cloudassist_errors as errors
import _cloudassist_facts as facts
import _cloudassist_systemd as systemd
import _cloudassist_tools as tools
import _cloudassist_updates as updater
from _cloudassist_run import command_line, run

PACKAGE = tools.DPKG.package
INSTALLED = "install ok installed"
VERSION = re.compile(r"\d+\.\d+\.\d+\.\d+")
# The tool runs the after-install script, which starts the client: it may take longer than one
# command.
INSTALL_TIMEOUT = 300
# How often a tool whose lock another process holds (apt, yum-cron) is tried again.
LOCK_POLL = 1.0
LOCK_WORDS = tools.DPKG.lock_words
URL_SCHEMES = ("https://", "http://")
# The hashes Salt's source_hash takes, by the length of their hex digest (salt.utils.files.HASHES).
HASH_LENGTHS = {"sha512": 128, "sha384": 96, "sha256": 64, "sha224": 56, "sha1": 40, "md5": 32}
HEX = re.compile(r"[0-9a-fA-F]+")
# What of the client may be left after a removal (spec: cloud-assistant.md, "The service the
# client installs for itself", "The watchdog", "agentwatch"): the unit's name varies.
SHARE_FOLDERS = ("/usr/local/share/aliyun-assist", "/opt/local/share/aliyun-assist")
CLIENT_UNITS = ("aliyun.service", "aliyun-service.service", "agentwatch.service")
CLIENT_SCRIPTS = (
    "/etc/init.d/aliyun-service",
    "/etc/init.d/agentwatch",
    "/etc/init/aliyun-service.conf",
)
WATCHDOG_UNIT = "AssistDaemon.service"
WATCHDOG_SCRIPT = "/etc/init.d/AssistDaemon"
WATCHDOG_SERVICE = "AssistDaemon"
# The vendor's folder of the watchdog: removed whole only under this name (a watchdog configured
# elsewhere, /usr/bin/assist_daemon say, loses its file alone, never its folder).
WATCHDOG_FOLDER = "assist-daemon"
# The client starts it from its version folder to update itself (spec: "Packages and
# self-update").
UPDATER_NAME = "aliyun_assist_update"
# At most this many of the files left in the share folder are named one by one.
KEPT_SHOWN = 20


class Installed(NamedTuple):
    """What the package database knows of the client's package: ``state`` (dpkg's
    ``install ok installed``, ``install ok half-configured``, ...; rpm's ``installed``; None when
    it knows no such package) and ``version``."""

    state: object
    version: object

    @property
    def ok(self):
        return self.state in (INSTALLED, tools.RPM_INSTALLED)

    @property
    def known(self):
        """Whether dpkg holds anything of the package (installed, half-done, config files)."""
        return self.state is not None and not self.state.endswith("not-installed")


class Plan(NamedTuple):
    """``action``: ``install`` or ``remove`` (run ``command``), ``none`` (nothing to do) or
    ``keep`` (a newer version is installed and no downgrade was allowed); ``old``/``new``:
    versions (``new`` None for a removal); ``tool``: the :class:`tools.Tool` that runs
    ``command``."""

    action: str
    old: object
    new: str
    command: tuple
    comment: str
    tool: tools.Tool = tools.DPKG
    # A removal's further steps (``remove_watchdog``, the markers): the watchdog's stop
    # (a ``Step``), its files removed before ``dpkg --purge``, the markers after it, then the
    # share folders that the purge and the markers' removal leave empty (as foreseen).
    watchdog_stop: object = None
    watchdog_files: tuple = ()
    markers: tuple = ()
    folders: tuple = ()

    def described(self, *, ran):
        """The comment: what would be done (``ran`` False) or what was done."""
        if self.action not in CHANGING:
            return self.comment
        return "; ".join(tense(part, ran=ran) for part in self.parts)

    @property
    def parts(self):
        """Each step in the order it runs, an imperative sentence."""
        before = []
        if self.watchdog_stop is not None:
            before.append(f"stop the watchdog with `{self.watchdog_stop.text}`")
        if self.watchdog_files:
            before.append("remove the watchdog's " + ", ".join(self.watchdog_files))
        after = []
        if self.markers:
            after.append("then remove the self-update markers " + ", ".join(self.markers))
        if self.folders:
            after.append("then remove the client's folders left empty " + ", ".join(self.folders))
        return (*before, self.comment, *after)

    @property
    def command_text(self):
        return command_line(list(self.command)) if self.command else ""

    @property
    def changes(self):
        if self.action not in CHANGING:
            return {}
        changes = {}
        if not (self.action == "remove" and self.old is None):
            # (a removal where dpkg knows no package changes no version)
            changes["version"] = {"old": self.old, "new": self.new}
        if self.watchdog_stop is not None:
            changes["watchdog"] = {"old": True, "new": False}
        files = self.watchdog_files + self.markers + self.folders
        if files:
            changes["files"] = {"old": list(files), "new": []}
        return changes


CHANGING = ("install", "remove")


def tense(part, *, ran):
    """``part`` (``stop ...``, ``then remove ...``) as done or as would be done."""
    then, _, rest = part.partition(" ") if part.startswith("then ") else ("", "", part)
    verb, rest = rest.split(" ", 1)
    verb = (
        (verb + "d" if verb.endswith("e") else verb + "ped" if verb == "stop" else verb + "ed")
        if ran
        else "would " + verb
    )
    return " ".join(word for word in (then, verb, rest) if word)


# --- facts ------------------------------------------------------------------------------------


def host_tool(*, os_family=None, windows=False, action="install"):
    """The :class:`tools.Tool` that installs the client here; for ``action`` ``remove``, one
    that removes it (dpkg, dnf, yum, zypper, rpm; on Windows the installer's record, whose
    removal is the client's own ``--remove`` and ``--stop``: :func:`make_windows_removal`);
    else :class:`errors.WrongHost`."""
    if action == "install" or windows:
        return tools.host_tool(os_family=os_family, windows=windows)
    try:
        tool = tools.host_tool(os_family=os_family)
    except errors.WrongHost:
        raise errors.WrongHost(
            "this version of cloudassist removes only the client's .deb with dpkg and its .rpm "
            "with dnf, yum, zypper or rpm, and this host has none of them (no dpkg with its "
            f"database {tools.DPKG_STATUS}, no rpm); nothing was changed. Remove the client "
            "with the vendor's procedure for this host",
            needs="dpkg or rpm",
        ) from None
    return tool


def source_kind(source):
    """``('salt', source)``, ``('url', source)`` (``https://``, ``http://``) or ``('file', path)``:
    where ``source`` is read from; else :class:`errors.BadArgument` (nothing is fetched or
    read)."""
    if not isinstance(source, str) or not source or "\0" in source:
        raise errors.BadArgument(
            "the argument source must be a salt:// path, an https:// or http:// URL or an "
            f"absolute file path, not {source!r}",
            source="the argument source",
            value=source,
        )
    if source.startswith("salt://") and len(source) > len("salt://"):
        return "salt", source
    if source.startswith(URL_SCHEMES) and source.split("://", 1)[1].strip("/"):
        return "url", source
    if os.path.isabs(source) and "://" not in source:
        if not os.path.isfile(source):
            raise errors.BadArgument(
                f"the argument source {source!r} is not a file on this minion; nothing was changed",
                source="the argument source",
                value=source,
            )
        return "file", source
    raise errors.BadArgument(
        "the argument source must be a salt:// path, an https:// or http:// URL or an "
        f"absolute file path, not {source!r}",
        source="the argument source",
        value=source,
    )


def parse_hash(source_hash):
    """``(form, hex digest)`` of ``source_hash`` as Salt takes it (``sha256=HEX``,
    ``sha256:HEX``, or the hex digest alone, its form told by its length); else
    :class:`errors.BadArgument`."""
    text = source_hash.strip() if isinstance(source_hash, str) else None
    form, digest = None, text
    for sep in ("=", ":"):
        if text and sep in text:
            form, digest = (part.strip() for part in text.split(sep, 1))
            form = form.lower()
            break
    if form is None and digest:
        form = {length: name for name, length in HASH_LENGTHS.items()}.get(len(digest))
    if not (form in HASH_LENGTHS and HEX.fullmatch(digest or "")) or (
        len(digest) != HASH_LENGTHS[form]
    ):
        raise errors.BadArgument(
            "the argument source_hash must be a hash as Salt takes it (sha256=<64 hex digits>, "
            f"or sha512, sha384, sha224, sha1, md5), not {source_hash!r}; nothing was changed",
            source="the argument source_hash",
            value=source_hash,
        )
    return form, digest.lower()


def file_hash(path, form):
    """The hex digest (``form``: a name of :data:`HASH_LENGTHS`) of the file at ``path``."""
    digest = hashlib.new(form)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checked_hash(source, wanted, found):
    """Nothing when ``found`` (the file's hex digest) is ``wanted`` (``(form, hex)``); else
    :class:`errors.HashMismatch`."""
    form, digest = wanted
    if found != digest:
        raise errors.HashMismatch(
            f"{source} has the {form} {found}, not the {digest} that source_hash says: it is "
            "not the file meant, or it changed on its way; it was not installed and nothing "
            "was changed. Check the URL and the hash",
            source=source,
            wanted=f"{form}={digest}",
            found=f"{form}={found}",
        )


def fields(text):
    """``{'Package': ..., 'Version': ...}`` of what ``dpkg-deb --field FILE Package Version``
    printed (``Name: value`` lines)."""
    found = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name and not name[0].isspace():
            found[name.strip()] = value.strip()
    return found


def checked_identity(path, found, wanted=None, *, client=PACKAGE):
    """The version of the client's package (named ``client``) at ``path``, given its ``found``
    fields; :class:`errors.NotThePackage` when the file is another package, a version that is
    not four integers, or not ``wanted``."""
    package, version = found.get("Package"), found.get("Version")
    if package != client:
        raise errors.NotThePackage(
            f"{path} is not the Cloud Assistant client's package: it is the package "
            f"{package or '(none)'} {version or ''}, not {client}; nothing was changed",
            path=path,
            package=package,
            version=version,
        )
    if not version or not VERSION.fullmatch(version):
        raise errors.NotThePackage(
            f"{path} is {client} at version {version!r}, which is not a client version (four "
            "dot-separated integers); nothing was changed",
            path=path,
            package=package,
            version=version,
        )
    if wanted is not None and str(wanted) != version:
        raise errors.NotThePackage(
            f"{path} is {client} {version}, not the version {wanted} asked for; nothing was "
            "changed",
            path=path,
            package=package,
            version=version,
        )
    return version


def identify(path, timeout, wanted=None, *, tool=tools.DPKG):
    """The client version the package at ``path`` holds, checked: a ``.deb``'s by
    ``dpkg-deb --field``, an ``.rpm``'s by ``rpm -qp``; a Windows installer's is ``wanted``,
    which is required (its version cannot be read without running it)."""
    if tool.kind == "exe":
        return _installer_version(path, wanted)
    if tool.kind == "rpm":
        argv = list(tools.rpm_identify_argv(path))
    else:
        argv = ["dpkg-deb", "--field", path, "Package", "Version"]
    res = run(argv, timeout)
    if res.retcode != 0:
        raise errors.NotThePackage(
            f"{path} is not a .{tool.kind} package: `{res.command}` exited with code "
            f"{res.retcode}; nothing was changed",
            path=path,
            package=None,
            version=None,
        ).heard(res.command, res.stderr or res.stdout)
    found = tools.rpm_fields(res.stdout) if tool.kind == "rpm" else fields(res.stdout)
    return checked_identity(path, found, wanted, client=tool.package)


def _installer_version(path, wanted):
    """``wanted``, the version the Windows installer at ``path`` holds, checked as far as it can
    be without running it: given, four integers, and the file a Windows program."""
    if wanted is None or not VERSION.fullmatch(str(wanted)):
        raise errors.BadArgument(
            f"on Windows the argument version is required and must be four integers (the "
            f"version the installer holds), not {wanted!r}: the installer's version cannot be "
            "read without running it; nothing was changed",
            source="the argument version",
            value=wanted,
        )
    with open(path, "rb") as handle:
        head = handle.read(2)
    if head != b"MZ":
        raise errors.NotThePackage(
            f"{path} is not a Windows program (it does not start with MZ), so not the client's "
            "installer (aliyun_agent_latest_setup.exe); nothing was changed",
            path=path,
            package=None,
            version=None,
        )
    return str(wanted)


def query_state(retcode, stdout):
    """:class:`Installed` from ``dpkg-query -W -f '${Status} ${Version}' aliyun-assist``."""
    words = stdout.split()
    if retcode != 0 or len(words) < 3:
        return Installed(None, None)
    state = " ".join(words[:3])
    return Installed(state, words[3] if len(words) > 3 else None)


def left_text(now):
    """What the database knows, for a package that is not cleanly installed: ``2.2.3.578
    (half-configured)`` (dpkg's status word), ``2.2.4.1065 (installed 2 times)`` (rpm's), or
    None when it knows no version."""
    if now.version is None:
        return None
    rpm = now.state.startswith(tools.RPM_INSTALLED)
    return f"{now.version} ({now.state if rpm else now.state.split()[-1]})"


def installed(timeout, *, tool=tools.DPKG):
    """What the package database knows of the client's package now (dpkg's, or rpm's)."""
    if tool.kind == "rpm":
        res = run(list(tools.rpm_query_argv(tool.package)), timeout)
        return Installed(*tools.rpm_state(res.retcode, res.stdout, tool.package))
    res = run(["dpkg-query", "-W", "-f", "${Status} ${Version}", PACKAGE], timeout)
    return query_state(res.retcode, res.stdout)


def from_status(status):
    """What is installed where the client's status is what tells it (Windows): ``status`` a
    ``ClientStatus``, or None where no client is installed."""
    if status is None or not status.version:
        return Installed(None, None)
    return Installed(tools.RPM_INSTALLED, status.version)


def _client_process(proc):
    """Whether ``proc`` (of this host) runs a client binary: a link of
    ``facts.LINUX_BINARIES`` or ``aliyun-service`` in a version folder of the client's share
    folder (the package gone, its file may show as deleted)."""
    exe = proc.exe
    if exe in facts.LINUX_BINARIES:
        return True
    if os.path.basename(exe) != facts.CLIENT_NAME:
        return False
    version_dir = os.path.dirname(exe)
    return os.path.dirname(version_dir) in SHARE_FOLDERS and bool(
        VERSION.fullmatch(os.path.basename(version_dir))
    )


def _updater_process(proc):
    """Whether ``proc`` runs the client's updater from a version folder of its share folder."""
    version_dir = os.path.dirname(proc.exe)
    return (
        os.path.basename(proc.exe) == UPDATER_NAME
        and os.path.dirname(version_dir) in SHARE_FOLDERS
        and bool(VERSION.fullmatch(os.path.basename(version_dir)))
    )


def remains(watchdog, *, with_watchdog=True, files=()):
    """What of the client is on this host, each named in a few words: its processes, its
    updater's and the watchdog's (``watchdog``: the watchdog's binary), their units and init
    scripts, the binary's links, and those of ``files`` that exist.  ``with_watchdog`` False
    leaves the watchdog out.  Only ``/proc`` and a few ``lstat`` calls; empty when nothing is
    left."""
    left = []
    names = {facts.CLIENT_NAME, UPDATER_NAME} | facts.watchdog_names(watchdog)
    real_watchdog = os.path.realpath(watchdog)
    for proc in facts.processes(names):
        if facts.is_probe(proc) or facts.not_ours(proc.pid) is not None:
            continue
        if _client_process(proc):
            left.append(f"the client's process {proc.pid} ({proc.exe})")
        elif _updater_process(proc):
            left.append(f"the updater's process {proc.pid} ({proc.exe})")
        elif (
            with_watchdog
            and proc.exe == real_watchdog
            and not facts.WATCHDOG_CALLS.intersection(proc.argv[1:])
        ):
            left.append(f"the watchdog's process {proc.pid} ({proc.exe})")
    left.extend(f"the unit {unit}" for unit in CLIENT_UNITS if systemd.has_unit_file(unit))
    if with_watchdog and systemd.has_unit_file(WATCHDOG_UNIT):
        left.append(f"the watchdog's unit {WATCHDOG_UNIT}")
    left.extend(f"the init script {path}" for path in CLIENT_SCRIPTS if os.path.lexists(path))
    if with_watchdog and os.path.lexists(WATCHDOG_SCRIPT):
        left.append(f"the watchdog's init script {WATCHDOG_SCRIPT}")
    left.extend(
        f"the binary's link {path}" for path in facts.LINUX_BINARIES if os.path.lexists(path)
    )
    left.extend(f"the file {path}" for path in files if os.path.lexists(path))
    return tuple(left)


def _rc_link_paths(name):
    """The paths of the ``S``/``K`` links to the init script ``name``."""
    found = []
    for level, entry in boot.rc_links(name):
        for pattern in boot.RC_DIRS:
            path = os.path.join(pattern.format(level), entry)
            if os.path.lexists(path) and path not in found:
                found.append(path)
    return found


def watchdog_files(watchdog):
    """The watchdog's files on this host, in the order they are removed: the links that start
    ``AssistDaemon.service`` at boot and its unit files, the rc links and the init script
    ``/etc/init.d/AssistDaemon``, then its folder (``.../assist-daemon``, the vendor's name) or
    else its binary ``watchdog`` alone.  Only ``lstat`` and folder listings."""
    found = []
    for folder in systemd.UNIT_DIRS:
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            entries = []
        for entry in entries:
            if entry.endswith((".wants", ".requires")):
                found.append(os.path.join(folder, entry, WATCHDOG_UNIT))
        found.append(os.path.join(folder, WATCHDOG_UNIT))
    found += _rc_link_paths(WATCHDOG_SERVICE)
    found.append(WATCHDOG_SCRIPT)
    folder = os.path.dirname(watchdog)
    found.append(folder if os.path.basename(folder) == WATCHDOG_FOLDER else watchdog)
    return tuple(path for path in found if os.path.lexists(path))


def client_markers():
    """The self-update markers (``disable_update``, ``disable_bootstrap_update``) in the share
    folders: the cross-version ``config/`` and each version folder's ``config/``."""
    found = []
    for share in SHARE_FOLDERS:
        try:
            versions = sorted(e for e in os.listdir(share) if VERSION.fullmatch(e))
        except OSError:
            continue
        for folder in (share, *(os.path.join(share, version) for version in versions)):
            for name in updater.MARKERS:
                path = os.path.join(folder, updater.CONFIG, name)
                if os.path.lexists(path):
                    found.append(path)
    return tuple(found)


def owners(paths, timeout, *, tool=tools.DPKG):
    """``{path: packages}`` for those of ``paths`` that a package's file list holds: dpkg's
    (``dpkg-query -S``; a folder counts where a package has a file in it) or rpm's
    (``rpm -qf``, one path at a time: its answers name no path)."""
    if not paths:
        return {}
    if tool.kind == "rpm":
        found = {
            path: tools.rpm_owners(run([*tool.owners, path], timeout).stdout) for path in paths
        }
        return {path: ", ".join(names) for path, names in found.items() if names}
    res = run([*tool.owners, *paths], timeout)
    owned = {}
    for line in res.stdout.splitlines():
        if line.startswith("diversion "):
            continue
        names, sep, path = line.partition(": ")
        if sep and path in paths:
            owned[path] = names
    return owned


def package_files(timeout, *, tool=tools.DPKG):
    """The paths the file list of the client's package holds (``dpkg-query -L``, ``rpm -ql``;
    none where the database knows no such package)."""
    res = run(list(tool.files), timeout)
    return tuple(line for line in res.stdout.splitlines() if line.startswith("/"))


def emptied_folders(owned, markers):
    """The share folders that the removal itself will find empty after the purge and the
    ``markers``' removal, deepest first: what ``test=True`` names.

    The package's own are presumed gone with it: the paths of dpkg's list (``owned``, as
    :func:`package_files` reads it) and whatever its version folders hold (the client's
    ``log/``: the package's scripts clean those).  A folder the package would empty alone is
    dpkg's to remove, not named; one that only something else kept (the ``config/`` that
    ``freeze_updates`` made, a marker) is named."""
    owned, markers = set(owned), set(markers)
    tops = tuple(
        path + os.sep
        for path in owned
        if os.path.dirname(path) in SHARE_FOLDERS and os.path.isdir(path)
    )

    def theirs(path):
        return path not in markers and (path in owned or path.startswith(tops))

    alone = _emptied(theirs, removable=theirs)
    after = _emptied(lambda path: theirs(path) or path in markers, removable=lambda path: True)
    ours = [folder for folder in after if not (folder in alone and theirs(folder))]
    return tuple(sorted(ours, key=lambda folder: (-folder.count(os.sep), folder)))


def _emptied(gone, *, removable):
    """The share folders (and subfolders) that hold nothing once the paths ``gone`` says
    go are gone, and the subfolders found empty that ``removable`` says go are removed."""
    empty = set()
    for share in SHARE_FOLDERS:
        if not os.path.isdir(share) or os.path.islink(share):
            continue
        for folder, dirs, names in os.walk(share, topdown=False):
            paths = [os.path.join(folder, d) for d in dirs]
            if all(gone(os.path.join(folder, name)) for name in names) and all(
                gone(path)
                if os.path.islink(path)  # a link to a folder: a file that goes, or stays
                else path in empty and removable(path)
                for path in paths
            ):
                empty.add(folder)
    return empty


def kept_files():
    """What is left in the share folders that nothing here removes: files dpkg did not own (a
    self-update's version, logs), each path, at most :data:`KEPT_SHOWN` and a count of the
    rest."""
    found = []
    for share in SHARE_FOLDERS:
        for folder, dirs, names in os.walk(share):
            dirs.sort()
            found += [os.path.join(folder, name) for name in sorted(names)]
            found += [
                os.path.join(folder, d) for d in dirs if os.path.islink(os.path.join(folder, d))
            ]
    if len(found) > KEPT_SHOWN:
        return (*found[:KEPT_SHOWN], f"and {len(found) - KEPT_SHOWN} more")
    return tuple(found)


# --- the plan -----------------------------------------------------------------------------------


def _key(version):
    return tuple(int(part) for part in version.split(".")) if VERSION.fullmatch(version) else None


def make_plan(new, now, *, path, running, allow_downgrade=False, tool=tools.DPKG):
    """What to do to have ``new`` (the file's version) installed and running with ``tool``, from
    ``now`` (an :class:`Installed`) and whether the client runs."""
    old = now.version if now.ok else None
    name = tool.package
    if old == new and running:
        return Plan(
            "none", old, new, (), f"{name} {new} is already installed and the client runs", tool
        )
    old_key, new_key = (_key(old) if old else None), _key(new)
    if old_key and new_key and old_key > new_key and not allow_downgrade:
        return Plan(
            "keep",
            old,
            new,
            (),
            f"{name} {old} is installed, newer than {new}: kept, nothing was changed "
            "(allow_downgrade=True installs the older one)",
            tool,
        )
    if old is None:
        verb, what = "install", f"{name} {new}"
    elif old == new:
        verb, what = "reinstall", f"{name} {new} (installed, but the client is not running)"
    else:
        verb = "downgrade" if old_key and new_key and old_key > new_key else "upgrade"
        what = f"{name} {old} to {new}"
    command = tool.argv(verb, path)
    shown = command_line(list(command))
    return Plan("install", old, new, command, f"{verb} {what} with `{shown}`", tool)


def make_removal(
    now, left, *, watchdog_stop=None, watchdog_files=(), markers=(), folders=(), tool=tools.DPKG
):
    """What to do to have nothing of the client on this host, from ``now`` (an
    :class:`Installed`), ``left`` (:func:`remains`), the step that stops the running watchdog,
    the watchdog's files to remove, the self-update ``markers`` and the share ``folders`` that
    will then be empty (:func:`emptied_folders`): nothing when the package database knows no
    package and nothing is left; else ``tool``'s removal (``dpkg --purge aliyun-assist``,
    ``dnf remove -y aliyun_assist``, ...; it changes nothing where the database knows no
    package, so what is left is then named by the check afterwards), after the watchdog's
    stop and files, before the markers."""
    further = {
        "watchdog_stop": watchdog_stop,
        "watchdog_files": tuple(watchdog_files),
        "markers": tuple(markers),
        "folders": tuple(folders),
    }
    name = tool.package
    if not now.known and not left and not any(further.values()):
        return Plan(
            "none",
            None,
            None,
            (),
            f"{name} is not installed and nothing of the client is left",
            tool,
        )
    command = tool.remove
    shown = command_line(list(command))
    if not now.known:
        return Plan(
            "remove",
            None,
            None,
            command,
            f"remove what is left of the client ({name} is not installed) with `{shown}`",
            tool,
            **further,
        )
    old = now.version if now.ok else left_text(now)
    return Plan(
        "remove", old, None, command, f"remove {name} {old} with `{shown}`", tool, **further
    )


# --- acting and checking ------------------------------------------------------------------------


def locked(output):
    """Whether dpkg refused because another process holds its lock (it changed nothing)."""
    return any(words in output for words in LOCK_WORDS)


def run_tool(plan, *, timeout, wait):
    """Run the plan's command (``dpkg -i``, ``dnf install``, ``dpkg --purge``, ...); while
    another process holds the tool's lock, try again for up to ``wait`` seconds.  Returns the
    ``CommandResult`` (exit code not checked here)."""
    tool = plan.tool
    deadline = time.monotonic() + wait
    while True:
        res = run(list(plan.command), max(timeout, INSTALL_TIMEOUT))
        if res.retcode == 0 or not tool.locked(res.retcode, res.stdout + res.stderr):
            return res
        if time.monotonic() >= deadline:
            raise errors.CommandFailed(
                f"`{res.command}`: another process holds {tool.name}'s lock ({tool.holders}) "
                f"and still held it after {wait} seconds; nothing was changed. Try again when "
                "it has finished, or raise timeout=SECONDS",
                command=res.command,
                retcode=res.retcode,
                output=res.stdout + res.stderr,
            ).heard(res.command, res.stdout + res.stderr)
        time.sleep(LOCK_POLL)


def _removal_failed(res, tool):
    """:class:`errors.CommandFailed` for a removal that exited non-zero, with the tool's words."""
    output = res.stdout + res.stderr
    return errors.CommandFailed(
        f"`{res.command}` exited with code {res.retcode}: {tool.name} could not remove "
        f"{tool.package}. Read {tool.name}'s words below (often the package's before-remove "
        f"script: it could not stop or remove the client's service); {tool.advice}",
        command=res.command,
        retcode=res.retcode,
        output=output,
    ).heard(res.command, output)


def verify(res, after, plan, *, read_status, wait):
    """The plan's command (``res``) succeeded, the package database (``after``: dpkg-query,
    rpm -q, the status on Windows) says the plan's version is installed, and the client runs at
    it (``read_status()``, a ``ClientStatus``, read until ``wait`` seconds passed); else
    :class:`errors.CommandFailed` or :class:`errors.NotVerified` with the tool's words."""
    tool, name = plan.tool, plan.tool.package
    output = res.stdout + res.stderr
    if res.retcode != 0:
        raise errors.CommandFailed(
            f"`{res.command}` exited with code {res.retcode}: {tool.name} could not install "
            f"{name} {plan.new}. Read {tool.name}'s words below; {tool.advice}",
            command=res.command,
            retcode=res.retcode,
            output=output,
        ).heard(res.command, output)
    if not after.ok or after.version != plan.new:
        seen = f"{after.state} {after.version or ''}".rstrip() if after.state else "not installed"
        raise errors.NotVerified(
            f"`{res.command}` succeeded but {tool.query} says {name} is {seen}, not installed "
            f"at {plan.new}. {tool.advice[0].upper()}{tool.advice[1:]}",
            command=res.command,
        ).heard(res.command, output)
    deadline = time.monotonic() + wait
    seen = None
    while True:
        try:
            status = read_status()
            seen = f"version {status.version}, running: {status.running}"
            if status.version == plan.new and status.running:
                return status
        except (errors.NotInstalled, errors.Broken, errors.Unreadable) as exc:
            seen = str(exc)
        if time.monotonic() >= deadline:
            raise errors.NotVerified(
                f"`{res.command}` installed {name} {plan.new}, but the client is "
                f"not running at {plan.new} after {wait} seconds (read: {seen}). Check "
                "`cloudassist.status` and the client's service; the package's own scripts "
                "start it",
                command=res.command,
            ).heard(res.command, output)
        time.sleep(0.5)


def verify_removed(res, plan, *, read, wait):
    """The removal (``res``: ``dpkg --purge``, ``dnf remove``, ...) succeeded and nothing of the
    client is left: ``read()`` gives ``(Installed, remains)``, read again until ``wait`` seconds
    passed (a stopped process may take a moment to go); else :class:`errors.CommandFailed` or
    :class:`errors.LeftBehind` naming what is left."""
    output = res.stdout + res.stderr
    if res.retcode != 0:
        raise _removal_failed(res, plan.tool)

    def named():
        now, left = read()
        if now.known:
            left = (
                f"the package {plan.tool.package} ({now.state} {now.version or ''})".rstrip(),
                *left,
            )
        return left

    def failure(left):
        return errors.LeftBehind(
            f"`{res.command}` ran, but after {wait} seconds this is left of the client: "
            f"{'; '.join(left)}. Stop or remove each by hand (`systemctl disable --now "
            "UNIT`, `kill PID`, `rm` the file), then run cloudassist.remove again",
            command=res.command,
            left=left,
        ).heard(res.command, output)

    _until_none(named, wait=wait, failure=failure)


def _until_none(read, *, wait, failure):
    """Read ``read()`` every half second until it is empty; ``failure(what was read)`` is
    raised when ``wait`` seconds passed first."""
    seen = settled(read, left=lambda found: found, wait=wait)
    if seen:
        raise failure(seen)


def stop_watchdog(step, *, run_step, pids, wait):
    """Run ``step`` (the watchdog's stop, as ``cloudassist.stop stop_watchdog=True`` runs it),
    then wait up to ``wait`` seconds until ``pids()`` (the watchdog read again) is empty; else
    :class:`errors.NotVerified`.  ``assist_daemon --stop`` exits 0 whatever happens: only the
    process table tells."""
    run_step(step, check=False)
    _until_none(
        pids,
        wait=wait,
        failure=lambda running: errors.NotVerified(
            f"ran `{step.text}` but the watchdog is still running (pid "
            f"{', '.join(map(str, running))}) after {wait} seconds; the client was not "
            "removed. Stop it by hand, then run cloudassist.remove again",
            command=step.text,
        ),
    )


def remove_files(paths, *, by_hand="rm -rf"):
    """Remove ``paths`` (a folder with all in it; a link, never what it names).  Returns those
    removed; one already gone is not among them.  :class:`errors.CommandFailed` when the host
    refuses (its advice: ``by_hand``, the host's command that removes a folder),
    :class:`errors.PartlyDone` (with it as the cause) after some were removed."""
    done = []
    for path in paths:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            failed = errors.CommandFailed(
                f"could not remove {path}: {exc.strerror or exc}; remove it by hand "
                f"(`{by_hand} {path}`), then run cloudassist.remove again",
                command=f"{by_hand} {path}",
                retcode=None,
                output=str(exc),
            )
            if not done:
                raise failed from exc
            raise errors.PartlyDone(cause=failed, done=files_done(done)) from exc
        done.append(path)
    return tuple(done)


def files_done(paths):
    """``PartlyDone``'s ``done`` for the files ``paths`` removed."""
    return {"removed " + ", ".join(paths): ("files", list(paths), [])}


def empty_folders():
    """The share folders' subfolders (``config/``, version folders and theirs) and the share
    folders themselves, deepest first: those empty are removed after the markers."""
    found = []
    for share in SHARE_FOLDERS:
        if not os.path.isdir(share) or os.path.islink(share):
            continue
        found += [folder for folder, _dirs, _names in os.walk(share)]
    return tuple(sorted(found, key=lambda folder: (-folder.count(os.sep), folder)))


def remove_empty(folders):
    """``rmdir`` each of ``folders`` that is empty (a folder with anything in it stays).
    Returns those removed."""
    done = []
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            continue
        done.append(folder)
    return tuple(done)


def reload_units(removed, timeout):
    """``systemctl daemon-reload`` where systemd runs and a unit file of ``removed`` was in its
    load path, so that it forgets the unit; the ``CommandResult``, or None when not needed."""
    if not facts.systemd_booted() or not any(
        os.path.basename(path) == WATCHDOG_UNIT for path in removed
    ):
        return None
    res = run(["systemctl", "daemon-reload"], timeout)
    if res.retcode != 0:
        raise errors.CommandFailed(
            f"`{res.command}` exited with code {res.retcode} after the watchdog's unit files "
            "were removed: systemd may still show AssistDaemon.service. Run it by hand",
            command=res.command,
            retcode=res.retcode,
            output=res.output,
        ).heard(res.command, res.output)
    return res


# --- Windows ------------------------------------------------------------------------------------
# The vendor's own "remove agent" action runs the service's binary with --remove, then --stop
# (aliyun/aliyun_assist_client, agent/kickvmhandle/agenthandle_windows.go): --remove deletes the
# service AliyunService (which the Service Control Manager forgets once it stops), --stop stops
# it.  Both exit 0 whatever happens: only the Service Control Manager and the process table tell.
WINDOWS_CALLS = ("--remove", "--stop")
WINDOWS_BY_HAND = "rmdir /s /q"


class WindowsRemoval(NamedTuple):
    """A removal on Windows: ``action`` ``remove`` or ``none``; ``old``: the version removed
    (its version folder's name, None where unknown); ``service``: the service the
    ``commands`` (argument lists, the service's binary with :data:`WINDOWS_CALLS`) remove, None
    where none is registered; ``folders``: the version folders removed after them."""

    action: str
    old: object
    service: object
    commands: tuple
    folders: tuple
    comment: str = ""

    @property
    def parts(self):
        """Each step in the order it runs, an imperative sentence."""
        parts = []
        if self.commands:
            first, *rest = (command_line(list(argv)) for argv in self.commands)
            parts.append(f"remove the service {self.service} with `{first}`")
            parts += [f"then stop the client with `{text}`" for text in rest]
        if self.folders:
            parts.append(
                ("then " if parts else "")
                + "remove the client's version folders "
                + ", ".join(self.folders)
            )
        return tuple(parts)

    def described(self, *, ran):
        """The comment: what would be done (``ran`` False) or what was done."""
        if self.action != "remove":
            return self.comment
        return "; ".join(tense(part, ran=ran) for part in self.parts)

    @property
    def command_text(self):
        return "; ".join(command_line(list(argv)) for argv in self.commands)

    @property
    def changes(self):
        if self.action != "remove":
            return {}
        changes = {}
        if self.service:
            changes["service"] = {"old": self.service, "new": None}
            if self.old:
                changes["version"] = {"old": self.old, "new": None}
        if self.folders:
            changes["files"] = {"old": list(self.folders), "new": []}
        return changes


def make_windows_removal(found):
    """What to do to have nothing of the client on this Windows host, from ``found`` (a
    ``WindowsClient``): nothing when no service is registered and no process or version
    folder is left; else the service's binary run with ``--remove`` then ``--stop`` (where the
    service is registered), then its version folders removed.  :class:`errors.Unreadable` when
    the service's configuration names no binary to run."""
    if found.service is None and not found.processes and not found.folders:
        return WindowsRemoval(
            "none",
            None,
            None,
            (),
            (),
            "the client is not installed (no service AliyunService) and nothing of it is left",
        )
    if found.service is not None and not found.exe:
        raise errors.Unreadable(
            f"the service {found.service} is registered but its configuration (BinaryPath) "
            "names no client binary, so its `--remove` cannot be run; nothing was changed. "
            f"Delete the service by hand (`sc delete {found.service}`), then run "
            "cloudassist.remove again",
            what="the service's binary",
        )
    commands = tuple((found.exe, call) for call in WINDOWS_CALLS) if found.service else ()
    return WindowsRemoval("remove", found.version, found.service, commands, tuple(found.folders))


def windows_left(found, *, folders=True):
    """What of the client ``found`` (a ``WindowsClient``) names, each in a few words: the
    service, the processes and (with ``folders``) the version folders; empty when nothing."""
    left = []
    if found.service:
        state = "running" if found.running else "stopped"
        left.append(f"the service {found.service} ({state}, {found.exe or 'no binary named'})")
    left += [f"the client's process {pid} ({exe})" for pid, exe in found.processes]
    if folders:
        left += [f"the folder {path}" for path in found.folders]
    return tuple(left)


def run_windows_removal(plan, *, timeout):
    """Run the plan's commands in order (``--remove``, then ``--stop``); their exit codes tell
    nothing (the client's own flags exit 0 whatever happens).  Returns the
    ``CommandResult`` of each."""
    return tuple(run(list(argv), timeout) for argv in plan.commands)


def settled(read, *, left, wait):
    """``read()`` (the host read again) every half second until ``left(it)`` is empty or
    ``wait`` seconds passed; the last reading."""
    deadline = time.monotonic() + wait
    while True:
        found = read()
        if not left(found) or time.monotonic() >= deadline:
            return found
        time.sleep(0.5)


def windows_left_behind(plan, said, left, *, wait):
    """:class:`errors.LeftBehind` naming ``left`` after the plan's commands (``said``: the
    ``CommandResult`` of each) ran ``wait`` seconds ago."""
    command = plan.command_text or "cloudassist.remove"
    output = "".join(res.stdout + res.stderr for res in said)
    return errors.LeftBehind(
        f"`{command}` ran, but after {wait} seconds this is left of the client on Windows: "
        f"{'; '.join(left)}. Stop or remove each by hand (`sc stop AliyunService` and "
        "`sc delete AliyunService`, `taskkill /F /PID PID`, `rmdir /s /q FOLDER`), then run "
        "cloudassist.remove again",
        command=command,
        left=left,
    ).heard(command, output)
