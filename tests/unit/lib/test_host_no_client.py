"""``_modules/_cloudassist_host.py``: what a host without the client still knows
(``no_client``), which ``cloudassist.status`` answers with instead of failing (issue 17)."""

import json

import pytest

import _cloudassist_errors as errors
import _cloudassist_host as hosts


def linux_host(tmp_path, **config):
    config.setdefault("binary", str(tmp_path / "nowhere" / "aliyun-service"))
    return hosts.LinuxHost(lambda key, default=None: config.get(key, default), {}, 5)


def not_installed(host):
    with pytest.raises(errors.NotInstalled) as caught:
        host.status()
    return caught.value


def test_a_host_without_the_client_says_where_it_looked_and_its_init_system(tmp_path):
    host = linux_host(tmp_path, init_system="sysvinit")
    failure = not_installed(host)
    record = host.no_client(failure).as_dict()
    assert record["installed"] is False and record["running"] is False
    assert record["looked_in"] == [str(tmp_path / "nowhere" / "aliyun-service")]
    assert record["comment"] == str(failure)
    assert record["comment"].startswith("the Cloud Assistant client is not installed: looked for")
    assert (record["platform"], record["init_system"]) == ("linux", "sysvinit")
    assert "cloudassist:init_system" in record["decided_by"]
    assert "init_problem" not in record
    assert json.loads(json.dumps(record)) == record  # what --out=json prints


def test_the_same_keys_as_a_client_s_status(tmp_path):
    """An inventory reads one shape: every key of an installed client's status is there."""
    from .helpers import status

    host = linux_host(tmp_path, init_system="sysvinit")
    record = host.no_client(not_installed(host)).as_dict()
    assert set(status()) <= set(record)
    assert record["version"] is None and record["pids"] == [] and record["others"] == []


def test_an_init_system_that_cannot_be_told_is_said_not_raised(tmp_path):
    host = linux_host(tmp_path, init_system="bogus")
    record = host.no_client(not_installed(host)).as_dict()
    assert record["installed"] is False
    assert record["init_system"] is None and record["evidence"] == []
    assert "cloudassist:init_system is set to 'bogus'" in record["init_problem"]


def test_a_broken_client_is_not_a_missing_one(tmp_path):
    link = tmp_path / "aliyun-service"
    link.symlink_to(tmp_path / "2.2.3.578" / "aliyun-service")
    host = linux_host(tmp_path, binary=str(link))
    with pytest.raises(errors.Broken):
        host.status()
