"""Facts about a host's Cloud Assistant client: its version, the init system, its processes.

Parsing and deciding are pure functions of their inputs (unit-tested row by row); the
``read_*`` and ``*_pids`` functions read files under ``/proc``, ``/run`` and ``/sbin`` and
never start a process.  The execution module runs the only programs facts need
(``aliyun-service -v``, and ``/sbin/initctl --version`` where upstart may be running).
"""

import os
import re
import stat

LINUX_INIT_SYSTEMS = ("systemd", "upstart", "sysvinit")

# The vendor's markers: ``strings /sbin/init | grep ...``, done here by reading the file.
MARKERS = ((b"/lib/system", "systemd"), (b"upstart", "upstart"), (b"sysvinit", "sysvinit"))

INIT_SCRIPT = "/etc/init.d/aliyun-service"

# A whole line that is a version, or a version followed by blanks and more words.
_VERSION_LINE = re.compile(r"^\s*(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\s.*)?$")
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)\.(\d+)$")


# --- versions -------------------------------------------------------------------------


def parse_version_output(text):
    """The version in ``aliyun-service -v`` output, or None.

    Old builds printed log-file errors before the version; the line that is a version wins
    (the last one, if there are several).  The result is canonical: ``01.0.1.308`` gives
    ``1.0.1.308``.
    """
    found = None
    for line in (text or "").splitlines():
        match = _VERSION_LINE.match(line)
        if match:
            found = ".".join(str(int(part)) for part in match.groups())
    return found


def version_tuple(version):
    """``'1.0.1.308'`` -> ``(1, 0, 1, 308)``; ValueError for anything that is not four ints."""
    match = _VERSION.match(version.strip()) if isinstance(version, str) else None
    if not match:
        raise ValueError("not a Cloud Assistant version (four dot-separated integers): {!r}".format(version))
    return tuple(int(part) for part in match.groups())


# --- the vendor's marker scan of /sbin/init -------------------------------------------


def scan_markers(chunks):
    """Init systems whose marker occurs in the byte stream ``chunks`` (an iterable of bytes).

    A marker split across two chunks is still found: the tail of each chunk is carried over.
    """
    keep = max(len(marker) for marker, _ in MARKERS) - 1
    found = set()
    tail = b""
    for chunk in chunks:
        buf = tail + chunk
        for marker, name in MARKERS:
            if marker in buf:
                found.add(name)
        if len(found) == len(MARKERS):
            break
        tail = buf[-keep:]
    return [name for _, name in MARKERS if name in found]


def read_init_file(path="/sbin/init", chunk_size=1 << 20, max_bytes=64 << 20):
    """Scan ``path`` for the vendor's markers.

    Returns ``{"path", "target", "markers", "problem"}``: ``target`` is where a link leads,
    ``problem`` says why the file could not be scanned (or was scanned only in part).
    """
    result = {"path": path, "target": None, "markers": [], "problem": None}
    try:
        st = os.stat(path)
        if os.path.islink(path):
            result["target"] = os.path.realpath(path)
    except FileNotFoundError:
        result["problem"] = (
            "a dangling link to {}".format(os.readlink(path)) if os.path.islink(path) else "missing"
        )
        return result
    except OSError as exc:
        result["problem"] = "unreadable: {}".format(exc.strerror or exc)
        return result
    if not stat.S_ISREG(st.st_mode):
        result["problem"] = "not a regular file"
        return result

    def chunks(handle):
        left = max_bytes
        while left > 0:
            data = handle.read(min(chunk_size, left))
            if not data:
                return
            left -= len(data)
            yield data
        if handle.read(1):
            result["problem"] = "only the first {} bytes were scanned".format(max_bytes)

    try:
        with open(path, "rb") as handle:
            result["markers"] = scan_markers(chunks(handle))
    except OSError as exc:
        result["problem"] = "unreadable: {}".format(exc.strerror or exc)
    return result


# --- what is running ------------------------------------------------------------------


def _read(path, limit=4096):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit)
    except OSError:
        return None


def read_pid1():
    """``{"comm", "exe"}`` of PID 1, each None where /proc does not tell."""
    comm = _read("/proc/1/comm")
    try:
        exe = os.readlink("/proc/1/exe")
    except OSError:
        exe = None
    return {"comm": comm.decode(errors="replace").strip() if comm else None, "exe": exe}


def init_script_present():
    return os.path.exists(INIT_SCRIPT)


def systemd_booted():
    """systemd's own ``sd_booted()`` test."""
    return os.path.isdir("/run/systemd/system")


def describe_pid1(pid1):
    comm, exe = pid1.get("comm"), pid1.get("exe")
    if comm is None and exe is None:
        return "PID 1 cannot be read from /proc"
    return "PID 1 is {!r}{}".format(comm, " ({})".format(exe) if exe else "")


def decide_init_system(evidence, override=None):
    """Decide the init system from ``evidence``, most trusted source first.

    ``evidence`` keys: ``systemd_booted`` (bool), ``pid1`` ({comm, exe}), ``initctl``
    (output of ``/sbin/initctl --version`` or None), ``init_file`` (from ``read_init_file``),
    ``init_script`` (bool: /etc/init.d/aliyun-service exists).

    Returns ``{"init_system", "decided_by", "error"}``; exactly one of init_system and error
    is set.
    """
    if override is not None:
        if override in LINUX_INIT_SYSTEMS:
            return _decided(override, "the config key cloudassist:init_system")
        return _failed(
            "cloudassist:init_system is set to {!r}, which is not an init system this module "
            "knows; valid values: {}".format(override, ", ".join(LINUX_INIT_SYSTEMS))
        )
    pid1 = evidence.get("pid1") or {}
    if evidence.get("systemd_booted"):
        return _decided("systemd", "/run/systemd/system exists: systemd is running")
    if pid1.get("comm") == "systemd":
        return _decided("systemd", "PID 1 is systemd")
    if "upstart" in (evidence.get("initctl") or ""):
        return _decided("upstart", "/sbin/initctl --version says upstart is running")

    init_file = evidence.get("init_file") or {}
    markers = init_file.get("markers") or []
    if markers == ["sysvinit"]:
        return _decided("sysvinit", "/sbin/init carries the sysvinit marker")

    running = describe_pid1(pid1)
    installed = _describe_init_file(init_file)
    if evidence.get("init_script"):
        return _decided(
            "sysvinit",
            "neither systemd nor upstart is running ({}); {}; {} exists, so it manages the "
            "client".format(running, installed, INIT_SCRIPT),
        )
    nothing_runs = "neither systemd nor upstart is running ({})".format(running)
    if len(markers) > 1:
        reason = "the init system is ambiguous: {}, and {}".format(installed, nothing_runs)
    elif markers:
        reason = "{} is installed ({}) but not running: {}".format(
            markers[0], _where(init_file), running
        )
    else:
        reason = "the init system cannot be told: {}, and {}".format(installed, nothing_runs)
    return _failed(
        "{}; there is no {} to fall back on. On a container or chroot, manage the client from "
        "the host; otherwise set cloudassist:init_system to one of: {}".format(
            reason, INIT_SCRIPT, ", ".join(LINUX_INIT_SYSTEMS)
        )
    )


def _where(init_file):
    path = init_file.get("path", "/sbin/init")
    return path + (" -> " + init_file["target"] if init_file.get("target") else "")


def _describe_init_file(init_file):
    where = _where(init_file)
    if init_file.get("problem") and not init_file.get("markers"):
        return "{} is {}".format(where, init_file["problem"])
    if init_file.get("markers"):
        return "{} carries the markers of {}".format(where, " and ".join(init_file["markers"]))
    return "{} carries none of the markers /lib/system, upstart, sysvinit".format(where)


def _decided(init_system, decided_by):
    return {"init_system": init_system, "decided_by": decided_by, "error": None}


def _failed(error):
    return {"init_system": None, "decided_by": None, "error": error}


def evidence_report(evidence):
    """The evidence as a list of ``{"source", "found"}``, in the order it is trusted."""
    pid1 = evidence.get("pid1") or {}
    init_file = evidence.get("init_file") or {}
    report = [
        {"source": "/run/systemd/system", "found": "present" if evidence.get("systemd_booted") else "absent"},
        {"source": "/proc/1/comm, /proc/1/exe", "found": describe_pid1(pid1)},
        {
            "source": "/sbin/initctl --version",
            "found": evidence["initctl"].strip() if evidence.get("initctl") else "not run or no answer",
        },
    ]
    if init_file:
        report.append({"source": "markers in /sbin/init", "found": _describe_init_file(init_file)})
    report.append({"source": INIT_SCRIPT, "found": "present" if evidence.get("init_script") else "absent"})
    return report


# --- processes --------------------------------------------------------------------------


def _proc_entries():
    try:
        names = os.listdir("/proc")
    except OSError:
        return
    for name in names:
        if name.isdigit():
            yield int(name)


def _process(pid):
    """``(comm, argv, exe)`` of a live process, or None when it is gone or a zombie."""
    comm = _read("/proc/{}/comm".format(pid))
    stat_line = _read("/proc/{}/stat".format(pid))
    if comm is None or stat_line is None:
        return None
    state = stat_line.rsplit(b")", 1)[-1].split()[:1]
    if state in ([b"Z"], [b"X"]):
        return None
    argv = (_read("/proc/{}/cmdline".format(pid), 65536) or b"").split(b"\0")
    try:
        exe = os.readlink("/proc/{}/exe".format(pid))
    except OSError:
        exe = ""
    return (
        comm.decode(errors="replace").strip(),
        [a.decode(errors="replace") for a in argv if a],
        exe,
    )


def client_pids(binary):
    """Pids of running Cloud Assistant clients started from ``binary``.

    A client process has the binary's name (``/proc/PID/comm``) and either an executable of
    that name or the binary in the first two words of its command line (a script's
    interpreter comes first).  A ``-v``/``--version`` probe is not a running client.
    """
    name = os.path.basename(binary)
    paths = {binary, os.path.realpath(binary)}
    pids = []
    for pid in _proc_entries():
        proc = _process(pid)
        if not proc or proc[0] != name[:15]:
            continue
        comm, argv, exe = proc
        if "-v" in argv[1:] or "--version" in argv[1:]:
            continue
        if os.path.basename(exe.replace(" (deleted)", "")) == name or paths.intersection(argv[:2]):
            pids.append(pid)
    return sorted(pids)


def pids_named(comm):
    """Pids of live processes whose ``/proc/PID/comm`` is ``comm``."""
    pids = []
    for pid in _proc_entries():
        proc = _process(pid)
        if proc and proc[0] == comm[:15]:
            pids.append(pid)
    return sorted(pids)
