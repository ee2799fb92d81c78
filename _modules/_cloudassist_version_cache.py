"""The client's version, kept between calls while its binary is provably the same file.

Every call reads the version (``status``, ``version``, each action, the grain), and
``aliyun-service -v`` is the one process a ``status`` spawns.  :func:`read` answers from a
small file in the minion's cache folder (``<cachedir>/cloudassist/version.json``) instead, but
only while the binary is the very file ``-v`` was read from: the link's path, the file it
resolves to (``os.path.realpath``) and one ``os.stat`` of that file (device, inode, size,
mtime and ctime in nanoseconds) must all be as they were.  A self-update writes a new version
folder and switches the link (another target); a copy over the binary writes the file (new
ctime, whatever it does to the size and mtime: no program can set a ctime back); a file
replaced by a rename is another inode.  Any of these is read again with ``-v``.

Linux only: on Windows the version is read from the exe the service names (``--version``),
which is not cached.

The file is written atomically (a temporary file in the same folder, then ``os.replace``),
mode 0600 in a folder of mode 0700; what cannot be read, or is not exactly what this module
writes, is ignored and written again.  When the folder cannot be written nothing is kept.
"""

import json
import logging
import os
import stat
import tempfile
import time
from typing import NamedTuple

import _cloudassist_facts as facts

log = logging.getLogger(__name__)

FILE = "version.json"
# What this module writes is about 300 bytes; a larger file is not ours.
MAX_BYTES = 4096
# A binary changed less than this before its -v is not kept.  The kernel stamps a file's
# mtime and ctime from a coarse clock (a timer tick, up to 10 ms; a second or two on some
# filesystems), so two writes within one tick can leave the same stamps; a binary whose
# stamps are older than this at the read has none that a later write could repeat.
SETTLED_NS = 2 * 10**9


class Key(NamedTuple):
    """The binary as one ``os.stat`` saw it: the path asked for, the file it resolves to."""

    link: str
    target: str
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int


def key_of(binary):
    """The ``Key`` of ``binary`` now; OSError when it cannot be resolved or stat'ed."""
    target = os.path.realpath(binary)
    st = os.stat(target)
    return Key(binary, target, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def read(folder, binary, read_version):
    """The version of ``binary``: kept in ``folder`` for this very file, else
    ``read_version()`` (its ``-v``), kept for next time when the file did not change while
    it ran.  A failure of ``read_version`` is raised as it is and never kept."""
    now = time.time_ns()
    try:
        before = key_of(binary)
    except OSError as exc:
        log.debug("cloudassist: the version cache: %s", exc)
        return read_version()
    path = os.path.join(folder, FILE)
    kept = lookup(path, before)
    if kept is not None:
        return kept
    version = read_version()
    try:
        after = key_of(binary)
    except OSError as exc:
        log.debug("cloudassist: the version cache: %s", exc)
        return version
    # The file -v ran from is the one the key names only when nothing moved meanwhile.
    if after == before and now - max(before.mtime_ns, before.ctime_ns) >= SETTLED_NS:
        store(path, before, version)
    return version


def lookup(path, key):
    """The version the file at ``path`` keeps for ``key``, or None: missing, unreadable, not
    a private regular file of this user, too large, not exactly what :func:`store` writes,
    or kept for another key."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.debug("cloudassist: the version cache %s: %s", path, exc)
        return None
    try:
        st = os.fstat(fd)
        if not (
            stat.S_ISREG(st.st_mode)
            and st.st_uid == os.geteuid()
            and not st.st_mode & 0o077
            and st.st_size <= MAX_BYTES
        ):
            log.debug("cloudassist: the version cache %s is not ours; ignored", path)
            return None
        data = os.read(fd, MAX_BYTES + 1)
    except OSError as exc:
        log.debug("cloudassist: the version cache %s: %s", path, exc)
        return None
    finally:
        os.close(fd)
    entry = _entry(data)
    if entry is None:
        log.debug("cloudassist: the version cache %s is not a valid entry; ignored", path)
        return None
    kept, version = entry
    return version if kept == key else None


def _entry(data):
    """``(Key, version)`` from what :func:`store` writes, or None for anything else."""
    if len(data) > MAX_BYTES:
        return None
    try:
        entry = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(entry, dict) or set(entry) != {*Key._fields, "version"}:
        return None
    texts = ("link", "target", "version")
    if not all(type(entry[name]) is str for name in texts):
        return None
    if not all(type(entry[name]) is int for name in Key._fields if name not in texts):
        return None
    version = entry.pop("version")
    try:
        canonical = ".".join(map(str, facts.version_tuple(version)))
    except ValueError:
        return None
    if canonical != version:
        return None
    return Key(**entry), version


def store(path, key, version):
    """Keep ``version`` for ``key`` in ``path``: atomically, mode 0600, in a folder of mode
    0700; nothing when that cannot be done (said in the debug log)."""
    folder = os.path.dirname(path)
    data = json.dumps(dict(key._asdict(), version=version)).encode()
    # Not salt.utils.atomicfile: it gives the new file the old one's mode and owner (else
    # 0666 less the umask), and imports Windows' DACL helpers on every call.
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.lstat(folder)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            log.debug("cloudassist: the version cache folder %s is not ours; not kept", folder)
            return
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(folder, 0o700)
        fd, tmp = tempfile.mkstemp(prefix=".version.", suffix=".tmp", dir=folder)  # 0600
    except OSError as exc:
        log.debug("cloudassist: the version cache folder %s: %s; not kept", folder, exc)
        return
    try:
        # No fsync: a file torn by a crash is ignored as any invalid one is, and read again.
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("cloudassist: the version cache %s: %s; not kept", path, exc)
        try:
            os.unlink(tmp)
        except OSError:
            pass
