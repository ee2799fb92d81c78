"""The package tools ``cloudassist.install`` and ``cloudassist.remove`` run, as data: one
:class:`Tool` record per tool (what it installs, upgrades, downgrades, reinstalls and removes
with, what reads the owners of files and the package's file list, what it says when another
process holds its lock), the choice of the host's own (:func:`choose`, pure;
:func:`host_tool` reads the facts), and the readings of rpm's queries (:func:`rpm_fields`,
:func:`rpm_state`, :func:`rpm_owners`).

The vendor builds its packages with fpm: ``aliyun-assist`` as a ``.deb``, ``aliyun_assist`` as an
``.rpm`` (Version: the client's four integers, Release: 1); on Windows the installer
``aliyun_agent_latest_setup.exe``, run silently with ``/S`` (spec: cloud-assistant.md).
"""

import os
import shutil
from typing import NamedTuple

import _cloudassist_errors as errors
from _cloudassist_facts import search_path

FILE = "<file>"  # in a command's template: where the package file goes
DPKG_STATUS = "/var/lib/dpkg/status"
RPM_FORMAT = "%{NAME} %{VERSION}\\n"  # rpm reads the escape itself: one line per package
RPM_INSTALLED = "installed"
RPM_NAME_FORMAT = "%{NAME}\\n"
RPM_UNOWNED = "is not owned by any package"  # rpm -qf, LC_ALL=C


class Tool(NamedTuple):
    """A package tool: ``name``; ``kind``, the files it takes (``deb``, ``rpm``, ``exe``);
    ``package``, the client's package name in its database; the command templates
    (``install`` for an install or upgrade, ``downgrade``, ``reinstall``: argument lists with
    :data:`FILE`); ``lock_words`` / ``lock_codes``, what it prints or exits with when another
    process holds its lock (it changed nothing then); ``holders``: who usually holds it;
    ``query``: what reads the installed version; ``advice``: what to run when it failed;
    ``remove``: the command that removes the package (none: this tool removes nothing);
    ``owners``: the command that names the packages owning the paths appended to it;
    ``files``: the command that lists the package's files."""

    name: str
    kind: str
    package: str
    install: tuple
    downgrade: tuple
    reinstall: tuple
    lock_words: tuple = ()
    lock_codes: tuple = ()
    holders: str = ""
    query: str = ""
    advice: str = ""
    remove: tuple = ()
    owners: tuple = ()
    files: tuple = ()

    def argv(self, verb, path):
        """The command of ``verb`` (``install``, ``upgrade``, ``downgrade``, ``reinstall``)."""
        template = {"downgrade": self.downgrade, "reinstall": self.reinstall}.get(
            verb, self.install
        )
        return tuple(path if part == FILE else part for part in template)

    def locked(self, retcode, output):
        """Whether the tool refused because another process holds its lock."""
        return retcode in self.lock_codes or any(words in output for words in self.lock_words)


_DPKG_I = ("env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "-i", FILE)
_RPM_LOCK = ("can't create transaction lock",)
_RPM_READS = {
    "owners": ("rpm", "-qf", "--queryformat", RPM_NAME_FORMAT),
    "files": ("rpm", "-ql", "aliyun_assist"),
}
DPKG = Tool(
    "dpkg",
    "deb",
    "aliyun-assist",
    _DPKG_I,
    _DPKG_I,
    _DPKG_I,
    # dpkg 1.18 to 1.22, LC_ALL=C
    lock_words=(
        "dpkg frontend lock was locked by another process",
        "dpkg status database is locked by another process",
        "unable to acquire the dpkg frontend lock",
    ),
    holders="apt, unattended-upgrades?",
    query="dpkg-query",
    advice="`dpkg --configure -a` finishes a half-done install, `dpkg --audit` lists what is "
    "broken",
    remove=("env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "--purge", "aliyun-assist"),
    owners=("dpkg-query", "-S"),
    files=("dpkg-query", "-L", "aliyun-assist"),
)
DNF = Tool(
    "dnf",
    "rpm",
    "aliyun_assist",
    ("dnf", "install", "-y", FILE),
    ("dnf", "downgrade", "-y", FILE),
    ("dnf", "reinstall", "-y", FILE),
    lock_words=("Waiting for process with pid", "Failed to obtain rpm transaction lock")
    + _RPM_LOCK,
    holders="dnf-automatic, PackageKit?",
    query="rpm -q",
    advice="`dnf history` says what ran, `rpm -V aliyun_assist` checks the installed files",
    remove=("dnf", "remove", "-y", "aliyun_assist"),
    **_RPM_READS,
)
YUM = Tool(
    "yum",
    "rpm",
    "aliyun_assist",
    # yum waits for its lock by itself, for ever; told to exit, it is tried again here, so the
    # wait ends at the call's timeout.
    ("yum", "--setopt=exit_on_lock=True", "install", "-y", FILE),
    ("yum", "--setopt=exit_on_lock=True", "downgrade", "-y", FILE),
    ("yum", "--setopt=exit_on_lock=True", "reinstall", "-y", FILE),
    lock_words=("Another app is currently holding the yum lock", "Existing lock ") + _RPM_LOCK,
    holders="yum-cron, PackageKit?",
    query="rpm -q",
    advice="`yum history` says what ran, `rpm -V aliyun_assist` checks the installed files",
    remove=("yum", "--setopt=exit_on_lock=True", "remove", "-y", "aliyun_assist"),
    **_RPM_READS,
)
ZYPPER = Tool(
    "zypper",
    "rpm",
    "aliyun_assist",
    ("zypper", "--non-interactive", "install", FILE),
    ("zypper", "--non-interactive", "install", "--oldpackage", FILE),
    ("zypper", "--non-interactive", "install", "--force", FILE),
    lock_words=("System management is locked",) + _RPM_LOCK,
    lock_codes=(7,),  # ZYPPER_EXIT_ZYPP_LOCKED
    holders="PackageKit, another zypper?",
    query="rpm -q",
    advice="`rpm -V aliyun_assist` checks the installed files",
    remove=("zypper", "--non-interactive", "remove", "aliyun_assist"),
    **_RPM_READS,
)
RPM = Tool(
    "rpm",
    "rpm",
    "aliyun_assist",
    ("rpm", "-Uvh", FILE),
    ("rpm", "-Uvh", "--oldpackage", FILE),
    ("rpm", "-Uvh", "--replacepkgs", FILE),
    lock_words=_RPM_LOCK,
    holders="another rpm, yum or dnf?",
    query="rpm -q",
    advice="`rpm -V aliyun_assist` checks the installed files",
    remove=("rpm", "-e", "aliyun_assist"),
    **_RPM_READS,
)
INSTALLER = Tool(
    "installer",
    "exe",
    "the Cloud Assistant client",
    (FILE, "/S"),
    (FILE, "/S"),
    (FILE, "/S"),
    query="the AliyunService status",
    advice="the installer's log and the Windows event log say why",
)
# For a local .rpm the host's package manager first: it keeps its own history and checks.
RPM_TOOLS = (DNF, YUM, ZYPPER, RPM)
TOOLS = (DPKG, *RPM_TOOLS, INSTALLER)


def choose(found, *, os_family=None, windows=False):
    """The tool that installs the client here, from ``found`` (the names of :data:`TOOLS` this
    host has: ``dpkg`` only with its database) and ``os_family`` (the grain, where known: it
    settles a host that has both dpkg and rpm); else :class:`errors.WrongHost`."""
    if windows:
        return INSTALLER
    rpm_tool = next((tool for tool in RPM_TOOLS if tool.name in found), None)
    if "rpm" not in found:
        rpm_tool = None  # dnf, yum and zypper all need rpm itself to read the file
    if "dpkg" in found and (rpm_tool is None or os_family not in ("RedHat", "Suse")):
        return DPKG
    if rpm_tool is not None:
        return rpm_tool
    raise errors.WrongHost(
        "cloudassist installs the client's .deb with dpkg, its .rpm with dnf, yum, zypper or "
        "rpm, and its installer on Windows; this host has none of them on its PATH (dpkg "
        f"counts with its database {DPKG_STATUS}); nothing was changed. Install the client with "
        "the vendor's procedure for this host",
        needs="dpkg or rpm",
    )


def host_tool(*, os_family=None, windows=False):
    """The host's own tool (:func:`choose`), from what is on its PATH."""
    if windows:
        return INSTALLER
    path = search_path()
    found = {tool.name for tool in TOOLS[:-1] if shutil.which(tool.name, path=path)}
    if "dpkg" in found and not os.path.isfile(DPKG_STATUS):
        found.discard("dpkg")
    return choose(found, os_family=os_family)


def rpm_identify_argv(path):
    return ("rpm", "-qp", "--queryformat", RPM_FORMAT, path)


def rpm_query_argv(package):
    return ("rpm", "-q", "--queryformat", RPM_FORMAT, package)


def rpm_fields(text):
    """``{'Package': NAME, 'Version': VERSION}`` of the first ``NAME VERSION`` line rpm
    printed (the fields a ``.deb``'s control file gives)."""
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2:
            return {"Package": words[0], "Version": words[1]}
    return {}


def rpm_state(retcode, stdout, package):
    """``(state, version)`` from ``rpm -q --queryformat '%{NAME} %{VERSION}\\n' PACKAGE``:
    ``('installed', VERSION)``; ``(None, None)`` when rpm knows no such package; several
    versions installed at once (an interrupted upgrade) are ``('installed N times', NEWEST)``."""
    if retcode != 0:
        return None, None
    versions = [
        words[1]
        for words in (line.split() for line in stdout.splitlines())
        if len(words) == 2 and words[0] == package
    ]
    if not versions:
        return None, None
    if len(versions) == 1:
        return RPM_INSTALLED, versions[0]
    newest = max(versions, key=lambda v: [int(p) if p.isdigit() else -1 for p in v.split(".")])
    return f"{RPM_INSTALLED} {len(versions)} times", newest


def rpm_owners(stdout):
    """The package names ``rpm -qf --queryformat '%{NAME}\\n' PATH`` printed for one path; none
    where it said ``file PATH is not owned by any package``."""
    return tuple(
        line.strip() for line in stdout.splitlines() if line.strip() and RPM_UNOWNED not in line
    )
