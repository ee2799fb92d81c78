"""The client's version kept between calls, under a real ``salt-call --local``: a settled binary
is read with ``-v`` once, then given from the minion's cache folder with no process started
(the audit hook sees every process Python starts), until another build is copied over it.
"""

import os
import shutil
import stat
import time

import standin

OLD, NEW = "2.2.3.578", "2.2.4.1065"
# _cloudassist_version_cache.SETTLED_NS: younger binaries are read every time.
SETTLED = 2.0


def settle(path):
    """Wait until ``path`` was last changed longer ago than the cache asks."""
    age = time.time() - os.stat(path).st_ctime
    time.sleep(max(0.0, SETTLED + 0.2 - age))


def probes(records):
    return [r["args"] for r in records if r["ours"] and r["args"][-1:] == ["-v"]]


def test_a_settled_binary_is_read_once_until_another_build_is_copied_over_it(host, audited_call):
    host.install_client(OLD)
    host.install_init_script()
    settle(host.binary)
    res, records = audited_call("cloudassist.version")
    assert res.returncode == 0 and res.data == OLD, res
    assert probes(records) == [[str(host.binary), "-v"]], records
    kept = host.base / "root" / "var" / "cache" / "salt" / "minion" / "cloudassist"
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(kept / "version.json").st_mode) == 0o600

    res, records = audited_call("cloudassist.version")
    assert res.returncode == 0 and res.data == OLD, res
    assert records, "the audit hook recorded nothing: it is not loaded"
    assert probes(records) == [], records
    res, records = audited_call("cloudassist.status")
    assert res.returncode == 0 and res.data["version"] == OLD, res
    assert probes(records) == [], records

    # Another build over the binary, as `cp` copies it: the same file, new bytes.  (The
    # stand-in's version lives in its sidecar; the real client's is compiled in.)
    other = host.base / "other-build"
    other.write_bytes(standin.client_binary().read_bytes() + b"\0another build\0")
    standin.config_path(host.binary).write_text(standin.client_config(NEW))
    shutil.copyfile(other, host.binary)
    res, records = audited_call("cloudassist.version")
    assert res.returncode == 0 and res.data == NEW, res
    assert probes(records) == [[str(host.binary), "-v"]], records

    host.config["version_cache"] = False
    settle(host.binary)
    for _ in range(2):
        res, records = audited_call("cloudassist.version")
        assert res.returncode == 0 and res.data == NEW, res
        assert probes(records) == [[str(host.binary), "-v"]], records
