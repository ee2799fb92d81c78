#!/usr/bin/env python3
"""Per-call cost of cloudassist on a real systemd host (issue 7, the benchmark).

Boots the realinit testbed's cached systemd root in a systemd-nspawn container, installs the
stand-in client as ``aliyun.service`` (running), copies the modules of ``--checkout`` into it
and measures, inside the container:

* in-process, with Salt's loaders built once (``salt.minion.SMinion``, what
  ``salt.client.Caller`` and ``salt-call --local`` build): median/p90 wall time of
  ``cloudassist.status``, ``cloudassist.version``, the already-satisfied state
  ``cloudassist.running`` (called through the states loader, and through ``state.single``)
  and Salt's native ``service.status aliyun.service``; and the processes each call starts
  (audit hook on subprocess/os spawn events, plus PIDs allocated in the container);
* in a fresh process: building the utils and execution-module loaders and touching
  ``cloudassist.status`` vs ``service.status``;
* end to end: ``salt-call --local`` of cloudassist.status, test.version, service.status.

Run as root from the checkout's venv::

    .venv/bin/python bench/percall.py [--calls 50] [--json] [--checkout PATH] [--baseline PATH]

``--baseline PATH`` measures a second tree (e.g. the commit before a change, from
``git worktree add``) in the same container and boot, before the checkout, and adds a table of
the two side by side.  Either tree may have the library in ``_modules`` or, as before issue 24,
in ``_utils`` (then copied too and named in ``utils_dirs``).

Everything started (container, overlay mount, temp dirs) is removed at the end, also on
Ctrl-C, SIGTERM or SIGHUP.  The cached root is only read (it boots from a throwaway overlay).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "tests" / "realinit"), str(REPO / "tests")]

import realinit_testbed as tb  # noqa: E402
from support import standin  # noqa: E402

BENCH_DIR = "/opt/cloudassist-bench"  # inside the container
INNER = BENCH_DIR + "/inner.py"
BINARY = "/usr/sbin/aliyun-service"
VERSION = "2.2.3.578"

# A second stand-in, kept here so the benchmark does not depend on the tests' one only (a /bin/sh
# script, for --clients sh); the daemon part loops in the shell so /proc/PID/comm stays
# aliyun-service.
SH_CLIENT = """\
#!/bin/sh
# Stand-in for the Cloud Assistant client (aliyun-service), written by bench/percall.py.
case "$1" in -v|--version) echo {version}; exit 0;; esac
trap 'exit 0' TERM INT
while :; do sleep 1 & wait $!; done
"""

CASE_ORDER = [
    "cloudassist.status",
    "cloudassist.version",
    "cloudassist.running (states loader)",
    "cloudassist.running (state.single)",
    "service.status aliyun.service",
    "floor: subprocess aliyun-service -v",
    "floor: subprocess systemctl is-active",
    "floor: same, Popen.wait(timeout=30)",
]
# Measured again with the second stand-in (state.single differs from the states-loader row
# only by Salt's state engine, so it is not repeated).
SECOND_CLIENT_CASES = [
    "cloudassist.status",
    "cloudassist.version",
    "cloudassist.running (states loader)",
    "service.status aliyun.service",
    "floor: subprocess aliyun-service -v",
]


def log(msg: str) -> None:
    print("[bench] " + msg, file=sys.stderr, flush=True)


def checkout_id(path: Path) -> str:
    def git(*a):
        return subprocess.run(["git", "-C", str(path), *a], capture_output=True, text=True)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return f"{path} (not a git checkout; files sha256 {tree_hash(path)})"
    dirty = git("status", "--porcelain", "--", *TREE_FOLDERS).stdout.strip()
    return (
        f"{path} @ {head.stdout.strip()}{' + uncommitted changes' if dirty else ''} "
        f"(files sha256 {tree_hash(path)})"
    )


def tree_hash(path: Path) -> str:
    """sha256 of the measured files (names and contents), to tell snapshots apart."""
    import hashlib

    h = hashlib.sha256()
    for sub in TREE_FOLDERS:
        for f in sorted((path / sub).rglob("*.py")):
            if "__pycache__" not in f.parts:
                h.update(str(f.relative_to(path)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def put_client(c: tb.Container, client: str) -> str:
    """Write the stand-in (atomically: a running client keeps its process and its name);
    return what it is."""
    path = c.path(BINARY)
    if client == "sh":
        tmp = path.with_name(".bench-aliyun-service.tmp")
        tmp.write_text(SH_CLIENT.format(version=VERSION))
        tmp.chmod(0o755)
        os.replace(tmp, path)
    else:  # the tests' own stand-in (tests/support/standin.py), as the realinit suite installs it
        standin.install_client(path, VERSION)
    head = path.read_bytes()[:64]
    return (
        "ELF executable"
        if head.startswith(b"\x7fELF")
        else "script " + head.split(b"\n")[0].decode(errors="replace")
    )


# _utils: the library's folder before issue 24 (a --baseline of an older commit has it).
TREE_FOLDERS = ("_modules", "_states", "_utils")


def prepare(c: tb.Container, trees: dict, client: str) -> str:
    """Before boot, on the container's writable layer; ``trees``: {label: checkout}."""
    bench = c.path(BENCH_DIR)
    for label, checkout in trees.items():
        for sub in TREE_FOLDERS:
            if (checkout / sub).is_dir():
                shutil.copytree(
                    checkout / sub,
                    bench / label / sub,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )
    shutil.copy(HERE / "inner.py", bench / "inner.py")
    kind = put_client(c, client)
    c.write(
        "/etc/systemd/system/aliyun.service",
        standin.systemd_unit(BINARY, description="Stand-in Cloud Assistant client (bench)"),
    )
    wants = c.path("/etc/systemd/system/multi-user.target.wants")
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "aliyun.service").symlink_to("/etc/systemd/system/aliyun.service")
    return kind


def inner(c: tb.Container, *args: str, timeout: float = 600) -> dict:
    res = c.run(str(tb.VENV_PYTHON), INNER, *args, check=False, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(
            f"inner.py {' '.join(args)} failed in the container:\n{res.stderr[-3000:]}"
        )
    return json.loads(res.stdout)


def measure(args, c: tb.Container, label: str = "checkout") -> dict:
    # Salt's config for the container: the testbed's masterless minion, pointed at the copy.
    tree = f"{BENCH_DIR}/{label}"
    config = {
        "module_dirs": [tree + "/_modules"],
        "states_dirs": [tree + "/_states"],
        "log_level_logfile": "warning",  # the benchmark should not time debug logging
    }
    if c.path(tree + "/_utils").is_dir():
        config["utils_dirs"] = [tree + "/_utils"]
    salt = tb.Salt(c, config)
    conf = f"{BENCH_DIR}/conf-{label}/minion"
    c.sh(f"mkdir -p {BENCH_DIR}/conf-{label} && cp {tb.SALT_DIR}/conf/minion {conf}")

    # Preflight: the client runs under aliyun.service and the module sees it so.
    try:
        c.wait_for(
            lambda: (
                c.run("systemctl", "is-active", "aliyun.service", check=False).stdout.strip()
                == "active"
            ),
            timeout=10,
            what="aliyun.service to be active",
        )
    except AssertionError:
        st = c.run("systemctl", "status", "--no-pager", "-l", "aliyun.service", check=False)
        raise RuntimeError("aliyun.service is not active:\n" + st.stdout + st.stderr) from None
    pre = salt.call("cloudassist.status")
    if pre.returncode != 0 or not isinstance(pre.ret, dict) or pre.ret.get("running") is not True:
        raise RuntimeError(
            "cloudassist.status does not work with this checkout (is the module "
            "being edited? try --checkout with a clean copy):\n" + repr(pre)
        )

    out = {"inprocess": {}}
    for i, client in enumerate(args.clients):
        if i:  # the client started at boot keeps running; only what `-v` runs changes
            args.client_kinds[client] = put_client(c, client)
        todo = CASE_ORDER if i == 0 else SECOND_CLIENT_CASES
        log(f"in-process, {client} stand-in: {args.calls} calls of each of {len(todo)} cases")
        out["inprocess"][client] = inner(c, "percall", conf, str(args.calls), json.dumps(todo))
    if args.profile:
        log(f"cProfile of {args.profile} ({args.clients[-1]} stand-in)")
        out["profile"] = inner(c, "profile", conf, str(args.calls), args.profile)
    put_client(c, args.clients[0])
    log(f"fresh-process module load: {args.load_repeat} runs each")
    out["load"] = inner(c, "load", conf, str(args.load_repeat))
    log(f"salt-call end to end: {args.e2e_repeat} runs each")
    out["e2e"] = inner(c, "e2e", conf, str(args.e2e_repeat))
    out["host"] = {
        "systemd": c.run("systemctl", "--version").stdout.split("\n")[0],
        "status_sample": pre.ret,
    }
    return out


def ratios(data: dict) -> dict:
    out = {}
    for client, ip in data["inprocess"].items():
        status = ip["cases"]["cloudassist.status"]
        native = ip["cases"]["service.status aliyun.service"]
        out[f"status / service.status, in-process ({client} stand-in)"] = {
            "value": status["median_ms"] / native["median_ms"],
            "target": "<= 0.3 (issue 7, one spawn; issue 8 allows a second)",
        }
    load = data["load"]
    status = data["inprocess"][next(iter(data["inprocess"]))]["cases"]["cloudassist.status"]
    return {
        **out,
        "processes spawned by status": {
            "value": max(status["spawned"]),
            "target": "<= 2, one of them -v (issue 8)",
        },
        "module load, cloudassist / service (fresh process)": {
            "value": load["cloudassist.status"]["load_ms"] / load["service.status"]["load_ms"],
            "target": "<= 1.0",
        },
        "  of which touching the function only": {
            "value": load["cloudassist.status"]["touch_ms"] / load["service.status"]["touch_ms"],
            "target": "(info)",
        },
        "salt-call, cloudassist.status / service.status": {
            "value": data["e2e"]["salt-call --local cloudassist.status"]["median_ms"]
            / data["e2e"]["salt-call --local service.status aliyun.service"]["median_ms"],
            "target": "(info)",
        },
    }


def side_by_side(base: dict, this: dict) -> str:
    """The headline numbers of the two trees, measured in one run."""
    client = base["meta"]["clients"][0]
    rows = []
    for name in CASE_ORDER[:5]:
        a, b = base["inprocess"][client]["cases"][name], this["inprocess"][client]["cases"][name]
        rows.append((f"in-process {name} (median ms)", a["median_ms"], b["median_ms"]))
        if name.startswith("cloudassist.status"):
            rows.append(("  processes spawned", max(a["spawned"]), max(b["spawned"])))
    for fun in ("cloudassist.status", "service.status"):
        rows.append(
            (
                f"fresh process: load {fun} (ms)",
                base["load"][fun]["load_ms"],
                this["load"][fun]["load_ms"],
            )
        )
    for name in base["e2e"]:
        rows.append(
            (f"{name} (ms)", base["e2e"][name]["median_ms"], this["e2e"][name]["median_ms"])
        )
    lines = [
        "Side by side, one run (baseline first):",
        f"  baseline: {base['meta']['checkout']}",
        f"  checkout: {this['meta']['checkout']}",
        f"{'':60} {'baseline':>9} {'checkout':>9} {'ratio':>6}",
    ]
    for name, a, b in rows:
        ratio = f"{b / a:6.2f}" if a else "     -"
        lines.append(f"{name:60} {a:9.1f} {b:9.1f} {ratio}")
    return "\n".join(lines)


def table(data: dict) -> str:
    meta = data["meta"]
    first = data["inprocess"][meta["clients"][0]]
    lines = [
        f"cloudassist per-call benchmark  {meta['date']}",
        f"Salt {first['salt']}, Python {first['python']}, {data['host']['systemd']} booted in "
        f"systemd-nspawn, {meta['cpus']} CPUs",
        f"checkout: {meta['checkout']}",
        f"command: {meta['command']}  ({meta['seconds']} s; "
        f"load average before: {meta['loadavg']})",
        f"client: stand-in {VERSION} under aliyun.service (active, started at boot); "
        + ", ".join(f"{k}: {v}" for k, v in meta["client_kinds"].items()),
    ]
    for client, ip in data["inprocess"].items():
        lines += [
            "",
            f"In-process, {client} stand-in (salt.minion.SMinion built once in "
            f"{ip['setup_ms']:.0f} ms; {meta['calls']} calls per case, interleaved, after 2 "
            "warm-up calls)",
            f"{'case':40} {'median':>7} {'p90':>7} {'1st':>7} {'spawned':>7} {'pids':>4}  "
            "commands spawned",
        ]
        for name in CASE_ORDER:
            if name not in ip["cases"]:
                continue
            r = ip["cases"][name]
            spawned = "/".join(str(x) for x in sorted(set(r["spawned"])))
            pids = "/".join(str(x) for x in sorted(set(r["pids_allocated"])))
            cmds = "; ".join(r["commands"]) or "-"
            lines.append(
                f"{name:40} {r['median_ms']:7.1f} {r['p90_ms']:7.1f} "
                f"{ip['first_call_ms'][name]:7.1f} {spawned:>7} {pids:>4}  {cmds}"
            )
    lines += [
        "  (ms. 1st = first call, with the lazy load of the module; spawned = processes "
        "started per call, audit hook; pids = PIDs allocated in the container per call: "
        "every process and thread, grandchildren and systemd's own included)",
        "",
    ]
    ld = data["load"]
    n = ld["cloudassist.status"]["n"]
    lines += [
        f"Fresh process, median of {n}: utils(opts) + minion_mods(opts, utils), "
        "then touch the function (imports, opts+grains shown apart)",
        f"{'function':20} {'load':>6} {'loader':>6} {'touch':>6} {'imports':>7} "
        f"{'grains':>6} {'process':>7}  modules loaded",
    ]
    for fun in ("cloudassist.status", "service.status"):
        r = ld[fun]
        lines.append(
            f"{fun:20} {r['load_ms']:6.1f} {r['loader_ms']:6.1f} {r['touch_ms']:6.1f} "
            f"{r['import_ms']:7.1f} {r['opts_grains_ms']:6.1f} {r['wall_ms']:7.1f}  "
            f"{', '.join(r['loaded_files'])} (provider: {r['provider']})"
        )
    lines += ["  (ms; load = loader + touch; process = the whole fresh python process, wall)", ""]
    e2e = data["e2e"]
    n = next(iter(e2e.values()))["n"]
    lines += [
        f"End to end, {meta['clients'][0]} stand-in, median of {n} (one warm-up round dropped)",
        f"{'command':52} {'median':>7} {'p90':>7}",
    ]
    for name, r in e2e.items():
        lines.append(f"{name:52} {r['median_ms']:7.0f} {r['p90_ms']:7.0f}")
    lines += ["  (ms)", "", "Ratios (issue 7)"]
    for name, r in data["ratios"].items():
        v = r["value"]
        shown = f"{v:6.2f}" if isinstance(v, float) else f"{v:6}"
        lines.append(f"{name:56} {shown}   target {r['target']}")
    if "profile" in data:
        lines += [
            "",
            f"cProfile, {data['profile']['calls']} calls of {data['profile']['case']}",
            data["profile"]["profile"],
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--calls", type=int, default=50, metavar="N", help="in-process calls per case (default 50)"
    )
    p.add_argument(
        "--load-repeat",
        type=int,
        default=7,
        metavar="N",
        help="fresh processes per function for the load time (default 7)",
    )
    p.add_argument(
        "--e2e-repeat",
        type=int,
        default=7,
        metavar="N",
        help="salt-call runs per command (default 7)",
    )
    p.add_argument(
        "--checkout",
        type=Path,
        default=REPO,
        help="tree whose _modules/_states are measured (default: %(default)s)",
    )
    p.add_argument(
        "--baseline",
        type=Path,
        help="a second tree, measured first in the same run, shown side by side",
    )
    p.add_argument(
        "--clients",
        default="project",
        help="stand-in clients to measure in-process, in order, comma-separated "
        "(default %(default)s): 'project' is the tests' stand-in "
        "(tests/support/standin.py), 'sh' a /bin/sh script kept in bench/; "
        "the first one serves the load and salt-call parts",
    )
    p.add_argument(
        "--profile",
        metavar="CASE",
        nargs="?",
        const="cloudassist.status",
        help="also print a cProfile of CASE (default cloudassist.status)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = p.parse_args(argv)
    args.clients = [x.strip() for x in args.clients.split(",") if x.strip()]
    if (
        not args.clients
        or set(args.clients) - {"project", "sh"}
        or len(set(args.clients)) < len(args.clients)
    ):
        p.error("--clients takes project and/or sh, comma-separated")
    checkout = args.checkout.resolve()
    trees = {"checkout": checkout}
    if args.baseline:
        trees = {"baseline": args.baseline.resolve(), "checkout": checkout}
    for tree in trees.values():
        for sub in ("_modules", "_states"):
            if not (tree / sub).is_dir():
                p.error(f"{tree} has no {sub}/")
    reason = tb.unavailable_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2

    def _term(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _term)
    stop_signals = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}

    started = time.monotonic()
    loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    root = tb.ensure_root("systemd", log=log)
    c = None
    problems: list[str] = []
    try:
        # No signal between mounting the overlay and knowing the container: it is cleaned up.
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        try:
            c = tb.Container(root, "systemd", "ca-bench")
            tb.OPEN.append(c)
            tb.ALL.append(c)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
        args.client_kinds = {args.clients[0]: prepare(c, trees, args.clients[0])}
        log("booting systemd")
        c.boot()
        runs = {}
        for label in trees:
            log(f"measuring {label}: {trees[label]}")
            runs[label] = measure(args, c, label)
        data = runs["checkout"]
    except KeyboardInterrupt as exc:
        log(f"interrupted ({str(exc) or 'SIGINT'}); cleaning up")
        data = None
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # cleanup must not be cut short
        try:
            if c is not None:
                problems += c.close()
                tb.OPEN.remove(c)
                problems += tb.leftovers_of(c)
            problems += [f"cached root modified: {x}" for x in tb.modified_in_root(root)]
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
    for problem in problems:
        log("LEFT BEHIND: " + problem)
    if data is None:
        return 130
    data["meta"] = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "checkout": checkout_id(checkout),
        "clients": args.clients,
        "client_kinds": getattr(args, "client_kinds", {}),
        "calls": args.calls,
        "cpus": os.cpu_count(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "seconds": round(time.monotonic() - started, 1),
        "loadavg": loadavg,
    }
    data["ratios"] = ratios(data)
    if "baseline" in runs:
        base = runs["baseline"]
        base["meta"] = dict(data["meta"], checkout=checkout_id(trees["baseline"]))
        base["ratios"] = ratios(base)
        data["baseline"] = base
    if args.json:
        json.dump(data, sys.stdout, indent=1, default=str)
        print()
    else:
        if "baseline" in data:
            print(table(data["baseline"]) + "\n\n" + "=" * 100 + "\n")
        print(table(data))
        if "baseline" in data:
            print("\n" + side_by_side(data["baseline"], data))
    log(f"done in {data['meta']['seconds']} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
