"""``_modules/_cloudassist_init_system.py``: deciding the init system from evidence, most trusted
first, gathering only until one source decides; and ``LinuxHost`` gathering as it asks."""

import pytest

import _cloudassist_errors as errors
import _cloudassist_host as hosts
from _cloudassist_init_system import TRUST_ORDER, overridden
from _cloudassist_init_system import decide as decide_gathering
from _cloudassist_records import Evidence, InitDecision, InitFile, Pid1

PID1_NSPAWN_SYSTEMD = Pid1("systemd", "/usr/lib/systemd/systemd")
PID1_INIT = Pid1("init", "/sbin/init")
PID1_LAUNCHER = Pid1("process_api", "/usr/bin/process_api")
PID1_SHELL = Pid1("sh", "/bin/dash")
PID1_HIDDEN = Pid1(None, None)

SOURCES = ("systemd_booted", "pid1", "initctl", "init_file", "init_script")


def decide(world):
    """decide() on evidence already known: each gatherer returns its value."""
    return decide_gathering({source: (lambda s=source: world[s]) for source in SOURCES})


def init_file(*markers, target=None, problem=None):
    return InitFile("/sbin/init", target, tuple(markers), problem)


def evidence(booted=False, pid1=PID1_INIT, initctl=None, init=None, script=False):
    return {
        "systemd_booted": booted,
        "pid1": pid1,
        "initctl": initctl,
        "init_file": init if init is not None else init_file(),
        "init_script": script,
    }


UPSTART = "initctl (upstart 1.12.1)\nCopyright (C) 2006-2014 Canonical Ltd.\n"

# evidence -> init system, and words the reason must contain
DECIDED = [
    (
        "systemd booted",
        evidence(True, PID1_NSPAWN_SYSTEMD, init=init_file("systemd")),
        "systemd",
        "/run/systemd/system",
    ),
    (
        "booted beats markers",
        evidence(True, PID1_INIT, init=init_file("sysvinit")),
        "systemd",
        "/run/systemd/system",
    ),
    ("PID 1 is systemd", evidence(False, PID1_NSPAWN_SYSTEMD), "systemd", "PID 1 is systemd"),
    (
        "upstart answers",
        evidence(pid1=PID1_INIT, initctl=UPSTART, init=init_file("upstart", "sysvinit")),
        "upstart",
        "initctl --version",
    ),
    (
        "upstart beats a sysvinit marker",
        evidence(initctl=UPSTART, init=init_file("sysvinit")),
        "upstart",
        "upstart",
    ),
    ("sysvinit marker", evidence(init=init_file("sysvinit")), "sysvinit", "sysvinit marker"),
    (
        "sysvinit marker, initctl not upstart",
        evidence(initctl="initctl 0.1 (other)", init=init_file("sysvinit")),
        "sysvinit",
        "sysvinit marker",
    ),
    (
        "systemd installed, not running, init script",
        evidence(
            pid1=PID1_LAUNCHER,
            init=init_file("systemd", target="/lib/systemd/systemd"),
            script=True,
        ),
        "sysvinit",
        "/etc/init.d/aliyun-service exists",
    ),
    (
        "upstart installed, not running, init script",
        evidence(pid1=PID1_SHELL, init=init_file("upstart"), script=True),
        "sysvinit",
        "neither systemd nor upstart is running",
    ),
    (
        "no marker, init script",
        evidence(pid1=PID1_SHELL, init=init_file(problem="missing"), script=True),
        "sysvinit",
        "/sbin/init is missing",
    ),
    (
        "two markers, init script",
        evidence(pid1=PID1_INIT, init=init_file("systemd", "sysvinit"), script=True),
        "sysvinit",
        "markers of systemd and sysvinit",
    ),
]


@pytest.mark.parametrize("case,ev,expected,reason", DECIDED, ids=[d[0] for d in DECIDED])
def test_evidence_decides_the_init_system(case, ev, expected, reason):
    decision = decide(ev)
    assert isinstance(decision, InitDecision)
    assert decision.init_system == expected
    assert reason in decision.decided_by


# evidence -> an error that says what was found
REFUSED = [
    (
        "systemd installed but not running (this build machine)",
        evidence(pid1=PID1_LAUNCHER, init=init_file("systemd", target="/usr/lib/systemd/systemd")),
        [
            "systemd is installed (/sbin/init -> /usr/lib/systemd/systemd) but not running",
            "PID 1 is 'process_api' (/usr/bin/process_api)",
            "no /etc/init.d/aliyun-service",
        ],
    ),
    (
        "container: PID 1 is a shell",
        evidence(pid1=PID1_SHELL, init=init_file("systemd")),
        ["systemd is installed", "PID 1 is 'sh' (/bin/dash)"],
    ),
    (
        "upstart installed but initctl silent",
        evidence(pid1=PID1_INIT, init=init_file("upstart")),
        ["upstart is installed", "but not running"],
    ),
    (
        "/sbin/init missing",
        evidence(pid1=PID1_SHELL, init=init_file(problem="missing")),
        ["cannot be told", "/sbin/init is missing", "PID 1 is 'sh'"],
    ),
    (
        "/sbin/init dangling",
        evidence(
            pid1=PID1_SHELL, init=init_file(problem="a dangling link to /lib/systemd/systemd")
        ),
        ["/sbin/init is a dangling link to /lib/systemd/systemd"],
    ),
    (
        "/sbin/init unreadable",
        evidence(pid1=PID1_HIDDEN, init=init_file(problem="unreadable: Permission denied")),
        ["unreadable: Permission denied", "PID 1 cannot be read from /proc"],
    ),
    (
        "no marker at all",
        evidence(pid1=PID1_INIT, init=init_file()),
        ["carries none of the markers /lib/system, upstart, sysvinit"],
    ),
    (
        "two markers, nothing running",
        evidence(pid1=PID1_INIT, init=init_file("systemd", "sysvinit")),
        ["ambiguous", "markers of systemd and sysvinit"],
    ),
]


@pytest.mark.parametrize("case,ev,words", REFUSED, ids=[r[0] for r in REFUSED])
def test_doubtful_evidence_is_an_error_that_says_what_was_found(case, ev, words):
    with pytest.raises(errors.Undecided) as raised:
        decide(ev)
    for word in words + ["cloudassist:init_system"]:
        assert word in str(raised.value)


@pytest.mark.parametrize("override", ["systemd", "upstart", "sysvinit"])
def test_the_config_override_wins(override):
    decision = overridden(override)
    assert decision == InitDecision(
        override,
        "the config key cloudassist:init_system",
        (Evidence("the config key cloudassist:init_system", repr(override)),),
    )


@pytest.mark.parametrize("override", ["openrc", "windows", "", "SYSTEMD", 1, ["systemd"]])
def test_an_invalid_override_lists_the_valid_ones(override):
    with pytest.raises(errors.BadArgument, match="valid values: systemd, upstart, sysvinit"):
        overridden(override)


@pytest.mark.parametrize("override", ["systemd", "upstart", "sysvinit"])
def test_the_override_gathers_no_evidence(monkeypatch, override):
    gathered = []
    monkeypatch.setattr(
        hosts.LinuxHost,
        "gatherers",
        lambda self: {source: lambda s=source: gathered.append(s) for source in SOURCES},
    )
    host = hosts.LinuxHost(
        lambda key, default=None: override if key == "init_system" else default, {}, 5
    )
    assert host.init_system().init_system == override
    assert gathered == []


# --- the order evidence is gathered in ----------------------------------------------------

# evidence -> the sources gathered, in order, before decide() answers
GATHERED = [
    ("systemd booted", evidence(True, PID1_NSPAWN_SYSTEMD, init=init_file("systemd")), 1),
    ("booted beats markers", evidence(True, PID1_INIT, init=init_file("sysvinit")), 1),
    ("PID 1 is systemd", evidence(False, PID1_NSPAWN_SYSTEMD), 2),
    ("upstart answers", evidence(initctl=UPSTART, init=init_file("upstart", "sysvinit")), 3),
    ("sysvinit marker", evidence(init=init_file("sysvinit")), 4),
    (
        "sysvinit marker, initctl not upstart",
        evidence(initctl="initctl 0.1 (other)", init=init_file("sysvinit")),
        4,
    ),
    ("init script", evidence(pid1=PID1_SHELL, init=init_file("upstart"), script=True), 5),
    ("nothing tells", evidence(pid1=PID1_SHELL, init=init_file("systemd")), 5),
]


def test_the_trust_order_is_the_documented_one():
    assert tuple(source for source, _, _ in TRUST_ORDER) == SOURCES


def gather(world):
    """decide() with gatherers that record what they are asked; return (answer, asked)."""
    asked = []

    def gatherer(source):
        def read():
            assert source not in asked, f"decide() asked twice for {source}"
            asked.append(source)
            return world[source]

        return read

    try:
        return decide_gathering({source: gatherer(source) for source in SOURCES}), asked
    except errors.Undecided as exc:
        return exc, asked


@pytest.mark.parametrize("case,world,count", GATHERED, ids=[g[0] for g in GATHERED])
def test_sources_are_gathered_in_trust_order_and_only_until_one_decides(case, world, count):
    answer, asked = gather(world)
    assert asked == list(SOURCES[:count])
    if isinstance(answer, InitDecision):
        # the decision reports exactly what was gathered, most trusted first
        labels = [label for _, label, _ in TRUST_ORDER[:count]]
        assert [item.source for item in answer.evidence] == labels
        whole = decide(world)
        assert (answer.init_system, answer.decided_by) == (whole.init_system, whole.decided_by), (
            "gathering lazily must decide as the whole evidence does"
        )
    else:
        with pytest.raises(errors.Undecided, match="cloudassist:init_system") as raised:
            decide(world)
        # the failure carries what was found, most trusted first
        assert [item.source for item in raised.value.evidence] == [
            label for _, label, _ in TRUST_ORDER
        ]


def test_decide_asks_only_the_most_trusted_source_when_it_decides():
    answer, asked = gather(evidence(True, PID1_INIT))
    assert asked == ["systemd_booted"]
    assert answer.init_system == "systemd"


@pytest.mark.parametrize("case,world,count", GATHERED, ids=[g[0] for g in GATHERED])
def test_the_linux_host_gathers_as_decide_asks(monkeypatch, case, world, count):
    gathered = []

    def gatherer(source):
        def gather_one(*_):
            gathered.append(source)
            return world[source]

        return gather_one

    monkeypatch.setattr(
        hosts.LinuxHost, "gatherers", lambda self: {s: gatherer(s) for s in SOURCES}
    )
    host = hosts.LinuxHost(lambda key, default=None: default, {}, 5)
    if count == 5 and not world["init_script"]:
        with pytest.raises(errors.Undecided, match="cloudassist:init_system"):
            host.init_system()
    else:
        decision, _ = gather(world)
        assert host.init_system() == decision
    assert gathered == list(SOURCES[:count])


def test_a_booted_systemd_needs_only_one_stat():
    answer, asked = gather({"systemd_booted": True})
    assert asked == ["systemd_booted"]
    assert answer.init_system == "systemd"
