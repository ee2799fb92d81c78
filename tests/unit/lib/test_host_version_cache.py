"""``LinuxHost``'s version read through the version cache (``_cloudassist_version_cache``), with
real stand-in clients laid out as the vendor's package lays them out: a second call spawns no
``-v``, and no change of the binary (a self-update, a copy over it, a link switch) can get the
old answer back.  Spawns are counted at ``_cloudassist_run.run``, the one place cloudassist
starts a program; the programs still really run.

The cache keeps nothing for a binary changed in the last ``SETTLED_NS`` (2 s), so the installs
the tests start from are all made at once by one fixture and left to settle once.
"""

import json
import os
import shutil
import time

import pytest

import _cloudassist_errors as errors
import _cloudassist_host as hosts
import _cloudassist_run as run
import _cloudassist_version_cache as version_cache
import standin

OLD = "2.2.3.578"
NEW = "2.2.4.1065"
# Knobs of the installs whose -v fails: none of their answers may be kept.
FAILING = {
    "exits_1": dict(version_exit=1),
    "no_version": dict(version=None),
    "several_versions": dict(extra_versions="2.2.4.1065"),
}
COPIES = ("cp", "cp-p")
PLAIN = ("hit", "status", "self_update", *COPIES, "link_switch", "corrupt", "off", "bad_flag")


def _build(trailer):
    """Another build of the stand-in: the same program with ``trailer`` appended (an ELF
    executable runs the same with bytes after its sections)."""
    return standin.client_binary().read_bytes() + trailer


@pytest.fixture(scope="module")
def aged(tmp_path_factory):
    """``{name: ClientInstall}``: a client (version OLD) per test, settled once for all."""
    base = tmp_path_factory.mktemp("aged")
    installs = {
        name: standin.install_versioned_client(base / name, OLD, relative_link=True)
        for name in PLAIN
    }
    for name, knobs in FAILING.items():
        installs[name] = standin.install_versioned_client(base / name, OLD, relative_link=True)
        standin.install_client(installs[name].binary, **dict({"version": OLD}, **knobs))
    # The copy-over tests' binaries are a build with a trailer of its own, so that the other
    # build copied over it is exactly as large.
    for name in COPIES:
        standin.write_executable(installs[name].binary, _build(b"\0build-1\0"))
    # The link-switch test's second version folder, installed but not linked.
    standin.install_versioned_client(
        base / "link_switch", NEW, relative_link=True, link=False, version_file=False
    )
    time.sleep(version_cache.SETTLED_NS / 1e9 + 0.2)
    return installs


@pytest.fixture
def spawned(monkeypatch):
    """Every argv ``_cloudassist_run.run`` started, in order."""
    calls = []
    real = run.run

    def counting(argv, timeout):
        calls.append(list(argv))
        return real(argv, timeout)

    monkeypatch.setattr(run, "run", counting)
    return calls


def host(install, cache_dir, **config):
    config = dict({"binary": str(install.link), "init_system": "sysvinit"}, **config)
    return hosts.host_for(
        "linux",
        lambda key, default=None: config.get(key, default),
        {},
        timeout=10,
        cache_dir=str(cache_dir),
    )


def probes(spawned):
    return [argv for argv in spawned if argv[-1] == "-v"]


def kept(cache_dir):
    return json.loads((cache_dir / version_cache.FILE).read_text())


def test_a_second_call_spawns_nothing(aged, spawned, tmp_path):
    cache = tmp_path / "cache"
    assert host(aged["hit"], cache).version() == OLD
    assert probes(spawned) == [[str(aged["hit"].link), "-v"]]
    assert host(aged["hit"], cache).version() == OLD
    assert len(probes(spawned)) == 1
    entry = kept(cache)
    assert (entry["link"], entry["target"], entry["version"]) == (
        str(aged["hit"].link),
        str(aged["hit"].binary),
        OLD,
    )
    assert entry["ino"] == os.stat(aged["hit"].binary).st_ino


def test_status_on_a_hit_spawns_no_process_at_all(aged, spawned, tmp_path):
    cache = tmp_path / "cache"
    first = host(aged["status"], cache).status()
    again = host(aged["status"], cache).status()
    assert first.version == again.version == OLD
    assert len(probes(spawned)) == 1
    assert spawned == probes(spawned), spawned  # sysvinit here: -v is all status runs


def test_a_self_update_is_read_again(aged, spawned, tmp_path):
    cache = tmp_path / "cache"
    install = aged["self_update"]
    assert host(install, cache).version() == OLD
    # The client's own update: a new version folder, the link and the version file moved.
    updated = standin.install_versioned_client(install.link.parents[2], NEW, relative_link=True)
    assert updated.link == install.link and updated.binary != install.binary
    assert host(install, cache).version() == NEW
    assert len(probes(spawned)) == 2


@pytest.mark.parametrize("copy", COPIES)
def test_a_copy_over_the_binary_is_read_again(aged, spawned, tmp_path, copy):
    """A copy of another build over the binary (``cp``: the same path and inode, new bytes).

    The stand-in reads its version from a sidecar (``.standin-aliyun-service.conf``) where the
    real client's is compiled in; so here another version is another build AND its sidecar.
    A change of the sidecar alone would leave the binary's bytes and stat as they were, which
    no real copy-over does: a real client of another version is another file.  The build
    copied here is exactly as large as the one it overwrites, and with ``cp -p`` its mtime is
    set back to the old one: only the ctime (which no program can set back) tells.
    """
    cache = tmp_path / "cache"
    install = aged[copy]
    assert host(install, cache).version() == OLD
    assert host(install, cache).version() == OLD
    assert len(probes(spawned)) == 1
    before = os.stat(install.binary)
    other = tmp_path / "other-build"
    other.write_bytes(_build(b"\0build-2\0"))
    assert other.stat().st_size == before.st_size
    standin.config_path(install.binary).write_text(standin.client_config(NEW))
    shutil.copyfile(other, install.binary)  # writes into the same file, as cp does
    if copy == "cp-p":
        os.utime(install.binary, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(install.binary)
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)
    assert host(install, cache).version() == NEW
    assert len(probes(spawned)) == 2
    # Back to the first build, as a rollback would: read again, not the NEW just read.
    standin.config_path(install.binary).write_text(standin.client_config(OLD))
    standin.write_executable(install.binary, _build(b"\0build-1\0"))
    assert host(install, cache).version() == OLD
    assert len(probes(spawned)) == 3


def test_a_link_switch_is_read_again(aged, spawned, tmp_path):
    cache = tmp_path / "cache"
    install = aged["link_switch"]
    other = install.folder / NEW / "aliyun-service"
    assert other.is_file()  # settled with the rest, never read

    def point_at(version):
        tmp = install.link.with_name(".switch")
        tmp.symlink_to(os.path.relpath(install.folder / version / "aliyun-service", tmp.parent))
        os.replace(tmp, install.link)

    assert host(install, cache).version() == OLD
    point_at(NEW)
    assert host(install, cache).version() == NEW
    assert kept(cache)["target"] == str(other)
    point_at(OLD)  # and back: the entry kept for NEW is not OLD's
    assert host(install, cache).version() == OLD
    assert host(install, cache).version() == OLD
    assert len(probes(spawned)) == 3


CORRUPT = {
    "empty": b"",
    "half": b'{"link": "/usr/sbin/aliyun-service", "tar',
    "list": b"[]",
    "null": b"null",
    "not utf-8": b"\xff\xfe{}",
    "deep": b"[" * 4000,
    "oversized": None,  # the true entry, padded past MAX_BYTES
    "forged version": None,  # the true key, a version that is not four integers
    "padded version": None,  # the true key, a version not as -v prints it
    "bool size": None,  # the true key, the size as true
    "extra field": None,
    "other key": None,  # a valid entry for another inode, claiming 9.9.9.9
}


def _corrupt(name, entry):
    if CORRUPT[name] is not None:
        return CORRUPT[name]
    entry = dict(entry)
    if name == "oversized":
        return json.dumps(entry).encode() + b" " * version_cache.MAX_BYTES
    if name == "forged version":
        entry["version"] = "9.9.9"
    elif name == "padded version":
        entry["version"] = "02.2.3.578"
    elif name == "bool size":
        entry["size"] = True
    elif name == "extra field":
        entry["trusted"] = True
    elif name == "other key":
        entry.update(ino=entry["ino"] + 1, version="9.9.9.9")
    return json.dumps(entry).encode()


def test_a_corrupt_cache_is_ignored_and_written_again(aged, spawned, tmp_path):
    cache = tmp_path / "cache"
    install = aged["corrupt"]
    assert host(install, cache).version() == OLD
    good = kept(cache)
    path = cache / version_cache.FILE
    for count, name in enumerate(CORRUPT, start=2):
        path.write_bytes(_corrupt(name, good))
        os.chmod(path, 0o600)
        assert host(install, cache).version() == OLD, name
        assert len(probes(spawned)) == count, name
        assert kept(cache) == good, name
        assert os.stat(path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("name", sorted(FAILING))
def test_a_failing_v_is_never_kept(aged, spawned, tmp_path, name):
    cache = tmp_path / "cache"
    for count in (1, 2):
        with pytest.raises((errors.Broken, errors.Unreadable)):
            host(aged[name], cache).version()
        assert len(probes(spawned)) == count
        assert not (cache / version_cache.FILE).exists()


def test_a_binary_changed_just_now_is_not_kept(spawned, tmp_path):
    """Two writes within one tick of the kernel's coarse clock may leave the same stamps, so
    a binary younger than SETTLED_NS is read every time until it has settled."""
    install = standin.install_versioned_client(tmp_path / "root", OLD, relative_link=True)
    cache = tmp_path / "cache"
    assert host(install, cache).version() == OLD
    assert host(install, cache).version() == OLD
    assert len(probes(spawned)) == 2
    assert not (cache / version_cache.FILE).exists()


def test_turned_off_nothing_is_kept(aged, spawned, tmp_path):
    cache = tmp_path / "cache"
    for _ in range(2):
        assert host(aged["off"], cache, version_cache=False).version() == OLD
    assert len(probes(spawned)) == 2
    assert not cache.exists()


def test_a_setting_that_is_not_a_flag_is_refused(aged, tmp_path):
    with pytest.raises(errors.BadArgument) as caught:
        host(aged["bad_flag"], tmp_path / "cache", version_cache="no").version()
    assert str(caught.value) == (
        "the config key cloudassist:version_cache must be true or false, not 'no'"
    )


def test_without_a_cache_folder_every_call_reads_v(aged, spawned, tmp_path):
    unwritable = tmp_path / "a-file"
    unwritable.write_text("")
    for _ in range(2):
        assert host(aged["hit"], unwritable / "cloudassist").version() == OLD
    assert len(probes(spawned)) == 2
