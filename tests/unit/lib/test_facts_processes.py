"""``_modules/_cloudassist_facts.py``: the process table (the client and the watchdog found by
their executables), on real processes of this machine."""

import os
import subprocess

import pytest

import standin
from _cloudassist_facts import classify_watchdog, client_pids

from .helpers import wait_until


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
    path = standin.install_idle_watchdog(tmp_path / "wd" / "assist_daemon", tmp_path)
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
    target = standin.install_idle_watchdog(tmp_path / "assist_daemon_v2", tmp_path)
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
