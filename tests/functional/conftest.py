"""Functional tests: the modules under a real ``salt-call --local`` on this machine,
each test in a private view of the host (see ``tests/support/salthost.py``)."""

import json
import os
import pathlib
import shutil

import pytest

from salthost import Host

ROOT = pathlib.Path(__file__).resolve().parents[2]
AUDIT = ROOT / "tests" / "support" / "audit"


def _missing_tools():
    return [tool for tool in ("unshare", "mount") if not shutil.which(tool)]


@pytest.fixture(scope="session", autouse=True)
def _can_make_namespaces():
    if os.geteuid() != 0 or _missing_tools():
        reason = "functional tests need root and unshare/mount (missing: {})".format(
            _missing_tools() or "root"
        )
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


@pytest.fixture
def audited_call(host, tmp_path):
    """``call(*args)`` runs salt-call with the audit hook (tests/support/audit) and returns
    the result and the records of every process Python started during it."""
    log = tmp_path / "audit.jsonl"
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(AUDIT), os.environ.get("PYTHONPATH")])),
        CLOUDASSIST_AUDIT_LOG=str(log),
        CLOUDASSIST_AUDIT_ROOT=str(ROOT),
    )

    def call(*args):
        log.write_text("")
        res = host.salt_call(*args, env=env)
        return res, [json.loads(line) for line in log.read_text().splitlines()]

    return call
