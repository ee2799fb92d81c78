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

CI = os.environ.get("CI", "").strip().lower() == "true"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "realinit: boots real init systems in systemd-nspawn containers"
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.realinit)


def pytest_report_header(config):
    reason = tb.unavailable_reason()
    if reason:
        return "realinit: cannot run here: {}{}".format(
            reason,
            " (CI=true: tests will fail)" if CI else "",
        )
    return (
        f"realinit: root file systems in {tb.CACHE_DIR} (override with CLOUDASSIST_REALINIT_CACHE)"
    )


@atexit.register
def _close_forgotten():
    for c in list(tb.OPEN):
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
        for c in tb.ALL:
            problems.extend(tb.leftovers_of(c))
        for kind, root in roots.items():
            problems.extend(
                f"cached {kind} root was modified: {p}" for p in tb.modified_in_root(root)
            )
        assert not problems, "the real-init suite left things behind:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def roots(realinit):
    """{'systemd': Path, 'sysvinit': Path}, built on first use and cached between runs."""
    import time

    started = time.monotonic()
    from concurrent.futures import ThreadPoolExecutor

    def log(message):
        print("[realinit] " + message, flush=True)

    kinds = ("systemd", "sysvinit")
    with ThreadPoolExecutor(len(kinds)) as pool:  # debootstrap mostly waits on the network
        futures = {kind: pool.submit(tb.ensure_root, kind, log) for kind in kinds}
        built = {kind: f.result() for kind, f in futures.items()}
    realinit.update(built)
    elapsed = time.monotonic() - started
    if elapsed > 5:
        print(f"[realinit] roots ready after {elapsed:.0f}s", flush=True)
    return built
