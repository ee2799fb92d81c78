"""``_modules/_cloudassist_facts.py``: reading the client's version from what
``aliyun-service -v`` prints."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from _cloudassist_facts import SeveralVersions, parse_version_output, version_tuple

PARSE = [
    ("2.2.3.578\n", "2.2.3.578"),
    ("2.2.3.578", "2.2.3.578"),
    ("2.2.3.578\r\n", "2.2.3.578"),
    ("  1.0.1.308  \n", "1.0.1.308"),
    (
        "open /usr/local/share/aliyun-assist/2.2.3.578/log/aliyun_assist_main.log: "
        "permission denied\n2.2.3.578\n",
        "2.2.3.578",
    ),
    ("log error one\nlog error two\n1.0.2.569\n", "1.0.2.569"),
    # a version line is exactly four integers: anything more on the line makes it noise
    ("2.2.4.1065 (linux/amd64)\n", None),
    ("2.2.4.1065 (linux/amd64)\n2.2.4.1065\n", "2.2.4.1065"),
    ("100.100.100.200: connection refused\n2.2.3.578\n", "2.2.3.578"),
    ("2.2.3.578\n02.2.3.578\n", "2.2.3.578"),
    ("1.0.1.308\ntrailing noise\n", "1.0.1.308"),
    ("01.0.1.0308\n", "1.0.1.308"),
    ("", None),
    (None, None),
    ("\n\n", None),
    ("garbage\n", None),
    ("version: 2.2.3.578\n", None),
    ("2.2.3\n", None),
    ("1.2.3.4.5\n", None),
    ("2.2.3.578abc\n", None),
    ("v2.2.3.578\n", None),
    ("\x00\xff binary junk", None),
]


@pytest.mark.parametrize("output,expected", PARSE)
def test_the_line_that_is_a_version_wins(output, expected):
    assert parse_version_output(output) == expected


@pytest.mark.parametrize(
    "newer,older",
    [
        ("1.0.1.1000", "1.0.1.308"),
        ("1.0.1.309", "1.0.1.308"),
        ("1.0.2.0", "1.0.1.99999"),
        ("2.0.0.0", "1.99.99.99"),
        ("2.2.4.1065", "2.2.3.579"),
    ],
)
def test_versions_compare_as_integer_tuples(newer, older):
    assert version_tuple(newer) > version_tuple(older)


@pytest.mark.parametrize(
    "bad", ["", "1.0.1", "1.0.1.x", "1.0.1.308.1", " 1.0.1.308x", None, 1.0, ("1", "0")]
)
def test_version_tuple_refuses_what_is_not_a_version(bad):
    with pytest.raises(ValueError, match="not a Cloud Assistant version"):
        version_tuple(bad)


versions = st.tuples(*[st.integers(min_value=0, max_value=10**6)] * 4)
noise = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
    max_size=40,
).filter(lambda line: parse_version_output(line) is None)


@given(version=versions, before=st.lists(noise, max_size=5), after=st.lists(noise, max_size=5))
def test_any_version_is_found_among_noise_lines(version, before, after):
    text = "\n".join(before + [".".join(map(str, version))] + after) + "\n"
    found = parse_version_output(text)
    assert found == ".".join(map(str, version))
    assert version_tuple(found) == version


@given(a=versions, b=versions)
def test_comparison_agrees_with_integer_order(a, b):
    va, vb = version_tuple(".".join(map(str, a))), version_tuple(".".join(map(str, b)))
    assert (va < vb) == (a < b) and (va == vb) == (a == b)


@pytest.mark.parametrize("output", ["2.2.3.578\n2.2.4.1065\n", "1.0.1.308\nnoise\n1.0.1.309\n"])
def test_several_versions_are_refused_not_guessed(output):
    with pytest.raises(SeveralVersions) as raised:
        parse_version_output(output)
    assert len(raised.value.versions) == 2


@given(st.text(max_size=200))
def test_parser_raises_only_for_several_versions_and_returns_a_canonical_version(text):
    try:
        found = parse_version_output(text)
    except SeveralVersions as exc:
        assert len(set(exc.versions)) >= 2
        return
    assert found is None or ".".join(map(str, version_tuple(found))) == found


@given(version=versions)
def test_a_version_compares_as_packaging_reads_it(version):
    """The four-integer tuple is what ``packaging.version`` (Salt's dependency) makes of the
    same text, leading zeros included: the hand-written check adds only the refusal below."""
    text = ".".join(str(part).zfill(2) for part in version)
    assert version_tuple(text) == Version(text).release == version


@pytest.mark.parametrize("text", ["1.0.1", "v1.0.1.308", "1.0.1.308.1", "1.0.1.308rc1"])
def test_packaging_takes_what_the_client_never_prints_so_the_check_stays(text):
    Version(text)
    with pytest.raises(ValueError, match="not a Cloud Assistant version"):
        version_tuple(text)
