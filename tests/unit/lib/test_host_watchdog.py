"""``_modules/_cloudassist_host.py``: the watchdog (agentwatch, AssistDaemon) in the form it runs
in, and when AssistDaemon.service is asked of systemd's bus."""

import pytest

import _cloudassist_boot as boot
import _cloudassist_errors as errors
import _cloudassist_facts as facts
import _cloudassist_host as hosts
import _cloudassist_systemd as systemd
from _cloudassist_records import UnitState, Watchdog

# --- the watchdog's forms ----------------------------------------------------------------------


@pytest.fixture
def linux_host(monkeypatch):
    monkeypatch.setattr(facts, "process", lambda pid: object())
    return hosts.LinuxHost(lambda key, default=None: default, {}, 5)


def _unit(active, sub, main_pid=0, file_state="enabled"):
    return UnitState(
        "AssistDaemon.service", "loaded", active, sub, main_pid=main_pid, unit_file_state=file_state
    )


@pytest.mark.parametrize(
    "named,unit,form,pids,enabled",
    [
        ((77,), _unit("active", "running", 77), "unit", (77,), True),
        (
            (),
            _unit("active", "running", 78),
            "unit",
            (78,),
            True,
        ),  # its main process has another name
        ((77,), _unit("inactive", "dead", 0, "disabled"), "process", (77,), False),
        ((), _unit("inactive", "dead", 0, "disabled"), None, (), False),
        ((), UnitState("AssistDaemon.service", "not-found"), None, (), None),
        ((77,), None, "process", (77,), None),
    ],
)
def test_the_watchdog_is_found_in_the_form_it_runs(
    monkeypatch, linux_host, named, unit, form, pids, enabled
):
    monkeypatch.setattr(
        facts, "classify_watchdog", lambda binary, found=None: (list(named), [], [])
    )
    watchdog = linux_host._watchdog("systemd", unit)
    assert (watchdog.form, watchdog.pids) == (form, pids)
    assert (watchdog.boot_state.enabled if watchdog.boot_state else None) is enabled
    assert watchdog.as_dict()["form"] == form


def test_a_watchdog_in_its_unit_is_stopped_through_systemd(linux_host):
    from _cloudassist_records import ClientStatus

    status = ClientStatus(
        "linux",
        "2.2.3.578",
        "/usr/sbin/aliyun-service",
        None,
        None,
        watchdog=Watchdog((77,), "unit", _unit("active", "running", 77)),
    )
    assert linux_host.watchdog_stop_step(status).text == "systemctl stop AssistDaemon.service"
    # a watchdog outside a unit is stopped with its own binary, which must still exist
    status = status._replace(watchdog=Watchdog((77,), "process"))
    missing = hosts.LinuxHost(
        lambda key, default=None: "/nonexistent/assist_daemon" if key == "watchdog" else default,
        {},
        5,
    )
    with pytest.raises(errors.Blocked) as raised:
        missing.watchdog_stop_step(status)
    assert raised.value.reason == (
        "the watchdog assist_daemon is running but its binary '/nonexistent/assist_daemon' is gone "
        "(removed while it runs), so it cannot be stopped with --stop; nothing was changed. "
        "Reinstall the client or stop pid 77 yourself"
    )


def _proc(pid, exe):
    from _cloudassist_records import Process

    return Process(pid, "assist_daemon", exe, (exe,))


def test_a_look_alike_on_this_host_blocks_stop_watchdog(linux_host):
    from _cloudassist_records import ClientStatus

    look_alike = _proc(91, "/opt/other/assist_daemon")
    watchdog = Watchdog(others=((look_alike, "its executable is ..."),), suspects=(look_alike,))
    assert watchdog.at_stake and not watchdog.running
    status = ClientStatus(
        "linux", "2.2.3.578", "/usr/sbin/aliyun-service", None, None, watchdog=watchdog
    )
    with pytest.raises(errors.Blocked) as raised:
        linux_host.watchdog_stop_step(status)
    assert raised.value.reason == (
        "stop_watchdog=True, but nothing was changed: assist_daemon (pid 91) runs from "
        "/opt/other/assist_daemon, not from the watchdog binary cloudassist knows, so it was "
        "neither counted nor stopped and may start the client again. If it is this host's "
        "watchdog, set cloudassist:watchdog to its path"
    )
    assert watchdog.as_dict()["others"] == [
        {"pid": 91, "exe": "/opt/other/assist_daemon", "why": "its executable is ..."}
    ]
    # one in a container is listed, not a suspect: nothing to reckon with
    assert not Watchdog(
        others=((look_alike, "it runs in another PID namespace (a container)"),)
    ).at_stake


@pytest.mark.parametrize("value", ["assist_daemon", "./bin/assist_daemon", 5, ["/a"]])
def test_a_watchdog_path_that_is_not_absolute_is_an_error(value):
    host = hosts.LinuxHost(lambda key, default=None: value if key == "watchdog" else default, {}, 5)
    with pytest.raises(
        errors.BadArgument,
        match="cloudassist:watchdog must be the absolute path of assist_daemon",
    ):
        host._watchdog("sysvinit")


def test_the_units_main_pid_and_its_cgroup_are_the_watchdog_whatever_their_file(
    monkeypatch, linux_host
):
    main, helper, stranger = (
        _proc(78, "/opt/x/assist_daemon"),
        _proc(79, "/opt/y/assist_daemon"),
        _proc(80, "/tmp/assist_daemon"),
    )
    # a container's watchdog: its cgroup path, seen from here, ends in AssistDaemon.service too
    boxed = _proc(81, "/usr/local/share/assist-daemon/assist_daemon")
    here = [main, helper, stranger]
    others = [(proc, "its executable is ...") for proc in here] + [
        (boxed, "it runs in another PID namespace (a container)")
    ]
    monkeypatch.setattr(
        facts, "classify_watchdog", lambda binary, found=None: ([], list(others), list(here))
    )
    monkeypatch.setattr(
        systemd, "unit_of", lambda pid: "AssistDaemon.service" if pid in (78, 79, 81) else None
    )
    watchdog = linux_host._watchdog("systemd", _unit("active", "running", 78))
    assert watchdog.pids == (78, 79) and watchdog.form == "unit"
    assert [proc.pid for proc, _ in watchdog.others] == [80, 81] and watchdog.suspects == (
        stranger,
    )
    # the unit not running: its cgroup holds nothing, and the files decide
    watchdog = linux_host._watchdog("systemd", _unit("inactive", "dead", 0, "disabled"))
    assert watchdog.pids == () and [proc.pid for proc in watchdog.suspects] == [78, 79, 80]


def test_a_sysvinit_watchdog_script_gives_its_boot_status(monkeypatch, linux_host, tmp_path):
    monkeypatch.setattr(facts, "classify_watchdog", lambda binary, found=None: ([77], [], []))
    script = tmp_path / "AssistDaemon"
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr(hosts, "WATCHDOG_SCRIPT", str(script))
    monkeypatch.setattr(boot, "rc_links", lambda name, root="/": (("2", "S20AssistDaemon"),))
    monkeypatch.setattr(linux_host, "_sysv_tool", lambda: "update-rc.d")
    watchdog = linux_host._watchdog("sysvinit")
    assert watchdog.form == "process" and watchdog.boot_state.enabled is True
    assert [s.text for s in watchdog.boot_state.disable] == ["update-rc.d AssistDaemon disable"]
    monkeypatch.setattr(hosts, "WATCHDOG_SCRIPT", str(tmp_path / "missing"))
    assert linux_host._watchdog("sysvinit").boot_state is None


def test_where_the_init_system_is_undecided_the_watchdog_is_its_processes(
    monkeypatch, linux_host, tmp_path
):
    """A removal reads the watchdog alone; on a host whose PID 1 is no init it used to fail
    there with the init system's error.  It reads the process table, and no boot status."""

    def undecided():
        raise errors.Undecided("no init system", evidence={})

    monkeypatch.setattr(linux_host, "init_system", undecided)
    monkeypatch.setattr(facts, "processes", lambda names: ["found"])
    seen = []

    def classify(binary, found=None):
        seen.append(found)
        return ([77], [], [])

    monkeypatch.setattr(facts, "classify_watchdog", classify)
    script = tmp_path / "AssistDaemon"
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr(hosts, "WATCHDOG_SCRIPT", str(script))
    monkeypatch.setattr(linux_host, "_show", lambda units: pytest.fail("asked systemd"))
    watchdog = linux_host.watchdog_alone()
    assert (watchdog.form, watchdog.pids, watchdog.unit, watchdog.boot_state) == (
        "process",
        (77,),
        None,
        None,
    )
    assert seen == [["found"]]


# --- AssistDaemon.service is asked of the bus only where systemd may know it ----------------


@pytest.fixture
def load_path(monkeypatch, tmp_path):
    folders = (tmp_path / "etc", tmp_path / "run-transient", tmp_path / "lib")
    monkeypatch.setattr(systemd, "LOAD_PATH", tuple(str(f) for f in folders))
    monkeypatch.setattr(systemd, "unit_of", lambda pid: None)
    return folders


@pytest.mark.parametrize("where,how", [(0, "file"), (0, "mask"), (1, "file"), (2, "file")])
def test_a_watchdog_unit_file_anywhere_in_the_load_path_is_asked_for(
    linux_host, load_path, where, how
):
    assert not linux_host._watchdog_unit_may_exist(
        [], "/usr/local/share/assist-daemon/assist_daemon"
    )
    load_path[where].mkdir()
    unit = load_path[where] / "AssistDaemon.service"
    if how == "mask":
        unit.symlink_to("/dev/null")
    else:
        unit.write_text("[Service]\nExecStart=/usr/local/share/assist-daemon/assist_daemon\n")
    assert linux_host._watchdog_unit_may_exist([], "/usr/local/share/assist-daemon/assist_daemon")


def test_a_watchdog_running_in_its_unit_whose_file_is_gone_is_asked_for(
    monkeypatch, linux_host, load_path
):
    in_unit = _proc(78, "/usr/local/share/assist-daemon/assist_daemon")
    elsewhere = _proc(79, "/usr/local/share/assist-daemon/assist_daemon")
    monkeypatch.setattr(
        systemd, "unit_of", lambda pid: "AssistDaemon.service" if pid == 78 else "ssh.service"
    )
    binary = "/usr/local/share/assist-daemon/assist_daemon"
    assert not linux_host._watchdog_unit_may_exist([elsewhere], binary)
    assert linux_host._watchdog_unit_may_exist([elsewhere, in_unit], binary)


@pytest.mark.parametrize("may_exist", [True, False])
def test_the_watchdog_unit_joins_the_clients_bus_call_only_where_it_may_exist(
    monkeypatch, linux_host, may_exist
):
    import _cloudassist_procedure as procedure
    from _cloudassist_records import ClientStatus, InitDecision

    branch = next(
        row for row in procedure.TABLE if row.name == "Linux, client newer than 1.0.1.308, systemd"
    )
    status = ClientStatus(
        "linux",
        "2.2.3.578",
        "/usr/sbin/aliyun-service",
        InitDecision("systemd", "test"),
        branch,
        steps={"stop": branch.stop, "start": branch.start},
    )
    asked = []

    def show(units):
        asked.append(list(units))
        return tuple(systemd.not_found(name) for name in units)

    monkeypatch.setattr(linux_host, "_show", show)
    _, units = linux_host._with_unit(status, may_exist)
    assert ("AssistDaemon.service" in asked[0]) is may_exist and len(asked) == 1
    assert units["AssistDaemon.service"] == systemd.not_found("AssistDaemon.service")
