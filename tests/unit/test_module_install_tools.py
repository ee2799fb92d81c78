"""``cloudassist.install`` on rpm hosts and on Windows, through the real execution module: the
tool is chosen from the programs on the PATH (real ``which`` over a folder of stand-ins), the file
is read, the plan made, the command run and the result checked by the real code.

What cannot exist here is faked, and only that: on rpm hosts, the host's commands (a recorder
that answers ``rpm -qp``, ``rpm -q`` and dnf, yum, zypper, rpm as they answer, and lays the
package in its database when the install succeeds) and the client's status; on Windows, the
platform check and the Service Control Manager (as in ``test_module_windows``), while the
client's version is read from a real stand-in binary the fake installer lays out.
"""

from types import SimpleNamespace

import pytest
import salt.utils.platform
from salt.exceptions import CommandExecutionError

import _cloudassist_errors as errors
import _cloudassist_host as hosts
import _cloudassist_package as package
import _cloudassist_tools as tools
import loaded
import standin
from _cloudassist_records import CommandResult
from _cloudassist_run import command_line

from .test_module_windows import FakeSCM

module = loaded.execution
A, B = "2.2.3.578", "2.2.4.1065"
QF = "%{NAME} %{VERSION}\\n"


class RpmHost:
    """An rpm host as its commands show it: ``db`` (the version rpm's database holds, or None),
    the client (``client``: its version, ``running``), the files ``rpm -qp`` reads (``files``:
    path -> ``(name, version)``).  Every command is kept in ``ran``.  ``locked``: how many times
    the tool answers ``lock`` (a ``(retcode, stdout, stderr)``) first; ``fails``: the tool's
    failure instead of the install; ``starts``: whether the package's script starts the
    client."""

    def __init__(self, files, db=None, *, running=True):
        self.files, self.db, self.client = files, db, db
        self.running = running and db is not None
        self.ran = []
        self.locked, self.lock, self.fails, self.starts = 0, None, None, True

    def run(self, argv, timeout):
        argv = tuple(argv)
        self.ran.append(argv)
        if argv[:2] == ("rpm", "-qp"):
            if argv[-1] not in self.files:
                return self._said(argv, 1, "", f"error: {argv[-1]}: not an rpm package\n")
            return self._said(argv, 0, "{} {}\n".format(*self.files[argv[-1]]), "")
        if argv[:2] == ("rpm", "-q"):
            if self.db is None:
                return self._said(argv, 1, "package aliyun_assist is not installed\n", "")
            return self._said(argv, 0, f"aliyun_assist {self.db}\n", "")
        if self.locked:
            self.locked -= 1
            return self._said(argv, *self.lock)
        if self.fails:
            return self._said(argv, *self.fails)
        self.db = self.client = self.files[argv[-1]][1]
        self.running = self.starts
        return self._said(argv, 0, f"Installing aliyun_assist-{self.db}-1.x86_64\n", "")

    @staticmethod
    def _said(argv, retcode, out, err):
        return CommandResult(command_line(list(argv)), retcode, out, err)

    def status(self):
        if self.client is None:
            raise errors.NotInstalled(
                "the Cloud Assistant client is not installed: looked for /usr/sbin/aliyun-service",
                looked_in=("/usr/sbin/aliyun-service",),
            )
        seen = {"installed": True, "running": self.running, "version": self.client}
        return SimpleNamespace(**seen, unit=None, as_dict=lambda: dict(seen))

    timeout = 2

    lives = None  # how many more readings of its pids the client survives (None: for ever)

    def client_pids(self, status):
        """The client's process, as the install's settle reads it after the check."""
        if self.lives is not None:
            self.running = self.lives > 0
            self.lives -= 1
        return [4242] if self.running else []

    def no_client(self, failure):
        return SimpleNamespace(as_dict=lambda: {"installed": False, "running": False})

    @property
    def reads(self):
        return [argv for argv in self.ran if argv[0] == "rpm" and argv[1] in ("-qp", "-q")]


@pytest.fixture
def minion(tmp_path):
    """The minion's dunders, which the Windows fixture changes before a test calls."""
    # settle 0: the fake client cannot exit; tests/realinit proves the settle
    return loaded.minion_dunders(tmp_path, os_family="RedHat", timeout=2, settle=0)


@pytest.fixture
def configure_loader_modules(minion):
    return {module: minion}


@pytest.fixture
def rpms(tmp_path):
    folder = tmp_path / "rpms"
    folder.mkdir()
    files = {}
    for name, version in (("aliyun_assist", A), ("aliyun_assist", B), ("nginx", "1.20.1")):
        path = folder / f"{name}-{version}-1.x86_64.rpm"
        path.write_bytes(b"\xed\xab\xee\xdb")  # an rpm's lead; rpm itself is the recorder
        files[str(path)] = (name, version)
    return files


def path_of(files, name, version):
    return next(path for path, said in files.items() if said == (name, version))


@pytest.fixture
def on_path(monkeypatch, tmp_path):
    """``on_path('dnf', 'rpm')``: only those programs on the minion's PATH."""

    def put(*names):
        folder = tmp_path / ("bin-" + "-".join(names))
        folder.mkdir()
        for name in names:
            program = folder / name
            program.write_text("#!/bin/sh\nexit 99\n")
            program.chmod(0o755)
        monkeypatch.setattr(tools, "search_path", lambda: str(folder))

    return put


@pytest.fixture
def rpm_host(monkeypatch, rpms):
    def make(db=None, *, running=True):
        host = RpmHost(rpms, db, running=running)
        monkeypatch.setattr(package, "run", host.run)
        monkeypatch.setattr(package, "LOCK_POLL", 0)
        monkeypatch.setattr(hosts, "host_for", lambda *args, **kw: host)
        return host

    return make


TOOL_PATHS = {
    "dnf": (("dnf", "yum", "rpm"), ("dnf", "install", "-y")),
    "yum": (("yum", "rpm"), ("yum", "--setopt=exit_on_lock=True", "install", "-y")),
    "zypper": (("zypper", "rpm"), ("zypper", "--non-interactive", "install")),
    "rpm": (("rpm",), ("rpm", "-Uvh")),
}


@pytest.mark.parametrize("tool", list(TOOL_PATHS))
def test_test_true_runs_only_the_reads_and_names_the_command(on_path, rpm_host, rpms, tool):
    programs, command = TOOL_PATHS[tool]
    on_path(*programs)
    host = rpm_host()
    path = path_of(rpms, "aliyun_assist", A)
    ret = module.install(path, version=A, test=True)
    assert host.ran == [
        ("rpm", "-qp", "--queryformat", QF, path),
        ("rpm", "-q", "--queryformat", QF, "aliyun_assist"),
    ]
    assert ret["test"] is True and ret["changes"] == {"version": {"old": None, "new": A}}, ret
    assert ret["command"] == command_line([*command, path])
    assert ret["comment"] == f"would install aliyun_assist {A} with `{ret['command']}`"


@pytest.mark.parametrize("tool", list(TOOL_PATHS))
def test_install_runs_the_tools_command_then_checks(on_path, rpm_host, rpms, tool):
    programs, command = TOOL_PATHS[tool]
    on_path(*programs)
    host = rpm_host()
    path = path_of(rpms, "aliyun_assist", A)
    ret = module.install(path)
    assert host.ran == [
        ("rpm", "-qp", "--queryformat", QF, path),
        ("rpm", "-q", "--queryformat", QF, "aliyun_assist"),
        (*command, path),
        ("rpm", "-q", "--queryformat", QF, "aliyun_assist"),
    ]
    assert ret["changed"] is True and ret["changes"] == {"version": {"old": None, "new": A}}
    assert ret["version"] == A and ret["running"] is True
    assert ret["comment"].startswith(f"installed aliyun_assist {A} with `{command[0]}")


def test_an_upgrade_with_yum(on_path, rpm_host, rpms):
    on_path("yum", "rpm")
    host = rpm_host(A)
    path = path_of(rpms, "aliyun_assist", B)
    ret = module.install(path, version=B)
    assert host.ran[2] == ("yum", "--setopt=exit_on_lock=True", "install", "-y", path)
    assert ret["changes"] == {"version": {"old": A, "new": B}} and ret["version"] == B


DOWNGRADES = {
    "dnf": ("dnf", "downgrade", "-y"),
    "yum": ("yum", "--setopt=exit_on_lock=True", "downgrade", "-y"),
    "zypper": ("zypper", "--non-interactive", "install", "--oldpackage"),
    "rpm": ("rpm", "-Uvh", "--oldpackage"),
}


@pytest.mark.parametrize("tool", list(DOWNGRADES))
def test_a_downgrade_is_refused_unless_allowed_then_the_tools_own(on_path, rpm_host, rpms, tool):
    on_path(*TOOL_PATHS[tool][0])
    host = rpm_host(B)
    path = path_of(rpms, "aliyun_assist", A)
    kept = module.install(path)
    assert kept["changed"] is False and kept["changes"] == {} and kept["command"] == ""
    assert f"aliyun_assist {B} is installed, newer than {A}: kept" in kept["comment"]
    assert host.ran == host.reads and host.db == B
    ret = module.install(path, allow_downgrade=True)
    assert host.ran[-2] == (*DOWNGRADES[tool], path)
    assert ret["changes"] == {"version": {"old": B, "new": A}} and ret["version"] == A


REINSTALLS = {
    "dnf": ("dnf", "reinstall", "-y"),
    "zypper": ("zypper", "--non-interactive", "install", "--force"),
    "rpm": ("rpm", "-Uvh", "--replacepkgs"),
}


@pytest.mark.parametrize("tool", list(REINSTALLS))
def test_the_same_version_not_running_is_reinstalled(on_path, rpm_host, rpms, tool):
    on_path(*TOOL_PATHS[tool][0])
    host = rpm_host(A, running=False)
    path = path_of(rpms, "aliyun_assist", A)
    ret = module.install(path)
    assert host.ran[-2] == (*REINSTALLS[tool], path)
    assert ret["running"] is True and ret["comment"].startswith(f"reinstalled aliyun_assist {A}")
    again = module.install(path)
    assert again["changed"] is False and host.ran[-2:] == host.reads[-2:]


def test_zyppers_lock_is_waited_for_then_the_install_runs(on_path, rpm_host, rpms):
    on_path("zypper", "rpm")
    host = rpm_host()
    host.locked = 2
    host.lock = (7, "", "System management is locked by the application with pid 812.\n")
    path = path_of(rpms, "aliyun_assist", A)
    ret = module.install(path)
    install = ("zypper", "--non-interactive", "install", path)
    assert host.ran[2:] == [install, install, install, host.reads[-1]]
    assert ret["version"] == A


def test_yums_lock_held_past_the_timeout_changes_nothing(on_path, rpm_host, rpms):
    on_path("yum", "rpm")
    host = rpm_host(A)
    host.locked = float("inf")
    host.lock = (
        200,
        "Existing lock /var/run/yum.pid: another copy is running as pid 812.\n",
        "Another app is currently holding the yum lock; exiting as configured by exit_on_lock\n",
    )
    with pytest.raises(CommandExecutionError, match="another process holds yum's lock") as caught:
        module.install(path_of(rpms, "aliyun_assist", B), timeout=1)
    assert "nothing was changed" in str(caught.value) and caught.value.changes == {}
    assert host.db == A and set(host.ran) - set(host.reads) == {
        ("yum", "--setopt=exit_on_lock=True", "install", "-y", path_of(rpms, "aliyun_assist", B))
    }


def test_another_package_is_refused_before_anything_else_runs(on_path, rpm_host, rpms):
    on_path("dnf", "rpm")
    host = rpm_host()
    path = path_of(rpms, "nginx", "1.20.1")
    with pytest.raises(CommandExecutionError, match="it is the package nginx 1.20.1, not aliyun_"):
        module.install(path)
    assert host.ran == [("rpm", "-qp", "--queryformat", QF, path)]


def test_a_failed_dnf_says_its_words(on_path, rpm_host, rpms):
    on_path("dnf", "rpm")
    host = rpm_host()
    host.fails = (
        1,
        "",
        "Error: Transaction test error:\n  file /usr/sbin/aliyun-service conflicts\n",
    )
    with pytest.raises(CommandExecutionError, match="dnf could not install aliyun_assist") as c:
        module.install(path_of(rpms, "aliyun_assist", A))
    assert "file /usr/sbin/aliyun-service conflicts" in str(c.value) and c.value.changes == {}


def test_a_client_that_does_not_start_fails_the_check_with_the_change(on_path, rpm_host, rpms):
    on_path("rpm")
    host = rpm_host()
    host.starts = False
    with pytest.raises(CommandExecutionError, match=f"not running at {A} after 2 seconds") as c:
        module.install(path_of(rpms, "aliyun_assist", A))
    assert c.value.changes == {"version": {"old": None, "new": A}}
    assert "already done: rpm left aliyun_assist installed" in str(c.value)


def test_a_client_that_exits_within_settle_fails_the_install_with_the_change(
    on_path, rpm_host, rpms
):
    on_path("dnf", "rpm")
    host = rpm_host()
    host.lives = 1  # runs at the version when read, then is gone
    with pytest.raises(
        CommandExecutionError,
        match=r"started the client \(pid 4242\) but it "
        r"exited within 0\.5 s",
    ) as c:
        module.install(path_of(rpms, "aliyun_assist", A), settle=0.5)
    assert c.value.changes == {"version": {"old": None, "new": A}}
    assert "already done: dnf left aliyun_assist installed" in str(c.value)


# --- Windows ----------------------------------------------------------------------------------


@pytest.fixture
def windows(monkeypatch, tmp_path, minion):
    """A Windows minion: the platform check, the SCM (fake), the client's version folders with
    a real stand-in binary, and the installer, which lays out its version and starts the
    service."""
    monkeypatch.setattr(salt.utils.platform, "is_windows", lambda: True)
    root = tmp_path / "ProgramData" / "aliyun" / "assist"
    scm = FakeSCM(None)
    scm.services.clear()
    ran = []

    def lay_out(version):
        exe = standin.install_client(root / version / "aliyun_assist_service.exe", version)
        scm.services["AliyunService"] = {
            "BinaryPath": f'"{exe}" --service',
            "running": True,
            "StartType": "Auto",
        }

    setup = tmp_path / "aliyun_agent_latest_setup.exe"
    setup.write_bytes(b"MZ\x90\x00 the vendor's NSIS installer")

    def run(argv, timeout):
        ran.append(tuple(argv))
        lay_out(win.installer_holds)
        return CommandResult(command_line(list(argv)), 0, "", "")

    monkeypatch.setattr(package, "run", run)
    minion["__salt__"].update(scm.salt())
    minion["__opts__"]["cloudassist"]["windows_root"] = str(root)
    minion["__grains__"]["os_family"] = "Windows"
    win = SimpleNamespace(scm=scm, ran=ran, lay_out=lay_out, setup=str(setup), installer_holds=B)
    return win


def test_windows_without_a_version_is_refused_and_nothing_runs(windows):
    with pytest.raises(CommandExecutionError, match="on Windows the argument version is required"):
        module.install(windows.setup)
    assert windows.ran == []


def test_windows_installs_silently_then_checks_the_service(windows):
    planned = module.install(windows.setup, version=B, test=True)
    assert planned["changes"] == {"version": {"old": None, "new": B}} and windows.ran == []
    assert planned["command"] == f"{windows.setup} /S"
    ret = module.install(windows.setup, version=B)
    assert windows.ran == [(windows.setup, "/S")]
    assert ret["version"] == B and ret["running"] is True and ret["service"] == "AliyunService"
    assert ret["changes"] == {"version": {"old": None, "new": B}}


def test_windows_upgrades_and_keeps_a_newer_client(windows):
    windows.lay_out(A)
    ret = module.install(windows.setup, version=B)
    assert ret["changes"] == {"version": {"old": A, "new": B}} and ret["version"] == B
    windows.installer_holds = A
    kept = module.install(windows.setup, version=A)
    assert kept["changed"] is False and "newer than" in kept["comment"]
    assert windows.ran == [(windows.setup, "/S")]
    down = module.install(windows.setup, version=A, allow_downgrade=True)
    assert down["changes"] == {"version": {"old": B, "new": A}}


def test_windows_installer_that_leaves_another_version_fails_the_check(windows):
    windows.installer_holds = A  # the file is not the version= said
    with pytest.raises(CommandExecutionError, match="the AliyunService status says") as caught:
        module.install(windows.setup, version=B)
    assert caught.value.changes == {"version": {"old": None, "new": A}}
