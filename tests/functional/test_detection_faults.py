"""The init system cannot be trusted: PID 1 is a shell, /sbin/init is missing, unreadable,
a dangling link, a large binary without markers, or carries two markers.  The module never
guesses a branch: it uses the init script where there is one, and otherwise says what it saw."""

import os
import shutil

import pytest


@pytest.fixture
def client(host):
    host.install_client()
    return host


def test_pid1_is_a_shell(client):
    res = client.salt_call("cloudassist.status", pid1_shell=True)
    assert res.returncode != 0, res
    assert "systemd is installed (/sbin/init -> " in res.error
    assert "but not running: PID 1 is 'sh'" in res.error
    assert "there is no /etc/init.d/aliyun-service to fall back on" in res.error


def test_pid1_is_a_shell_and_the_init_script_is_used(client):
    client.install_init_script()
    res = client.salt_call("cloudassist.start", pid1_shell=True)
    assert res.returncode == 0, res
    assert res.data["init_system"] == "sysvinit" and res.data["running"] is True


@pytest.mark.parametrize(
    "setup,message",
    [
        (lambda h: h.replace_init(), "/sbin/init is missing"),
        (
            lambda h: h.replace_init(link="/lib/systemd/systemd-gone"),
            "the init system cannot be told: "
            "/sbin/init is a dangling link to /lib/systemd/systemd-gone",
        ),
        (
            lambda h: h.replace_init(content=bytes(range(256)) * (48 << 12)),
            "carries none of the markers /lib/system, upstart, sysvinit",
        ),
        (
            lambda h: h.replace_init(content=b"\x7fELF..upstart..sysvinit.."),
            "the init system is ambiguous: /sbin/init carries the markers of upstart and sysvinit",
        ),
    ],
    ids=["missing", "dangling link", "large binary without markers", "two markers"],
)
def test_doubtful_sbin_init(client, setup, message):
    setup(client)
    res = client.salt_call("cloudassist.stop")
    assert res.returncode != 0, res
    assert message in res.error
    assert "set cloudassist:init_system to one of: systemd, upstart, sysvinit" in res.error


def test_a_fifo_at_sbin_init_does_not_hang_the_call(client):
    sbin = client.base / "sbin"
    sbin.mkdir()
    os.mkfifo(sbin / "init")
    client.binds.append((str(sbin), "/usr/sbin"))
    res = client.salt_call("cloudassist.status", timeout=60)
    assert res.returncode != 0, res
    assert "/sbin/init is not a regular file" in res.error


@pytest.mark.skipif(
    not shutil.which("setpriv"),
    reason="setpriv (util-linux) is needed to drop root's read override",
)
def test_an_unreadable_sbin_init(client):
    client.replace_init(content=b"sysvinit")
    os.chmod(client.base / "sbin" / "init", 0)
    res = client.salt_call(
        "cloudassist.status",
        wrap=["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"],
    )
    assert res.returncode != 0, res
    assert "/sbin/init is unreadable: Permission denied" in res.error


def test_two_markers_with_an_init_script_uses_the_script(client):
    client.replace_init(content=b"/lib/systemd/systemd sysvinit")
    client.install_init_script()
    res = client.salt_call("cloudassist.status")
    assert res.returncode == 0, res
    assert res.data["init_system"] == "sysvinit"
    assert "carries the markers of systemd and sysvinit" in res.data["decided_by"]


def test_the_override_skips_detection(client):
    client.replace_init()
    client.install_init_script()
    client.config["init_system"] = "sysvinit"
    res = client.salt_call("cloudassist.status")
    assert res.returncode == 0, res
    assert res.data["decided_by"] == "the config key cloudassist:init_system"
    assert res.data["evidence"] == [
        {"source": "the config key cloudassist:init_system", "found": "'sysvinit'"}
    ]
