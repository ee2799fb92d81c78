"""The fleet report: what the targeted minions answered to ``cloudassist.status``, counted.

Pure: the runner (``_runners/cloudassist.py``) asks Salt and hands the returns here; every
decision about them (answered, failed, did not answer, and the counts) is made here.
"""

from collections import Counter
from typing import NamedTuple

import _cloudassist_args as args
import _cloudassist_errors as errors

# What LocalClient.cmd_iter accepts as tgt_type (the ``salt`` CLI's targeting options).
TARGET_TYPES = (
    "glob",
    "pcre",
    "list",
    "grain",
    "grain_pcre",
    "pillar",
    "pillar_pcre",
    "pillar_exact",
    "compound",
    "ipcidr",
    "nodegroup",
    "range",
)
ERROR_PREFIX = "ERROR: "  # how a minion returns a CommandExecutionError (retcode 1)
# A failed minion is one line of the report: its error's first line (the sentence), then its
# last lines (the host's last words, where the error quotes them).
LAST_LINES = 3


class Answer(NamedTuple):
    """One minion's reply: its status dict, or why the call failed there."""

    minion: str
    status: dict = None
    error: str = None


class Report(NamedTuple):
    """The fleet's answers, sorted into those that reported, failed, or did not answer."""

    reported: tuple = ()  # Answer with a status
    failed: tuple = ()  # Answer with an error
    no_answer: tuple = ()  # minion ids
    require_installed: bool = False  # a minion without the client makes the report fail

    @property
    def targeted(self):
        return len(self.reported) + len(self.failed) + len(self.no_answer)

    @property
    def retcode(self):
        """0 when every targeted minion reported its status (and, with ``require_installed``,
        has the client); 1 otherwise (also for none)."""
        if self.require_installed and len(self.with_client) < len(self.reported):
            return 1
        return 0 if self.reported and not self.failed and not self.no_answer else 1

    def summary(self):
        if not self.targeted:
            return "no minion matched the target"
        clients = [a.status for a in self.with_client]
        running = sum(1 for status in clients if status.get("running") is True)
        absent = len(self.reported) - len(clients)
        left = len(self.leftovers)
        frozen = sum(1 for status in clients if _updates(status) == "frozen")
        return (
            f"{self.targeted} targeted: {len(self.reported)} reported ({running} running, "
            f"{len(clients) - running} stopped"
            + (f", {left} with processes the stopped client left running" if left else "")
            + (f", {frozen} with self-update frozen" if frozen else "")
            + (f", {absent} not installed" if absent else "")
            + f"), {len(self.failed)} failed, {len(self.no_answer)} did not answer"
        )

    @property
    def leftovers(self):
        """minion -> what its stopped client left running (``status["leftovers"]``)."""
        return {
            a.minion: a.status["leftovers"]
            for a in self.with_client
            if isinstance(a.status.get("leftovers"), list) and a.status["leftovers"]
        }

    @property
    def with_client(self):
        """The answers of minions that have the client (``installed`` is not False)."""
        return tuple(a for a in self.reported if a.status.get("installed") is not False)

    def as_dict(self):
        statuses = [a.status for a in self.with_client]
        stopped = [a.minion for a in self.with_client if a.status.get("running") is not True]
        not_installed = [a.minion for a in self.reported if a.status.get("installed") is False]
        blocked = {}
        for a in self.reported:
            if a.status.get("blocked"):
                blocked.setdefault(str(a.status["blocked"]), []).append(a.minion)
        init_systems = {}
        for status in statuses:
            services = init_systems.setdefault(_name(status.get("init_system")), {})
            service = _name(status.get("service"))
            services[service] = services.get(service, 0) + 1
        leftovers = self.leftovers
        updates, updates_by_version = _update_counts(statuses)
        return {
            "summary": self.summary(),
            "counts": {
                "targeted": self.targeted,
                "reported": len(self.reported),
                "failed": len(self.failed),
                "no_answer": len(self.no_answer),
                "running": len(statuses) - len(stopped),
                "stopped": len(stopped),
                "not_installed": len(not_installed),
                "watchdog_running": sum(1 for s in statuses if _watchdog_running(s)),
                "blocked": sum(len(m) for m in blocked.values()),
                "leftovers": len(leftovers),
            },
            "versions": dict(sorted(Counter(_name(s.get("version")) for s in statuses).items())),
            "init_systems": init_systems,
            "enabled": _boot_counts(statuses),
            "updates": updates,
            "updates_by_version": updates_by_version,
            "stopped": stopped,
            "not_installed": not_installed,
            "blocked": blocked,
            "leftovers": leftovers,
            "failed": {a.minion: a.error for a in self.failed},
            "no_answer": list(self.no_answer),
            "retcode": self.retcode,
        }


def _name(value):
    return "unknown" if value is None or value == "" else str(value)


def _watchdog_running(status):
    watchdog = status.get("watchdog")
    return isinstance(watchdog, dict) and watchdog.get("running") is True


def _boot_counts(statuses):
    counts = {"true": 0, "false": 0, "unknown": 0}
    for status in statuses:
        enabled = status.get("enabled")
        counts["true" if enabled is True else "false" if enabled is False else "unknown"] += 1
    return counts


def _updates(status):
    """``frozen``, ``allowed`` or ``unknown``: the client's self-update, as ``status["updates"]``
    says (a minion whose module predates that key says nothing: unknown)."""
    updates = status.get("updates")
    frozen = updates.get("frozen") if isinstance(updates, dict) else None
    return "frozen" if frozen is True else "allowed" if frozen is False else "unknown"


def _update_counts(statuses):
    """Clients per self-update state, and per version within each."""
    counts = {"frozen": 0, "allowed": 0, "unknown": 0}
    by_version = {}
    for status in statuses:
        state = _updates(status)
        counts[state] += 1
        versions = by_version.setdefault(_name(status.get("version")), {})
        versions[state] = versions.get(state, 0) + 1
    return counts, dict(sorted(by_version.items()))


def answer(minion, entry):
    """The ``Answer`` in one LocalClient return ``{"ret": ..., "retcode": ...}``, or None when
    the entry says the minion did not return (``failed``, or a ``no_return`` placeholder)."""
    if (
        not isinstance(entry, dict)
        or entry.get("failed") is True
        or entry.get("out") == "no_return"
    ):
        return None
    ret = entry.get("ret")
    retcode = entry.get("retcode") or 0
    if retcode == 0 and isinstance(ret, dict):
        return Answer(minion, status=ret)
    if not retcode:
        return Answer(minion, error=f"returned {ret!r} instead of a status")
    if isinstance(ret, str) and ret.startswith(ERROR_PREFIX):
        return Answer(minion, error=one_line(ret[len(ERROR_PREFIX) :]))
    text = ret if isinstance(ret, str) else repr(ret)
    return Answer(minion, error=f"{one_line(text)} (retcode {retcode})")


def one_line(text):
    """A minion's error on one line: its first line, then its last ``LAST_LINES`` lines (each
    cut as ``errors.excerpt`` cuts the host's words), joined with `` | ``; `` … `` stands for
    the lines left out."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    rest = errors.excerpt(lines[1:], lines=LAST_LINES)
    dropped = len(lines) - 1 > len(rest)
    return " | ".join([lines[0], *(["…"] if dropped else []), *rest])


def summarize(returns, expected, *, require_installed=False):
    """The ``Report`` of ``returns`` (minion id -> LocalClient return) for the ``expected``
    minions (those the master published the job to); a minion that returned without being
    expected is counted as well.  ``require_installed``: a minion that reports it has no
    client fails the report (its retcode is 1)."""
    answers = {}
    for minion, entry in (returns or {}).items():
        found = answer(minion, entry)
        if found is not None:
            answers[minion] = found
    minions = sorted(set(expected or ()) | set(answers))
    return Report(
        reported=tuple(answers[m] for m in minions if m in answers and answers[m].error is None),
        failed=tuple(answers[m] for m in minions if m in answers and answers[m].error is not None),
        no_answer=tuple(m for m in minions if m not in answers),
        require_installed=require_installed,
    )


def check_arguments(tgt, tgt_type, timeout, *, require_installed=False):
    """Raise ``errors.BadArgument`` saying why the runner's arguments cannot be used."""
    args.flag("require_installed", require_installed)
    if tgt_type not in TARGET_TYPES:
        raise errors.BadArgument(
            "tgt_type must be one of {}, not {!r}".format(", ".join(TARGET_TYPES), tgt_type),
            source="tgt_type",
            value=tgt_type,
        )
    if tgt_type == "list":
        if isinstance(tgt, str):
            tgt = [part for part in tgt.split(",") if part.strip()]
        if (
            not isinstance(tgt, (list, tuple))
            or not tgt
            or not all(isinstance(t, str) and t for t in tgt)
        ):
            raise errors.BadArgument(
                "tgt must name at least one minion (a list, or ids separated by commas), "
                f"not {tgt!r}",
                source="tgt",
                value=tgt,
            )
    elif not isinstance(tgt, str) or not tgt.strip():
        raise errors.BadArgument(
            f"tgt must be a non-empty target string, not {tgt!r}", source="tgt", value=tgt
        )
    if timeout is not None:
        args.seconds("timeout", timeout)
