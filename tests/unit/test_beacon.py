"""The beacon ``_beacons/cloudassist.py``: its configuration, and its polls in Salt's loader mock.
What a poll sees and decides (``_modules/_cloudassist_watch.py``) is tested in
``lib/test_watch.py``.

The beacon is loaded here from the checkout, which is the synced layout (``_beacons`` beside
``_modules``); where its library comes from is tested in ``lib/test_lib.py``.  The test process's
own ``_cloudassist_*`` modules are put back afterwards, so the other unit tests keep theirs.
"""

import importlib.util
import logging
import pathlib
import sys

import pytest

import loaded

from .lib.helpers import snap, tags

ROOT = pathlib.Path(__file__).resolve().parents[2]
BEACON = loaded.entry_path("beacons")


def _load_beacon(name="beacon_cloudassist_under_test"):
    """Import the beacon file; the caller's ``_cloudassist_*`` modules survive it."""
    saved = {key: mod for key, mod in sys.modules.items() if key.startswith("_cloudassist_")}
    try:
        spec = importlib.util.spec_from_file_location(name, BEACON)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.modules.update(saved)


beacon = _load_beacon()
watch = beacon.watch
Snapshot = watch.Snapshot


@pytest.fixture
def config():
    """The minion's ``cloudassist:*`` configuration, as config.get answers it."""
    return {}


@pytest.fixture
def configure_loader_modules(config, tmp_path):
    def config_get(key, default=None, omit_grains=False):
        prefix, _, name = key.partition(":")
        assert prefix == "cloudassist" and omit_grains is True, (key, omit_grains)
        return config.get(name, default)

    return {
        beacon: {
            "__context__": {},
            "__salt__": {"config.get": config_get},
            "__opts__": {"id": "m1", "cachedir": str(tmp_path / "cache")},
        }
    }


@pytest.fixture
def polls(monkeypatch):
    """``polls(snapshot, ...)``: the snapshots the beacon's next polls see; records the binary
    asked for."""
    asked = []

    def script(*snapshots):
        queue = list(snapshots)

        def fake(binary):
            asked.append(binary)
            result = queue.pop(0)
            if isinstance(result, Exception):
                raise result
            return result

        monkeypatch.setattr(watch, "snapshot", fake)
        # every poll reads the scripted snapshot: no quiet poll between them
        monkeypatch.setattr(watch, "quiet", lambda *args, **kwargs: None)
        return asked

    return script


# --- validate -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        [],
        [{"interval": 10}],
        [{"interval": 0.5}, {"binary": "/opt/sbin/aliyun-service"}, {"emitatstartup": True}],
        [{"interval": 5}, {"enabled": False}, {"disable_during_state_run": True}],
    ],
)
def test_validate_accepts(config):
    assert beacon.validate(config) == (True, "Valid beacon configuration")


@pytest.mark.parametrize(
    "config,reason",
    [
        ({"interval": 10}, "must be a list of dicts (`- interval: 10`), not dict"),
        ("interval: 10", "must be a list of dicts (`- interval: 10`), not str"),
        ([{"interval": 10}, "binary"], "'binary' is not a dict"),
        (
            [{"intervall": 10}],
            "does not take 'intervall'; it takes interval, binary, emitatstartup",
        ),
        ([{"onchangeonly": True}], "does not take 'onchangeonly'"),
        ([{"interval": "10"}], "interval must be a positive number of seconds, not '10'"),
        ([{"interval": 0}], "interval must be a positive number of seconds, not 0"),
        ([{"interval": True}], "interval must be a positive number of seconds, not True"),
        (
            [{"binary": "aliyun-service"}],
            "binary must be the absolute path of the client, not 'aliyun-service'",
        ),
        (
            [{"binary": ["/usr/sbin/aliyun-service"]}],
            "binary must be the absolute path of the client",
        ),
        ([{"emitatstartup": "yes"}], "emitatstartup must be true or false, not 'yes'"),
    ],
)
def test_validate_rejects_with_the_reason(config, reason):
    valid, comment = beacon.validate(config)
    assert valid is False
    assert reason in comment, comment


# --- the beacon, in Salt's loader mock ---------------------------------------------------------


def test_the_first_poll_records_a_baseline_and_fires_nothing(polls):
    polls(snap([100]), snap([100]), snap([]))
    assert beacon.beacon([{"_beacon_name": "cloudassist"}]) == []
    assert beacon.beacon([{"_beacon_name": "cloudassist"}]) == []
    events = beacon.beacon([{"_beacon_name": "cloudassist"}])
    assert tags(events) == ["stopped"]
    assert events[0]["pids_before"] == [100] and events[0]["running"] is False


def test_emitatstartup_fires_one_startup_event(polls):
    polls(snap([]), snap([]), snap([300]))
    config = [{"emitatstartup": True}, {"_beacon_name": "cloudassist"}]
    assert tags(beacon.beacon(config)) == ["startup"]
    assert beacon.beacon(config) == []
    assert tags(beacon.beacon(config)) == ["started"]


def test_stop_start_restart_and_version_in_turn(polls):
    polls(
        snap([100]),
        snap([]),
        snap([200]),
        snap([300]),
        snap([300], version="2.2.4.1065", running_version="2.2.3.578"),
        snap([400], version="2.2.4.1065"),
    )
    seen = [tags(beacon.beacon([{"_beacon_name": "cloudassist"}])) for _ in range(6)]
    assert seen == [[], ["stopped"], ["started"], ["restarted"], ["version"], ["restarted"]]


def test_the_binary_comes_from_the_beacon_then_the_minion_config_then_the_default(
    polls, config, monkeypatch
):
    asked = polls(snap(), snap(), snap())
    beacon.beacon([{"binary": "/opt/sbin/aliyun-service"}])
    config["binary"] = "/srv/client/aliyun-service"
    beacon.beacon([])
    del config["binary"]
    monkeypatch.setattr(watch, "default_binary", lambda: "/default/aliyun-service")
    beacon.beacon([])
    assert asked == [
        "/opt/sbin/aliyun-service",
        "/srv/client/aliyun-service",
        "/default/aliyun-service",
    ]


def test_each_beacon_name_keeps_its_own_baseline(polls):
    polls(
        snap([1]),
        snap([2], binary="/opt/sbin/aliyun-service"),
        snap([]),
        snap([2], binary="/opt/sbin/aliyun-service"),
    )
    usr = [{"_beacon_name": "ca_usr"}]
    opt = [
        {"_beacon_name": "ca_opt"},
        {"beacon_module": "cloudassist"},
        {"binary": "/opt/sbin/aliyun-service"},
    ]
    assert beacon.beacon(usr) == [] and beacon.beacon(opt) == []
    assert tags(beacon.beacon(usr)) == ["stopped"]
    assert beacon.beacon(opt) == []


def test_a_new_binary_is_a_new_baseline_not_a_change(polls):
    polls(
        snap([1]),
        snap([], binary="/opt/sbin/aliyun-service"),
        snap([5], binary="/opt/sbin/aliyun-service"),
    )
    assert beacon.beacon([]) == []
    assert beacon.beacon([{"binary": "/opt/sbin/aliyun-service"}]) == []
    assert tags(beacon.beacon([{"binary": "/opt/sbin/aliyun-service"}])) == ["started"]


def test_a_fault_is_logged_once_never_raised_and_the_baseline_is_kept(polls, caplog):
    polls(snap([100]), OSError("boom"), OSError("boom"), RuntimeError("other"), snap([]))
    caplog.set_level(logging.DEBUG, logger=beacon.__name__)
    assert beacon.beacon([]) == []
    assert beacon.beacon([]) == [] and beacon.beacon([]) == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "cloudassist beacon cloudassist: cannot read the client's state, no event this poll: "
        "OSError: boom"
    ]
    assert beacon.beacon([]) == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and errors[1].getMessage().endswith("RuntimeError: other")
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 2 and all(r.levelno == logging.DEBUG for r in tracebacks)
    # the poll before the faults is still the baseline: the stop in between is reported
    assert tags(beacon.beacon([])) == ["stopped"]
    assert "works again" in caplog.records[-1].getMessage()


def test_a_bad_cloudassist_binary_in_the_minion_config_is_a_logged_fault(polls, config, caplog):
    polls()
    config["binary"] = "aliyun-service"
    assert beacon.beacon([]) == []
    assert "cloudassist:binary must be an absolute path, not 'aliyun-service'" in caplog.text


def test_a_real_poll_of_a_client_that_is_not_installed(tmp_path):
    binary = str(tmp_path / "aliyun-service")
    assert beacon.beacon([{"binary": binary}, {"emitatstartup": True}]) == [
        {
            "tag": "startup",
            "changes": ["startup"],
            "running": False,
            "pids": [],
            "pids_before": None,
            "version": None,
            "version_before": None,
            "running_version": None,
            "running_version_before": None,
            "installed": False,
            "binary": binary,
            "leftovers": [],
        }
    ]
    assert beacon.beacon([{"binary": binary}]) == []


# --- a reload loses no change -------------------------------------------------------------------


def test_a_change_across_a_reload_is_still_reported(polls, tmp_path):
    polls(snap([100]), snap([]), snap([]))
    assert beacon.beacon([{"interval": 1}]) == []  # the very first poll: the baseline
    # a module refresh (the grains refresh after every cloudassist action) empties __context__
    beacon.__context__.clear()
    events = beacon.beacon([{"interval": 1}])
    assert tags(events) == ["stopped"]  # Salt prefixes salt/beacon/<id>/cloudassist/
    saved = tmp_path / "cache" / "cloudassist-beacon-cloudassist.json"
    assert saved.is_file()
    beacon.__context__.clear()
    assert beacon.beacon([{"interval": 1}]) == []  # nothing changed since


def test_an_unreadable_saved_poll_is_a_fresh_baseline(polls, tmp_path):
    saved = tmp_path / "cache" / "cloudassist-beacon-cloudassist.json"
    saved.parent.mkdir(parents=True)
    saved.write_text("{not json")
    polls(snap([100]))
    assert tags(beacon.beacon([{"interval": 1}, {"emitatstartup": True}])) == tags(
        watch.startup(snap([100]))
    )


def test_the_beacon_watches_the_binary_the_module_manages(tmp_path, monkeypatch):
    """A minion whose PATH lacks the sbin folders, with the client in one of them (a client
    installed outside the two standard locations): the beacon used ``shutil.which`` on the
    bare PATH and watched the absent ``/usr/sbin/aliyun-service``, while the module managed
    the client it found in the system folders.  Both now resolve the binary with
    ``facts.client_binary``."""
    import _cloudassist_host as hosts

    sbin, bin_ = tmp_path / "sbin", tmp_path / "bin"
    sbin.mkdir()
    bin_.mkdir()
    client = sbin / "aliyun-service"
    client.write_text("#!/bin/sh\necho 2.2.3.578\n")
    client.chmod(0o755)
    standard = (
        str(tmp_path / "usr/sbin/aliyun-service"),
        str(tmp_path / "opt/sbin/aliyun-service"),
    )
    monkeypatch.setenv("PATH", str(bin_))
    for facts in {watch.facts, hosts.facts}:
        monkeypatch.setattr(facts, "LINUX_BINARIES", standard)
        monkeypatch.setattr(facts, "SYSTEM_PATH", f"{sbin}:{bin_}")

    # what the beacon's lookup used to answer here: another binary than the module's
    import shutil

    assert (shutil.which("aliyun-service") or standard[0]) == standard[0]

    module = hosts.LinuxHost(lambda key, default=None: default, None, 5).binary()
    assert module == str(client)
    assert watch.default_binary() == module
    assert beacon._binary({}) == module
