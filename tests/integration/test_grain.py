"""The ``cloudassist`` grain on a real minion: shipped both ways, refreshed after a change,
and usable for targeting from the master (``salt -G``)."""

import time


def _grain(run):
    ret = run("grains.get", "cloudassist")
    assert ret.returncode == 0, ret
    return ret.data


def _wait_grain(run, key, value, seconds=20):
    """The minion refreshes grains in its main process, after the job that asked returned."""
    deadline = time.monotonic() + seconds
    while True:
        grain = _grain(run)
        if grain.get(key) == value or time.monotonic() > deadline:
            return grain
        time.sleep(0.5)


def _targeted(salt_cli, target, minion_id):
    ret = salt_cli.run("-G", "test.ping", minion_tgt=target)
    if ret.returncode != 0:
        return []
    return (
        sorted(ret.data) if isinstance(ret.data, dict) else [minion_id] if ret.data is True else []
    )


def test_the_grain_names_the_client_and_targets_by_version(salt_cli, minion, run, client):
    run("saltutil.refresh_grains")
    grain = _wait_grain(run, "version", "2.2.3.578")
    assert grain == {
        "installed": True,
        "version": "2.2.3.578",
        "init_system": "sysvinit",
        "service": "/etc/init.d/aliyun-service",
        "enabled": grain["enabled"],
        "legacy": False,
        "branch": "Linux, client newer than 1.0.1.308, sysvinit",
        "updates": grain["updates"],
    }
    assert grain["enabled"] is run("cloudassist.enabled").data
    frozen = run("cloudassist.updates").data["frozen"]
    assert grain["updates"] == ("frozen" if frozen else "allowed"), grain
    assert grain["branch"] == run("cloudassist.status").data["branch"]
    assert _targeted(salt_cli, "cloudassist:version:2.2.*", minion.id) == [minion.id]
    assert _targeted(salt_cli, "cloudassist:installed:True", minion.id) == [minion.id]
    assert _targeted(salt_cli, "cloudassist:version:1.0.1.*", minion.id) == []
    assert _targeted(salt_cli, "cloudassist:legacy:False", minion.id) == [minion.id]
    assert _targeted(salt_cli, "cloudassist:legacy:True", minion.id) == []
    ret = salt_cli.run("-G", "cloudassist.status", minion_tgt="cloudassist:version:2.2.3.*")
    assert ret.returncode == 0 and ret.data[minion.id]["version"] == "2.2.3.578", ret


def test_an_action_refreshes_the_grain(run, client):
    run("saltutil.refresh_grains")
    assert _wait_grain(run, "version", "2.2.3.578")["version"] == "2.2.3.578"
    client.write_client("2.2.4.1065")  # a self-update behind Salt's back
    ret = run("cloudassist.start")
    assert ret.returncode == 0 and ret.data["changed"] is True, ret
    assert _wait_grain(run, "version", "2.2.4.1065")["version"] == "2.2.4.1065"
