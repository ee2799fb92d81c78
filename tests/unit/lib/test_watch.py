"""``_modules/_cloudassist_watch.py``, the beacon's helper: the change between two polls (pure),
and a poll's snapshot from the process table and the install's files."""

import os
import shutil
import subprocess

import pytest

import _cloudassist_watch as watch
import standin
from _cloudassist_records import Process

from .helpers import BINARY, snap, tags, wait_until

Snapshot = watch.Snapshot


# --- changes: the pure decision ---------------------------------------------------------------


@pytest.mark.parametrize(
    "before,after,expected",
    [
        (snap([100]), snap([]), ["stopped"]),
        (snap([]), snap([200]), ["started"]),
        (snap([100]), snap([200]), ["restarted"]),
        (snap([100]), snap([100, 200]), ["restarted"]),
        (snap([100, 200]), snap([200, 100]), []),
        (snap([100]), snap([100]), []),
        (snap([]), snap([]), []),
        (snap([100]), snap([100], version="2.2.4.1065", running_version="2.2.3.578"), ["version"]),
        (snap([]), snap([], version="2.2.4.1065"), ["version"]),
        (snap([100]), snap([200], version="2.2.4.1065"), ["restarted", "version"]),
        (snap([100]), snap([], version=None, installed=False), ["stopped", "version"]),
        (snap([], version=None, installed=False), snap([], version="2.2.3.578"), ["version"]),
        # the running client moved to the new folder, the install had already changed: a restart
        (
            snap([100], version="2.2.4.1065", running_version="2.2.3.578"),
            snap([200], version="2.2.4.1065"),
            ["restarted"],
        ),
    ],
)
def test_changes(before, after, expected):
    events = watch.changes(before, after)
    assert tags(events) == expected
    for event in events:
        assert event["changes"] == expected


def test_an_event_carries_both_polls():
    before = snap([100], version="2.2.4.1065", running_version="2.2.3.578")
    after = snap([], version="2.2.4.1065")
    (event,) = watch.changes(before, after)
    assert event == {
        "tag": "stopped",
        "changes": ["stopped"],
        "running": False,
        "pids": [],
        "pids_before": [100],
        "version": "2.2.4.1065",
        "version_before": "2.2.4.1065",
        "running_version": None,
        "running_version_before": "2.2.3.578",
        "installed": True,
        "binary": BINARY,
        "leftovers": [],
    }


def test_a_stop_event_names_what_the_client_left_running():
    left = (Process(300, "aliyun_assist_u", "/x/2.2.3.578/aliyun_assist_update", ("u",)),)
    (event,) = watch.changes(snap([100]), snap([]), left)
    assert event["leftovers"] == [{"pid": 300, "exe": left[0].exe, "cmdline": ["u"]}]
    assert watch.stopped(snap([100]), snap([])) and not watch.stopped(snap([]), snap([100]))


def test_leftovers_are_the_programs_of_the_install_folder_but_the_client(tmp_path):
    """Real processes: a copy of ``sleep`` as the updater in the client's version folder, and
    one as the client itself."""
    version = tmp_path / "aliyun-assist" / "2.2.3.578"
    version.mkdir(parents=True)
    started = []
    for name in ("aliyun_assist_update", "aliyun-service"):
        shutil.copy(shutil.which("sleep"), version / name)
        started.append(subprocess.Popen([str(version / name), "300"]))
    try:
        assert wait_until(
            lambda: all(
                os.path.realpath(f"/proc/{p.pid}/exe").startswith(str(version)) for p in started
            )
        )
        found = watch.leftovers(str(version / "aliyun-service"))
        assert [proc.pid for proc in found] == [started[0].pid]
        assert found[0].exe == str(version / "aliyun_assist_update")
    finally:
        for proc in started:
            proc.kill()
            proc.wait()


def test_startup_reports_what_the_first_poll_found():
    (event,) = watch.startup(snap([100]))
    assert event["tag"] == "startup" and event["changes"] == ["startup"]
    assert event["running"] is True and event["pids"] == [100] and event["version"] == "2.2.3.578"
    assert event["pids_before"] is None and event["version_before"] is None


# --- snapshot: facts from the process table and the install's files ------------------------------


class FakeProc:
    """``client_pids_by_exe`` and ``process`` over a made-up process table ({pid: exe})."""

    def __init__(self, monkeypatch, table):
        self.table = table
        self.asked = []
        monkeypatch.setattr(watch.facts, "client_pids_by_exe", self.client_pids_by_exe)
        monkeypatch.setattr(watch.facts, "process", self.process)

    def client_pids_by_exe(self, binary):
        self.asked.append(binary)
        real = os.path.realpath(binary)
        install = watch.facts.install_of(binary)
        pids = [
            pid
            for pid, exe in self.table.items()
            if exe == real or watch.facts.is_client_exe(exe, install)
        ]
        return sorted(pids)

    def process(self, pid):
        exe = self.table.get(pid)
        return watch.facts.Process(pid, "aliyun-service", exe, (exe,)) if exe else None


def _install(root, version):
    """The vendor's layout under ``root``; called again, a self-update (the old folder stays)."""
    folder = root / "usr/local/share/aliyun-assist"
    binary = folder / version / "aliyun-service"
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_text("client")
    sbin = root / "usr/sbin" / "aliyun-service"
    sbin.parent.mkdir(parents=True, exist_ok=True)
    if sbin.is_symlink():
        sbin.unlink()
    sbin.symlink_to(binary)
    (folder / "version").write_text(version + "\n")
    return binary, sbin


def test_snapshot_after_a_self_update_the_client_still_runs_the_old_folder(tmp_path, monkeypatch):
    old, link = _install(tmp_path, "2.2.3.578")
    new, _ = _install(tmp_path, "2.2.4.1065")
    proc = FakeProc(monkeypatch, {4242: str(old), 999: "/usr/bin/other"})
    assert watch.snapshot(str(link)) == Snapshot(
        str(link), True, (4242,), "2.2.4.1065", "2.2.3.578"
    )
    assert proc.asked == [str(link)]
    # a second copy from the new folder: the newest running version counts
    FakeProc(monkeypatch, {4242: str(old), 5000: str(new)})
    assert watch.snapshot(str(link)) == Snapshot(
        str(link), True, (4242, 5000), "2.2.4.1065", "2.2.4.1065"
    )


def test_snapshot_a_standard_binary_outside_a_version_folder_reads_the_vendors_version_file(
    tmp_path, monkeypatch
):
    folder = tmp_path / "usr/local/share/aliyun-assist"
    folder.mkdir(parents=True)
    (folder / "version").write_text("2.2.4.1065\n")
    binary = tmp_path / "usr/sbin/aliyun-service"
    binary.parent.mkdir(parents=True)
    binary.write_text("client")
    FakeProc(monkeypatch, {77: str(binary)})
    assert watch.snapshot(str(binary)) == Snapshot(str(binary), True, (77,), None, None)
    monkeypatch.setitem(watch.INSTALL_ROOTS, str(binary), str(folder))
    assert watch.snapshot(str(binary)) == Snapshot(str(binary), True, (77,), "2.2.4.1065", None)
    (folder / "version").write_text("unknown\n")
    assert watch.snapshot(str(binary)).version is None


def test_snapshot_of_a_missing_client(tmp_path, monkeypatch):
    FakeProc(monkeypatch, {})
    missing = str(tmp_path / "usr/sbin/aliyun-service")
    assert watch.snapshot(missing) == Snapshot(missing, False, (), None, None)
    assert watch.snapshot(missing).running is False


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2.2.3.578\n", "2.2.3.578"),
        ("  02.2.3.578  ", "2.2.3.578"),
        ("", None),
        ("latest\n", None),
        ("2.2.3.578\n2.2.4.1065\n", None),
    ],
)
def test_read_version_file(tmp_path, text, expected):
    path = tmp_path / "version"
    path.write_text(text)
    assert watch.read_version_file(str(path)) == expected
    assert watch.read_version_file(str(tmp_path / "missing")) is None


def test_every_standard_binary_has_its_install_folder():
    assert tuple(watch.INSTALL_ROOTS) == watch.facts.LINUX_BINARIES


# --- quiet polls: nothing changed, told cheaply, with real processes --------------------------


@pytest.fixture
def client(tmp_path):
    """A stand-in client in the vendor's layout, running; ``client.start()`` starts one more."""
    install = standin.install_versioned_client(tmp_path, "2.2.3.578", relative_link=True)
    started = []

    def start(argv=None):
        proc = subprocess.Popen(argv or [str(install.link)], start_new_session=True)
        started.append(proc)
        assert wait_until(lambda: os.path.exists(f"/proc/{proc.pid}/exe"))
        assert wait_until(lambda: proc.pid in watch.facts.client_pids(str(install.link)) or argv)
        return proc

    start.install = install
    start.binary = str(install.link)
    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def full(binary, now=0.0):
    last_pid = watch.last_pid()
    after = watch.snapshot(binary)
    return after, watch.seen(after, last_pid=last_pid, at=now)


def test_the_exe_scan_finds_exactly_what_classify_counts(client, tmp_path):
    running = client()
    # a look-alike by name only: another program called aliyun-service
    other = tmp_path / "elsewhere" / "aliyun-service"
    other.parent.mkdir()
    shutil.copy(shutil.which("sleep"), other)
    client([str(other), "300"])
    pids, others = watch.facts.classify(client.binary)
    assert pids == [running.pid] and others
    assert watch.facts.client_pids_by_exe(client.binary) == pids


def test_a_quiet_poll_sees_the_same_client_without_reading_the_table(client, monkeypatch):
    proc = client()
    before, last = full(client.binary)
    assert before.pids == (proc.pid,)
    scans = []
    monkeypatch.setattr(watch.facts, "client_pids_by_exe", lambda b: scans.append(b) or [])
    after, again = watch.quiet(before, last, client.binary, now=1.0)
    assert after == before and scans == [] and watch.changes(before, after) == []
    assert again.last_pid >= last.last_pid and again.at == last.at


def test_a_quiet_poll_cannot_hide_a_stop_a_restart_a_new_copy_or_an_update(client):
    proc = client()
    before, last = full(client.binary)
    # a second copy started since: its pid is new and has the client's name
    second = client()
    assert watch.quiet(before, last, client.binary, now=1.0) is None
    second.kill()
    second.wait()
    before, last = full(client.binary)
    # the client ended
    proc.kill()
    proc.wait()
    assert watch.quiet(before, last, client.binary, now=1.0) is None
    # a self-update: the version is read again on a quiet poll
    proc = client()
    before, last = full(client.binary)
    standin.install_versioned_client(
        client.install.link.parents[2], "2.2.4.1065", relative_link=True
    )
    after, _ = watch.quiet(before, last, client.binary, now=1.0)
    assert after.version == "2.2.4.1065"
    assert [event["tag"] for event in watch.changes(before, after)] == ["version"]
    # and at least every FULL_EVERY seconds, the whole table
    assert watch.quiet(before, last, client.binary, now=watch.FULL_EVERY) is None


def test_a_quiet_poll_reads_the_table_when_too_many_processes_started(client):
    client()
    before, last = full(client.binary)
    last = last._replace(last_pid=last.last_pid - watch.NEW_PIDS_MAX - 1)
    assert watch.quiet(before, last, client.binary, now=1.0) is None


def test_a_client_that_exited_unreaped_is_stopped_for_a_quiet_poll(client):
    """A zombie keeps its pid and start time until reaped: it is no longer the client."""
    proc = client()
    before, last = full(client.binary)
    os.kill(proc.pid, 15)
    assert wait_until(lambda: watch.facts.start_time(proc.pid) is None)
    assert os.path.exists(f"/proc/{proc.pid}/stat")  # not reaped yet: a zombie
    assert watch.quiet(before, last, client.binary, now=1.0) is None
