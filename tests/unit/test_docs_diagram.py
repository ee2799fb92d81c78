"""The docs' diagram of the vendor's table (docs/_ext/vendor_diagram.py) is drawn from the table
the code runs: every row's stop and start commands, its init systems and its side of the
version boundary are in the dot text, and nothing else is.  That dot draws it is proven by
``bin/docs`` (Sphinx warns when dot fails, and a warning fails the build)."""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import vendor_diagram  # noqa: E402

from _cloudassist_procedure import LEGACY_LAST, TABLE  # noqa: E402
from _cloudassist_records import Branch, Step  # noqa: E402


def leaves(dot):
    """``{node: label}`` of the boxes (one per row)."""
    return dict(re.findall(r'"(row\d+)" \[shape="box", label="([^"]*)"\]', dot))


def edges(dot):
    """``[(tail, head, label)]``, node names unquoted."""
    out = []
    for line in dot.splitlines():
        match = re.fullmatch(r'\s*(.+?) -> (.+?) \[label="([^"]*)"\];', line)
        if match:
            tail, head, label = match.groups()
            out.append((tail.strip('"'), head.strip('"'), label))
    return out


def test_every_row_is_a_box_with_its_commands():
    dot = vendor_diagram.dot_source(TABLE, LEGACY_LAST)
    boxes = leaves(dot)
    assert len(boxes) == len(TABLE)
    for index, branch in enumerate(TABLE):
        label = boxes[f"row{index}"]
        assert f"service: {branch.service}" in label
        for step in branch.stop + branch.start:
            assert " ".join(step.argv) in label, (branch.name, step)
            if step.if_exists:
                assert f"where {step.if_exists} exists" in label


def test_every_row_is_reached_by_its_platform_version_and_init_systems():
    dot = vendor_diagram.dot_source(TABLE, LEGACY_LAST)
    found = edges(dot)
    last = ".".join(map(str, LEGACY_LAST))
    for index, branch in enumerate(TABLE):
        (into,) = [(tail, label) for tail, head, label in found if head == f"row{index}"]
        if branch.legacy is None:
            assert into == ("platform", branch.platform.title())
            continue
        assert into[1] == " or ".join(branch.init_systems)
        (above,) = [label for tail, head, label in found if head == into[0]]
        assert above == (f"{last} or older" if branch.legacy else f"newer than {last}")


def test_a_changed_table_changes_the_picture():
    row = Branch(
        platform="linux",
        legacy=False,
        init_systems=("systemd",),
        name="a test row",
        service="other.service",
        tool="systemctl",
        stop=(Step(argv=("systemctl", "stop", "other.service")),),
        start=(Step(argv=("systemctl", "start", "other.service")),),
    )
    dot = vendor_diagram.dot_source((row,), (2, 0, 0, 0))
    assert "systemctl stop other.service" in dot
    assert "agentwatch" not in dot and "aliyun.service" not in dot
    assert 'label="newer than 2.0.0.0"' in dot
