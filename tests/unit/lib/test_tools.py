"""The package tools of ``cloudassist.install`` (``_modules/_cloudassist_tools.py`` and the rpm
and Windows paths of ``_cloudassist_package.py``): which tool a host gets, the exact commands the
real plan gives each tool for each case, and the real reading, lock-waiting and checking code run
against a recorder that answers as rpm, dnf, yum, zypper and the Windows installer answer.

No rpm here: the recorder stands in for the host's commands only; everything that decides runs.
"""

import os
from types import SimpleNamespace

import pytest

import _cloudassist_errors as errors
import _cloudassist_package as package
import _cloudassist_tools as tools
from _cloudassist_records import CommandResult
from _cloudassist_run import command_line

A, B = "2.2.3.578", "2.2.4.1065"
RPM_FILE = "/var/cache/salt/minion/files/base/ca/aliyun_assist_2.2.3.578-1.x86_64.rpm"
EXE = r"C:\salt\var\cache\aliyun_agent_latest_setup.exe"
QF = "%{NAME} %{VERSION}\\n"


class Recorder:
    """The host's commands: each argv run is kept in ``ran``; ``answers`` are given in turn,
    each ``(retcode, stdout, stderr)``."""

    def __init__(self, *answers):
        self.ran = []
        self.answers = list(answers)

    def __call__(self, argv, timeout):
        self.ran.append(tuple(argv))
        retcode, out, err = self.answers.pop(0)
        return CommandResult(command_line(list(argv)), retcode, out, err)


@pytest.fixture
def host(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(package, "run", recorder)
    monkeypatch.setattr(package, "LOCK_POLL", 0)
    return recorder


# --- which tool -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "found, os_family, tool",
    [
        ({"dpkg"}, "Debian", tools.DPKG),
        ({"dnf", "yum", "rpm"}, "RedHat", tools.DNF),
        ({"yum", "rpm"}, "RedHat", tools.YUM),
        ({"zypper", "rpm"}, "Suse", tools.ZYPPER),
        ({"rpm"}, None, tools.RPM),
        # dpkg and rpm both: the os_family grain settles it; unknown, dpkg's database wins.
        ({"dpkg", "rpm", "dnf"}, "RedHat", tools.DNF),
        ({"dpkg", "rpm"}, "Debian", tools.DPKG),
        ({"dpkg", "rpm"}, None, tools.DPKG),
    ],
)
def test_the_hosts_own_tool_is_chosen(found, os_family, tool):
    assert tools.choose(found, os_family=os_family) is tool


@pytest.mark.parametrize("found", [set(), {"dnf"}, {"yum", "zypper"}])
def test_a_host_with_no_tool_it_can_use_is_refused(found):
    with pytest.raises(errors.WrongHost, match="this host has none of them") as caught:
        tools.choose(found)
    assert caught.value.needs == "dpkg or rpm"


def test_windows_gets_the_installer():
    assert tools.choose(set(), windows=True) is tools.INSTALLER
    assert package.host_tool(windows=True) is tools.INSTALLER


def test_the_tools_are_found_on_the_path(monkeypatch, tmp_path):
    for name in ("rpm", "yum", "dnf", "dpkg"):
        program = tmp_path / name
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    monkeypatch.setattr(tools, "search_path", lambda: str(tmp_path))
    monkeypatch.setattr(tools, "DPKG_STATUS", str(tmp_path / "no-dpkg-status"))
    assert package.host_tool() is tools.DNF  # dpkg without its database does not count
    (tmp_path / "dnf").unlink()
    assert package.host_tool(os_family="RedHat") is tools.YUM


# --- the exact commands the plan gives each tool -------------------------------------------------

NONE = package.Installed(None, None)


def rpm_at(version):
    return package.Installed(tools.RPM_INSTALLED, version)


F = RPM_FILE
CASES = {
    # tool: (install or upgrade, downgrade, reinstall)
    tools.DNF: (
        ("dnf", "install", "-y", F),
        ("dnf", "downgrade", "-y", F),
        ("dnf", "reinstall", "-y", F),
    ),
    tools.YUM: (
        ("yum", "--setopt=exit_on_lock=True", "install", "-y", F),
        ("yum", "--setopt=exit_on_lock=True", "downgrade", "-y", F),
        ("yum", "--setopt=exit_on_lock=True", "reinstall", "-y", F),
    ),
    tools.ZYPPER: (
        ("zypper", "--non-interactive", "install", F),
        ("zypper", "--non-interactive", "install", "--oldpackage", F),
        ("zypper", "--non-interactive", "install", "--force", F),
    ),
    tools.RPM: (
        ("rpm", "-Uvh", F),
        ("rpm", "-Uvh", "--oldpackage", F),
        ("rpm", "-Uvh", "--replacepkgs", F),
    ),
}


@pytest.mark.parametrize("tool", list(CASES), ids=lambda tool: tool.name)
def test_each_case_gets_its_tools_command(tool):
    install, downgrade, reinstall = CASES[tool]

    def plan(new, now, running=True, **kw):
        return package.make_plan(new, now, path=F, running=running, tool=tool, **kw)

    first = plan(A, NONE, running=False)
    assert (first.action, first.command, first.tool) == ("install", install, tool)
    assert first.described(ran=False) == (
        f"would install aliyun_assist {A} with `{command_line(list(install))}`"
    )
    upgrade = plan(B, rpm_at(A))
    assert upgrade.command == install and upgrade.changes == {"version": {"old": A, "new": B}}
    assert upgrade.described(ran=True).startswith(f"upgraded aliyun_assist {A} to {B} with")
    kept = plan(A, rpm_at(B))
    assert (kept.action, kept.command, kept.changes) == ("keep", (), {})
    assert f"aliyun_assist {B} is installed, newer than {A}: kept" in kept.comment
    down = plan(A, rpm_at(B), allow_downgrade=True)
    assert down.command == downgrade and down.changes == {"version": {"old": B, "new": A}}
    again = plan(A, rpm_at(A), running=False)
    assert again.command == reinstall
    assert again.described(ran=False).startswith(f"would reinstall aliyun_assist {A}")
    assert plan(A, rpm_at(A)).action == "none"


def test_dpkg_is_one_entry_of_the_same_table():
    for verb in ("install", "upgrade", "downgrade", "reinstall"):
        assert tools.DPKG.argv(verb, "/root/a.deb") == (
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "dpkg",
            "-i",
            "/root/a.deb",
        )


def test_the_windows_installer_runs_silently_in_every_case():
    for new, now in ((A, NONE), (B, rpm_at(A)), (A, rpm_at(A))):
        plan = package.make_plan(new, now, path=EXE, running=False, tool=tools.INSTALLER)
        assert plan.command == (EXE, "/S"), plan
    down = package.make_plan(
        A, rpm_at(B), path=EXE, running=True, tool=tools.INSTALLER, allow_downgrade=True
    )
    assert down.command == (EXE, "/S")


# --- what rpm says of the file and of the host ----------------------------------------------------


def test_the_rpm_file_is_read_with_rpm_qp(host):
    host.answers = [(0, f"aliyun_assist {A}\n", "warning: Header V4 RSA/SHA256: NOKEY\n")]
    assert package.identify(F, 30, A, tool=tools.DNF) == A
    assert host.ran == [("rpm", "-qp", "--queryformat", QF, F)]


@pytest.mark.parametrize(
    "out, words",
    [
        ("nginx 1.20.1\n", "it is the package nginx 1.20.1, not aliyun_assist"),
        ("aliyun-assist 2.2.3.578\n", "it is the package aliyun-assist 2.2.3.578, not aliyun_"),
        ("aliyun_assist 2.2.3\n", "which is not a client version"),
        (f"aliyun_assist {B}\n", f"is aliyun_assist {B}, not the version {A} asked for"),
    ],
)
def test_an_rpm_that_is_not_the_client_is_named(host, out, words):
    host.answers = [(0, out, "")]
    with pytest.raises(errors.NotThePackage, match=words):
        package.identify(F, 30, A, tool=tools.YUM)
    assert len(host.ran) == 1


def test_a_file_rpm_cannot_read_says_rpms_words(host):
    host.answers = [(1, "", f"error: open of {F} failed: not an rpm package\n")]
    with pytest.raises(errors.NotThePackage, match=r"is not a \.rpm package: `rpm -qp") as caught:
        package.identify(F, 30, tool=tools.ZYPPER)
    assert caught.value.host_said == (f"error: open of {F} failed: not an rpm package",)


@pytest.mark.parametrize(
    "retcode, out, state, version",
    [
        (0, f"aliyun_assist {A}\n", "installed", A),
        (1, "package aliyun_assist is not installed\n", None, None),
        (0, f"aliyun_assist {A}\naliyun_assist {B}\n", "installed 2 times", B),
    ],
)
def test_what_rpm_has_installed_is_read_with_rpm_q(host, retcode, out, state, version):
    host.answers = [(retcode, out, "")]
    now = package.installed(30, tool=tools.RPM)
    assert (now.state, now.version) == (state, version)
    assert now.ok is (state == "installed")
    assert host.ran == [("rpm", "-q", "--queryformat", QF, "aliyun_assist")]


def test_what_rpm_left_is_told_with_its_state():
    twice = package.Installed("installed 2 times", B)
    assert package.left_text(twice) == f"{B} (installed 2 times)"


# --- the Windows installer's version --------------------------------------------------------


@pytest.fixture
def setup_exe(tmp_path):
    exe = tmp_path / "aliyun_agent_latest_setup.exe"
    exe.write_bytes(b"MZ\x90\x00" + os.urandom(64))
    return str(exe)


def test_the_installers_version_is_the_one_given_and_nothing_runs(host, setup_exe):
    assert package.identify(setup_exe, 30, B, tool=tools.INSTALLER) == B
    assert host.ran == []


@pytest.mark.parametrize("version", [None, "2.2.4", "latest"])
def test_the_installer_without_a_four_integer_version_is_refused(host, setup_exe, version):
    with pytest.raises(errors.BadArgument, match="on Windows the argument version is required"):
        package.identify(setup_exe, 30, version, tool=tools.INSTALLER)
    assert host.ran == []


def test_a_file_that_is_no_windows_program_is_refused(host, tmp_path):
    bogus = tmp_path / "aliyun_agent_latest_setup.exe"
    bogus.write_text("<html>404</html>")
    with pytest.raises(errors.NotThePackage, match="is not a Windows program"):
        package.identify(str(bogus), 30, A, tool=tools.INSTALLER)


def test_what_windows_has_installed_is_the_clients_status():
    assert package.from_status(None) == NONE
    seen = SimpleNamespace(version=A)
    assert package.from_status(seen) == rpm_at(A) and package.from_status(seen).ok


# --- each tool's lock: waited for, then a clear error ---------------------------------------

LOCKS = {
    tools.DNF: (1, "Waiting for process with pid 812 to finish.\n", ""),
    tools.YUM: (
        1,
        "Existing lock /var/run/yum.pid: another copy is running as pid 812.\n"
        "Another app is currently holding the yum lock; waiting for it to exit...\n",
        "",
    ),
    tools.ZYPPER: (
        7,
        "",
        "System management is locked by the application with pid 812 (/usr/bin/zypper).\n"
        "Close this application before trying again.\n",
    ),
    tools.RPM: (1, "", "error: can't create transaction lock on /var/lib/rpm/.rpm.lock\n"),
}


@pytest.mark.parametrize("tool", list(LOCKS), ids=lambda tool: tool.name)
def test_a_held_lock_is_waited_for_then_the_install_runs(host, tool):
    plan = package.make_plan(A, NONE, path=F, running=False, tool=tool)
    host.answers = [LOCKS[tool], LOCKS[tool], (0, "Installed: aliyun_assist\n", "")]
    res = package.run_tool(plan, timeout=30, wait=30)
    assert res.retcode == 0
    assert host.ran == [CASES[tool][0]] * 3


@pytest.mark.parametrize("tool", list(LOCKS), ids=lambda tool: tool.name)
def test_a_lock_held_past_the_timeout_is_a_clear_error(host, tool):
    plan = package.make_plan(A, NONE, path=F, running=False, tool=tool)
    host.answers = [LOCKS[tool]] * 3
    with pytest.raises(
        errors.CommandFailed, match=f"another process holds {tool.name}'s lock"
    ) as c:
        package.run_tool(plan, timeout=30, wait=0)
    assert "nothing was changed" in str(c.value)
    assert c.value.output == LOCKS[tool][1] + LOCKS[tool][2] and c.value.host_said
    assert host.ran == [CASES[tool][0]]


def test_a_failure_that_is_no_lock_is_not_tried_again(host):
    plan = package.make_plan(A, NONE, path=F, running=False, tool=tools.ZYPPER)
    host.answers = [(8, "", "Problem: nothing provides libfoo needed by aliyun_assist\n")]
    assert package.run_tool(plan, timeout=30, wait=30).retcode == 8
    assert len(host.ran) == 1


# --- the check afterwards, whatever the tool ----------------------------------------------------


def status(version, running):
    return SimpleNamespace(version=version, running=running)


def test_verify_takes_rpms_word_and_the_running_client():
    plan = package.make_plan(A, NONE, path=F, running=False, tool=tools.DNF)
    done = CommandResult("dnf install -y " + F, 0, "Complete!\n", "")
    seen = package.verify(done, rpm_at(A), plan, read_status=lambda: status(A, True), wait=1)
    assert seen.version == A


def test_verify_fails_with_the_tools_words_and_advice():
    plan = package.make_plan(B, rpm_at(A), path=F, running=True, tool=tools.YUM)
    failed = CommandResult("yum install -y " + F, 1, "", "Error: Transaction check error\n")
    with pytest.raises(errors.CommandFailed, match="yum could not install aliyun_assist") as c:
        package.verify(failed, rpm_at(A), plan, read_status=lambda: status(A, True), wait=1)
    assert "`yum history` says what ran" in str(c.value)
    assert c.value.host_said == ("Error: Transaction check error",)


def test_verify_fails_when_rpm_q_disagrees():
    plan = package.make_plan(B, rpm_at(A), path=F, running=True, tool=tools.RPM)
    done = CommandResult("rpm -Uvh " + F, 0, "", "")
    with pytest.raises(errors.NotVerified, match=f"rpm -q says aliyun_assist is installed {A}"):
        package.verify(done, rpm_at(A), plan, read_status=lambda: status(B, True), wait=1)


def test_verify_fails_when_the_windows_client_does_not_run_at_the_version():
    plan = package.make_plan(B, rpm_at(A), path=EXE, running=True, tool=tools.INSTALLER)
    done = CommandResult(f"'{EXE}' /S", 0, "", "")
    with pytest.raises(errors.NotVerified, match=f"not running at {B}"):
        package.verify(done, rpm_at(B), plan, read_status=lambda: status(B, False), wait=0)


# --- removing -------------------------------------------------------------------------------------


REMOVALS = {
    tools.DPKG: ("env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "--purge", "aliyun-assist"),
    tools.DNF: ("dnf", "remove", "-y", "aliyun_assist"),
    tools.YUM: ("yum", "--setopt=exit_on_lock=True", "remove", "-y", "aliyun_assist"),
    tools.ZYPPER: ("zypper", "--non-interactive", "remove", "aliyun_assist"),
    tools.RPM: ("rpm", "-e", "aliyun_assist"),
}


@pytest.mark.parametrize("tool", list(REMOVALS), ids=lambda tool: tool.name)
def test_each_tool_removes_with_its_own_command(tool):
    plan = package.make_removal(rpm_at(A) if tool.kind == "rpm" else NONE, ("left",), tool=tool)
    assert (plan.action, plan.command, plan.tool) == ("remove", REMOVALS[tool], tool)
    shown = command_line(list(REMOVALS[tool]))
    if tool.kind == "rpm":
        assert plan.described(ran=False) == f"would remove aliyun_assist {A} with `{shown}`"
        assert plan.changes == {"version": {"old": A, "new": None}}
    nothing = package.make_removal(NONE, (), tool=tool)
    assert nothing.action == "none" and nothing.comment.startswith(f"{tool.package} is not")


@pytest.mark.parametrize("tool", [tools.DNF, tools.YUM, tools.ZYPPER, tools.RPM], ids=str)
def test_rpm_hosts_are_told_by_the_tool_for_a_removal(monkeypatch, tmp_path, tool):
    programs = {tools.DNF: ("dnf", "rpm"), tools.YUM: ("yum", "rpm")}.get(tool, (tool.name, "rpm"))
    for name in programs:
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setattr(tools, "search_path", lambda: str(tmp_path))
    monkeypatch.setattr(tools, "DPKG_STATUS", str(tmp_path / "no-dpkg-status"))
    assert package.host_tool(os_family="RedHat", action="remove") is tool


@pytest.mark.parametrize("tool", list(LOCKS), ids=lambda tool: tool.name)
def test_a_removal_waits_out_the_tools_lock_as_an_install_does(host, tool):
    plan = package.make_removal(rpm_at(A), (), tool=tool)
    host.answers = [LOCKS[tool], (0, "Removed: aliyun_assist\n", "")]
    assert package.run_tool(plan, timeout=30, wait=30).retcode == 0
    assert host.ran == [REMOVALS[tool]] * 2
    host.answers = [LOCKS[tool]] * 2
    with pytest.raises(errors.CommandFailed, match=f"another process holds {tool.name}'s lock"):
        package.run_tool(plan, timeout=30, wait=0)


def test_a_failed_removal_says_the_tools_words_and_advice():
    plan = package.make_removal(rpm_at(A), (), tool=tools.DNF)
    failed = CommandResult("dnf remove -y aliyun_assist", 1, "", "Error: scriptlet failed\n")
    with pytest.raises(errors.CommandFailed, match="dnf could not remove aliyun_assist") as c:
        package.verify_removed(failed, plan, read=lambda: (NONE, ()), wait=0)
    assert "`dnf history` says what ran" in str(c.value)
    assert c.value.host_said == ("Error: scriptlet failed",)


def test_what_rpm_still_holds_after_a_removal_is_named():
    plan = package.make_removal(rpm_at(A), (), tool=tools.ZYPPER)
    ok = CommandResult("zypper --non-interactive remove aliyun_assist", 0, "", "")
    with pytest.raises(errors.LeftBehind, match=f"the package aliyun_assist \\(installed {A}\\)"):
        package.verify_removed(ok, plan, read=lambda: (rpm_at(A), ()), wait=0)


def test_owners_are_read_with_rpm_qf_one_path_at_a_time(host):
    host.answers = [
        (0, "site-policy\n", ""),
        (1, "file /usr/local/share/aliyun-assist/config is not owned by any package\n", ""),
    ]
    paths = ("/etc/init.d/AssistDaemon", "/usr/local/share/aliyun-assist/config")
    assert package.owners(paths, 30, tool=tools.YUM) == {paths[0]: "site-policy"}
    assert host.ran == [("rpm", "-qf", "--queryformat", "%{NAME}\\n", path) for path in paths]
    assert tools.rpm_owners("a\nb\n") == ("a", "b")


def test_the_packages_files_are_listed_with_rpm_ql(host):
    host.answers = [(0, "/usr/local/share/aliyun-assist\n/usr/sbin/aliyun-service\n", "")]
    assert package.package_files(30, tool=tools.RPM) == (
        "/usr/local/share/aliyun-assist",
        "/usr/sbin/aliyun-service",
    )
    assert host.ran == [("rpm", "-ql", "aliyun_assist")]
    host.answers = [(1, "package aliyun_assist is not installed\n", "")]
    assert package.package_files(30, tool=tools.DNF) == ()
