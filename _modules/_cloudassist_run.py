"""The one place cloudassist starts a program: an argument list, never a shell, always a timeout.

Output goes to temporary files, not pipes, so an init script whose daemon keeps the
inherited stdout open cannot make the call wait for the daemon.  On timeout the whole
process group is killed, so a hung ``aliyun-service -v`` leaves nothing behind.
"""

import os
import select
import shlex
import signal
import subprocess
import tempfile

import _cloudassist_errors as errors
from _cloudassist_facts import search_path
from _cloudassist_records import CommandResult

OUTPUT_LIMIT = 64 * 1024


def command_line(argv):
    return shlex.join(argv)


# Kept, not Salt's ``cmd.run_all``: measured, ``cmd.run_all`` with a 3 s timeout returned only
# after 21 s when the command left a backgrounded child behind (as an init script that starts
# the daemon does).  Salt reads the output through pipes (``communicate`` in a thread) and at
# the timeout kills only the direct child, so a grandchild that holds the pipes holds the
# call.  Here the output goes to temporary files, the child is waited for through a pidfd,
# and at the timeout its whole process group is killed.
def run(argv, timeout):
    """Run ``argv`` and return a ``CommandResult``.

    Raises ``TypeError`` for anything but a non-empty list/tuple of strings,
    ``errors.CannotRun`` when the program cannot be started and ``errors.TimedOut`` when it
    does not end within ``timeout`` seconds.
    """
    if (
        not isinstance(argv, (list, tuple))
        or not argv
        or not all(isinstance(arg, str) for arg in argv)
    ):
        raise TypeError(f"cloudassist runs programs from a list of strings only, not {argv!r}")
    command = command_line(argv)
    env = dict(os.environ, LC_ALL="C", LANG="C", PATH=search_path())
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                shell=False,
                close_fds=True,
                start_new_session=os.name == "posix",
            )
        except FileNotFoundError:
            raise errors.CannotRun(
                f"could not run `{command}`: {argv[0]} does not exist", command=command
            ) from None
        except PermissionError:
            raise errors.CannotRun(
                f"could not run `{command}`: {argv[0]} is present but not executable "
                f"({mode_text(argv[0])})",
                command=command,
            ) from None
        except OSError as exc:
            raise errors.CannotRun(f"could not run `{command}`: {exc}", command=command) from exc
        try:
            retcode = _wait(proc, timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise errors.TimedOut(
                f"`{command}` did not finish within {timeout} seconds and was killed. "
                "Raise the limit with timeout=SECONDS or the config key cloudassist:timeout "
                "if the host is just slow",
                command=command,
                timeout=timeout,
            ) from None
        return CommandResult(command, retcode, _text(out), _text(err))


def mode_text(path):
    """``mode 644`` of ``path``, or why it cannot be read."""
    try:
        return f"mode {os.stat(path).st_mode & 0o7777:o}"
    except OSError as exc:
        return exc.strerror or str(exc)


def _wait(proc, timeout):
    """``proc.wait(timeout)`` without its sleeping poll: Popen checks a child with a timeout
    at growing intervals, which adds up to as much again as a short command takes.  A pidfd
    (Linux 5.3+) wakes us the moment the child ends."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return proc.wait(timeout=timeout)
    try:
        if not select.select([fd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(fd)
    return proc.wait()


def _text(handle):
    handle.seek(0)
    return handle.read(OUTPUT_LIMIT).decode(errors="replace")


def _kill(proc):
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except OSError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
