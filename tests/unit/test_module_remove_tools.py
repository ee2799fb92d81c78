"""``cloudassist.remove`` on rpm hosts, through the real execution module: the tool is chosen
from the programs on the PATH (real ``which`` over a folder of stand-ins), the plan made, the
command run and what is left checked by the real code; the markers and folders are real files
under the test's share folder.

What cannot exist here is faked, and only that: the host's commands (a recorder that answers
``rpm -q``, ``rpm -qf``, ``rpm -ql`` and dnf's, yum's, zypper's and rpm's removal as they answer,
taking the package out of its database when the removal succeeds), the client's processes that
the package's scripts stop, and the client's status.  No rpm host exists here: there is no
real-init test of this path.
"""

from types import SimpleNamespace

import pytest
from salt.exceptions import CommandExecutionError

import _cloudassist_errors as errors
import _cloudassist_host as hosts
import _cloudassist_package as package
import _cloudassist_tools as tools
import loaded
from _cloudassist_records import CommandResult
from _cloudassist_run import command_line

module = loaded.execution
A = "2.2.3.578"
QF = "%{NAME} %{VERSION}\\n"
QUERY = ("rpm", "-q", "--queryformat", QF, "aliyun_assist")
LIST = ("rpm", "-ql", "aliyun_assist")
PROCESS = f"the client's process 4242 (/usr/local/share/aliyun-assist/{A}/aliyun-service)"

TOOL_PATHS = {
    "dnf": (("dnf", "yum", "rpm"), ("dnf", "remove", "-y", "aliyun_assist")),
    "yum": (
        ("yum", "rpm"),
        ("yum", "--setopt=exit_on_lock=True", "remove", "-y", "aliyun_assist"),
    ),
    "zypper": (("zypper", "rpm"), ("zypper", "--non-interactive", "remove", "aliyun_assist")),
    "rpm": (("rpm",), ("rpm", "-e", "aliyun_assist")),
}
# What each tool says while another process holds its lock (it changed nothing).
LOCKS = {
    "dnf": (1, "Waiting for process with pid 812 to finish.\n", ""),
    "yum": (1, "Existing lock /var/run/yum.pid: another copy is running as pid 812.\n", ""),
    "zypper": (7, "", "System management is locked by the application with pid 812.\n"),
    "rpm": (1, "", "error: can't create transaction lock on /var/lib/rpm/.rpm.lock\n"),
}


class RpmHost:
    """An rpm host as its commands show it: ``db`` (the version rpm's database holds, or None),
    ``left`` (what of the client is on the host: the package's scripts remove it), ``owned``
    (path -> the package ``rpm -qf`` names), ``files`` (what ``rpm -ql`` lists).  Every command
    is kept in ``ran``.  ``locked``: how many times the removal answers the tool's lock first;
    ``fails``: the removal's failure instead."""

    def __init__(self, tool, db=A, *, owned=None, files=()):
        self.tool, self.db, self.owned, self.files = tool, db, dict(owned or {}), files
        self.left = (PROCESS,) if db else ()
        self.ran = []
        self.locked, self.fails = 0, None

    def run(self, argv, timeout):
        argv = tuple(argv)
        self.ran.append(argv)
        if argv[:2] == ("rpm", "-q"):
            if self.db is None:
                return said(argv, 1, "package aliyun_assist is not installed\n", "")
            return said(argv, 0, f"aliyun_assist {self.db}\n", "")
        if argv[:2] == ("rpm", "-qf"):
            path = argv[-1]
            if path in self.owned:
                return said(argv, 0, f"{self.owned[path]}\n", "")
            return said(argv, 1, f"file {path} is not owned by any package\n", "")
        if argv[:2] == ("rpm", "-ql"):
            if self.db is None:
                return said(argv, 1, "package aliyun_assist is not installed\n", "")
            return said(argv, 0, "".join(f"{path}\n" for path in self.files), "")
        assert argv == TOOL_PATHS[self.tool][1], argv
        if self.locked:
            self.locked -= 1
            return said(argv, *LOCKS[self.tool])
        if self.fails:
            return said(argv, *self.fails)
        self.db, self.left = None, ()
        return said(argv, 0, "Removed: aliyun_assist\n", "")

    def status(self):
        if self.db is None:
            raise errors.NotInstalled(
                "the Cloud Assistant client is not installed: looked for /usr/sbin/aliyun-service",
                looked_in=("/usr/sbin/aliyun-service",),
            )
        seen = {"installed": True, "running": True, "version": self.db}
        return SimpleNamespace(**seen, as_dict=lambda: dict(seen))

    def no_client(self, failure):
        return SimpleNamespace(as_dict=lambda: {"installed": False, "running": False})

    def watchdog_binary(self):
        return "/nonexistent/cloudassist-test/assist_daemon"

    def watchdog_alone(self):
        return SimpleNamespace(at_stake=False, pids=())

    @property
    def removals(self):
        return [argv for argv in self.ran if argv == TOOL_PATHS[self.tool][1]]


def said(argv, retcode, out, err):
    return CommandResult(command_line(list(argv)), retcode, out, err)


@pytest.fixture
def configure_loader_modules(tmp_path):
    return {
        module: {
            "__salt__": {"saltutil.refresh_grains": lambda **kw: True},
            "__opts__": {"cachedir": str(tmp_path / "cache"), "cloudassist": {"timeout": 1}},
            "__pillar__": {},
            "__grains__": {"os_family": "RedHat"},
        }
    }


@pytest.fixture
def share(monkeypatch, tmp_path):
    """The client's share folder under ``tmp_path``, with the marker ``freeze_updates`` made."""
    folder = tmp_path / "share"
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "disable_update").write_text("")
    monkeypatch.setattr(package, "SHARE_FOLDERS", (str(folder),))
    return folder


@pytest.fixture
def rpm_host(monkeypatch, tmp_path, share):
    def make(tool, db=A, **kwargs):
        folder = tmp_path / f"bin-{tool}"
        folder.mkdir()
        for name in TOOL_PATHS[tool][0]:
            program = folder / name
            program.write_text("#!/bin/sh\nexit 99\n")
            program.chmod(0o755)
        monkeypatch.setattr(tools, "search_path", lambda: str(folder))
        host = RpmHost(tool, db, **kwargs)
        monkeypatch.setattr(package, "run", host.run)
        monkeypatch.setattr(package, "LOCK_POLL", 0)
        monkeypatch.setattr(package, "remains", lambda watchdog, **kw: host.left)
        # The watchdog's places, absent (other suites leave their stand-in's on this host).
        monkeypatch.setattr(package, "WATCHDOG_SCRIPT", str(tmp_path / "absent"))
        monkeypatch.setattr(package.boot, "RC_DIRS", (str(tmp_path / "rc{}.d"),))
        monkeypatch.setattr(package.systemd, "UNIT_DIRS", ())
        monkeypatch.setattr(hosts, "host_for", lambda *args, **kw: host)
        return host

    return make


def marker(share):
    return str(share / "config" / "disable_update")


@pytest.mark.parametrize("tool", list(TOOL_PATHS))
def test_test_true_runs_only_the_reads_and_names_the_command(rpm_host, share, tool):
    host = rpm_host(tool)
    ret = module.remove(test=True)
    assert host.ran == [
        QUERY,
        ("rpm", "-qf", "--queryformat", "%{NAME}\\n", marker(share)),
        LIST,
    ]
    command = command_line(list(TOOL_PATHS[tool][1]))
    assert ret["test"] is True and ret["command"] == command
    assert ret["changes"] == {
        "version": {"old": A, "new": None},
        "files": {"old": [marker(share), str(share / "config"), str(share)], "new": []},
    }
    assert ret["steps"][0] == f"would remove aliyun_assist {A} with `{command}`"
    assert ret["left"] == [PROCESS] and (share / "config" / "disable_update").exists()


@pytest.mark.parametrize("tool", list(TOOL_PATHS))
def test_remove_runs_the_tools_command_then_checks(rpm_host, share, tool):
    host = rpm_host(tool)
    ret = module.remove()
    command = TOOL_PATHS[tool][1]
    assert host.ran == [
        QUERY,
        ("rpm", "-qf", "--queryformat", "%{NAME}\\n", marker(share)),
        LIST,
        command,
        QUERY,
        QUERY,
    ]
    assert ret["changed"] is True and ret["left"] == []
    assert ret["changes"] == {
        "version": {"old": A, "new": None},
        "files": {"old": [marker(share), str(share / "config"), str(share)], "new": []},
    }
    assert ret["comment"].startswith(
        f"removed aliyun_assist {A} with `{command_line(list(command))}`"
    )
    assert not share.exists()
    again = module.remove()
    assert again["changed"] is False and again["changes"] == {}
    assert again["comment"] == "aliyun_assist is not installed and nothing of the client is left"


@pytest.mark.parametrize("tool", list(TOOL_PATHS))
def test_a_held_lock_is_waited_for_then_the_removal_runs(rpm_host, tool):
    host = rpm_host(tool)
    host.locked = 2
    ret = module.remove()
    assert len(host.removals) == 3 and ret["changed"] is True and host.db is None


@pytest.mark.parametrize("tool", list(TOOL_PATHS))
def test_a_lock_held_past_the_timeout_is_a_clear_error(rpm_host, share, tool):
    host = rpm_host(tool)
    host.locked = 10**9
    with pytest.raises(CommandExecutionError, match=f"another process holds {tool}'s lock") as c:
        module.remove(timeout=1)
    assert "nothing was changed" in str(c.value)
    assert host.db == A and (share / "config" / "disable_update").exists()


@pytest.mark.parametrize("tool", list(TOOL_PATHS))
def test_a_failed_removal_says_the_tools_words_and_keeps_the_markers(rpm_host, share, tool):
    host = rpm_host(tool)
    host.fails = (1, "", "error: %preun(aliyun_assist) scriptlet failed, exit status 1\n")
    with pytest.raises(CommandExecutionError, match=f"{tool} could not remove aliyun_assist") as c:
        module.remove()
    assert "scriptlet failed" in str(c.value) and "rpm -V aliyun_assist" in str(c.value)
    assert len(host.removals) == 1 and (share / "config" / "disable_update").exists()


def test_a_marker_another_package_owns_stays_and_is_named(rpm_host, share):
    host = rpm_host("dnf", owned={marker(share): "site-policy"})
    ret = module.remove()
    assert ret["changed"] is True and host.db is None
    assert f"{marker(share)} (site-policy)" in ret["kept"]
    assert (share / "config" / "disable_update").exists()


def test_the_packages_own_files_are_presumed_gone_with_it(rpm_host, share):
    (share / A).mkdir()
    (share / A / "aliyun-service").write_text("")
    rpm_host("yum", files=(str(share / A), str(share / A / "aliyun-service")))
    ret = module.remove(test=True)
    # The version folder is the package's to remove; the share folder and config/ are named.
    assert ret["changes"]["files"]["old"] == [marker(share), str(share / "config"), str(share)]


def test_what_is_left_after_the_removal_is_named(monkeypatch, rpm_host):
    host = rpm_host("zypper")
    real_run = host.run

    def keeps_running(argv, timeout):
        res = real_run(argv, timeout)
        host.left = (PROCESS,)
        return res

    monkeypatch.setattr(package, "run", keeps_running)
    with pytest.raises(CommandExecutionError, match="this is left of the client: .*4242"):
        module.remove()
