"""The ``cloudassist:`` configuration of one call, found as Salt's ``config.get`` finds it.

Each key comes from the first source that has it, in ``config.get``'s order without grains
(the ``cloudassist`` grain has keys of the same names): the minion config (``__opts__``), then
pillar, then the master config as pillar holds it (``pillar['master']``).  A value found there
that is an ``sdb://`` URI is resolved with ``salt.utils.sdb.sdb_get``, as ``config.get`` does.

Why not ``__salt__["config.get"]`` per key: every job is a fresh fork of the minion, and there
it first loads Salt's config module, then YAML-parses each key a source lacks
(``salt.utils.data.traverse_dict_and_list``), three times for a key set nowhere.  For the five
keys ``cloudassist.status`` reads that was about 2 ms of a 3.5 ms call on a minion, measured
in its jobs; here the three ``cloudassist`` sections are read once per call.
"""

from collections.abc import Mapping

SECTION = "cloudassist"


def _section(source, name=SECTION):
    value = source.get(name) if isinstance(source, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def reader(opts, pillar):
    """``get(key, default=None)`` over this call's ``cloudassist`` configuration."""
    found = {}
    # Lowest precedence first: a source later in the loop wins, key by key.
    for section in (_section(_section(pillar, "master")), _section(pillar), _section(opts)):
        found.update(section)

    def get(key, default=None):
        if key not in found:
            return default
        value = found[key]
        if isinstance(value, str) and value.startswith("sdb://"):
            import salt.utils.sdb  # only for the rare sdb:// value

            value = salt.utils.sdb.sdb_get(value, opts)
        return value

    return get
