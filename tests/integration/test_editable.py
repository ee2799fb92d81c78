"""``pip install -e .``, the way every contributor works: Salt's loader must see the execution
module, the states, the grain, the beacon and the runner from the editable install, and a
minion that also has a synced copy must refuse with a reason naming both.

The install goes into a throwaway virtual environment that reaches this venv's packages (salt,
setuptools) through a ``.pth`` file, from a copy of the checkout (links kept), so that nothing
here sees it.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

LOADERS = """
import json, sys
import salt.config, salt.loader
opts = salt.config.minion_config(sys.argv[1])
opts["file_client"] = "local"
utils = salt.loader.utils(opts)
funcs = salt.loader.minion_mods(opts, utils=utils)
states = salt.loader.states(opts, funcs, utils, salt.loader.serializers(opts))
grains = salt.loader.grain_funcs(opts)
beacons = salt.loader.beacons(opts, funcs)
master = salt.config.master_config(sys.argv[2])
runners = salt.loader.runner(master, utils=salt.loader.utils(master))
def where(loader, key):
    return loader[key].__globals__["__file__"] if key in loader else loader.missing_fun_string(key)
print(json.dumps({
    "module": where(funcs, "cloudassist.status"),
    "state": where(states, "cloudassist.running"),
    "grain": where(grains, "cloudassist.cloudassist"),
    "beacon": where(beacons, "cloudassist.beacon"),
    "runner": where(runners, "cloudassist.report"),
}))
"""


def run(argv, **kwargs):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)
    assert proc.returncode == 0, (argv, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="module")
def editable(tmp_path_factory):
    base = tmp_path_factory.mktemp("editable")
    checkout = base / "checkout"
    files = run(["git", "ls-files", "-z"], cwd=ROOT).stdout.split("\0")
    for name in filter(None, files):
        source, target = ROOT / name, checkout / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            shutil.copy2(source, target)
    venv = base / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    ).stdout.strip()
    # salt, setuptools and pip of the venv the tests run in
    pathlib.Path(purelib, "outer_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-e",
            str(checkout),
        ]
    )
    for kind in ("minion", "master"):
        conf = base / "conf" / kind
        conf.mkdir(parents=True)
        root = base / "root" / kind
        (conf / kind).write_text(
            json.dumps(
                {
                    "root_dir": str(root),
                    "cachedir": str(root / "cache"),
                    "pki_dir": str(root / "pki"),
                    "sock_dir": str(root / "sock"),
                    "log_file": str(root / "log"),
                    "file_client": "local",
                    "extension_modules": str(root / "extmods"),
                    "user": "root",
                }
            )
        )
    return {"python": python, "checkout": checkout, "base": base}


def loaded_from(editable):
    proc = run(
        [
            str(editable["python"]),
            "-c",
            LOADERS,
            str(editable["base"] / "conf" / "minion" / "minion"),
            str(editable["base"] / "conf" / "master" / "master"),
        ],
        cwd=editable["base"],
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def salt_call(editable, *args):
    return run(
        [
            str(editable["python"]),
            "-c",
            "import salt.scripts; salt.scripts.salt_call()",
            "--local",
            "--config-dir",
            str(editable["base"] / "conf" / "minion"),
            "--out=json",
            *args,
        ],
        cwd=editable["base"],
    )


def test_the_editable_install_is_seen_by_every_loader(editable):
    package = editable["checkout"] / "src" / "saltext" / "cloudassist"
    found = loaded_from(editable)
    for kind, folder in (
        ("module", "modules"),
        ("state", "states"),
        ("grain", "grains"),
        ("beacon", "beacons"),
        ("runner", "runners"),
    ):
        assert found[kind] == str(package / folder / "cloudassist.py"), found
    modules = json.loads(salt_call(editable, "sys.list_modules", "cloud*").stdout)["local"]
    assert "cloudassist" in modules, modules
    states = json.loads(salt_call(editable, "sys.list_state_modules", "cloud*").stdout)["local"]
    assert "cloudassist" in states, states


def test_a_synced_copy_beside_the_editable_install_is_refused_by_name(editable):
    extmods = editable["base"] / "root" / "minion" / "extmods"
    try:
        for kind in ("modules", "states"):
            shutil.copytree(
                editable["checkout"] / ("_" + kind),
                extmods / kind,
                ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
            )
        found = loaded_from(editable)
        why = found["module"]
        assert "two copies on this minion" in why, found
        assert str(editable["checkout"] / "src" / "saltext" / "cloudassist") in why, why
        assert str(extmods) in why, why
        assert "salt-pip uninstall saltext.cloudassist" in why and "saltutil.sync_all" in why, why
        assert "two copies on this minion" in found["state"], found
    finally:
        shutil.rmtree(extmods, ignore_errors=True)
    assert loaded_from(editable)["module"].endswith("modules/cloudassist.py")
