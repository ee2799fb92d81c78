"""``_modules/_cloudassist_package.py``: the source and file checks (on real ``.deb`` files built
with ``dpkg-deb``), the pure plan, dpkg's lock, and the check after ``dpkg -i``."""

import hashlib
import shutil
import subprocess
import textwrap
from types import SimpleNamespace

import pytest

import _cloudassist_errors as errors
import _cloudassist_package as package
import _cloudassist_tools as tools
import client_deb
from _cloudassist_records import CommandResult

A = "2.2.3.578"
B = "2.2.4.1065"
DPKG_DEB = shutil.which("dpkg-deb")
needs_dpkg_deb = pytest.mark.skipif(DPKG_DEB is None, reason="needs dpkg-deb (Debian's dpkg)")


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    if DPKG_DEB is None:
        pytest.skip("needs dpkg-deb (Debian's dpkg)")
    out = tmp_path_factory.mktemp("debs")
    return {v: str(client_deb.build(v, out)) for v in (A, B)}


def other_deb(tmp_path, name, version):
    """A real, minimal .deb of package ``name`` at ``version`` (any text dpkg-deb takes)."""
    stage = tmp_path / f"{name}-stage"
    (stage / "DEBIAN").mkdir(parents=True)
    (stage / "DEBIAN" / "control").write_text(
        textwrap.dedent(
            f"""\
            Package: {name}
            Version: {version}
            Architecture: all
            Maintainer: tests <root@localhost>
            Description: not the client
            """
        )
    )
    out = tmp_path / f"{name}_{version}.deb"
    subprocess.run(
        [DPKG_DEB, "--root-owner-group", "--build", str(stage), str(out)],
        check=True,
        capture_output=True,
    )
    return str(out)


# --- the host and the source ----------------------------------------------------------------


@needs_dpkg_deb
def test_a_debian_host_has_dpkg():
    assert package.host_tool() is tools.DPKG


def test_salt_and_absolute_sources_are_taken(tmp_path):
    deb = tmp_path / "x.deb"
    deb.write_bytes(b"")
    assert package.source_kind("salt://ca/x.deb") == ("salt", "salt://ca/x.deb")
    assert package.source_kind(str(deb)) == ("file", str(deb))
    for url in ("https://example.com/a.deb", "http://10.0.0.1:8080/x/a.deb"):
        assert package.source_kind(url) == ("url", url)


REFUSED = "salt:// path, an https:// or http:// URL or an absolute file path"


@pytest.mark.parametrize(
    "source, words",
    [
        ("https://", REFUSED),
        ("ftp://example.com/a.deb", REFUSED),
        ("file:///root/a.deb", REFUSED),
        ("aliyun-assist_2.2.3.578.deb", REFUSED),
        ("salt://", REFUSED),
        ("", REFUSED),
        (None, REFUSED),
        ("/root/a\0.deb", REFUSED),
        ("/nonexistent/a.deb", "is not a file on this minion"),
    ],
)
def test_other_sources_are_refused(source, words):
    with pytest.raises(errors.BadArgument, match=words) as caught:
        package.source_kind(source)
    assert caught.value.source == "the argument source" and caught.value.value == source


@pytest.mark.parametrize(
    "given, wanted",
    [
        ("sha256=" + "Ab" * 32, ("sha256", "ab" * 32)),
        ("SHA256:" + "ab" * 32, ("sha256", "ab" * 32)),
        ("ab" * 32, ("sha256", "ab" * 32)),
        ("  " + "0" * 128 + "\n", ("sha512", "0" * 128)),
        ("md5=" + "f" * 32, ("md5", "f" * 32)),
    ],
)
def test_source_hash_is_taken_as_salt_takes_it(given, wanted):
    assert package.parse_hash(given) == wanted


@pytest.mark.parametrize(
    "given",
    ["", "sha256=", "sha256=" + "a" * 63, "sha256=" + "g" * 64, "crc32=" + "a" * 8, "a" * 10, 5],
)
def test_a_source_hash_salt_would_not_take_is_refused(given):
    with pytest.raises(errors.BadArgument, match="source_hash must be a hash") as caught:
        package.parse_hash(given)
    assert caught.value.source == "the argument source_hash" and caught.value.value == given


def test_the_hash_is_the_files_and_another_is_refused(tmp_path):
    deb = tmp_path / "a.deb"
    deb.write_bytes(b"data\n")
    found = package.file_hash(str(deb), "sha256")
    assert found == hashlib.sha256(b"data\n").hexdigest()
    package.checked_hash("https://x/a.deb", ("sha256", found), found)
    with pytest.raises(errors.HashMismatch, match="not the 00") as caught:
        package.checked_hash("https://x/a.deb", ("sha256", "00"), found)
    assert (caught.value.wanted, caught.value.found) == ("sha256=00", f"sha256={found}")


# --- the file -----------------------------------------------------------------------------------


def test_the_clients_package_says_its_version(debs):
    assert package.identify(debs[A], 30) == A
    assert package.identify(debs[B], 30, B) == B


def test_a_version_argument_must_be_the_files(debs):
    with pytest.raises(errors.NotThePackage, match=f"is aliyun-assist {A}, not the version {B}"):
        package.identify(debs[A], 30, B)


@needs_dpkg_deb
def test_another_package_is_named(tmp_path):
    deb = other_deb(tmp_path, "nginx", "1.22.1-9")
    with pytest.raises(errors.NotThePackage, match="it is the package nginx 1.22.1-9") as caught:
        package.identify(deb, 30)
    assert (caught.value.package, caught.value.version) == ("nginx", "1.22.1-9")


@needs_dpkg_deb
@pytest.mark.parametrize("version", ["2.2.3", "2.2.3.578-1", "1:2.2.3.578"])
def test_a_client_package_whose_version_is_not_four_integers_is_refused(tmp_path, version):
    deb = other_deb(tmp_path, "aliyun-assist", version)
    with pytest.raises(errors.NotThePackage, match="which is not a client version"):
        package.identify(deb, 30)


@needs_dpkg_deb
def test_a_file_that_is_no_deb_says_what_dpkg_deb_said(tmp_path):
    bogus = tmp_path / "aliyun-assist_2.2.3.578.deb"
    bogus.write_text("not an archive\n")
    with pytest.raises(errors.NotThePackage, match="is not a .deb package") as caught:
        package.identify(str(bogus), 30)
    assert caught.value.said_by.startswith("dpkg-deb --field")
    assert caught.value.host_said, "dpkg-deb's words are not quoted"


def test_control_fields_are_read_by_name():
    assert package.fields("Package: aliyun-assist\nVersion: 2.2.3.578\n") == {
        "Package": "aliyun-assist",
        "Version": "2.2.3.578",
    }
    assert package.fields("") == {}


# --- what dpkg knows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "retcode, out, state, version",
    [
        (0, "install ok installed 2.2.3.578", "install ok installed", A),
        (0, "install ok half-configured 2.2.3.578", "install ok half-configured", A),
        (0, "deinstall ok config-files 2.2.3.578", "deinstall ok config-files", A),
        (0, "unknown ok not-installed ", "unknown ok not-installed", None),
        (1, "", None, None),
    ],
)
def test_dpkg_query_is_read(retcode, out, state, version):
    now = package.query_state(retcode, out)
    assert (now.state, now.version) == (state, version)
    assert now.ok is (state == "install ok installed")


def test_what_dpkg_left_is_told_with_its_state():
    half = package.query_state(0, "install ok half-configured 2.2.3.578")
    assert package.left_text(half) == "2.2.3.578 (half-configured)"
    assert package.left_text(package.query_state(1, "")) is None


# --- the plan -------------------------------------------------------------------------------------

NONE = package.Installed(None, None)


def at(version):
    return package.Installed(package.INSTALLED, version)


def test_a_host_without_the_package_gets_it():
    plan = package.make_plan(A, NONE, path="/root/a.deb", running=False)
    assert plan.action == "install"
    assert plan.command == ("env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "-i", "/root/a.deb")
    assert plan.changes == {"version": {"old": None, "new": A}}
    assert plan.described(ran=False) == (
        f"would install aliyun-assist {A} with "
        "`env DEBIAN_FRONTEND=noninteractive dpkg -i /root/a.deb`"
    )
    assert plan.described(ran=True).startswith(f"installed aliyun-assist {A} with `env ")


def test_the_same_version_running_is_left_alone():
    plan = package.make_plan(A, at(A), path="/root/a.deb", running=True)
    assert (plan.action, plan.changes, plan.command) == ("none", {}, ())
    assert plan.described(ran=True) == f"aliyun-assist {A} is already installed and the client runs"


def test_the_same_version_not_running_is_installed_again():
    plan = package.make_plan(A, at(A), path="/root/a.deb", running=False)
    assert plan.action == "install" and plan.changes == {"version": {"old": A, "new": A}}
    assert plan.described(ran=False).startswith(f"would reinstall aliyun-assist {A}")


def test_an_older_version_is_upgraded():
    plan = package.make_plan(B, at(A), path="/root/b.deb", running=True)
    assert plan.action == "install" and plan.changes == {"version": {"old": A, "new": B}}
    assert plan.described(ran=True).startswith(f"upgraded aliyun-assist {A} to {B} with")


def test_a_newer_version_is_kept_unless_a_downgrade_is_allowed():
    kept = package.make_plan(A, at(B), path="/root/a.deb", running=True)
    assert (kept.action, kept.changes, kept.command) == ("keep", {}, ())
    assert f"aliyun-assist {B} is installed, newer than {A}: kept" in kept.described(ran=True)
    down = package.make_plan(A, at(B), path="/root/a.deb", running=True, allow_downgrade=True)
    assert down.action == "install" and down.changes == {"version": {"old": B, "new": A}}
    assert down.described(ran=True).startswith(f"downgraded aliyun-assist {B} to {A}")


def test_versions_are_compared_as_numbers_not_text():
    plan = package.make_plan("2.2.10.1", at("2.2.9.1"), path="/root/x.deb", running=True)
    assert plan.action == "install"
    assert plan.described(ran=False).startswith("would upgrade")


def test_a_half_installed_package_is_installed_over():
    half = package.Installed("install ok half-configured", B)
    plan = package.make_plan(A, half, path="/root/a.deb", running=False)
    assert plan.action == "install" and plan.old is None


# --- dpkg's lock and the check afterwards ---------------------------------------------------------

LOCKED = CommandResult(
    "env DEBIAN_FRONTEND=noninteractive dpkg -i /root/a.deb",
    2,
    "",
    "dpkg: error: dpkg frontend lock was locked by another process with pid 4242\n"
    "Note: removing the lock file is always wrong, and can end up damaging the\n",
)
DONE = CommandResult(LOCKED.command, 0, "Setting up aliyun-assist (2.2.3.578) ...\n", "")


def test_the_lock_held_by_another_process_is_waited_for(monkeypatch):
    answers = [LOCKED, LOCKED, DONE]
    monkeypatch.setattr(package, "run", lambda argv, timeout: answers.pop(0))
    monkeypatch.setattr(package, "LOCK_POLL", 0)
    plan = package.make_plan(A, NONE, path="/root/a.deb", running=False)
    assert package.run_tool(plan, timeout=30, wait=30) is DONE
    assert answers == []


def test_the_lock_held_too_long_fails_saying_nothing_changed(monkeypatch):
    monkeypatch.setattr(package, "run", lambda argv, timeout: LOCKED)
    monkeypatch.setattr(package, "LOCK_POLL", 0)
    plan = package.make_plan(A, NONE, path="/root/a.deb", running=False)
    with pytest.raises(errors.CommandFailed, match="another process holds dpkg's lock") as caught:
        package.run_tool(plan, timeout=30, wait=0)
    assert "pid 4242" in str(caught.value)


def test_another_dpkg_failure_is_not_retried(monkeypatch):
    failed = CommandResult(LOCKED.command, 1, "", "subprocess installed post-installation ...\n")
    calls = []
    monkeypatch.setattr(package, "run", lambda argv, timeout: calls.append(argv) or failed)
    plan = package.make_plan(A, NONE, path="/root/a.deb", running=False)
    assert package.run_tool(plan, timeout=30, wait=30) is failed
    assert len(calls) == 1


def status(version, running):
    return SimpleNamespace(version=version, running=running)


def test_verify_takes_the_installed_running_version():
    plan = package.make_plan(A, NONE, path="/root/a.deb", running=False)
    seen = package.verify(DONE, at(A), plan, read_status=lambda: status(A, True), wait=1)
    assert seen.version == A


def test_verify_fails_with_dpkgs_words_when_dpkg_failed():
    plan = package.make_plan(A, NONE, path="/root/a.deb", running=False)
    failed = CommandResult(DONE.command, 1, "", "aliyun-assist: cannot install the service\n")
    with pytest.raises(errors.CommandFailed, match="exited with code 1") as caught:
        package.verify(failed, at(A), plan, read_status=lambda: status(A, True), wait=1)
    assert caught.value.host_said == ("aliyun-assist: cannot install the service",)


def test_verify_fails_when_dpkg_query_disagrees():
    plan = package.make_plan(A, NONE, path="/root/a.deb", running=False)
    half = package.Installed("install ok half-configured", A)
    with pytest.raises(errors.NotVerified, match="half-configured"):
        package.verify(DONE, half, plan, read_status=lambda: status(A, True), wait=1)


def test_verify_fails_when_the_client_does_not_run_at_the_version():
    plan = package.make_plan(B, at(A), path="/root/b.deb", running=True)
    with pytest.raises(errors.NotVerified, match=f"not running at {B}.*version {A}") as caught:
        package.verify(DONE, at(B), plan, read_status=lambda: status(A, True), wait=0)
    assert "Setting up aliyun-assist" in str(caught.value)
