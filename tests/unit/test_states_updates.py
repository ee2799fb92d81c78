"""The states' ``updates`` argument (issue 25): ``cloudassist.running``/``stopped``/``dead``
with ``updates: frozen|allowed``, in Salt's loader mock.

The client's start and stop act on ``test_states.FakeHost`` (its own process table); the
self-update's markers are real files of a real stand-in laid out as the vendor's package lays
it out, read and written by the real ``_cloudassist_updates``, and checked here on the disk.
"""

import os
import posixpath
import stat

import pytest

import _cloudassist_updates as updater
import loaded
import standin

from .test_states import BRANCHES, FakeHost, apply

execution = loaded.execution
states = loaded.states

SYSVINIT = "Linux, client newer than 1.0.1.308, sysvinit"
MARKERS = (updater.UPDATE, updater.BOOTSTRAP)


class MarkedHost(FakeHost):
    """A fake host whose client reads its self-update markers from a real install folder;
    ``frozen_at_start`` records, for each start it ran, whether the markers were there."""

    paths = posixpath

    def __init__(self, install, **kwargs):
        super().__init__(BRANCHES[SYSVINIT], **kwargs)
        self.install = install
        self.frozen_at_start = []

    def updates_now(self):
        running = [str(self.install.binary)] if self._pids("client") else []
        return updater.read(str(self.install.binary), running, paths=posixpath)

    def run_step(self, step, branch=None, check=True):
        if step in self.branch.start:
            self.frozen_at_start.append(self.updates_now().frozen)
        return super().run_step(step, branch, check)


@pytest.fixture
def install(tmp_path):
    return standin.install_versioned_client(tmp_path / "root", "2.2.3.578", relative_link=True)


@pytest.fixture
def config_dir(install):
    return install.folder / "config"


@pytest.fixture
def opts(tmp_path):
    return {"test": False, "cachedir": str(tmp_path / "cache")}


@pytest.fixture
def configure_loader_modules(opts):
    opts["cloudassist"] = {"timeout": 5, "settle": 0}
    salt = loaded.salt_functions()
    return {
        execution: {
            "__salt__": {"saltutil.refresh_grains": lambda **kwargs: None},
            "__opts__": opts,
            "__pillar__": {},
        },
        states: {"__salt__": salt, "__opts__": opts},
    }


@pytest.fixture
def host(install, use_host):
    return use_host(MarkedHost(install))


@pytest.fixture
def use_host(monkeypatch):
    import _cloudassist_host as hosts

    def use(fake):
        def host_for(platform, config, salt, *, timeout, cache_dir=None):
            fake.timeout, fake.cache_dir = timeout, cache_dir
            return fake

        monkeypatch.setattr(hosts, "host_for", host_for)
        return fake

    return use


def markers(config_dir):
    """The markers present in the cross-version config folder, read from the disk."""
    return sorted(
        name
        for name in MARKERS
        if os.path.lexists(config_dir / name) and stat.S_ISREG(os.lstat(config_dir / name).st_mode)
    )


@pytest.mark.parametrize("fun", ["running", "stopped", "dead"])
def test_frozen_is_predicted_then_made_then_held(opts, host, config_dir, fun):
    want_running = fun == "running"
    if not want_running:
        host._spawn("client")

    predicted = apply(opts, True, fun, updates="frozen")
    assert markers(config_dir) == [], "test=True changed the disk"
    assert host.ran == [], "test=True ran a step"
    assert predicted["result"] is None, predicted
    assert "would create" in predicted["comment"], predicted

    ret = apply(opts, False, fun, updates="frozen")
    assert ret["result"] is True, ret
    assert markers(config_dir) == sorted(MARKERS)
    made = [str(config_dir), *(str(config_dir / name) for name in MARKERS)]
    assert ret["changes"]["updates"] == {
        "frozen": {"old": False, "new": True},
        "bootstrap_frozen": {"old": False, "new": True},
        "created": {"old": [], "new": made},
    }, ret
    assert set(ret["changes"]) == set(predicted["changes"]), (predicted, ret)
    assert ret["changes"]["updates"] == predicted["changes"]["updates"]
    assert bool(host._pids("client")) is want_running
    if want_running:
        # Frozen first: the client started here cannot update itself at its start.
        assert host.frozen_at_start == [True]
    assert "The client's updates are frozen: created" in ret["comment"], ret

    again = apply(opts, False, fun, updates="frozen")
    assert again["result"] is True and again["changes"] == {}, again
    assert "already frozen" in again["comment"], again
    in_test = apply(opts, True, fun, updates="frozen")
    assert in_test["result"] is True and in_test["changes"] == {}, in_test


def test_allowed_removes_every_marker_the_client_reads(opts, host, install, config_dir):
    host._spawn("client")
    own = install.binary.parent / "config"
    own.mkdir()
    (own / updater.UPDATE).write_text("")  # this version's own marker
    config_dir.mkdir()
    (config_dir / updater.BOOTSTRAP).write_text("")

    predicted = apply(opts, True, "running", updates="allowed")
    assert predicted["result"] is None and (own / updater.UPDATE).exists(), predicted

    ret = apply(opts, False, "running", updates="allowed")
    assert ret["result"] is True, ret
    assert not (own / updater.UPDATE).exists() and markers(config_dir) == []
    assert sorted(ret["changes"]["updates"]["removed"]["old"]) == sorted(
        [str(config_dir / updater.BOOTSTRAP), str(own / updater.UPDATE)]
    ), ret
    assert set(ret["changes"]) == {"updates"}, "the running client was left alone"
    assert ret["changes"] == predicted["changes"]
    assert apply(opts, False, "running", updates="allowed")["changes"] == {}


def test_an_unsafe_marker_fails_and_leaves_the_client_alone(opts, host, config_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config_dir.symlink_to(elsewhere)  # not followed: a link where a folder should be

    for test in (True, False):
        ret = apply(opts, test, "running", updates="frozen")
        assert ret["result"] is False and ret["changes"] == {}, ret
        assert "not a directory" in ret["comment"], ret
        assert "The client's running state was left alone." in ret["comment"], ret
    assert host.ran == [] and not host._pids("client")
    assert os.listdir(elsewhere) == []


@pytest.mark.parametrize("test", [True, False])
@pytest.mark.parametrize("value", ["off", True, "Frozen"])
def test_updates_must_be_frozen_or_allowed(opts, host, config_dir, test, value):
    ret = apply(opts, test, "running", updates=value)
    assert ret["result"] is False and ret["changes"] == {}, ret
    assert "updates must be one of frozen, allowed" in ret["comment"], ret
    assert host.ran == [] and not config_dir.exists()


def test_a_start_that_fails_still_reports_the_freeze(opts, host, config_dir):
    host.blocked = "the fake host cannot start it"
    ret = apply(opts, False, "running", updates="frozen")
    assert ret["result"] is False, ret
    assert ret["changes"]["updates"]["created"]["new"][0] == str(config_dir), ret
    assert markers(config_dir) == sorted(MARKERS)
    assert "The client's updates are frozen" in ret["comment"], ret
