"""``cloudassist.remove`` and the ``removed`` state on Windows, through the real execution module:
the facts read, the plan made, the commands run and what is left checked by the real code; the
client's version folders are real folders under the test's root, its binary a real stand-in.

What cannot exist here is faked, and only that: the platform check, the Service Control Manager
(``FakeSCM``, as in ``test_module_windows``), the process table (Salt's ``ps.pgrep``,
``ps.proc_info``, ``ps.get_pid_list`` over a dict of pid -> program) and the client's own
``--remove`` (unregisters ``AliyunService`` in the fake SCM) and ``--stop`` (stops it and ends
its process).  No Windows host exists here: this path is proven against the commands it runs and
Salt's ``win_service`` interface only, not on Windows itself.
"""

import ntpath
import re
from types import SimpleNamespace

import pytest
import salt.utils.platform
from salt.exceptions import CommandExecutionError

import _cloudassist_package as package
import loaded
import standin
from _cloudassist_records import CommandResult
from _cloudassist_run import command_line

from .test_module_windows import FakeSCM

module = loaded.execution
states = loaded.states
A, B = "2.2.3.578", "2.2.4.1065"
PID = 4242


@pytest.fixture
def minion(tmp_path):
    return loaded.minion_dunders(tmp_path, os_family="Windows", timeout=1, settle=0)


@pytest.fixture
def configure_loader_modules(minion):
    return {
        module: minion,
        states: {"__salt__": loaded.salt_functions(), "__opts__": minion["__opts__"]},
    }


@pytest.fixture
def windows(monkeypatch, tmp_path, minion):
    """A Windows minion with the client ``A`` installed and running: its version folder (a real
    stand-in binary), an older version folder the updater left, a log outside them, the
    service in the fake SCM and its process in the fake process table.  ``remove_works`` /
    ``stop_works``: whether the client's ``--remove`` / ``--stop`` do what they say;
    ``survivor``: a pid that ``--stop`` does not end."""
    monkeypatch.setattr(salt.utils.platform, "is_windows", lambda: True)
    root = tmp_path / "ProgramData" / "aliyun" / "assist"
    scm = FakeSCM(None)
    scm.services.clear()
    procs = {}
    ran = []
    exe = str(standin.install_client(root / A / "aliyun_assist_service.exe", A))
    standin.install_client(root / "2.2.0.46" / "aliyun_assist_service.exe", "2.2.0.46")
    (root / "log").mkdir()
    (root / "log" / "aliyun_assist_main.log").write_text("the client's log\n")
    scm.services["AliyunService"] = {
        "BinaryPath": f'"{exe}" --service',
        "running": True,
        "StartType": "Auto",
    }
    procs[PID] = exe

    def run(argv, timeout):
        ran.append(tuple(argv))
        program, call = argv
        if call == "--remove" and win.remove_works:
            scm.services.pop("AliyunService", None)
        if call == "--stop" and win.stop_works:
            if "AliyunService" in scm.services:
                scm.services["AliyunService"]["running"] = False
            for pid in [pid for pid, path in procs.items() if path == program]:
                if pid != win.survivor:
                    del procs[pid]
        return CommandResult(command_line(list(argv)), 0, "", "")

    def pgrep(pattern, **kwargs):
        return [pid for pid, path in procs.items() if pattern in ntpath.basename(path)] or None

    def proc_info(pid, attrs=None):
        if pid not in procs:
            raise CommandExecutionError(
                f"psutil.NoSuchProcess process no longer exists (pid={pid})"
            )
        return {"exe": procs[pid]}

    monkeypatch.setattr(package, "run", run)
    minion["__salt__"].update(
        scm.salt(),
        **{
            "ps.pgrep": pgrep,
            "ps.proc_info": proc_info,
            "ps.get_pid_list": lambda: list(procs),
        },
    )
    minion["__opts__"]["cloudassist"]["windows_root"] = str(root)
    win = SimpleNamespace(
        scm=scm,
        procs=procs,
        ran=ran,
        exe=exe,
        root=root,
        folders=[str(root / "2.2.0.46"), str(root / A)],
        log=str(root / "log" / "aliyun_assist_main.log"),
        remove_works=True,
        stop_works=True,
        survivor=None,
    )
    return win


def test_test_true_names_the_steps_and_runs_nothing(windows):
    ret = module.remove(test=True)
    assert windows.ran == [] and ret["test"] is True
    assert "AliyunService" in windows.scm.services and all(
        (windows.root / version).is_dir() for version in (A, "2.2.0.46")
    )
    remove, stop = command_line([windows.exe, "--remove"]), command_line([windows.exe, "--stop"])
    assert ret["command"] == f"{remove}; {stop}"
    assert ret["steps"] == [
        f"would remove the service AliyunService with `{remove}`",
        f"then would stop the client with `{stop}`",
        "then would remove the client's version folders " + ", ".join(windows.folders),
    ]
    assert ret["changes"] == {
        "service": {"old": "AliyunService", "new": None},
        "version": {"old": A, "new": None},
        "files": {"old": windows.folders, "new": []},
    }
    assert ret["version"] == A and ret["running"] is True
    assert f"the client's process {PID} ({windows.exe})" in ret["left"]
    assert ret["kept"] == [windows.log]


def test_removes_the_service_stops_it_removes_the_folders_then_again_changes_nothing(windows):
    ret = module.remove()
    assert windows.ran == [(windows.exe, "--remove"), (windows.exe, "--stop")]
    assert "AliyunService" not in windows.scm.services and windows.procs == {}
    assert not any((windows.root / version).exists() for version in (A, "2.2.0.46"))
    assert (windows.root / "log" / "aliyun_assist_main.log").is_file()
    assert ret["installed"] is False and ret["left"] == [] and ret["changed"] is True
    assert ret["changes"] == {
        "service": {"old": "AliyunService", "new": None},
        "version": {"old": A, "new": None},
        "files": {"old": windows.folders, "new": []},
    }
    assert ret["steps"][0].startswith("removed the service AliyunService with")
    assert ret["kept"] == [windows.log] and windows.log in ret["warnings"][0]
    again = module.remove()
    assert again["changed"] is False and again["changes"] == {} and again["steps"] == []
    assert len(windows.ran) == 2


def test_remove_watchdog_is_accepted_and_ignored(windows):
    ret = module.remove(remove_watchdog=False)
    assert ret["changed"] is True and "watchdog" not in ret["changes"]


def test_a_remove_that_leaves_the_service_is_named_and_the_folders_stay(windows):
    windows.remove_works = False
    with pytest.raises(CommandExecutionError) as caught:
        module.remove(timeout=1)
    text = str(caught.value)
    assert "this is left of the client on Windows: the service AliyunService (stopped" in text
    assert "sc delete AliyunService" in text
    assert (windows.root / A).is_dir() and caught.value.changes == {}


def test_a_process_that_survives_is_named_with_the_service_removal_reported(windows):
    windows.survivor = PID
    with pytest.raises(CommandExecutionError) as caught:
        module.remove(timeout=1)
    text = str(caught.value)
    assert f"the client's process {PID} ({windows.exe})" in text and "taskkill" in text
    assert "already done: removed the service AliyunService" in text
    assert caught.value.changes == {
        "service": {"old": "AliyunService", "new": None},
        "version": {"old": A, "new": None},
    }
    assert (windows.root / A).is_dir()  # a running binary's folder is not touched


def test_the_updaters_process_from_a_version_folder_counts(windows):
    updater = str(windows.root / "2.2.0.46" / "aliyun_assist_update.exe")
    windows.procs[PID + 1] = updater
    windows.procs[PID + 2] = r"C:\elsewhere\aliyun_assist_update.exe"  # not the client's
    with pytest.raises(
        CommandExecutionError, match=re.escape(f"process {PID + 1} ({updater})")
    ) as caught:
        module.remove(timeout=1)
    assert str(PID + 2) not in str(caught.value)


def test_the_removed_state_removes_then_is_already_removed(windows):
    ret = states.removed("gone")
    assert ret["result"] is True and ret["changes"]["service"] == {
        "old": "AliyunService",
        "new": None,
    }
    assert "Kept" in ret["comment"] and windows.log in ret["comment"]
    again = states.removed("gone")
    assert again["result"] is True and again["changes"] == {}
    assert again["comment"].startswith("The Cloud Assistant client is already removed")


def test_a_leftover_folder_alone_is_removed_without_running_anything(windows):
    windows.scm.services.clear()
    windows.procs.clear()
    ret = module.remove()
    assert windows.ran == [] and ret["changes"] == {"files": {"old": windows.folders, "new": []}}
    assert ret["command"] == "" and not (windows.root / A).exists()
