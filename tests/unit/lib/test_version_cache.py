"""``_modules/_cloudassist_version_cache.py``: the cache file itself. What is not exactly a
private file this module wrote is never trusted, writes are atomic under concurrent jobs, and
a binary that moved while its ``-v`` ran is not kept.  (The host's use of it, with real
stand-in clients: ``test_host_version_cache.py``.)

The binaries here are links to old system files (``/usr/bin/env``, ``/usr/bin/true``), settled
long ago: ``read`` only stats them, and the version comes from the callable it is given.
"""

import json
import os
import stat
import subprocess
import sys

import pytest

import _cloudassist_version_cache as version_cache

ENV, TRUE = os.path.realpath("/usr/bin/env"), os.path.realpath("/usr/bin/true")


@pytest.fixture
def link(tmp_path):
    path = tmp_path / "sbin" / "aliyun-service"
    path.parent.mkdir()
    path.symlink_to(ENV)
    return path


def switch(link, target):
    tmp = link.with_name(".switch")
    tmp.symlink_to(target)
    os.replace(tmp, link)


class Reader:
    """A version read that counts its calls, and may do something while it runs."""

    def __init__(self, version="2.2.3.578", during=None):
        self.version, self.during, self.calls = version, during, 0

    def __call__(self):
        self.calls += 1
        if self.during:
            self.during()
        return self.version


def test_kept_and_found_again(link, tmp_path):
    folder = tmp_path / "cache"
    reader = Reader()
    assert version_cache.read(str(folder), str(link), reader) == "2.2.3.578"
    assert version_cache.read(str(folder), str(link), reader) == "2.2.3.578"
    assert reader.calls == 1
    entry = json.loads((folder / version_cache.FILE).read_text())
    assert entry["target"] == ENV and entry["link"] == str(link)


def test_the_file_and_its_folder_are_private(link, tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    old = os.umask(0)
    try:
        version_cache.read(str(folder), str(link), Reader())
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder / version_cache.FILE).st_mode) == 0o600
    assert os.listdir(folder) == [version_cache.FILE]  # no temporary file left


def test_a_binary_that_moved_while_v_ran_is_not_kept(link, tmp_path):
    folder = tmp_path / "cache"
    moving = Reader(during=lambda: switch(link, TRUE))
    assert version_cache.read(str(folder), str(link), moving) == "2.2.3.578"
    assert not (folder / version_cache.FILE).exists()


def test_a_failed_read_is_raised_and_not_kept(link, tmp_path):
    folder = tmp_path / "cache"

    def failing():
        raise RuntimeError("-v failed")

    with pytest.raises(RuntimeError):
        version_cache.read(str(folder), str(link), failing)
    assert not folder.exists()


def test_a_missing_binary_is_read_as_ever(tmp_path):
    reader = Reader()
    missing = str(tmp_path / "nowhere")
    assert version_cache.read(str(tmp_path / "cache"), missing, reader) == "2.2.3.578"
    assert not (tmp_path / "cache").exists()


def _kept(link, folder):
    version_cache.read(str(folder), str(link), Reader())
    return folder / version_cache.FILE


def _lookup(link, folder):
    return version_cache.lookup(str(folder / version_cache.FILE), version_cache.key_of(str(link)))


def test_a_file_of_another_user_is_not_trusted(link, tmp_path):
    path = _kept(link, tmp_path / "cache")
    assert _lookup(link, tmp_path / "cache") == "2.2.3.578"
    os.chown(path, 65534, 65534)
    assert _lookup(link, tmp_path / "cache") is None


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_file_others_may_read_or_write_is_not_trusted(link, tmp_path, mode):
    path = _kept(link, tmp_path / "cache")
    os.chmod(path, mode)
    assert _lookup(link, tmp_path / "cache") is None


def test_a_link_in_place_of_the_file_is_not_followed_and_is_replaced(link, tmp_path):
    elsewhere = _kept(link, tmp_path / "elsewhere")
    before = elsewhere.read_bytes()
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    (folder / version_cache.FILE).symlink_to(elsewhere)
    assert _lookup(link, folder) is None
    version_cache.read(str(folder), str(link), Reader("2.2.4.1065"))
    assert not (folder / version_cache.FILE).is_symlink()
    assert elsewhere.read_bytes() == before


def test_a_folder_in_place_of_the_file_is_ignored(link, tmp_path):
    folder = tmp_path / "cache"
    (folder / version_cache.FILE).mkdir(parents=True)
    reader = Reader()
    for _ in range(2):
        assert version_cache.read(str(folder), str(link), reader) == "2.2.3.578"
    assert reader.calls == 2


def test_a_folder_that_is_a_link_is_not_written_through(link, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "cache").symlink_to(real)
    version_cache.read(str(tmp_path / "cache"), str(link), Reader())
    assert os.listdir(real) == []


HAMMER = """
import os, sys
import _cloudassist_version_cache as version_cache
folder, link, version, rounds = sys.argv[1:]
key = version_cache.key_of(link)
for _ in range(int(rounds)):
    version_cache.store(os.path.join(folder, version_cache.FILE), key, version)
"""


def test_concurrent_jobs_leave_a_whole_entry(tmp_path):
    """Jobs writing at once (two binaries, as during a link switch): every read sees one
    writer's whole entry or none, never a mixture, and nothing is left behind."""
    folder = tmp_path / "cache"
    links = {}
    for name, target, version in (("a", ENV, "2.2.3.578"), ("b", TRUE, "2.2.4.1065")):
        (tmp_path / name).symlink_to(target)
        links[name] = (str(tmp_path / name), version)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(version_cache.__file__))
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, str(folder), *links["ab"[i % 2]], "300"], env=env
        )
        for i in range(4)
    ]
    seen = set()
    path = folder / version_cache.FILE
    while any(proc.poll() is None for proc in writers):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        entry = json.loads(data)  # whole, or this fails
        seen.add((entry["link"], entry["version"]))
        for link, version in links.values():
            assert version_cache.lookup(str(path), version_cache.key_of(link)) in (None, version)
    for proc in writers:
        assert proc.wait() == 0
    assert seen <= set(links.values()) and seen
    assert os.listdir(folder) == [version_cache.FILE]
    entry = json.loads(path.read_text())
    assert (entry["link"], entry["version"]) in links.values()
