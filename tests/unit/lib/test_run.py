"""``_modules/_cloudassist_run.py``: the command runner, on real processes of this machine."""

import sys
import time

import pytest

import _cloudassist_errors as errors
import standin
from _cloudassist_facts import which
from _cloudassist_records import CommandResult
from _cloudassist_run import run

from .helpers import named, wait_until


def test_run_returns_code_and_output():
    res = run(
        [
            sys.executable,
            "-c",
            "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)",
        ],
        10,
    )
    assert res == CommandResult(res.command, 3, "out\n", "err\n")
    assert res.output == "out\nerr"
    assert res.command.endswith(
        "-c 'import sys; print('\"'\"'out'\"'\"'); "
        "print('\"'\"'err'\"'\"', file=sys.stderr); sys.exit(3)'"
    )


@pytest.mark.parametrize("argv", ["echo hi", b"echo", [], ["echo", 1], ("echo", None), None])
def test_run_takes_an_argument_list_only(argv):
    with pytest.raises(TypeError, match="list of strings only"):
        run(argv, 5)


def test_a_hung_command_is_killed_with_its_children(tmp_path):
    path = standin.install_client(tmp_path / "aliyun-service", hang_on_version=True)
    started = time.monotonic()
    with pytest.raises(
        errors.TimedOut,
        match=r"did not finish within 1 seconds and was killed.*cloudassist:timeout",
    ) as raised:
        run([str(path), "-v"], 1)
    assert (raised.value.command, raised.value.timeout) == (f"{path} -v", 1)
    assert time.monotonic() - started < 5
    assert wait_until(
        lambda: (
            not named("aliyun-service")
            or all(
                str(path) not in open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace")
                for p in named("aliyun-service")
            )
        )
    )


def test_a_daemon_holding_stdout_does_not_make_run_wait(tmp_path):
    script = tmp_path / "start"
    script.write_text("#!/bin/sh\nsleep 4 &\necho started\n")
    script.chmod(0o755)
    started = time.monotonic()
    res = run([str(script)], 20)
    assert res.retcode == 0 and res.stdout == "started\n"
    assert time.monotonic() - started < 3


def test_missing_and_not_executable_programs(tmp_path):
    with pytest.raises(errors.CannotRun, match="does not exist") as raised:
        run([str(tmp_path / "nothing"), "-v"], 5)
    assert raised.value.command == f"{tmp_path / 'nothing'} -v"
    plain = tmp_path / "plain"
    plain.write_text("#!/bin/sh\n")
    with pytest.raises(errors.CannotRun, match=r"is present but not executable \(mode 644\)"):
        run([str(plain)], 5)
    assert which(str(plain)) is None
    assert which("sh") and which("/bin/sh") == "/bin/sh"
