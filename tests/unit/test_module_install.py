"""``cloudassist.install`` at Salt's boundary, without changing this host: the refusals that
come before anything runs (another host, another source, another file), and ``test=True``
with a real ``.deb``, which runs only the reads."""

import functools
import hashlib
import http.server
import shutil
import subprocess
import threading

import pytest
import salt.config
import salt.fileclient
import salt.utils.platform
from salt.exceptions import CommandExecutionError

import _cloudassist_package as package
import _cloudassist_tools as tools
import client_deb
import loaded
from _cloudassist_records import CommandResult

module = loaded.execution
A = "2.2.3.578"
needs_dpkg = pytest.mark.skipif(
    shutil.which("dpkg-deb") is None or shutil.which("dpkg-query") is None,
    reason="needs Debian's dpkg",
)


class Master:
    """``cp.cache_file`` of the files a master would serve (``files``), counted."""

    def __init__(self, cachedir):
        self.fetched = []
        self.files = {}
        opts = salt.config.minion_config(None)
        opts.update(cachedir=cachedir, file_client="local")
        self.client = salt.fileclient.Client(opts)

    def cache_file(self, source, source_hash=None):
        self.fetched.append(source)
        if source.startswith(("https://", "http://")):
            # Salt's own download (salt.fileclient), as cp.cache_file runs it on a minion.
            return self.client.cache_file(source, "base", source_hash=source_hash)
        return self.files.get(source, "")

    def functions(self):
        return {"cp.cache_file": self.cache_file, "saltutil.refresh_grains": lambda **kw: True}


@pytest.fixture
def master(tmp_path):
    return Master(str(tmp_path / "minion-cache"))


@pytest.fixture
def configure_loader_modules(master, tmp_path):
    opts = {
        "cachedir": str(tmp_path / "cache"),
        "cloudassist": {"binary": str(tmp_path / "no-client" / "aliyun-service")},
    }
    return {module: {"__salt__": master.functions(), "__opts__": opts, "__pillar__": {}}}


@pytest.fixture
def no_install(monkeypatch):
    """``dpkg -i`` must not run in these tests."""

    def refuse(*args, **kwargs):
        raise AssertionError("dpkg -i would have run")

    monkeypatch.setattr(package, "run_tool", refuse)


def test_a_host_without_a_package_tool_is_refused(monkeypatch, tmp_path, master, no_install):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setattr(tools, "search_path", lambda: str(empty))
    with pytest.raises(CommandExecutionError, match=r"this host has none of them on its PATH"):
        module.install("salt://ca/aliyun-assist_2.2.3.578.deb")
    assert master.fetched == []


@needs_dpkg
@pytest.mark.parametrize(
    "source, keywords, words",
    [
        ("https://example.com/a.deb", {}, "is a URL: give source_hash too"),
        ("relative/a.deb", {}, "an https:// or http:// URL or an absolute file path"),
        ("salt://ca/a.deb", {"source_hash": "sha256=00"}, "source_hash must be a hash"),
        ("salt://ca/missing.deb", {}, "could not fetch salt://ca/missing.deb"),
    ],
)
def test_sources_refused_before_anything_runs(master, no_install, source, keywords, words):
    with pytest.raises(CommandExecutionError, match=words):
        module.install(source, **keywords)
    assert master.fetched in ([], [source])


@needs_dpkg
def test_a_fetched_file_that_is_not_the_package_is_named(master, tmp_path, no_install):
    bogus = tmp_path / "bogus.deb"
    bogus.write_text("text\n")
    master.files["salt://ca/bogus.deb"] = str(bogus)
    with pytest.raises(CommandExecutionError, match=f"{bogus} is not a .deb package"):
        module.install("salt://ca/bogus.deb")


@needs_dpkg
def test_test_true_plans_the_install_and_runs_only_reads(master, tmp_path, no_install):
    known = subprocess.run(["dpkg-query", "-W", "aliyun-assist"], capture_output=True, check=False)
    if known.returncode == 0:
        pytest.skip("this host has a package aliyun-assist")
    deb = client_deb.build(A, tmp_path / "debs")
    master.files["salt://ca/a.deb"] = str(deb)
    ret = module.install("salt://ca/a.deb", version=A, test=True)
    assert ret["test"] is True and ret["installed"] is False, ret
    assert ret["changes"] == {"version": {"old": None, "new": A}}, ret
    assert ret["command"] == f"env DEBIAN_FRONTEND=noninteractive dpkg -i {deb}", ret
    assert ret["comment"].startswith(f"would install aliyun-assist {A} with"), ret
    with pytest.raises(CommandExecutionError, match=f"is aliyun-assist {A}, not the version"):
        module.install("salt://ca/a.deb", version="2.2.4.1065", test=True)


def test_a_failed_dpkg_that_left_the_package_half_done_reports_it(monkeypatch, tmp_path):
    deb = tmp_path / "aliyun-assist_2.2.3.578.deb"
    deb.write_bytes(b"")
    dpkg_said = CommandResult(
        f"env DEBIAN_FRONTEND=noninteractive dpkg -i {deb}",
        1,
        "",
        "aliyun-assist: cannot install the client's service\n"
        "dpkg: error processing package aliyun-assist (--install):\n",
    )
    states = [package.Installed(None, None), package.Installed("install ok half-configured", A)]
    monkeypatch.setattr(package, "host_tool", lambda **kw: tools.DPKG)
    monkeypatch.setattr(package, "identify", lambda path, timeout, wanted=None, tool=None: A)
    monkeypatch.setattr(package, "installed", lambda timeout, tool=None: states.pop(0))
    monkeypatch.setattr(package, "run_tool", lambda plan, timeout, wait: dpkg_said)
    with pytest.raises(CommandExecutionError, match="exited with code 1") as caught:
        module.install(str(deb))
    assert caught.value.changes == {"version": {"old": None, "new": f"{A} (half-configured)"}}, (
        caught.value.changes
    )
    text = str(caught.value)
    assert f"already done: dpkg left aliyun-assist install ok half-configured {A}" in text
    assert "cannot install the client's service" in text
    assert states == []


# --- https:// and http:// sources, from a real web server ----------------------------------------


class Web:
    """A web server on 127.0.0.1 in a thread, serving ``folder``; ``asked``: the paths GET."""

    def __init__(self, folder):
        self.asked = []
        web = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                web.asked.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder))
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name):
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def web(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    deb = client_deb.build(A, served)
    server = Web(served)
    server.deb, server.sha256 = deb, hashlib.sha256(deb.read_bytes()).hexdigest()
    yield server
    server.close()


@pytest.fixture
def unread(monkeypatch):
    """The file must not be read as a package (dpkg-deb) in these tests."""

    def refuse(*args, **kwargs):
        raise AssertionError("dpkg-deb read the file")

    monkeypatch.setattr(package, "identify", refuse)


@needs_dpkg
@pytest.mark.parametrize("form", ["sha256={}", "sha256:{}", "{}"])
def test_a_url_with_its_hash_is_downloaded_checked_and_planned(master, web, no_install, form):
    known = subprocess.run(["dpkg-query", "-W", "aliyun-assist"], capture_output=True, check=False)
    if known.returncode == 0:
        pytest.skip("this host has a package aliyun-assist")
    url = web.url(web.deb.name)
    ret = module.install(url, version=A, source_hash=form.format(web.sha256), test=True)
    assert ret["test"] is True and ret["changes"] == {"version": {"old": None, "new": A}}, ret
    cached = ret["command"].rsplit(" ", 1)[1]
    assert cached.startswith(master.client.opts["cachedir"]), ret["command"]
    assert hashlib.sha256(open(cached, "rb").read()).hexdigest() == web.sha256
    assert web.asked == ["/" + web.deb.name]

    # Cached with that hash: not downloaded again.
    module.install(url, source_hash=form.format(web.sha256), test=True)
    assert web.asked == ["/" + web.deb.name]


@needs_dpkg
def test_a_url_whose_file_has_another_hash_is_refused_before_it_is_read(
    master, web, no_install, unread
):
    wrong = hashlib.sha256(b"another file").hexdigest()
    with pytest.raises(CommandExecutionError) as caught:
        module.install(web.url(web.deb.name), source_hash=f"sha256={wrong}")
    text = str(caught.value)
    assert f"has the sha256 {web.sha256}, not the {wrong} that source_hash says" in text, text
    assert "nothing was changed" in text and caught.value.changes == {}
    assert web.asked == ["/" + web.deb.name]


@needs_dpkg
def test_a_url_without_a_hash_is_refused_before_it_is_downloaded(master, web, no_install, unread):
    with pytest.raises(CommandExecutionError, match="is a URL: give source_hash too"):
        module.install(web.url(web.deb.name))
    assert web.asked == [] and master.fetched == []


@needs_dpkg
def test_a_download_that_fails_is_refused(master, web, no_install, unread):
    url = web.url("aliyun-assist_9.9.9.9.deb")
    with pytest.raises(CommandExecutionError, match=f"could not download {url}: .*404") as caught:
        module.install(url, source_hash="sha256=" + "0" * 64)
    assert "nothing was changed" in str(caught.value) and caught.value.changes == {}
    assert web.asked == ["/aliyun-assist_9.9.9.9.deb"]
