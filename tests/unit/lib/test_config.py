"""``_modules/_cloudassist_config.py``: the ``cloudassist:`` configuration is found as Salt's
``config.get(..., omit_grains=True)`` finds it, key by key, read once per call."""

import itertools

import pytest
import salt.modules.config
import salt.utils.sdb

import _cloudassist_config as settings

KEYS = ("binary", "timeout", "leftovers")
MISSING = object()


def salts_answer(monkeypatch, opts, pillar, key, default):
    """What Salt's own ``config.get`` answers, with the same minion config and pillar (and a
    grain of the same name, which it must never take)."""
    for name, value in (
        ("__opts__", opts),
        ("__pillar__", pillar),
        ("__grains__", {"cloudassist": {k: "from the grain" for k in KEYS}}),
    ):
        monkeypatch.setattr(salt.modules.config, name, value, raising=False)
    return salt.modules.config.get("cloudassist:" + key, default, omit_grains=True)


SECTIONS = (
    MISSING,
    {},
    {"binary": "/opt/sbin/aliyun-service"},
    {"binary": None, "timeout": 60},
    {"timeout": 5, "leftovers": "keep"},
    "not a mapping",
)


def place(section):
    return {} if section is MISSING else {"cloudassist": section}


@pytest.mark.parametrize(
    "in_opts,in_pillar,in_master", list(itertools.product(SECTIONS, SECTIONS[:4], SECTIONS[:3]))
)
def test_every_key_comes_from_where_config_get_takes_it(monkeypatch, in_opts, in_pillar, in_master):
    opts = dict(place(in_opts), id="m1")
    pillar = dict(place(in_pillar))
    if in_master is not MISSING:
        pillar["master"] = place(in_master)
    get = settings.reader(opts, pillar)
    for key in KEYS:
        default = "the default"
        assert get(key, default) == salts_answer(monkeypatch, opts, pillar, key, default)
        assert get(key) == salts_answer(monkeypatch, opts, pillar, key, None)


def test_an_sdb_value_is_resolved_as_config_get_resolves_it(monkeypatch):
    asked = []

    def sdb_get(uri, opts, utils=None, strict=False):
        asked.append((uri, opts))
        return "/from/sdb"

    monkeypatch.setattr(salt.utils.sdb, "sdb_get", sdb_get)
    opts = {"cloudassist": {"binary": "sdb://vault/aliyun-binary", "timeout": 9}}
    get = settings.reader(opts, {})
    assert get("binary") == "/from/sdb"
    assert get("timeout") == 9
    assert get("settle", "sdb://not/looked/up") == "sdb://not/looked/up"  # a default is not
    assert asked == [("sdb://vault/aliyun-binary", opts)]


def test_the_sources_are_read_once_per_call():
    opts, pillar = {"cloudassist": {"timeout": 1}}, {"cloudassist": {"settle": 2}}
    get = settings.reader(opts, pillar)
    opts["cloudassist"]["timeout"] = 99  # a later change is the next call's
    assert (get("timeout"), get("settle")) == (1, 2)
