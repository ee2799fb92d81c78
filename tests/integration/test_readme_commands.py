"""Every command of the documentation runs as written (issues 8 and 16).

The documentation is README.md and every Markdown page of the docs site (``docs/**/*.md``,
``readme.doc_files``).  The commands are extracted from those files themselves
(``tests/support/readme.py``: every line of a ```` ```bash ```` block, and inline code in the
prose whose first word is ``bin/...``, ``.ci/...``, ``salt...`` or ``python`` with arguments)
and each one falls in exactly one class:

``salt``
    ``salt '*' FUN ARGS`` (or another target): run through this session's real master with the
    exact words after the target, against the test minion instead of ``'*'``, in both install
    modes.  The function must exist, take the arguments and return data.
``salt-call``
    ``salt-call FUN ARGS`` on a minion: run by the test minion's own ``salt-call``.
``bin/cloudassist``
    run as written from the checkout (masterless ``salt-call --local`` with the checkout's
    modules), pointed at the stand-in client through ``.venv/salt-local/minion.d/
    cloudassist.conf`` in the shape the docs' ``echo`` line writes (an existing file is put
    back afterwards, a ``minion.d`` the test made is removed).
``setup``
    ``mkdir -p``/``echo > file`` into relative paths and ``python -m build``: run as written,
    in the docs' order, in a temporary copy of the checkout (they write into it), with the venv's
    ``bin`` first on the PATH: ``python`` is then the venv's, which has ``build`` (bin/setup-env,
    run first as bin/cloudassist would, installs it from setup.cfg's ``tests`` extra).
``not run``
    :data:`NOT_RUN`, an explicit list of the commands that cannot run here by nature, each with
    the reason.  What can be checked of them without running them is checked.

A command of the docs in no class fails :func:`test_every_readme_command_has_a_class`: a new
command, on any page, cannot slip through untested.  Every example is expected to succeed, on
a client in the state the test arranges for it (running before a stop or restart, stopped
before a start); an example the docs say fails would need its own expectation here.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from .ca_host import DEFAULT_VERSION, INIT_SCRIPT

TESTS = Path(__file__).resolve().parent.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from support import readme  # noqa: E402

CHECKOUT = TESTS.parent
# The venv bin/cloudassist and bin/test use: CI names its own with CLOUDASSIST_VENV, and the
# docs' commands honour it, so they run against the venv this session was set up in.
VENV = Path(os.environ.get("CLOUDASSIST_VENV") or CHECKOUT / ".venv")
MINION_D = VENV / "salt-local" / "minion.d"
# README.md and every docs page, file by file.
COMMANDS = readme.all_commands(CHECKOUT)

# Commands that cannot run on this machine by nature: (re.fullmatch pattern, reason).
NOT_RUN = [
    (
        r"bin/test( .*)?",
        "runs the whole test suite, this test included: running it here would recurse",
    ),
    (
        re.escape(
            "PYTHON=python3.10 CLOUDASSIST_SALT='salt==3006.*' "
            "CLOUDASSIST_VENV=.venv-py310-salt3006 bin/test"
        ),
        "bin/test (it would recurse) in a second virtual environment built with another Python "
        "and Salt release",
    ),
    (re.escape(".ci/run"), "the CI entry point: runs bin/test twice (it would recurse)"),
    (
        re.escape("bin/setup-env"),
        "sourced by bin/cloudassist, bin/test and bin/docs to make the venv; the setup fixture "
        "below runs it first, as they do",
    ),
    (
        r"salt-ssh HOST .*",
        "needs an sshd and a roster naming HOST: tests/integration/test_salt_ssh.py runs "
        "cloudassist.status, stop, start and a state.apply through salt-ssh against a real sshd",
    ),
    (
        re.escape("bin/docs"),
        "builds the documentation site (Sphinx, into docs/_build/html): .ci/run runs it after "
        "the lint step; here it would install the docs extra into the venv this suite runs from",
    ),
    (
        r"salt-pip install dist/saltext_cloudassist-[^ /]+\.whl",
        "salt-pip exists only in Salt's onedir packages; the wheel it names is checked to be the "
        "one `python -m build` makes, and the integration suite's pip mode installs that wheel",
    ),
    (
        re.escape("salt-pip show saltext.cloudassist"),
        "salt-pip exists only in Salt's onedir packages; test_wheel_metadata.py checks the "
        "version the wheel's metadata carries (what pip show prints) against __init__.py",
    ),
    (
        re.escape("python -m twine upload dist/*"),
        "uploads a release to a package index (docs/release.md); a test publishes nothing",
    ),
    (
        re.escape("salt-pip install psutil"),
        "salt-pip exists only in Salt's onedir packages, and installing into this suite's venv "
        "proves nothing of a Windows minion: troubleshooting's advice for a minion without "
        "Salt's ps module (test_module_remove_windows.py covers the error it answers)",
    ),
    (
        re.escape("salt-pip uninstall saltext.cloudassist"),
        "salt-pip exists only in Salt's onedir packages; test_editable.py installs the package "
        "beside a synced copy and checks that the refusal names this command",
    ),
    (
        re.escape("systemctl restart salt-minion"),
        "restarts the host's own salt-minion service; the test's minion is a salt-factories "
        "daemon and systemd is not necessarily PID 1 here",
    ),
    (
        re.escape("cp -r _modules _states _grains _beacons _runners /srv/salt/"),
        "writes the host master's /srv/salt; the integration suite's synced mode serves copies "
        "of the same folders from its own master's file_roots",
    ),
    (
        r"salt-run cloudassist\.report( .*)?",
        "runs on the master against a fleet: tests/integration/test_fleet.py runs the report "
        "against four minions and one that is down, --out=json and the default output",
    ),
    (
        re.escape("salt-run state.event tagmatch='salt/beacon/*/cloudassist/*' pretty=True"),
        "prints the master's events until interrupted: test_beacon.py reads the beacon's events "
        "from the master's bus",
    ),
    (
        re.escape("salt-run saltutil.sync_all"),
        "syncs the runner onto the master (pip mode has nothing to sync): test_fleet.py's fixture "
        "runs it and checks it synced runners.cloudassist and modules._cloudassist_report",
    ),
    (
        r"salt-run state\.orchestrate orch\.cloudassist_rolling_stop .*",
        "the orchestration needs examples/ in the master's file_roots and a fleet: test_fleet.py "
        "runs it (a failing pre-check, and a stop that fails mid-roll)",
    ),
    (
        r"salt-run state\.orchestrate orch\.cloudassist_upgrade .*",
        "installs .deb packages with dpkg on every minion: tests/realinit/test_realinit_master.py "
        "runs it through a master with three container minions (an upgrade that stops at the "
        "minion whose client does not run at the new version, and one that reaches them all)",
    ),
    (
        r"salt (?:'\*'|-G '[^']+') cloudassist\.install .*",
        "installs a .deb with dpkg, which would change this host's package database: "
        "tests/realinit/test_realinit_install.py runs cloudassist.install (test=True, install, "
        "upgrade, a newer version kept) in booted systemd and sysvinit containers; rpm hosts and "
        "Windows: tests/unit/test_module_install_tools.py, against the commands they run",
    ),
    (
        r"salt '\*' cloudassist\.remove( .*)?",
        "purges the client's package with dpkg and fails where a client runs outside it, as "
        "the stand-in of this suite does: tests/realinit/test_realinit_remove.py runs "
        "cloudassist.remove (test=True, remove, again, a stray client) in booted systemd and "
        "sysvinit containers",
    ),
    (
        r"bin/cloudassist-demo( .*)?",
        "boots a container for a minute; tests/realinit/test_demo.py runs it (and "
        "tests/unit/test_try_it.py checks its --help without root)",
    ),
    (
        r"\.venv/bin/python bench/scale\.py( .*)?",
        "the benchmark starts a salt-master and 20 salt-minions (root, a mount namespace per "
        "minion) for about five minutes; its options are checked against its --help",
    ),
    (
        r"\.venv/bin/python bench/version_cache\.py( .*)?",
        "the benchmark times hundreds of interleaved calls, and its numbers are for "
        "docs/cost.md, not a pass or fail; its options are checked against its --help",
    ),
    (
        r"\.venv/bin/python bench/poll\.py( .*)?",
        "the benchmark measures for tens of seconds with 300 idle processes started beside the "
        "suite, and its numbers are for docs/cost.md, not a pass or fail; its options are "
        "checked against its --help",
    ),
    (
        r"\.venv/bin/python bench/percall\.py( .*)?",
        "the benchmark boots a systemd-nspawn container from the realinit suite's cached root "
        "for minutes; its options are checked against its --help",
    ),
]

# What tells a call that did not run as a call: Salt's own usage errors.
CALL_ERRORS = re.compile(
    r"is not available|Passed invalid arguments|not valid: |unexpected keyword argument|"
    r"Usage: |Traceback \(most recent call last\)|Minion did not return|No minions matched",
)
TARGET_OPTIONS = {
    "-G",
    "--grain",
    "-E",
    "--pcre",
    "-L",
    "--list",
    "-C",
    "--compound",
    "-N",
    "--nodegroup",
    "-I",
    "--pillar",
    "-P",
    "--grain-pcre",
    "-R",
    "--range",
    "-S",
    "--ipcidr",
    "-b",
    "--batch",
    "--batch-size",
}
ACTIONS = {
    "cloudassist.stop": "running",
    "cloudassist.start": "stopped",
    "cloudassist.restart": "running",
}


def _not_run_reason(command):
    for pattern, reason in NOT_RUN:
        if re.fullmatch(pattern, command.text):
            return reason
    return None


def _relative(path):
    return not os.path.isabs(path) and ".." not in Path(path).parts


def _is_setup(command):
    argv = command.argv
    if command.env:
        return False
    if argv[:1] == ("mkdir",):
        paths = [w for w in argv[1:] if w != "-p"]
        return bool(paths) and all(not w.startswith("-") and _relative(w) for w in paths)
    if argv[:1] == ("echo",):
        return argv.count(">") == 1 and argv[-2] == ">" and _relative(argv[-1])
    return argv == ("python", "-m", "build")


def classify(command):
    """The class of a command of the docs, or None."""
    if _not_run_reason(command):
        return "not run"
    if command.env:
        return None  # an environment-prefixed command needs an explicit NOT_RUN entry
    if command.program == "salt" and len(command.argv) >= 3:
        return "salt"
    if (
        command.program == "salt-call"
        and len(command.argv) >= 2
        and not any(w.startswith("-") for w in command.argv[1:])
    ):
        return "salt-call"
    if command.program == "bin/cloudassist":
        return "bin/cloudassist"
    if _is_setup(command):
        return "setup"
    return None


def _unique(kind):
    """The commands of one class, each text once (in the docs' order), with all its places."""
    seen = {}
    for command in COMMANDS:
        if classify(command) == kind:
            seen.setdefault(command.text, []).append(command)
    return [
        pytest.param(found[0], id=f"{found[0].file}:{found[0].line}:{text}")
        for text, found in seen.items()
    ]


def _where(command):
    """Every place the command is written (file:line, ...), then the command."""
    places = [f"{c.file}:{c.line}" for c in COMMANDS if c.text == command.text]
    return "{}: {}".format(", ".join(places or [str(command)]), command.text)


# --- the extraction and the classes --------------------------------------------------------


def test_comment_and_quoting():
    assert readme.split_comment("echo 'a # b' \"#c\" x#y # note") == (
        "echo 'a # b' \"#c\" x#y",
        "note",
    )
    assert readme.split_comment("salt '*' cloudassist.status") == (
        "salt '*' cloudassist.status",
        "",
    )


def test_every_readme_command_has_a_class():
    unclassified = [str(c) for c in COMMANDS if classify(c) is None]
    assert not unclassified, (
        "commands of the docs in no class (run them in this test, or add them to NOT_RUN with "
        "the reason they cannot run here):\n" + "\n".join(unclassified)
    )
    kinds = {classify(c) for c in COMMANDS}
    # The extraction still finds what the docs have always had.
    assert kinds >= {"salt", "salt-call", "bin/cloudassist", "setup", "not run"}, kinds


# --- not run: checked as far as possible ---------------------------------------------------


@pytest.mark.parametrize("command", _unique("not run"))
def test_not_run(command):
    words = command.words
    if words[0].startswith(("bin/", ".ci/")):
        assert os.access(CHECKOUT / words[0], os.X_OK), f"{_where(command)}: not an executable"
    if words[0] == ".venv/bin/python" and len(words) > 1:
        script = CHECKOUT / words[1]
        assert script.is_file(), f"{_where(command)}: {script} does not exist"
        helped = subprocess.run(
            [str(VENV / "bin" / "python"), str(script), "--help"],
            cwd=CHECKOUT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert helped.returncode == 0, helped
        for option in (w for w in words[2:] if w.startswith("--")):
            assert option in helped.stdout, f"{_where(command)}: {option} is not in its --help"
    pytest.skip(f"not run: {_not_run_reason(command)}")


# --- setup commands, in a copy of the checkout ---------------------------------------------


def _run_to_files(args, **kwargs):
    """subprocess.run with output to files: a daemon started below keeps a pipe open."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, **kwargs)
        out.seek(0)
        err.seek(0)
        proc.stdout = out.read().decode(errors="replace")
        proc.stderr = err.read().decode(errors="replace")
    return proc


def _environ(**extra):
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environ.update(extra)
    return environ


@pytest.fixture(scope="module")
def setup_runs(tmp_path_factory):
    """Every setup command, in the docs' order, run as written in a copy of the checkout."""
    copy = tmp_path_factory.mktemp("readme-setup") / "checkout"
    shutil.copytree(
        CHECKOUT,
        copy,
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
    dist_before = (CHECKOUT / "dist").exists()
    # The docs' reader has run bin/cloudassist (the README's first command) by now, which makes the
    # venv current through bin/setup-env (its `tests` extra holds `build`): do the same.
    made = _run_to_files(
        [str(CHECKOUT / "bin" / "setup-env")], cwd=CHECKOUT, env=_environ(), timeout=900
    )
    assert made.returncode == 0, f"bin/setup-env failed:\n{made.stderr}"
    environ = _environ(PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    runs = {}
    for command in COMMANDS:
        if classify(command) == "setup" and command.text not in runs:
            runs[command.text] = _run_to_files(
                ["bash", "-c", command.text], cwd=copy, env=environ, timeout=900
            )
    yield copy, runs
    assert (CHECKOUT / "dist").exists() == dist_before, "a setup command wrote into the checkout"


def _config_keys():
    """The configuration keys the execution module documents (its docstring's
    "Configuration" list: one unindented word a key)."""
    tree = ast.parse((CHECKOUT / "_modules" / "cloudassist.py").read_text())
    text = ast.get_docstring(tree).split("\nConfiguration", 1)[1]
    keys = set(re.findall(r"^(\w+)$", text, re.M))
    assert keys >= {"binary", "init_system", "timeout"}, keys
    return keys


def _echoed_config(command):
    """The YAML an ``echo '...' > .../cloudassist.conf`` line of the docs writes."""
    return yaml.safe_load(" ".join(command.argv[1:-2]))


@pytest.mark.parametrize("command", _unique("setup"))
def test_setup(command, setup_runs):
    copy, runs = setup_runs
    proc = runs[command.text]
    assert proc.returncode == 0, f"{_where(command)} exited {proc.returncode}:\n{proc.stderr}"
    argv = command.argv
    if argv[0] == "mkdir":
        for path in argv[1:]:
            if path != "-p":
                assert (copy / path).is_dir(), path
    elif argv[0] == "echo":
        target = copy / argv[-1]
        assert target.is_file(), target
        data = yaml.safe_load(target.read_text())
        if target.parent.name == "minion.d":
            assert target.suffix == ".conf", f"{_where(command)}: minion.d reads only *.conf"
            assert isinstance(data, dict) and isinstance(data.get("cloudassist"), dict), data
            unknown = set(data["cloudassist"]) - _config_keys()
            assert not unknown, f"{_where(command)}: keys cloudassist does not take: {unknown}"
    else:  # python -m build
        built = sorted(p.name for p in (copy / "dist").iterdir())
        assert any(n.endswith(".whl") for n in built), built
        assert any(n.endswith(".tar.gz") for n in built), built
        # Every dist/... file the docs name (the comment, the salt-pip line) is what it made.
        named = set(re.findall(r"\bdist/(\S+?\.(?:whl|tar\.gz))", command.comment))
        for other in COMMANDS:
            named.update(re.findall(r"\bdist/(\S+?\.(?:whl|tar\.gz))", other.text))
        # A name may be a shell glob (`dist/saltext_cloudassist-*.whl`: no version to update).
        missing = {name for name in named if not fnmatch.filter(built, name)}
        assert not missing, f"the docs name {sorted(missing)}; `python -m build` made {built}"


# --- salt and salt-call, through the session's master and minion ---------------------------


def _salt_args(command):
    """The words after ``salt`` without the target (and its targeting option)."""
    words = list(command.argv[1:])
    out, target_seen = [], False
    while words:
        word = words.pop(0)
        if word in TARGET_OPTIONS:
            words.pop(0)  # its value
            if word in ("-b", "--batch", "--batch-size"):
                continue  # a batch of one minion is the same call
            target_seen = True
            continue
        if word.startswith("-"):
            out.append(word)
            continue
        if not target_seen:
            target_seen = True  # the glob target, e.g. '*'
            continue
        out.append(word)
        out.extend(words)
        break
    return out


def _function(args):
    return next(w for w in args if not w.startswith("-"))


# The functions that read or switch the client's self-update (issue 25): the ``frozen`` each
# leaves (None: as it was).
UPDATES = {
    "cloudassist.updates": None,
    "cloudassist.freeze_updates": True,
    "cloudassist.allow_updates": False,
}
UPDATE_MARKERS = ("disable_update", "disable_bootstrap_update")


def _arrange(client, function, args):
    """The client as the function needs it to act: running before a stop, stopped before a
    start; the `client` fixture leaves it stopped."""
    if ACTIONS.get(function) == "running":
        client.ensure_running()
    if function in ("state.apply", "state.sls", "state.highstate"):
        want = _example_state(args)
        if want == "stopped":
            client.ensure_running()
    return client.pids()


def _example_state(args):
    """'running' or 'stopped': what the example SLS a state.apply names declares."""
    names = [a for a in args[1:] if "=" not in a and not a.startswith("-")]
    declared = set()
    for name in names:
        text = (CHECKOUT / "examples" / (name.replace(".", "/") + ".sls")).read_text()
        for body in (yaml.safe_load(text) or {}).values():
            for key in body if isinstance(body, (dict, list)) else [body]:
                key = next(iter(key)) if isinstance(key, dict) else key
                if isinstance(key, str) and key.startswith("cloudassist."):
                    declared.add(key.split(".", 1)[1])
    if declared <= {"running"} and declared:
        return "running"
    if declared and declared <= {"stopped", "dead"}:
        return "stopped"
    return None


def _kwargs(args):
    out = {}
    for word in args:
        if "=" in word and not word.startswith("-"):
            key, _, value = word.partition("=")
            try:
                out[key] = yaml.safe_load(value)
            except yaml.YAMLError:
                out[key] = value
    return out


def _markers(client):
    """The update markers present in the stand-in's cross-version config folder (the folder
    above its binary's, as the client reads it): read from the disk, not from the module."""
    folder = client.binary.parent.parent / "config"
    return sorted(name for name in UPDATE_MARKERS if os.path.lexists(folder / name))


def _check_host(client, function, args, before, elapsed, where):
    """What the host shows after the call, read from /proc (and the disk, for the update
    markers)."""
    kwargs = _kwargs(args)
    after = client.pids()
    if kwargs.get("test") is True:
        assert after == before, f"{where}: test=True changed the host: {before} -> {after}"
        return
    if function == "cloudassist.freeze_updates":
        assert _markers(client) == sorted(UPDATE_MARKERS), where
    elif function == "cloudassist.allow_updates":
        assert _markers(client) == [], where
    if function == "cloudassist.stop":
        assert after == [], f"{where}: the client still runs: {after}"
    elif function in ("cloudassist.start", "cloudassist.restart"):
        assert len(after) == 1, f"{where}: {after}"
        if function == "cloudassist.restart":
            assert after != before, f"{where}: the same process {after}"
    elif function.startswith("state.") and _example_state(args) == "running":
        assert len(after) == 1, f"{where}: the state left the client at {after}"
    elif function.startswith("state.") and _example_state(args) == "stopped":
        assert after == [], f"{where}: the state left the client at {after}"
    pillar = kwargs.get("pillar") if isinstance(kwargs.get("pillar"), dict) else {}
    settle = kwargs.get("settle") or (pillar.get("cloudassist") or {}).get("settle")
    if settle and before != after:
        assert elapsed >= float(settle), f"{where}: settle={settle} not honoured ({elapsed:.1f}s)"


def check_salt_return(ret, command, function, args, salt_cli=None, minion_id=None, salt_call=None):
    where = _where(command)
    assert ret.returncode == 0, f"{where}: exit {ret.returncode}\n{ret.stdout}\n{ret.stderr}"
    data = ret.data
    assert data is not None, f"{where}: no data: {ret.stdout!r} {ret.stderr!r}"
    assert not CALL_ERRORS.search(str(data) if isinstance(data, str) else ""), f"{where}: {data}"
    if function == "cloudassist.version":
        try:
            literal = ast.literal_eval(command.comment)
        except (ValueError, SyntaxError):
            literal = None
        assert data == (literal if isinstance(literal, str) else DEFAULT_VERSION), where
    elif function == "cloudassist.status":
        assert isinstance(data, dict) and data["installed"] is True, (where, data)
    elif function in ACTIONS:
        assert isinstance(data, dict), (where, data)
        for key in ("running", "changed", "command", "pids", "comment"):
            assert key in data, (where, key, data)
    elif function == "sys.doc":
        assert isinstance(data, dict) and data, (where, data)
        module = args[1] if len(args) > 1 else ""
        if salt_cli is not None:
            listed = salt_cli.run("sys.list_functions", module, minion_tgt=minion_id).data
        else:
            listed = salt_call.run("sys.list_functions", module).data
        assert set(listed) <= set(data), (where, listed, sorted(data))
        undocumented = [f for f in listed if "CLI Example" not in (data[f] or "")]
        assert not undocumented, f"{where}: no CLI example: {undocumented}"
    elif function == "saltutil.sync_all":
        assert isinstance(data, dict), (where, data)
    elif function == "cloudassist.enabled":
        assert isinstance(data, bool), (where, data)
    elif function in UPDATES:
        assert isinstance(data, dict) and isinstance(data["frozen"], bool), (where, data)
        if UPDATES[function] is not None and _kwargs(args).get("test") is not True:
            assert data["frozen"] is UPDATES[function], (where, data)
    elif function in ("cloudassist.enable", "cloudassist.disable"):
        assert isinstance(data, dict) and isinstance(data["enabled"], bool), (where, data)
        if _kwargs(args).get("test") is not True:
            assert data["enabled"] is (function == "cloudassist.enable"), (where, data)


@pytest.mark.parametrize("command", _unique("salt"))
def test_salt(command, salt_cli, minion, client):
    args = _salt_args(command)
    function = _function(args)
    before = _arrange(client, function, args)
    started = time.monotonic()
    ret = salt_cli.run(*args, minion_tgt=minion.id)
    elapsed = time.monotonic() - started
    check_salt_return(ret, command, function, args, salt_cli, minion.id)
    _check_host(client, function, args, before, elapsed, _where(command))


@pytest.mark.parametrize("command", _unique("salt-call"))
def test_salt_call(command, salt_call, client):
    args = list(command.argv[1:])
    function = _function(args)
    before = _arrange(client, function, args)
    started = time.monotonic()
    ret = salt_call.run(*args)
    elapsed = time.monotonic() - started
    check_salt_return(ret, command, function, args, salt_call=salt_call)
    _check_host(client, function, args, before, elapsed, _where(command))


def test_salt_check_catches_pillar_on_an_execution_function(salt_cli, minion, client):
    """The check above fails the README example this test was written for (issue 8)."""
    bad = readme._command(
        "salt '*' cloudassist.status pillar='{\"cloudassist\": {\"settle\": 5}}'", "", 0, "test"
    )
    args = _salt_args(bad)
    with pytest.raises(AssertionError):
        check_salt_return(
            salt_cli.run(*args, minion_tgt=minion.id), bad, "cloudassist.status", args
        )


# --- bin/cloudassist, from the checkout ----------------------------------------------------


@pytest.fixture
def local_config(client_binary):
    """``.venv/salt-local/minion.d/cloudassist.conf`` as the docs' echo line writes it, with
    the stand-in's path for the docs'; what was there before is put back."""
    echoes = [
        c
        for c in COMMANDS
        if classify(c) == "setup"
        and c.argv[0] == "echo"
        and c.argv[-1] == ".venv/salt-local/minion.d/cloudassist.conf"
    ]
    assert echoes, "the docs no longer show how to write .venv/salt-local/minion.d/cloudassist.conf"
    config = _echoed_config(echoes[0])
    config["cloudassist"]["binary"] = str(client_binary)
    if os.path.isdir("/run/systemd/system"):
        # systemd runs here: the module would (rightly) take the systemd branch, which manages
        # nothing the test controls; the stand-in is behind the sysvinit script (conftest).
        config["cloudassist"]["init_system"] = "sysvinit"
    conf = MINION_D / "cloudassist.conf"
    existed = MINION_D.is_dir()
    saved = conf.read_bytes() if conf.is_file() else None
    minion_file = MINION_D.parent / "minion"
    saved_minion = minion_file.read_bytes() if minion_file.is_file() else None
    MINION_D.mkdir(parents=True, exist_ok=True)
    conf.write_text(yaml.safe_dump(config, default_flow_style=True))
    try:
        yield config
    finally:
        if saved is not None:
            conf.write_bytes(saved)
        else:
            conf.unlink(missing_ok=True)
        if not existed:
            shutil.rmtree(MINION_D, ignore_errors=True)
        if saved_minion is not None:
            minion_file.write_bytes(saved_minion)


def run_bin_cloudassist(command):
    started = time.monotonic()
    proc = _run_to_files(["bash", "-c", command.text], cwd=CHECKOUT, env=_environ(), timeout=300)
    return proc, time.monotonic() - started


def check_bin_cloudassist(proc, command, function, args):
    where = _where(command)
    said = f"{where}: exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert proc.returncode == 0, said
    assert not CALL_ERRORS.search(proc.stdout + proc.stderr), said
    assert proc.stdout.startswith("local:"), said
    if function == "cloudassist.version":
        assert DEFAULT_VERSION in proc.stdout, said
    elif function == "cloudassist.status":
        assert re.search(r"^\s+installed:\s*\n?\s*True", proc.stdout, re.M), said
    elif function.startswith("state."):
        assert re.search(r"^Failed:\s+0$", proc.stdout, re.M), said
        assert re.search(r"^Succeeded:\s+[1-9]", proc.stdout, re.M), said
        if _kwargs(args).get("test") is True:
            assert str(INIT_SCRIPT) in proc.stdout, f"{said}\n(test=True must name the command)"


@pytest.mark.parametrize("command", _unique("bin/cloudassist"))
def test_bin_cloudassist(command, client, local_config):
    args = list(command.argv[1:]) or ["cloudassist.status"]  # bin/cloudassist's default
    function = _function(args)
    before = _arrange(client, function, args)
    proc, elapsed = run_bin_cloudassist(command)
    check_bin_cloudassist(proc, command, function, args)
    _check_host(client, function, args, before, elapsed, _where(command))


def test_bin_cloudassist_check_catches_pillar_on_an_execution_function(client, local_config):
    """The check above fails the README example this test was written for (issue 8)."""
    bad = readme._command(
        'bin/cloudassist cloudassist.status pillar=\'{"cloudassist": {"settle": 5}}\'',
        "",
        0,
        "test",
    )
    proc, _ = run_bin_cloudassist(bad)
    with pytest.raises(AssertionError):
        check_bin_cloudassist(proc, bad, "cloudassist.status", list(bad.argv[1:]))
