"""The process table and the command runner, on real processes of this machine."""

import os
import subprocess
import sys
import time

import pytest

import _cloudassist_errors as errors
import standin
from _cloudassist_facts import classify_watchdog, client_pids, processes, which
from _cloudassist_records import CommandResult
from _cloudassist_run import run


@pytest.fixture
def client(tmp_path):
    path = standin.install_client(tmp_path / "aliyun-service", "2.2.3.578")
    procs = []

    def spawn(*args):
        proc = subprocess.Popen([str(path), *args])
        procs.append(proc)
        return proc

    yield str(path), spawn
    for proc in procs:
        proc.kill()
        proc.wait()


def _argv(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def named(name):
    """Pids of live processes called ``name`` (by comm or executable)."""
    return [proc.pid for proc in processes({name})]


def wait_until(predicate, seconds=5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_running_client_is_found_by_its_binary(client):
    path, spawn = client
    assert client_pids(path) == []
    proc = spawn()
    assert wait_until(lambda: client_pids(path) == [proc.pid])
    proc.terminate()
    proc.wait()
    assert client_pids(path) == []


def test_a_client_from_another_binary_is_not_counted(client, tmp_path):
    path, spawn = client
    other = standin.install_client(tmp_path / "other" / "aliyun-service")
    proc = subprocess.Popen([str(other)])
    try:
        assert wait_until(lambda: client_pids(str(other)) == [proc.pid])
        assert client_pids(path) == []
    finally:
        proc.kill()
        proc.wait()


def test_a_version_probe_is_not_a_running_client(tmp_path):
    path = standin.install_client(tmp_path / "aliyun-service", hang_on_version=True)
    proc = subprocess.Popen([str(path), "-v"])
    try:
        assert wait_until(lambda: "-v" in _argv(proc.pid))  # exec done, arguments in place
        assert client_pids(str(path)) == []
    finally:
        proc.kill()
        proc.wait()


def test_a_zombie_is_not_running(client):
    path, spawn = client
    proc = spawn()
    assert wait_until(lambda: client_pids(path) == [proc.pid])
    os.kill(proc.pid, 9)
    # not reaped yet: the process is a zombie until wait()
    assert wait_until(lambda: client_pids(path) == [])
    proc.wait()


@pytest.fixture
def watchdog(tmp_path):
    """A running stand-in watchdog (it never gets to start anything) and its binary."""
    path = standin.install_watchdog(
        tmp_path / "wd" / "assist_daemon",
        ["/bin/true"],
        tmp_path / "wd.pid",
        tmp_path / "client.pid",
        delay=3600,
    )
    proc = subprocess.Popen([str(path)])
    assert wait_until(lambda: (tmp_path / "wd.pid").exists())
    yield str(path), proc
    proc.kill()
    proc.wait()


def test_the_watchdog_is_its_binary_running_here(watchdog, tmp_path):
    path, proc = watchdog
    # other suites may run watchdogs of their own meanwhile: only this test's pid is looked at
    pids, others, here = classify_watchdog(path)
    assert proc.pid not in [p.pid for p in here]
    assert proc.pid in pids and proc.pid not in [p.pid for p, _ in others]
    # through a link to it, as a configured path may be
    link = tmp_path / "link-to-assist_daemon"
    link.symlink_to(path)
    assert classify_watchdog(str(link))[0] == [proc.pid]


def test_a_watchdog_of_another_binary_is_named_not_counted(watchdog):
    path, proc = watchdog
    pids, others, here = classify_watchdog("/usr/local/share/assist-daemon/assist_daemon")
    assert proc.pid in [p.pid for p in here]
    assert proc.pid not in pids
    why = dict((p.pid, why) for p, why in others)[proc.pid]
    watchdog = "/usr/local/share/assist-daemon/assist_daemon"
    assert why == f"its executable is {path}, not the watchdog {watchdog}"


def test_a_watchdog_started_from_the_target_of_the_configured_link_is_found(tmp_path):
    """The configured path is a link to a file of another name; the process, started from
    that file, shows the target's name."""
    target = standin.install_watchdog(
        tmp_path / "assist_daemon_v2",
        ["/bin/true"],
        tmp_path / "wd.pid",
        tmp_path / "client.pid",
        delay=3600,
    )
    link = tmp_path / "assist_daemon"
    link.symlink_to(target.name)
    proc = subprocess.Popen([str(target)])
    try:
        assert wait_until(lambda: (tmp_path / "wd.pid").exists())
        assert proc.pid in classify_watchdog(str(link))[0]
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("call", ["--stop", "--delete"])
def test_a_call_of_the_watchdog_binary_is_not_a_running_watchdog(tmp_path, call):
    path = standin.install_client(tmp_path / "assist_daemon", hang_on_version=True)
    proc = subprocess.Popen([str(path), "-v", call])
    try:
        # until exec has set up its arguments, /proc shows the new name with no argv yet
        assert wait_until(lambda: call in _argv(proc.pid))
        pids, others, _ = classify_watchdog(str(path))
        assert proc.pid not in pids + [p.pid for p, _ in others]
    finally:
        proc.kill()
        proc.wait()


def test_run_returns_code_and_output():
    res = run(
        [
            sys.executable,
            "-c",
            "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)",
        ],
        10,
    )
    assert res == CommandResult(res.command, 3, "out\n", "err\n")
    assert res.output == "out\nerr"
    assert res.command.endswith(
        "-c 'import sys; print('\"'\"'out'\"'\"'); "
        "print('\"'\"'err'\"'\"', file=sys.stderr); sys.exit(3)'"
    )


@pytest.mark.parametrize("argv", ["echo hi", b"echo", [], ["echo", 1], ("echo", None), None])
def test_run_takes_an_argument_list_only(argv):
    with pytest.raises(TypeError, match="list of strings only"):
        run(argv, 5)


def test_a_hung_command_is_killed_with_its_children(tmp_path):
    path = standin.install_client(tmp_path / "aliyun-service", hang_on_version=True)
    started = time.monotonic()
    with pytest.raises(
        errors.TimedOut,
        match=r"did not finish within 1 seconds and was killed.*cloudassist:timeout",
    ) as raised:
        run([str(path), "-v"], 1)
    assert (raised.value.command, raised.value.timeout) == (f"{path} -v", 1)
    assert time.monotonic() - started < 5
    assert wait_until(
        lambda: (
            not named("aliyun-service")
            or all(
                str(path) not in open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace")
                for p in named("aliyun-service")
            )
        )
    )


def test_a_daemon_holding_stdout_does_not_make_run_wait(tmp_path):
    script = tmp_path / "start"
    script.write_text("#!/bin/sh\nsleep 4 &\necho started\n")
    script.chmod(0o755)
    started = time.monotonic()
    res = run([str(script)], 20)
    assert res.retcode == 0 and res.stdout == "started\n"
    assert time.monotonic() - started < 3


def test_missing_and_not_executable_programs(tmp_path):
    with pytest.raises(errors.CannotRun, match="does not exist") as raised:
        run([str(tmp_path / "nothing"), "-v"], 5)
    assert raised.value.command == f"{tmp_path / 'nothing'} -v"
    plain = tmp_path / "plain"
    plain.write_text("#!/bin/sh\n")
    with pytest.raises(errors.CannotRun, match=r"is present but not executable \(mode 644\)"):
        run([str(plain)], 5)
    assert which(str(plain)) is None
    assert which("sh") and which("/bin/sh") == "/bin/sh"
