#!/usr/bin/env python3
"""What the beacon's poll and the grain cost a minion (issue 18), measured in one process.

The beacon's poll runs in the minion's main process for ever, every ``interval`` seconds; the
grain runs at every grain refresh (minion start, ``saltutil.refresh_grains``, after each
cloudassist action).  This loads the checkout's entry files (``_beacons/cloudassist.py``,
``_grains/cloudassist.py``) by their paths, as Salt's loader does, gives them the dunders Salt
would (``__opts__``, ``__salt__``, ``__context__``), and times:

* a quiet beacon poll (nothing changed since the last one): CPU time of this process per poll
  (``time.process_time``), and wall time; a full poll (the whole process table, read after a
  change and at least every ``FULL_EVERY`` seconds), and the average per poll at ``--interval``;
* a grain call: wall time, and CPU time of this process plus its children (the grain runs
  ``aliyun-service -v``).

The client is the tests' stand-in (``tests/support/standin.py``) in the vendor's layout under a
temporary folder, running in the foreground.  ``--processes N`` starts N idle processes first:
the poll reads the process table, so its cost grows with the host's processes (a busy host
has a few hundred).  Goals (issue 18): at most 1 ms of CPU per quiet poll; at most 5 ms added
to a grain refresh.

Run from the checkout's venv (no root needed)::

    .venv/bin/python bench/poll.py [--polls 500] [--grains 50] [--processes 300] [--json]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support import standin  # noqa: E402

POLL_GOAL_MS = 1.0
GRAIN_GOAL_MS = 5.0


def load(kind: str, dunders: dict):
    path = REPO / f"_{kind}" / "cloudassist.py"
    spec = importlib.util.spec_from_file_location(f"cloudassist_{kind}_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, value in dunders.items():
        setattr(module, name, value)
    virtual = module.__virtual__()
    if virtual is not True and virtual != "cloudassist":
        sys.exit(f"poll.py: the {kind} module does not load here: {virtual}")
    return module


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def summary(values_ms: list[float]) -> dict:
    values = sorted(values_ms)
    return {
        "median": statistics.median(values),
        "p90": values[int(0.9 * (len(values) - 1))],
        "max": values[-1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=500)
    parser.add_argument("--grains", type=int, default=50)
    parser.add_argument("--processes", type=int, default=0, help="idle processes to add first")
    parser.add_argument(
        "--interval", type=float, default=10, help="the beacon's interval, for the average"
    )
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()

    top = Path(tempfile.mkdtemp(prefix="cloudassist-poll-"))
    idle, client = [], None
    try:
        install = standin.install_versioned_client(top, standin.DEFAULT_VERSION, relative_link=True)
        client = subprocess.Popen(
            [str(install.link)], stdin=subprocess.DEVNULL, start_new_session=True
        )
        sleep = shutil.which("sleep")
        idle = [
            subprocess.Popen([sleep, "3600"], start_new_session=True)
            for _ in range(options.processes)
        ]
        # A minion's client was installed long before: the version cache keeps no answer for
        # a binary changed in the last 2 seconds.
        time.sleep(2.5)
        binary = str(install.link)
        config = {"binary": binary, "init_system": "sysvinit"}
        opts = {"cachedir": str(top / "cache"), "cloudassist": config}

        def config_get(key, default=None, **_):
            return config.get(key.split(":", 1)[1], default)

        dunders = {"__opts__": opts, "__salt__": {"config.get": config_get}, "__context__": {}}
        beacon = load("beacons", dunders)
        grain = load("grains", dunders)
        processes = sum(1 for name in os.listdir("/proc") if name.isdigit())

        beacon_config = [{"binary": binary}]
        assert beacon.beacon(beacon_config) == []  # the first poll records the baseline
        cpu, wall = [], []
        for _ in range(options.polls):
            c0, w0 = time.process_time(), time.perf_counter()
            events = beacon.beacon(beacon_config)
            cpu.append((time.process_time() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
            if events:
                sys.exit(f"poll.py: a quiet poll fired {events}")

        # A full poll (the whole process table), as after a change and at least every
        # FULL_EVERY seconds: the quiet path is taken away before each.
        state = dunders["__context__"][beacon.CONTEXT]["cloudassist"]
        full = []
        for _ in range(max(options.polls // 5, 20)):
            state.pop("seen", None)
            c0 = time.process_time()
            events = beacon.beacon(beacon_config)
            full.append((time.process_time() - c0) * 1000)
            if events:
                sys.exit(f"poll.py: a full poll fired {events}")
        every = max(1, round(beacon.watch.FULL_EVERY / options.interval))
        amortized = (statistics.median(cpu) * (every - 1) + statistics.median(full)) / every

        grain_cpu, grain_wall = [], []
        for _ in range(options.grains):
            c0, k0, w0 = time.process_time(), children_cpu(), time.perf_counter()
            found = grain.cloudassist()["cloudassist"]
            grain_wall.append((time.perf_counter() - w0) * 1000)
            grain_cpu.append((time.process_time() - c0 + children_cpu() - k0) * 1000)
            if found.get("version") != standin.DEFAULT_VERSION:
                sys.exit(f"poll.py: the grain answered {found}")
    finally:
        for proc in idle + ([client] if client else []):
            proc.kill()
            proc.wait()
        shutil.rmtree(top, ignore_errors=True)

    data = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "processes_on_host": processes,
        "beacon_poll_cpu_ms": summary(cpu),
        "beacon_poll_wall_ms": summary(wall),
        "beacon_full_poll_cpu_ms": summary(full),
        "beacon_cpu_ms_per_poll_on_average": amortized,
        "interval": options.interval,
        "grain_wall_ms": summary(grain_wall),
        "grain_cpu_ms_with_children": summary(grain_cpu),
        "goals": {"beacon_poll_cpu_ms": POLL_GOAL_MS, "grain_ms": GRAIN_GOAL_MS},
    }
    if options.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"cloudassist beacon poll and grain  {data['date']}, Python {data['python']}")
    print(f"processes on this host while measuring: {processes}")
    print(f"{'':34} {'median':>8} {'p90':>8} {'max':>8}   goal")
    rows = (
        ("beacon, quiet poll, CPU ms", data["beacon_poll_cpu_ms"], f"<= {POLL_GOAL_MS}"),
        ("beacon, quiet poll, wall ms", data["beacon_poll_wall_ms"], ""),
        ("beacon, full poll, CPU ms", data["beacon_full_poll_cpu_ms"], ""),
        ("grain, wall ms", data["grain_wall_ms"], f"<= {GRAIN_GOAL_MS}"),
        ("grain, CPU ms (children too)", data["grain_cpu_ms_with_children"], ""),
    )
    for name, stats, goal in rows:
        print(f"{name:34} {stats['median']:8.2f} {stats['p90']:8.2f} {stats['max']:8.2f}   {goal}")
    print(
        f"beacon, CPU ms per poll on average at interval {options.interval:g} s (a full poll "
        f"at least every {beacon.watch.FULL_EVERY:g} s): {amortized:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
