"""Loaded into salt-call by the no-shell test (PYTHONPATH): records every process that
Python code starts, and whether cloudassist's own files were on the stack when it did."""

import json
import os
import sys
import traceback

LOG = os.environ.get("CLOUDASSIST_AUDIT_LOG")
OURS = tuple(
    os.path.join(os.environ.get("CLOUDASSIST_AUDIT_ROOT", "/nonexistent"), d) + os.sep
    for d in ("_modules", "_states")
)
EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.startfile"}


def _hook(event, args):
    if event not in EVENTS or not LOG:
        return
    ours = any(frame.filename.startswith(OURS) for frame in traceback.extract_stack())
    record = {"event": event, "ours": ours}
    if event == "subprocess.Popen":
        record["type"] = type(args[1]).__name__
        record["args"] = (
            [str(a) for a in args[1]] if isinstance(args[1], (list, tuple)) else str(args[1])
        )
    else:
        record["args"] = [str(a) for a in args]
    with open(LOG, "a") as handle:
        handle.write(json.dumps(record) + "\n")


if LOG:
    sys.addaudithook(_hook)
