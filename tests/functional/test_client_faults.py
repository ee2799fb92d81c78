"""The client binary misbehaves: every call fails clearly, in time, and says what to do."""

import time

import pytest

import standin

FUNCTIONS = [
    "cloudassist.version",
    "cloudassist.status",
    "cloudassist.stop",
    "cloudassist.start",
    "cloudassist.restart",
]


@pytest.mark.parametrize("function", [f for f in FUNCTIONS if f != "cloudassist.status"])
def test_a_missing_client_fails_every_action(host, function):
    host.install_init_script()
    res = host.salt_call(function)
    assert res.returncode != 0, res
    assert (
        f"Error running '{function}': the Cloud Assistant client is not installed: "
        f"looked for {host.binary}" in res.error
    )
    assert "Traceback" not in res.stderr


def test_status_of_a_missing_client_answers_with_what_the_host_knows(host):
    host.install_init_script()
    res = host.salt_call("cloudassist.status")
    assert res.returncode == 0, res
    status = res.data
    assert status["installed"] is False and status["running"] is False, status
    assert status["looked_in"] == [str(host.binary)], status
    assert status["comment"].startswith(
        f"the Cloud Assistant client is not installed: looked for {host.binary}"
    ), status
    # The init system is still decided, from the same evidence as with a client.
    assert status["init_system"] in ("systemd", "upstart", "sysvinit"), status
    assert status["evidence"] and status["decided_by"], status
    assert status["version"] is None and status["pids"] == [], status


def test_without_config_the_standard_places_and_path_are_searched(host):
    del host.config["binary"]
    res = host.salt_call("cloudassist.version")
    assert res.returncode != 0, res
    assert (
        "the Cloud Assistant client is not installed: looked for /usr/sbin/aliyun-service, "
        "/opt/sbin/aliyun-service and aliyun-service on the PATH" in res.error
    )


def test_a_client_that_is_not_executable(host):
    host.install_client().chmod(0o644)
    res = host.salt_call("cloudassist.status")
    assert res.returncode != 0, res
    assert f"the Cloud Assistant client at {host.binary} is not executable (mode 644)" in res.error


def test_a_dangling_client_link(host):
    host.binary.parent.mkdir(parents=True)
    host.binary.symlink_to(host.base / "2.2.3.578" / "aliyun-service")
    res = host.salt_call("cloudassist.version")
    assert res.returncode != 0, res
    assert (
        "is a link to {}, which does not exist. Reinstall the client".format(
            host.base / "2.2.3.578" / "aliyun-service"
        )
        in res.error
    )


@pytest.mark.parametrize(
    "knobs,message",
    [
        (
            {"version": None, "noise": ["garbage"]},
            "printed no version (four dot-separated numbers): 'garbage'",
        ),
        ({"version": None}, "printed no version (four dot-separated numbers): no output at all"),
        (
            {"version": "2.2.3", "noise": []},
            "printed no version (four dot-separated numbers): '2.2.3'",
        ),
        (
            {"version": "2.2.3.578", "version_exit": 2},
            "-v` exited with code 2: 2.2.3.578. The client looks broken",
        ),
    ],
    ids=["garbage", "nothing", "three-part", "non-zero exit"],
)
def test_bad_version_output(host, knobs, message):
    version = knobs.pop("version")
    host.install_client(version, **knobs)
    res = host.salt_call("cloudassist.version")
    assert res.returncode != 0, res
    assert message in res.error
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    "version,knobs,expected",
    [
        (
            "1.0.2.569",
            {
                "noise": [
                    "open /usr/local/share/aliyun-assist/1.0.2.569/log/aliyun_assist_main.log: "
                    "no such file"
                ]
            },
            "1.0.2.569",
        ),
        # A log line that starts with an address is not a version (issue 8).
        ("2.2.3.578", {"noise_after": ["100.100.100.200 unreachable, retry in 3s"]}, "2.2.3.578"),
        ("2.2.3.578", {"noise": ["100.100.100.200 unreachable, retry in 3s"]}, "2.2.3.578"),
        # Printed on stderr only: read from there, not reported as missing.
        ("2.2.4.1065", {"version_stream": "stderr"}, "2.2.4.1065"),
    ],
    ids=["noise line before", "address line after", "address line before", "stderr only"],
)
def test_versions_among_noise(host, version, knobs, expected):
    host.install_client(version, **knobs)
    res = host.salt_call("cloudassist.version")
    assert res.returncode == 0, res
    assert res.data == expected


def test_two_different_versions_are_an_error_that_names_them(host):
    host.install_client("1.0.1.308", extra_versions=["2.2.3.578"])
    for fun in ("cloudassist.version", "cloudassist.status", "cloudassist.stop"):
        res = host.salt_call(fun)
        assert res.returncode != 0, res
        assert "printed several versions (1.0.1.308, 2.2.3.578)" in res.error, res
        assert "nothing is chosen from a guess" in res.error


def test_a_version_with_words_after_it_is_not_a_version(host):
    host.install_client("2.2.3.578 (linux/amd64)")
    res = host.salt_call("cloudassist.version")
    assert res.returncode != 0, res
    assert "printed no version (four dot-separated numbers): '2.2.3.578 (linux/amd64)'" in res.error


@pytest.mark.parametrize("how", ["argument", "config"])
def test_a_hung_client_ends_within_the_timeout_the_operator_set(host, how):
    host.install_client(hang_on_version=True)
    if how == "config":
        host.config["timeout"] = 2
        res = host.salt_call("cloudassist.status")
    else:
        res = host.salt_call("cloudassist.status", "timeout=2")
    assert res.returncode != 0, res
    assert "-v` did not finish within 2 seconds and was killed" in res.error
    assert "timeout=SECONDS or the config key cloudassist:timeout" in res.error
    assert res.seconds < 15
    time.sleep(0.2)
    assert host.binary_processes() == [], "the hung -v was left running"


def test_the_version_follows_the_binary_after_a_self_update(host):
    """The client updated itself: the link now leads to the new version's folder while the
    version file still names the old one.  The answer follows the binary that runs."""
    share = host.base / "share"
    assist = share / "aliyun-assist"
    standin.install_client(assist / "2.2.3.578" / "aliyun-service", "2.2.3.578")
    (assist / "version").write_text("2.2.3.578\n")
    host.binary.parent.mkdir(parents=True)
    host.binary.symlink_to("/usr/local/share/aliyun-assist/2.2.3.578/aliyun-service")
    host.binds.append((str(share), "/usr/local/share"))
    host.install_init_script()
    assert host.salt_call("cloudassist.version").data == "2.2.3.578"

    standin.install_client(assist / "2.2.4.1065" / "aliyun-service", "2.2.4.1065")
    host.binary.unlink()
    host.binary.symlink_to("/usr/local/share/aliyun-assist/2.2.4.1065/aliyun-service")
    res = host.salt_call("cloudassist.status")
    assert res.returncode == 0, res
    assert res.data["version"] == "2.2.4.1065"
    assert res.data["service"] == "/etc/init.d/aliyun-service"


def test_a_version_on_the_legacy_side_of_the_boundary_changes_the_branch(host):
    host.install_init_script()
    host.install_client("1.0.1.1000")
    new = host.salt_call("cloudassist.status").data
    host.install_client("1.0.1.308")
    old = host.salt_call("cloudassist.status").data
    assert new["service"] == "/etc/init.d/aliyun-service"
    assert old["service"] == "agentwatch"
    assert old["commands"]["stop"].startswith("chkconfig agentwatch off")
    assert new["blocked"] is None
    assert old["blocked"].startswith(
        "the branch 'Linux, client 1.0.1.308 or older, init system other than systemd' needs "
        "chkconfig to manage agentwatch, and this host has no chkconfig; nothing was run"
    )


@pytest.mark.parametrize(
    "config,message",
    [
        (
            {"binary": "relative/aliyun-service"},
            "cloudassist:binary must be an absolute path, not 'relative/aliyun-service'",
        ),
        (
            {"init_system": "openrc"},
            "cloudassist:init_system is set to 'openrc', which is not an init system this module "
            "knows; valid values: systemd, upstart, sysvinit",
        ),
        (
            {"timeout": "soon"},
            "the config key cloudassist:timeout must be a number of seconds greater than 0 "
            "and at most 3600, not 'soon'",
        ),
        (
            {"settle": -1},
            "the config key cloudassist:settle must be a number of seconds from 0 "
            "and at most 3600, not -1",
        ),
    ],
)
def test_bad_configuration_is_named(host, config, message):
    host.install_client()
    host.install_init_script()
    host.config.update(config)
    res = host.salt_call("cloudassist.start")
    assert res.returncode != 0, res
    assert message in res.error
    assert host.client_pids() == []


@pytest.mark.parametrize(
    "args,message",
    [
        (["timeout=0"], "the argument timeout must be a number of seconds greater than 0"),
        (
            ["timeout=abc"],
            "the argument timeout must be a number of seconds greater than 0 "
            "and at most 3600, not 'abc'",
        ),
        (
            ["stop_watchdog=yes please"],
            "the argument stop_watchdog must be true or false, not 'yes please'",
        ),
        (["--", "no_such=1"], "no_such"),
    ],
)
def test_bad_arguments_are_named(host, args, message):
    host.install_client()
    host.install_init_script()
    res = host.salt_call("cloudassist.stop", *[a for a in args if a != "--"])
    assert res.returncode != 0, res
    assert message in res.stderr
