"""A real ``.deb`` of the Cloud Assistant client in the vendor's layout, for the tests.

The vendor packs ``/usr/local/share/aliyun-assist/<version>/`` and the file
``/usr/local/share/aliyun-assist/version`` with fpm into a deb, package name ``aliyun-assist``
(fpm turns the ``aliyun_assist`` of the build script into dashes: a deb name has no
underscore), file ``aliyun-assist_<version>.deb``; fpm copies the text of ``init/install``
into the package's ``postinst``, ``init/uninstall`` into ``prerm`` and ``init/clean`` into
``postrm`` (its after-install, before-remove and after-remove; spec: cloud-assistant.md,
"Packages and self-update").  :func:`build` makes the same with ``dpkg-deb --build`` alone
(no fpm, no network):

- ``<version>/aliyun-service``: the project's stand-in (:mod:`standin`), which answers ``-v``
  with ``version`` (its sidecar ``.standin-aliyun-service.conf`` lies beside it, in the package);
- ``<version>/init/install``: what the client's ``--install`` does (the stand-in has none):
  links ``/usr/sbin/aliyun-service`` to the versioned binary and writes, enables and starts the
  client's own service for the init system it finds: systemd (``/run/systemd/system``):
  ``/etc/systemd/system/aliyun.service`` with the vendor's fields; sysvinit (``update-rc.d``):
  ``/etc/init.d/aliyun-service``, the tests' init script (:func:`standin.sysv_script`),
  ``update-rc.d aliyun-service defaults``; anything else: exit 1, saying so;
- ``<version>/init/uninstall``: stops and removes whichever of the two services is there;
- ``<version>/init/clean``: removes what is left of this version (``log/``, the symlink while
  it names this version, the folders once empty).

The scripts are POSIX sh with ``set -e``: a real failure fails the package operation.  The
maintainer scripts run with the version baked in, since dpkg runs them from
``/var/lib/dpkg/info``, not from the version folder.  An upgrade A -> B runs A's ``prerm``
(A's service stopped and removed), unpacks B, runs A's ``postrm`` (A's leftovers) and B's
``postinst`` (B's service written and started): B alone runs, as with the vendor's package.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import textwrap
from pathlib import Path

import standin

PACKAGE = "aliyun-assist"
SHARE = "/usr/local/share/aliyun-assist"
LINK = "/usr/sbin/aliyun-service"
VERSION_FILE = SHARE + "/version"
UNIT = "aliyun.service"
UNIT_FILE = "/etc/systemd/system/" + UNIT
INIT_SCRIPT = "/etc/init.d/aliyun-service"
PIDFILE = "/var/run/aliyun-service.pid"
# maintainer script -> the init script fpm copies into it
MAINTAINER_SCRIPTS = {"postinst": "install", "prerm": "uninstall", "postrm": "clean"}

_VERSION = re.compile(r"\d+\.\d+\.\d+\.\d+")


def _check_version(version: str) -> str:
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ValueError(f"a client version is four dot-separated integers, not {version!r}")
    return version


def folder(version: str) -> str:
    """``/usr/local/share/aliyun-assist/<version>``, as the client sees it."""
    return f"{SHARE}/{_check_version(version)}"


def binary(version: str) -> str:
    """The versioned binary the service runs."""
    return folder(version) + "/aliyun-service"


def deb_name(version: str) -> str:
    """The vendor's file name: ``aliyun-assist_<version>.deb``."""
    return f"{PACKAGE}_{_check_version(version)}.deb"


def systemd_unit(version: str) -> str:
    """``aliyun.service`` as the client's ``--install`` writes it (spec: the service the client
    installs for itself): the versioned binary, ``Restart=on-failure``, ``RestartSec=120``, at
    most 10 starts an hour, ``KillMode=process``, ``EnvironmentFile=-/etc/sysconfig/aliyun``,
    enabled for ``multi-user.target``."""
    return textwrap.dedent(
        f"""\
        [Unit]
        Description=aliyun-assist {version} (cloudassist test package)
        StartLimitIntervalSec=3600
        StartLimitBurst=10

        [Service]
        Type=simple
        ExecStart={binary(version)}
        Restart=on-failure
        RestartSec=120
        KillMode=process
        EnvironmentFile=-/etc/sysconfig/aliyun

        [Install]
        WantedBy=multi-user.target
        """
    )


def sysv_script(version: str) -> str:
    """``/etc/init.d/aliyun-service``: the tests' init script for the versioned binary (pid
    file ``/var/run/aliyun-service.pid``; ``stop`` waits up to 20 s, as in the other
    real-init tests, for two loaded cores)."""
    return standin.sysv_script(
        binary(version), pidfile=PIDFILE, stop_wait_tenths=200, diagnose=True
    )


def _heredoc(path: str, text: str, mark: str) -> str:
    if mark in text.splitlines():
        raise ValueError(f"the text for {path} contains the heredoc mark {mark}")
    return f"cat > {path} <<'{mark}'\n{text.rstrip()}\n{mark}\n"


def install_script(version: str) -> str:
    """``init/install`` (the package's ``postinst``)."""
    return (
        textwrap.dedent(
            f"""\
            #!/bin/sh
            # aliyun-assist {version} init/install (postinst), written by the cloudassist
            # tests (tests/support/client_deb.py): what the client's --install does.
            set -e
            BINARY={binary(version)}
            ln -sf "$BINARY" {LINK}
            if [ -d /run/systemd/system ]; then
            """
        )
        + _heredoc(UNIT_FILE, systemd_unit(version), "ALIYUN_UNIT_END")
        + textwrap.dedent(
            f"""\
                systemctl daemon-reload
                systemctl enable {UNIT}
                systemctl start {UNIT}
            elif command -v update-rc.d >/dev/null 2>&1; then
            """
        )
        + _heredoc(INIT_SCRIPT, sysv_script(version), "ALIYUN_INIT_END")
        + textwrap.dedent(
            f"""\
                chmod 0755 {INIT_SCRIPT}
                update-rc.d aliyun-service defaults
                {INIT_SCRIPT} start
            else
                echo "aliyun-assist: no running systemd (/run/systemd/system)" \\
                    "and no update-rc.d: cannot install the client's service" >&2
                exit 1
            fi
            """
        )
    )


def uninstall_script(version: str) -> str:
    """``init/uninstall`` (the package's ``prerm``): stop and remove the service."""
    return textwrap.dedent(
        f"""\
        #!/bin/sh
        # aliyun-assist {version} init/uninstall (prerm), written by the cloudassist tests
        # (tests/support/client_deb.py): what the client's --remove does.
        set -e
        if [ -f {UNIT_FILE} ]; then
            if [ -d /run/systemd/system ]; then
                systemctl stop {UNIT}
            fi
            systemctl disable {UNIT}
            rm -f {UNIT_FILE}
            if [ -d /run/systemd/system ]; then
                systemctl daemon-reload
            fi
        fi
        if [ -f {INIT_SCRIPT} ]; then
            {INIT_SCRIPT} stop
            rm -f {INIT_SCRIPT}
            update-rc.d aliyun-service remove
        fi
        """
    )


def clean_script(version: str) -> str:
    """``init/clean`` (the package's ``postrm``, run after ``remove``, ``purge`` and
    ``upgrade``): what is left of this version once dpkg removed its files."""
    return textwrap.dedent(
        f"""\
        #!/bin/sh
        # aliyun-assist {version} init/clean (postrm), written by the cloudassist tests
        # (tests/support/client_deb.py).
        set -e
        DIR={folder(version)}
        rmdir_if_empty() {{
            if [ -d "$1" ] && [ -z "$(ls -A "$1")" ]; then rmdir "$1"; fi
        }}
        rm -rf "$DIR/log"
        if [ -L {LINK} ] && [ "$(readlink {LINK})" = "$DIR/aliyun-service" ]; then
            rm -f {LINK}
        fi
        rmdir_if_empty "$DIR/init"
        rmdir_if_empty "$DIR"
        rmdir_if_empty {SHARE}
        """
    )


def scripts(version: str) -> dict[str, str]:
    """``{'install': text, 'uninstall': text, 'clean': text}`` for ``version``."""
    return {
        "install": install_script(version),
        "uninstall": uninstall_script(version),
        "clean": clean_script(version),
    }


def _dpkg_deb() -> str:
    found = shutil.which("dpkg-deb")
    if found is None:
        raise RuntimeError(
            "building the client's .deb needs dpkg-deb (Debian package dpkg); none on the PATH "
            f"{os.environ.get('PATH', '')!r}"
        )
    return found


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}".rstrip()
        )
    return proc


def architecture() -> str:
    """The host's dpkg architecture (the stand-in is built for the host)."""
    return _run(["dpkg", "--print-architecture"]).stdout.strip()


def build(version: str, dest: str | os.PathLike, **knobs) -> Path:
    """Build ``dest/aliyun-assist_<version>.deb`` (replacing one already there) and return it.

    ``knobs`` go to :func:`standin.install_client` (e.g. ``noise=[...]``).
    """
    _check_version(version)
    dpkg_deb = _dpkg_deb()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{PACKAGE}-{version}-", dir=dest) as tmp:
        stage = Path(tmp) / "stage"
        top = stage / folder(version).lstrip("/")
        standin.install_client(top / "aliyun-service", version, **knobs)
        for name, text in scripts(version).items():
            standin.write_executable(top / "init" / name, text)
        standin.write_executable(stage / VERSION_FILE.lstrip("/"), version + "\n", 0o644)
        control = stage / "DEBIAN"
        control.mkdir()
        for maintainer, name in MAINTAINER_SCRIPTS.items():
            shutil.copyfile(top / "init" / name, control / maintainer)
            os.chmod(control / maintainer, 0o755)
        size = sum(p.lstat().st_size for p in stage.rglob("*") if not p.is_dir())
        size_kib = -(-size // 1024)
        (control / "control").write_text(
            textwrap.dedent(
                f"""\
                Package: {PACKAGE}
                Version: {version}
                Architecture: {architecture()}
                Maintainer: cloudassist tests <root@localhost>
                Installed-Size: {size_kib}
                Section: default
                Priority: optional
                Description: Aliyun Assist client {version} (cloudassist test stand-in)
                 The vendor's package layout with the cloudassist tests' stand-in client.
                """
            )
        )
        for d in [stage, *(p for p in stage.rglob("*") if p.is_dir())]:
            os.chmod(d, 0o755)
        out = Path(tmp) / deb_name(version)
        _run([dpkg_deb, "--root-owner-group", "-Zgzip", "--build", str(stage), str(out)])
        os.replace(out, dest / deb_name(version))
    return dest / deb_name(version)


def contents(deb: str | os.PathLike) -> list[str]:
    """The paths a .deb installs (``dpkg-deb -c``), absolute, directories with a trailing /."""
    out = _run([_dpkg_deb(), "-c", str(deb)]).stdout
    paths = []
    for line in out.splitlines():
        # drwxr-xr-x root/root 0 2026-12-07 20:00 ./usr/local/
        name = line.split(None, 5)[5].split(" -> ")[0]
        paths.append(name[1:] if name.startswith("./") else name)
    return [p for p in paths if p != "/"]


def field(deb: str | os.PathLike, name: str) -> str:
    """One control field of a .deb (``dpkg-deb -f``)."""
    return _run([_dpkg_deb(), "-f", str(deb), name]).stdout.strip()


def control_file(deb: str | os.PathLike, name: str) -> str:
    """A control member of a .deb (``dpkg-deb --ctrl-tarfile`` read by tarfile): e.g. the
    ``postinst`` text."""
    data = subprocess.run(
        [_dpkg_deb(), "--ctrl-tarfile", str(deb)], capture_output=True, timeout=60, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile("./" + name)
        if member is None:
            raise KeyError(f"{deb} has no control member {name}")
        return member.read().decode()
