"""Installing the client's package (``cloudassist.install``): the host's package tool, the file's
identity, the plan, and the package read back after ``dpkg -i``.

This version installs ``.deb`` packages with dpkg only.  The vendor's package is
``aliyun-assist``, version four dot-separated integers (spec: cloud-assistant.md, "Packages and
self-update"); its ``postinst`` (the client's ``init/install``) links
``/usr/sbin/aliyun-service`` and writes, enables and starts the client's own service, so what is
checked after ``dpkg -i`` is the package, the binary's ``-v`` and the running client.

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

import _cloudassist_errors as errors
from _cloudassist_facts import search_path
from _cloudassist_run import command_line, run

PACKAGE = "aliyun-assist"
DPKG_STATUS = "/var/lib/dpkg/status"
INSTALLED = "install ok installed"
VERSION = re.compile(r"\d+\.\d+\.\d+\.\d+")
# dpkg -i runs the postinst, which starts the client: it may take longer than one command.
INSTALL_TIMEOUT = 300
# How often a dpkg held by another process (apt, unattended-upgrades) is tried again.
LOCK_POLL = 1.0
# What dpkg says when another process holds its lock (dpkg 1.18 to 1.22, LC_ALL=C).
LOCK_WORDS = (
    "dpkg frontend lock was locked by another process",
    "dpkg status database is locked by another process",
    "unable to acquire the dpkg frontend lock",
)
URL_SCHEMES = ("https://", "http://")
# The hashes Salt's source_hash takes, by the length of their hex digest (salt.utils.files.HASHES).
HASH_LENGTHS = {"sha512": 128, "sha384": 96, "sha256": 64, "sha224": 56, "sha1": 40, "md5": 32}
HEX = re.compile(r"[0-9a-fA-F]+")


class Installed(NamedTuple):
    """What dpkg knows of ``aliyun-assist``: ``state`` (``install ok installed``,
    ``install ok half-configured``, ...; None when dpkg knows no such package) and ``version``."""

    state: object
    version: object

    @property
    def ok(self):
        return self.state == INSTALLED


class Plan(NamedTuple):
    """``action``: ``install`` (run ``command``), ``none`` (the version runs already) or ``keep``
    (a newer version is installed and no downgrade was allowed); ``old``/``new``: versions."""

    action: str
    old: object
    new: str
    command: tuple
    comment: str

    def described(self, *, ran):
        """The comment: what would be done (``ran`` False) or what was done."""
        if self.action != "install":
            return self.comment
        verb, rest = self.comment.split(" ", 1)
        return (
            f"{verb + 'd' if verb.endswith('e') else verb + 'ed'} {rest}"
            if ran
            else (f"would {verb} {rest}")
        )

    @property
    def command_text(self):
        return command_line(list(self.command)) if self.command else ""

    @property
    def changes(self):
        if self.action != "install":
            return {}
        return {"version": {"old": self.old, "new": self.new}}


# --- facts ------------------------------------------------------------------------------------


def host_tool(*, windows=False):
    """``dpkg`` where this host installs ``.deb`` packages; else :class:`errors.WrongHost`."""
    if not windows:
        dpkg = shutil.which("dpkg", path=search_path())
        if dpkg and os.path.isfile(DPKG_STATUS):
            return dpkg
        lacks = "no dpkg on the PATH" if not dpkg else f"no {DPKG_STATUS}"
    else:
        lacks = "a Windows host"
    raise errors.WrongHost(
        "this version of cloudassist installs only .deb packages, with dpkg, and this host "
        f"has none ({lacks}); nothing was changed. Install the client with the vendor's "
        "procedure for this host",
        needs="dpkg",
    )


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


def checked_identity(path, found, wanted=None):
    """The version of the client's package at ``path``, given its control ``found`` fields;
    :class:`errors.NotThePackage` when the file is another package, a version that is not four
    integers, or not ``wanted``."""
    package, version = found.get("Package"), found.get("Version")
    if package != PACKAGE:
        raise errors.NotThePackage(
            f"{path} is not the Cloud Assistant client's package: it is the package "
            f"{package or '(none)'} {version or ''}, not {PACKAGE}; nothing was changed",
            path=path,
            package=package,
            version=version,
        )
    if not version or not VERSION.fullmatch(version):
        raise errors.NotThePackage(
            f"{path} is {PACKAGE} at version {version!r}, which is not a client version (four "
            "dot-separated integers); nothing was changed",
            path=path,
            package=package,
            version=version,
        )
    if wanted is not None and str(wanted) != version:
        raise errors.NotThePackage(
            f"{path} is {PACKAGE} {version}, not the version {wanted} asked for; nothing was "
            "changed",
            path=path,
            package=package,
            version=version,
        )
    return version


def identify(path, timeout, wanted=None):
    """The client version the ``.deb`` at ``path`` holds (``dpkg-deb --field``), checked."""
    argv = ["dpkg-deb", "--field", path, "Package", "Version"]
    res = run(argv, timeout)
    if res.retcode != 0:
        raise errors.NotThePackage(
            f"{path} is not a .deb package: `{res.command}` exited with code {res.retcode}; "
            "nothing was changed",
            path=path,
            package=None,
            version=None,
        ).heard(res.command, res.stderr or res.stdout)
    return checked_identity(path, fields(res.stdout), wanted)


def query_state(retcode, stdout):
    """:class:`Installed` from ``dpkg-query -W -f '${Status} ${Version}' aliyun-assist``."""
    words = stdout.split()
    if retcode != 0 or len(words) < 3:
        return Installed(None, None)
    state = " ".join(words[:3])
    return Installed(state, words[3] if len(words) > 3 else None)


def left_text(now):
    """What dpkg knows, for a package that is not cleanly installed: ``2.2.3.578
    (half-configured)``, or None when dpkg knows no version."""
    if now.version is None:
        return None
    return f"{now.version} ({now.state.split()[-1]})"


def installed(timeout):
    """What dpkg knows of ``aliyun-assist`` now."""
    res = run(["dpkg-query", "-W", "-f", "${Status} ${Version}", PACKAGE], timeout)
    return query_state(res.retcode, res.stdout)


# --- the plan -----------------------------------------------------------------------------------


def _key(version):
    return tuple(int(part) for part in version.split(".")) if VERSION.fullmatch(version) else None


def install_argv(path):
    """``dpkg -i FILE``, without questions (``DEBIAN_FRONTEND=noninteractive``)."""
    return ("env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "-i", path)


def make_plan(new, now, *, path, running, allow_downgrade=False):
    """What to do to have ``new`` (the file's version) installed and running, from ``now`` (an
    :class:`Installed`) and whether the client runs."""
    old = now.version if now.ok else None
    command = install_argv(path)
    shown = command_line(list(command))
    if old == new and running:
        return Plan(
            "none", old, new, (), f"{PACKAGE} {new} is already installed and the client runs"
        )
    old_key, new_key = (_key(old) if old else None), _key(new)
    if old_key and new_key and old_key > new_key and not allow_downgrade:
        return Plan(
            "keep",
            old,
            new,
            (),
            f"{PACKAGE} {old} is installed, newer than {new}: kept, nothing was changed "
            "(allow_downgrade=True installs the older one)",
        )
    if old is None:
        verb, what = "install", f"{PACKAGE} {new}"
    elif old == new:
        verb, what = "reinstall", f"{PACKAGE} {new} (installed, but the client is not running)"
    else:
        verb = "downgrade" if old_key and new_key and old_key > new_key else "upgrade"
        what = f"{PACKAGE} {old} to {new}"
    return Plan("install", old, new, command, f"{verb} {what} with `{shown}`")


# --- acting and checking ------------------------------------------------------------------------


def locked(output):
    """Whether dpkg refused because another process holds its lock (it changed nothing)."""
    return any(words in output for words in LOCK_WORDS)


def run_install(plan, *, timeout, wait):
    """Run the plan's ``dpkg -i``; while another process holds dpkg's lock, try again for up to
    ``wait`` seconds.  Returns the ``CommandResult`` (exit code not checked here)."""
    deadline = time.monotonic() + wait
    while True:
        res = run(list(plan.command), max(timeout, INSTALL_TIMEOUT))
        if res.retcode == 0 or not locked(res.stdout + res.stderr):
            return res
        if time.monotonic() >= deadline:
            raise errors.CommandFailed(
                f"`{res.command}`: another process holds dpkg's lock (apt, "
                f"unattended-upgrades?) and still held it after {wait} seconds; nothing was "
                "changed. Try again when it has finished, or raise timeout=SECONDS",
                command=res.command,
                retcode=res.retcode,
                output=res.stdout + res.stderr,
            ).heard(res.command, res.stdout + res.stderr)
        time.sleep(LOCK_POLL)


def verify(res, after, plan, *, read_status, wait):
    """``dpkg -i`` (``res``) succeeded, dpkg-query says (``after``) the plan's version is installed,
    and the client runs at it (``read_status()``, a ``ClientStatus``, read until ``wait`` seconds
    passed); else :class:`errors.CommandFailed` or :class:`errors.NotVerified` with dpkg's words."""
    output = res.stdout + res.stderr
    if res.retcode != 0:
        raise errors.CommandFailed(
            f"`{res.command}` exited with code {res.retcode}: dpkg could not install "
            f"{PACKAGE} {plan.new}. Read dpkg's words below; "
            f"`dpkg --configure -a` finishes a half-done install, "
            f"`dpkg --audit` lists what is broken",
            command=res.command,
            retcode=res.retcode,
            output=output,
        ).heard(res.command, output)
    if not after.ok or after.version != plan.new:
        raise errors.NotVerified(
            f"`{res.command}` succeeded but dpkg-query says {PACKAGE} is "
            f"{after.state or 'unknown'} {after.version or ''}, not {INSTALLED} "
            f"{plan.new}. Check `dpkg -s {PACKAGE}`",
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
                f"`{res.command}` installed {PACKAGE} {plan.new}, but the client is "
                f"not running at {plan.new} after {wait} seconds (read: {seen}). Check "
                "`cloudassist.status` and the client's service; the package's own scripts "
                "start it",
                command=res.command,
            ).heard(res.command, output)
        time.sleep(0.5)
