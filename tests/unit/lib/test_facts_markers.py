"""``_modules/_cloudassist_facts.py``: what files tell of the init system: the marker scan of
/sbin/init, on real files, and upstart's control socket."""

import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import _cloudassist_facts as facts
from _cloudassist_facts import MARKERS, read_init_file, scan_markers

# --- the marker scan, on real files ----------------------------------------------------


def test_markers_in_a_real_file(tmp_path):
    path = tmp_path / "init"
    path.write_bytes(b"\x7fELF\x00" * 1000 + b"/lib/systemd/systemd\x00" + b"\x00" * 1000)
    assert read_init_file(str(path)).markers == ("systemd",)


@pytest.mark.parametrize("offset", range(1, 11))
def test_a_marker_split_across_read_chunks_is_found(tmp_path, offset):
    path = tmp_path / "init"
    chunk = 64
    path.write_bytes(b"x" * (chunk - offset) + b"sysvinit" + b"x" * 100)
    assert read_init_file(str(path), chunk_size=chunk).markers == ("sysvinit",)


def test_a_link_is_followed_and_named(tmp_path):
    target = tmp_path / "upstart-init"
    target.write_bytes(b"..upstart..")
    link = tmp_path / "init"
    link.symlink_to(target)
    result = read_init_file(str(link))
    assert result.markers == ("upstart",) and result.target == str(target)


def test_missing_and_dangling(tmp_path):
    assert read_init_file(str(tmp_path / "nothing")).problem == "missing"
    link = tmp_path / "init"
    link.symlink_to(tmp_path / "gone")
    assert read_init_file(str(link)).problem == "a dangling link to {}".format(tmp_path / "gone")


def test_a_directory_or_fifo_is_not_read(tmp_path):
    assert read_init_file(str(tmp_path)).problem == "not a regular file"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = []
    reader = threading.Thread(target=lambda: done.append(read_init_file(str(fifo))), daemon=True)
    reader.start()
    reader.join(5)
    assert done and done[0].problem == "not a regular file", "reading a FIFO must not block"


def test_a_large_binary_without_markers(tmp_path):
    path = tmp_path / "init"
    with open(path, "wb") as handle:
        for _ in range(40):
            handle.write(
                os.urandom(1 << 20).replace(b"/", b"_").replace(b"u", b"U").replace(b"s", b"S")
            )
    result = read_init_file(str(path))
    assert result.markers == () and result.problem is None


def test_reading_stops_at_the_limit_and_says_so(tmp_path):
    path = tmp_path / "init"
    path.write_bytes(b"\x00" * 4096 + b"sysvinit")
    result = read_init_file(str(path), chunk_size=1024, max_bytes=2048)
    assert result.markers == ()
    assert result.problem == "only the first 2048 bytes were scanned"


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
    chunks = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    expected = [name for marker, name in MARKERS if marker in data]
    assert scan_markers(chunks) == expected


# --- upstart's control socket ---------------------------------------------------------------


def test_upstart_is_told_by_its_control_socket(tmp_path):
    table = tmp_path / "unix"
    table.write_text(
        "Num       RefCount Protocol Flags    Type St Inode Path\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 9310 @/com/ubuntu/upstart\n"
    )
    assert (
        facts.upstart_listening(str(table))
        == "upstart (its control socket @/com/ubuntu/upstart is listening)"
    )
    table.write_text(
        "0000000000000000: 00000002 00000000 00010000 0001 01 9310 /run/systemd/private\n"
    )
    assert facts.upstart_listening(str(table)) is None
    assert facts.upstart_listening(str(tmp_path / "missing")) is None
