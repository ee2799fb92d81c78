"""Fixtures for the integration suite: a real salt-master and salt-minion (pytest-salt-factories)
driving the cloudassist modules against a stand-in client managed by a real init script.

What is real on this host while the suite runs:

- ``/etc/init.d/aliyun-service``: an init script written by ``standin.sysv_script`` that
  daemonizes the stand-in client and keeps ``/var/run/aliyun-service.pid`` (any existing file
  is backed up and put back at teardown, also when a test fails);
- the stand-in client itself, a small Python program at ``<tmp>/aliyun-service`` that answers
  ``-v`` with the version a test chooses (``standin.install_client``).

The modules reach the minion the way the README tells operators: the master's ``file_roots``
holds the checkout (``_modules``, ``_states``, ``_utils``) and the master runs
``saltutil.sync_all``.  One master and one minion serve the whole session.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import textwrap
from pathlib import Path

import pytest

from .ca_host import (
    DEFAULT_VERSION,
    INIT_SCRIPT,
    PIDFILE,
    SETTLE,
    Host,
    kill_clients,
    standin,
)

# Serializes integration sessions on this host: they all share /etc/init.d/aliyun-service.
LOCK = Path("/run/cloudassist-integration.lock")
HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def _host_lock():
    """One integration session at a time on this host; a SIGTERM still runs the finalizers."""
    previous = signal.getsignal(signal.SIGTERM)

    def _term(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    with open(LOCK, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pytest.fail(f"another integration session holds {LOCK}", pytrace=False)
        signal.signal(signal.SIGTERM, _term)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)
            LOCK.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def client_binary(tmp_path_factory, _host_lock):
    """The stand-in client, the real init script that manages it, and the clean-up of both."""
    if os.geteuid() != 0:
        pytest.skip("writes /etc/init.d/aliyun-service: needs root")
    tmp = tmp_path_factory.mktemp("cloudassist-client")
    binary = tmp / "aliyun-service"
    standin.install_client(binary, DEFAULT_VERSION)
    backups = {}
    backup_dir = tmp_path_factory.mktemp("cloudassist-backup")
    try:
        for path in (INIT_SCRIPT, PIDFILE):
            if path.exists() or path.is_symlink():
                shutil.move(str(path), backup_dir / path.name)
                backups[path] = backup_dir / path.name
        standin.write_executable(INIT_SCRIPT, standin.sysv_script(binary=str(binary)))
        yield binary
    finally:
        kill_clients(binary)
        PIDFILE.unlink(missing_ok=True)
        INIT_SCRIPT.unlink(missing_ok=True)
        for path, saved in backups.items():
            shutil.move(str(saved), path)


@pytest.fixture(scope="session")
def host(client_binary):
    return Host(client_binary)


# --- Salt ----------------------------------------------------------------------------------

SLS = {
    "ca_running": """
        cloud-assistant:
          cloudassist.running
        """,
    "ca_stopped": """
        cloud-assistant:
          cloudassist.stopped
        """,
    "ca_dead": """
        cloud-assistant:
          cloudassist.dead
        """,
    "ca_watch": """
        trigger:
          test.succeed_with_changes

        cloud-assistant:
          cloudassist.running:
            - watch:
              - test: trigger
        """,
    "ca_misspelt": """
        cloud-assistant:
          cloudassist.running:
            - setle: 1
        """,
    "ca_enable": """
        cloud-assistant:
          cloudassist.running:
            - enable: "yes"
        """,
    "ca_watchdog_flag": """
        cloud-assistant:
          cloudassist.stopped:
            - stop_watchdog: "yes"
        """,
}


@pytest.fixture(scope="session")
def sls_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cloudassist-sls")
    for name, text in SLS.items():
        (path / f"{name}.sls").write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture(scope="session")
def salt_factories_config(tmp_path_factory):
    """Daemon root dirs under pytest's tmp dir (the default, /tmp/<id>, is left behind)."""
    return {"root_dir": tmp_path_factory.mktemp("salt")}


@pytest.fixture(scope="session")
def salt_master(salt_factories, sls_dir):
    overrides = {
        # The SLS files, then the checkout: `saltutil.sync_all` finds _modules/_states/_utils.
        "file_roots": {"base": [str(sls_dir), str(CHECKOUT)]},
        # The checkout holds a virtualenv and git metadata: keep them out of the file list.
        "file_ignore_regex": [r"(^|/)\.venv[^/]*(/|$)", r"(^|/)\.git(/|$)", r"(^|/)build(/|$)"],
        # salt-factories sets 0, so every file_list walks the checkout (with its .venv) again:
        # saltutil.sync_all asks once per module type, which took a minute.  Nothing under
        # file_roots changes during the session.
        "fileserver_list_cache_time": 600,
    }
    factory = salt_factories.salt_master_daemon("ca-master", overrides=overrides)
    with factory.started():
        yield factory


@pytest.fixture(scope="session")
def salt_minion(salt_master, client_binary):
    config = {"binary": str(client_binary), "settle": SETTLE}
    if os.path.isdir("/run/systemd/system"):
        # systemd is really running on this machine: the module would then (rightly) take the
        # systemd branch and run `systemctl ... aliyun.service`, which manages nothing the test
        # controls.  The suite is about the sysvinit branch and its real init script, so say so.
        config["init_system"] = "sysvinit"
    factory = salt_master.salt_minion_daemon(
        "ca-minion",
        overrides={"cloudassist": config},
    )
    with factory.started():
        yield factory


@pytest.fixture(scope="session")
def salt_cli(salt_master):
    return salt_master.salt_cli(timeout=120)


@pytest.fixture(scope="session")
def synced_minion(salt_minion, salt_cli):
    """The minion after `salt MINION saltutil.sync_all`, run from the master as the README says."""
    ret = salt_cli.run("saltutil.sync_all", minion_tgt=salt_minion.id)
    assert ret.returncode == 0, ret
    assert "modules.cloudassist" in ret.data["modules"], ret.data
    assert "states.cloudassist" in ret.data["states"], ret.data
    for name in ("args", "facts", "procedure", "run"):
        assert f"utils.cloudassist_{name}" in ret.data["utils"], ret.data
    ret = salt_cli.run("sys.list_functions", "cloudassist", minion_tgt=salt_minion.id)
    assert ret.returncode == 0, ret
    assert "cloudassist.status" in ret.data, ret.data
    return salt_minion


@pytest.fixture
def run(salt_cli, synced_minion):
    """``run("cloudassist.stop", ...)`` from the master against the minion."""

    def _run(*args, **kwargs):
        return salt_cli.run(*args, minion_tgt=synced_minion.id, **kwargs)

    return _run


@pytest.fixture
def client(host):
    """The stand-in at its default version, stopped, before and after the test."""
    host.ensure_stopped()
    host.write_client(DEFAULT_VERSION)
    yield host
    host.ensure_stopped()
    host.write_client(DEFAULT_VERSION)
