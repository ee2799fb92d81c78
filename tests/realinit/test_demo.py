"""``bin/cloudassist-demo`` runs for real (issue 10): one container boot, every command shown
with a successful result, and nothing left behind on the host.

The demo checks each step against systemd itself; this test reads its printed output on its
own (the YAML of each execution function, the highstate summary of each state), so a demo
that printed "ok" over a wrong result would still fail here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import realinit_testbed as tb
import yaml

pytestmark = pytest.mark.realinit

DEMO = tb.PROJECT_DIR / "bin" / "cloudassist-demo"
PROMPT = "cloudassist-demo# "
UNIT = "aliyun.service"

OLD, NEW = "2.2.3.578", "2.2.4.1065"
SHARE = "/usr/local/share/aliyun-assist"
# (command as printed, what its output must show), in the order the demo runs them.
EXEC, STATE_TEST, STATE = "exec", "state test=True", "state"
EXPECTED = [
    (
        "salt-call --out=yaml cloudassist.status",
        EXEC,
        {
            "installed": True,
            "running": True,
            "init_system": "systemd",
            "service": UNIT,
            "version": "2.2.3.578",
        },
    ),
    (
        "salt-call --out=yaml cloudassist.stop test=True",
        EXEC,
        {"test": True, "running": False, "command": f"systemctl stop {UNIT}"},
    ),
    ("salt-call --out=yaml cloudassist.stop", EXEC, {"running": False, "changed": True}),
    ("salt-call --out=yaml cloudassist.stop", EXEC, {"running": False, "changed": False}),
    ("salt-call --out=yaml cloudassist.start", EXEC, {"running": True, "changed": True}),
    ("salt-call --out=yaml cloudassist.restart", EXEC, {"running": True, "changed": True}),
    ("salt-call state.apply demo-stopped test=True", STATE_TEST, "cloudassist.stopped"),
    ("salt-call state.apply demo-stopped", STATE, "cloudassist.stopped"),
    ("salt-call state.apply cloudassist-example test=True", STATE_TEST, "cloudassist.running"),
    ("salt-call state.apply cloudassist-example", STATE, "cloudassist.running"),
    ("salt-call state.apply cloudassist-example", STATE, "cloudassist.running"),
    ("salt-call --out=yaml cloudassist.enabled", EXEC, True),
    (
        "salt-call --out=yaml cloudassist.disable",
        EXEC,
        {"enabled": False, "running": True, "changed": True},
    ),
    ("salt-call --out=yaml cloudassist.enable", EXEC, {"enabled": True, "changed": True}),
    ("salt-call --out=yaml cloudassist.updates", EXEC, {"frozen": False, "markers": []}),
    (
        "salt-call --out=yaml cloudassist.freeze_updates",
        EXEC,
        {"frozen": True, "bootstrap_frozen": True, "changed": True},
    ),
    (
        f"salt-call --out=yaml cloudassist.install salt://ca/aliyun-assist_{NEW}.deb test=True",
        EXEC,
        {"test": True, "version": OLD, "changes": {"version": {"old": OLD, "new": NEW}}},
    ),
    (
        f"salt-call --out=yaml cloudassist.install salt://ca/aliyun-assist_{NEW}.deb version={NEW}",
        EXEC,
        {"version": NEW, "running": True, "changes": {"version": {"old": OLD, "new": NEW}}},
    ),
    ("salt-call state.apply demo-installed", STATE, "cloudassist.installed"),
    (
        "salt-call --out=yaml cloudassist.remove test=True",
        EXEC,
        {
            "test": True,
            "changes": {
                "version": {"old": NEW, "new": None},
                # config/ (freeze_updates made it, allow_updates emptied it) keeps the share
                # folder through the purge
                "files": {"old": [f"{SHARE}/config", SHARE], "new": []},
            },
        },
    ),
    (
        "salt-call --out=yaml cloudassist.remove",
        EXEC,
        {
            "changed": True,
            "left": [],
            "kept": [],
            "changes": {
                "version": {"old": NEW, "new": None},
                "files": {"old": [f"{SHARE}/config", SHARE], "new": []},
            },
        },
    ),
]


def blocks(output: str) -> list[tuple[str, str, str]]:
    """(command, its output, the demo's verdict line) for each command the demo printed."""
    found = []
    for chunk in output.split("\n" + PROMPT)[1:]:
        command, _, rest = chunk.partition("\n")
        body, _, verdict = rest.partition("\n--> ")
        found.append((command, body, verdict.partition("\n")[0]))
    return found


def returned(body: str):
    """The ``local`` value of salt-call's YAML output (its stderr lines left out)."""
    stdout = "\n".join(line for line in body.splitlines() if not line.startswith("(stderr) "))
    return yaml.safe_load(stdout)["local"]


def test_demo_shows_every_command_and_cleans_up(realinit):
    before = set(tb.leftovers())
    root = tb.CACHE_DIR / "systemd"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # bin/setup-env finds this session's venv made (same venv, same Python): nothing installed.
    env.update(CLOUDASSIST_VENV=sys.prefix, PYTHON=sys.executable)
    started = time.monotonic()
    # Long timeout: without a cached root the demo first builds it with debootstrap.
    proc = subprocess.run(
        [str(DEMO)], capture_output=True, text=True, env=env, timeout=1500, stdin=subprocess.DEVNULL
    )
    took = time.monotonic() - started
    out = (
        f"exit {proc.returncode} after {took:.0f}s\n"
        f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    print(f"bin/cloudassist-demo took {took:.1f}s")

    # Nothing left: the demo's own work folder, and nothing new of the test bed at all.
    work = re.search(
        r"\(in (/\S+/" + re.escape(tb.TMP_PREFIX) + r"cloudassist-demo-\w+)\)", proc.stdout
    )
    assert work, out
    assert not os.path.lexists(work.group(1)), out
    left = [
        x for x in set(tb.leftovers()) - before if "cloudassist-demo" in x or work.group(1) in x
    ]
    assert not left, f"the demo left behind: {left}\n{out}"
    assert not tb.modified_in_root(root), (
        f"the demo changed the cached root: {tb.modified_in_root(root)}"
    )

    assert proc.returncode == 0, out
    assert f"==> removed the container, its overlay and mounts ({work.group(1)})" in proc.stdout, (
        out
    )

    shown = blocks(proc.stdout)
    assert [c for c, _, _ in shown] == [c for c, _, _ in EXPECTED], out
    for (command, body, verdict), (_, kind, expect) in zip(shown, EXPECTED, strict=False):
        where = f"{command}:\n{body}\n--> {verdict}"
        assert verdict.startswith("ok ("), where
        if kind == EXEC:
            ret = returned(body)
            if isinstance(expect, dict):
                assert isinstance(ret, dict), where
                assert {k: ret.get(k) for k in expect} == expect, where
            else:
                assert ret == expect, where
        else:
            assert f"Function: {expect}" in body, where
            assert re.search(r"^Failed:\s+0$", body, re.M), where
            assert re.search(r"^Succeeded:\s+1\b", body, re.M), where
            assert re.search(
                r"^\s+Result: " + ("None" if kind == STATE_TEST else "True") + "$", body, re.M
            ), where
    assert f"==> all {len(EXPECTED)} steps as expected" in proc.stdout, out
    # The demo waits for the stand-in to be seen stopped/started: restart made a new process.
    restart = returned(shown[5][1])
    assert set(restart["pids"]).isdisjoint(restart["pids_before"]), shown[5]
