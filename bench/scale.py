#!/usr/bin/env python3
"""Scale: one salt-master and N salt-minions on this host, each with its own stand-in (issue 18).

Starts a salt-master and N salt-minions (ids cloudassist-bench-00, -01, ...) from the
checkout's venv, under one temporary root, on free ports of 127.0.0.1.  Each minion has
its own stand-in client (tests/support/standin.py, installed in the vendor's layout under the
minion's own folder, with its own version), started and kept running by its own init script
(standin.sysv_script, with its own pid file), which the minion sees as /etc/init.d/aliyun-service:
every minion runs in its own mount namespace with its own folder bound over /etc/init.d.
The minions are configured with ``cloudassist: {binary: ..., init_system: sysvinit}`` and get
cloudassist as --install says (a copy of the checkout taken at start in every case):

    synced  (default) the checkout's _modules _states _grains _beacons _runners in the
            master's file_roots; the minions have no module_dirs; once all are connected the
            script runs `saltutil.sync_all` on every minion (and checks that each synced
            cloudassist) and waits until `cloudassist.version` answers everywhere
    pip     a wheel built from the copy (`pip wheel`), installed with `pip install --target`
            into a folder the minions get as PYTHONPATH: Salt's loader finds the package
            through its `salt.loader` entry point (saltext.cloudassist); no module_dirs
    dirs    module_dirs, states_dirs and grains_dirs naming the copy's folders (nothing synced
            or installed)

Then, in one run, it times several interleaved rounds of

    salt '*' cloudassist.status
    salt '*' cloudassist.version
    salt '*' test.version
    salt '*' service.status aliyun-service      (Salt's native module, the same init script)
    salt '*' state.apply cabench_running        (a satisfied cloudassist.running)
    salt '*' state.apply cabench_service        (a satisfied service.running aliyun-service)

each both as the ``salt`` command line (wall time of the process) and through Salt's
LocalClient in this process (publish until the last minion answered, and when each one did),
checks that EVERY minion answered every time with a correct answer (a missing or wrong answer
is a failed run, never a smaller number; a state run is right when every state in it has
result True and no changes), and prints a table with the goals of issue 18, judged at 20 or
more minions: cloudassist.status and cloudassist.version cost at most 1.05x test.version (salt
CLI wall and publish to last answer, medians), a satisfied cloudassist.running at most 1.05x a
satisfied service.running of the same client's service.  With --explain it then breaks one
minion's job down, measured inside the job process by a bench-only module (scalebench):
publish to the job process's start (the fork), its start to the function's, the loader
(modules loaded, __virtual__), the library's import (the _cloudassist_* modules executed in the
job), each config.get, the process-table scans, each spawned process, the call, and the return
(function end to the answer reaching this process), for every command above, on all minions at
once and on one minion alone.  The daemons run without PYTHONDONTWRITEBYTECODE (as a service
manager starts them) unless --dont-write-bytecode.  20 minions take about 7 minutes.

Needs: root (``unshare --mount`` and ``mount --bind`` per minion; nothing on the host's /etc
is changed), util-linux's ``unshare``, gcc and libc.a for the stand-in (compiled once and
cached, as the tests do), the checkout's venv (run it with .venv/bin/python; for --install pip
its pip and setuptools, no network), free ports on 127.0.0.1, about 100 MB of memory per
minion.  Everything it starts (master, minions, stand-ins) and its temporary root are removed
at the end, also on errors, Ctrl-C, SIGTERM or SIGHUP.
Exit status: 0 all answered, 1 a minion did not answer (or answered wrongly) or something was
left behind, 2 cannot run here, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SUPPORT = REPO / "tests" / "support"
NS_EXEC = SUPPORT / "namespace_exec.py"
EXT_FOLDERS = ("_modules", "_states", "_grains", "_beacons", "_runners")
# --install dirs: the minion options naming the copy's folders (as tests/support/salthost.py)
DIRS_OPTIONS = {"module_dirs": "_modules", "states_dirs": "_states", "grains_dirs": "_grains"}
# --install pip: what a wheel is built from
PACKAGE_FILES = ("setup.cfg", "pyproject.toml", "README.md", "LICENSE", "src")
INSTALLS = ("synced", "pip", "dirs")
MASTER_ID = "cloudassist-bench-master"
SERVICE = "aliyun-service"  # the init script's name, as the vendor's
WATCHDOG = "/usr/local/share/assist-daemon/assist_daemon"  # the default watchdog binary
GOAL_MINIONS = 20  # the goals are judged at this many minions or more
GOAL_RATIO = 1.05
BASELINE = "test.version"
RUNNING = "state: cloudassist.running"
SERVICE_RUNNING = "state: service.running"  # of SERVICE
# The satisfied states the rounds apply (SLS files in the master's file_roots).
SLS = {
    "cabench_running": {SERVICE: {"cloudassist.running": []}},
    "cabench_service": {SERVICE: {"service.running": []}},
}

# (label, function, arguments).  The order is rotated round by round.
COMMANDS = (
    ("cloudassist.status", "cloudassist.status", ()),
    ("cloudassist.version", "cloudassist.version", ()),
    ("test.version", "test.version", ()),
    ("service.status " + SERVICE, "service.status", (SERVICE,)),
    (RUNNING, "state.apply", ("cabench_running",)),
    (SERVICE_RUNNING, "state.apply", ("cabench_service",)),
)


def select_commands(labels) -> None:
    """Keep only the commands with these labels (and the baseline) for the whole run."""
    global COMMANDS
    known = {c[0] for c in COMMANDS}
    wanted = {label.strip() for label in labels if label.strip()} | {BASELINE}
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(
            "--commands: unknown label(s) {}; known: {}".format(
                ", ".join(map(repr, unknown)), ", ".join(c[0] for c in COMMANDS)
            )
        )
    COMMANDS = tuple(c for c in COMMANDS if c[0] in wanted)


def log(msg: str) -> None:
    print("[scale] " + msg, file=sys.stderr, flush=True)


class Failed(Exception):
    """A run in which a minion did not answer, or answered wrongly."""


# --- small helpers -------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pids) -> float:
    """utime+stime of live processes and their waited-for children (/proc/PID/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[11..14]: utime stime cutime cstime (stat fields 14..17)
        total += sum(int(x) for x in fields[11:15])
    return total / tick


def trees_of(roots) -> list[int]:
    """The processes ``roots`` and all their descendants (zombies included: their CPU time
    is still in /proc until their parent reaps them, and then in the parent's cutime)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def processes_under(root: Path) -> list[tuple[int, str]]:
    """Live processes whose executable or command line lies under ``root`` (this run's own)."""
    needle = str(root)
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        try:
            exe = os.readlink(f"/proc/{name}/exe")
        except OSError:
            exe = ""
        args = [a.decode(errors="replace") for a in argv if a]
        if state in ("Z", "X"):
            continue
        if exe.startswith(needle) or any(needle in a for a in args):
            found.append((int(name), " ".join(args)[:200]))
    return found


def installed_copies(cwd: Path) -> list[str]:
    """A saltext.cloudassist installed in the venv would be loaded besides module_dirs."""
    probe = (
        "import importlib.metadata, importlib.util\n"
        "for ep in importlib.metadata.entry_points(group='salt.loader'):\n"
        "    if ep.value.startswith('saltext.cloudassist'): print(ep.name, ep.value)\n"
        "try:\n    s = importlib.util.find_spec('saltext.cloudassist')\n"
        "except ModuleNotFoundError:\n    s = None\n"
        "if s is not None: print('saltext.cloudassist', s.origin)\n"
    )
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    return [line for line in proc.stdout.splitlines() if line.strip()]


# --- the fleet -----------------------------------------------------------------------------


class Minion:
    def __init__(self, index: int, base: Path, same_name: bool):
        self.index = index
        self.id = f"cloudassist-bench-{index:02d}"
        self.base = base / f"m{index:02d}"
        # Distinct versions, all newer than 1.0.1.308: one branch (sysvinit, the init script).
        self.version = f"2.{index % 3 + 1}.{index % 7}.{500 + index}"
        # The client's file name: 15 characters at most, so /proc/PID/comm tells them apart;
        # with --same-name every client is aliyun-service, as on a real host.
        self.name = "aliyun-service" if same_name else f"aliyun-bench{index:03d}"
        self.initd = self.base / "init.d"
        self.pidfile = self.base / f"{SERVICE}.pid"
        self.conf = self.base / "conf"
        self.root = self.base / "root"
        self.binary: Path | None = None  # the link, /usr/sbin/<name> of its own root
        self.real: Path | None = None  # the version folder's binary
        self.proc: subprocess.Popen | None = None
        self.client_pid: int | None = None
        self.log = self.base / "minion.out"


class Fleet:
    def __init__(self, args, tmp: Path):
        self.args = args
        self.tmp = tmp
        self.bin = Path(sys.executable).parent
        self.ext = tmp / "ext"  # dirs: the copy the minions load; pip: what the wheel is built of
        self.site: Path | None = None  # pip: the --target folder, the minions' PYTHONPATH
        self.pip_bytecode = False
        self.bench_dir: Path | None = None  # --explain: where scalebench.py is
        self.master_dir = tmp / "master"
        self.master: subprocess.Popen | None = None
        self.minions = [Minion(i, tmp, args.same_name) for i in range(args.minions)]
        self.client = None
        self.cli_timeout = args.timeout

    # --- set-up ---------------------------------------------------------------------------
    def install(self, checkout: Path) -> None:
        """The modules as they are now (edits to the checkout during the run do not matter),
        where --install puts them; the SLS files of the two satisfied states; with --explain
        the bench-only module scalebench where the minions load it.  After write_master."""
        import yaml

        srv = self.master_dir / "srv"
        for name, sls in SLS.items():
            (srv / f"{name}.sls").write_text(yaml.safe_dump(sls))
        how = self.args.install
        copy_to = srv if how == "synced" else self.ext
        for sub in EXT_FOLDERS:
            shutil.copytree(
                checkout / sub,
                copy_to / sub,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        if how == "pip":
            for name in PACKAGE_FILES:
                src = checkout / name
                if src.is_dir():
                    # src/saltext/cloudassist/{modules,...} are relative links to ../../../_*:
                    # copied as links, they lead to the copy's folders next to them
                    shutil.copytree(src, self.ext / name, symlinks=True)
                else:
                    shutil.copy2(src, self.ext / name)
            self.pip_install()
        if self.args.explain:
            bench = {"synced": srv / "_modules", "dirs": self.ext / "_modules"}.get(
                how, self.tmp / "benchmods" / "_modules"
            )
            bench.mkdir(parents=True, exist_ok=True)
            (bench / "scalebench.py").write_text(EXPLAIN_MODULE)
            self.bench_dir = bench

    def pip_install(self) -> None:
        """`pip wheel` of the copy, then `pip install --no-deps --target <tmp>/site`: the
        wheel holds the linked folders as real ones, and pip compiles the bytecode."""
        wheels, site = self.tmp / "wheel", self.tmp / "site"
        pip = [sys.executable, "-m", "pip"]
        quiet = ["--disable-pip-version-check", "--no-cache-dir", "-q", "--no-deps"]

        def run(cmd):
            proc = subprocess.run(
                cmd, env=self.environ(), capture_output=True, text=True, timeout=600
            )
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")

        run([*pip, "wheel", *quiet, "--no-build-isolation", "-w", str(wheels), str(self.ext)])
        found = sorted(wheels.glob("saltext_cloudassist-*.whl"))
        if len(found) != 1:
            raise RuntimeError(f"pip wheel made {found or 'no wheel'}")
        run([*pip, "install", *quiet, "--no-index", "--target", str(site), str(found[0])])
        self.site = site
        lib = site / "saltext" / "cloudassist" / "modules"
        if not (lib / "_cloudassist_lib.py").is_file():
            raise RuntimeError(f"the installed wheel has no {lib}/_cloudassist_lib.py")
        self.pip_bytecode = bool(list((lib / "__pycache__").glob("*.pyc")))

    def write_master(self) -> None:
        import yaml

        d = self.master_dir
        self.publish_port, self.ret_port = free_ports(2)
        (d / "conf").mkdir(parents=True)
        (d / "srv").mkdir()
        conf = {
            "id": MASTER_ID,
            "interface": "127.0.0.1",
            "publish_port": self.publish_port,
            "ret_port": self.ret_port,
            "root_dir": str(d),
            "pki_dir": str(d / "pki"),
            "cachedir": str(d / "cache"),
            "sock_dir": str(d / "sock"),
            "pidfile": str(d / "master.pid"),
            "log_file": str(d / "master.log"),
            "key_logfile": str(d / "key.log"),
            "log_level_logfile": "warning",
            "auto_accept": True,
            "file_roots": {"base": [str(d / "srv")]},
            "pillar_roots": {"base": [str(d / "srv")]},
        }
        (d / "conf" / "master").write_text(yaml.safe_dump(conf))

    def write_minion(self, m: Minion) -> None:
        import yaml

        if str(REPO / "tests") not in sys.path:
            sys.path.insert(0, str(REPO / "tests"))
        from support import standin

        m.conf.mkdir(parents=True)
        m.initd.mkdir()
        installed = standin.install_versioned_client(
            m.base / "client", m.version, name=m.name, relative_link=True
        )
        m.binary, m.real = installed.link, installed.binary
        standin.write_executable(
            m.initd / SERVICE, standin.sysv_script(binary=str(m.binary), pidfile=str(m.pidfile))
        )
        conf = {
            "id": m.id,
            "master": "127.0.0.1",
            "master_port": self.ret_port,
            "publish_port": self.publish_port,
            "root_dir": str(m.root),
            "pki_dir": str(m.root / "pki"),
            "cachedir": str(m.root / "cache"),
            "sock_dir": str(m.base / "sock"),
            "pidfile": str(m.root / "minion.pid"),
            "log_file": str(m.root / "minion.log"),
            "log_level_logfile": "warning",
            "multiprocessing": True,
            "acceptance_wait_time": 1,
            "random_startup_delay": 0,
            # startup only: no reverse DNS of every address for the fqdns grain
            "enable_fqdns_grains": False,
            "cloudassist": {"binary": str(m.binary), "init_system": "sysvinit"},
        }
        if self.args.install == "dirs":
            conf.update({k: [str(self.ext / sub)] for k, sub in DIRS_OPTIONS.items()})
        elif self.args.install == "pip" and self.bench_dir is not None:
            conf["module_dirs"] = [str(self.bench_dir)]  # scalebench only: bench-only module
        (m.conf / "minion").write_text(yaml.safe_dump(conf))

    def start_client(self, m: Minion) -> None:
        """Started by the minion's own init script (its pid file, outside any namespace: the
        script names absolute paths)."""
        with open(os.devnull, "rb") as null, tempfile.TemporaryFile() as out:
            proc = subprocess.run(
                [str(m.initd / SERVICE), "start"],
                stdin=null,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=30,
            )
            out.seek(0)
            text = out.read().decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"{m.initd / SERVICE} start failed: {text}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                pid = int(m.pidfile.read_text().strip())
                exe = os.readlink(f"/proc/{pid}/exe")
            except (OSError, ValueError):
                time.sleep(0.02)
                continue
            if exe == str(m.real):
                m.client_pid = pid
                return
            time.sleep(0.02)
        raise RuntimeError(f"the stand-in of {m.id} did not start ({m.real})")

    def environ(self, minion: bool = False) -> dict:
        """The daemons' environment: this one, without PYTHONPATH (no other copy of the
        extension; a minion of --install pip gets the --target folder) and, unless
        --dont-write-bytecode, without PYTHONDONTWRITEBYTECODE: a minion started by its service
        manager writes __pycache__ next to the modules it loads and reuses it; with the
        variable set every job compiles the modules from source."""
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        if minion and self.site is not None:
            env["PYTHONPATH"] = str(self.site)
        if self.args.dont_write_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def start_master(self) -> None:
        out = open(self.master_dir / "master.out", "wb")
        self.master = subprocess.Popen(
            [str(self.bin / "salt-master"), "-c", str(self.master_dir / "conf"), "-l", "quiet"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self.environ(),
            start_new_session=True,
        )
        out.close()

    def start_minion(self, m: Minion) -> None:
        out = open(m.log, "wb")
        m.proc = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                sys.executable,
                str(NS_EXEC),
                "--bind",
                str(m.initd),
                "/etc/init.d",
                "--",
                str(self.bin / "salt-minion"),
                "-c",
                str(m.conf),
                "-l",
                "quiet",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self.environ(minion=True),
            start_new_session=True,
        )
        out.close()

    def local_client(self):
        if self.client is None:
            import salt.client
            import salt.config

            opts = salt.config.client_config(str(self.master_dir / "conf" / "master"))
            self.client = salt.client.LocalClient(mopts=opts)
        return self.client

    def wait_master(self, timeout: float) -> None:
        sock = self.master_dir / "sock"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.master.poll() is not None:
                raise RuntimeError(
                    "salt-master exited ({}):\n{}".format(
                        self.master.returncode,
                        tail(self.master_dir / "master.out") + tail(self.master_dir / "master.log"),
                    )
                )
            if (sock / "master_event_pub.ipc").exists():
                return
            time.sleep(0.2)
        raise RuntimeError(f"salt-master did not come up within {timeout:.0f} s")

    def wait_minions(self, timeout: float) -> float:
        """Until every minion answers test.ping; returns the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout
        want = {m.id for m in self.minions}
        seen: set[str] = set()
        client = self.local_client()
        while True:
            for m in self.minions:
                if m.proc.poll() is not None:
                    raise RuntimeError(
                        "salt-minion {} exited ({}):\n{}".format(
                            m.id, m.proc.returncode, tail(m.log) + tail(m.root / "minion.log")
                        )
                    )
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    ret = client.cmd("*", "test.ping", timeout=5)
            except Exception as exc:  # pylint: disable=broad-except
                log(f"test.ping: {exc} (the master may still be starting)")
                ret = {}
            seen = {mid for mid, v in (ret or {}).items() if v is True}
            if want <= seen:
                return time.monotonic() - started
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "minions not connected after {:.0f} s: {}".format(
                        timeout, ", ".join(sorted(want - seen))
                    )
                )
            log(f"{len(seen & want)}/{len(want)} minions answer test.ping")
            time.sleep(1)

    def sync(self) -> None:
        """--install synced: `saltutil.sync_all` on every minion; each must answer and have
        synced the cloudassist execution and state modules (and scalebench with --explain)."""
        with contextlib.redirect_stdout(sys.stderr):
            ret = self.local_client().cmd(
                "*", "saltutil.sync_all", timeout=self.cli_timeout, full_return=True
            )
        want = {"modules": ["modules.cloudassist"], "states": ["states.cloudassist"]}
        if self.args.explain:
            want["modules"].append("modules.scalebench")
        problems = []
        for m in self.minions:
            data = (ret or {}).get(m.id)
            if not isinstance(data, dict) or not isinstance(data.get("ret"), dict):
                problems.append(f"{m.id}: no answer ({data!r:.200})")
                continue
            got = data["ret"]
            lacking = [x for k, names in want.items() for x in names if x not in got.get(k, [])]
            if lacking or data.get("retcode", 0) != 0:
                problems.append(f"{m.id}: did not sync {lacking} ({got!r:.300})")
        if problems:
            raise Failed("saltutil.sync_all: " + "; ".join(problems))

    def wait_version(self, timeout: float) -> float:
        """Until cloudassist.version gives every minion's own version; the seconds it took."""
        started = time.monotonic()
        while True:
            with contextlib.redirect_stdout(sys.stderr):
                ret = self.local_client().cmd("*", "cloudassist.version", timeout=30) or {}
            wrong = [m.id for m in self.minions if ret.get(m.id) != m.version]
            if not wrong:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise Failed(
                    "cloudassist.version did not answer rightly after {:.0f} s on {}: {}".format(
                        timeout, ", ".join(wrong), {w: ret.get(w) for w in wrong[:3]}
                    )
                )
            log(f"cloudassist.version: {len(self.minions) - len(wrong)}/{len(self.minions)} right")
            time.sleep(1)

    def minion_pids(self) -> list[int]:
        return trees_of([m.proc.pid for m in self.minions if m.proc is not None])

    def master_pids(self) -> list[int]:
        return trees_of([self.master.pid]) if self.master is not None else []

    # --- tear-down --------------------------------------------------------------------------
    def stop(self) -> list[str]:
        problems = []
        procs = [m.proc for m in self.minions if m.proc is not None]
        if self.master is not None:
            procs.append(self.master)
        for proc in procs:
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in procs:  # each was started in its own session: its group is ours alone
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                problems.append(f"pid {proc.pid} ({proc.args[0]}) did not end")
        for m in self.minions:
            if m.client_pid:
                try:
                    if os.readlink(f"/proc/{m.client_pid}/exe") == str(m.real):
                        os.kill(m.client_pid, signal.SIGKILL)
                except OSError:
                    pass
        # Anything else of this run (its executables and arguments lie under its own root).
        deadline = time.monotonic() + 5
        left = processes_under(self.tmp)
        while left and time.monotonic() < deadline:
            for pid, _ in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
            left = processes_under(self.tmp)
        problems += [f"process {pid} still runs: {cmd}" for pid, cmd in left]
        return problems


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
    except OSError:
        return ""


# --- the checks: every minion, a right answer ----------------------------------------------


def check(fleet: Fleet, label: str, mid: str, value) -> str | None:
    """None when the answer is right, else what is wrong with it."""
    m = next(x for x in fleet.minions if x.id == mid)
    if label == "cloudassist.status":
        if not isinstance(value, dict):
            return f"not a dict: {value!r:.300}"
        want = {
            "running": True,
            "version": m.version,
            "init_system": "sysvinit",
            "pids": [m.client_pid],
            "blocked": None,
        }
        wrong = {k: value.get(k) for k, v in want.items() if value.get(k) != v}
        return f"{wrong} (expected {want})" if wrong else None
    if label == "cloudassist.version":
        return None if value == m.version else f"{value!r:.300} (expected {m.version!r})"
    if label in (RUNNING, SERVICE_RUNNING):
        return state_problem(value, "cloudassist_|-" if label == RUNNING else "service_|-")
    if label == BASELINE:
        return (
            None
            if value == fleet.salt_version
            else f"{value!r:.300} (expected {fleet.salt_version!r})"
        )
    return None if value is True else f"{value!r:.300} (expected True: the client runs)"


def state_problem(value, prefix: str) -> str | None:
    """A satisfied state run: a dict of states, the one asked for among them, every state
    result True and no changes."""
    if not isinstance(value, dict) or not value:
        return f"not a state run: {value!r:.300}"
    bad = {
        key: {k: ret.get(k) for k in ("result", "changes", "comment")}
        if isinstance(ret, dict)
        else ret
        for key, ret in value.items()
        if not isinstance(ret, dict) or ret.get("result") is not True or ret.get("changes")
    }
    if bad:
        return f"not satisfied: {bad!r:.400}"
    if not any(key.startswith(prefix + SERVICE + "_|-") for key in value):
        return f"no {prefix.rstrip('_|-')} state for {SERVICE}: {sorted(value)!r:.300}"
    return None


def verdict(fleet: Fleet, label: str, answers: dict, retcodes: dict) -> dict:
    """``answers``: minion id -> value, for the minions that answered."""
    want = [m.id for m in fleet.minions]
    missing = [mid for mid in want if mid not in answers]
    wrong = {}
    for mid in want:
        if mid in answers:
            problem = check(fleet, label, mid, answers[mid])
            if problem is None and retcodes.get(mid, 0) != 0:
                problem = f"retcode {retcodes[mid]}"
            if problem:
                wrong[mid] = problem
    extra = sorted(set(answers) - set(want))
    return {
        "answered": len([mid for mid in want if mid in answers]),
        "missing": missing,
        "wrong": wrong,
        "unexpected": extra,
        "ok": not missing and not wrong,
    }


NO_RETURN = "Minion did not return"


def run_cli(fleet: Fleet, label: str, fun: str, args: tuple) -> dict:
    # Not --static: it makes the CLI run as a 100% batch, which first sends test.ping to every
    # minion and only then the function (two jobs per minion).  Without it the CLI prints one
    # JSON document per minion as each answers, as `salt '*' FUN` does for an operator.
    cmd = [
        str(fleet.bin / "salt"),
        "-c",
        str(fleet.master_dir / "conf"),
        "--out=json",
        "--no-color",
        "-t",
        str(fleet.cli_timeout),
        "*",
        fun,
        *args,
    ]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=fleet.environ(),
            timeout=fleet.cli_timeout * 3 + 60,
        )
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    data, garbage = json_documents(stdout)
    answers = {
        mid: v for mid, v in data.items() if not (isinstance(v, str) and v.startswith(NO_RETURN))
    }
    res = verdict(fleet, label, answers, {})
    res.update(seconds=seconds, exit=proc.returncode)
    if proc.returncode != 0:
        res["ok"] = False
        res["error"] = (
            f"salt exited {proc.returncode}: {stderr.strip()[-500:] or stdout.strip()[-500:]}"
        )
    elif garbage or not data:
        res["ok"] = res["ok"] and bool(data)
        res["error"] = f"unexpected output: {garbage[:300]!r} {stderr[-300:]!r}"
    return res


def json_documents(text: str) -> tuple[dict, str]:
    """The ``{minion: return}`` documents `salt --out=json` prints one after another, merged;
    and whatever was not JSON."""
    decoder = json.JSONDecoder()
    merged, garbage, i = {}, "", 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return merged, garbage
        try:
            doc, i = decoder.raw_decode(text, i)
        except ValueError:
            end = text.find("\n", i)
            end = len(text) if end < 0 else end + 1
            garbage += text[i:end]
            i = end
            continue
        if isinstance(doc, dict):
            merged.update(doc)
        else:
            garbage += repr(doc)


def run_api(fleet: Fleet, label: str, fun: str, args: tuple) -> dict:
    client = fleet.local_client()
    answers, retcodes, arrivals = {}, {}, {}
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # LocalClient prints some errors
        for ret in client.cmd_iter(
            "*", fun, list(args), timeout=fleet.cli_timeout, full_return=True
        ):
            now = time.perf_counter() - started
            for mid, data in (ret or {}).items():
                if not isinstance(data, dict) or "ret" not in data:
                    continue
                answers[mid] = data["ret"]
                retcodes[mid] = data.get("retcode", 0)
                arrivals[mid] = now
    done = time.perf_counter() - started
    res = verdict(fleet, label, answers, retcodes)
    times = sorted(arrivals.values())
    res.update(
        seconds=max(times) if times else done,
        done=done,
        arrivals=arrivals,
        first=min(times) if times else None,
        median_answer=statistics.median(times) if times else None,
    )
    return res


# --- the run ---------------------------------------------------------------------------------

FLOOR = "floor: salt CLI, no minion matched"


def run_floor(fleet: Fleet) -> dict:
    """What the salt command line costs by itself: start, read the config, authenticate,
    publish to a target no minion matches, print."""
    cmd = [
        str(fleet.bin / "salt"),
        "-c",
        str(fleet.master_dir / "conf"),
        "--out=json",
        "--no-color",
        "-t",
        str(fleet.cli_timeout),
        "cloudassist-bench-nobody",
        "test.version",
    ]
    started = time.perf_counter()
    subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=fleet.environ(),
        timeout=fleet.cli_timeout + 60,
    )
    return {"seconds": time.perf_counter() - started, "ok": True}


def idle_rate(fleet: Fleet, seconds: float = 5.0) -> float:
    """CPU seconds per second the idle minions spend (subtracted from each run's minion CPU)."""
    t0, c0 = time.perf_counter(), cpu_seconds(fleet.minion_pids())
    time.sleep(seconds)
    return (cpu_seconds(fleet.minion_pids()) - c0) / (time.perf_counter() - t0)


def measure(fleet: Fleet, args) -> dict:
    data = {
        "cli": {c[0]: [] for c in COMMANDS},
        "api": {c[0]: [] for c in COMMANDS},
        "floor": [],
        "failures": [],
    }
    data["idle_cpu_per_s"] = idle_rate(fleet)
    modes = (("cli", run_cli), ("api", run_api))

    def one(mode, fn, label, fun, fargs, counted, rnd):
        t0 = time.perf_counter()
        cpu_before = cpu_seconds(fleet.minion_pids()), cpu_seconds(fleet.master_pids())
        res = fn(fleet, label, fun, fargs)
        time.sleep(0.3)  # let the job processes end (their CPU time is then in /proc)
        cpu_after = cpu_seconds(fleet.minion_pids()), cpu_seconds(fleet.master_pids())
        window = time.perf_counter() - t0
        res["minion_cpu"] = cpu_after[0] - cpu_before[0] - data["idle_cpu_per_s"] * window
        res["master_cpu"] = cpu_after[1] - cpu_before[1]
        res["round"] = rnd
        if not res["ok"]:
            gone = [
                f"{m.id} (exit {m.proc.returncode})"
                for m in fleet.minions
                if m.id in res.get("missing", ()) and m.proc.poll() is not None
            ]
            if gone:
                res["error"] = (
                    (res.get("error") or "") + "; salt-minion process gone: " + ", ".join(gone)
                ).lstrip("; ")
            desc = describe_failure(mode, label, res, rnd)
            data["failures"].append(
                {
                    "mode": mode,
                    "command": label,
                    "round": rnd,
                    **{
                        k: res.get(k)
                        for k in ("missing", "wrong", "error", "answered", "unexpected")
                    },
                }
            )
            log("FAILED: " + desc)
            if not args.keep_going:
                raise Failed(desc)
        if counted:
            data[mode][label].append(res)
        return res

    for w in range(args.warmup):
        log(f"warm-up round {w + 1}/{args.warmup}")
        for label, fun, fargs in COMMANDS:
            for mode, fn in modes:
                one(mode, fn, label, fun, fargs, False, f"warm-up {w + 1}")
    for r in range(args.rounds):
        order = COMMANDS[r % len(COMMANDS) :] + COMMANDS[: r % len(COMMANDS)]
        for mode, fn in modes if r % 2 == 0 else modes[::-1]:
            for label, fun, fargs in order:
                one(mode, fn, label, fun, fargs, True, r + 1)
            if mode == "cli":
                data["floor"].append(run_floor(fleet))
        log(
            "round {}/{}: {}  (load {})".format(
                r + 1,
                args.rounds,
                "  ".join(
                    "{} {:.2f}s/{:.2f}s".format(
                        label.split()[label.startswith("state: ")],
                        data["cli"][label][-1]["seconds"],
                        data["api"][label][-1]["seconds"],
                    )
                    for label, _, _ in COMMANDS
                    if data["cli"][label] and data["api"][label]
                ),
                loadavg(),
            )
        )
    return data


def describe_failure(mode, label, res, rnd) -> str:
    if mode == "explain":
        return res.get("error") or "--explain failed"
    parts = [
        f"{'salt' if mode == 'cli' else 'LocalClient'} '*' {label} (round {rnd}): "
        f"{res.get('answered')} of the minions answered"
    ]
    if res.get("missing"):
        parts.append("no answer from " + ", ".join(res["missing"]))
    for mid, why in (res.get("wrong") or {}).items():
        parts.append(f"{mid} answered wrongly: {why}")
    if res.get("error"):
        parts.append(res["error"])
    return "; ".join(parts)


def summarize(data: dict, n: int) -> dict:
    out = {"cli": {}, "api": {}}
    for mode in ("cli", "api"):
        for label, runs in data[mode].items():
            ok = [r for r in runs if r["ok"]]
            secs = [r["seconds"] for r in ok]
            row = {"runs": len(runs), "failed": len(runs) - len(ok)}
            if secs:
                row.update(
                    median=statistics.median(secs),
                    min=min(secs),
                    max=max(secs),
                    per_minion_ms=statistics.median(secs) / n * 1000,
                    minion_cpu=statistics.median(r["minion_cpu"] for r in ok),
                    master_cpu=statistics.median(r["master_cpu"] for r in ok),
                )
            if mode == "api" and ok:
                row["first"] = statistics.median(r["first"] for r in ok)
                row["median_answer"] = statistics.median(r["median_answer"] for r in ok)
            out[mode][label] = row
        base = out[mode].get(BASELINE, {})
        for row in out[mode].values():
            if "median" in row and base.get("median"):
                row["ratio"] = row["median"] / base["median"]
                if base.get("minion_cpu", 0) > 0:
                    row["cpu_ratio"] = row["minion_cpu"] / base["minion_cpu"]
                if mode == "api" and base.get("median_answer"):
                    row["answer_ratio"] = row["median_answer"] / base["median_answer"]
    floor = [r["seconds"] for r in data["floor"]]
    if floor:
        out["floor"] = {
            "median": statistics.median(floor),
            "min": min(floor),
            "max": max(floor),
            "runs": len(floor),
        }
    return out


def fmt(v, spec="6.2f"):
    return format(v, spec) if isinstance(v, (int, float)) else format("-", ">" + spec.split(".")[0])


def table(result: dict) -> str:
    meta, s = result["meta"], result["summary"]
    n = meta["minions"]
    lines = [
        f"cloudassist scale benchmark  {meta['date']}",
        f"Salt {meta['salt']}, Python {meta['python']}, {meta['cpus']} CPUs, "
        f"{meta['mem_gb']} GB RAM; {meta['host']}",
        f"command: {meta['command']}  ({meta['seconds']} s; load average before: "
        f"{meta['load_before']}, after: {meta['load_after']})",
        f"checkout: {meta['checkout']}",
        f"fleet: 1 salt-master + {n} salt-minions (multiprocessing: True), all connected "
        f"{meta['connect_s']:.1f} s after start; {meta['bytecode']}",
        meta["modules"],
        f"clients: {n} stand-ins, each its own binary, version and running process, started by "
        f"its own /etc/init.d/{SERVICE} (per-minion mount namespace, own pid file); "
        f"{meta['client_names']}",
        f"native comparison: service.status {SERVICE}, "
        f"served by Salt's {meta['service_provider']}: "
        f"`service {SERVICE} status`, the same init script, for the same client, on every "
        f"minion; state.apply cabench_running (a satisfied cloudassist.running) against "
        f"state.apply cabench_service (a satisfied service.running {SERVICE})",
        f"{meta['rounds']} rounds, commands interleaved (order rotated each round), "
        f"after {meta['warmup']} warm-up round(s); every run checked: all {n} minions answered, "
        "each answer right",
        "",
        f"salt CLI: wall time of `salt '*' FUN` (s; ms/minion = median / {n}; minion CPU = CPU "
        "seconds all minions spent on the job, idle use subtracted, median)",
        f"{'command':36} {'median':>7} {'min':>7} {'max':>7} {'ms/minion':>9} "
        f"{'x test.version':>14} {'minion CPU':>10} {'x':>5} {'failed':>6}",
    ]
    for label, _, _ in COMMANDS:
        r = s["cli"][label]
        lines.append(
            f"{'salt * ' + label:36} {fmt(r.get('median'), '7.3f')} "
            f"{fmt(r.get('min'), '7.3f')} {fmt(r.get('max'), '7.3f')} "
            f"{fmt(r.get('per_minion_ms'), '9.1f')} {fmt(r.get('ratio'), '14.2f')} "
            f"{fmt(r.get('minion_cpu'), '10.2f')} {fmt(r.get('cpu_ratio'), '5.2f')} "
            f"{r['failed']:>3}/{r['runs']}"
        )
    if "floor" in s:
        f = s["floor"]
        lines.append(
            f"{FLOOR:36} {fmt(f['median'], '7.3f')} {fmt(f['min'], '7.3f')} {fmt(f['max'], '7.3f')}"
        )
    lines += [
        "",
        "LocalClient in this process: publish until the LAST minion answered (s), and until the "
        "median minion answered",
        f"{'command':36} {'median':>7} {'min':>7} {'max':>7} {'x test.version':>14} "
        f"{'median minion':>13} {'x':>5} {'minion CPU':>10} {'x':>5} {'failed':>6}",
    ]
    for label, _, _ in COMMANDS:
        r = s["api"][label]
        lines.append(
            f"{'* ' + label:36} {fmt(r.get('median'), '7.3f')} "
            f"{fmt(r.get('min'), '7.3f')} {fmt(r.get('max'), '7.3f')} "
            f"{fmt(r.get('ratio'), '14.2f')} {fmt(r.get('median_answer'), '13.3f')} "
            f"{fmt(r.get('answer_ratio'), '5.2f')} {fmt(r.get('minion_cpu'), '10.2f')} "
            f"{fmt(r.get('cpu_ratio'), '5.2f')} {r['failed']:>3}/{r['runs']}"
        )
    lines.append(
        f"  (idle minions used {result['data']['idle_cpu_per_s']:.3f} CPU s per s, "
        "subtracted above)"
    )
    if "explain" in result:
        lines += ["", *explain_lines(result["explain"], n)]
    lines += ["", *goal_lines(result)]
    if result["data"]["failures"]:
        lines += ["", "FAILED RUNS (a minion did not answer, or answered wrongly):"]
        for f in result["data"]["failures"]:
            lines.append("  " + describe_failure(f["mode"], f["command"], f, f["round"]))
    return "\n".join(lines)


GOALS = (
    # (what, the label, what it is compared with)
    ("cloudassist.status", "cloudassist.status", BASELINE),
    ("cloudassist.version", "cloudassist.version", BASELINE),
    ("a satisfied cloudassist.running", RUNNING, SERVICE_RUNNING),
)


def goal_lines(result: dict) -> list[str]:
    """Issue 18's goals: each ratio of medians <= GOAL_RATIO on the salt CLI's wall time and on
    publish to last answer (LocalClient); judged only at GOAL_MINIONS or more minions."""
    s, n = result["summary"], result["meta"]["minions"]
    judged = n >= GOAL_MINIONS
    lines = [
        f"goals (issue 18), judged at {GOAL_MINIONS} minions or more"
        + ("" if judged else f" -- NOT JUDGED: this run had {n} minions")
        + f"; ratio of medians, at most {GOAL_RATIO}x:"
    ]
    for what, label, base in GOALS:
        for mode, how in (("cli", "salt CLI wall"), ("api", "publish -> last answer")):
            row, ref = s[mode].get(label, {}), s[mode].get(base, {})
            ratio = (
                row["median"] / ref["median"] if row.get("median") and ref.get("median") else None
            )
            if label not in s[mode] or base not in s[mode]:
                state = "NOT TIMED (left out by --commands)"
            elif ratio is None:
                state = "NOT MEASURED (failed runs)"
            elif not judged:
                state = f"{ratio:.2f}x (not judged)"
            else:
                state = f"{ratio:.2f}x -- " + ("MET" if ratio <= GOAL_RATIO else "MISSED")
            lines.append(f"  {what:31} <= {GOAL_RATIO}x {base:22} {how:23} {state}")
    return lines


# --- --explain: where a minion's job spends its time -------------------------------------------

# Written with --explain where the minions load it (scalebench.py); called as scalebench.anatomy.
EXPLAIN_MODULE = '''\
"""Written by bench/scale.py --explain (bench-only): one job broken down, inside the job process.

anatomy(fun, args) resolves ``__salt__[fun]`` (the loader: the function's module, its
``__virtual__``) and calls it once, with the job process instrumented for that time only:
Salt's loader (each module it loads, each ``__virtual__``), every module executed from a file
(self and total time; the cloudassist library is the ``_cloudassist_*`` ones), every
``config.get`` through a loader, the library's process-table scans and every process started
through ``subprocess.Popen`` (its lifetime until reaped) or ``os.fork``.  Times are wall (ms)
and this process's CPU (ms); spawned processes' CPU is RUSAGE_CHILDREN's.
"""

import importlib.machinery
import os
import resource
import subprocess
import sys
import time
from datetime import datetime

# The library's functions that walk the process table (outermost call timed).
SCANS = ("processes", "live_pids", "client_pids_by_exe", "in_folder", "cgroup_pids")


def _ms(seconds):
    return round(seconds * 1e3, 3)


def _adder(records, **what):
    return lambda wall, cpu: records.append({**what, "ms": _ms(wall), "cpu": _ms(cpu)})


def _started():
    """This process's start (epoch seconds), from /proc/self/stat field 22 (clock ticks after
    boot): as coarse as a tick (10 ms at 100 Hz)."""
    with open("/proc/self/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    ticks = int(fields[19])  # field 22; fields[0] is field 3
    age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    return time.time() - age


class _Probe:
    def __init__(self):
        self.rec = {
            "loads": [],
            "virtual": [],
            "imports": [],
            "config_get": [],
            "scans": [],
            "listings": 0,
            "spawned": [],
            "forks": 0,
        }
        self.undo = []
        self.stack = []  # import nesting: [child wall, child cpu]
        self.depth = {"load": 0, "config": 0, "scan": 0}
        self.on = False

    def patch(self, obj, name, new):
        self.undo.append((obj, name, obj.__dict__[name] if name in obj.__dict__ else None))
        setattr(obj, name, new)

    def restore(self):
        for obj, name, old in reversed(self.undo):
            if old is None:
                delattr(obj, name)
            else:
                setattr(obj, name, old)

    def timed(self, kind, fn, record):
        """fn() timed as an outermost call of ``kind``; ``record(wall, cpu)``."""
        if not self.on or self.depth[kind]:
            return fn()
        self.depth[kind] += 1
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn()
        finally:
            self.depth[kind] -= 1
            record(time.perf_counter() - t0, time.process_time() - c0)

    def install(self):
        import salt.loader.lazy as lazy

        probe, rec = self, self.rec
        load_module = lazy.LazyLoader._load_module
        process_virtual = lazy.LazyLoader._process_virtual
        loaded_call = lazy.LoadedFunc.__call__

        def _load_module(loader, name):
            tag = getattr(loader, "tag", "?")
            return probe.timed(
                "load",
                lambda: load_module(loader, name),
                _adder(rec["loads"], name=f"{tag}.{name}"),
            )

        def _process_virtual(loader, mod, module_name, *rest, **kw):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return process_virtual(loader, mod, module_name, *rest, **kw)
            finally:
                if probe.on:
                    rec["virtual"].append(
                        {
                            "name": f"{getattr(loader, 'tag', '?')}.{module_name}",
                            "ms": _ms(time.perf_counter() - t0),
                            "cpu": _ms(time.process_time() - c0),
                        }
                    )

        def __call__(func, *args, **kwargs):
            if func.name != "config.get":
                return loaded_call(func, *args, **kwargs)
            key = args[0] if args else kwargs.get("key")
            return probe.timed(
                "config",
                lambda: loaded_call(func, *args, **kwargs),
                _adder(rec["config_get"], key=str(key)),
            )

        self.patch(lazy.LazyLoader, "_load_module", _load_module)
        self.patch(lazy.LazyLoader, "_process_virtual", _process_virtual)
        self.patch(lazy.LoadedFunc, "__call__", __call__)
        for cls in (importlib.machinery.SourceFileLoader, importlib.machinery.SourcelessFileLoader):
            self.patch(cls, "exec_module", self._exec_module(cls.exec_module))
        popen_init, handle_exit = subprocess.Popen.__init__, subprocess.Popen._handle_exitstatus

        def init(popen, args, *rest, **kw):
            t0 = time.perf_counter()
            popen_init(popen, args, *rest, **kw)
            if probe.on:
                argv = [args] if isinstance(args, (str, bytes)) else list(args)
                popen._cabench = {
                    "argv": " ".join(str(a) for a in argv)[:120],
                    "t0": t0,
                    "start_ms": _ms(time.perf_counter() - t0),
                }
                rec["spawned"].append(popen._cabench)

        def _handle_exitstatus(popen, *rest, **kw):
            out = handle_exit(popen, *rest, **kw)
            spawn = getattr(popen, "_cabench", None)
            if spawn is not None and "ms" not in spawn:
                spawn["ms"] = _ms(time.perf_counter() - spawn["t0"])
            return out

        self.patch(subprocess.Popen, "__init__", init)
        self.patch(subprocess.Popen, "_handle_exitstatus", _handle_exitstatus)
        os.register_at_fork(before=self._forked)  # cannot be undone: counts only while on
        facts = sys.modules.get("_cloudassist_facts")
        if facts is not None:  # inherited from the minion's main process
            self.instrument_facts(facts)

    def _forked(self):
        if self.on:
            self.rec["forks"] += 1

    def _exec_module(self, original):
        probe = self

        def exec_module(loader, module):
            if not probe.on:
                return original(loader, module)
            t0, c0 = time.perf_counter(), time.process_time()
            probe.stack.append([0.0, 0.0])
            try:
                return original(loader, module)
            finally:
                w, c = time.perf_counter() - t0, time.process_time() - c0
                cw, cc = probe.stack.pop()
                if probe.stack:
                    probe.stack[-1][0] += w
                    probe.stack[-1][1] += c
                probe.rec["imports"].append(
                    {
                        "name": module.__name__,
                        "ms": _ms(w),
                        "cpu": _ms(c),
                        "self_ms": _ms(w - cw),
                        "self_cpu": _ms(c - cc),
                    }
                )
                if module.__name__ == "_cloudassist_facts":
                    probe.instrument_facts(module)

        return exec_module

    def instrument_facts(self, facts):
        probe, rec = self, self.rec
        for name in SCANS:
            original = getattr(facts, name, None)
            if original is None:
                continue

            def scan(*args, _orig=original, _name_=name, **kwargs):
                if _name_ == "processes" and (len(args) > 1 or kwargs.get("pids") is not None):
                    return _orig(*args, **kwargs)  # among given pids: no scan
                return probe.timed(
                    "scan",
                    lambda: _orig(*args, **kwargs),
                    _adder(rec["scans"], name=_name_),
                )

            self.patch(facts, name, scan)
        entries = getattr(facts, "_proc_entries", None)
        if entries is not None:

            def _proc_entries():
                if probe.on:
                    rec["listings"] += 1
                return entries()

            self.patch(facts, "_proc_entries", _proc_entries)


def anatomy(fun, args=(), **kwargs):
    t_fn, c_fn = time.time(), time.process_time()
    jid_time = datetime.strptime(kwargs["__pub_jid"], "%Y%m%d%H%M%S%f").timestamp()
    started = _started()
    out = {
        "publish_to_fork_ms": _ms(started - jid_time),
        "fork_to_fn_ms": _ms(t_fn - started),
        "fork_to_fn_cpu": _ms(c_fn),
        "publish_to_fn_ms": _ms(t_fn - jid_time),
        "pid": os.getpid(),
        "proc_entries": sum(1 for name in os.listdir("/proc") if name.isdigit()),
    }
    probe = _Probe()
    probe.install()
    modules_before = set(sys.modules)
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        probe.on = True
        t0, c0 = time.perf_counter(), time.process_time()
        func = __salt__[fun]
        t1, c1 = time.perf_counter(), time.process_time()
        at_load = {k: len(v) for k, v in probe.rec.items() if isinstance(v, list)}
        ret = func(*args)
        t2, c2 = time.perf_counter(), time.process_time()
        probe.on = False
    finally:
        probe.on = False
        probe.restore()
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rec = probe.rec
    for spawn in rec["spawned"]:
        spawn.pop("t0", None)
    out.update(
        load_ms=_ms(t1 - t0),
        load_cpu=_ms(c1 - c0),
        call_ms=_ms(t2 - t1),
        call_cpu=_ms(c2 - c1),
        at_load=at_load,
        children_cpu=_ms(
            children1.ru_utime + children1.ru_stime - children0.ru_utime - children0.ru_stime
        ),
        new_modules=sorted(set(sys.modules) - modules_before),
        **rec,
    )
    out["ret"] = ret
    out["fn_end"] = time.time()
    return out
'''

EXPLAIN_REPEAT = 2  # jobs per command on all minions at once
EXPLAIN_ALONE = 3  # then on one minion alone


def explain(fleet: Fleet, args) -> dict:
    """scalebench.anatomy jobs: each command broken down inside the job process."""
    client = fleet.local_client()
    one = fleet.minions[0].id
    everyone = [m.id for m in fleet.minions]
    out = {"all": {c[0]: [] for c in COMMANDS}, "alone": {c[0]: [] for c in COMMANDS}}

    def job(label, fun, fargs, tgt, want):
        rets, arrivals = {}, {}
        with contextlib.redirect_stdout(sys.stderr):
            for ret in client.cmd_iter(
                tgt,
                "scalebench.anatomy",
                kwarg={"fun": fun, "args": list(fargs)},
                timeout=fleet.cli_timeout,
                full_return=True,
            ):
                now = time.time()
                for mid, data in (ret or {}).items():
                    if isinstance(data, dict) and "ret" in data:
                        rets[mid], arrivals[mid] = data["ret"], now
        problems = []
        for mid in want:
            r = rets.get(mid)
            if not isinstance(r, dict) or "fn_end" not in r:
                problems.append(f"{mid}: {'no answer' if r is None else repr(r)[:500]}")
                continue
            why = check(fleet, label, mid, r.pop("ret", None))
            if why:
                problems.append(f"{mid}: {why}")
            r["return_ms"] = round((arrivals[mid] - r["fn_end"]) * 1e3, 3)
        if problems:
            raise Failed(f"--explain: scalebench.anatomy of {label}: " + "; ".join(problems))
        return [rets[mid] for mid in want]

    log(
        f"--explain: {EXPLAIN_REPEAT} jobs per command on all minions at once, then "
        f"{EXPLAIN_ALONE} on {one} alone"
    )
    for _ in range(EXPLAIN_REPEAT):
        for label, fun, fargs in COMMANDS:
            out["all"][label] += job(label, fun, fargs, "*", everyone)
    for _ in range(EXPLAIN_ALONE):
        for label, fun, fargs in COMMANDS:
            out["alone"][label] += job(label, fun, fargs, one, [one])
    return out


def is_library(name: str) -> bool:
    return name.startswith("_cloudassist_")


def job_parts(r: dict) -> dict:
    """One anatomy job's figures: ms, CPU ms and counts."""
    lib = [i for i in r["imports"] if is_library(i["name"])]
    spawned = r["spawned"]
    return {
        "to fork": (r["publish_to_fork_ms"], None, None),
        "fork>fn": (r["fork_to_fn_ms"], r["fork_to_fn_cpu"], None),
        "load fn": (r["load_ms"], r["load_cpu"], None),
        "loader": (
            sum(x["ms"] for x in r["loads"]),
            sum(x["cpu"] for x in r["loads"]),
            len(r["loads"]),
        ),
        "virtual": (
            sum(x["ms"] for x in r["virtual"]),
            sum(x["cpu"] for x in r["virtual"]),
            len(r["virtual"]),
        ),
        "lib imp": (
            sum(x["self_ms"] for x in lib),
            sum(x["self_cpu"] for x in lib),
            len(lib),
        ),
        "cfg.get": (
            sum(x["ms"] for x in r["config_get"]),
            sum(x["cpu"] for x in r["config_get"]),
            len(r["config_get"]),
        ),
        "scan": (
            sum(x["ms"] for x in r["scans"]),
            sum(x["cpu"] for x in r["scans"]),
            len(r["scans"]),
        ),
        "spawned": (
            sum(x.get("ms", 0) for x in spawned),
            r["children_cpu"],
            len(spawned) + r["forks"],
        ),
        "call": (r["call_ms"], r["call_cpu"], None),
        "return": (r["return_ms"], None, None),
    }


EXPLAIN_COLUMNS = (
    "to fork",
    "fork>fn",
    "load fn",
    "loader",
    "virtual",
    "lib imp",
    "cfg.get",
    "scan",
    "spawned",
    "call",
    "return",
)


def explain_lines(ex: dict, n: int) -> list[str]:
    lines = [
        "--explain: one minion's job broken down inside the job process (scalebench.anatomy; "
        "ms, median of the jobs; wall, then CPU of the job process, then counts)",
        "  to fork = publish (the jid's time) -> the job process's start (/proc/self/stat, "
        "10 ms ticks); fork>fn = its start -> the function's (Salt's job set-up, "
        "gen_modules); load fn = __salt__[fun]: the loader loading the function's module; "
        "loader = every module Salt's loader loaded during load and call (n modules), virtual "
        "= their __virtual__; lib imp = the _cloudassist_* modules executed in the job (self "
        "time, n modules); cfg.get = config.get calls through a loader; scan = the library's "
        "process-table scans; spawned = processes started (Popen, until reaped; CPU: the "
        "children's) and os.fork; call = the function's call; return = its end -> the answer "
        "reaching this process (LocalClient)",
    ]
    head = f"{'command':34} {'':4}" + "".join(f"{c:>9}" for c in EXPLAIN_COLUMNS)
    for where, title in (
        ("all", f"all {n} minions at once"),
        ("alone", "one minion alone"),
    ):
        lines += ["", f"  {title}:", head]
        for label, _, _ in COMMANDS:
            rows = [job_parts(r) for r in ex[where][label]]
            if not rows:
                continue
            for i, what in enumerate(("wall", "cpu", "n")):
                cells = []
                for col in EXPLAIN_COLUMNS:
                    vals = [row[col][i] for row in rows if row[col][i] is not None]
                    if not vals:
                        cells.append(f"{'':>9}")
                    elif what == "n":
                        cells.append(f"{statistics.median(vals):9.0f}")
                    else:
                        cells.append(f"{statistics.median(vals):9.1f}")
                lines.append(f"{label if i == 0 else '':34} {what:4}" + "".join(cells))
    lines += ["", "  in detail, the last job on one minion alone:"]
    for label, _, _ in COMMANDS:
        rows = ex["alone"][label]
        if not rows:
            continue
        r = rows[-1]
        lib = sorted(
            (i for i in r["imports"] if is_library(i["name"])), key=lambda i: -i["self_ms"]
        )
        lines.append(f"  {label}: /proc held {r['proc_entries']} processes")
        lines.append(
            f"    library modules executed ({len(lib)}): "
            + (", ".join(f"{i['name']} {i['self_ms']:.1f}" for i in lib) or "none")
        )
        others = [i for i in r["imports"] if not is_library(i["name"])]
        if others:
            lines.append(
                f"    other modules executed from files ({len(others)}): "
                + ", ".join(f"{i['name']} {i['self_ms']:.1f}" for i in others[:12])
                + (" ..." if len(others) > 12 else "")
            )
        lines.append(
            f"    loader loaded ({len(r['loads'])}): "
            + (", ".join(f"{x['name']} {x['ms']:.1f}" for x in r["loads"]) or "nothing")
        )
        cg = r["config_get"]
        lines.append(
            f"    config.get ({len(cg)}): "
            + (", ".join(f"{x['key']} {x['ms']:.2f}" for x in cg) or "none")
        )
        lines.append(
            f"    process-table scans ({len(r['scans'])}, {r['listings']} /proc listings): "
            + (", ".join(f"{x['name']} {x['ms']:.1f}" for x in r["scans"]) or "none")
        )
        lines.append(
            f"    spawned ({len(r['spawned'])} Popen, {r['forks']} os.fork): "
            + (
                ", ".join(f"`{x['argv']}` {x.get('ms', float('nan')):.1f}" for x in r["spawned"])
                or "none"
            )
        )
    return lines


def service_provider(fleet: Fleet) -> str:
    """The module that serves ``service.*`` on the minions (``test.provider service``)."""
    mid = fleet.minions[0].id
    try:
        ret = fleet.local_client().cmd(mid, "test.provider", ["service"], timeout=30)
    except Exception as exc:  # pylint: disable=broad-except
        return f"service module ({exc})"
    return f"{ret.get(mid)}" if ret else "service module"


def checkout_id(path: Path) -> str:
    def git(*a):
        return subprocess.run(["git", "-C", str(path), *a], capture_output=True, text=True)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return f"{path} (not a git checkout)"
    dirty = git("status", "--porcelain", "--", *EXT_FOLDERS).stdout.strip()
    return f"{path} @ {head.stdout.strip()}{' + uncommitted changes' if dirty else ''}"


def unavailable_reason(args) -> str | None:
    if os.geteuid() != 0:
        return (
            "needs root: every minion runs under `unshare --mount` with its own folder "
            "bound over /etc/init.d"
        )
    if not shutil.which("unshare"):
        return "needs util-linux's unshare"
    if not Path("/etc/init.d").is_dir():
        return "needs an /etc/init.d folder to bind over"
    for prog in ("salt-master", "salt-minion", "salt"):
        if not (Path(sys.executable).parent / prog).exists():
            return (
                f"{prog} is not next to {sys.executable}: run it with the checkout's venv "
                "(.venv/bin/python bench/scale.py)"
            )
    for sub in EXT_FOLDERS:
        if not (args.checkout / sub).is_dir():
            return f"{args.checkout} has no {sub}/"
    if args.install == "pip":
        for name in PACKAGE_FILES:
            if not (args.checkout / name).exists():
                return f"{args.checkout} has no {name} to build a wheel from"
    return None


def raise_nofile(minions: int) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, min(hard, 100000)) if hard != resource.RLIM_INFINITY else max(soft, 100000)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return f"{soft} -> {want}" if want > soft else str(soft)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="\n".join(__doc__.split("\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--minions",
        type=int,
        default=20,
        metavar="N",
        help="number of salt-minions, each with its own stand-in client (default 20)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=7,
        metavar="R",
        help="timed rounds; each round runs every command once through the salt CLI "
        "and once through LocalClient (default 7)",
    )
    p.add_argument(
        "--warmup", type=int, default=1, metavar="W", help="untimed rounds first (default 1)"
    )
    p.add_argument(
        "--timeout",
        type=int,
        default=60,
        metavar="S",
        help="salt's -t: seconds to wait for the minions' answers (default 60)",
    )
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="on a run where a minion did not answer, record it and go on (the exit "
        "status is still 1); default: stop at the first such run",
    )
    p.add_argument(
        "--same-name",
        action="store_true",
        help="name every client aliyun-service (default: aliyun-benchNNN, so that "
        "no minion sees the other minions' clients as look-alikes in "
        "`others`, which a minion on its own host would not)",
    )
    p.add_argument(
        "--dont-write-bytecode",
        action="store_true",
        help="run the master and minions with PYTHONDONTWRITEBYTECODE=1 (default: "
        "without it, as a service manager starts them, even where this shell "
        "sets it): every job then compiles cloudassist's modules from source",
    )
    p.add_argument(
        "--install",
        choices=INSTALLS,
        default="synced",
        help="how the minions get cloudassist (default synced): synced = the checkout's "
        "_modules _states _grains _beacons _runners in the master's file_roots and "
        "saltutil.sync_all on every minion (no module_dirs); pip = a wheel of the checkout "
        "installed with pip install --target into a folder on the minions' PYTHONPATH (Salt "
        "finds it by its salt.loader entry point); dirs = module_dirs, states_dirs and "
        "grains_dirs naming a copy of the checkout's folders",
    )
    p.add_argument(
        "--checkout",
        type=Path,
        default=REPO,
        help="tree whose _modules/_states/_grains/_beacons/_runners (and, for --install pip, "
        "setup.cfg, pyproject.toml, README.md, LICENSE and src) the minions get (copied at "
        "start; default: %(default)s)",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="after the rounds, break one minion's job down for every command, measured "
        "inside the job process: the fork, the job set-up, the loader (modules, "
        "__virtual__), the library's import, each config.get, the process-table scans, "
        "each spawned process, the call and the return; on all minions at once and on one "
        "alone (a bench-only module, scalebench, is synced with the others, or put in the "
        "copy's _modules, or for pip in a module_dirs folder of its own, for the whole run)",
    )
    p.add_argument(
        "--commands",
        metavar="LABEL,...",
        help="time only these commands, by their label in the table, comma-separated "
        "(test.version, the baseline, is always timed); e.g. 'state: cloudassist.running,"
        "state: service.running' to afford many rounds of one comparison (default: all)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = p.parse_args(argv)
    if args.commands:
        try:
            select_commands(args.commands.split(","))
        except ValueError as exc:
            p.error(str(exc))
    if args.minions < 1 or args.rounds < 1 or args.warmup < 0 or args.timeout < 1:
        p.error("--minions, --rounds and --timeout take a positive number, --warmup >= 0")
    args.checkout = args.checkout.resolve()
    reason = unavailable_reason(args)
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    copies = installed_copies(Path(tempfile.gettempdir()))
    if copies:
        print(
            "cannot run: the venv holds saltext.cloudassist ({}), which the minions would load "
            "as well: run bin/setup-env".format("; ".join(copies)),
            file=sys.stderr,
        )
        return 2

    def _term(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _term)
    stop_signals = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}

    started = time.monotonic()
    load_before = loadavg()
    nofile = raise_nofile(args.minions)
    tmp = Path(tempfile.mkdtemp(prefix="ca-scale-"))
    fleet = Fleet(args, tmp)
    problems: list[str] = []
    result = None
    failed: str | None = None
    try:
        import logging

        import salt.version

        # This process is a client: the master's going away at the end is not news.
        logging.getLogger("salt").setLevel(logging.CRITICAL)
        fleet.salt_version = salt.version.__version__
        fleet.write_master()
        fleet.install(args.checkout)
        log(
            f"temporary root {tmp}; ports {fleet.publish_port}/{fleet.ret_port}; "
            f"open files {nofile}"
        )
        for m in fleet.minions:
            fleet.write_minion(m)
            fleet.start_client(m)
        log(f"{len(fleet.minions)} stand-in clients running (init scripts, own pid files)")
        fleet.start_master()
        fleet.wait_master(60)
        t0 = time.monotonic()
        for m in fleet.minions:
            fleet.start_minion(m)
        log(f"salt-master up; {len(fleet.minions)} salt-minions starting")
        fleet.wait_minions(120 + 6 * args.minions)
        connect_s = time.monotonic() - t0
        log(f"all {len(fleet.minions)} minions connected after {connect_s:.1f} s")
        if args.install == "synced":
            fleet.sync()
            log("saltutil.sync_all: every minion synced cloudassist")
        version_s = fleet.wait_version(60 + 2 * args.minions)
        log(f"cloudassist.version answers rightly everywhere ({version_s:.1f} s)")
        provider = service_provider(fleet)
        data = measure(fleet, args)
        result = {"data": data, "summary": summarize(data, args.minions)}
        result["meta"] = {
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "salt": fleet.salt_version,
            "python": ".".join(map(str, sys.version_info[:3])),
            "cpus": os.cpu_count(),
            "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "host": host_text(),
            "command": " ".join([Path(sys.executable).name, *sys.argv])
            if argv is None
            else "scale.py " + " ".join(argv),
            "checkout": checkout_id(args.checkout),
            "minions": args.minions,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "connect_s": connect_s,
            "install": args.install,
            "modules": install_text(fleet),
            "bytecode": (
                "PYTHONDONTWRITEBYTECODE=1 for the daemons (--dont-write-bytecode): "
                "every job compiles the modules it loads"
                if args.dont_write_bytecode
                else "the daemons run without PYTHONDONTWRITEBYTECODE"
                + (
                    " (set in this shell, removed for them)"
                    if os.environ.get("PYTHONDONTWRITEBYTECODE")
                    else ""
                )
                + ": __pycache__ is written and reused, as by a minion its service "
                "manager starts"
            ),
            "client_names": (
                "every client named aliyun-service (--same-name)"
                if args.same_name
                else "named aliyun-bench000.. so no minion sees another's client"
            ),
            "versions": {m.id: m.version for m in fleet.minions},
            "service_provider": provider,
            "load_before": load_before,
            "load_after": loadavg(),
            "seconds": None,
        }
        if args.explain:
            try:
                result["explain"] = explain(fleet, args)
            except Failed as exc:
                log("FAILED: " + str(exc))
                data["failures"].append(
                    {"mode": "explain", "command": "scalebench.anatomy", "round": "-"}
                    | {"error": str(exc)}
                )
        result["meta"]["load_after"] = loadavg()
        result["meta"]["seconds"] = round(time.monotonic() - started, 1)
    except Failed as exc:
        failed = str(exc)
    except KeyboardInterrupt as exc:
        log(f"interrupted ({str(exc) or 'SIGINT'}); cleaning up")
        failed = "interrupted"
    except Exception as exc:  # pylint: disable=broad-except
        import traceback

        traceback.print_exc()
        failed = f"error: {exc}"
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # cleanup must not be cut short
        try:
            if fleet.client is not None:
                try:
                    fleet.client.destroy()
                except Exception:  # pylint: disable=broad-except
                    pass
            problems += fleet.stop()
            shutil.rmtree(tmp, ignore_errors=True)
            if tmp.exists():
                problems.append(f"{tmp} could not be removed")
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
    for problem in problems:
        log("LEFT BEHIND: " + problem)
    if result is None:
        log("no result: " + (failed or "?"))
        if failed == "interrupted":
            return 130
        return 1
    if args.json:
        json.dump(result, sys.stdout, indent=1, default=str)
        print()
    else:
        print(table(result))
    log(f"done in {result['meta']['seconds']} s")
    if result["data"]["failures"]:
        log(
            "{} failed run(s): a minion did not answer or answered wrongly (see above)".format(
                len(result["data"]["failures"])
            )
        )
        return 1
    return 1 if problems else 0


def install_text(fleet: Fleet) -> str:
    how = fleet.args.install
    if how == "synced":
        return (
            "install: synced (a copy of the checkout's _modules/_states/_grains/_beacons/_runners "
            "in the master's file_roots taken at start, saltutil.sync_all on every minion; no "
            "module_dirs)"
        )
    if how == "pip":
        return (
            "install: pip (a wheel of a copy of the checkout, pip install --no-deps --target "
            "<tmp>/site, the minions' PYTHONPATH; found by the salt.loader entry point; "
            + ("bytecode compiled by pip" if fleet.pip_bytecode else "NO bytecode compiled")
            + (
                "; scalebench alone in a module_dirs folder"
                if fleet.bench_dir is not None
                else "; no module_dirs"
            )
            + ")"
        )
    return (
        "install: dirs (module_dirs, states_dirs, grains_dirs naming a copy of the checkout's "
        "_modules/_states/_grains taken at start; nothing synced)"
    )


def host_text() -> str:
    try:
        pretty = next(
            line.split("=", 1)[1].strip('"')
            for line in Path("/etc/os-release").read_text().splitlines()
            if line.startswith("PRETTY_NAME=")
        )
    except (OSError, StopIteration):
        pretty = "Linux"
    return f"{pretty}, kernel {os.uname().release}"


if __name__ == "__main__":
    sys.exit(main())
