"""Which init system manages the client: evidence in order of trust, and what to gather next.

``TRUST_ORDER`` is the one place the order lives.  ``decide`` is given one function per
source (the host's gatherers), calls them one at a time in the order of trust until one
source decides, and returns the decision or raises ``errors.Undecided`` with a message for the
operator: a booted systemd costs one ``stat`` and nothing more.

Sources and the values the host gathers for them:

systemd_booted  bool: ``/run/systemd/system`` exists (systemd's own ``sd_booted`` test)
pid1            ``Pid1``: ``/proc/1/comm`` and ``/proc/1/exe``
initctl         str or None: the output of ``/sbin/initctl --version`` where it exists
init_file       ``InitFile``: the vendor's marker scan of ``/sbin/init``, done in Python
init_script     bool: ``/etc/init.d/aliyun-service`` exists
"""

import _cloudassist_errors as errors
from _cloudassist_facts import INIT_SCRIPT
from _cloudassist_records import Evidence, InitDecision

LINUX_INIT_SYSTEMS = ("systemd", "upstart", "sysvinit")
OVERRIDE = "the config key cloudassist:init_system"


def _systemd_booted(value, evidence):
    return ("systemd", "/run/systemd/system exists: systemd is running") if value else None


def _pid1(value, evidence):
    return ("systemd", "PID 1 is systemd") if value.comm == "systemd" else None


def _initctl(value, evidence):
    return (
        ("upstart", "/sbin/initctl --version says upstart is running")
        if "upstart" in (value or "")
        else None
    )


def _init_file(value, evidence):
    return (
        ("sysvinit", "/sbin/init carries the sysvinit marker")
        if tuple(value.markers) == ("sysvinit",)
        else None
    )


def _init_script(value, evidence):
    if not value:
        return None
    return (
        "sysvinit",
        "neither systemd nor upstart is running ({}); {}; {} exists, so it manages the "
        "client".format(
            describe_pid1(evidence["pid1"]), describe_init_file(evidence["init_file"]), INIT_SCRIPT
        ),
    )


# (source, what the operator is told it is, rule): most trusted first.
TRUST_ORDER = (
    ("systemd_booted", "/run/systemd/system", _systemd_booted),
    ("pid1", "/proc/1/comm, /proc/1/exe", _pid1),
    ("initctl", "/sbin/initctl --version", _initctl),
    ("init_file", "markers in /sbin/init", _init_file),
    ("init_script", INIT_SCRIPT, _init_script),
)


def decide(gatherers):
    """The ``InitDecision``: ``gatherers`` maps each source of ``TRUST_ORDER`` to a function
    that reads it; each is called once, in the order of trust, until a source decides.
    ``errors.Undecided`` if none does."""
    evidence = {}
    for source, _, rule in TRUST_ORDER:
        evidence[source] = gatherers[source]()
        verdict = rule(evidence[source], evidence)
        if verdict:
            return InitDecision(verdict[0], verdict[1], report(evidence))
    raise errors.Undecided(_undecided(evidence), evidence=report(evidence))


def overridden(value):
    """The decision the config key ``cloudassist:init_system`` forces."""
    if value not in LINUX_INIT_SYSTEMS:
        raise errors.BadArgument(
            "cloudassist:init_system is set to {!r}, which is not an init system this module "
            "knows; valid values: {}".format(value, ", ".join(LINUX_INIT_SYSTEMS)),
            source=OVERRIDE,
            value=value,
        )
    return InitDecision(value, OVERRIDE, (Evidence(OVERRIDE, repr(value)),))


def report(evidence):
    """What each gathered source found, in the order of trust."""
    described = {
        "systemd_booted": lambda v: "present" if v else "absent",
        "pid1": describe_pid1,
        "initctl": lambda v: v.strip() if v else "not run or no answer",
        "init_file": describe_init_file,
        "init_script": lambda v: "present" if v else "absent",
    }
    return tuple(
        Evidence(label, described[source](evidence[source]))
        for source, label, _ in TRUST_ORDER
        if source in evidence
    )


def describe_pid1(pid1):
    if pid1.comm is None and pid1.exe is None:
        return "PID 1 cannot be read from /proc"
    return "PID 1 is {!r}{}".format(pid1.comm, f" ({pid1.exe})" if pid1.exe else "")


def _where(init_file):
    return init_file.path + (" -> " + init_file.target if init_file.target else "")


def describe_init_file(init_file):
    where = _where(init_file)
    if init_file.problem and not init_file.markers:
        return f"{where} is {init_file.problem}"
    if init_file.markers:
        return "{} carries the markers of {}".format(where, " and ".join(init_file.markers))
    return f"{where} carries none of the markers /lib/system, upstart, sysvinit"


def _undecided(evidence):
    init_file = evidence["init_file"]
    markers = tuple(init_file.markers)
    installed = describe_init_file(init_file)
    nothing_runs = "neither systemd nor upstart is running ({})".format(
        describe_pid1(evidence["pid1"])
    )
    if len(markers) > 1:
        reason = f"the init system is ambiguous: {installed}, and {nothing_runs}"
    elif markers:
        reason = "{} is installed ({}) but not running: {}".format(
            markers[0], _where(init_file), describe_pid1(evidence["pid1"])
        )
    else:
        reason = f"the init system cannot be told: {installed}, and {nothing_runs}"
    return (
        "{}; there is no {} to fall back on. On a container or chroot, manage the client from "
        "the host; otherwise set cloudassist:init_system to one of: {}".format(
            reason, INIT_SCRIPT, ", ".join(LINUX_INIT_SYSTEMS)
        )
    )
