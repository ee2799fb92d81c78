"""``cloudassist.installed`` (issue 25) in Salt's loader mock: the state, the real execution
module's ``install``, ``freeze_updates``/``allow_updates``, ``start``/``stop``, with real
``.deb`` files (``tests/support/client_deb.py``) whose identity ``dpkg-deb`` reads.

Only ``dpkg -i`` and ``dpkg-query`` act on a fake: the host's dpkg database must not change.  The
fake's ``dpkg -i`` lays the package's version out as the vendor's package does (a real
stand-in in ``<root>/usr/local/share/aliyun-assist/<version>/``, whose self-update markers the
real ``_cloudassist_updates`` reads and writes) and starts the client, as the package's
``postinst`` does, noting whether the client found its updates frozen at that start.

Each case runs under ``test=True`` first (nothing may change) and then for real: the plan's
changes must be the real run's.
"""

import os
import shutil

import pytest

import _cloudassist_errors as errors
import _cloudassist_package as package
import _cloudassist_updates as updater
import client_deb
import loaded
import standin
from _cloudassist_records import CommandResult

from .test_states import apply
from .test_states_updates import MarkedHost

execution = loaded.execution
states = loaded.states
A, B = "2.2.3.578", "2.2.4.1065"

pytestmark = pytest.mark.skipif(
    shutil.which("dpkg-deb") is None, reason="needs Debian's dpkg-deb to read the .deb files"
)


class DebHost(MarkedHost):
    """A fake host with the client's package installed by a fake ``dpkg -i`` (or not at all)."""

    def __init__(self, root, version=None, *, running=True):
        self.root = root
        self.dpkg = package.Installed(None, None)
        self.installs = []  # the versions dpkg -i installed
        self.dpkg_fails = False
        super().__init__(None)
        self.install = None
        if version:
            self._lay_out(version)
            if running:
                self._spawn("client")

    def _lay_out(self, version):
        self.install = standin.install_versioned_client(self.root, version, relative_link=True)
        self.dpkg = package.Installed(package.INSTALLED, version)
        self.installed_version = version

    def _missing(self):
        return errors.NotInstalled(
            "the Cloud Assistant client is not installed: looked for /usr/sbin/aliyun-service",
            looked_in=("/usr/sbin/aliyun-service",),
        )

    def version(self):
        return self.installed_version

    def status(self):
        if self.install is None:
            raise self._missing()
        return super().status()

    def updates_now(self):
        if self.install is None:
            raise self._missing()
        return super().updates_now()

    def no_client(self, failure):
        class NoClient:
            def as_dict(self):
                return {"installed": False, "running": False, "version": None}

        return NoClient()

    def dpkg_install(self, plan):
        """What ``dpkg -i`` of the client's package does: the old client stopped, the new
        version laid out and started (the ``postinst``)."""
        if self.dpkg_fails:
            return CommandResult(plan.command_text, 1, "", "dpkg: error processing package")
        self._kill("client")
        self._lay_out(plan.new)
        self.installs.append(plan.new)
        self.frozen_at_start.append(self.updates_now().frozen)
        self._spawn("client")
        return CommandResult(plan.command_text, 0, "", "")

    @property
    def seen(self):
        """What a test=True run must leave as it was."""
        config = self.root / "usr/local/share/aliyun-assist/config"
        return (
            self.dpkg,
            self.snapshot,
            sorted(os.listdir(config)) if config.is_dir() else None,
            list(self.ran),
        )


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    out = tmp_path_factory.mktemp("debs")
    return {version: str(client_deb.build(version, out)) for version in (A, B)}


@pytest.fixture
def opts(tmp_path):
    return {"test": False, "cachedir": str(tmp_path / "cache")}


@pytest.fixture
def configure_loader_modules(opts):
    opts["cloudassist"] = {"timeout": 5, "settle": 0}
    return {
        execution: {
            "__salt__": {"saltutil.refresh_grains": lambda **kwargs: None},
            "__opts__": opts,
            "__pillar__": {},
        },
        states: {"__salt__": loaded.salt_functions(), "__opts__": opts},
    }


@pytest.fixture
def make_host(tmp_path, monkeypatch):
    import _cloudassist_host as hosts

    def make(version=None, *, running=True):
        fake = DebHost(tmp_path / "root", version, running=running)

        def host_for(platform, config, salt, *, timeout, cache_dir=None):
            fake.timeout, fake.cache_dir = timeout, cache_dir
            return fake

        monkeypatch.setattr(hosts, "host_for", host_for)
        monkeypatch.setattr(package, "installed", lambda timeout, tool=None: fake.dpkg)
        monkeypatch.setattr(package, "run_tool", lambda plan, **kw: fake.dpkg_install(plan))
        return fake

    return make


def planned_then_applied(opts, host, **kwargs):
    """The state under test=True (which must change nothing), then for real."""
    before = host.seen
    planned = apply(opts, True, "installed", **kwargs)
    assert host.seen == before, ("test=True changed the host", planned)
    done = apply(opts, False, "installed", **kwargs)
    return planned, done


def frozen_markers(host):
    config = host.root / "usr/local/share/aliyun-assist/config"
    return sorted(name for name in updater.MARKERS if (config / name).is_file())


@pytest.mark.parametrize("updates", [None, "frozen", "allowed"])
def test_a_first_install_is_planned_then_made_then_held(opts, make_host, debs, updates):
    host = make_host()
    extra = {"updates": updates} if updates else {}
    planned, done = planned_then_applied(opts, host, source=debs[A], version=A, **extra)

    assert planned["result"] is None, planned
    assert planned["changes"]["version"] == {"old": None, "new": A}, planned
    assert "would install aliyun-assist" in planned["comment"], planned
    assert done["result"] is True, done
    assert done["changes"]["version"] == {"old": None, "new": A}, done
    assert set(done["changes"]) == set(planned["changes"]), (planned, done)
    assert host.installs == [A] and host._pids("client")
    assert host.dpkg == package.Installed(package.INSTALLED, A)
    if updates == "frozen":
        # No client to freeze before its first start: frozen right after it.
        assert frozen_markers(host) == sorted(updater.MARKERS)
        assert done["changes"]["updates"]["frozen"] == {"old": False, "new": True}, done
        for key in ("frozen", "bootstrap_frozen"):
            assert planned["changes"]["updates"][key] == done["changes"]["updates"][key]
        assert "would be frozen once it is installed" in planned["comment"], planned
    else:
        assert frozen_markers(host) == []

    for test in (True, False):
        again = apply(opts, test, "installed", source=debs[A], version=A, **extra)
        assert again["result"] is True and again["changes"] == {}, again
        assert f"aliyun-assist {A} is already installed and the client runs" in again["comment"]
    assert host.installs == [A]


def test_an_upgrade_freezes_first_so_the_new_client_starts_frozen(opts, make_host, debs):
    host = make_host(A)
    planned, done = planned_then_applied(opts, host, source=debs[B], updates="frozen")
    assert planned["result"] is None and done["result"] is True, (planned, done)
    assert done["changes"]["version"] == {"old": A, "new": B}, done
    assert done["changes"] == planned["changes"], (planned, done)
    assert host.frozen_at_start == [True], "the new version started unfrozen"
    assert "updates_again" not in done["changes"], done
    assert done["comment"].startswith("The client's updates are frozen"), done


def test_a_newer_client_is_kept_unless_a_downgrade_is_allowed(opts, make_host, debs):
    host = make_host(B)
    for test in (True, False):
        kept = apply(opts, test, "installed", source=debs[A])
        assert kept["result"] is True and kept["changes"] == {}, kept
        assert f"aliyun-assist {B} is installed, newer than {A}: kept" in kept["comment"], kept
        assert "allow_downgrade=True" in kept["comment"], kept
    assert host.installs == []

    planned, done = planned_then_applied(opts, host, source=debs[A], allow_downgrade=True)
    assert planned["changes"] == done["changes"] == {"version": {"old": B, "new": A}}, done
    assert done["result"] is True and "downgraded aliyun-assist" in done["comment"], done
    assert host.installs == [A]


def test_running_false_stops_the_client_the_package_started(opts, make_host, debs):
    host = make_host()
    planned, done = planned_then_applied(opts, host, source=debs[A], running=False)
    assert planned["changes"] == {
        "version": {"old": None, "new": A},
        "running": {"old": True, "new": False},
    }, planned
    assert done["result"] is True, done
    assert done["changes"]["version"] == {"old": None, "new": A}, done
    assert done["changes"]["running"] == {"old": True, "new": False}, done
    assert not host._pids("client") and host.installs == [A]

    # The package at its version and the client stopped: no reinstall, nothing to do.
    for test in (True, False):
        again = apply(opts, test, "installed", source=debs[A], running=False)
        assert again["result"] is True and again["changes"] == {}, again
        assert "already stopped" in again["comment"], again
    assert host.installs == [A] and not host._pids("client")


def test_a_stopped_client_at_the_version_is_started_not_reinstalled(opts, make_host, debs):
    host = make_host(A, running=False)
    planned, done = planned_then_applied(opts, host, source=debs[A])
    assert planned["result"] is None and done["result"] is True, (planned, done)
    assert "version" not in done["changes"], done
    assert done["changes"]["running"] == {"old": False, "new": True}, done
    assert set(done["changes"]) == set(planned["changes"]), (planned, done)
    assert host.installs == [] and host._pids("client")


def test_a_failed_install_still_reports_the_freeze_made_before_it(opts, make_host, debs):
    host = make_host(A)
    host.dpkg_fails = True
    ret = apply(opts, False, "installed", source=debs[B], updates="frozen")
    assert ret["result"] is False, ret
    assert ret["changes"]["updates"]["frozen"] == {"old": False, "new": True}, ret
    assert "version" not in ret["changes"], ret
    assert "exited with code 1: dpkg could not install aliyun-assist" in ret["comment"], ret
    assert "updates and running state were left alone" in ret["comment"], ret
    assert frozen_markers(host) == sorted(updater.MARKERS)
    assert host.dpkg.version == A


@pytest.mark.parametrize("test", [True, False])
@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"running": "yes"}, "running must be true or false"),
        ({"allow_downgrade": 1}, "allow_downgrade must be true or false"),
        ({"updates": "off"}, "updates must be one of frozen, allowed"),
        ({"enable": True}, "cloudassist.installed does not take 'enable'"),
        ({"version": "2.2"}, "not the version 2.2 asked for"),
    ],
)
def test_bad_arguments_change_nothing(opts, make_host, debs, test, kwargs, words):
    host = make_host()
    before = host.seen
    ret = apply(opts, test, "installed", source=debs[A], **kwargs)
    assert ret["result"] is False and ret["changes"] == {}, ret
    assert words in ret["comment"], ret
    assert host.seen == before and host.installs == []
