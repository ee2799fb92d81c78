"""The body of ``bin/cloudassist-demo``: the modules at work on a throwaway systemd host.

Boots the real-init suite's cached systemd root (``realinit_testbed``) on a throwaway overlay
with ``systemd-nspawn``, installs the stand-in client (``tests/support/standin.c``) as
``/usr/sbin/aliyun-service`` with its ``aliyun.service`` unit, enabled, and runs the execution
functions and the states there with this checkout's ``salt-call``, printing each command and
its output.  After each step it asks systemd itself (``systemctl is-active``/``is-enabled``)
and the process table whether the client really is as the step says; the first step that is
not ends the demo with exit 1.  The container, its overlay and its mounts are removed at the
end, also on an error, Ctrl-C, SIGTERM or SIGHUP.

Run it through ``bin/cloudassist-demo`` (root, the venv's interpreter); ``--shell`` opens a
shell in the container before it is removed.  Exit codes: 0 every step as expected, 1 a step
was not, 2 the demo cannot run here, 3 something was left behind on the host.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
for _p in (HERE, HERE.parent, HERE.parent / "support"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import realinit_testbed as tb  # noqa: E402
from realinit_checks import BINARY  # noqa: E402
from support import standin  # noqa: E402

import client_deb  # noqa: E402

NAME = "cloudassist-demo"
UNIT = "aliyun.service"
VERSION = standin.DEFAULT_VERSION
NEW_VERSION = "2.2.4.1065"
DEBS = "/root/debs"  # the packages, in the container (its /tmp is a tmpfs of its own)
MARKERS = tuple(
    f"{client_deb.SHARE}/config/{name}" for name in ("disable_update", "disable_bootstrap_update")
)
PROMPT = NAME + "# "
# salt-call inside the container: this checkout's venv (bound read-only by the testbed) with
# the masterless configuration the testbed's Salt writes (file_client: local).
SALT_CALL_WRAPPER = "/usr/local/bin/salt-call"
SLS_STOPPED = "demo-stopped"
SLS_RUNNING = "cloudassist-example"  # examples/cloudassist-example.sls, as shipped
EXAMPLE = tb.PROJECT_DIR / "examples" / (SLS_RUNNING + ".sls")
STOPPED_TEXT = """\
# Stop the Cloud Assistant client (written by bin/cloudassist-demo).
cloud-assistant-off:
  cloudassist.stopped
"""
SLS_INSTALLED = "demo-installed"
INSTALLED_TEXT = f"""\
# The client's package at {NEW_VERSION}, its self-update allowed (written by bin/cloudassist-demo).
cloud-assistant-installed:
  cloudassist.installed:
    - source: salt://ca/{client_deb.deb_name(NEW_VERSION)}
    - version: {NEW_VERSION}
    - updates: allowed
"""


class StepFailed(Exception):
    """A step did not end as it says; the message says how."""


def say(text: str = "") -> None:
    print(text, flush=True)


def note(text: str) -> None:
    say("==> " + text)


# --------------------------------------------------------------------------------------------
# The host in the container, as systemd and the process table tell it (not as the module does)
# --------------------------------------------------------------------------------------------


class Truth:
    def __init__(self, c: tb.Container):
        self.c = c

    def active(self) -> str:
        return self.c.run("systemctl", "is-active", UNIT, check=False).stdout.strip()

    def enabled(self) -> str:
        return self.c.run("systemctl", "is-enabled", UNIT, check=False).stdout.strip()

    def pids(self) -> list[int]:
        return self.c.pids()

    def package(self) -> str:
        """What dpkg knows of the client's package: ``install ok installed 2.2.3.578``."""
        res = self.c.run(
            "dpkg-query", "-W", "-f", "${Status} ${Version}", client_deb.PACKAGE, check=False
        )
        return res.stdout.strip() if res.returncode == 0 else "no package"

    def exe(self, pid: int) -> str:
        return self.c.run("readlink", f"/proc/{pid}/exe", check=False).stdout.strip()

    def markers(self) -> list[str]:
        """The self-update marker files the client reads in its cross-version folder."""
        return [m for m in MARKERS if self.c.run("test", "-f", m, check=False).returncode == 0]

    def running(self) -> str:
        pids = self.pids()
        return f"systemd says {UNIT} is {self.active()}; " + (
            f"aliyun-service runs as pid {', '.join(map(str, pids))}"
            if pids
            else "no aliyun-service process"
        )


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------


class Demo:
    def __init__(self, c: tb.Container, color: bool):
        self.c = c
        self.truth = Truth(c)
        self.color = color
        self.steps = 0

    def salt_call(self, why: str, *args: str, out: str | None = "yaml"):
        """Print and run ``salt-call [--out=OUT] ARGS`` in the container; return (rc, data)."""
        shown = ["salt-call", *([f"--out={out}"] if out else []), *args]
        hidden = ["--force-color"] if self.color else ["--no-color"]
        say()
        say("# " + why)
        say(PROMPT + shlex.join(shown))
        started = time.monotonic()
        res = self.c.run(
            *shown[:1], *hidden, "--retcode-passthrough", *shown[1:], check=False, timeout=180
        )
        took = time.monotonic() - started
        if res.stdout:
            sys.stdout.write(res.stdout if res.stdout.endswith("\n") else res.stdout + "\n")
        if res.stderr.strip():
            sys.stdout.write(textwrap.indent(res.stderr.rstrip("\n"), "(stderr) ") + "\n")
        sys.stdout.flush()
        self.steps += 1
        data = None
        if out == "yaml" and res.stdout.strip():
            try:
                data = (yaml.safe_load(res.stdout) or {}).get("local")
            except (yaml.YAMLError, AttributeError):
                data = None
        if res.returncode != 0:
            raise StepFailed(f"`salt-call {shlex.join(args)}` exited {res.returncode}")
        return took, data

    def verdict(self, took: float, ok: bool, text: str) -> None:
        say(f"--> {'ok' if ok else 'NOT AS EXPECTED'} ({took:.1f}s): {text}")
        if not ok:
            raise StepFailed(text)

    def expect_running(self, took: float, running: bool, also: str = "") -> list[int]:
        """Wait briefly for the process table to agree, then say what systemd says."""
        deadline = time.monotonic() + 10
        while bool(self.truth.pids()) != running and time.monotonic() < deadline:
            time.sleep(0.1)
        pids = self.truth.pids()
        active = self.truth.active()
        ok = (
            (active == "active" and len(pids) == 1)
            if running
            else (active != "active" and not pids)
        )
        self.verdict(took, ok, self.truth.running() + also)
        return pids

    def run(self) -> None:
        # -- the execution module ---------------------------------------------------------
        took, st = self.salt_call(
            "what the module sees: the client, its version, the init "
            "system and how it decided, the unit",
            "cloudassist.status",
        )
        self.verdict(
            took,
            isinstance(st, dict)
            and st.get("running") is True
            and st.get("init_system") == "systemd"
            and st.get("service") == UNIT
            and st.get("version") == VERSION
            and self.truth.active() == "active",
            f"status says running, systemd, {UNIT}, {VERSION}; {self.truth.running()}",
        )
        before = self.truth.pids()

        took, ret = self.salt_call(
            "test=True: what stop would run; nothing is run", "cloudassist.stop", "test=True"
        )
        self.verdict(
            took,
            isinstance(ret, dict) and ret.get("test") is True and self.truth.pids() == before,
            f"nothing changed: {self.truth.running()}",
        )

        took, ret = self.salt_call(
            "stop it (the module logs the vendor's warning)", "cloudassist.stop"
        )
        self._check_ret(ret, running=False, changed=True)
        self.expect_running(took, False)

        took, ret = self.salt_call("stopping a stopped client changes nothing", "cloudassist.stop")
        self._check_ret(ret, running=False, changed=False)
        self.expect_running(took, False)

        took, ret = self.salt_call(
            "start it: started, then checked to stay up", "cloudassist.start"
        )
        self._check_ret(ret, running=True, changed=True)
        before = self.expect_running(took, True)

        took, ret = self.salt_call("restart it: a new process", "cloudassist.restart")
        self._check_ret(ret, running=True)
        after = self.expect_running(took, True)
        if set(after) & set(before):
            self.verdict(took, False, f"restart kept the process {before}")

        # -- the states -------------------------------------------------------------------
        took, _ = self.salt_call(
            f"a state that stops it ({SLS_STOPPED}.sls), under test=True: the plan, nothing run",
            "state.apply",
            SLS_STOPPED,
            "test=True",
            out=None,
        )
        self.verdict(took, self.truth.pids() == after, "nothing changed: " + self.truth.running())

        took, _ = self.salt_call("the same state for real", "state.apply", SLS_STOPPED, out=None)
        self.expect_running(took, False)

        took, _ = self.salt_call(
            f"examples/{SLS_RUNNING}.sls (cloudassist.running) under test=True",
            "state.apply",
            SLS_RUNNING,
            "test=True",
            out=None,
        )
        self.expect_running(took, False, " (still stopped)")

        took, _ = self.salt_call("and for real", "state.apply", SLS_RUNNING, out=None)
        self.expect_running(took, True)

        took, _ = self.salt_call(
            "applied again: already as declared, nothing to do",
            "state.apply",
            SLS_RUNNING,
            out=None,
        )
        self.expect_running(took, True)

        # -- starting at boot ---------------------------------------------------------------
        took, ret = self.salt_call("does it start at boot?", "cloudassist.enabled")
        self.verdict(
            took,
            ret is True and self.truth.enabled() == "enabled",
            f"systemd says {UNIT} is {self.truth.enabled()}",
        )

        took, ret = self.salt_call(
            "keep it from starting at boot; it keeps running now", "cloudassist.disable"
        )
        self.verdict(
            took,
            isinstance(ret, dict)
            and ret.get("enabled") is False
            and self.truth.enabled() == "disabled"
            and self.truth.active() == "active",
            f"systemd says {UNIT} is {self.truth.enabled()} and {self.truth.active()}",
        )

        took, ret = self.salt_call("and back", "cloudassist.enable")
        self.verdict(
            took,
            isinstance(ret, dict)
            and ret.get("enabled") is True
            and self.truth.enabled() == "enabled",
            f"systemd says {UNIT} is {self.truth.enabled()}",
        )

        self.package_steps()

    def package_steps(self) -> None:
        """The client's package and its self-update: freeze, upgrade, the installed state."""
        took, ret = self.salt_call(
            "may the client update itself? (the marker files it reads)", "cloudassist.updates"
        )
        self.verdict(
            took,
            isinstance(ret, dict) and ret.get("frozen") is False and not self.truth.markers(),
            f"no marker file in {client_deb.SHARE}/config",
        )

        took, ret = self.salt_call(
            "freeze its self-update: the marker files, where the client reads them",
            "cloudassist.freeze_updates",
        )
        self.verdict(
            took,
            isinstance(ret, dict)
            and ret.get("frozen") is True
            and self.truth.markers() == list(MARKERS),
            f"the markers are there: {', '.join(self.truth.markers())}",
        )
        before = self.truth.pids()

        source = f"salt://ca/{client_deb.deb_name(NEW_VERSION)}"
        took, ret = self.salt_call(
            f"the package of {NEW_VERSION}, under test=True: the plan, nothing run",
            "cloudassist.install",
            source,
            "test=True",
        )
        self.verdict(
            took,
            isinstance(ret, dict)
            and ret.get("changes") == {"version": {"old": VERSION, "new": NEW_VERSION}}
            and self.truth.package() == f"install ok installed {VERSION}"
            and self.truth.pids() == before,
            f"dpkg says {self.truth.package()}; {self.truth.running()}",
        )

        took, ret = self.salt_call(
            "upgrade it with dpkg; then dpkg, the binary's -v and the running client are checked",
            "cloudassist.install",
            source,
            f"version={NEW_VERSION}",
        )
        pids = self.truth.pids()
        binary = client_deb.binary(NEW_VERSION)
        self.verdict(
            took,
            isinstance(ret, dict)
            and ret.get("version") == NEW_VERSION
            and self.truth.package() == f"install ok installed {NEW_VERSION}"
            and len(pids) == 1
            and self.truth.exe(pids[0]) == binary
            and self.truth.active() == "active"
            and self.truth.markers() == list(MARKERS),
            f"dpkg says {self.truth.package()}; pid {pids} runs "
            f"{self.truth.exe(pids[0]) if pids else 'nothing'}; the markers outlived the upgrade",
        )

        took, _ = self.salt_call(
            f"a cloudassist.installed state ({SLS_INSTALLED}.sls): {NEW_VERSION}, updates allowed",
            "state.apply",
            SLS_INSTALLED,
            out=None,
        )
        self.verdict(
            took,
            self.truth.package() == f"install ok installed {NEW_VERSION}"
            and self.truth.pids() == pids
            and not self.truth.markers(),
            f"dpkg says {self.truth.package()}; the markers are gone; the client was not restarted",
        )

        took, ret = self.salt_call(
            "remove the client for good, under test=True: what would run, nothing run",
            "cloudassist.remove",
            "test=True",
        )
        config = f"{client_deb.SHARE}/config"  # freeze_updates made it; allow left it empty
        self.verdict(
            took,
            isinstance(ret, dict)
            and ret.get("changes", {}).get("version") == {"old": NEW_VERSION, "new": None}
            and config in ret["changes"].get("files", {}).get("old", [])
            and self.truth.package() == f"install ok installed {NEW_VERSION}"
            and self.truth.pids() == pids
            and self.c.exists(config),
            f"dpkg says {self.truth.package()}; {self.truth.running()}; {config} is still there",
        )

        took, ret = self.salt_call(
            "remove it: dpkg --purge, then nothing of the client may be left",
            "cloudassist.remove",
        )
        unit = self.c.run(
            "systemctl", "show", "-p", "LoadState", "--value", UNIT, check=False
        ).stdout.strip()
        link = self.c.run("test", "-e", BINARY, "-o", "-L", BINARY, check=False).returncode == 0
        share = self.c.exists(client_deb.SHARE)
        self.verdict(
            took,
            isinstance(ret, dict)
            and ret.get("left") == []
            and self.truth.package() == "no package"
            and not self.truth.pids()
            and unit == "not-found"
            and not link
            and not share,
            f"dpkg knows no {client_deb.PACKAGE}; no aliyun-service process; systemd: {UNIT} is "
            f"{unit}; {BINARY} {'is still there' if link else 'is gone'}; "
            f"{client_deb.SHARE} {'is still there' if share else 'is gone'}",
        )

    @staticmethod
    def _check_ret(ret, running: bool, changed: bool | None = None) -> None:
        if not isinstance(ret, dict):
            raise StepFailed(f"salt-call returned no dict: {ret!r}")
        if ret.get("running") is not running or (
            changed is not None and ret.get("changed") is not changed
        ):
            raise StepFailed(
                f"the return says running={ret.get('running')!r}, "
                f"changed={ret.get('changed')!r}; expected running={running}"
                + (f", changed={changed}" if changed is not None else "")
            )


# --------------------------------------------------------------------------------------------
# Setting up and taking down
# --------------------------------------------------------------------------------------------


def prepare(c: tb.Container, salt_conf_dir: str) -> None:
    """The client's packages in the container (built here), and salt-call on its PATH."""
    for version in (VERSION, NEW_VERSION):
        client_deb.build(version, c.path(DEBS))
    c.write(
        SALT_CALL_WRAPPER,
        textwrap.dedent(f"""\
        #!/bin/sh
        # bin/cloudassist-demo: the checkout's salt-call with the demo's masterless config.
        exec {shlex.quote(str(tb.SALT_CALL))} --config-dir={salt_conf_dir} "$@"
        """),
        0o755,
    )


def install_client(c: tb.Container) -> None:
    """The client as the vendor's package installs it (booted: its scripts start its unit), and
    the newer package in the masterless minion's file_roots (salt://ca/...)."""
    c.run("dpkg", "-i", f"{DEBS}/{client_deb.deb_name(VERSION)}", timeout=180)
    c.run("mkdir", "-p", f"{tb.SALT_DIR}/states/ca")
    c.run("cp", f"{DEBS}/{client_deb.deb_name(NEW_VERSION)}", f"{tb.SALT_DIR}/states/ca/")


def shell(c: tb.Container) -> None:
    if not sys.stdin.isatty():
        note("--shell needs a terminal on stdin: skipped")
        return
    note(
        "a shell in the container (try: salt-call cloudassist.status); "
        "leave it with `exit` and the container is removed"
    )
    env = {
        "PATH": tb.CONTAINER_PATH,
        "LANG": "C.UTF-8",
        "HOME": "/root",
        "PS1": PROMPT,
        "TERM": os.environ.get("TERM", "dumb"),
    }
    # Ctrl-C in the shell is the shell's: caught here by a handler that does nothing (exec
    # resets it, so the shell and what it runs get Ctrl-C as usual).
    previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        subprocess.run(
            ["nsenter", "-t", str(c.init_pid), "-a", "--", "/bin/bash", "--norc", "-i"],
            env=env,
            check=False,
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str]) -> int:
    want_shell = "--shell" in argv
    unknown = [a for a in argv if a != "--shell"]
    if unknown:
        print(
            f"cloudassist-demo: unknown arguments {unknown} (see bin/cloudassist-demo --help)",
            file=sys.stderr,
        )
        return 2
    reason = tb.unavailable_reason()
    if reason:
        print(
            "cloudassist-demo cannot run here: " + reason.replace("real-init suite", "it"),
            file=sys.stderr,
        )
        return 2
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)

    started = time.monotonic()
    c = None
    code = 0
    try:
        _, suite = tb.apt_source()
        cached = tb.CACHE_DIR / "systemd"
        if not tb.root_is_good(cached, "systemd", suite):
            note(
                f"first run: building a Debian {suite} root with systemd into {cached} with "
                "debootstrap (a few minutes, about 300 MB, downloaded from this machine's apt "
                "mirror); later runs reuse it"
            )
        root = tb.ensure_root("systemd", log=lambda m: note(m))
        standin.client_binary()  # compiled once (gcc -static), then cached
        # Signals wait while the overlay is mounted, until `c` holds what close() undoes.
        held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            c = tb.Container(root, "systemd", NAME)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
        note(
            f"a throwaway systemd container on an overlay of {root} (in {c.work}), with the "
            f"stand-in client {VERSION} (tests/support/standin.c) installed from its package "
            f"({client_deb.deb_name(VERSION)}, the vendor's layout: {BINARY} links to "
            f"{client_deb.binary(VERSION)}; its scripts write, enable and start {UNIT})"
        )
        salt_conf = f"{tb.SALT_DIR}/conf"
        prepare(c, salt_conf)
        t = time.monotonic()
        c.boot()
        salt = tb.Salt(c, {"id": NAME})
        salt.write_sls(SLS_STOPPED, STOPPED_TEXT)
        salt.write_sls(SLS_RUNNING, EXAMPLE.read_text())
        salt.write_sls(SLS_INSTALLED, INSTALLED_TEXT)
        install_client(c)
        note(
            f"booted in {time.monotonic() - t:.1f}s; salt-call in it is this checkout's "
            f"({tb.SALT_CALL}, config {salt_conf}/minion, masterless, the checkout's _modules "
            "and _states)"
        )
        demo = Demo(c, color=sys.stdout.isatty())
        demo.run()
        say()
        note(f"all {demo.steps} steps as expected")
        if want_shell:
            shell(c)
    except StepFailed as exc:
        say()
        note(f"FAILED: {exc}")
        if c is not None and c.init_pid:
            r = c.run("systemctl", "status", "--no-pager", "--lines=10", UNIT, check=False)
            say(PROMPT + f"systemctl status {UNIT}\n" + (r.stdout + r.stderr).rstrip())
        code = 1
    except KeyboardInterrupt as exc:
        say()
        note(f"interrupted ({str(exc) or 'Ctrl-C'})")
        code = 130
    except (
        tb.TestbedUnavailable,
        RuntimeError,
        subprocess.CalledProcessError,
        OSError,
        AssertionError,
    ) as exc:
        say()
        detail = getattr(exc, "stderr", "") or ""
        note(f"FAILED: {exc}{(': ' + detail.strip()) if detail else ''}")
        code = 2 if isinstance(exc, tb.TestbedUnavailable) else 1
    finally:
        if c is not None:
            # No second Ctrl-C in the middle of unmounting.
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_IGN)
            problems = c.close() + tb.leftovers_of(c)
            if problems:
                note("could not remove everything: " + "; ".join(problems))
                code = code or 3
            else:
                note(
                    f"removed the container, its overlay and mounts ({c.work}); "
                    f"{time.monotonic() - started:.0f}s in all"
                )
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
