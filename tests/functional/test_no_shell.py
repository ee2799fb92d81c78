"""No command line is ever built by a shell, and each call starts only the processes it needs.

salt-call runs with an audit hook (tests/support/audit/sitecustomize.py) that records every
process Python starts; the records made while cloudassist's own code was on the stack are
checked.  The hook sees what really ran, so a shell sneaking in anywhere fails this test.
"""

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "busybox", "cmd.exe", "powershell.exe"}

# call -> processes cloudassist starts for it on this host (sysvinit branch, client running
# or not as the previous call left it)
CALLS = [
    (("cloudassist.version",), 1),
    (("cloudassist.status",), 1),
    (("cloudassist.start",), 2),
    (("cloudassist.start",), 1),
    (("cloudassist.restart",), 3),
    (("cloudassist.stop",), 2),
    (("cloudassist.stop",), 1),
    (("state.apply", "ca_on", "test=True"), 1),
    (("state.apply", "ca_on"), 2),
    (("state.apply", "ca_off"), 2),
]


@pytest.fixture
def audited(host, audited_call):
    # Each call's -v is counted: the version cache would skip it once the binary is older
    # than 2 s, which depends on how fast the calls before ran (tests/functional/
    # test_version_cache.py tests the cache).
    host.config["version_cache"] = False
    host.install_client()
    host.install_init_script()
    host.sls_file("ca_on", "ca:\n  cloudassist.running: []\n")
    host.sls_file("ca_off", "ca:\n  cloudassist.stopped: []\n")
    return audited_call


def test_every_command_is_an_argument_list_without_a_shell(audited, host):
    for args, expected in CALLS:
        res, records = audited(*args)
        assert res.returncode == 0, (args, res)
        ours = [r for r in records if r["ours"]]
        assert records, "the audit hook recorded nothing: it is not loaded"
        for record in ours:
            assert record["event"] == "subprocess.Popen", record
            assert record["type"] in ("list", "tuple"), record
            argv = record["args"]
            assert not (os.path.basename(argv[0]) in SHELLS and "-c" in argv), record
        assert len(ours) == expected, (args, [r["args"] for r in ours])
        assert ours[0]["args"] == [str(host.binary), "-v"]


def test_the_sources_hold_no_shell_call():
    for folder in ("_modules", "_states"):
        for path in (ROOT / folder).glob("*.py"):
            text = path.read_text()
            # "cmd.run as a string: __salt__["cmd.run..."]; a comment may name cmd.run_all
            for forbidden in ("shell=True", "python_shell", "os.system(", "os.popen(", '"cmd.run'):
                assert forbidden not in text, f"{path} uses {forbidden}"
