"""Freezing and allowing the client's self-update (issue 25) under a real ``salt-call --local``,
on a stand-in laid out as the vendor's package lays it out and self-updated while it runs:
the marker files are checked from outside the module, and no program is started for them."""

import os
import stat
import time

import pytest

import _cloudassist_version_cache as version_cache
import standin

MARKERS = ("disable_update", "disable_bootstrap_update")
OLD, NEW = "2.2.3.578", "2.2.4.1065"


@pytest.fixture
def updated(host):
    """A client started from the OLD version folder, then self-updated to NEW while it runs:
    ``(old install, new install, pid)``."""
    root = host.base / "root"
    old = standin.install_versioned_client(root, OLD, relative_link=True)
    host.config["binary"] = str(old.link)
    host.config["init_system"] = "sysvinit"
    proc = host.spawn([str(old.binary)])
    new = standin.install_versioned_client(root, NEW, relative_link=True)
    host.grains = True
    # The version cache reads a binary changed in the last SETTLED_NS again every time (the
    # kernel's timestamps are coarse): wait that out, so that the first call below keeps the
    # version and the grain's refresh after the freeze needs no `-v` (else timing decides).
    settled = os.stat(new.binary).st_ctime_ns + version_cache.SETTLED_NS
    time.sleep(max(0.0, (settled - time.time_ns()) / 1e9 + 0.1))
    return old, new, proc.pid


def call(host, *args):
    res = host.salt_call(*args)
    assert res.returncode == 0, res
    return res.data


def test_freeze_read_allow_on_a_self_updated_client(host, updated, audited_call):
    old, new, pid = updated
    config = new.folder / "config"
    state = call(host, "cloudassist.updates")
    assert state["version_dir"] == str(old.binary.parent), state
    assert state["version_dir_of"] == "running"
    assert state["installed_version_dir"] == str(new.binary.parent)
    assert state["config_dir"] == str(config)
    assert state["frozen"] is False and state["markers"] == []
    assert call(host, "grains.get", "cloudassist:updates") == "allowed"

    predicted = call(host, "cloudassist.freeze_updates", "test=True")
    assert predicted["test"] is True and predicted["frozen"] is True
    assert not config.exists(), "test=True created the folder"

    res, records = audited_call("cloudassist.freeze_updates")
    assert res.returncode == 0, res
    assert [r["args"] for r in records if r["ours"]] == [], "a program was started"
    frozen = res.data
    assert frozen["changed"] is True
    assert frozen["changes"]["created"]["new"] == [str(config)] + [
        str(config / name) for name in MARKERS
    ]
    # from outside the module
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o755
    for name in MARKERS:
        info = os.lstat(config / name)
        assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o644
        assert (info.st_uid, info.st_gid) == (0, 0)
    state = call(host, "cloudassist.updates")
    assert state["frozen"] is state["bootstrap_frozen"] is state["installed_frozen"] is True
    assert call(host, "cloudassist.status")["updates"] == state
    assert call(host, "grains.get", "cloudassist:updates") == "frozen"
    again = call(host, "cloudassist.freeze_updates")
    assert again["changed"] is False and again["changes"] == {}

    # the running (old) version's own marker is read, and removed by allow
    (old.binary.parent / "config").mkdir()
    own = old.binary.parent / "config" / "disable_update"
    own.write_text("")
    assert str(own) in call(host, "cloudassist.updates")["markers"]
    predicted = call(host, "cloudassist.allow_updates", "test=True")
    assert all((config / name).exists() for name in MARKERS) and own.exists()
    allowed = call(host, "cloudassist.allow_updates")
    assert sorted(allowed["changes"]["removed"]["old"]) == sorted(
        [str(own)] + [str(config / name) for name in MARKERS]
    )
    assert {k: v for k, v in predicted.items() if k not in ("test", "comment")} == {
        k: v for k, v in allowed.items() if k != "comment"
    }
    assert not own.exists() and not any((config / name).exists() for name in MARKERS)
    assert call(host, "grains.get", "cloudassist:updates") == "allowed"
    assert call(host, "cloudassist.allow_updates")["changed"] is False
    assert os.path.exists(f"/proc/{pid}"), "the client was touched"


def test_a_linked_marker_fails_and_nothing_changes(host, updated):
    old, new, _ = updated
    config = new.folder / "config"
    config.mkdir()
    target = host.base / "precious"
    target.write_text("keep")
    (config / "disable_update").symlink_to(target)
    for function in ("cloudassist.allow_updates", "cloudassist.freeze_updates"):
        res = host.salt_call(function)
        assert res.returncode != 0, res
        assert "is a symbolic link to" in str(res.stdout) + str(res.stderr), res
    assert sorted(os.listdir(config)) == ["disable_update"]
    assert target.read_text() == "keep"


def test_without_a_client_the_calls_say_not_installed(host):
    for function in ("cloudassist.updates", "cloudassist.freeze_updates"):
        res = host.salt_call(function)
        assert res.returncode != 0, res
        assert "the Cloud Assistant client is not installed" in str(res.stdout) + str(res.stderr)
