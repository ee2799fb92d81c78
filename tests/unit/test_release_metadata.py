"""Release metadata (docs/release.md): one version, no cap on Salt, links that exist, the
licence in full, a changelog grouped by version."""

import configparser
import datetime
import pathlib
import re
import subprocess

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parents[2]
CFG = configparser.ConfigParser(interpolation=None)
CFG.read(ROOT / "setup.cfg")
INIT = ROOT / "src" / "saltext" / "cloudassist" / "__init__.py"
(_VERSION,) = re.findall(r'^__version__ = "([^"]+)"$', INIT.read_text(), re.M)
VERSION = Version(_VERSION)
HEADING = re.compile(r"^## (.+)$", re.M)
RELEASED = re.compile(r"(\d+\.\d+\.\d+) - (\d{4}-\d{2}-\d{2})")


def requirements():
    lines = CFG.get("options", "install_requires").splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def test_salt_has_no_upper_bound():
    (salt,) = [req for req in requirements() if req.name == "salt"]
    assert salt.specifier.contains("3006.0")
    assert not salt.specifier.contains("3005.5")
    # A newer Salt than any released today must satisfy it: salt-pip install never downgrades.
    assert salt.specifier.contains("9999.1"), salt


def test_the_version_has_one_source():
    assert CFG.get("metadata", "version") == "attr: saltext.cloudassist.__version__"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    # The changelog names versions by nature; anywhere else the version would go stale.
    own = {"src/saltext/cloudassist/__init__.py", "CHANGELOG.md"}
    stray = [
        name
        for name in tracked
        if name not in own
        and (ROOT / name).is_file()
        and not (ROOT / name).is_symlink()
        and str(VERSION) in (ROOT / name).read_text(errors="replace")
    ]
    assert not stray, f"the version written out beside __init__.py in {stray}"


def test_project_urls_name_no_invented_host_and_exist():
    urls = dict(
        line.split("=", 1) for line in CFG.get("metadata", "project_urls").strip().splitlines()
    )
    urls = {label.strip(): target.strip() for label, target in urls.items()}
    assert {"Documentation", "Changelog", "Source", "Issues"} <= set(urls)
    for label, target in urls.items():
        assert "://" not in target, f"{label}: no public address exists; {target} is invented"
        path, _, anchor = target.partition("#")
        assert (ROOT / path).exists(), f"{label}: {path} is not in the repository"
        if anchor:
            headings = HEADING.findall((ROOT / path).read_text())
            slugs = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
            assert anchor in slugs, f"{label}: no heading {anchor} in {path}"


def test_the_licence_is_apache_2_in_full():
    text = (ROOT / "LICENSE").read_text()
    assert CFG.get("metadata", "license") == "Apache-2.0"
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_changelog_is_grouped_by_version_newest_first():
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = HEADING.findall(text)
    assert headings[0] == "Unreleased"
    released = [RELEASED.fullmatch(heading) for heading in headings[1:]]
    assert all(released), f"a version heading is not '## X.Y.Z - YYYY-MM-DD': {headings}"
    versions = [Version(match.group(1)) for match in released]
    dates = [datetime.date.fromisoformat(match.group(2)) for match in released]
    assert versions == sorted(versions, reverse=True) and dates == sorted(dates, reverse=True)
    assert versions[-1] == Version("0.1.0"), "the first version is in it"
    # The package's version is the newest release, or a development version of a later one.
    if VERSION.is_devrelease:
        assert Version(VERSION.base_version) > versions[0]
    else:
        assert VERSION == versions[0]
