"""The commands the documentation tells its reader to type, extracted so a test can run each one.

The documentation is :func:`doc_files`: README.md and every Markdown page of the docs site
(``docs/**/*.md``).  In each, two sources:

- every line of a fenced ```` ```bash ```` block (a trailing ``# comment`` outside quotes is
  split off; a line ending in ``\\`` continues on the next);
- inline code in the prose (single backticks) that is a command of this project's tooling:
  its first word, after any ``NAME=value`` environment assignments, is one of
  :data:`INLINE_PROGRAMS`, and a bare ``salt``/``salt-call`` word (the tool named in a
  sentence, not a command) is not taken.  Commands the docs quote as *data* (the vendor
  table's ``systemctl stop agentwatch``, the troubleshooting table's advice) are not reader
  commands of this project and are not extracted.

A fence with a MyST directive (```` ```{toctree} ````) is a fence too; only ``bash`` ones hold
commands.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

# First words that make inline code a command of this project's tooling.
INLINE_PROGRAMS = (
    "bin/",
    ".ci/",
    "salt",
    "salt-call",
    "salt-pip",
    "salt-run",
    "salt-key",
    "salt-ssh",
    "python",
    "python3",
)
# These need a non-option argument inline: alone (or with options only, `salt-call --local`)
# they name the tool in a sentence.
NEEDS_ARGUMENTS = {
    "salt",
    "salt-call",
    "salt-pip",
    "salt-run",
    "salt-key",
    "salt-ssh",
    "python",
    "python3",
}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
FENCE = re.compile(r"^\s*```\s*(\{[\w-]+\}|[\w+-]*)(?:\s+\S.*)?\s*$")
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


@dataclasses.dataclass(frozen=True)
class Command:
    text: str  # as written, without the trailing comment
    argv: tuple  # shlex.split(text)
    comment: str  # the trailing comment, without '#', or ''
    line: int  # 1-based line in its file (the first, for a continued line)
    source: str  # "bash block" or "inline"
    file: str = "README.md"  # the documentation file, relative to the checkout

    @property
    def env(self) -> dict:
        """Leading ``NAME=value`` words."""
        out = {}
        for word in self.argv:
            if not ASSIGNMENT.match(word):
                break
            name, _, value = word.partition("=")
            out[name] = value
        return out

    @property
    def words(self) -> tuple:
        """argv without the leading environment assignments."""
        return self.argv[len(self.env) :]

    @property
    def program(self) -> str:
        return self.words[0] if self.words else ""

    def __str__(self):
        return f"{self.file}:{self.line}: {self.text}"


def split_comment(line: str) -> tuple[str, str]:
    """``(command, comment)``: a ``#`` that starts a word outside quotes starts the comment."""
    quote = None
    escaped = False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1 :].strip()
    if quote:
        raise ValueError(f"unbalanced {quote} in {line!r}")
    return line.rstrip(), ""


def _command(text, comment, line, source, file="README.md"):
    return Command(
        text=text,
        argv=tuple(shlex.split(text)),
        comment=comment,
        line=line,
        source=source,
        file=file,
    )


def _inline_command(span: str) -> bool:
    try:
        words = shlex.split(span)
    except ValueError:
        return False
    while words and ASSIGNMENT.match(words[0]):
        words = words[1:]
    if not words:
        return False
    first = words[0]
    if not any(first == p or (p.endswith("/") and first.startswith(p)) for p in INLINE_PROGRAMS):
        return False
    return first not in NEEDS_ARGUMENTS or any(not w.startswith("-") for w in words[1:])


def doc_files(checkout: Path | str) -> list[Path]:
    """The documentation whose commands are the reader's: README.md, then the docs site's
    Markdown pages in path order (the build folder left out)."""
    checkout = Path(checkout)
    pages = sorted(
        p
        for p in (checkout / "docs").rglob("*.md")
        if "_build" not in p.relative_to(checkout).parts
    )
    return [checkout / "README.md", *pages]


def each_file(checkout: Path | str, extract) -> list:
    """``extract(path, name=...)`` of every file of :func:`doc_files`, file by file, in one
    list (``name``: the file relative to the checkout)."""
    checkout = Path(checkout)
    out = []
    for path in doc_files(checkout):
        out.extend(extract(path, name=str(path.relative_to(checkout))))
    return out


def all_commands(checkout: Path | str) -> list[Command]:
    """Every command of every file of :func:`doc_files`, file by file."""
    return each_file(checkout, commands)


def commands(readme: Path | str, name: str | None = None) -> list[Command]:
    """Every command of one file in its order (a command written twice is listed twice);
    ``name`` is the file's name in :class:`Command` (default: its base name)."""
    name = name or Path(readme).name
    lines = Path(readme).read_text().splitlines()
    out = []
    fence = None  # the language of the open fence, or None outside one
    pending, pending_line = "", 0
    for number, line in enumerate(lines, 1):
        match = FENCE.match(line)
        if match:
            fence = None if fence is not None else match.group(1)
            continue
        if fence is None:
            for span in INLINE.findall(line):
                if _inline_command(span):
                    out.append(_command(span.strip(), "", number, "inline", name))
            continue
        if fence != "bash":
            continue
        if pending:
            line = pending + " " + line.strip()
        else:
            pending_line = number
        text, comment = split_comment(line)
        if text.endswith("\\") and not text.endswith("\\\\"):
            pending = text[:-1].rstrip()
            continue
        pending = ""
        if text.strip():
            out.append(_command(text.strip(), comment, pending_line, "bash block", name))
    return out
