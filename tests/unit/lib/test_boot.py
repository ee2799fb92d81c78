"""``_modules/_cloudassist_boot.py``: whether a service starts at boot, from the files its init
system reads at boot, and the steps that would change it.  Real files in a temporary root; no
program runs."""

import os

import pytest

import _cloudassist_boot as boot
from _cloudassist_records import UnitState

from .helpers import link


def test_rc_links_finds_s_and_k_links_of_that_script_only(tmp_path):
    link(tmp_path, "/etc/rc2.d", "S50aliyun-service")
    link(tmp_path, "/etc/rc3.d", "S01aliyun-service")
    link(tmp_path, "/etc/rc0.d", "K02aliyun-service")
    link(tmp_path, "/etc/rc2.d", "S50aliyun-service-old")  # another script's name
    link(tmp_path, "/etc/rc2.d", "S02cron", "../init.d/cron")
    found = boot.rc_links("aliyun-service", root=str(tmp_path))
    assert found == (
        ("2", "S50aliyun-service"),
        ("3", "S01aliyun-service"),
        ("0", "K02aliyun-service"),
    )
    assert boot.starts_in(found) == ("2", "3")


def test_red_hat_rc_folders_behind_links_are_read_once(tmp_path):
    link(tmp_path, "/etc/rc.d/rc3.d", "S50aliyun-service")
    os.symlink("rc.d/rc3.d", tmp_path / "etc" / "rc3.d")
    assert boot.rc_links("aliyun-service", root=str(tmp_path)) == (("3", "S50aliyun-service"),)


@pytest.mark.parametrize(
    "links,enabled,how",
    [
        (
            (("2", "S50aliyun-service"), ("0", "K02aliyun-service")),
            True,
            "S links to aliyun-service in rc2.d",
        ),
        (
            (("2", "K02aliyun-service"), ("S", "S50aliyun-service")),
            False,
            "only K links to aliyun-service",
        ),
        ((), False, "no rc links to aliyun-service in /etc/rc[2-5].d"),
    ],
)
def test_sysv_boot_is_the_s_links_in_the_boot_runlevels(links, enabled, how):
    state = boot.sysv_boot("aliyun-service", "/", "update-rc.d", links=links)
    assert state.enabled is enabled and state.how.startswith(how)


def test_sysv_boot_steps_per_tool():
    upd = boot.sysv_boot("aliyun-service", "/", "update-rc.d", links=())
    assert [s.text for s in upd.enable] == [
        "update-rc.d aliyun-service defaults",
        "update-rc.d aliyun-service enable",
    ]
    assert [s.text for s in upd.disable] == ["update-rc.d aliyun-service disable"]
    chk = boot.sysv_boot("aliyun-service", "/", "chkconfig", links=())
    assert [s.text for s in chk.enable] == [
        "chkconfig --add aliyun-service",
        "chkconfig aliyun-service on",
    ]
    assert [s.text for s in chk.disable] == ["chkconfig aliyun-service off"]
    vendor = boot.sysv_boot("agentwatch", "/", "chkconfig", links=(), vendor_chkconfig=True)
    assert [s.text for s in vendor.enable] == ["chkconfig agentwatch on"]
    assert vendor.cannot == ()


def test_sysv_boot_without_a_tool_says_why_it_cannot_change():
    none = boot.sysv_boot("aliyun-service", "/nonexistent/script", None, links=())
    assert none.why_not(False) == "this host has neither update-rc.d nor chkconfig"
    assert (
        none.why_not(True)
        == "/nonexistent/script does not exist; this host has neither update-rc.d nor chkconfig"
    )
    vendor = boot.sysv_boot("agentwatch", "/", None, links=(), vendor_chkconfig=True)
    assert (
        vendor.why_not(True)
        == "this host has no chkconfig, which the vendor's procedure uses for agentwatch"
    )


def test_upstart_override_manual(tmp_path, monkeypatch):
    etc_init = tmp_path / "init"
    etc_init.mkdir()
    monkeypatch.setattr(boot, "UPSTART_DIR", str(etc_init))
    (etc_init / "aliyun-service.conf").write_text("start on runlevel [2345]\n")
    assert boot.upstart_boot("aliyun-service").enabled is True
    override = etc_init / "aliyun-service.override"
    override.write_text("# manual\nenv X=1\n")
    assert boot.upstart_boot("aliyun-service").enabled is True  # a comment is not the stanza
    state = boot.upstart_boot("aliyun-service")
    assert [s.text for s in state.disable] == [f"echo manual >> {override}"]
    boot.set_manual(str(override), True)
    assert override.read_text() == "# manual\nenv X=1\nmanual\n"
    assert boot.upstart_boot("aliyun-service").enabled is False
    boot.set_manual(str(override), False)
    assert override.read_text() == "# manual\nenv X=1\n"
    override.write_text("manual\n")
    boot.set_manual(str(override), False)
    assert not override.exists()  # nothing else was in it
    (etc_init / "aliyun-service.conf").unlink()
    gone = boot.upstart_boot("aliyun-service")
    assert gone.enabled is False and gone.why_not(True).endswith(
        "aliyun-service.conf does not exist"
    )


@pytest.mark.parametrize(
    "unit_file_state,enabled,cannot",
    [
        ("enabled", True, ()),
        ("enabled-runtime", False, ()),  # its links are under /run: gone at the next boot
        ("linked", False, ()),  # known to systemd, pulled in by nothing
        ("linked-runtime", False, ()),
        ("alias", None, ("enable", "disable")),
        ("disabled", False, ()),
        ("masked", False, ("enable",)),
        ("static", None, ("enable", "disable")),
    ],
)
def test_systemd_boot_from_the_unit_file_state(unit_file_state, enabled, cannot):
    state = boot.systemd_boot(
        UnitState("aliyun.service", "loaded", unit_file_state=unit_file_state)
    )
    assert state.enabled is enabled
    assert tuple(dict(state.cannot)) == cannot
    assert [s.text for s in state.enable + state.disable] == [
        "systemctl enable aliyun.service",
        "systemctl disable aliyun.service",
    ]


def test_systemd_boot_of_a_unit_that_is_not_installed():
    state = boot.systemd_boot(UnitState("AssistDaemon.service", "not-found"))
    assert state.enabled is False
    assert (
        state.why_not(False)
        == "systemd has no unit file for AssistDaemon.service (LoadState 'not-found')"
    )
