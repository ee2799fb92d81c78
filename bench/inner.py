"""The part of the benchmark that runs INSIDE the booted container (with the venv's python).

    inner.py percall CONF N [JSON]  in-process (JSON: a list of case names, default all):
                                    per-call wall time and processes spawned
    inner.py profile CONF N FUN     in-process: cProfile of N calls of one case
    inner.py load    CONF REPEAT    fresh processes: build the loader, touch one function
    inner.py loadone CONF FUN       (one such fresh process; prints JSON)
    inner.py e2e     CONF REPEAT    `salt-call --local ...` end to end

Prints one JSON document on stdout.  Only the public interface is used: the execution
functions ``cloudassist.status``/``cloudassist.version`` and the state ``cloudassist.running``.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

BINARY = "/usr/sbin/aliyun-service"
UNIT = "aliyun.service"

# Audit events that start a process.  subprocess.Popen raises its own event and then (on
# Linux) forks through _posixsubprocess or os.posix_spawn; the os.* events are counted only
# when subprocess is not on the stack, so one Popen counts once.
SPAWN_EVENTS = {
    "subprocess.Popen",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.system",
    "os.exec",
    "pty.spawn",
}


def pct(values, q):
    values = sorted(values)
    if not values:
        return None
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def summary(seconds):
    ms = [s * 1000.0 for s in seconds]
    return {
        "n": len(ms),
        "median_ms": statistics.median(ms),
        "p90_ms": pct(ms, 0.9),
        "min_ms": min(ms),
        "max_ms": max(ms),
    }


def last_pid():
    """Last PID allocated in this PID namespace (/proc/loadavg is per namespace): the delta
    over a call counts every process and thread created in the container meanwhile."""
    with open("/proc/loadavg") as handle:
        return int(handle.read().split()[-1])


def minion_opts(conf):
    import salt.config

    opts = salt.config.minion_config(conf)
    opts["file_client"] = "local"
    return opts


# --------------------------------------------------------------------------------------------
# in-process
# --------------------------------------------------------------------------------------------


def cases(sminion):
    """name -> (callable, check).  Each check raises when the call did not do what the row
    claims (e.g. the state was not already satisfied)."""
    funcs, states = sminion.functions, sminion.states

    def status():
        return funcs["cloudassist.status"]()

    def check_status(ret):
        assert ret["running"] is True and ret["installed"] is not False, ret

    def version():
        return funcs["cloudassist.version"]()

    def check_version(ret):
        assert isinstance(ret, str) and ret.count(".") == 3, ret

    def running_states():
        return states["cloudassist.running"](name="aliyun")

    def check_running(ret):
        assert ret["result"] is True and not ret["changes"], ret

    def running_single():
        return funcs["state.single"]("cloudassist.running", name="aliyun")

    def check_single(ret):
        assert isinstance(ret, dict) and len(ret) == 1, ret
        one = next(iter(ret.values()))
        assert one["result"] is True and not one["changes"], one

    def native():
        return funcs["service.status"](UNIT)

    def check_native(ret):
        assert ret is True, ret

    def bare_client():
        return subprocess.run(
            [BINARY, "-v"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=True,
        )

    def bare_systemctl():
        return subprocess.run(
            ["systemctl", "is-active", UNIT],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=True,
        )

    def polled_systemctl():
        # As a runner that sends output to files and enforces a timeout must, unless it waits
        # some other way: Popen.wait(timeout) polls, sleeping 0.5 ms, 1 ms, 2 ms ... up to 50 ms.
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(
                ["systemctl", "is-active", UNIT],
                stdout=out,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
            )
            return proc.wait(timeout=30)

    ok = lambda ret: None  # noqa: E731
    return {
        "cloudassist.status": (status, check_status),
        "cloudassist.version": (version, check_version),
        "cloudassist.running (states loader)": (running_states, check_running),
        "cloudassist.running (state.single)": (running_single, check_single),
        "service.status aliyun.service": (native, check_native),
        "floor: subprocess aliyun-service -v": (bare_client, ok),
        "floor: subprocess systemctl is-active": (bare_systemctl, ok),
        "floor: same, Popen.wait(timeout=30)": (polled_systemctl, ok),
    }


def make_sminion(conf):
    """What salt.client.Caller and `salt-call --local` build: grains, pillar, utils, the
    execution modules and the states, each a lazy loader; built once here."""
    import salt.minion

    return salt.minion.SMinion(minion_opts(conf))


def percall(conf, n, only=None):
    t0 = time.perf_counter()
    sminion = make_sminion(conf)
    setup_s = time.perf_counter() - t0
    todo = cases(sminion)
    if only:
        todo = {name: todo[name] for name in only}
    first, times = {}, {name: [] for name in todo}
    for name, (fun, check) in todo.items():  # first call: includes the lazy load of the module
        t = time.perf_counter()
        check(fun())
        first[name] = (time.perf_counter() - t) * 1000.0
        check(fun())  # warm-up
    for _ in range(n):  # interleaved, so drift and noise hit every case alike
        for name, (fun, check) in todo.items():
            t = time.perf_counter()
            ret = fun()
            times[name].append(time.perf_counter() - t)
            check(ret)

    # Counting comes after timing: an audit hook cannot be removed and would tax every call.
    spawned = []

    def hook(event, args):
        if event not in SPAWN_EVENTS:
            return
        if event != "subprocess.Popen":
            frame = sys._getframe(1)
            while frame is not None:
                if frame.f_code.co_filename.endswith(os.sep + "subprocess.py"):
                    return
                frame = frame.f_back
        if event == "subprocess.Popen":
            argv = args[1]
            argv = [str(a) for a in argv] if isinstance(argv, (list, tuple)) else [str(argv)]
        else:
            argv = [event] + [str(a) for a in args[:2]]
        spawned.append(argv)

    sys.addaudithook(hook)
    counts = {}
    for name, (fun, check) in todo.items():
        per_call, pids, argvs = [], [], []
        for _ in range(5):
            del spawned[:]
            before = last_pid()
            check(fun())
            pids.append(last_pid() - before)
            per_call.append(len(spawned))
            argvs = [" ".join(a) for a in spawned]
        counts[name] = {"spawned": per_call, "pids_allocated": pids, "commands": argvs}

    out = {"setup_ms": setup_s * 1000.0, "first_call_ms": first, "cases": {}}
    for name in todo:
        out["cases"][name] = dict(summary(times[name]), **counts[name])
    import salt.version

    out["salt"] = salt.version.__version__
    out["python"] = sys.version.split()[0]
    return out


def profile(conf, n, name, top=25):
    import cProfile
    import io
    import pstats

    sminion = make_sminion(conf)
    fun, check = cases(sminion)[name]
    check(fun())
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        fun()
    prof.disable()
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return {"case": name, "calls": n, "profile": text.getvalue()}


# --------------------------------------------------------------------------------------------
# fresh processes
# --------------------------------------------------------------------------------------------


def loadone(conf, fun):
    """One fresh interpreter: imports, opts and grains (common to both, reported apart),
    then the timed part: build the utils and execution-module loaders and touch ``fun``,
    which loads the module that provides it (plus whatever the loader tries on the way)."""
    t_imp0 = time.perf_counter()
    import salt.config
    import salt.loader

    t_imp = time.perf_counter()
    opts = minion_opts(conf)
    opts["grains"] = salt.loader.grains(opts)
    t_grains = time.perf_counter()
    # As salt.loader.minion_mods documents it (and SMinion does): without the utils loader,
    # every module whose __virtual__ asks __utils__ fails, and another provider may win.
    utils = salt.loader.utils(opts)
    mods = salt.loader.minion_mods(opts, utils=utils)
    t_loader = time.perf_counter()
    function = mods[fun]
    t_touch = time.perf_counter()
    loaded = sorted(getattr(mods, "loaded_files", ()) or ())
    return {
        "provider": getattr(function, "__module__", "?"),
        "import_ms": (t_imp - t_imp0) * 1000.0,
        "opts_grains_ms": (t_grains - t_imp) * 1000.0,
        "loader_ms": (t_loader - t_grains) * 1000.0,
        "touch_ms": (t_touch - t_loader) * 1000.0,
        "load_ms": (t_touch - t_grains) * 1000.0,
        "loaded_files": loaded,
    }


def load(conf, repeat):
    out = {}
    funs = ["cloudassist.status", "service.status"]
    raw = {fun: [] for fun in funs}
    for _ in range(repeat):
        for fun in funs:  # interleaved
            t = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "loadone", conf, fun],
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                raise RuntimeError(f"loadone {fun} failed:\n{proc.stdout}\n{proc.stderr}")
            data = json.loads(proc.stdout)
            data["wall_ms"] = wall * 1000.0
            raw[fun].append(data)
    for fun, runs in raw.items():
        out[fun] = {
            key: statistics.median(r[key] for r in runs) for key in runs[0] if key.endswith("_ms")
        }
        out[fun]["n"] = len(runs)
        out[fun]["loaded_files"] = runs[-1]["loaded_files"]
        out[fun]["provider"] = runs[-1]["provider"]
    return out


SALT_CALLS = {
    "salt-call --local cloudassist.status": ["cloudassist.status"],
    "salt-call --local test.version": ["test.version"],
    "salt-call --local service.status aliyun.service": ["service.status", UNIT],
    "salt-call --local state.single cloudassist.running": [
        "state.single",
        "cloudassist.running",
        "name=aliyun",
    ],
}


def e2e(conf, repeat):
    salt_call = os.path.join(os.path.dirname(sys.executable), "salt-call")
    conf_dir = os.path.dirname(conf)
    raw = {name: [] for name in SALT_CALLS}
    for i in range(repeat + 1):  # the first round warms the page cache and is dropped
        for name, argv in SALT_CALLS.items():
            cmd = [
                salt_call,
                "--local",
                "--config-dir=" + conf_dir,
                "--out=json",
                "--retcode-passthrough",
                "--log-level=quiet",
                *argv,
            ]
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                raise RuntimeError(
                    f"{name} failed ({proc.returncode:d}):\n{proc.stdout}\n{proc.stderr}"
                )
            if i:
                raw[name].append(wall)
    return {name: summary(times) for name, times in raw.items()}


def main(argv):
    mode, conf = argv[0], argv[1]
    if mode == "percall":
        out = percall(conf, int(argv[2]), json.loads(argv[3]) if len(argv) > 3 else None)
    elif mode == "profile":
        out = profile(conf, int(argv[2]), argv[3])
    elif mode == "load":
        out = load(conf, int(argv[2]))
    elif mode == "loadone":
        out = loadone(conf, argv[2])
    elif mode == "e2e":
        out = e2e(conf, int(argv[2]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
