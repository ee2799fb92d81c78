"""``_modules/_cloudassist_package.py``, removing: what of the client is left (real processes and
files of this host, under folders the test owns), the pure plan, and the check after
``dpkg --purge``."""

import contextlib
import os
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

import _cloudassist_errors as errors
import _cloudassist_package as package
from _cloudassist_records import CommandResult, Step
from _cloudassist_run import command_line

A = "2.2.3.578"
NONE = package.Installed(None, None)
PURGE = "env DEBIAN_FRONTEND=noninteractive dpkg --purge aliyun-assist"
PURGED = CommandResult(PURGE, 0, "Removing aliyun-assist (2.2.3.578) ...\n", "")


def at(version, state=package.INSTALLED):
    return package.Installed(state, version)


# --- what is left -------------------------------------------------------------------------------


@pytest.fixture
def host(monkeypatch, tmp_path):
    """The places :func:`package.remains` looks at, moved under ``tmp_path``: the share folder,
    the links and the init scripts (the unit names stay systemd's, absent here)."""
    share = tmp_path / "share"
    monkeypatch.setattr(package, "SHARE_FOLDERS", (str(share),))
    monkeypatch.setattr(package.facts, "LINUX_BINARIES", (str(tmp_path / "sbin-aliyun-service"),))
    monkeypatch.setattr(package, "CLIENT_SCRIPTS", (str(tmp_path / "init.d-aliyun-service"),))
    monkeypatch.setattr(package, "WATCHDOG_SCRIPT", str(tmp_path / "init.d-AssistDaemon"))
    monkeypatch.setattr(package, "CLIENT_UNITS", ("cloudassist-test-none.service",))
    monkeypatch.setattr(package, "WATCHDOG_UNIT", "cloudassist-test-none-watchdog.service")
    return tmp_path


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline") as handle:
            return handle.read()
    except OSError:
        return None


@pytest.fixture
def spawn():
    """Start a real process from a copy of ``sleep`` (``tail -v`` for a probe) at a given path;
    ended afterwards."""
    started = []

    def start(path, *, probe=False):
        # A probe stays up too: GNU tail takes -v (and sleep would exit on it at once).
        program, argv = ("tail", ["-v", "-f", "/dev/null"]) if probe else ("sleep", ["60"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copy(shutil.which(program), path)
        proc = subprocess.Popen([path, *argv])
        started.append(proc)
        # Scanned only once the kernel shows the new program and its arguments (a loaded CI
        # once showed the probe's process without its "-v").
        want = "\0".join([path, *argv]) + "\0"
        deadline = time.monotonic() + 10
        while _cmdline(proc.pid) != want:
            assert time.monotonic() < deadline, f"{path} did not start as {want!r}"
            time.sleep(0.01)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_nothing_is_left_on_a_clean_host(host):
    assert package.remains(str(host / "no-watchdog" / "assist_daemon")) == ()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_each_thing_left_is_named(host, spawn):
    client = spawn(str(host / "share" / A / "aliyun-service"))
    watchdog_path = str(host / "assist-daemon" / "assist_daemon")
    watchdog = spawn(watchdog_path)
    (host / "init.d-aliyun-service").write_text("#!/bin/sh\n")
    (host / "init.d-AssistDaemon").write_text("#!/bin/sh\n")
    os.symlink(str(host / "share" / A / "aliyun-service"), host / "sbin-aliyun-service")
    left = package.remains(watchdog_path)
    assert left == (
        f"the client's process {client.pid} ({host}/share/{A}/aliyun-service)",
        f"the watchdog's process {watchdog.pid} ({watchdog_path})",
        f"the init script {host}/init.d-aliyun-service",
        f"the watchdog's init script {host}/init.d-AssistDaemon",
        f"the binary's link {host}/sbin-aliyun-service",
    ), left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_look_alikes_and_version_probes_are_not_the_client(host, spawn):
    spawn(str(host / "elsewhere" / A / "aliyun-service"))  # not under the share folder
    spawn(str(host / "share" / "not-a-version" / "aliyun-service"))
    spawn(str(host / "share" / A / "aliyun-service"), probe=True)  # a probe, not a client
    # Read again for a while, as remove itself does until its timeout.
    deadline = time.monotonic() + 5
    while (left := package.remains(str(host / "no-watchdog" / "assist_daemon"))) != ():
        assert time.monotonic() < deadline, left
        time.sleep(0.1)


# --- the plan -----------------------------------------------------------------------------------


def test_nothing_to_do_when_dpkg_knows_no_package_and_nothing_is_left():
    for now in (NONE, at(None, "unknown ok not-installed")):
        plan = package.make_removal(now, ())
        assert (plan.action, plan.command, plan.changes) == ("none", (), {})
        assert plan.described(ran=True) == (
            "aliyun-assist is not installed and nothing of the client is left"
        )


def test_an_installed_package_is_purged():
    plan = package.make_removal(at(A), ("the client's process 7 (/x)",))
    assert plan.action == "remove"
    assert plan.command == (
        "env",
        "DEBIAN_FRONTEND=noninteractive",
        "dpkg",
        "--purge",
        package.PACKAGE,
    )
    assert plan.changes == {"version": {"old": A, "new": None}}
    assert plan.described(ran=False) == f"would remove aliyun-assist {A} with `{PURGE}`"
    assert plan.described(ran=True) == f"removed aliyun-assist {A} with `{PURGE}`"


def test_a_half_removed_package_or_its_config_files_are_purged_with_their_state():
    plan = package.make_removal(at(A, "deinstall ok config-files"), ())
    assert plan.action == "remove"
    assert plan.changes == {"version": {"old": f"{A} (config-files)", "new": None}}


def test_what_is_left_without_a_package_is_still_purged_but_changes_no_version():
    plan = package.make_removal(NONE, ("the binary's link /usr/sbin/aliyun-service",))
    assert plan.action == "remove" and plan.command and plan.changes == {}
    assert plan.described(ran=False).startswith(
        "would remove what is left of the client (aliyun-assist is not installed) with `env "
    )


# --- the check afterwards -----------------------------------------------------------------------


def test_verify_takes_a_host_with_nothing_left():
    plan = package.make_removal(at(A), ())
    assert package.verify_removed(PURGED, plan, read=lambda: (NONE, ()), wait=1) is None


def test_a_process_that_goes_a_moment_later_is_waited_for():
    plan = package.make_removal(at(A), ())
    reads = [(NONE, ("the client's process 7 (/x)",)), (NONE, ())]
    package.verify_removed(PURGED, plan, read=lambda: reads.pop(0), wait=5)
    assert reads == []


def test_verify_names_everything_left():
    plan = package.make_removal(at(A), ())
    left = ("the client's process 7 (/x)", "the unit aliyun.service")
    with pytest.raises(errors.LeftBehind, match="this is left of the client") as caught:
        package.verify_removed(
            PURGED, plan, read=lambda: (at(A, "deinstall ok config-files"), left), wait=0
        )
    assert caught.value.left == (
        f"the package aliyun-assist (deinstall ok config-files {A})",
        *left,
    )
    assert isinstance(caught.value, errors.NotVerified) and caught.value.command == PURGE
    assert "the client's process 7 (/x); the unit aliyun.service" in str(caught.value)


def test_verify_fails_with_dpkgs_words_when_dpkg_failed():
    plan = package.make_removal(at(A), ())
    failed = CommandResult(PURGE, 1, "", "aliyun-assist: cannot stop the client's service\n")
    with pytest.raises(errors.CommandFailed, match="dpkg could not remove aliyun-assist") as caught:
        package.verify_removed(failed, plan, read=lambda: (NONE, ()), wait=0)
    assert caught.value.host_said == ("aliyun-assist: cannot stop the client's service",)


def test_the_lock_is_waited_for_as_for_an_install(monkeypatch):
    locked = CommandResult(
        PURGE, 2, "", "dpkg: error: dpkg frontend lock was locked by another process with pid 9\n"
    )
    answers = [locked, PURGED]
    monkeypatch.setattr(package, "run", lambda argv, timeout: answers.pop(0))
    monkeypatch.setattr(package, "LOCK_POLL", 0)
    assert package.run_tool(package.make_removal(at(A), ()), timeout=30, wait=30) is PURGED


def test_another_host_is_refused_naming_the_removal(monkeypatch, tmp_path):
    monkeypatch.setattr(package.tools, "search_path", lambda: str(tmp_path))
    with pytest.raises(errors.WrongHost, match=r"removes only the client's .*Remove the client"):
        package.host_tool(action="remove")


# --- Windows: the pure plan ---------------------------------------------------------------------

EXE = "C:\\ProgramData\\aliyun\\assist\\2.2.3.578\\aliyun_assist_service.exe"
FOLDER = "C:\\ProgramData\\aliyun\\assist\\2.2.3.578"


def win(service="AliyunService", exe=EXE, *, running=True, folders=(FOLDER,), processes=()):
    return SimpleNamespace(
        service=service,
        exe=exe,
        running=running,
        folders=folders,
        processes=processes,
        version=A if exe == EXE else None,
    )


def test_windows_removal_is_the_installers_record():
    assert package.host_tool(windows=True, action="remove") is package.tools.INSTALLER


def test_windows_plan_runs_the_services_binary_with_remove_then_stop_then_the_folders():
    plan = package.make_windows_removal(win(processes=((4242, EXE),)))
    assert plan.action == "remove"
    assert plan.commands == ((EXE, "--remove"), (EXE, "--stop"))
    assert plan.changes == {
        "service": {"old": "AliyunService", "new": None},
        "version": {"old": A, "new": None},
        "files": {"old": [FOLDER], "new": []},
    }
    remove, stop = command_line([EXE, "--remove"]), command_line([EXE, "--stop"])
    assert plan.command_text == f"{remove}; {stop}"
    assert [package.tense(part, ran=True) for part in plan.parts] == [
        f"removed the service AliyunService with `{remove}`",
        f"then stopped the client with `{stop}`",
        f"then removed the client's version folders {FOLDER}",
    ]
    assert plan.described(ran=False).startswith("would remove the service AliyunService")


def test_windows_plan_with_nothing_there_is_none_and_a_leftover_folder_alone_goes():
    nothing = package.make_windows_removal(win(None, None, folders=()))
    assert (nothing.action, nothing.changes, nothing.commands) == ("none", {}, ())
    assert "nothing of it is left" in nothing.described(ran=False)
    folder = package.make_windows_removal(win(None, None))
    assert folder.commands == () and folder.command_text == ""
    assert folder.changes == {"files": {"old": [FOLDER], "new": []}}
    assert folder.parts == (f"remove the client's version folders {FOLDER}",)


def test_windows_service_naming_no_binary_is_refused_before_anything_runs():
    with pytest.raises(errors.Unreadable, match="names no client binary.*sc delete AliyunService"):
        package.make_windows_removal(win(exe=None))


def test_windows_left_names_the_service_the_processes_and_the_folders():
    found = win(running=False, processes=((4242, EXE),))
    assert package.windows_left(found) == (
        f"the service AliyunService (stopped, {EXE})",
        f"the client's process 4242 ({EXE})",
        f"the folder {FOLDER}",
    )
    assert package.windows_left(found, folders=False)[-1] == f"the client's process 4242 ({EXE})"
    assert package.windows_left(win(None, None, folders=())) == ()


# --- the updater, the watchdog's files, the markers ---------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_updater_and_files_are_named_and_the_watchdog_only_when_asked(host, spawn):
    updater = spawn(str(host / "share" / A / package.UPDATER_NAME))
    spawn(str(host / "elsewhere" / A / package.UPDATER_NAME))  # not the client's folder
    watchdog_path = str(host / "assist-daemon" / "assist_daemon")
    watchdog = spawn(watchdog_path)
    marker = host / "share" / "config" / "disable_update"
    marker.parent.mkdir(parents=True)
    marker.write_text("")
    left = package.remains(watchdog_path, files=(str(marker), str(host / "absent")))
    assert left == (
        f"the updater's process {updater.pid} ({host}/share/{A}/{package.UPDATER_NAME})",
        f"the watchdog's process {watchdog.pid} ({watchdog_path})",
        f"the file {marker}",
    ), left
    assert package.remains(watchdog_path, with_watchdog=False) == left[:1]


def test_the_watchdogs_files_in_the_order_they_go(host, monkeypatch):
    units, rc2 = host / "system", host / "rc2.d"
    (units / "multi-user.target.wants").mkdir(parents=True)
    (units / package.WATCHDOG_UNIT).write_text("[Service]\n")
    (units / "multi-user.target.wants" / package.WATCHDOG_UNIT).symlink_to(
        units / package.WATCHDOG_UNIT
    )
    rc2.mkdir()
    (host / "init.d-AssistDaemon").write_text("#!/bin/sh\n")
    (rc2 / "S01AssistDaemon").symlink_to(host / "init.d-AssistDaemon")
    (rc2 / "S01other").symlink_to(host / "init.d-AssistDaemon")
    (host / "assist-daemon").mkdir()
    (host / "assist-daemon" / "assist_daemon").write_text("")
    monkeypatch.setattr(package.systemd, "UNIT_DIRS", (str(units),))
    monkeypatch.setattr(package.boot, "RC_DIRS", (str(host / "rc{}.d"),))
    assert package.watchdog_files(str(host / "assist-daemon" / "assist_daemon")) == (
        f"{units}/multi-user.target.wants/{package.WATCHDOG_UNIT}",
        f"{units}/{package.WATCHDOG_UNIT}",
        f"{rc2}/S01AssistDaemon",
        f"{host}/init.d-AssistDaemon",
        f"{host}/assist-daemon",
    )
    # a watchdog configured elsewhere loses its file alone, never its folder
    (host / "bin").mkdir()
    (host / "bin" / "assist_daemon").write_text("")
    assert package.watchdog_files(str(host / "bin" / "assist_daemon"))[-1] == (
        f"{host}/bin/assist_daemon"
    )


def test_markers_go_then_empty_folders_and_the_rest_is_named(host):
    share = host / "share"
    for path in ("config/disable_update", f"{A}/config/disable_bootstrap_update", "9/log/x.log"):
        (share / path).parent.mkdir(parents=True, exist_ok=True)
        (share / path).write_text("")
    markers = package.client_markers()
    assert markers == (
        f"{share}/config/disable_update",
        f"{share}/{A}/config/disable_bootstrap_update",
    )
    assert package.remove_files(markers) == markers
    assert package.remove_empty(package.empty_folders()) == (
        f"{share}/{A}/config",
        f"{share}/{A}",
        f"{share}/config",
    )
    assert package.kept_files() == (f"{share}/9/log/x.log",)
    os.unlink(share / "9" / "log" / "x.log")
    package.remove_empty(package.empty_folders())
    assert not share.exists() and package.kept_files() == ()


@contextlib.contextmanager
def unremovable(path):
    """``path`` (a file) cannot be unlinked while this lasts: a read-only folder for a user;
    for root, who writes there anyway, a file mounted over it (unlink says EBUSY)."""
    if os.geteuid() != 0:
        os.chmod(path.parent, 0o500)
        try:
            yield
        finally:
            os.chmod(path.parent, 0o700)
        return
    subprocess.run(["mount", "--bind", "/dev/null", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_file_the_host_will_not_remove_is_an_error_with_what_went(host):
    gone, stuck = host / "gone", host / "ro" / "stuck"
    gone.write_text("")
    stuck.parent.mkdir()
    stuck.write_text("")
    with unremovable(stuck):
        with pytest.raises(errors.PartlyDone, match=f"could not remove {stuck}") as caught:
            package.remove_files((str(gone), str(stuck)))
        assert caught.value.changes == {"files": {"old": [str(gone)], "new": []}}
        assert stuck.exists() and not gone.exists()


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs Debian's dpkg")
def test_owners_are_read_from_dpkg(host):
    dpkg = os.path.realpath(shutil.which("dpkg-query"))
    owned = package.owners((dpkg, str(host / "nobodys")), 10)
    assert list(owned) == [dpkg] and "dpkg" in owned[dpkg]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_watchdog_that_stays_up_is_not_verified(host, spawn):
    proc = spawn(str(host / "assist-daemon" / "assist_daemon"))
    ran = []

    class Stop:
        text = "assist_daemon --stop"

    with pytest.raises(errors.NotVerified, match=r"the watchdog is still running \(pid "):
        package.stop_watchdog(
            Stop, run_step=lambda s, check: ran.append(s), pids=lambda: [proc.pid], wait=0
        )
    assert ran == [Stop]
    package.stop_watchdog(Stop, run_step=lambda s, check: proc.kill(), pids=lambda: [], wait=0)


def test_the_plan_names_each_step_and_change():
    stop = Step(("systemctl", "stop", "AssistDaemon.service"))
    plan = package.make_removal(
        NONE, (), watchdog_stop=stop, watchdog_files=("/w",), markers=("/m",), folders=("/f",)
    )
    assert plan.action == "remove" and plan.command
    assert plan.changes == {
        "watchdog": {"old": True, "new": False},
        "files": {"old": ["/w", "/m", "/f"], "new": []},
    }
    assert plan.described(ran=True).startswith(
        "stopped the watchdog with `systemctl stop AssistDaemon.service`; removed the "
        "watchdog's /w; removed what is left of the client"
    )
    assert plan.described(ran=False).endswith(
        "; then would remove the self-update markers /m"
        "; then would remove the client's folders left empty /f"
    )
    assert plan.described(ran=True).endswith(
        "; then removed the self-update markers /m; then removed the client's folders left empty /f"
    )
    alone = package.make_removal(NONE, (), folders=("/f",))
    assert alone.action == "remove" and alone.changes == {"files": {"old": ["/f"], "new": []}}


def test_the_folders_foreseen_empty_are_those_the_package_leaves(tmp_path, monkeypatch):
    share = tmp_path / "share"
    monkeypatch.setattr(package, "SHARE_FOLDERS", (str(share), str(tmp_path / "absent")))
    files = [share / A / "aliyun-service", share / A / "init" / "install", share / "version"]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    (share / A / "log").mkdir()  # the client's, in its version folder: its scripts' to clean
    # dpkg -L lists the package's folders too
    owned = [str(p) for p in (share, share / A, share / A / "init", *files)]
    assert package.emptied_folders(owned, ()) == ()  # all the package's, dpkg's to remove

    (share / "config").mkdir()  # freeze_updates made it; allow_updates emptied it
    assert package.emptied_folders(owned, ()) == (f"{share}/config", str(share))
    marker = share / "config" / "disable_update"
    marker.write_text("")
    assert package.emptied_folders(owned, [str(marker)]) == (f"{share}/config", str(share))
    assert package.emptied_folders(owned, ()) == ()  # a marker that stays keeps them

    version_marker = share / A / "config" / "disable_update"
    version_marker.parent.mkdir()
    version_marker.write_text("")
    markers = [str(marker), str(version_marker)]
    assert package.emptied_folders(owned, markers) == (
        f"{share}/{A}/config",
        f"{share}/{A}",
        f"{share}/config",
        str(share),
    )
    # something no package owns (an old version's folder, a link to a folder) stays, and
    # keeps the share folder
    (share / "9.9.9.9" / "log").mkdir(parents=True)
    (share / "9.9.9.9" / "log" / "x.log").write_text("")
    (share / "link").symlink_to(share / "config")
    assert package.emptied_folders(owned, markers) == (
        f"{share}/{A}/config",
        f"{share}/{A}",
        f"{share}/config",
    )
    # with no package known: what the markers leave empty, and what is empty already
    assert package.emptied_folders((), markers) == (
        f"{share}/{A}/config",
        f"{share}/{A}/log",
        f"{share}/config",
    )
