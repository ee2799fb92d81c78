"""docs/configuration.md against the configuration the code reads: every key the code reads is
on the page and every key on the page is read, each with the default the code gives it.

The code side is the AST scan of every configuration read in
``tests/support/config_keys.py``.  The page side is the table whose first header is ``key``
(``cloudassist:<key>``) and the one whose first header is ``beacon key``; each default the
code gives must be a code span in the row's ``default`` cell.
"""

import re

from config_keys import COMPUTED, ROOT, code_keys, reads

PAGE = ROOT / "docs" / "configuration.md"


CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")


def page_keys(text):
    """``{(scope, key): default cell}`` from the page's two tables."""
    keys, scope, columns = {}, None, None
    for line in text.splitlines():
        if not line.startswith("|"):
            scope = None
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells[0] in ("key", "beacon key"):
            scope, columns = ("cloudassist" if cells[0] == "key" else "beacon"), cells
        elif scope and not re.fullmatch(r"-+", cells[0]):
            key = CODE_SPAN.fullmatch(cells[0])
            assert key, f"a key cell that is not one code span: {cells[0]!r}"
            name = (
                key.group(2).removeprefix("cloudassist:")
                if scope == "cloudassist"
                else key.group(2)
            )
            keys[scope, name] = cells[columns.index("default")]
    return keys


def shown(default):
    """A default as the page writes it in a code span."""
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def test_the_page_lists_exactly_the_keys_the_code_reads():
    code, page = code_keys(), page_keys(PAGE.read_text())
    assert code, "no configuration read found in the code"
    missing = sorted(set(code) - set(page))
    stale = sorted(set(page) - set(code))
    assert not missing, f"keys the code reads that docs/configuration.md does not list: {missing}"
    assert not stale, f"keys docs/configuration.md lists that the code does not read: {stale}"


def test_every_default_the_code_gives_is_on_the_page():
    code, page = code_keys(), page_keys(PAGE.read_text())
    wrong = []
    for key, defaults in sorted(code.items()):
        spans = {m.group(2).strip() for m in CODE_SPAN.finditer(page.get(key, ""))}
        for default in defaults - {None, COMPUTED}:
            if shown(default) not in spans:
                wrong.append(
                    f"{key}: the code's default {shown(default)} is not in {page.get(key)!r}"
                )
    assert not wrong, "\n".join(wrong)


def test_the_scan_finds_reads_and_their_defaults(tmp_path):
    path = tmp_path / "_cloudassist_new.py"
    path.write_text(
        "LIMIT = 5\n"
        "def f(config):\n"
        "    config('limit', LIMIT)\n"
        "    self.config('root', os.getcwd())\n"
        "    __salt__['config.get']('cloudassist:binary', None, omit_grains=True)\n"
    )
    assert reads(path, {"LIMIT": 5}) == [
        ("cloudassist", "limit", 5, 3),
        ("cloudassist", "root", COMPUTED, 4),
        ("cloudassist", "binary", None, 5),
    ]
    page = (
        "| key | type | default | meaning |\n|---|---|---|---|\n"
        "| `cloudassist:limit` | n | `5` | x |\n"
    )
    assert page_keys(page) == {("cloudassist", "limit"): "`5`"}
