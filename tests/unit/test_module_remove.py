"""``cloudassist.remove`` and the ``cloudassist.removed`` state at Salt's boundary, in Salt's
loader mock, without changing this host: the refusal on other hosts, ``test=True`` against this
host's real dpkg, and the plan, the check and the reports against a small dpkg world whose
``dpkg --purge`` changes what dpkg-query and the scan of what is left then read."""

import os
import re
import shutil
import subprocess
import time

import pytest
from salt.exceptions import CommandExecutionError

import _cloudassist_package as package
import loaded
import standin
from _cloudassist_records import CommandResult

execution = loaded.execution
states = loaded.states
A = "2.2.3.578"
PURGE = "env DEBIAN_FRONTEND=noninteractive dpkg --purge aliyun-assist"
PROCESS = f"the client's process 4242 (/usr/local/share/aliyun-assist/{A}/aliyun-service)"
STRAY = "the client's process 4343 (/usr/local/share/aliyun-assist/2.2.2.1/aliyun-service)"
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs Debian's dpkg")


@pytest.fixture
def opts(tmp_path):
    return {
        "test": False,
        "cachedir": str(tmp_path / "cache"),
        "cloudassist": {
            "binary": str(tmp_path / "no-client" / "aliyun-service"),
            "watchdog": str(tmp_path / "no-watchdog" / "assist_daemon"),
            "timeout": 1,
        },
    }


@pytest.fixture
def configure_loader_modules(opts):
    return {
        execution: {
            "__salt__": {"saltutil.refresh_grains": lambda **kwargs: True},
            "__opts__": opts,
            "__pillar__": {},
            "__grains__": {"os_family": "Debian"},
        },
        states: {"__salt__": loaded.salt_functions(), "__opts__": opts},
    }


class World:
    """What dpkg knows and what of the client is on the host; ``dpkg --purge`` removes the
    package and what its scripts remove, leaving ``stays``."""

    def __init__(
        self, monkeypatch, installed=A, left=(PROCESS,), stays=(), retcode=0, real_files=False
    ):
        self.now = package.Installed(package.INSTALLED, installed) if installed else None
        self.left, self.stays, self.retcode = tuple(left), tuple(stays), retcode
        self.ran = []
        monkeypatch.setattr(package, "host_tool", lambda **kwargs: package.tools.DPKG)
        monkeypatch.setattr(
            package,
            "installed",
            lambda timeout, tool=None: self.now or package.Installed(None, None),
        )
        monkeypatch.setattr(package, "run_tool", self.run_dpkg)
        if real_files:
            return
        monkeypatch.setattr(package, "remains", lambda watchdog, **kwargs: self.left)
        # The watchdog's files and the markers: test_watchdog_and_markers_go_for_good.
        monkeypatch.setattr(package, "watchdog_files", lambda watchdog: ())
        monkeypatch.setattr(package, "client_markers", lambda: ())
        monkeypatch.setattr(package, "empty_folders", lambda: ())
        monkeypatch.setattr(package, "kept_files", lambda: ())

    def run_dpkg(self, plan, *, timeout, wait):
        self.ran.append(plan.command_text)
        if self.retcode == 0:
            self.now, self.left = None, self.stays
        return CommandResult(plan.command_text, self.retcode, "", "dpkg: the package's words\n")


# --- the execution function ---------------------------------------------------------------------


def test_a_host_without_dpkg_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(package.tools, "DPKG_STATUS", str(tmp_path / "no-dpkg-status"))
    monkeypatch.setattr(package, "run_tool", pytest.fail)
    monkeypatch.setattr(package.tools, "search_path", lambda: str(tmp_path))
    with pytest.raises(CommandExecutionError, match=r"removes only the client's \.deb .*no rpm\)"):
        execution.remove()


@needs_dpkg
def test_test_true_on_this_host_reads_only(monkeypatch, tmp_path):
    if package.installed(10).known:
        pytest.skip("dpkg on this host knows aliyun-assist")
    # The other suites leave their stand-in's init script and links on this host: the files
    # looked for are moved under tmp_path; dpkg and the process table are this host's.
    gone = str(tmp_path / "absent")
    monkeypatch.setattr(package, "CLIENT_SCRIPTS", (gone,))
    monkeypatch.setattr(package, "WATCHDOG_SCRIPT", gone)
    monkeypatch.setattr(package.facts, "LINUX_BINARIES", (gone,))
    monkeypatch.setattr(package.systemd, "has_unit_file", lambda unit: False)
    monkeypatch.setattr(package.systemd, "UNIT_DIRS", ())
    monkeypatch.setattr(package, "SHARE_FOLDERS", (gone,))
    assert package.remains("/usr/local/share/assist-daemon/assist_daemon") == ()
    monkeypatch.setattr(package, "run_tool", pytest.fail)
    for test in (True, False):
        ret = execution.remove(test=test)
        assert (ret["changed"], ret["changes"], ret["command"], ret["left"]) == (False, {}, "", [])
        assert ret["comment"] == "aliyun-assist is not installed and nothing of the client is left"
        assert ret["installed"] is False


def test_test_true_says_what_would_run_and_runs_nothing(monkeypatch):
    world = World(monkeypatch)
    ret = execution.remove(test=True)
    assert world.ran == [] and ret["test"] is True
    assert ret["changes"] == {"version": {"old": A, "new": None}}
    assert ret["command"] == PURGE and ret["left"] == [PROCESS]
    assert ret["comment"] == f"would remove aliyun-assist {A} with `{PURGE}`"


def test_remove_purges_then_finds_nothing_left(monkeypatch):
    world = World(monkeypatch)
    ret = execution.remove()
    assert world.ran == [PURGE]
    assert ret["changed"] is True and ret["changes"] == {"version": {"old": A, "new": None}}
    assert ret["comment"] == f"removed aliyun-assist {A} with `{PURGE}`" and ret["left"] == []
    again = execution.remove()
    assert world.ran == [PURGE] and (again["changed"], again["changes"]) == (False, {})


def test_what_stays_after_the_purge_is_named_with_the_change_made(monkeypatch):
    World(monkeypatch, left=(PROCESS, STRAY), stays=(STRAY,))
    with pytest.raises(CommandExecutionError, match="this is left of the client") as caught:
        execution.remove(timeout=1)
    text = str(caught.value)
    assert STRAY in text and PROCESS not in text
    assert f"already done: dpkg removed aliyun-assist {A}" in text
    assert caught.value.changes == {"version": {"old": A, "new": None}}
    assert caught.value.failure.cause.left == (STRAY,)


def test_a_stray_without_a_package_is_named_and_changes_nothing(monkeypatch):
    world = World(monkeypatch, installed=None, left=(STRAY,), stays=(STRAY,))
    with pytest.raises(
        CommandExecutionError, match=re.escape(f"this is left of the client: {STRAY}")
    ) as caught:
        execution.remove(timeout=1)
    assert world.ran == [PURGE] and caught.value.changes == {}


def test_a_failed_purge_says_dpkgs_words(monkeypatch):
    World(monkeypatch, retcode=1)
    with pytest.raises(
        CommandExecutionError, match="dpkg could not remove aliyun-assist"
    ) as caught:
        execution.remove()
    assert "dpkg: the package's words" in str(caught.value) and caught.value.changes == {}


@pytest.fixture
def vendor_layout(monkeypatch, tmp_path, opts):
    """The watchdog's folder (a running stand-in watchdog), its init script and rc link, and the
    client's share folder with freeze_updates' markers and a log no package owns, all under
    ``tmp_path``; the watchdog is ended afterwards if still running."""
    share = tmp_path / "share"
    for marker in ("config/disable_update", "config/disable_bootstrap_update"):
        (share / marker).parent.mkdir(parents=True, exist_ok=True)
        (share / marker).write_text("")
    (share / "9.9.9.9" / "log").mkdir(parents=True)
    (share / "9.9.9.9" / "log" / "aliyun_assist_main.log").write_text("old\n")
    binary = standin.install_idle_watchdog(tmp_path / "assist-daemon" / "assist_daemon", tmp_path)
    opts["cloudassist"]["watchdog"] = str(binary)
    script = tmp_path / "init.d" / "AssistDaemon"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    (tmp_path / "rc2.d").mkdir()
    (tmp_path / "rc2.d" / "S01AssistDaemon").symlink_to(script)
    monkeypatch.setattr(package, "SHARE_FOLDERS", (str(share),))
    monkeypatch.setattr(package, "WATCHDOG_SCRIPT", str(script))
    monkeypatch.setattr(package.boot, "RC_DIRS", (str(tmp_path / "rc{}.d"),))
    monkeypatch.setattr(package.systemd, "UNIT_DIRS", ())
    monkeypatch.setattr(package.systemd, "has_unit_file", lambda unit: False)
    # The client's own places, absent (other suites leave their stand-in's on this host).
    monkeypatch.setattr(package, "CLIENT_SCRIPTS", (str(tmp_path / "absent"),))
    monkeypatch.setattr(package.facts, "LINUX_BINARIES", (str(tmp_path / "absent"),))
    proc = subprocess.Popen([str(binary)])
    deadline = time.monotonic() + 10
    while not (tmp_path / "wd.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield tmp_path, proc
    proc.kill()
    proc.wait()


@needs_dpkg
def test_watchdog_and_markers_go_for_good(monkeypatch, vendor_layout):
    tmp_path, watchdog = vendor_layout
    world = World(monkeypatch, left=(), real_files=True)
    share, folder = tmp_path / "share", tmp_path / "assist-daemon"
    markers = [
        str(share / "config" / name) for name in ("disable_update", "disable_bootstrap_update")
    ]
    wd_files = [
        str(tmp_path / "rc2.d" / "S01AssistDaemon"),
        str(tmp_path / "init.d" / "AssistDaemon"),
        str(folder),
    ]
    stop = f"{folder}/assist_daemon --stop"

    tried = execution.remove(test=True)
    assert world.ran == [] and watchdog.poll() is None and all(map(os.path.lexists, markers))
    assert tried["changes"] == {
        "version": {"old": A, "new": None},
        "watchdog": {"old": True, "new": False},
        # config/ holds the markers alone: foreseen empty; 9.9.9.9/ keeps its log.
        "files": {"old": wd_files + markers + [str(share / "config")], "new": []},
    }, tried
    assert tried["steps"] == [
        f"would stop the watchdog with `{stop}`",
        "would remove the watchdog's " + ", ".join(wd_files),
        f"would remove aliyun-assist {A} with `{PURGE}`",
        "then would remove the self-update markers " + ", ".join(markers),
        f"then would remove the client's folders left empty {share / 'config'}",
    ], tried
    assert f"the watchdog's process {watchdog.pid} ({folder}/assist_daemon)" in tried["left"]

    ret = execution.remove()
    assert world.ran == [PURGE] and watchdog.wait(timeout=5) is not None
    log = share / "9.9.9.9" / "log" / "aliyun_assist_main.log"
    assert ret["changes"] == {
        "version": {"old": A, "new": None},
        "watchdog": {"old": True, "new": False},
        "files": {"old": wd_files + markers + [str(share / "config")], "new": []},
    }, ret
    assert ret["steps"][0] == f"stopped the watchdog with `{stop}`", ret
    assert ret["kept"] == [str(log)] and ret["left"] == [], ret
    assert f"kept (not the client's package's, or another package's): {log}" in ret["warnings"]
    for path in [*wd_files, *markers, str(share / "config")]:
        assert not os.path.lexists(path), path
    assert log.read_text() == "old\n"  # not the package's: kept, named
    again = execution.remove()
    assert (again["changes"], again["kept"]) == ({}, [str(log)]), again


@needs_dpkg
def test_remove_watchdog_false_leaves_it_running(monkeypatch, vendor_layout):
    tmp_path, watchdog = vendor_layout
    World(monkeypatch, left=(), real_files=True)
    ret = execution.remove(remove_watchdog=False)
    assert "watchdog" not in ret["changes"] and watchdog.poll() is None, ret
    assert (tmp_path / "assist-daemon" / "assist_daemon").exists()
    assert not (tmp_path / "share" / "config").exists()


@needs_dpkg
def test_a_failed_purge_after_the_watchdog_carries_its_stop(monkeypatch, vendor_layout):
    tmp_path, watchdog = vendor_layout
    World(monkeypatch, left=(), retcode=1, real_files=True)
    with pytest.raises(CommandExecutionError, match="dpkg could not remove") as caught:
        execution.remove()
    assert caught.value.changes["watchdog"] == {"old": True, "new": False}
    assert str(tmp_path / "assist-daemon") in caught.value.changes["files"]["old"]
    assert "version" not in caught.value.changes
    # the markers stay while the package is there: a client still installed stays frozen
    assert (tmp_path / "share" / "config" / "disable_update").exists()


# --- the state ----------------------------------------------------------------------------------


@pytest.mark.parametrize("test", [True, False])
def test_removed_removes_once_and_test_changes_nothing(monkeypatch, opts, test):
    world = World(monkeypatch)
    opts["test"] = test
    ret = states.removed("gone")
    assert ret["changes"] == {"version": {"old": A, "new": None}}, ret
    if test:
        assert ret["result"] is None and world.ran == [] and world.now is not None
        assert (
            ret["comment"]
            == f"would remove aliyun-assist {A} with `{PURGE}` (left now: {PROCESS})."
        )
        return
    assert ret["result"] is True and world.ran == [PURGE]
    assert ret["comment"] == f"Removed aliyun-assist {A} with `{PURGE}`."
    again = states.removed("gone")
    assert (again["result"], again["changes"]) == (True, {}) and world.ran == [PURGE]
    assert again["comment"] == (
        "The Cloud Assistant client is already removed (aliyun-assist is not installed and "
        "nothing of the client is left)."
    )


@pytest.mark.parametrize("test", [True, False])
def test_removed_on_a_clean_host_is_true(monkeypatch, opts, test):
    world = World(monkeypatch, installed=None, left=())
    opts["test"] = test
    ret = states.removed("gone")
    assert (ret["result"], ret["changes"], world.ran) == (True, {}, [])


def test_removed_fails_naming_what_is_left_with_the_change_made(monkeypatch):
    World(monkeypatch, stays=(STRAY,))
    ret = states.removed("gone", timeout=1)
    assert ret["result"] is False
    assert ret["changes"] == {"version": {"old": A, "new": None}}
    assert f"this is left of the client: {STRAY}" in ret["comment"]


def test_removed_takes_only_timeout_and_remove_watchdog(monkeypatch):
    World(monkeypatch)
    ret = states.removed("gone", version="1")
    assert ret["result"] is False and "does not take 'version'" in ret["comment"]
    assert "(it takes: name, timeout, remove_watchdog)" in ret["comment"]
