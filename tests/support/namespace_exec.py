"""Bind files over paths, then exec a command: run under ``unshare --mount`` so only that
process tree sees the bind mounts.

    unshare --mount --propagation private -- python namespace_exec.py \
        --bind SRC DST [--bind SRC DST ...] -- COMMAND ARGS...
"""

import os
import subprocess
import sys


def main(argv):
    binds = []
    while argv and argv[0] == "--bind":
        binds.append((argv[1], argv[2]))
        argv = argv[3:]
    if not argv or argv[0] != "--":
        sys.exit("usage: namespace_exec.py [--bind SRC DST]... -- COMMAND...")
    command = argv[1:]
    for src, dst in binds:
        subprocess.run(["mount", "--bind", src, dst], check=True)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
