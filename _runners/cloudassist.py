"""
Report the Cloud Assistant client across the fleet, from the master.

.. code-block:: bash

    salt-run cloudassist.report
    salt-run cloudassist.report tgt='web*' timeout=30
    salt-run cloudassist.report tgt='G@os:Ubuntu' tgt_type=compound --out=json

Installed with pip, the runner comes with the wheel; synced from ``file_roots``, run
``salt-run saltutil.sync_all`` on the master (the runner and the ``_modules`` library it imports).
"""

import importlib.util
import os
import re

import salt.client
import salt.utils.minions
from salt.exceptions import SaltClientError

# The library: the _cloudassist_*.py files beside the execution module, in every install (pip,
# sync, salt-ssh); _modules/_cloudassist_lib.py says why it lies there and is imported so.
_LIB = re.sub(
    r"[a-z]+([\\/])cloudassist\.py$", r"modules\1_cloudassist_lib.py", os.path.abspath(__file__)
)
if os.path.isfile(_LIB):  # else __virtual__ says what is missing
    _spec = importlib.util.spec_from_file_location("_cloudassist_lib", _LIB)
    _spec.loader.exec_module(_cloudassist_lib := importlib.util.module_from_spec(_spec))
    with _cloudassist_lib.imported():
        import _cloudassist_errors as errors
        import _cloudassist_install as install
        import _cloudassist_report as reports

__virtualname__ = "cloudassist"


def __virtual__():
    if not os.path.isfile(_LIB):
        return (
            False,
            f"cloudassist: {_LIB} is missing: sync the execution modules too, with "
            "saltutil.sync_all (salt-run saltutil.sync_all on a master)",
        )
    refusal = install.refusal(__file__)
    if refusal:
        return (False, refusal)
    return __virtualname__


def _failed(result):
    # salt-run exits with the return's "retcode"; a runner state (orchestrate) fails on a
    # non-zero __context__ retcode, and on an "Error" key.
    __context__["retcode"] = result["retcode"]
    return result


def _gather(tgt, tgt_type, timeout):
    """``(returns, expected)``: each minion's return to ``cloudassist.status``, and the minions
    the master published the job to."""
    returns, expected = {}, None
    with salt.client.get_local_client(mopts=__opts__) as client:
        for item in client.cmd_iter(
            tgt, "cloudassist.status", tgt_type=tgt_type, timeout=timeout, yield_pub_data=True
        ):
            if expected is None:  # the first item is the job's publication
                expected = item.get("minions") or []
                continue
            returns.update(item)
    return returns, expected or []


def report(tgt="*", tgt_type="glob", timeout=None, require_installed=False):
    """
    Ask the targeted minions for ``cloudassist.status`` and count what they answered.

    Returns ``summary`` (one line), ``counts`` (``targeted``, ``reported``, ``failed``,
    ``no_answer``, ``running``, ``stopped``, ``not_installed``, ``watchdog_running``,
    ``blocked``, ``leftovers``), ``versions`` (client version -> minions), ``init_systems``
    (init system -> service -> minions), ``enabled`` (whether the client starts at boot:
    ``true``, ``false``, ``unknown`` -> minions), ``updates`` (whether the client's self-update
    is ``frozen``, ``allowed``, or ``unknown`` where the status does not say -> minions),
    ``updates_by_version`` (client version -> the same three -> minions), ``stopped`` (the
    minions whose client is not
    running), ``not_installed`` (the minions that reported they have no client: they count as
    reported, not failed, and in none of the version, init system and boot counts), ``blocked``
    (why ``stop``/``start`` cannot run -> the minions), ``leftovers`` (minion -> what its
    stopped client left running: pid, exe, cmdline of its updater or a console command; see
    ``cloudassist.stop``), ``failed`` (minion -> the error its ``cloudassist.status`` raised, on
    one line: its first line and its last three joined with `` | ``), ``no_answer`` (minions the
    job went to that did not return within the timeout: down, or slower than it) and
    ``retcode``: 0 when every targeted minion reported (and, with ``require_installed``, has the
    client), else 1 (``salt-run`` exits with it, and an orchestrate ``salt.runner`` step fails).

    tgt
        The minions to ask (default ``*``).
    tgt_type
        How ``tgt`` is read, as by ``salt``: ``glob`` (default), ``list``, ``grain``,
        ``compound``, ``pcre``, ``pillar``, ``nodegroup``, ...
    timeout
        Seconds to wait for the minions (default: the master's ``timeout``).
    require_installed
        ``True``: a minion without the client fails the report (retcode 1), as a pre-check
        before a roll-out that would fail there (default ``False``: an inventory counts such
        minions under ``not_installed``).

    CLI Example:

    .. code-block:: bash

        salt-run cloudassist.report
        salt-run cloudassist.report tgt='web*' timeout=30 --out=json
        salt-run cloudassist.report require_installed=True
    """
    try:
        reports.check_arguments(tgt, tgt_type, timeout, require_installed=require_installed)
    except errors.BadArgument as exc:
        return _failed({"Error": f"cloudassist.report: {exc}", "retcode": 1})
    # Asked first so that an empty target publishes nothing (LocalClient would print its own
    # "No minions matched" line into the output).
    matched = salt.utils.minions.CkMinions(__opts__).check_minions(tgt, tgt_type)["minions"]
    returns, expected = {}, []
    if matched:
        try:
            returns, expected = _gather(tgt, tgt_type, timeout)
        except SaltClientError as exc:
            return _failed(
                {
                    "Error": f"cloudassist.report: the job could not be published: {exc}",
                    "retcode": 1,
                }
            )
        if not expected:
            return _failed(
                {
                    "Error": "cloudassist.report: the master published the job to no minion, "
                    "although {} matched the target (is salt-master running?)".format(
                        ", ".join(sorted(matched))
                    ),
                    "retcode": 1,
                }
            )
    result = reports.summarize(returns, expected, require_installed=require_installed).as_dict()
    if result["retcode"]:
        return _failed(result)
    return result
