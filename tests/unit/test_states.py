"""The states and the execution module together, in Salt's loader mock, against a fake host.

``_states/cloudassist.py`` reaches the real ``_modules/cloudassist.py`` functions through its
``__salt__``, as on a minion; only the host is fake: an object with the methods of
``LinuxHost``/``WindowsHost`` whose ``run_step`` really changes its own process table, so the
module's verification after every step is real (against the fake).  For every branch of the
vendor's table, each state runs twice from the same starting point: under ``test=True`` and
for real.  The prediction must be what the real run then does.
"""

import inspect
import itertools
import re
import signal

import pytest
import salt.utils.platform
from salt.exceptions import CommandExecutionError

import _cloudassist_errors as errors
import _cloudassist_host as hosts
import _cloudassist_procedure as procedure
import loaded
from _cloudassist_records import (
    BootState,
    ClientStatus,
    CommandResult,
    InitDecision,
    Process,
    Step,
    UnitState,
    Watchdog,
)

execution = loaded.execution
states = loaded.states

UPDATER = "/usr/local/share/aliyun-assist/2.2.3.578/aliyun_assist_update"
BRANCHES = {row.name: row for row in procedure.TABLE}
LINUX_BRANCHES = [row.name for row in procedure.TABLE if row.platform == "linux"]
BLOCKED = "the branch '{}' needs {} to manage {}, and this host has no {}; nothing was run"


class FakeHost:
    """A host whose client and watchdog are entries in a process table it keeps itself."""

    def __init__(self, branch, client=False, watchdog=False, blocked=None, unit=None, enabled=True):
        self.branch = branch
        self.enabled = enabled  # whether the client's service starts at boot
        self.unit = unit  # under systemd: (ActiveState, SubState) of the client's unit
        self.table = {}
        self.next_pid = 1000
        self.ran = []  # (step, branch, check) for every step run
        self.blocked = blocked
        self.timeout = None  # host_for sets it, as the real hosts take it
        # systemd has given up on the unit (its start limit): it refuses a start until a
        # reset-failed; reset_sticks False: the reset leaves it so
        self.gave_up = False
        self.reset_sticks = True
        # processes the client left in its unit or install folder (its updater, say): those
        # that ignore SIGTERM, and those that even SIGKILL does not end (uninterruptible sleep)
        self.ignore_term = False
        self.unkillable = False
        self.signals = []  # (pid, signal number) for every signal sent
        # what the host says when an action fails: (said_by, lines), and when it was asked
        self.said = ("", ())
        self.asked_since = []
        if client:
            self._spawn("client")
        if watchdog:
            self._spawn("watchdog")

    def _spawn(self, name):
        self.next_pid += 1
        self.table[self.next_pid] = name
        return self.next_pid

    def _pids(self, name):
        return tuple(sorted(pid for pid, what in self.table.items() if what == name))

    def _kill(self, name):
        self.table = {pid: what for pid, what in self.table.items() if what != name}

    # --- the interface of LinuxHost / WindowsHost -------------------------------------
    def version(self):
        return "1.0.1.308" if self.branch.legacy else "2.2.3.578"

    def status(self):
        return ClientStatus(
            platform=self.branch.platform,
            version=self.version(),
            binary="/usr/sbin/aliyun-service",
            init=InitDecision(self.branch.init_systems[0], "the fake host says so"),
            branch=self.branch,
            steps={"stop": self.branch.stop, "start": self.branch.start},
            pids=self._pids("client") if self.branch.platform == "linux" else self._windows_pids(),
            watchdog=self.watchdog_now(None),
            blocked=self.blocked,
            unit=self.unit_state(None) if self.unit else None,
            boot_state=self.boot_now(None),
            leftovers=() if self._pids("client") else self.leftovers(None),
        )

    def boot_now(self, status):
        kind = "salt" if self.branch.platform == "windows" else "command"
        return BootState(
            self.branch.service,
            self.enabled,
            "the fake host says so",
            (Step(("enable-at-boot", self.branch.service), kind=kind),),
            (Step(("disable-at-boot", self.branch.service), kind=kind),),
        )

    def unit_state(self, status):
        active, sub = self.unit
        main = self._pids("client")
        gave_up = self.gave_up and active == "failed"
        return UnitState(
            self.branch.service,
            "loaded",
            active,
            sub,
            main_pid=main[0] if main else 0,
            n_restarts=10 if gave_up else 0,
            result="exit-code" if gave_up else "success",
            start_limit_burst=10,
        )

    def _windows_pids(self):
        return (hosts.WINDOWS_SERVICE,) if self._pids("client") else ()

    def client_pids(self, status):
        return self._pids("client") if self.branch.platform == "linux" else self._windows_pids()

    def leftovers(self, status, *, client=None):
        return tuple(
            Process(pid, "aliyun_assist_u", UPDATER, (UPDATER,)) for pid in self._pids("leftover")
        )

    def still_leftover(self, proc, status):
        return self.table.get(proc.pid) == "leftover"

    def signal(self, proc, signum, status):
        if not self.still_leftover(proc, status):
            return False
        self.signals.append((proc.pid, signum))
        if self.unkillable or (self.ignore_term and signum == signal.SIGTERM):
            return True
        del self.table[proc.pid]
        return True

    def leave(self, count=1):
        """``count`` processes the client leaves behind when it stops."""
        return [self._spawn("leftover") for _ in range(count)]

    def host_said(self, status, *, since, heard=()):
        self.asked_since.append(since)
        return self.said

    def watchdog_now(self, status):
        pids = self._pids("watchdog")
        return Watchdog(pids, "process" if pids else None)

    def watchdog_stop_step(self, status):
        if self.branch.platform == "windows":
            return Step(("service.stop", hosts.WATCHDOG_SERVICE), kind="salt")
        return Step((hosts.WATCHDOG_BINARY, "--stop"))

    def run_step(self, step, branch=None, check=True):
        self.ran.append((step, branch, check))
        if self.branch.sets_boot and step in (self.branch.stop[0], self.branch.start[0]):
            self.enabled = step == self.branch.start[0]  # chkconfig agentwatch on|off
        if step.argv[0] in ("enable-at-boot", "disable-at-boot"):
            self.enabled = step.argv[0] == "enable-at-boot"
        elif step == self.watchdog_stop_step(None):
            self._kill("watchdog")
        elif step.argv[:2] == ("systemctl", "reset-failed"):
            if self.reset_sticks:
                self.gave_up = False
                self.unit = ("inactive", "dead")
        elif step == self.branch.stop[-1]:
            self._kill("client")
            self.unit = self.unit and ("inactive", "dead")
        elif step == self.branch.start[-1]:
            if self.gave_up:
                raise errors.CommandFailed(
                    f"`{step.text}` exited with code 1: Job for {self.branch.service} failed",
                    command=step.text,
                    retcode=1,
                    output="",
                )
            if not self._pids("client"):
                self._spawn("client")
            self.unit = self.unit and ("active", "running")
        else:  # e.g. `chkconfig agentwatch off`: changes what starts at boot only
            assert step in self.branch.stop + self.branch.start, f"ran a step of no branch: {step}"
        if step.kind == "command":
            return CommandResult(step.text, 0, "", "")
        return None

    # --- for the tests ----------------------------------------------------------------
    @property
    def snapshot(self):
        return dict(self.table)

    @property
    def ran_texts(self):
        return [step.text for step, _, _ in self.ran]


@pytest.fixture
def opts(tmp_path):
    # One __opts__ for both modules, as on a minion.
    return {"test": False, "cachedir": str(tmp_path / "cache")}


@pytest.fixture
def config():
    return {"timeout": 5, "settle": 0}


@pytest.fixture
def configure_loader_modules(opts, config):
    opts["cloudassist"] = config  # the minion config's cloudassist: section
    return {
        execution: {"__salt__": {}, "__opts__": opts, "__pillar__": {}},
        states: {"__salt__": loaded.salt_functions(), "__opts__": opts},
    }


@pytest.fixture
def use_host(monkeypatch):
    """``use_host(fake)``: the module's next calls act on ``fake``."""

    def use(fake):
        monkeypatch.setattr(
            salt.utils.platform, "is_windows", lambda: fake.branch.platform == "windows"
        )

        def host_for(platform, config, salt, *, timeout, cache_dir=None):
            assert platform == fake.branch.platform
            assert salt is execution.__salt__
            fake.timeout, fake.cache_dir = timeout, cache_dir
            return fake

        monkeypatch.setattr(hosts, "host_for", host_for)
        return fake

    return use


def apply(opts, test, fun, **kwargs):
    opts["test"] = test
    if fun == "mod_watch":
        return states.mod_watch("cloud-assistant", **kwargs)
    return getattr(states, fun)("cloud-assistant", **kwargs)


def backticked(comment):
    """Every command a comment names between backticks, one per step."""
    return [
        command for quoted in re.findall(r"`([^`]*)`", comment) for command in quoted.split("; ")
    ]


# (state function, its arguments, whether it wants the client running: None, it does not care)
STATES = [
    ("running", {}, True),
    ("running", {"enable": True}, True),
    ("running", {"enable": False}, True),
    ("stopped", {}, False),
    ("stopped", {"stop_watchdog": True}, False),
    ("stopped", {"enable": False}, False),
    ("stopped", {"stop_watchdog": True, "enable": False}, False),
    ("dead", {}, False),
    ("dead", {"stop_watchdog": True}, False),
    ("dead", {"enable": True}, False),
    ("mod_watch", {"sfun": "running"}, True),
    ("enabled", {}, None),
    ("disabled", {}, None),
]


def _boot_wanted(fun, kwargs):
    return {"enabled": True, "disabled": False}.get(fun, kwargs.get("enable"))


CASES = [
    pytest.param(
        name,
        fun,
        kwargs,
        want,
        client,
        watchdog,
        enabled,
        id="{}|{}{}|client {}|watchdog {}|{}".format(
            name,
            fun,
            "".join(f",{k}={v}" for k, v in kwargs.items()),
            "up" if client else "down",
            "up" if watchdog else "down",
            "enabled" if enabled else "disabled",
        ),
    )
    for name, (fun, kwargs, want), client, watchdog, enabled in itertools.product(
        BRANCHES, STATES, (True, False), (True, False), (True, False)
    )
]


# systemd's view of the unit: (situation, client running, (ActiveState, SubState))
UNITS = [
    ("active", True, ("active", "running")),
    ("inactive", False, ("inactive", "dead")),
    ("deactivating", True, ("deactivating", "stop-sigterm")),
    ("auto-restart", False, ("activating", "auto-restart")),
    ("activating", False, ("activating", "start")),
]
SYSTEMD_BRANCHES = [row.name for row in procedure.TABLE if row.init_systems == ("systemd",)]
UNIT_CASES = [
    pytest.param(
        name,
        fun,
        kwargs,
        want,
        client,
        False,
        True,
        unit,
        id="{}|{}{}|unit {}".format(
            name, fun, "".join(f",{k}={v}" for k, v in kwargs.items()), situation
        ),
    )
    for name, (fun, kwargs, want), (situation, client, unit) in itertools.product(
        SYSTEMD_BRANCHES, STATES, UNITS
    )
]
ALL_CASES = [pytest.param(*case.values, None, id=case.id) for case in CASES] + UNIT_CASES


@pytest.mark.parametrize("name,fun,kwargs,want,client,watchdog,enabled,unit", ALL_CASES)
def test_test_mode_predicts_the_real_run(
    use_host, opts, name, fun, kwargs, want, client, watchdog, enabled, unit
):
    branch = BRANCHES[name]

    predicted_host = use_host(FakeHost(branch, client, watchdog, unit=unit, enabled=enabled))
    before = predicted_host.snapshot
    predicted = apply(opts, True, fun, **kwargs)
    assert predicted_host.ran == [], "test=True ran something"
    assert predicted_host.snapshot == before and predicted_host.unit == unit
    assert predicted_host.enabled is enabled

    real_host = use_host(FakeHost(branch, client, watchdog, unit=unit, enabled=enabled))
    real = apply(opts, False, fun, **kwargs)

    # the real run did what was asked, verified against the fake's process table
    assert real["result"] is True, real
    assert bool(real_host._pids("client")) is (client if want is None else want)
    boot = _boot_wanted(fun, kwargs)
    if boot is not None:
        assert real_host.enabled is boot
    # an `enabled` change is reported exactly when the boot status really changed
    if real_host.enabled is not enabled:
        assert real["changes"]["enabled"] == {"old": enabled, "new": real_host.enabled}
    else:
        assert "enabled" not in real["changes"]
    # what test mode said would change is what changed (a restart's new pids exist only after it)
    real_changes = {key: dict(value) for key, value in real["changes"].items()}
    if "restarted" in real_changes:
        new = real_changes["restarted"]["new"]
        if branch.platform == "windows":  # the service's name stands for its pid
            assert new == real_changes["restarted"]["old"] == [hosts.WINDOWS_SERVICE]
        else:
            assert new and not set(new) & set(real_changes["restarted"]["old"])
        assert predicted["changes"]["restarted"]["new"] == "new pids"
        real_changes["restarted"]["new"] = "new pids"
    assert predicted["changes"] == real_changes
    assert predicted["result"] is (None if predicted["changes"] else True)
    # the real run ran exactly the steps the prediction named, in that order
    # (the sentences after the branch's name are warnings, which may quote commands not run)
    assert real_host.ran_texts == backticked(predicted["comment"].split(f"({branch.name}).")[0])
    if not predicted["changes"]:
        assert predicted["comment"] == real["comment"]
        assert real_host.ran == []
    for step, ran_branch, check in real_host.ran:
        if step == real_host.watchdog_stop_step(None):
            assert check is False  # `assist_daemon --stop` exits 0 whatever happens
        else:
            assert ran_branch is branch and check is True
    assert predicted["name"] == real["name"] == "cloud-assistant"


@pytest.mark.parametrize(
    "name,fun,kwargs,want,client,watchdog,enabled,unit",
    [case for case in ALL_CASES if case.values[1] != "mod_watch"],
)
def test_a_second_real_run_changes_nothing(
    use_host, opts, name, fun, kwargs, want, client, watchdog, enabled, unit
):
    host = use_host(FakeHost(BRANCHES[name], client, watchdog, unit=unit, enabled=enabled))
    first = apply(opts, False, fun, **kwargs)
    assert first["result"] is True
    ran = len(host.ran)
    again = apply(opts, False, fun, **kwargs)
    assert again["changes"] == {} and again["result"] is True
    boot = _boot_wanted(fun, kwargs)
    if want is None:
        expected = "The Cloud Assistant client already {} at boot ({}, {}).".format(
            "starts" if boot else "does not start",
            BRANCHES[name].service,
            BRANCHES[name].init_systems[0],
        )
    else:
        expected = "The Cloud Assistant client is already {}{} ({}, {}).".format(
            "running" if want else "stopped",
            ""
            if boot is None
            else " and {} at boot".format("starts" if boot else "does not start"),
            BRANCHES[name].service,
            BRANCHES[name].init_systems[0],
        )
    assert again["comment"] == expected
    assert len(host.ran) == ran
    # and test mode agrees there is nothing left to do
    assert apply(opts, True, fun, **kwargs)["result"] is True


# a branch this host cannot run, in a situation where it would have to run
BLOCKED_CASES = [
    ("running", {}, False),
    ("stopped", {}, True),
    ("stopped", {"stop_watchdog": True}, True),
    ("dead", {"stop_watchdog": True}, True),
    ("mod_watch", {"sfun": "running"}, True),
    ("mod_watch", {"sfun": "running"}, False),
]


@pytest.mark.parametrize("name", LINUX_BRANCHES)
@pytest.mark.parametrize("fun,kwargs,client", BLOCKED_CASES)
def test_a_blocked_branch_fails_alike_in_both_modes_and_runs_nothing(
    use_host, opts, name, fun, kwargs, client
):
    branch = BRANCHES[name]
    why = BLOCKED.format(branch.name, branch.tool, branch.service, branch.tool)
    results = []
    for test in (True, False):
        host = use_host(FakeHost(branch, client, watchdog=True, blocked=why))
        before = host.snapshot
        results.append(apply(opts, test, fun, **kwargs))
        assert host.ran == [] and host.snapshot == before, "a blocked branch touched the host"
    predicted, real = results
    assert predicted["result"] is False and real["result"] is False
    assert predicted["comment"] == real["comment"]
    assert why in real["comment"]
    assert predicted["changes"] == real["changes"] == {}


@pytest.mark.parametrize("test", [True, False])
@pytest.mark.parametrize(
    "fun,extra,words",
    [
        (
            "running",
            {"enabled": True},
            [
                "does not take 'enabled'",
                "it takes: name, timeout, settle, enable, reset_failed, updates)",
            ],
        ),
        (
            "running",
            {"stop_watchdog": True},
            [
                "does not take 'stop_watchdog'",
                "it takes: name, timeout, settle, enable, reset_failed, updates)",
            ],
        ),
        (
            "enabled",
            {"settle": 1},
            ["cloudassist.enabled does not take 'settle' (it takes: name, timeout)"],
        ),
        ("stopped", {"sfun": "running", "reload": True}, ["does not take 'reload', 'sfun'"]),
        ("dead", {"enabled": False}, ["cloudassist.dead does not take 'enabled'"]),
    ],
)
def test_unknown_arguments_fail_and_run_nothing(use_host, opts, test, fun, extra, words):
    host = use_host(
        FakeHost(
            BRANCHES["Linux, client newer than 1.0.1.308, systemd"], client=True, watchdog=True
        )
    )
    ret = apply(opts, test, fun, **extra)
    assert ret["result"] is False and ret["changes"] == {}
    for word in words:
        assert word in ret["comment"]
    assert host.ran == []


@pytest.mark.parametrize("test", [True, False])
@pytest.mark.parametrize(
    "fun,kwargs,words",
    [
        ("running", {"timeout": 0}, "timeout must be a number of seconds greater than 0"),
        ("running", {"settle": -1}, "settle must be a number of seconds from 0"),
        ("stopped", {"stop_watchdog": "yes"}, "stop_watchdog must be true or false, not 'yes'"),
        ("stopped", {"enable": "no"}, "enable must be true or false, not 'no'"),
        ("disabled", {"timeout": -2}, "timeout must be a number of seconds greater than 0"),
        (
            "mod_watch",
            {"sfun": "running", "timeout": "soon"},
            "timeout must be a number of seconds",
        ),
    ],
)
def test_bad_argument_values_fail_and_run_nothing(use_host, opts, test, fun, kwargs, words):
    host = use_host(
        FakeHost(BRANCHES["Linux, client newer than 1.0.1.308, sysvinit"], client=False)
    )
    ret = apply(opts, test, fun, **kwargs)
    assert ret["result"] is False and words in ret["comment"]
    assert host.ran == []


@pytest.mark.parametrize("test", [True, False])
@pytest.mark.parametrize("sfun", ["stopped", "dead"])
def test_a_watch_on_a_stopped_state_does_nothing(use_host, opts, test, sfun):
    host = use_host(FakeHost(BRANCHES["Linux, client newer than 1.0.1.308, upstart"], client=False))
    ret = apply(opts, test, "mod_watch", sfun=sfun)
    assert ret["result"] is True and ret["changes"] == {} and host.ran == []


# --- the execution module's own test mode ------------------------------------------------

SAME = (
    "running",
    "changed",
    "init_system",
    "service",
    "version",
    "command",
    "pids_before",
    "warning",
    "watchdog_stopped",
)


@pytest.mark.parametrize("name", BRANCHES)
@pytest.mark.parametrize(
    "action,kwargs",
    [
        ("stop", {}),
        ("stop", {"stop_watchdog": True}),
        ("start", {}),
        ("restart", {}),
    ],
)
@pytest.mark.parametrize("client", [True, False])
@pytest.mark.parametrize("watchdog", [True, False])
def test_the_module_returns_the_same_dict_under_test(
    use_host, name, action, kwargs, client, watchdog
):
    branch = BRANCHES[name]
    host = use_host(FakeHost(branch, client, watchdog))
    predicted = getattr(execution, action)(test=True, **kwargs)
    assert host.ran == [] and predicted["test"] is True
    host = use_host(FakeHost(branch, client, watchdog))
    real = getattr(execution, action)(**kwargs)
    assert "test" not in real
    assert set(predicted) - {"test"} == set(real) - {"warnings"}
    for key in SAME:
        assert predicted.get(key) == real.get(key), key
    if real["pids"] and real["pids"] != real["pids_before"]:
        assert set(real["pids"]) == set(host.client_pids(None))


def test_the_fake_host_has_the_real_hosts_interface():
    for method in (
        "status",
        "version",
        "client_pids",
        "watchdog_now",
        "watchdog_stop_step",
        "boot_now",
        "run_step",
        "host_said",
    ):
        fake = inspect.signature(getattr(FakeHost, method))
        for real in (hosts.LinuxHost, hosts.WindowsHost):
            assert inspect.signature(getattr(real, method)) == fake, (real.__name__, method)
    # systemd's view of the unit, read again while verifying (Linux under systemd only)
    assert inspect.signature(hosts.LinuxHost.unit_state) == inspect.signature(FakeHost.unit_state)


# --- a failure after a change ----------------------------------------------------------------


def _ignoring(host, step_to_ignore=None, step_to_fail=None):
    """Make ``host`` run one step without effect, or fail on it (a client that ignores stop...)."""
    real_run_step = host.run_step

    def run_step(step, branch=None, check=True):
        if step == step_to_fail:
            raise errors.CommandFailed(
                f"`{step.text}` exited with code 1: failed",
                command=step.text,
                retcode=1,
                output="failed",
            )
        if step == step_to_ignore:
            host.ran.append((step, branch, check))
            return CommandResult(step.text, 0, "", "")
        return real_run_step(step, branch, check)

    host.run_step = run_step
    return host


def test_a_stop_that_fails_after_stopping_the_watchdog_reports_that_change(use_host, opts, config):
    config["timeout"] = 0.3
    branch = BRANCHES["Linux, client newer than 1.0.1.308, systemd"]
    host = _ignoring(
        use_host(FakeHost(branch, client=True, watchdog=True)), step_to_ignore=branch.stop[-1]
    )
    ret = apply(opts, False, "stopped", stop_watchdog=True)
    assert ret["result"] is False and "already done: stopped the watchdog" in ret["comment"]
    assert host.watchdog_now(None).pids == ()
    assert ret["changes"] == {"watchdog": {"old": True, "new": False}}


def test_a_restart_whose_start_fails_reports_the_stop(use_host, opts):
    branch = BRANCHES["Linux, client newer than 1.0.1.308, upstart"]
    host = _ignoring(use_host(FakeHost(branch, client=True)), step_to_fail=branch.start[-1])
    ret = apply(opts, False, "mod_watch", sfun="running")
    assert ret["result"] is False and "already done: stopped the client" in ret["comment"]
    assert host.client_pids(None) == ()
    assert ret["changes"] == {"running": {"old": True, "new": False}}


# --- what the host said (issue 17): in the state's comment, last -------------------------------

JOURNAL = (
    "Nov 27 10:10:10 web1 aliyun-service[4242]: open config.json: no such file or directory",
    "Nov 27 10:10:10 web1 systemd[1]: aliyun.service: Main process exited, status=1/FAILURE",
)
SAID = "\nthe host said (`journalctl ...`):\n" + "\n".join("  " + line for line in JOURNAL)


@pytest.mark.parametrize(
    "fun,kwargs,prefix",
    [
        ("running", {}, "`systemctl start aliyun.service` exited with code 1"),
        ("mod_watch", {"sfun": "running"}, "Failed to restart the Cloud Assistant client: `"),
    ],
    ids=["running", "watch"],
)
def test_the_states_comment_ends_with_what_the_host_said(use_host, opts, fun, kwargs, prefix):
    branch = BRANCHES["Linux, client newer than 1.0.1.308, systemd"]
    host = _ignoring(
        use_host(FakeHost(branch, unit=("inactive", "dead"))), step_to_fail=branch.start[-1]
    )
    host.said = ("journalctl ...", JOURNAL)
    ret = apply(opts, False, fun, **kwargs)
    assert ret["result"] is False
    assert ret["comment"].startswith(prefix) and ret["comment"].endswith(SAID), ret["comment"]
    assert len(host.asked_since) == 1


def test_the_modules_error_ends_with_what_the_host_said(use_host):
    branch = BRANCHES["Linux, client newer than 1.0.1.308, systemd"]
    host = _ignoring(
        use_host(FakeHost(branch, unit=("inactive", "dead"))), step_to_fail=branch.start[-1]
    )
    host.said = ("journalctl ...", JOURNAL)
    with pytest.raises(CommandExecutionError) as raised:
        execution.start()
    assert str(raised.value).endswith(SAID)
    assert raised.value.failure.host_said == JOURNAL


# --- systemd has given up on the unit (issue 17): reset-failed as a planned step ----------------

NEWER_SYSTEMD = next(
    row for row in procedure.TABLE if row.init_systems == ("systemd",) and row.legacy is False
)
SYSVINIT_NEWER = next(
    row for row in procedure.TABLE if row.init_systems == ("sysvinit",) and row.legacy is False
)
RESET = "systemctl reset-failed aliyun.service"


def gave_up(use_host):
    host = use_host(FakeHost(NEWER_SYSTEMD, unit=("failed", "failed")))
    host.gave_up = True
    return host


@pytest.mark.parametrize("test", [True, False])
@pytest.mark.parametrize(
    "fun,kwargs", [("running", {}), ("mod_watch", {"sfun": "running"})], ids=["running", "watch"]
)
def test_running_resets_a_unit_systemd_gave_up_on(opts, use_host, fun, kwargs, test):
    host = gave_up(use_host)
    assert execution.status()["start_limit_hit"] is True
    ret = apply(opts, test, fun, **kwargs)
    assert ret["changes"]["start_limit_hit"] == {"old": True, "new": False}, ret
    assert ret["changes"]["running"] == {"old": False, "new": True}, ret
    if test:
        assert ret["result"] is None and host.ran == [], ret
        assert f"reset systemd's start limit (`{RESET}`)" in ret["comment"], ret
    else:
        assert ret["result"] is True, ret
        assert host.ran_texts == [RESET, "systemctl start aliyun.service"]
        assert host._pids("client") and not host.gave_up


@pytest.mark.parametrize("test", [True, False])
def test_the_execution_module_records_the_reset_in_changes(use_host, test):
    host = gave_up(use_host)
    result = execution.start(test=test)
    assert result["changes"]["start_limit_hit"] == {"old": True, "new": False}
    assert host.ran_texts == ([] if test else [RESET, "systemctl start aliyun.service"])


@pytest.mark.parametrize("where", ["argument", "config"])
def test_a_forbidden_reset_fails_naming_the_unit_and_the_command(opts, config, use_host, where):
    host = gave_up(use_host)
    kwargs = {"reset_failed": False} if where == "argument" else {}
    if where == "config":
        config["reset_failed"] = False
    ret = apply(opts, False, "running", **kwargs)
    assert ret["result"] is False and ret["changes"] == {}, ret
    assert "systemd has given up on aliyun.service" in ret["comment"], ret
    assert f"until `{RESET}` is run" in ret["comment"], ret
    assert host.ran == []
    with pytest.raises(CommandExecutionError, match="reset_failed=False forbids"):
        execution.start(**kwargs)


def test_a_reset_that_does_not_hold_is_not_a_start(use_host):
    host = gave_up(use_host)
    host.reset_sticks = False
    with pytest.raises(CommandExecutionError, match="but systemd still refuses to start"):
        execution.start()
    assert host.ran_texts == [RESET]


def test_reset_failed_must_be_a_boolean(opts, use_host):
    gave_up(use_host)
    ret = apply(opts, False, "running", reset_failed="yes")
    assert ret["result"] is False and "reset_failed must be true or false" in ret["comment"]


# --- what a stopped client leaves running (issue 17): ended by default, or kept -------------


def leaving(use_host, count=1, *, client=True, branch=NEWER_SYSTEMD):
    host = use_host(FakeHost(branch, client=client, unit=("active", "running") if client else None))
    if branch is not NEWER_SYSTEMD or not client:
        host.unit = None
    pids = host.leave(count)
    return host, pids


def named(pids):
    return [{"pid": pid, "exe": UPDATER, "cmdline": [UPDATER]} for pid in pids]


@pytest.mark.parametrize("test", [True, False])
@pytest.mark.parametrize("fun", ["stopped", "dead"])
def test_stopped_ends_what_the_client_left_running(opts, use_host, fun, test):
    host, pids = leaving(use_host, 2)
    ret = apply(opts, test, fun)
    assert ret["changes"]["running"] == {"old": True, "new": False}, ret
    assert ret["changes"]["leftovers"] == {"old": named(pids), "new": []}, ret
    for pid in pids:
        assert f"pid {pid} ({UPDATER})" in ret["comment"], ret
    if test:
        assert ret["result"] is None and host.ran == [] and host._pids("leftover") == tuple(pids)
        assert "end what the client leaves running (SIGTERM, then SIGKILL" in ret["comment"]
    else:
        assert ret["result"] is True, ret
        assert host._pids("leftover") == () and host._pids("client") == ()
        assert host.signals == [(pid, signal.SIGTERM) for pid in pids]


def test_a_leftover_that_ignores_sigterm_gets_sigkill(use_host):
    host, [pid] = leaving(use_host)
    host.ignore_term = True
    result = execution.stop(timeout=0.3)
    assert host.signals == [(pid, signal.SIGTERM), (pid, signal.SIGKILL)]
    assert result["changes"]["leftovers"] == {"old": named([pid]), "new": []}
    assert result["leftovers"] == named([pid])


def test_a_leftover_that_survives_sigkill_fails_the_stop_and_names_it(opts, use_host, config):
    config["timeout"] = 0.3
    host, [pid] = leaving(use_host)
    host.unkillable = True
    ret = apply(opts, False, "stopped")
    assert ret["result"] is False, ret
    assert f"but these are still running: pid {pid} ({UPDATER})" in ret["comment"], ret
    # the stop itself happened, and says so
    assert "already done: stopped the client" in ret["comment"], ret
    assert ret["changes"] == {"running": {"old": True, "new": False}}


@pytest.mark.parametrize("test", [True, False])
@pytest.mark.parametrize("where", ["argument", "config"])
def test_keep_names_the_leftovers_and_leaves_them(opts, config, use_host, where, test):
    host, [pid] = leaving(use_host)
    kwargs = {"leftovers": "keep"} if where == "argument" else {}
    if where == "config":
        config["leftovers"] = "keep"
    ret = apply(opts, test, "stopped", **kwargs)
    assert "leftovers" not in ret["changes"], ret
    assert f"pid {pid} ({UPDATER})" in ret["comment"] and "leftovers=keep" in ret["comment"]
    assert host._pids("leftover") == (pid,) and host.signals == []
    result = execution.stop(test=test, **kwargs)
    assert result["leftovers"] == named([pid]) and "leftovers" not in result["changes"]


def test_a_stopped_client_with_leftovers_is_not_already_stopped(opts, use_host):
    host, [pid] = leaving(use_host, client=False, branch=SYSVINIT_NEWER)
    assert execution.status()["leftovers"] == named([pid])
    ret = apply(opts, False, "stopped")
    assert ret["result"] is True and ret["changes"] == {
        "leftovers": {"old": named([pid]), "new": []}
    }, ret
    assert host.ran == [] and host._pids("leftover") == ()
    again = apply(opts, False, "stopped")
    assert again["result"] is True and again["changes"] == {}, again


def test_a_restart_ends_the_leftovers_between_stop_and_start(use_host):
    host, [pid] = leaving(use_host)
    result = execution.restart()
    assert result["changes"]["leftovers"] == {"old": named([pid]), "new": []}
    assert host._pids("leftover") == () and host._pids("client")
    assert host.ran_texts == ["systemctl stop aliyun.service", "systemctl start aliyun.service"]


def test_start_leaves_leftovers_alone(use_host):
    host, [pid] = leaving(use_host, client=False, branch=SYSVINIT_NEWER)
    result = execution.start()
    assert "leftovers" not in result and "leftovers" not in result["changes"]
    assert host._pids("leftover") == (pid,) and host.signals == []


@pytest.mark.parametrize("value", ["kill", True, None.__class__])
def test_leftovers_must_be_end_or_keep(opts, use_host, value):
    host, _ = leaving(use_host)
    ret = apply(opts, False, "stopped", leftovers=value)
    assert ret["result"] is False and "leftovers must be one of end, keep" in ret["comment"]
    assert host.ran == []


def test_the_fake_host_ends_leftovers_as_the_real_ones_are_asked():
    for method in ("leftovers", "still_leftover", "signal"):
        assert inspect.signature(getattr(hosts.LinuxHost, method)) == inspect.signature(
            getattr(FakeHost, method)
        ), method
    assert inspect.signature(hosts.WindowsHost.leftovers) == inspect.signature(FakeHost.leftovers)
