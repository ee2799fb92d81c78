"""The client's package, for real (issue 25): the ``.deb`` the tests install
(``tests/support/client_deb.py``, built with ``dpkg-deb`` in the vendor's layout) behaves like the
vendor's under booted systemd and sysvinit.

In each container, with nothing of the client there before: ``dpkg -i`` of version A installs
it, links ``/usr/sbin/aliyun-service``, writes, enables and starts the client's own service;
``dpkg -i`` of B over A leaves B alone running (A's ``prerm`` stopped A's service, B's
``postinst`` started B's); ``dpkg --purge`` leaves no process, service, boot link, symlink,
version folder or package.  Each step is checked from outside the module (``dpkg-query``,
``aliyun-service -v``, ``systemctl``/the init script, the process table and
``/proc/PID/exe``), then ``cloudassist.status`` must say the same.  ``cloudassist.freeze_updates``
makes the self-update markers where every version reads them, they outlive an upgrade, and
``cloudassist.allow_updates`` removes them (checked on the disk).

The tests of a class run in order and share the container; each first brings the package to
the state it starts from (installed at A, or at B), so one also runs alone.
"""

from __future__ import annotations

import shutil

import pytest
from realinit_checks import make_host

import client_deb

pytestmark = pytest.mark.realinit

A = "2.2.3.578"
B = "2.2.4.1065"
INBOX = "/root/debs"  # where the .debs are put in the container (not /tmp: a tmpfs per boot)


def present(host, path: str) -> bool:
    """``path`` exists in the container, a dangling symlink too (``test -e`` follows links)."""
    return host.run("test", "-e", path, "-o", "-L", path, check=False).returncode == 0


@pytest.fixture(scope="session")
def client_debs(tmp_path_factory):
    """{version: host path of its .deb}, each built once per session."""
    out = tmp_path_factory.mktemp("client-debs")
    return {v: client_deb.build(v, out) for v in (A, B)}


def dpkg(host, *args):
    """Run dpkg in the container; it must succeed without a warning about our files."""
    res = host.run("dpkg", *args, check=False, timeout=180)
    assert res.returncode == 0, f"dpkg {' '.join(args)} failed: {res!r}"
    # "directory '/usr/local/share/aliyun-assist/...' not empty so not removed": the scripts
    # left something.  The package owns /usr/local/share (no other package ships it), which
    # other files share: dpkg's warning about it is the vendor's too, not a leftover.
    shared = tuple(
        f"directory '{d}' not empty so not removed" for d in ("/usr/local/share", "/usr/local")
    )
    lines = (res.stdout + res.stderr).splitlines()
    warnings = [line for line in lines if "warning" in line and not line.endswith(shared)]
    assert not warnings, f"dpkg {' '.join(args)} warned: {res!r}"
    return res


def put_deb(host, client_debs, version) -> str:
    """Copy the .deb of ``version`` into the container; its path there."""
    inside = f"{INBOX}/{client_deb.deb_name(version)}"
    path = host.path(inside)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(client_debs[version], path)
    return inside


def package(host) -> str:
    """``dpkg-query``'s ``Status Version`` of aliyun-assist, or ``''`` when dpkg knows no
    such package."""
    res = host.run("dpkg-query", "-W", "-f", "${Status} ${Version}", "aliyun-assist", check=False)
    if res.returncode != 0:
        assert "no packages found matching aliyun-assist" in res.stderr, res
        return ""
    return res.stdout.strip()


# ------------------------------------------------------------------------------------------
# The built package itself (no container)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [A, B])
def test_the_deb_has_the_vendors_layout(client_debs, version):
    deb = client_debs[version]
    assert deb.name == f"aliyun-assist_{version}.deb"
    assert client_deb.field(deb, "Package") == "aliyun-assist"
    assert client_deb.field(deb, "Version") == version
    top = f"/usr/local/share/aliyun-assist/{version}"
    files = {p for p in client_deb.contents(deb) if not p.endswith("/")}
    assert files == {
        f"{top}/aliyun-service",
        f"{top}/.standin-aliyun-service.conf",
        f"{top}/init/install",
        f"{top}/init/uninstall",
        f"{top}/init/clean",
        "/usr/local/share/aliyun-assist/version",
    }, files
    # fpm copies after-install, before-remove and after-remove into the maintainer scripts.
    for maintainer, name in client_deb.MAINTAINER_SCRIPTS.items():
        assert client_deb.control_file(deb, maintainer) == client_deb.scripts(version)[name]
        assert f"aliyun-assist {version} init/{name}" in client_deb.scripts(version)[name]


def test_a_version_is_four_integers(tmp_path):
    for bad in ("2.2.3", "2.2.3.578-1", "latest", "2.2.3.578\n"):
        with pytest.raises(ValueError, match="four dot-separated integers"):
            client_deb.build(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------
# In booted containers
# ------------------------------------------------------------------------------------------


class PackageChecks:
    """The package's life on one init system.  Subclasses say how that init system shows the
    client's service (``service_*``) and what the module calls it (``SERVICE``, ``INIT``)."""

    NAME = ""
    KIND = ""
    INIT = ""
    SERVICE = ""

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        h = make_host(request, roots, cls.NAME, cls.KIND)
        assert not present(h, client_deb.LINK) and not present(h, client_deb.SHARE)
        assert h.run("dpkg-query", "-W", "aliyun-assist", check=False).returncode != 0
        return h

    # -- the init system's view, to be provided --------------------------------------------
    def service_active(self, host) -> bool:
        raise NotImplementedError

    def service_pid(self, host) -> int | None:
        raise NotImplementedError

    def service_enabled(self, host) -> bool:
        raise NotImplementedError

    def service_leftovers(self, host) -> list[str]:
        """What of the client's service is still on the host (files, links, units)."""
        raise NotImplementedError

    def check_service_runs(self, host, version) -> None:
        """The service names the versioned binary of ``version``."""
        raise NotImplementedError

    # -- the package -----------------------------------------------------------------------
    def install(self, host, client_debs, version):
        return dpkg(host, "-i", put_deb(host, client_debs, version))

    def at(self, host, client_debs, version) -> None:
        """Bring the package to ``version`` installed (from whatever is there now)."""
        if package(host) != f"install ok installed {version}":
            self.install(host, client_debs, version)

    # -- the truth on the host -------------------------------------------------------------
    def assert_installed_and_running(self, host, version) -> int:
        assert package(host) == f"install ok installed {version}"
        binary = client_deb.binary(version)
        assert host.run("readlink", client_deb.LINK).stdout.strip() == binary
        assert host.run(client_deb.LINK, "-v").stdout == version + "\n"
        assert host.read(client_deb.VERSION_FILE) == version + "\n"
        pids = host.wait_for(host.pids, timeout=10, what="the client process")
        assert len(pids) == 1, f"expected one client process, found {pids}"
        exe = host.run("readlink", f"/proc/{pids[0]}/exe").stdout.strip()
        assert exe == binary, f"the running client is {exe}, not {binary}"
        assert self.service_active(host), f"{self.SERVICE} is not active though {pids} runs"
        assert self.service_pid(host) == pids[0], f"{self.SERVICE} does not track {pids}"
        assert self.service_enabled(host), f"{self.SERVICE} does not start at boot"
        self.check_service_runs(host, version)
        return pids[0]

    def assert_module_agrees(self, host, version, pid) -> None:
        st = host.call("cloudassist.status", check=True).ret
        assert st["installed"] is True and st["running"] is True, st
        assert st["version"] == version, st
        assert st["init_system"] == self.INIT and st["service"] == self.SERVICE, st
        assert st["pids"] == [pid], st

    # -- the tests, in order ---------------------------------------------------------------
    def test_install(self, host, client_debs):
        assert package(host) == "", "the package is there before the first install"
        res = self.install(host, client_debs, A)
        assert f"Setting up aliyun-assist ({A})" in res.stdout, res
        self.assert_installed_and_running(host, A)

    def test_status_after_install(self, host, client_debs):
        self.at(host, client_debs, A)
        pid = self.assert_installed_and_running(host, A)
        self.assert_module_agrees(host, A, pid)

    def test_upgrade_leaves_only_the_new_version_running(self, host, client_debs):
        self.at(host, client_debs, A)
        old = self.assert_installed_and_running(host, A)
        host.run(client_deb.LINK, "-v")  # the client writes its log/ folder, as the real one
        assert host.exists(client_deb.folder(A) + "/log")
        self.install(host, client_debs, B)
        new = self.assert_installed_and_running(host, B)
        assert new != old, "the upgrade kept the old process"
        assert old not in host.pids()
        assert not present(host, client_deb.folder(A)), "A's version folder is left"
        self.assert_module_agrees(host, B, new)

    def test_a_freeze_outlives_an_upgrade_and_allow_removes_it(self, host, client_debs):
        """``cloudassist.freeze_updates`` makes the markers where every version reads them
        (the cross-version config folder, which the package does not own), so the freeze
        holds over an upgrade; ``allow_updates`` removes them.  Checked on the disk."""
        if package(host) == f"install ok installed {B}":  # after the upgrade test: no downgrade
            dpkg(host, "--purge", "aliyun-assist")
        self.at(host, client_debs, A)
        config = client_deb.SHARE + "/config"
        markers = [f"{config}/disable_update", f"{config}/disable_bootstrap_update"]
        ret = host.call("cloudassist.freeze_updates", check=True).ret
        assert ret["frozen"] is True and ret["changes"]["created"]["new"][-2:] == markers, ret
        for path in markers:
            assert host.run("test", "-f", path, "-a", "!", "-L", path, check=False).returncode == 0
        self.install(host, client_debs, B)
        self.assert_installed_and_running(host, B)
        assert all(present(host, path) for path in markers), "the upgrade removed a marker"
        now = host.call("cloudassist.updates", check=True).ret
        assert now["frozen"] is True and now["version_dir"] == client_deb.folder(B), now
        assert host.call("cloudassist.status", check=True).ret["updates"] == now
        ret = host.call("cloudassist.allow_updates", check=True).ret
        assert ret["frozen"] is False and ret["changes"]["removed"]["old"] == markers, ret
        assert not any(present(host, path) for path in markers)
        assert host.call("cloudassist.allow_updates", check=True).ret["changed"] is False
        # The folder freeze_updates made (the real client makes it too, when it starts): gone
        # by hand, so that the purge below finds the vendor's tree only.
        host.run("rmdir", config)

    def test_purge_leaves_nothing(self, host, client_debs):
        self.at(host, client_debs, B)
        self.assert_installed_and_running(host, B)
        dpkg(host, "--purge", "aliyun-assist")
        assert package(host) == "", "dpkg still knows the package after --purge"
        assert host.pids() == [], "a client process is left"
        assert not self.service_active(host)
        assert self.service_leftovers(host) == []
        for path in (client_deb.LINK, client_deb.SHARE, client_deb.PIDFILE):
            assert not present(host, path), f"{path} is left"
        st = host.call("cloudassist.status", check=True).ret
        assert st["installed"] is False and st["running"] is False, st
        assert st["init_system"] == self.INIT, st


class TestSystemdPackage(PackageChecks):
    """Booted systemd: ``aliyun.service`` in ``/etc/systemd/system``, enabled, started."""

    NAME = "ca-pkg-systemd"
    KIND = "systemd"
    INIT = "systemd"
    SERVICE = "aliyun.service"

    def show(self, host, prop: str) -> str:
        return host.run("systemctl", "show", "-p", prop, "--value", client_deb.UNIT).stdout.strip()

    def service_active(self, host):
        res = host.run("systemctl", "is-active", client_deb.UNIT, check=False)
        return res.stdout.strip() == "active"

    def service_pid(self, host):
        return int(self.show(host, "MainPID"))

    def service_enabled(self, host):
        res = host.run("systemctl", "is-enabled", client_deb.UNIT, check=False)
        return res.stdout.strip() == "enabled"

    def check_service_runs(self, host, version):
        assert host.read(client_deb.UNIT_FILE) == client_deb.systemd_unit(version)
        assert self.show(host, "FragmentPath") == client_deb.UNIT_FILE
        assert f"path={client_deb.binary(version)} ;" in self.show(host, "ExecStart")
        assert self.show(host, "Restart") == "on-failure"
        assert self.show(host, "KillMode") == "process"

    def service_leftovers(self, host):
        found = [
            p
            for p in (
                client_deb.UNIT_FILE,
                "/etc/systemd/system/multi-user.target.wants/" + client_deb.UNIT,
            )
            if present(host, p)
        ]
        load = self.show(host, "LoadState")
        if load != "not-found":
            found.append(f"systemd still has {client_deb.UNIT} ({load})")
        return found


class TestSysvinitPackage(PackageChecks):
    """Booted sysvinit: ``/etc/init.d/aliyun-service``, ``update-rc.d defaults``, started."""

    NAME = "ca-pkg-sysvinit"
    KIND = "sysvinit"
    INIT = "sysvinit"
    SERVICE = client_deb.INIT_SCRIPT

    def rc_links(self, host) -> list[str]:
        res = host.sh("ls /etc/rc?.d/*aliyun-service* 2>/dev/null", check=False)
        return res.stdout.split()

    def service_active(self, host):
        return host.run(client_deb.INIT_SCRIPT, "status", check=False).returncode == 0

    def service_pid(self, host):
        text = host.read(client_deb.PIDFILE)
        return int(text) if text and text.strip().isdigit() else None

    def service_enabled(self, host):
        starts = [link for link in self.rc_links(host) if "/S" in link]
        return sorted(link[len("/etc/rc") : len("/etc/rc") + 1] for link in starts) == list("2345")

    def check_service_runs(self, host, version):
        assert host.read(client_deb.INIT_SCRIPT) == client_deb.sysv_script(version)

    def service_leftovers(self, host):
        found = self.rc_links(host)
        if present(host, client_deb.INIT_SCRIPT):
            found.append(client_deb.INIT_SCRIPT)
        return found


# PID 1 of a container-like host: a reaper, as tini or a shell would be.
REAPER = [
    "/usr/bin/python3",
    "-c",
    "import os, time\nwhile True:\n    try:\n        os.wait()\n"
    "    except ChildProcessError:\n        time.sleep(0.2)\n",
]


class TestNoServiceManagerPackage:
    """A host with neither a running systemd nor ``update-rc.d`` (the systemd root started
    without booting, ``update-rc.d`` deleted): ``init/install`` fails, saying why, so ``dpkg -i``
    fails and nothing runs; ``dpkg --purge`` of the half-configured package still cleans up."""

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, request, roots):
        def prepare(c):
            c.path("/usr/sbin/update-rc.d").unlink()

        h = make_host(
            request, roots, "ca-pkg-nomanager", "container", prepare, boot=False, pid1=REAPER
        )
        assert not present(h, "/run/systemd/system")
        assert h.sh("command -v update-rc.d", check=False).returncode != 0
        return h

    def test_install_fails_and_purge_cleans_up(self, host, client_debs):
        res = host.run("dpkg", "-i", put_deb(host, client_debs, A), check=False)
        assert res.returncode != 0, res
        assert "cannot install the client's service" in res.stderr, res
        assert "post-installation script subprocess returned error exit status 1" in res.stderr
        assert package(host) == f"install ok half-configured {A}"
        assert host.pids() == []
        assert not present(host, client_deb.UNIT_FILE) and not present(host, client_deb.INIT_SCRIPT)

        dpkg(host, "--purge", "aliyun-assist")
        assert package(host) == ""
        for path in (client_deb.LINK, client_deb.SHARE):
            assert not present(host, path), f"{path} is left"
