"""Fixtures for the real-init suite (issue 3): real systemd and sysvinit booted with
systemd-nspawn, the project's modules run inside through a real ``salt-call``.

Every test here carries the ``realinit`` marker.  When the machine cannot boot containers the
suite is skipped with the reason, except under ``CI=true`` where that is a failure.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for _p in (HERE, HERE.parent):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import realinit_testbed as tb  # noqa: E402
from support import standin  # noqa: E402

CI = os.environ.get("CI", "").strip().lower() == "true"

_OPEN: list = []  # containers not yet closed (closed again at exit, should a finalizer not run)
_ALL: list = []   # every container of the session, for the leftovers check


def pytest_configure(config):
    config.addinivalue_line("markers", "realinit: boots real init systems in systemd-nspawn containers")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.realinit)


def pytest_report_header(config):
    reason = tb.unavailable_reason()
    if reason:
        return "realinit: cannot run here: %s%s" % (reason, " (CI=true: tests will fail)" if CI else "")
    return "realinit: root file systems in %s (override with CLOUDASSIST_REALINIT_CACHE)" % tb.CACHE_DIR


@atexit.register
def _close_forgotten():
    for c in list(_OPEN):
        c.close()


@pytest.fixture(scope="session")
def realinit():
    """Session gate: skip (or fail under CI=true) where containers cannot boot; build roots."""
    reason = tb.unavailable_reason()
    if reason:
        if CI:
            pytest.fail("CI=true and the real-init suite cannot run: " + reason, pytrace=False)
        pytest.skip(reason)
    # A SIGTERM (CI timeout, kill) should still run the finalizers that stop the containers.
    previous = signal.getsignal(signal.SIGTERM)

    def _term(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, _term)
    roots = {}
    try:
        yield roots
    finally:
        signal.signal(signal.SIGTERM, previous)
        problems = []
        for c in _ALL:
            problems.extend(tb.leftovers_of(c))
        assert not problems, "the real-init suite left things behind:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def roots(realinit):
    """{'systemd': Path, 'sysvinit': Path}, built on first use and cached between runs."""
    import time

    started = time.monotonic()
    built = {kind: tb.ensure_root(kind, log=lambda m: print("[realinit] " + m, flush=True))
             for kind in ("systemd", "sysvinit")}
    realinit.update(built)
    elapsed = time.monotonic() - started
    if elapsed > 5:
        print(f"[realinit] roots ready after {elapsed:.0f}s", flush=True)
    return built


class Host:
    """A booted container plus its salt-call, handed to the tests."""

    def __init__(self, container: tb.Container, salt: tb.Salt):
        self.c = container
        self.salt = salt

    def __getattr__(self, name):
        return getattr(self.c, name)

    def call(self, *args, **kw) -> tb.SaltResult:
        return self.salt.call(*args, **kw)


def make_host(request, roots, name, kind, prepare=None, *, boot=True, pid1=None, salt_config=None):
    """Create, prepare (before boot, on the writable layer), boot, and schedule teardown."""
    root = roots["systemd" if kind in ("systemd", "container") else "sysvinit"]
    c = tb.Container(root, "systemd" if kind == "container" else kind, name)
    _OPEN.append(c)
    _ALL.append(c)

    def _fin():
        try:
            problems = c.close()
        finally:
            _OPEN.remove(c)
        assert not problems, "teardown of %s: %s" % (name, problems)

    request.addfinalizer(_fin)
    if prepare:
        prepare(c)
    if boot:
        c.boot()
    else:
        c.start_plain(pid1)
    salt = tb.Salt(c, salt_config)
    return Host(c, salt)


# ------------------------------------------------------------------------------------------
# What goes into a container's writable layer
# ------------------------------------------------------------------------------------------

BINARY = "/usr/sbin/aliyun-service"
PY3 = "/usr/bin/python3"


def put_client(c: tb.Container, version: str, **knobs) -> None:
    standin.install_client(c.path(BINARY), version, interpreter=PY3, **knobs)


def put_unit(c: tb.Container, unit: str, binary: str = BINARY, enable: bool = True,
             description: str = "Stand-in Cloud Assistant client") -> None:
    c.write(f"/etc/systemd/system/{unit}", standin.systemd_unit(binary, description=description))
    if enable:
        wants = c.path("/etc/systemd/system/multi-user.target.wants")
        wants.mkdir(parents=True, exist_ok=True)
        (wants / unit).symlink_to(f"/etc/systemd/system/{unit}")


def put_sysv(c: tb.Container, name: str = "aliyun-service", pidfile: str = "/var/run/aliyun-service.pid",
             enable: bool = True) -> None:
    c.write(f"/etc/init.d/{name}", standin.sysv_script(BINARY, name=name, pidfile=pidfile), 0o755)
    if enable:
        c.chroot("update-rc.d", name, "defaults")


SLS_STOPPED = """\
cloudassist_client:
  cloudassist.stopped:
    - name: aliyun
"""

SLS_RUNNING = """\
cloudassist_client:
  cloudassist.running:
    - name: aliyun
"""
