"""Whether the client may update itself: the vendor's marker files, read, made and removed.

The client (``agent/update/config.go`` and ``common/pathutil`` of its public source) skips
its self-update while a file ``disable_update`` exists in the cross-version config folder
``<install root>/config/`` (every version reads it), or in ``<version folder>/config/`` (that
version only); ``disable_bootstrap_update`` in the same two places skips the update at its
start.  The version folder is the folder of the binary the client runs (Go's
``os.Executable``: on Linux ``/proc/self/exe``, links resolved), the install root its parent:
``/usr/local/share/aliyun-assist/2.2.3.578/aliyun-service`` reads
``/usr/local/share/aliyun-assist/config/`` and ``.../2.2.3.578/config/``; on Windows
``C:\\ProgramData\\aliyun\\assist\\<version>\\aliyun_assist_service.exe`` reads
``C:\\ProgramData\\aliyun\\assist\\config\\`` and ``...\\<version>\\config\\``.  A file's
content does not matter, its existence does (the client stats it: a directory or a link to a
file counts too, a dangling link does not).

After a self-update the running client can still be the older version folder's binary (the
service runs the versioned path), so the folder that counts is the running client's, else
the installed binary's; the installed one's is read too, since it is what runs next.

Paths are handled with the platform's own path rules (``paths``: ``posixpath`` or ``ntpath``),
so the Windows folders are computed and tested here on Linux.
"""

import os
import posixpath
import stat

import _cloudassist_errors as errors
from _cloudassist_records import Updates

UPDATE = "disable_update"
BOOTSTRAP = "disable_bootstrap_update"
MARKERS = (UPDATE, BOOTSTRAP)
CONFIG = "config"
FOLDER_MODE = 0o755
FILE_MODE = 0o644


def read(installed_exe, running_exes=(), *, paths=posixpath):
    """The ``Updates`` record for a client installed as ``installed_exe`` (links resolved) and
    running from ``running_exes`` (the running clients' executables, maybe none).  Only
    ``lstat``/``stat`` calls: no process, no file opened."""
    installed_dir = paths.dirname(installed_exe)
    running_dirs = list(dict.fromkeys(paths.dirname(exe) for exe in running_exes if exe))
    version_dir = running_dirs[0] if running_dirs else installed_dir
    config_dir = paths.join(paths.dirname(version_dir), CONFIG)
    folders = [config_dir] + [
        paths.join(folder, CONFIG) for folder in dict.fromkeys([*running_dirs, installed_dir])
    ]
    checked = tuple(paths.join(folder, name) for folder in folders for name in MARKERS)
    here = {path for path in checked if _lexists(path)}

    def counts(folder, name):
        return _exists(paths.join(folder, name))

    return Updates(
        config_dir=config_dir,
        version_dir=version_dir,
        version_dir_of="running" if running_dirs else "installed",
        installed_version_dir=installed_dir,
        checked=checked,
        markers=tuple(path for path in checked if path in here),
        frozen=counts(config_dir, UPDATE) or counts(paths.join(version_dir, CONFIG), UPDATE),
        bootstrap_frozen=counts(config_dir, BOOTSTRAP)
        or counts(paths.join(version_dir, CONFIG), BOOTSTRAP),
        installed_frozen=counts(config_dir, UPDATE)
        or counts(paths.join(installed_dir, CONFIG), UPDATE),
    )


def _lexists(path):
    try:
        os.lstat(path)
    except (OSError, ValueError):
        return False
    return True


def _exists(path):
    try:
        os.stat(path)
    except (OSError, ValueError):
        return False
    return True


def to_freeze(state, *, paths=posixpath):
    """What ``freeze`` would create: the markers of the cross-version config folder that are
    not there yet (none when it is frozen there already), after the folder itself where it is
    missing.  ``errors.UnsafeMarker`` when the folder or a marker there is something else than
    a directory and a plain file."""
    _check_folder(state.config_dir, "freeze")
    wanted = [paths.join(state.config_dir, name) for name in MARKERS]
    for path in wanted:
        _check_file(path, "freeze")
    folder = () if _lexists(state.config_dir) else (state.config_dir,)
    return folder + tuple(path for path in wanted if not _lexists(path))


def to_allow(state, *, paths=posixpath):
    """The markers ``allow`` would remove: every one the client reads (``state.markers``).
    ``errors.UnsafeMarker`` when one of them, or its folder, is not a plain file in a plain
    folder: nothing is followed or removed blindly."""
    for path in state.markers:
        _check_folder(paths.dirname(path), "allow")
        _check_file(path, "allow")
    return tuple(state.markers)


def not_yet(markers, *, present):
    """The ``markers`` that are not yet as wanted: missing when ``present``, else there."""
    return [path for path in markers if _lexists(path) != present]


ACTIONS = {"freeze": "freeze_updates", "allow": "allow_updates"}


def _what(mode, path):
    if stat.S_ISLNK(mode):
        try:
            return f"a symbolic link to {os.readlink(path)}"
        except OSError:
            return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def _mode(path, action):
    """``path``'s own mode (links not followed), None where it does not exist."""
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise errors.UnsafeMarker(
            f"cloudassist.{ACTIONS[action]}: {path} cannot be read ({exc}); nothing was changed",
            path=path,
            found=str(exc),
        ) from exc


def _check_folder(folder, action):
    mode = _mode(folder, action)
    if mode is not None and not stat.S_ISDIR(mode):
        found = _what(mode, folder)
        raise errors.UnsafeMarker(
            f"cloudassist.{ACTIONS[action]}: the client's config folder {folder} is {found}, "
            "not a directory; it is not followed and nothing was changed. Look at it, and "
            "make it a plain directory (or remove it) by hand",
            path=folder,
            found=found,
        )


def _check_file(path, action):
    mode = _mode(path, action)
    if mode is not None and not stat.S_ISREG(mode):
        found = _what(mode, path)
        raise errors.UnsafeMarker(
            f"cloudassist.{ACTIONS[action]}: the marker {path} is {found}, not a plain file; it "
            "is neither followed nor removed, and nothing was changed. Look at it, and remove "
            "it by hand if it is not needed",
            path=path,
            found=found,
        )


def create(config_dir, todo):
    """Make what ``to_freeze`` gave: ``config_dir`` (mode 0755) where it is in ``todo``, then
    the marker files (empty, mode 0644; owned by root where this runs as root), never through
    a link.  Returns what was made, in that order; a marker that appeared meanwhile is left as
    it is.  ``errors.MarkerFailed`` when the host refuses before anything was made,
    ``errors.PartlyDone`` (with it as the cause) after."""
    done = []
    try:
        for path in todo:
            if _attempt("create", path, _make_folder if path == config_dir else _make_file):
                done.append(path)
    except errors.MarkerFailed as exc:
        if not done:
            raise
        raise errors.PartlyDone(
            cause=exc, done={"created " + ", ".join(done): ("created", [], list(done))}
        ) from exc
    return tuple(done)


def remove(markers):
    """Remove the plain files ``markers``, each checked again right before (a link or a
    directory that took a marker's place meanwhile is an error, and left).  Returns the paths
    removed; a marker gone meanwhile is not among them."""
    done = []
    try:
        for path in markers:
            _check_file(path, "allow")
            if _attempt("remove", path, os.unlink):
                done.append(path)
    except (errors.MarkerFailed, errors.UnsafeMarker) as exc:
        if not done:
            raise
        raise errors.PartlyDone(
            cause=exc, done={"removed " + ", ".join(done): ("removed", list(done), [])}
        ) from exc
    return tuple(done)


def _attempt(action, path, function):
    """``function(path)``: True when done, False when there was nothing to do (the file is
    there already, or gone already); ``errors.MarkerFailed`` when the host refuses."""
    try:
        function(path)
    except OSError as exc:
        if isinstance(exc, FileExistsError if action == "create" else FileNotFoundError):
            return False
        raise errors.MarkerFailed(
            f"could not {action} {path}: {exc.strerror or exc}", path=path, action=action
        ) from exc
    return True


def _make_folder(path):
    os.mkdir(path, FOLDER_MODE)
    if hasattr(os, "chown"):
        os.chmod(path, FOLDER_MODE)  # whatever the umask
        if os.geteuid() == 0:
            os.chown(path, 0, 0)


def _make_file(path):
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, FILE_MODE)
    try:
        if hasattr(os, "fchown"):
            os.fchmod(fd, FILE_MODE)
            if os.geteuid() == 0:
                os.fchown(fd, 0, 0)
    finally:
        os.close(fd)
