#!/usr/bin/python3
"""An emulation of upstart's ``initctl`` for hosts where upstart cannot be installed.

Used by the real-init tests: copied into a container and mounted over ``/sbin/initctl`` in a
mount namespace whose ``/sbin/init`` carries upstart's marker.  It behaves like upstart 1.12's
initctl for the commands the Cloud Assistant procedure needs, and really runs the job:

    initctl --version          initctl (upstart 1.12.1) ...
    initctl version            init (upstart 1.12.1)
    initctl start JOB          JOB start/running, process PID      (or an upstart error)
    initctl stop JOB           JOB stop/waiting
    initctl restart JOB        JOB start/running, process PID
    initctl status JOB         JOB start/running, process PID  |  JOB stop/waiting
    initctl list               one status line per job

Invoked as ``start``/``stop``/``restart``/``status`` (upstart's symlinks) it acts as that
command.  Jobs are read from ``/etc/init/JOB.conf`` (its ``exec`` line); the process is
daemonized in its own session and tracked in ``$UPSTART_EMU_STATE/JOB.pid`` (default
``/run/upstart-emu``).  Every invocation is appended to ``calls.log`` in that directory, so a
test can show exactly what was run.

Only the Python standard library is used; the interpreter is the target host's python3.
"""

import os
import shlex
import signal
import subprocess
import sys
import time

VERSION = "1.12.1"
CONF_DIR = os.environ.get("UPSTART_EMU_CONF", "/etc/init")
STATE_DIR = os.environ.get("UPSTART_EMU_STATE", "/run/upstart-emu")
KILL_TIMEOUT = 5.0  # upstart's default "kill timeout"


def fail(message, code=1):
    sys.stderr.write(f"initctl: {message}\n")
    sys.exit(code)


def job_exec(job):
    path = os.path.join(CONF_DIR, job + ".conf")
    if not os.path.isfile(path):
        fail(f"Unknown job: {job}")
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("exec "):
                return shlex.split(line[5:])
    fail(f"Unknown job: {job}")


def pid_file(job):
    return os.path.join(STATE_DIR, job + ".pid")


def alive(pid):
    try:
        with open(f"/proc/{pid:d}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def current_pid(job):
    try:
        with open(pid_file(job)) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def status_line(job):
    pid = current_pid(job)
    if pid:
        return f"{job} start/running, process {pid:d}"
    return f"{job} stop/waiting"


def do_start(job):
    argv = job_exec(job)
    if current_pid(job):
        fail(f"Job is already running: {job}")
    os.makedirs(STATE_DIR, exist_ok=True)
    devnull = os.open(os.devnull, os.O_RDWR)
    proc = subprocess.Popen(
        argv,
        stdin=devnull,
        stdout=devnull,
        stderr=devnull,
        start_new_session=True,
        close_fds=True,
        cwd="/",
    )
    with open(pid_file(job), "w") as f:
        f.write(f"{proc.pid:d}\n")
    time.sleep(0.2)
    if proc.poll() is not None:
        os.unlink(pid_file(job))
        fail("Job failed to start")
    print(status_line(job))


def do_stop(job):
    job_exec(job)
    pid = current_pid(job)
    if not pid:
        fail("Unknown instance: ")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_TIMEOUT
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # it ended between the check and the kill
            pass
        while alive(pid):
            time.sleep(0.05)
    try:
        os.unlink(pid_file(job))
    except OSError:
        pass
    print(status_line(job))


def do_status(job):
    job_exec(job)
    print(status_line(job))


def do_restart(job):
    job_exec(job)
    if not current_pid(job):
        fail("Unknown instance: ")
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            do_stop(job)
        finally:
            sys.stdout = stdout
    do_start(job)


def do_list():
    try:
        names = sorted(n[:-5] for n in os.listdir(CONF_DIR) if n.endswith(".conf"))
    except OSError:
        names = []
    for job in names:
        print(status_line(job))


def log_call(argv):
    try:
        os.makedirs(STATE_DIR, exist_ok=True)
        with open(os.path.join(STATE_DIR, "calls.log"), "a") as f:
            f.write(" ".join(shlex.quote(a) for a in argv) + "\n")
    except OSError:
        pass


def main(argv):
    log_call(argv)
    prog = os.path.basename(argv[0])
    args = argv[1:]
    if prog in ("start", "stop", "restart", "status"):
        args = [prog] + args
    if not args:
        fail("missing command\nTry `initctl --help' for more information.")
    if args[0] == "--version":
        print(f"initctl (upstart {VERSION})")
        print("Copyright (C) 2006-2014 Canonical Ltd., 2011 Scott James Remnant")
        print()
        print(
            "This is free software; see the source for copying conditions.  There is NO warranty;"
            " not even for MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE."
        )
        return 0
    if args[0] == "version":
        print(f"init (upstart {VERSION})")
        return 0
    if args[0] == "list":
        do_list()
        return 0
    actions = {"start": do_start, "stop": do_stop, "status": do_status, "restart": do_restart}
    if args[0] not in actions:
        fail(f"invalid command: {args[0]}\nTry `initctl --help' for more information.")
    if len(args) < 2:
        fail("missing job name\nTry `initctl --help' for more information.")
    actions[args[0]](args[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
