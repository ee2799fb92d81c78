"""Reading whether a service starts at boot from the files its init system reads at boot, and
the steps that would change it.  Real files in a temporary root; no program runs."""

import os

import pytest

import _cloudassist_boot as boot
import _cloudassist_errors as errors
import _cloudassist_facts as facts
import _cloudassist_systemd as systemd
from _cloudassist_records import UnitState


def link(root, folder, name, target="../init.d/aliyun-service"):
    path = root / folder.lstrip("/")
    path.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path / name)


def test_rc_links_finds_s_and_k_links_of_that_script_only(tmp_path):
    link(tmp_path, "/etc/rc2.d", "S50aliyun-service")
    link(tmp_path, "/etc/rc3.d", "S01aliyun-service")
    link(tmp_path, "/etc/rc0.d", "K02aliyun-service")
    link(tmp_path, "/etc/rc2.d", "S50aliyun-service-old")  # another script's name
    link(tmp_path, "/etc/rc2.d", "S02cron", "../init.d/cron")
    found = boot.rc_links("aliyun-service", root=str(tmp_path))
    assert found == (
        ("2", "S50aliyun-service"),
        ("3", "S01aliyun-service"),
        ("0", "K02aliyun-service"),
    )
    assert boot.starts_in(found) == ("2", "3")


def test_red_hat_rc_folders_behind_links_are_read_once(tmp_path):
    link(tmp_path, "/etc/rc.d/rc3.d", "S50aliyun-service")
    os.symlink("rc.d/rc3.d", tmp_path / "etc" / "rc3.d")
    assert boot.rc_links("aliyun-service", root=str(tmp_path)) == (("3", "S50aliyun-service"),)


@pytest.mark.parametrize(
    "links,enabled,how",
    [
        (
            (("2", "S50aliyun-service"), ("0", "K02aliyun-service")),
            True,
            "S links to aliyun-service in rc2.d",
        ),
        (
            (("2", "K02aliyun-service"), ("S", "S50aliyun-service")),
            False,
            "only K links to aliyun-service",
        ),
        ((), False, "no rc links to aliyun-service in /etc/rc[2-5].d"),
    ],
)
def test_sysv_boot_is_the_s_links_in_the_boot_runlevels(links, enabled, how):
    state = boot.sysv_boot("aliyun-service", "/", "update-rc.d", links=links)
    assert state.enabled is enabled and state.how.startswith(how)


def test_sysv_boot_steps_per_tool():
    upd = boot.sysv_boot("aliyun-service", "/", "update-rc.d", links=())
    assert [s.text for s in upd.enable] == [
        "update-rc.d aliyun-service defaults",
        "update-rc.d aliyun-service enable",
    ]
    assert [s.text for s in upd.disable] == ["update-rc.d aliyun-service disable"]
    chk = boot.sysv_boot("aliyun-service", "/", "chkconfig", links=())
    assert [s.text for s in chk.enable] == [
        "chkconfig --add aliyun-service",
        "chkconfig aliyun-service on",
    ]
    assert [s.text for s in chk.disable] == ["chkconfig aliyun-service off"]
    vendor = boot.sysv_boot("agentwatch", "/", "chkconfig", links=(), vendor_chkconfig=True)
    assert [s.text for s in vendor.enable] == ["chkconfig agentwatch on"]
    assert vendor.cannot == ()


def test_sysv_boot_without_a_tool_says_why_it_cannot_change():
    none = boot.sysv_boot("aliyun-service", "/nonexistent/script", None, links=())
    assert none.why_not(False) == "this host has neither update-rc.d nor chkconfig"
    assert (
        none.why_not(True)
        == "/nonexistent/script does not exist; this host has neither update-rc.d nor chkconfig"
    )
    vendor = boot.sysv_boot("agentwatch", "/", None, links=(), vendor_chkconfig=True)
    assert (
        vendor.why_not(True)
        == "this host has no chkconfig, which the vendor's procedure uses for agentwatch"
    )


def test_upstart_override_manual(tmp_path, monkeypatch):
    etc_init = tmp_path / "init"
    etc_init.mkdir()
    monkeypatch.setattr(boot, "UPSTART_DIR", str(etc_init))
    (etc_init / "aliyun-service.conf").write_text("start on runlevel [2345]\n")
    assert boot.upstart_boot("aliyun-service").enabled is True
    override = etc_init / "aliyun-service.override"
    override.write_text("# manual\nenv X=1\n")
    assert boot.upstart_boot("aliyun-service").enabled is True  # a comment is not the stanza
    state = boot.upstart_boot("aliyun-service")
    assert [s.text for s in state.disable] == [f"echo manual >> {override}"]
    boot.set_manual(str(override), True)
    assert override.read_text() == "# manual\nenv X=1\nmanual\n"
    assert boot.upstart_boot("aliyun-service").enabled is False
    boot.set_manual(str(override), False)
    assert override.read_text() == "# manual\nenv X=1\n"
    override.write_text("manual\n")
    boot.set_manual(str(override), False)
    assert not override.exists()  # nothing else was in it
    (etc_init / "aliyun-service.conf").unlink()
    gone = boot.upstart_boot("aliyun-service")
    assert gone.enabled is False and gone.why_not(True).endswith(
        "aliyun-service.conf does not exist"
    )


@pytest.mark.parametrize(
    "unit_file_state,enabled,cannot",
    [
        ("enabled", True, ()),
        ("enabled-runtime", False, ()),  # its links are under /run: gone at the next boot
        ("linked", False, ()),  # known to systemd, pulled in by nothing
        ("linked-runtime", False, ()),
        ("alias", None, ("enable", "disable")),
        ("disabled", False, ()),
        ("masked", False, ("enable",)),
        ("static", None, ("enable", "disable")),
    ],
)
def test_systemd_boot_from_the_unit_file_state(unit_file_state, enabled, cannot):
    state = boot.systemd_boot(
        UnitState("aliyun.service", "loaded", unit_file_state=unit_file_state)
    )
    assert state.enabled is enabled
    assert tuple(dict(state.cannot)) == cannot
    assert [s.text for s in state.enable + state.disable] == [
        "systemctl enable aliyun.service",
        "systemctl disable aliyun.service",
    ]


def test_systemd_boot_of_a_unit_that_is_not_installed():
    state = boot.systemd_boot(UnitState("AssistDaemon.service", "not-found"))
    assert state.enabled is False
    assert (
        state.why_not(False)
        == "systemd has no unit file for AssistDaemon.service (LoadState 'not-found')"
    )


def test_unit_from_files_reads_links_without_systemd(tmp_path):
    lib = tmp_path / "lib/systemd/system"
    lib.mkdir(parents=True)
    (lib / "aliyun.service").write_text("[Service]\n")
    assert systemd.unit_from_files("aliyun.service", str(tmp_path)) == UnitState(
        "aliyun.service", "loaded", unit_file_state="disabled"
    )
    link(
        tmp_path,
        "/etc/systemd/system/multi-user.target.wants",
        "aliyun.service",
        "/lib/systemd/system/aliyun.service",
    )
    assert systemd.unit_from_files("aliyun.service", str(tmp_path)).unit_file_state == "enabled"
    assert systemd.unit_from_files("AssistDaemon.service", str(tmp_path)).load_state == "not-found"
    os.symlink("/dev/null", tmp_path / "etc/systemd/system/aliyun.service")
    assert systemd.unit_from_files("aliyun.service", str(tmp_path)).unit_file_state == "masked"


def test_upstart_is_told_by_its_control_socket(tmp_path):
    table = tmp_path / "unix"
    table.write_text(
        "Num       RefCount Protocol Flags    Type St Inode Path\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 9310 @/com/ubuntu/upstart\n"
    )
    assert (
        facts.upstart_listening(str(table))
        == "upstart (its control socket @/com/ubuntu/upstart is listening)"
    )
    table.write_text(
        "0000000000000000: 00000002 00000000 00010000 0001 01 9310 /run/systemd/private\n"
    )
    assert facts.upstart_listening(str(table)) is None
    assert facts.upstart_listening(str(tmp_path / "missing")) is None


# --- the watchdog's forms ----------------------------------------------------------------------

import _cloudassist_host as hosts  # noqa: E402
from _cloudassist_records import Watchdog  # noqa: E402


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
