"""Issue 10, "a try-it command": what ``bin/cloudassist`` says on a machine without the client,
and ``bin/cloudassist-demo``'s own checks that need no container (its ``--help``, its refusal
without root).  The demo itself runs in tests/realinit/test_demo.py.

``bin/cloudassist`` runs for real here (salt-call with the checkout's modules, about a second
each), with its configuration folder in a temporary directory (``CLOUDASSIST_CONFIG_DIR``), so
the checkout's ``.venv/salt-local`` is neither read nor written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import standin

CHECKOUT = Path(__file__).resolve().parents[2]
CLOUDASSIST = CHECKOUT / "bin" / "cloudassist"
DEMO = CHECKOUT / "bin" / "cloudassist-demo"
STANDARD = ("/usr/sbin/aliyun-service", "/opt/sbin/aliyun-service")
NO_CLIENT_HERE = pytest.mark.skipif(
    any(os.path.lexists(p) for p in STANDARD) or shutil.which("aliyun-service"),
    reason="this machine has a Cloud Assistant client (or something in its place)",
)
HINT = "bin/cloudassist: cloudassist.status found no Cloud Assistant client on this machine."


def run_cloudassist(
    conf: Path, *args: str, config: str | None = None
) -> subprocess.CompletedProcess:
    """``bin/cloudassist ARGS`` with its configuration in ``conf`` and ``config`` as
    ``minion.d/cloudassist.conf``, against this session's venv (bin/setup-env finds it made:
    same venv, same Python)."""
    if config is not None:
        (conf / "minion.d").mkdir(parents=True, exist_ok=True)
        (conf / "minion.d" / "cloudassist.conf").write_text(config)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(CLOUDASSIST_VENV=sys.prefix, PYTHON=sys.executable, CLOUDASSIST_CONFIG_DIR=str(conf))
    return subprocess.run(
        [str(CLOUDASSIST), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=CHECKOUT,
        timeout=300,
    )


def said(proc) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def init_line() -> str:
    """The init-system facts as bin/cloudassist reads them on this host."""
    running = (
        "systemd is running (/run/systemd/system exists)"
        if os.path.isdir("/run/systemd/system")
        else "systemd is not running (no /run/systemd/system)"
    )
    return f"init system: {running}; PID 1 is '{Path('/proc/1/comm').read_text().strip()}'"


def test_default_command_without_the_client_says_what_it_found_and_how_to_try(tmp_path):
    conf = tmp_path / "salt-local"
    missing = tmp_path / "nowhere" / "aliyun-service"
    proc = run_cloudassist(conf, config=f"cloudassist: {{binary: {missing}}}\n")
    out = said(proc)
    # status answers for a minion without the client (issue 17): exit 0, installed False, and
    # its comment says what it looked for; bin/cloudassist shows it as salt-call printed it.
    assert proc.returncode == 0, out
    assert proc.stdout.startswith("local:"), out
    assert re.search(r"^\s+installed:\s*\n\s+False$", proc.stdout, re.M), out
    assert f"the Cloud Assistant client is not installed: looked for {missing}" in proc.stdout
    err = proc.stderr
    assert HINT in err, out
    hint = err[err.index(HINT) :]
    # What it found: the standard paths, the init system, the configured binary.
    for path in STANDARD:
        assert (f"{path} (absent)" if not os.path.lexists(path) else path) in hint, out
    assert init_line() in hint, out
    assert re.search(
        r"config: +"
        + re.escape(str(conf / "minion.d" / "cloudassist.conf"))
        + r":cloudassist: \{binary: "
        + re.escape(str(missing)),
        hint,
    ), out
    # How to try: the demo, the config key in this config folder, the tests.
    assert re.search(
        r"^  bin/cloudassist-demo\n      as root: boots a throwaway systemd container", hint, re.M
    ), out
    assert (
        f"\n  mkdir -p {conf}/minion.d\n"
        "  echo 'cloudassist: {binary: /path/to/aliyun-service}' > "
        f"{conf}/minion.d/cloudassist.conf\n"
    ) in hint, out
    assert re.search(r"^  bin/test\n      runs the test suite", hint, re.M), out
    # bin/cloudassist wrote its minion configuration into the folder it was given.
    assert f"module_dirs: [{CHECKOUT}/_modules]" in (conf / "minion").read_text()


@NO_CLIENT_HERE
def test_default_command_with_no_config_names_the_standard_places(tmp_path):
    conf = tmp_path / "salt-local"
    proc = run_cloudassist(conf)
    out = said(proc)
    assert proc.returncode == 0, out
    assert (
        "the Cloud Assistant client is not installed: looked for /usr/sbin/aliyun-service, "
        "/opt/sbin/aliyun-service and aliyun-service on the PATH"
    ) in proc.stdout, out
    assert HINT in proc.stderr, out
    assert (
        "client:      /usr/sbin/aliyun-service (absent); /opt/sbin/aliyun-service (absent); "
        "aliyun-service on the PATH: none"
    ) in proc.stderr, out
    assert f"config:      no cloudassist:binary in {conf}/minion.d/" in proc.stderr, out


def test_default_command_with_a_dangling_link_for_a_client_says_the_same(tmp_path):
    link = tmp_path / "aliyun-service"
    link.symlink_to(tmp_path / "2.2.3.578" / "aliyun-service")  # a half-removed install
    proc = run_cloudassist(tmp_path / "salt-local", config=f"cloudassist: {{binary: {link}}}\n")
    out = said(proc)
    assert proc.returncode != 0, out
    assert f"the Cloud Assistant client is broken: {link} is a link to" in proc.stderr, out
    assert HINT in proc.stderr and "bin/cloudassist-demo" in proc.stderr, out


def test_explicit_arguments_pass_through_unchanged(tmp_path):
    conf = tmp_path / "salt-local"
    missing = tmp_path / "nowhere" / "aliyun-service"
    proc = run_cloudassist(
        conf, "cloudassist.status", config=f"cloudassist: {{binary: {missing}}}\n"
    )
    out = said(proc)
    assert proc.returncode == 0, out
    assert f"the Cloud Assistant client is not installed: looked for {missing}" in proc.stdout, out
    assert "found no Cloud Assistant client" not in proc.stderr, out
    assert "cloudassist-demo" not in proc.stderr, out


def test_default_command_with_a_client_adds_nothing(tmp_path):
    binary = standin.install_client(tmp_path / "bin" / "aliyun-service")
    conf = tmp_path / "salt-local"
    # sysvinit without its script: status answers (the client is blocked, not missing) on any
    # host, whatever its own init system.
    proc = run_cloudassist(
        conf, config=f"cloudassist: {{binary: {binary}, init_system: sysvinit}}\n"
    )
    out = said(proc)
    assert proc.returncode == 0, out
    assert proc.stdout.startswith("local:"), out
    assert re.search(r"^\s+installed:\s*\n\s+True$", proc.stdout, re.M), out
    assert "found no Cloud Assistant client" not in proc.stderr, out


def test_another_failure_of_the_default_command_adds_nothing(tmp_path):
    binary = standin.install_client(tmp_path / "bin" / "aliyun-service")
    conf = tmp_path / "salt-local"
    proc = run_cloudassist(conf, config=f"cloudassist: {{binary: {binary}, init_system: bogus}}\n")
    out = said(proc)
    assert proc.returncode != 0, out
    assert "cloudassist:init_system is set to 'bogus'" in proc.stderr, out
    assert "found no Cloud Assistant client" not in proc.stderr, out


# --- bin/cloudassist-demo, without a container ------------------------------------------------


def as_nobody() -> list[str]:
    """The prefix that runs a command without root (nothing when this is not root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip(
            "running as root without setpriv: cannot drop root to run the demo unprivileged"
        )
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    if subprocess.run([*prefix, "test", "-r", str(DEMO), "-a", "-x", str(DEMO)]).returncode != 0:
        pytest.skip(f"{DEMO} is not readable and executable by an unprivileged user here")
    return prefix


def test_demo_help_works_without_root():
    proc = subprocess.run(
        [*as_nobody(), str(DEMO), "--help"], capture_output=True, text=True, timeout=30, cwd="/"
    )
    out = said(proc)
    assert proc.returncode == 0, out
    assert proc.stdout.startswith("Usage: bin/cloudassist-demo [--shell]"), out
    for needle in (
        "Needs root",
        "systemd-nspawn",
        "apt-get install systemd-container debootstrap",
        "first run builds the Debian root",
        "--shell",
        "cloudassist.status",
        "state.apply",
        "removed at the end",
        "also on\nan error or Ctrl-C",
    ):
        assert needle in proc.stdout, (needle, out)


def test_demo_without_root_says_it_needs_root():
    proc = subprocess.run(
        [*as_nobody(), str(DEMO)], capture_output=True, text=True, timeout=30, cwd="/"
    )
    out = said(proc)
    assert proc.returncode == 2, out
    assert "bin/cloudassist-demo: needs root" in proc.stderr, out
    assert proc.stdout == "", out


def test_demo_rejects_an_unknown_argument():
    proc = subprocess.run(
        [*as_nobody(), str(DEMO), "--keep"], capture_output=True, text=True, timeout=30, cwd="/"
    )
    assert proc.returncode == 2 and "unknown argument: --keep" in proc.stderr, said(proc)
