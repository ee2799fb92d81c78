"""The extension through salt-ssh: a real sshd on 127.0.0.1, a real `salt-ssh` and its thin.

What is real while this file runs (besides what conftest.py sets up: the stand-in client and
the real /etc/init.d/aliyun-service that manages it):

- an OpenSSH server, ``/usr/sbin/sshd -D -e -f <tmp>/sshd_config``, listening on 127.0.0.1 at
  a free port, with its own ed25519 host key, ``PermitRootLogin prohibit-password``, ``UsePAM
  no`` and an ``AuthorizedKeysFile`` in the tmp folder holding a fresh ed25519 client key (it
  is killed at teardown);
- a salt-ssh master config (pytest-salt-factories writes it; no master daemon is started:
  salt-ssh needs none) whose roster names that sshd, user root and the client key, whose
  ``known_hosts_file`` holds the sshd's host key (so the host key is checked, not ignored), and
  whose ``file_roots`` hold the SLS files and a copy of the checkout's ``_modules``,
  ``_states``, ``_grains``, ``_beacons``, ``_runners``: salt-ssh ships what it finds
  there with the thin (``mod_data``), as docs/install.md's "salt-ssh" section asks.

The target is this very host, as root, so the module manages the same stand-in the other
integration tests manage, and each test checks the host itself (/proc, the pid file) through
ca_host, not only what salt-ssh returned.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from .ca_host import DEFAULT_VERSION, INIT_SCRIPT, SETTLE
from .conftest import CHECKOUT

SSHD = Path("/usr/sbin/sshd")
SERVICE = str(INIT_SCRIPT)
TARGET = "ca-ssh"
EXTENSION_FOLDERS = ("_modules", "_states", "_grains", "_beacons", "_runners")
# The interpreter the thin runs with on the target.  salt-ssh's shell shim runs the first
# `python3` (then python2...) on the PATH; the roster's documented ``set_path`` option sets
# that PATH before the shim looks.  Putting the test venv's bin/ first makes the thin run with
# the very interpreter (and site-packages) the master side runs with: Python 3.13 for Salt
# 3008, 3.10 for Salt 3006.  (The host's own /usr/bin/python3 is whatever Debian ships, which
# neither CI job chose.)
TARGET_BIN = Path(sys.executable).parent
TARGET_PATH = f"{TARGET_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _keygen(path: Path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _banner(port: int) -> bytes:
    """The first line the server sends, or b'' if nothing listens yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            return sock.recv(256)
    except OSError:
        return b""


class Sshd:
    """An sshd of the test's own: config, keys and logs in ``folder``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = _free_port()
        self.host_key = folder / "ssh_host_ed25519_key"
        self.client_key = folder / "client_ed25519"
        self.authorized_keys = folder / "authorized_keys"
        self.known_hosts = folder / "known_hosts"
        self.config = folder / "sshd_config"
        self.log = folder / "sshd.log"
        self.proc = None

    def write(self):
        _keygen(self.host_key)
        _keygen(self.client_key)
        shutil.copyfile(f"{self.client_key}.pub", self.authorized_keys)
        self.authorized_keys.chmod(0o600)
        host_pub = Path(f"{self.host_key}.pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self.config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.folder / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    # The keys live under pytest's tmp dir, below the world-writable /tmp,
                    # which StrictModes refuses for an AuthorizedKeysFile.
                    "StrictModes no",
                    # salt-ssh copies the thin with scp, which OpenSSH 9 runs over SFTP
                    "Subsystem sftp internal-sftp",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )

    def start(self):
        # sshd refuses to start without its privilege separation folder (the Debian package
        # makes it at boot through tmpfiles.d, which a container may never have run).
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        check = subprocess.run(
            [str(SSHD), "-t", "-f", str(self.config)], capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, f"sshd -t rejected {self.config}: {check.stderr}"
        with open(self.log, "wb") as log:
            # sshd must be started by its absolute path (it re-executes itself per connection).
            self.proc = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"sshd exited {self.proc.returncode}: {self.log.read_text()}", pytrace=False
                )
            if _banner(self.port).startswith(b"SSH-2.0-"):
                return
            time.sleep(0.1)
        pytest.fail(f"sshd not answering on port {self.port}: {self.log.read_text()}")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory, _host_lock):
    if os.geteuid() != 0:
        pytest.skip("logs in to this host as root through its own sshd: needs root")
    if not SSHD.is_file():
        pytest.fail(f"{SSHD} is missing: bin/test installs openssh-server", pytrace=False)
    server = Sshd(tmp_path_factory.mktemp("cloudassist-sshd"))
    server.write()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ssh_file_roots(tmp_path_factory):
    """A copy of the checkout's extension folders, as an operator puts them in file_roots."""
    roots = tmp_path_factory.mktemp("cloudassist-ssh-file-roots")
    for name in EXTENSION_FOLDERS:
        folder = CHECKOUT / name
        if folder.is_dir():
            shutil.copytree(folder, roots / name, ignore=shutil.ignore_patterns("__pycache__"))
    assert (roots / "_modules" / "cloudassist.py").is_file(), sorted(roots.iterdir())
    assert (roots / "_states" / "cloudassist.py").is_file(), sorted(roots.iterdir())
    return roots


def _cloudassist_opts(client_binary):
    """What conftest.py's minion is given, mirrored for the salt-ssh target."""
    config = {"binary": str(client_binary), "settle": SETTLE}
    if os.path.isdir("/run/systemd/system"):
        # As in conftest.py: the suite is about the sysvinit branch and its real init script.
        config["init_system"] = "sysvinit"
    return config


@pytest.fixture(scope="module")
def salt_ssh(salt_factories, sshd, sls_dir, ssh_file_roots, client_binary, tmp_path_factory):
    """`salt-ssh` against the sshd above (a master config, a roster; no daemon runs)."""
    folder = tmp_path_factory.mktemp("cloudassist-salt-ssh")
    roster = folder / "roster"
    roster_data = {
        TARGET: {
            "host": "127.0.0.1",
            "port": sshd.port,
            "user": "root",
            "priv": str(sshd.client_key),
            # The thin and its ext_mods unpack here, not in the shared /var/tmp default.
            "thin_dir": str(folder / "thin"),
            # Which Python runs the thin: see TARGET_PATH.
            "set_path": TARGET_PATH,
            # The roster's per-target minion config, as conftest.py's minion gets overrides.
            "minion_opts": {"cloudassist": _cloudassist_opts(client_binary)},
        }
    }
    roster.write_text(yaml.safe_dump(roster_data, default_flow_style=False))
    overrides = {
        "file_roots": {"base": [str(sls_dir), str(ssh_file_roots)]},
        "roster_file": str(roster),
        "known_hosts_file": str(sshd.known_hosts),
        "ssh_log_file": str(folder / "ssh.log"),
    }
    master = salt_factories.salt_master_daemon("ca-ssh-master", overrides=overrides)
    return master.salt_ssh_cli(
        timeout=180, roster_file=str(roster), target_host=TARGET, client_key=str(sshd.client_key)
    )


@pytest.fixture
def ssh_client(host):
    """The stand-in at its default version, stopped, before and after the test."""
    host.ensure_stopped()
    host.write_client(DEFAULT_VERSION)
    yield host
    host.ensure_stopped()
    host.write_client(DEFAULT_VERSION)


def ret_of(ret):
    """The parsed return of the one target; fails with all salt-ssh said if there is none."""
    assert "Traceback" not in ret.stderr, ret
    data = ret.data
    assert data is not None, ret
    if isinstance(data, dict) and TARGET in data:
        data = data[TARGET]
    return data


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def state_ret(data, state_id="cloud-assistant"):
    assert isinstance(data, dict), data
    found = [v for v in data.values() if isinstance(v, dict) and v.get("__id__") == state_id]
    assert len(found) == 1, data
    return found[0]


# --- salt-ssh itself: sshd, login, thin, a Python that runs it --------------------------------


def test_ping(salt_ssh):
    ret = salt_ssh.run("test.ping")
    assert ret.returncode == 0, ret
    assert ret_of(ret) is True, ret


def test_grains_and_interpreter(salt_ssh, client_binary):
    ret = salt_ssh.run("grains.get", "os")
    assert ret.returncode == 0, ret
    assert ret_of(ret) == "Debian", ret
    # The thin runs with the interpreter set_path points at (TARGET_PATH).
    ret = salt_ssh.run("grains.get", "pythonexecutable")
    assert ret.returncode == 0, ret
    assert Path(ret_of(ret)).parent == TARGET_BIN, ret
    # The roster's minion_opts reach the target's config.
    ret = salt_ssh.run("config.get", "cloudassist")
    assert ret.returncode == 0, ret
    assert ret_of(ret) == _cloudassist_opts(client_binary), ret


# --- the extension through salt-ssh -------------------------------------------------------


def test_status_of_running_client(salt_ssh, ssh_client):
    pid = ssh_client.ensure_running()
    ret = salt_ssh.run("cloudassist.status")
    data = ret_of(ret)
    assert ret.returncode == 0, ret
    assert isinstance(data, dict), ret
    assert data["installed"] is True, data
    assert data["running"] is True, data
    assert data["pids"] == [pid], data
    assert data["version"] == DEFAULT_VERSION, data
    assert data["init_system"] == "sysvinit", data
    assert data["service"] == SERVICE, data
    assert data["binary"] == str(ssh_client.binary), data
    assert ssh_client.pids() == [pid], "status must not touch the client"


def test_stop_then_start(salt_ssh, ssh_client):
    pid = ssh_client.ensure_running()

    ret = salt_ssh.run("cloudassist.stop")
    data = ret_of(ret)
    assert ret.returncode == 0, ret
    assert isinstance(data, dict), ret
    assert data["running"] is False and data["changed"] is True, data
    assert data["command"] == SERVICE + " stop", data
    assert wait_for(lambda: not ssh_client.pids()), ssh_client.pids()
    assert pid not in ssh_client.pids()
    assert ssh_client.pidfile_pid() is None

    ret = salt_ssh.run("cloudassist.start")
    data = ret_of(ret)
    assert ret.returncode == 0, ret
    assert isinstance(data, dict), ret
    assert data["running"] is True and data["changed"] is True, data
    assert data["command"] == SERVICE + " start", data
    assert wait_for(lambda: len(ssh_client.pids()) == 1), ssh_client.pids()
    (new,) = ssh_client.pids()
    assert new != pid
    assert data["pids"] == [new], data
    assert ssh_client.pidfile_pid() == new


def test_state_running_after_stop_then_again(salt_ssh, ssh_client):
    ssh_client.ensure_stopped()

    ret = salt_ssh.run("state.apply", "ca_running")
    st = state_ret(ret_of(ret))
    assert ret.returncode == 0, ret
    assert st["result"] is True, st
    assert st["changes"] == {"running": {"old": False, "new": True}}, st
    assert f"`{SERVICE} start`" in st["comment"], st
    assert wait_for(lambda: len(ssh_client.pids()) == 1), ssh_client.pids()
    (pid,) = ssh_client.pids()
    assert ssh_client.pidfile_pid() == pid

    ret = salt_ssh.run("state.apply", "ca_running")
    st = state_ret(ret_of(ret))
    assert ret.returncode == 0, ret
    assert st["result"] is True, st
    assert st["changes"] == {}, st
    assert ssh_client.pids() == [pid], "an applied state that was already true touched the client"
