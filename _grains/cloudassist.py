"""
The ``cloudassist`` grain: what each minion's Cloud Assistant client is, for targeting.

.. code-block:: bash

    salt -G 'cloudassist:legacy:True' cloudassist.status
    salt -G 'cloudassist:installed:True' cloudassist.stop test=True
    salt -G 'cloudassist:enabled:False' cloudassist.enable test=True
    salt -G 'cloudassist:updates:allowed' cloudassist.freeze_updates test=True

The grain holds ``installed``, ``version``, ``init_system``, ``service``, ``enabled``
(whether the client's service starts at boot), ``legacy``, ``branch`` and ``updates``, decided
as the ``cloudassist`` execution module decides them.  ``updates`` is ``frozen`` where a
``disable_update`` marker the client reads exists (``cloudassist.freeze_updates``),
``allowed`` where none does, None where the client is not installed or its binary is unknown
(a few ``stat`` calls, as ``cloudassist.updates`` reads them).  ``branch`` is the row of the
vendor's table the minion is on (the text ``cloudassist.status`` gives as ``branch``);
``legacy`` is True on the rows for clients 1.0.1.308 and older (managed through
``agentwatch``), False on the rows for newer clients, None on Windows (one row for every
version).  Target old clients by ``legacy``, never by a glob on ``version``: ``1.0.1.*`` takes
1.0.1.309 and newer too and misses 1.0.0.x.  Where something cannot be read, that key is None
and ``error`` says why.  It never raises: a failing grain function would cost the minion its
other grains.

It runs no program but the client's ``-v``, and that only when the binary changed since the
last read (the version is kept in the minion's cache folder, as the execution module keeps
it; ``cloudassist:version_cache``): systemd is read over its private bus (else from
the unit files), upstart is told by its control socket.  The execution module refreshes it
after every change it makes; ``saltutil.refresh_grains`` refreshes it by hand.

Configuration: the minion config's ``cloudassist`` keys (``binary``, ``init_system``,
``timeout``, ``version_cache``), as for the execution module; pillar is not read for grains.
"""

import importlib.util
import logging
import os
import re

import salt.utils.platform
from salt.exceptions import CommandExecutionError

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
        import _cloudassist_host as hosts
        import _cloudassist_install as install

log = logging.getLogger(__name__)

__virtualname__ = "cloudassist"

# A grain runs when the minion starts: a hanging -v must not hold it for the module's 30 s.
GRAIN_TIMEOUT = 10
KEYS = (
    "installed",
    "version",
    "init_system",
    "service",
    "enabled",
    "legacy",
    "branch",
    "updates",
)


def __virtual__():
    if not os.path.isfile(_LIB):
        return (
            False,
            f"cloudassist: {_LIB} is missing: sync the execution modules too, with "
            "saltutil.sync_all (salt-run saltutil.sync_all on a master)",
        )
    if not (salt.utils.platform.is_linux() or salt.utils.platform.is_windows()):
        return (False, "cloudassist: the Cloud Assistant client runs on Linux and Windows only")
    refusal = install.refusal(__file__)
    if refusal:
        return (False, refusal)
    return __virtualname__


def _config(key, default=None):
    value = (__opts__.get("cloudassist") or {}).get(key, default)
    return default if value is None else value


def _windows_salt():
    """The few ``win_service`` answers the host asks for, from Salt's own helper (grains have
    no ``__salt__``)."""
    import salt.utils.win_service as win_service  # pylint: disable=import-outside-toplevel

    def available(name):
        try:
            win_service.info(name)
            return True
        except CommandExecutionError:
            return False

    return {
        "service.info": win_service.info,
        "service.available": available,
        "service.status": lambda name: win_service.info(name).get("Status") == "Running",
        "service.enabled": lambda name: win_service.info(name).get("StartType") == "Auto",
    }


def _facts(platform, config, salt=None, *, cache_dir=None):
    """The grain's dict, for ``platform`` ("linux" or "windows"); never raises.  ``cache_dir``:
    where the client's version is kept while its binary is unchanged, as the module keeps it."""
    result = dict.fromkeys(KEYS)
    timeout = config("timeout", GRAIN_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        result["error"] = (
            "the config key cloudassist:timeout must be a number of seconds greater than 0, "
            f"not {timeout!r}"
        )
        return result
    try:
        timeout = min(timeout, GRAIN_TIMEOUT)
        host = hosts.host_for(
            platform, config, salt, timeout=timeout, spawn=False, cache_dir=cache_dir
        )
        status = host.status()
    except errors.NotInstalled:
        result["installed"] = False
        return result
    except errors.Failure as exc:
        result.update(installed=True, error=str(exc))
        return result
    except Exception as exc:  # pylint: disable=broad-except
        log.warning("cloudassist grain: %s", exc)
        log.debug("cloudassist grain", exc_info=True)
        result.update(installed=None, error=f"{type(exc).__name__}: {exc}")
        return result
    result.update(
        installed=True,
        version=status.version,
        init_system=status.init.init_system,
        service=status.branch.service,
        enabled=status.enabled,
        # The row procedure.choose picked for the module, by the same version comparison.
        legacy=status.branch.legacy,
        branch=status.branch.name,
        # The markers the client reads (a few lstat calls, read with the status).
        updates=None
        if status.updates is None
        else ("frozen" if status.updates.frozen else "allowed"),
    )
    return result


def cloudassist():
    """
    Return ``{"cloudassist": {installed, version, init_system, service, enabled, legacy,
    branch, updates}}`` (and ``error`` where something cannot be read); see the module's doc.

    CLI Example:

    .. code-block:: bash

        salt '*' grains.item cloudassist
        salt -G 'cloudassist:installed:True' cloudassist.status
        salt -G 'cloudassist:legacy:True' cloudassist.status
    """
    windows = salt.utils.platform.is_windows()
    try:
        salt_funcs = _windows_salt() if windows else None
    except Exception as exc:  # pylint: disable=broad-except
        return {"cloudassist": dict(dict.fromkeys(KEYS), error=f"Salt's win_service helper: {exc}")}
    cachedir = __opts__.get("cachedir")
    return {
        "cloudassist": _facts(
            "windows" if windows else "linux",
            _config,
            salt_funcs,
            cache_dir=os.path.join(cachedir, "cloudassist") if cachedir else None,
        )
    }
