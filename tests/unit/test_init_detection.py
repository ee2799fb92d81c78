"""Deciding the init system from evidence, most trusted first; the marker scan of /sbin/init."""

import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudassist_facts import MARKERS, decide_init_system, read_init_file, scan_markers

PID1_NSPAWN_SYSTEMD = {"comm": "systemd", "exe": "/usr/lib/systemd/systemd"}
PID1_INIT = {"comm": "init", "exe": "/sbin/init"}
PID1_LAUNCHER = {"comm": "process_api", "exe": "/usr/bin/process_api"}
PID1_SHELL = {"comm": "sh", "exe": "/bin/dash"}
PID1_HIDDEN = {"comm": None, "exe": None}


def init_file(*markers, target=None, problem=None):
    return {"path": "/sbin/init", "target": target, "markers": list(markers), "problem": problem}


def evidence(booted=False, pid1=PID1_INIT, initctl=None, init=None, script=False):
    return {
        "systemd_booted": booted,
        "pid1": pid1,
        "initctl": initctl,
        "init_file": init if init is not None else init_file(),
        "init_script": script,
    }


UPSTART = "initctl (upstart 1.12.1)\nCopyright (C) 2006-2014 Canonical Ltd.\n"

# evidence -> init system, and words the reason must contain
DECIDED = [
    ("systemd booted", evidence(True, PID1_NSPAWN_SYSTEMD, init=init_file("systemd")), "systemd", "/run/systemd/system"),
    ("booted beats markers", evidence(True, PID1_INIT, init=init_file("sysvinit")), "systemd", "/run/systemd/system"),
    ("PID 1 is systemd", evidence(False, PID1_NSPAWN_SYSTEMD), "systemd", "PID 1 is systemd"),
    ("upstart answers", evidence(pid1=PID1_INIT, initctl=UPSTART, init=init_file("upstart", "sysvinit")), "upstart", "initctl --version"),
    ("upstart beats a sysvinit marker", evidence(initctl=UPSTART, init=init_file("sysvinit")), "upstart", "upstart"),
    ("sysvinit marker", evidence(init=init_file("sysvinit")), "sysvinit", "sysvinit marker"),
    ("sysvinit marker, initctl not upstart", evidence(initctl="initctl 0.1 (other)", init=init_file("sysvinit")), "sysvinit", "sysvinit marker"),
    ("systemd installed, not running, init script", evidence(pid1=PID1_LAUNCHER, init=init_file("systemd", target="/lib/systemd/systemd"), script=True), "sysvinit", "/etc/init.d/aliyun-service exists"),
    ("upstart installed, not running, init script", evidence(pid1=PID1_SHELL, init=init_file("upstart"), script=True), "sysvinit", "neither systemd nor upstart is running"),
    ("no marker, init script", evidence(pid1=PID1_SHELL, init=init_file(problem="missing"), script=True), "sysvinit", "/sbin/init is missing"),
    ("two markers, init script", evidence(pid1=PID1_INIT, init=init_file("systemd", "sysvinit"), script=True), "sysvinit", "markers of systemd and sysvinit"),
]


@pytest.mark.parametrize("case,ev,expected,reason", DECIDED, ids=[d[0] for d in DECIDED])
def test_evidence_decides_the_init_system(case, ev, expected, reason):
    decision = decide_init_system(ev)
    assert decision["error"] is None
    assert decision["init_system"] == expected
    assert reason in decision["decided_by"]


# evidence -> an error that says what was found
REFUSED = [
    ("systemd installed but not running (this build machine)", evidence(pid1=PID1_LAUNCHER, init=init_file("systemd", target="/usr/lib/systemd/systemd")),
     ["systemd is installed (/sbin/init -> /usr/lib/systemd/systemd) but not running", "PID 1 is 'process_api' (/usr/bin/process_api)", "no /etc/init.d/aliyun-service"]),
    ("container: PID 1 is a shell", evidence(pid1=PID1_SHELL, init=init_file("systemd")),
     ["systemd is installed", "PID 1 is 'sh' (/bin/dash)"]),
    ("upstart installed but initctl silent", evidence(pid1=PID1_INIT, init=init_file("upstart")),
     ["upstart is installed", "but not running"]),
    ("/sbin/init missing", evidence(pid1=PID1_SHELL, init=init_file(problem="missing")),
     ["cannot be told", "/sbin/init is missing", "PID 1 is 'sh'"]),
    ("/sbin/init dangling", evidence(pid1=PID1_SHELL, init=init_file(problem="a dangling link to /lib/systemd/systemd")),
     ["/sbin/init is a dangling link to /lib/systemd/systemd"]),
    ("/sbin/init unreadable", evidence(pid1=PID1_HIDDEN, init=init_file(problem="unreadable: Permission denied")),
     ["unreadable: Permission denied", "PID 1 cannot be read from /proc"]),
    ("no marker at all", evidence(pid1=PID1_INIT, init=init_file()),
     ["carries none of the markers /lib/system, upstart, sysvinit"]),
    ("two markers, nothing running", evidence(pid1=PID1_INIT, init=init_file("systemd", "sysvinit")),
     ["ambiguous", "markers of systemd and sysvinit"]),
]


@pytest.mark.parametrize("case,ev,words", REFUSED, ids=[r[0] for r in REFUSED])
def test_doubtful_evidence_is_an_error_that_says_what_was_found(case, ev, words):
    decision = decide_init_system(ev)
    assert decision["init_system"] is None
    for word in words + ["cloudassist:init_system"]:
        assert word in decision["error"]


@pytest.mark.parametrize("override", ["systemd", "upstart", "sysvinit"])
def test_the_config_override_wins(override):
    decision = decide_init_system(evidence(True, PID1_NSPAWN_SYSTEMD), override=override)
    assert decision == {"init_system": override, "decided_by": "the config key cloudassist:init_system", "error": None}


@pytest.mark.parametrize("override", ["openrc", "windows", "", "SYSTEMD", 1, ["systemd"]])
def test_an_invalid_override_lists_the_valid_ones(override):
    decision = decide_init_system(evidence(), override=override)
    assert decision["init_system"] is None
    assert "valid values: systemd, upstart, sysvinit" in decision["error"]


# --- the marker scan, on real files ----------------------------------------------------


def test_markers_in_a_real_file(tmp_path):
    path = tmp_path / "init"
    path.write_bytes(b"\x7fELF\x00" * 1000 + b"/lib/systemd/systemd\x00" + b"\x00" * 1000)
    assert read_init_file(str(path))["markers"] == ["systemd"]


@pytest.mark.parametrize("offset", range(1, 11))
def test_a_marker_split_across_read_chunks_is_found(tmp_path, offset):
    path = tmp_path / "init"
    chunk = 64
    path.write_bytes(b"x" * (chunk - offset) + b"sysvinit" + b"x" * 100)
    assert read_init_file(str(path), chunk_size=chunk)["markers"] == ["sysvinit"]


def test_a_link_is_followed_and_named(tmp_path):
    target = tmp_path / "upstart-init"
    target.write_bytes(b"..upstart..")
    link = tmp_path / "init"
    link.symlink_to(target)
    result = read_init_file(str(link))
    assert result["markers"] == ["upstart"] and result["target"] == str(target)


def test_missing_and_dangling(tmp_path):
    assert read_init_file(str(tmp_path / "nothing"))["problem"] == "missing"
    link = tmp_path / "init"
    link.symlink_to(tmp_path / "gone")
    assert read_init_file(str(link))["problem"] == "a dangling link to {}".format(tmp_path / "gone")


def test_a_directory_or_fifo_is_not_read(tmp_path):
    assert read_init_file(str(tmp_path))["problem"] == "not a regular file"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = []
    reader = threading.Thread(target=lambda: done.append(read_init_file(str(fifo))), daemon=True)
    reader.start()
    reader.join(5)
    assert done and done[0]["problem"] == "not a regular file", "reading a FIFO must not block"


def test_a_large_binary_without_markers(tmp_path):
    path = tmp_path / "init"
    with open(path, "wb") as handle:
        for _ in range(40):
            handle.write(os.urandom(1 << 20).replace(b"/", b"_").replace(b"u", b"U").replace(b"s", b"S"))
    result = read_init_file(str(path))
    assert result["markers"] == [] and result["problem"] is None


def test_reading_stops_at_the_limit_and_says_so(tmp_path):
    path = tmp_path / "init"
    path.write_bytes(b"\x00" * 4096 + b"sysvinit")
    result = read_init_file(str(path), chunk_size=1024, max_bytes=2048)
    assert result["markers"] == []
    assert result["problem"] == "only the first 2048 bytes were scanned"


# --- property: the chunked scan agrees with a search of the whole ----------------------

MARKER_BYTES = [m for m, _ in MARKERS]


@settings(max_examples=300)
@given(
    parts=st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(MARKER_BYTES)), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=20),
)
def test_chunked_scan_equals_whole_search(parts, cuts):
    data = b"".join(parts)
    bounds = sorted({0, len(data), *[c for c in cuts if c <= len(data)]})
    chunks = [data[a:b] for a, b in zip(bounds, bounds[1:])]
    expected = [name for marker, name in MARKERS if marker in data]
    assert scan_markers(chunks) == expected
