"""The library's failures, as types with their facts as fields.

Every failure's ``str()`` is the sentence the operator reads (the docs quote
them); the fields are what code needs: which command, what the host said, the changes made
before it failed.  A failed action also carries the host's own words (``host_said``: the last
lines of the unit's journal, or what the init script printed), which end its ``str()``.  The
library raises only these.  At Salt's boundary the execution module turns one into
:class:`Failed` (a ``CommandExecutionError``), which keeps the changes for the states; the grain
and the runner tell them apart by type, never by their text.
"""

from salt.exceptions import CommandExecutionError

# The host's words are an excerpt: at most this many lines, each cut at this many characters.
SAID_LINES = 20
SAID_WIDTH = 200


def excerpt(text, *, lines=SAID_LINES, width=SAID_WIDTH):
    """The last ``lines`` non-blank lines of ``text`` (a text or lines), each without trailing
    space and cut to ``width`` characters: what an error quotes of the host's words."""
    if isinstance(text, str):
        text = text.splitlines()
    kept = [line.rstrip() for line in text if line.strip()][-lines:] if lines else []
    return tuple(line if len(line) <= width else line[: width - 1] + "…" for line in kept)


def said_heading(said_by):
    """The line that introduces the host's words in an error: who said them."""
    return f"the host said (`{said_by}`):"


class Failure(Exception):
    """A failure of cloudassist; ``changes``: what was changed before it (none here);
    ``host_said``: what the host said about it (lines, see :meth:`heard`), and ``said_by``: the
    command that told it."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message
        self.changes = {}
        self.host_said = ()
        self.said_by = ""

    def heard(self, said_by, lines):
        """This failure with the host's words: ``lines`` (trimmed to an :func:`excerpt`) that
        ``said_by`` gave.  Without lines it stays as it was."""
        lines = excerpt(lines)
        if lines:
            self.said_by, self.host_said = said_by, lines
        return self

    def __str__(self):
        if not self.host_said:
            return self.message
        return "\n".join(
            [self.message, said_heading(self.said_by)] + ["  " + line for line in self.host_said]
        )


class BadArgument(Failure):
    """An argument or configuration value out of its range: ``source`` names it."""

    def __init__(self, message, *, source, value):
        super().__init__(message)
        self.source = source
        self.value = value


class NotInstalled(Failure):
    """No client where it was looked for (``looked_in``)."""

    def __init__(self, message, *, looked_in):
        super().__init__(message)
        self.looked_in = looked_in


class Broken(Failure):
    """The client is there but cannot be used as it is (``path``)."""

    def __init__(self, message, *, path):
        super().__init__(message)
        self.path = path


class Unreadable(Failure):
    """A fact the decision needs could not be read (``what``)."""

    def __init__(self, message, *, what):
        super().__init__(message)
        self.what = what


class Undecided(Failure):
    """The init system cannot be decided from the ``evidence`` gathered."""

    def __init__(self, message, *, evidence=()):
        super().__init__(message)
        self.evidence = tuple(evidence)


class Blocked(Failure):
    """Nothing may run (e.g. a look-alike watchdog); ``reason``: why; nothing was changed."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class StalePidFile(Failure):
    """The init script's pid file ``path`` names ``pid`` (owned by ``owner``, a Process, or
    None), not the client, and cloudassist could not make it safe before calling the script."""

    def __init__(self, message, *, path, pid, owner):
        super().__init__(message)
        self.path = path
        self.pid = pid
        self.owner = owner


class UnsafeMarker(Failure):
    """A marker file of the client's self-update (``path``), or its folder, is not what it may
    be (``found``: e.g. "a directory", "a symbolic link to ..."): it is neither followed nor
    removed, and nothing was changed."""

    def __init__(self, message, *, path, found):
        super().__init__(message)
        self.path = path
        self.found = found


class MarkerFailed(Failure):
    """The host refused to ``action`` ("create" or "remove") the marker file or folder
    ``path``."""

    def __init__(self, message, *, path, action):
        super().__init__(message)
        self.path = path
        self.action = action


class LibraryChanged(Failure):
    """The library's files in ``folder`` changed between loading the module and this call (a
    sync ran in between); nothing was done."""

    def __init__(self, *, folder):
        super().__init__(
            f"cloudassist's library in {folder} changed while this call ran (a "
            "saltutil.sync_all in between?); nothing was done: run the call again"
        )
        self.folder = folder


class Busy(Failure):
    """Another cloudassist job holds the minion's lock (``path``) for too long."""

    def __init__(self, message, *, path):
        super().__init__(message)
        self.path = path


class CannotRun(Failure):
    """``command`` could not be started."""

    def __init__(self, message, *, command):
        super().__init__(message)
        self.command = command


class TimedOut(Failure):
    """``command`` did not end within ``timeout`` seconds and was killed."""

    def __init__(self, message, *, command, timeout):
        super().__init__(message)
        self.command = command
        self.timeout = timeout


class CommandFailed(Failure):
    """``command`` ended with a non-zero ``retcode``; ``output``: what it printed."""

    def __init__(self, message, *, command, retcode, output):
        super().__init__(message)
        self.command = command
        self.retcode = retcode
        self.output = output


class NotVerified(Failure):
    """``command`` ran, but the truth read afterwards is not what was asked."""

    def __init__(self, message, *, command):
        super().__init__(message)
        self.command = command


class LeftBehind(NotVerified):
    """``command`` ran to remove the client, but ``left`` (a tuple of phrases: its package,
    processes, units, init scripts, links) is still there."""

    def __init__(self, message, *, command, left):
        super().__init__(message, command=command)
        self.left = tuple(left)


class WrongHost(Failure):
    """This host cannot take what was asked (e.g. no dpkg for a ``.deb``): ``needs`` says what it
    lacks; nothing was changed."""

    def __init__(self, message, *, needs):
        super().__init__(message)
        self.needs = needs


class NotThePackage(Failure):
    """The file ``path`` is not the client's package asked for: ``package`` and ``version`` are
    what the file says it is (None where it says nothing)."""

    def __init__(self, message, *, path, package, version):
        super().__init__(message)
        self.path = path
        self.package = package
        self.version = version


class FetchFailed(Failure):
    """The package could not be fetched from ``source`` (a URL); nothing was changed."""

    def __init__(self, message, *, source):
        super().__init__(message)
        self.source = source


class HashMismatch(Failure):
    """The file fetched from ``source`` does not have the ``wanted`` hash (``form=hex``): it has
    ``found``; nothing was changed."""

    def __init__(self, message, *, source, wanted, found):
        super().__init__(message)
        self.source = source
        self.wanted = wanted
        self.found = found


class PartlyDone(Failure):
    """``cause`` came after changes were made: ``done`` maps each change's sentence to
    ``(key, old, new)``; ``changes`` is Salt's changes dict of them."""

    def __init__(self, *, cause, done):
        # The cause's sentence, the changes, then the host's words (the cause's), last.
        super().__init__("{} (already done: {})".format(cause.message, "; ".join(done)))
        self.cause = cause
        self.done = dict(done)
        self.changes = {key: {"old": old, "new": new} for key, old, new in self.done.values()}
        self.heard(cause.said_by, cause.host_said)


class Failed(CommandExecutionError):
    """A :class:`Failure` at Salt's boundary: its text, and the ``changes`` made before it."""

    def __init__(self, failure):
        super().__init__(str(failure))
        self.failure = failure
        self.changes = dict(failure.changes)
