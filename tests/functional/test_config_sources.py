"""Where the execution module finds its ``cloudassist:`` keys, through a real ``salt-call
--local`` with a real pillar (``pillar_roots``): the minion config first, then pillar, key by
key, as Salt's ``config.get`` finds them (``docs/configuration.md``)."""

import standin


def test_a_key_set_only_in_pillar_is_used(host):
    host.install_client("2.4.1.701")
    host.pillar = {"cloudassist": {"binary": str(host.binary)}}
    host.config = {"settle": 0.5}  # no binary in the minion config
    ret = host.salt_call("cloudassist.version")
    assert ret.returncode == 0, ret
    assert ret.data == "2.4.1.701"


def test_the_minion_config_wins_over_pillar_key_by_key(host, tmp_path):
    host.install_client("2.4.1.702")
    other = standin.install_client(tmp_path / "elsewhere" / "aliyun-service", "1.0.0.99")
    # pillar names another binary and a timeout; the minion config's binary wins, and the
    # pillar's timeout (a key the minion config lacks) is the one used: `timeout` 0 is refused.
    host.pillar = {"cloudassist": {"binary": str(other), "timeout": 0}}
    ret = host.salt_call("cloudassist.version")
    assert ret.returncode != 0, ret
    assert "the config key cloudassist:timeout" in ret.error, ret
    host.pillar = {"cloudassist": {"binary": str(other), "timeout": 20}}
    ret = host.salt_call("cloudassist.version")
    assert ret.returncode == 0, ret
    assert ret.data == "2.4.1.702"
