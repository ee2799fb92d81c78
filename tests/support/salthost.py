"""A private view of this machine for one test, and ``salt-call --local`` inside it.

Each test gets a private view of the host: ``salt-call`` runs in its own mount namespace where
``/etc/init.d`` is the test's own folder (holding a real init script for the stand-in client),
and, where a test asks, ``/sbin/init`` or ``/usr/sbin`` are replaced, or PID 1 is a shell (a
PID namespace).  Nothing is written to the host's /etc; every process a test starts is killed
at teardown.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import yaml

import standin

ROOT = pathlib.Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "tests" / "support"
SALT_CALL = pathlib.Path(sys.executable).parent / "salt-call"


class Result:
    def __init__(self, proc, seconds):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.seconds = seconds
        try:
            self.data = json.loads(proc.stdout)["local"] if proc.stdout.strip() else None
        except ValueError:
            self.data = None

    @property
    def error(self):
        """The CommandExecutionError salt-call reported (its stderr, without log lines).

        salt-call prints ``Error running 'FUN': MESSAGE`` and exits 1 for exactly that class;
        anything else (another exception, a traceback) fails the test here.
        """
        assert self.returncode == 1, self
        assert "Traceback" not in self.stderr, self
        text = "\n".join(
            line for line in self.stderr.splitlines() if not line.startswith("[")
        ).strip()
        assert text.startswith("Error running '"), self
        return text

    def __repr__(self):
        return (
            f"<salt-call rc={self.returncode} stdout={self.stdout[-2000:]!r} "
            f"stderr={self.stderr[-2000:]!r}>"
        )


class Host:
    def __init__(self, base):
        self.base = base
        self.binary = base / "client" / "aliyun-service"
        self.initd = base / "init.d"
        self.initd.mkdir()
        self.pidfile = base / "aliyun-service.pid"
        self.sls = base / "sls"
        self.sls.mkdir()
        self.config = {"binary": str(self.binary), "settle": 0.5}
        self.pillar = {}  # the minion's pillar (a top.sls and one pillar file), when set
        # The grain runs on every salt-call (one more -v); only the grain's own tests load it,
        # so that the others count the execution module's work alone.
        self.grains = False
        self.binds = []  # (source, target) bound in salt-call's mount namespace
        self.started = []  # processes the test started itself

    # --- what the host has ------------------------------------------------------------
    def install_client(self, version="2.2.3.578", **knobs):
        return standin.install_client(self.binary, version, **knobs)

    def install_init_script(self, **knobs):
        script = standin.sysv_script(str(self.binary), pidfile=str(self.pidfile), **knobs)
        return standin.write_executable(self.initd / "aliyun-service", script)

    def replace_init(self, content=None, link=None):
        """``/sbin/init`` as the test wants it, in salt-call's namespace only.

        ``content`` (bytes) replaces what /sbin/init reads as; ``link`` makes /sbin/init a
        link to that path; both None makes it missing.  /sbin is /usr/sbin here (merged /usr),
        and an almost empty folder stands in for it.
        """
        sbin = self.base / "sbin"
        sbin.mkdir(exist_ok=True)
        if content is not None:
            (sbin / "init").write_bytes(content)
        elif link is not None:
            (sbin / "init").symlink_to(link)
        self.binds.append((str(sbin), "/usr/sbin"))

    def sls_file(self, name, text):
        (self.sls / (name + ".sls")).write_text(text)

    def start_client(self):
        """Start the client the way its init script does (no salt involved)."""
        if not (self.initd / "aliyun-service").exists():
            self.install_init_script()
        subprocess.run(
            [str(self.initd / "aliyun-service"), "start"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        assert wait_for(lambda: self.client_pids()), "the stand-in client did not start"
        return self.client_pids()

    def spawn(self, argv):
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.started.append(proc)
        return proc

    # --- the truth, read from /proc ---------------------------------------------------
    def client_pids(self):
        return pids_running(str(self.binary), exclude_args=("-v", "--version"))

    def binary_processes(self):
        """Every process of the binary, ``-v`` probes included."""
        return pids_running(str(self.binary))

    # --- salt-call ----------------------------------------------------------------------
    def salt_call(self, *args, pid1_shell=False, env=None, timeout=120, wrap=()):
        conf = self.base / "conf"
        conf.mkdir(exist_ok=True)
        (conf / "minion").write_text(
            yaml.safe_dump(
                {
                    "file_client": "local",
                    "root_dir": str(self.base / "root"),
                    "module_dirs": [str(ROOT / "_modules")],
                    "states_dirs": [str(ROOT / "_states")],
                    "grains_dirs": [str(ROOT / "_grains")] if self.grains else [],
                    "file_roots": {"base": [str(self.sls)]},
                    "pillar_roots": {"base": [str(self._pillar_root())]},
                    "cloudassist": self.config,
                }
            )
        )
        command = [
            str(SALT_CALL),
            "--local",
            "--config-dir",
            str(conf),
            "--out=json",
            "--log-level=warning",
            *args,
        ]
        binds = [(str(self.initd), "/etc/init.d")] + self.binds
        inner = [sys.executable, str(SUPPORT / "namespace_exec.py")]
        for src, dst in binds:
            inner += ["--bind", src, dst]
        inner += ["--", *wrap, *command]
        outer = ["unshare", "--mount", "--propagation", "private"]
        if pid1_shell:
            # sh stays PID 1 (the trailing `exit` keeps it from exec'ing the command)
            outer += ["--pid", "--fork", "--mount-proc", "--", "sh", "-c", '"$@"; exit $?', "sh"]
        else:
            outer += ["--"]
        started = time.monotonic()
        proc = subprocess.run(
            outer + inner, capture_output=True, text=True, timeout=timeout, env=env
        )
        return Result(proc, time.monotonic() - started)

    def _pillar_root(self):
        root = self.base / "pillar"
        root.mkdir(exist_ok=True)
        (root / "top.sls").write_text(yaml.safe_dump({"base": {"*": ["test_pillar"]}}))
        (root / "test_pillar.sls").write_text(yaml.safe_dump(self.pillar))
        return root

    def cleanup(self):
        for proc in self.started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for pid in pids_running(str(self.base)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def pids_running(needle, exclude_args=()):
    """Pids whose command line mentions ``needle`` (zombies excluded)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            argv = pathlib.Path("/proc", name, "cmdline").read_bytes().split(b"\0")
            state = pathlib.Path("/proc", name, "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        if state in ("Z", "X") or int(name) == os.getpid():
            continue
        if any(needle in a for a in args[:2]) and not set(exclude_args) & set(args[1:]):
            found.append(int(name))
    return sorted(found)


def wait_for(predicate, seconds=10):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)
