"""``_modules/_cloudassist_install.py``: which copy of cloudassist a minion runs, and the
refusal that names both copies when there are two."""

import importlib
import sys

import pytest

import _cloudassist_install as install


@pytest.fixture
def no_pip_install(monkeypatch):
    """No ``saltext.cloudassist`` importable, whatever the test environment holds."""
    monkeypatch.setattr(install, "_pip_root", lambda: None)


def test_no_pip_install_no_refusal(no_pip_install, tmp_path):
    entry = tmp_path / "extmods" / "modules" / "cloudassist.py"
    assert install.refusal(str(entry)) is None


def _saltext(root):
    """A ``saltext/cloudassist`` package under ``root``, as pip would leave it."""
    package = root / "saltext" / "cloudassist"
    (package / "modules").mkdir(parents=True)
    (root / "saltext" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "modules" / "cloudassist.py").write_text("")
    return package


@pytest.fixture
def pip_install(monkeypatch, tmp_path):
    """A pip install in ``tmp_path/site-packages``, importable for the test's length."""
    site = tmp_path / "site-packages"
    package = _saltext(site)
    for name in _saltext_modules():
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield package
    # finding the package imported its parent ``saltext`` from here: forget it again (the
    # modules of before come back with monkeypatch's undo)
    for name in _saltext_modules():
        del sys.modules[name]


def _saltext_modules():
    return [name for name in sys.modules if name == "saltext" or name.startswith("saltext.")]


def test_a_pip_install_elsewhere_is_two_copies_named_by_both_paths(pip_install, tmp_path):
    entry = tmp_path / "extmods" / "states" / "cloudassist.py"
    why = install.refusal(str(entry))
    assert why.startswith("cloudassist: two copies on this minion")
    assert f"the pip install saltext.cloudassist ({pip_install})" in why
    assert f"the synced copy {tmp_path / 'extmods'} ({entry})" in why
    # both ways out are named
    assert install.SYNCED_REMOVE in why and install.PIP_REMOVE in why


def test_the_pip_installs_own_entry_files_are_not_refused(pip_install):
    for kind in ("modules", "states", "grains", "beacons", "runners"):
        assert install.refusal(str(pip_install / kind / "cloudassist.py")) is None


def test_the_pip_install_reached_through_a_link_is_the_same_copy(pip_install, tmp_path):
    link = tmp_path / "linked"
    link.symlink_to(pip_install)
    assert install.refusal(str(link / "modules" / "cloudassist.py")) is None
