"""The cloudassist library: everything the Salt modules of cloudassist share.

One package, imported by each entry file (execution module, states, grain, beacon, runner)
from its own install: ``saltext.cloudassist.utils.cloudassist_lib`` when pip installed it,
``cloudassist_lib`` from the minion's ``extmods/utils`` when a master synced it.  Inside, the
modules import each other relatively.  Kept empty of imports: a job imports only the modules
its entry file names.
"""

import sys


def forget(keep=()):
    """Drop this library's modules from ``sys.modules``, but those named in ``keep``.

    A synced library imported in a long-running process (the minion's main process, where
    grains and beacons run and from which every job is forked; a master's reactor or salt-api)
    would shadow what a later ``saltutil.sync_all`` brings.  The grain, the beacon and the
    runner keep their own references and call this right after importing, keeping what the
    process had before (``keep``); the beacon, whose loader puts no utils folder on
    ``sys.path``, also calls it before, so that it imports its sibling folder's files.
    """
    for name in [
        name for name in sys.modules if name.partition(".")[0] == __name__ and name not in keep
    ]:
        del sys.modules[name]
