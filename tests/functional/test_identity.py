"""Which processes are the client (issue 8), through a real ``salt-call --local``.

The client is a process whose ``/proc/PID/exe`` is the configured binary followed through
links, or the same binary name in another version folder of the same install, running in
this host's PID namespace and root; never a process only because of its name.  Look-alikes
are listed in ``status['others']`` with the reason.  The host is sysvinit-style here: PID 1
is not systemd, and the test's ``/etc/init.d/aliyun-service`` manages the stand-in.

Other suites may run stand-in clients of their own on this host at the same time, so every
check here looks only at the pids these tests started.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

import standin
from salthost import SUPPORT, wait_for

SCRIPT = "/etc/init.d/aliyun-service"


# --- the truth, read from /proc by the test itself ------------------------------------


def exe_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def alive(pid):
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def where(pid):
    """(PID namespace, root) of ``pid``, as comparable values."""
    try:
        root = os.stat(f"/proc/{pid}/root")
        return os.readlink(f"/proc/{pid}/ns/pid"), (root.st_dev, root.st_ino)
    except OSError:
        return None


def pids_with_exe(exe, elsewhere=False):
    """Live pids whose executable is ``exe``: in this test's namespace and root, or (with
    ``elsewhere``) in another one."""
    own = where("self")
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and exe_of(name) == str(exe) and alive(name):
            if (where(name) != own) == elsewhere:
                found.append(int(name))
    return sorted(found)


def pidfile_pid(host):
    return int(host.pidfile.read_text().strip())


def others_by_pid(data):
    return {entry["pid"]: entry for entry in data["others"]}


# --- 1. another executable of that name ------------------------------------------------


def test_a_look_alike_elsewhere_on_disk_is_not_the_client(host):
    host.install_client()
    host.install_init_script()
    look_alike = standin.install_client(host.base / "elsewhere" / "aliyun-service")
    proc = host.spawn([str(look_alike)])
    assert wait_for(lambda: exe_of(proc.pid) == str(look_alike)), "the look-alike did not start"

    res = host.salt_call("cloudassist.status")
    assert res.returncode == 0, res
    assert res.data["running"] is False, res.data
    assert res.data["pids"] == []
    entry = others_by_pid(res.data).get(proc.pid)
    assert entry is not None, res.data["others"]
    assert entry["exe"] == str(look_alike)
    assert str(look_alike) in entry["why"] and "executable" in entry["why"], entry

    res = host.salt_call("cloudassist.start")
    assert res.returncode == 0, res
    assert res.data["changed"] is True, res.data
    assert res.data["running"] is True
    assert res.data["pids_before"] == []
    assert res.data["command"] == SCRIPT + " start"
    assert res.data["comment"] == f"started the client with `{SCRIPT} start`"
    # the init script really ran: its pid file names the client that now runs
    started = pids_with_exe(host.binary)
    assert started and res.data["pids"] == started == [pidfile_pid(host)], (res.data, started)
    assert proc.pid not in res.data["pids"]
    # the look-alike is untouched
    assert alive(proc.pid) and exe_of(proc.pid) == str(look_alike)


# --- 2. a client in a container on this host ------------------------------------------


def _container_client(host, how):
    """Start a client in a container-like place that runs the configured binary's path;
    return (its pid as this host sees it, what its executable reads as from here)."""
    if how == "pid and mount namespace":
        # the same path, bound to a copy inside the container's own mount namespace; sh is
        # the container's PID 1 and the client its child, as under a container runtime
        copy = host.base / "container" / "aliyun-service"
        copy.parent.mkdir()
        shutil.copy2(standin.client_binary(), copy)
        host.spawn(
            [
                "unshare",
                "--pid",
                "--mount",
                "--fork",
                "--propagation",
                "private",
                "--",
                sys.executable,
                str(SUPPORT / "namespace_exec.py"),
                "--bind",
                str(copy),
                str(host.binary),
                "--",
                "sh",
                "-c",
                '"$@"; exit $?',
                "sh",
                str(host.binary),
            ]
        )
        seen_as = host.binary
    else:
        # a chroot holding the client at the same path
        chroot = host.base / "chroot"
        inside = chroot / str(host.binary).lstrip("/")
        standin.install_client(inside)
        host.spawn(["chroot", str(chroot), str(host.binary)])
        seen_as = inside
    pids = wait_for(lambda: pids_with_exe(seen_as, elsewhere=True))
    assert len(pids) == 1, f"the container's client did not start: {pids}"
    return pids[0], seen_as


@pytest.mark.parametrize(
    "how,why",
    [
        ("pid and mount namespace", "PID namespace"),
        pytest.param(
            "chroot",
            "root",
            marks=pytest.mark.skipif(not shutil.which("chroot"), reason="no chroot"),
        ),
    ],
)
def test_a_client_in_a_container_is_not_this_hosts_client(host, how, why):
    host.install_client()
    host.install_init_script()
    pid, seen_as = _container_client(host, how)

    res = host.salt_call("cloudassist.status")
    assert res.returncode == 0, res
    assert res.data["running"] is False, res.data
    assert pid not in res.data["pids"]
    entry = others_by_pid(res.data).get(pid)
    assert entry is not None, res.data["others"]
    assert entry["exe"] == str(seen_as)
    assert why in entry["why"], entry

    # only the container's client runs: stop has nothing to stop, and says so
    res = host.salt_call("cloudassist.stop")
    assert res.returncode == 0, res
    assert res.data["changed"] is False, res.data
    assert res.data["pids_before"] == []
    assert res.data["comment"].startswith("the client is already stopped"), res.data
    assert f"`{SCRIPT} stop` was not run" in res.data["comment"]
    assert alive(pid), "cloudassist.stop killed the container's client"

    # with this host's client running too, stop stops that one only
    host.start_client()
    own = pidfile_pid(host)
    assert pids_with_exe(host.binary) == [own]
    res = host.salt_call("cloudassist.stop")
    assert res.returncode == 0, res
    assert res.data["changed"] is True, res.data
    assert res.data["pids_before"] == [own]
    assert res.data["pids"] == [] and res.data["running"] is False
    assert not alive(own)
    assert alive(pid), "cloudassist.stop killed the container's client"


def test_a_watchdog_in_a_container_is_not_this_hosts_watchdog(host):
    """The watchdog is found as the client is: its executable, in this host's PID namespace
    and root (a container's assist_daemon once failed a stop on the host)."""
    host.install_client()
    host.install_init_script()
    path = host.base / "watchdog" / "assist_daemon"
    # a container's watchdog cannot see the host's client: what it would start is harmless
    standin.install_watchdog(
        path,
        ["/bin/true"],
        host.base / "assist_daemon.pid",
        host.base / "no-client.pid",
        delay=3600,
    )
    host.config["watchdog"] = str(path)
    host.spawn(["unshare", "--pid", "--fork", "--", str(path)])
    pids = wait_for(lambda: pids_with_exe(path, elsewhere=True))
    assert len(pids) == 1, f"the container's watchdog did not start: {pids}"

    res = host.salt_call("cloudassist.status")
    assert res.returncode == 0, res
    watchdog = res.data["watchdog"]
    assert watchdog["running"] is False and watchdog["pids"] == [], watchdog
    entry = {e["pid"]: e for e in watchdog.get("others", [])}.get(pids[0])
    assert entry is not None, watchdog
    assert entry["exe"] == str(path) and "PID namespace" in entry["why"], entry

    host.start_client()
    res = host.salt_call("cloudassist.stop", "stop_watchdog=True")
    assert res.returncode == 0, res
    assert res.data["changed"] is True and res.data["running"] is False, res.data
    assert res.data["watchdog_stopped"] is False, res.data
    assert not [w for w in res.data.get("warnings", []) if re.search(rf"\b{pids[0]}\b", w)], (
        res.data
    )
    assert alive(pids[0]), "cloudassist.stop stopped the container's watchdog"


# --- 3. the binary configured as a link of another name -------------------------------


def test_a_link_of_another_name_finds_and_stops_the_client(host):
    host.install_client()
    link = host.base / "bin" / "ca-client"
    link.parent.mkdir()
    link.symlink_to(host.binary)
    host.config["binary"] = str(link)
    host.start_client()
    pid = pidfile_pid(host)
    assert pids_with_exe(host.binary) == [pid]

    res = host.salt_call("cloudassist.status")
    assert res.returncode == 0, res
    assert res.data["running"] is True, res.data
    assert res.data["pids"] == [pid]
    assert res.data["binary"] == str(link)
    assert pid not in others_by_pid(res.data)

    res = host.salt_call("cloudassist.stop")
    assert res.returncode == 0, res
    assert res.data["changed"] is True, res.data
    assert res.data["pids_before"] == [pid]
    assert res.data["running"] is False and res.data["pids"] == []
    assert res.data["command"] == SCRIPT + " stop"
    assert not alive(pid), "the client is still running"


# --- 4. a self-update leaves the running client in the old version folder -------------


def test_the_client_in_the_old_version_folder_still_runs_after_a_self_update(host):
    root = host.base / "root"
    old = standin.install_versioned_client(root, "2.2.3.578", relative_link=True)
    host.config["binary"] = str(old.link)
    # the service runs the versioned path, as the vendor's does
    standin.write_executable(
        host.initd / "aliyun-service",
        standin.sysv_script(str(old.binary), pidfile=str(host.pidfile)),
    )
    subprocess.run(
        [str(host.initd / "aliyun-service"), "start"], check=True, capture_output=True, timeout=30
    )
    assert wait_for(lambda: pids_with_exe(old.binary)), "the client did not start"
    pid = pidfile_pid(host)
    assert pids_with_exe(old.binary) == [pid]

    new = standin.install_versioned_client(root, "2.2.4.1065", relative_link=True)
    assert os.path.realpath(new.link) == str(new.binary) != str(old.binary)
    assert new.version_file.read_text().strip() == "2.2.4.1065"
    assert old.binary.is_file(), "the old version folder must stay"
    assert exe_of(pid) == str(old.binary)

    res = host.salt_call("cloudassist.status")
    assert res.returncode == 0, res
    assert res.data["running"] is True, res.data
    assert res.data["pids"] == [pid]
    assert res.data["version"] == "2.2.4.1065"
    assert pid not in others_by_pid(res.data)

    res = host.salt_call("cloudassist.stop")
    assert res.returncode == 0, res
    assert res.data["changed"] is True and res.data["pids_before"] == [pid], res.data
    assert not alive(pid)


# --- 5. a -v probe is not a running client ---------------------------------------------


def test_a_version_probe_running_at_the_same_time_is_not_a_running_client(host):
    """A ``-v`` of the configured binary that is still running (another job's probe, a hung
    one) while status looks.  The stand-in reads its knobs when it starts, so the probe is
    started while the knobs say "hang", and the knobs are put back once it has read them
    (it creates ``log/`` after reading them): the module's own ``-v`` then answers."""
    host.install_client(hang_on_version=True)
    host.install_init_script()
    log_dir = host.binary.parent / "log"
    shutil.rmtree(log_dir, ignore_errors=True)
    probe = host.spawn([str(host.binary), "-v"])
    assert wait_for(lambda: log_dir.is_dir()), "the probe did not start"
    host.install_client()  # the same file; only the knobs change
    assert alive(probe.pid) and exe_of(probe.pid) == str(host.binary)

    res = host.salt_call("cloudassist.status")
    assert res.returncode == 0, res
    assert res.data["running"] is False, res.data
    assert res.data["pids"] == []
    assert alive(probe.pid), "status killed a probe it did not start"

    res = host.salt_call("cloudassist.start")
    assert res.returncode == 0, res
    assert res.data["changed"] is True, res.data
    assert res.data["pids_before"] == []
    assert res.data["pids"] == [pidfile_pid(host)]
    assert probe.pid not in res.data["pids"]


# --- 6. an init script that is not executable ------------------------------------------


def test_an_init_script_that_is_not_executable_is_named_as_such(host):
    host.install_client()
    host.start_client()
    pid = pidfile_pid(host)
    os.chmod(host.initd / "aliyun-service", 0o644)
    expected = f"{SCRIPT} is present but not executable (mode 644)"

    res = host.salt_call("cloudassist.status")
    assert res.returncode == 0, res
    assert res.data["running"] is True and res.data["pids"] == [pid], res.data
    assert res.data["blocked"] and expected in res.data["blocked"], res.data["blocked"]
    assert "no " + SCRIPT not in res.data["blocked"] and "missing" not in res.data["blocked"]
    assert "chmod 755 " + SCRIPT in res.data["blocked"]

    res = host.salt_call("cloudassist.stop")
    assert expected in res.error, res
    assert "no " + SCRIPT not in res.error and "missing" not in res.error
    assert alive(pid), "nothing may be run on a blocked branch"


# --- 7. what status costs ----------------------------------------------------------------


def test_status_spawns_only_the_version_probe(host, audited_call):
    host.install_client()
    host.start_client()
    pid = pidfile_pid(host)
    look_alike = standin.install_client(host.base / "elsewhere" / "aliyun-service")
    other = host.spawn([str(look_alike)])
    assert wait_for(lambda: exe_of(other.pid) == str(look_alike))

    res, records = audited_call("cloudassist.status")
    assert res.returncode == 0, res
    assert res.data["pids"] == [pid] and other.pid in others_by_pid(res.data), res.data
    assert records, "the audit hook recorded nothing: it is not loaded"
    ours = [r["args"] for r in records if r["ours"]]
    assert len(ours) <= 2, ours
    assert ours[0] == [str(host.binary), "-v"], ours
    if not os.path.isdir("/run/systemd/system") and not os.path.exists("/sbin/initctl"):
        # neither systemctl nor initctl has anything to say on this host
        assert ours == [[str(host.binary), "-v"]], ours
