"""Fixtures for the integration suite: a real salt-master and salt-minion (pytest-salt-factories)
driving the cloudassist modules against a stand-in client managed by a real init script.

What is real on this host while the suite runs:

- ``/etc/init.d/aliyun-service``: an init script written by ``standin.sysv_script`` that
  daemonizes the stand-in client and keeps ``/var/run/aliyun-service.pid`` (any existing file
  is backed up and put back at teardown, also when a test fails);
- the stand-in client itself (``tests/support/standin.py``) at ``<tmp>/aliyun-service``, which
  answers ``-v`` with the version a test chooses (``standin.install_client``).

The modules reach the minion both ways docs/install.md tells operators, and every test runs in both
(its id names the mode): ``synced``, where the master's ``file_roots`` hold a copy of the
checkout's ``_modules``, ``_states`` (...) and the master runs
``saltutil.sync_all``; and ``pip``, where the wheel built from the checkout is pip-installed
into a folder on the minion's ``PYTHONPATH`` and nothing is synced.  One master and one minion
serve all the tests of a mode; the two pairs never run at the same time.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .ca_host import (
    DEFAULT_VERSION,
    INIT_SCRIPT,
    PIDFILE,
    SETTLE,
    Host,
    kill_clients,
    standin,
)

# Serializes integration sessions on this host: they all share /etc/init.d/aliyun-service.
LOCK = Path("/run/cloudassist-integration.lock")
HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def _host_lock():
    """One integration session at a time on this host; a SIGTERM still runs the finalizers."""
    previous = signal.getsignal(signal.SIGTERM)

    def _term(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    with open(LOCK, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pytest.fail(f"another integration session holds {LOCK}", pytrace=False)
        signal.signal(signal.SIGTERM, _term)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)
            LOCK.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def client_binary(tmp_path_factory, _host_lock):
    """The stand-in client, the real init script that manages it, and the clean-up of both."""
    if os.geteuid() != 0:
        pytest.skip("writes /etc/init.d/aliyun-service: needs root")
    tmp = tmp_path_factory.mktemp("cloudassist-client")
    binary = tmp / "aliyun-service"
    standin.install_client(binary, DEFAULT_VERSION)
    backups = {}
    backup_dir = tmp_path_factory.mktemp("cloudassist-backup")
    try:
        for path in (INIT_SCRIPT, PIDFILE):
            if path.exists() or path.is_symlink():
                shutil.move(str(path), backup_dir / path.name)
                backups[path] = backup_dir / path.name
        standin.write_executable(INIT_SCRIPT, standin.sysv_script(binary=str(binary)))
        yield binary
    finally:
        kill_clients(binary)
        PIDFILE.unlink(missing_ok=True)
        INIT_SCRIPT.unlink(missing_ok=True)
        for path, saved in backups.items():
            shutil.move(str(saved), path)


@pytest.fixture(scope="session")
def host(client_binary):
    return Host(client_binary)


# --- Salt ----------------------------------------------------------------------------------

# The two ways docs/install.md ("With pip", "Synced from the master's file_roots") tells operators
# to put the extension on a minion.  Every test runs in both: the session-scoped fixtures below
# are parametrized over the mode, so pytest runs all tests of one mode with one master/minion
# pair, tears it down, then runs them all again with the other pair (never both at once: they
# share /etc/init.d/aliyun-service and the stand-in).
MODES = ("synced", "pip")

SLS = {
    "ca_running": """
        cloud-assistant:
          cloudassist.running
        """,
    "ca_stopped": """
        cloud-assistant:
          cloudassist.stopped
        """,
    "ca_dead": """
        cloud-assistant:
          cloudassist.dead
        """,
    "ca_watch": """
        trigger:
          test.succeed_with_changes

        cloud-assistant:
          cloudassist.running:
            - watch:
              - test: trigger
        """,
    "ca_running_frozen": """
        cloud-assistant:
          cloudassist.running:
            - updates: frozen
        """,
    "ca_stopped_allowed": """
        cloud-assistant:
          cloudassist.stopped:
            - updates: allowed
        """,
    "ca_misspelt": """
        cloud-assistant:
          cloudassist.running:
            - setle: 1
        """,
    "ca_enable": """
        cloud-assistant:
          cloudassist.running:
            - enable: "yes"
        """,
    "ca_watchdog_flag": """
        cloud-assistant:
          cloudassist.stopped:
            - stop_watchdog: "yes"
        """,
    # Not a state: rendered on the minion by `slsutil.renderer salt://ca_where.sls`, inside a
    # minion job, it reports the files the minion's own loader loaded for cloudassist: the
    # execution module (the loaded function's module globals), every library module that
    # module reaches through its imports, and the state module (from a states loader built on
    # the minion's opts, as a state run builds it).
    "ca_where": """
        #!py
        import sys
        import types

        import salt.loader as loader  # the renderer's globals name __salt__ "salt"


        def _helpers(namespace, found):
            # The library modules reachable from a module's globals: imported modules,
            # and the modules of imported classes and functions (`from x import Y`).
            for value in list(namespace.values()):
                if not isinstance(value, types.ModuleType):
                    value = sys.modules.get(getattr(value, "__module__", None) or "")
                if value is None or not isinstance(value, types.ModuleType):
                    continue
                if value.__name__.startswith("_cloudassist_"):
                    if value.__name__ not in found:
                        found[value.__name__] = value.__file__
                        _helpers(vars(value), found)
            return found


        def _globals(loaded):
            return getattr(loaded, "func", loaded).__globals__


        def run():
            module = _globals(__salt__["cloudassist.status"])
            module["_changing"]()  # act and plan: imported on the first call that may change
            states = loader.states(
                __opts__, __salt__, loader.utils(__opts__), loader.serializers(__opts__)
            )
            return {
                "module": module["__file__"],
                "helpers": _helpers(module, {}),
                "state": _globals(states["cloudassist.running"])["__file__"],
            }
        """,
}


@pytest.fixture(scope="session")
def sls_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cloudassist-sls")
    for name, text in SLS.items():
        (path / f"{name}.sls").write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture(scope="session")
def salt_factories_config(tmp_path_factory):
    """Daemon root dirs under pytest's tmp dir (the default, /tmp/<id>, is left behind)."""
    return {"root_dir": tmp_path_factory.mktemp("salt")}


# Run by the test venv's Python outside the checkout, as the daemons run (their sys.path[0] is
# a scripts folder; pytest's own sys.path holds the checkout, whose gitignored *.egg-info from an
# in-tree build would list an entry point that names nothing importable).
_COPIES_PROBE = """
import importlib.metadata, importlib.util
for ep in importlib.metadata.entry_points(group="salt.loader"):
    if ep.value.startswith("saltext.cloudassist") or ep.name == "cloudassist":
        print("entry point %s = %s (%s)" % (ep.name, ep.value, getattr(ep.dist, "_path", "?")))
try:
    spec = importlib.util.find_spec("saltext.cloudassist")
except ModuleNotFoundError:
    spec = None
if spec is not None:
    print("saltext.cloudassist at %s" % (spec.origin or list(spec.submodule_search_locations)))
"""


def _installed_copies(environ, cwd):
    """What the test venv itself would give the minion's Salt of cloudassist (must be nothing)."""
    proc = subprocess.run(
        [sys.executable, "-c", _COPIES_PROBE],
        env=environ,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout.strip().splitlines()


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """The wheel, built once per session from a copy of the checkout.

    A copy, because an in-tree build writes build/ and *.egg-info into the checkout and reuses
    a stale build/lib (a file deleted from _modules would still ship).  `pip wheel` rather than
    `python -m build`: pip is in every venv; both fetch setuptools for an isolated build.
    """
    tmp = tmp_path_factory.mktemp("cloudassist-wheel")
    source = tmp / "source"
    shutil.copytree(
        CHECKOUT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv*",
            ".git",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            ".pytest_cache",
            ".hypothesis",
        ),
    )
    out = tmp / "dist"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    (built,) = out.glob("saltext_cloudassist-*.whl")
    return built


@dataclasses.dataclass
class Install:
    """How the extension reaches the minion in one mode."""

    mode: str
    file_roots: list  # what the master serves besides the SLS files
    sitedir: Path | None = None  # pip: where the wheel is installed (the minion's PYTHONPATH)

    def environ(self, base=os.environ):
        environ = dict(base)
        environ.pop("PYTHONPATH", None)
        if self.sitedir is not None:
            environ["PYTHONPATH"] = str(self.sitedir)
        return environ


@pytest.fixture(scope="session", params=MODES)
def install(request, tmp_path_factory, _host_lock):
    """``synced``: the master's file_roots hold a copy of the checkout's ``_*`` folders (a copy,
    so that a test may change a helper and sync again without touching the checkout) and the
    minion gets them by ``saltutil.sync_all``.

    ``pip``: the wheel is installed with ``pip install --target SITEDIR`` and the minion runs
    with ``PYTHONPATH=SITEDIR``, which puts SITEDIR on its ``sys.path`` as a pip install into
    the minion's Python would; the master serves no ``_*`` folder and nothing is synced.
    """
    mode = request.param
    # The test venv must hold no copy: the synced minion would load it as well (its entry
    # point), and the pip minion would prove nothing about SITEDIR.  bin/setup-env removes one.
    copies = _installed_copies(Install(mode, []).environ(), tmp_path_factory.getbasetemp())
    if copies:
        pytest.fail(
            "the test venv holds saltext.cloudassist ({}): run bin/setup-env".format(
                "; ".join(copies)
            ),
            pytrace=False,
        )
    if mode == "synced":
        roots = tmp_path_factory.mktemp("cloudassist-file-roots")
        for folder in sorted(CHECKOUT.glob("_*")):
            if folder.is_dir():
                shutil.copytree(
                    folder, roots / folder.name, ignore=shutil.ignore_patterns("__pycache__")
                )
        assert (roots / "_modules" / "cloudassist.py").is_file(), sorted(roots.iterdir())
        return Install(mode, [roots])

    built = request.getfixturevalue("wheel")
    sitedir = tmp_path_factory.mktemp("cloudassist-site")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-compile",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(sitedir),
            str(built),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        pytest.fail(f"installing {built.name} failed:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    # The installed package is the checkout's _modules/_states/... byte for byte, so the
    # pip-mode tests run the very code under review.
    package = sitedir / "saltext" / "cloudassist"
    for folder in sorted(CHECKOUT.glob("_*")):
        if not folder.is_dir():
            continue
        for source in sorted(folder.glob("*.py")):
            installed = package / folder.name[1:] / source.name
            assert installed.is_file(), f"{source} is not in the wheel"
            assert installed.read_bytes() == source.read_bytes(), (
                f"{installed} differs from {source}"
            )
    return Install(mode, [], sitedir)


@pytest.fixture(scope="session")
def salt_master(salt_factories, sls_dir, install):
    overrides = {
        # The SLS files, then (synced mode) the copy of _modules/_states/...
        "file_roots": {"base": [str(sls_dir), *map(str, install.file_roots)]},
    }
    factory = salt_factories.salt_master_daemon(f"ca-master-{install.mode}", overrides=overrides)
    with factory.started():
        yield factory


@pytest.fixture(scope="session")
def salt_minion(salt_master, client_binary, install):
    config = {"binary": str(client_binary), "settle": SETTLE}
    if os.path.isdir("/run/systemd/system"):
        # systemd is really running on this machine: the module would then (rightly) take the
        # systemd branch and run `systemctl ... aliyun.service`, which manages nothing the test
        # controls.  The suite is about the sysvinit branch and its real init script, so say so.
        config["init_system"] = "sysvinit"
    # One minion id per mode: its cachedir (and extmods) is never shared with the other mode.
    factory = salt_master.salt_minion_daemon(
        f"ca-minion-{install.mode}", overrides={"cloudassist": config}
    )
    # The factories manager passes its own environ to every daemon (so `environ=` cannot be
    # given above), the same dict object: replace it, never change it in place.
    factory.environ = install.environ(factory.environ)
    with factory.started():
        yield factory


@pytest.fixture(scope="session")
def salt_cli(salt_master):
    return salt_master.salt_cli(timeout=120)


def sync_all(salt_cli, minion_id):
    """`salt MINION saltutil.sync_all`, run from the master as docs/install.md says."""
    ret = salt_cli.run("saltutil.sync_all", minion_tgt=minion_id)
    assert ret.returncode == 0, ret
    return ret.data


def minion_path(salt_cli, minion_id, key):
    """A folder of the running minion's config (`config.get KEY`), absolute."""
    ret = salt_cli.run("config.get", key, minion_tgt=minion_id)
    assert ret.returncode == 0 and ret.data, ret
    assert Path(ret.data).is_absolute(), ret.data
    return Path(ret.data)


def synced_folders(salt_cli, minion_id):
    """Where a sync would have put files: the minion's `extension_modules` (what the loader
    reads; salt-factories' relative `cachedir: cache` leaves it at the root_dir default,
    var/cache/salt/minion/extmods), and <cachedir>/extmods, which `saltutil.list_extmods`
    reads (so that function is no witness here: with the two apart it lists nothing)."""
    return [
        minion_path(salt_cli, minion_id, "extension_modules"),
        minion_path(salt_cli, minion_id, "cachedir") / "extmods",
    ]


def cloudassist_files(folder):
    """Every file or folder named *cloudassist* under ``folder``, at any depth."""
    return sorted(str(p) for p in folder.rglob("*cloudassist*")) if folder.exists() else []


@pytest.fixture(scope="session")
def minion(salt_minion, salt_cli, install):
    """The minion with cloudassist loadable: synced from the master, or pip-installed.

    pip: after the mode's last test, the minion still holds no synced cloudassist file (state
    runs sync the master's _* folders by themselves; in this mode the master has none).
    """
    if install.mode == "synced":
        data = sync_all(salt_cli, salt_minion.id)
        assert "modules.cloudassist" in data["modules"], data
        assert "states.cloudassist" in data["states"], data
        for name in ("args", "facts", "procedure", "run"):
            assert f"modules._cloudassist_{name}" in data["modules"], data
    else:
        folders = synced_folders(salt_cli, salt_minion.id)
    ret = salt_cli.run("sys.list_functions", "cloudassist", minion_tgt=salt_minion.id)
    assert ret.returncode == 0, ret
    assert "cloudassist.status" in ret.data, ret.data
    yield salt_minion
    if install.mode == "pip":
        for folder in folders:
            assert cloudassist_files(folder) == [], f"something synced cloudassist into {folder}"


@pytest.fixture(scope="session")
def salt_call(minion):
    """`salt-call` on the minion, in the minion's environment (pip mode: its PYTHONPATH)."""
    return minion.salt_call_cli(timeout=120, environ=minion.environ.copy())


@pytest.fixture
def run(salt_cli, minion):
    """``run("cloudassist.stop", ...)`` from the master against the minion."""

    def _run(*args, **kwargs):
        return salt_cli.run(*args, minion_tgt=minion.id, **kwargs)

    return _run


@pytest.fixture
def client(host):
    """The stand-in at its default version, stopped, before and after the test."""
    host.ensure_stopped()
    host.write_client(DEFAULT_VERSION)
    yield host
    host.ensure_stopped()
    host.write_client(DEFAULT_VERSION)
