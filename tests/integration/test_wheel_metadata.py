"""The wheel pip installs says what docs/release.md promises: the version from __init__.py,
Salt without an upper bound (salt-pip never downgrades a minion's Salt), the project's links
as paths in the repository, and the licence file."""

import email.parser
import re
import zipfile

from packaging.requirements import Requirement

from .conftest import CHECKOUT


def metadata(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        names = archive.namelist()
        return email.parser.Parser().parsestr(archive.read(name).decode()), names


def test_the_wheel_carries_the_release_metadata(wheel):
    meta, names = metadata(wheel)
    init = (CHECKOUT / "src" / "saltext" / "cloudassist" / "__init__.py").read_text()
    (version,) = re.findall(r'^__version__ = "([^"]+)"$', init, re.M)
    assert meta["Version"] == version
    assert wheel.name.startswith(f"saltext_cloudassist-{version}-")
    (salt,) = [Requirement(r) for r in meta.get_all("Requires-Dist") if r.startswith("salt")]
    assert str(salt.specifier) == ">=3006", salt
    links = dict(link.split(", ", 1) for link in meta.get_all("Project-URL"))
    assert set(links) >= {"Documentation", "Changelog", "Source", "Issues"}, links
    assert not [target for target in links.values() if "://" in target], links
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith("/LICENSE") for n in names)
