"""Functional tests: the modules under a real ``salt-call --local`` on this machine,
each test in a private view of the host (see ``tests/support/salthost.py``)."""

import os
import shutil

import pytest

from salthost import Host


def _missing_tools():
    return [tool for tool in ("unshare", "mount") if not shutil.which(tool)]


@pytest.fixture(scope="session", autouse=True)
def _can_make_namespaces():
    if os.geteuid() != 0 or _missing_tools():
        reason = "functional tests need root and unshare/mount (missing: {})".format(_missing_tools() or "root")
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def host(tmp_path):
    h = Host(tmp_path)
    yield h
    h.cleanup()


@pytest.fixture
def running_client(host):
    """The default stand-in, started by its init script; returns its pids."""
    host.install_client()
    host.install_init_script()
    return host.start_client()
