"""``_modules/_cloudassist_facts.py``: the init script's pid file (sysvinit) — which file the
script's ``PIDFILE=`` names, and what the file holds.  Pure parsing, then reads of real files."""

import os

import pytest

import _cloudassist_facts as facts

VENDOR = facts.VENDOR_PIDFILE


@pytest.mark.parametrize(
    "text,path",
    [
        ("PIDFILE=/var/run/aliyun-service.pid\n", "/var/run/aliyun-service.pid"),
        ('PIDFILE="/run/aliyun.pid"\n', "/run/aliyun.pid"),
        ("PIDFILE='/run/aliyun.pid'  # where start writes it\n", "/run/aliyun.pid"),
        ("  export PIDFILE=/var/lib/ca/x.pid\n", "/var/lib/ca/x.pid"),
        # the same value twice (set at the top, again in a function) is one value
        ("PIDFILE=/run/a.pid\nstart() {\n    PIDFILE=/run/a.pid\n}\n", "/run/a.pid"),
        # a use of the variable is not an assignment
        ('PIDFILE=/run/a.pid\nrm -f "$PIDFILE"\n[ -f $PIDFILE ]\n', "/run/a.pid"),
    ],
)
def test_a_plain_pidfile_assignment_is_taken(text, path):
    assert facts.parse_pidfile_assignment(text) == (path, None)


@pytest.mark.parametrize(
    "text,why",
    [
        ("BINARY=/usr/sbin/aliyun-service\n", "it sets no PIDFILE="),
        ("PIDFILE=$RUNDIR/aliyun.pid\n", "not a plain"),
        ('PIDFILE="${RUNDIR:-/run}/aliyun.pid"\n', "not a plain"),
        ("PIDFILE=`cat /etc/where`\n", "not a plain"),
        ("PIDFILE=$(cat /etc/where)\n", "not a plain"),
        ("PIDFILE=run/aliyun.pid\n", "not a plain"),
        ("PIDFILE=/var/run/../../etc/passwd\n", "not a plain"),
        ("PIDFILE=/var//run/aliyun.pid\n", "not a plain"),
        ("PIDFILE=/\n", "not a plain"),
        ("PIDFILE=\n", "not a plain"),
        ("PIDFILE=/run/a\\ b.pid\n", "not a plain"),
        ('PIDFILE="/run/a b.pid"\n', "not a plain"),
        ("PIDFILE=/run/a.pid; rm -rf /\n", "not a plain"),
        (
            "PIDFILE=/run/a.pid\nPIDFILE=/run/b.pid\n",
            "it sets PIDFILE= to /run/a.pid and /run/b.pid",
        ),
    ],
)
def test_anything_the_shell_would_expand_is_not_trusted(text, why):
    path, reason = facts.parse_pidfile_assignment(text)
    assert path is None and why in reason


def test_the_script_names_its_pid_file_else_the_vendors_default_is_used(tmp_path):
    script = tmp_path / "aliyun-service"
    script.write_text("#!/bin/sh\nPIDFILE=/run/custom.pid\n")
    assert facts.pidfile_of_script(str(script), VENDOR) == (
        "/run/custom.pid",
        f"PIDFILE= in {script}",
    )
    script.write_text("#!/bin/sh\nPIDFILE=$RUN/x.pid\n")
    path, source = facts.pidfile_of_script(str(script), VENDOR)
    assert path == VENDOR and source.startswith("the vendor's default (") and "$RUN" in source
    missing = str(tmp_path / "gone")
    assert facts.pidfile_of_script(missing, VENDOR)[0] == VENDOR
    assert facts.pidfile_of_script(missing, None)[0] is None  # agentwatch: no default


@pytest.mark.parametrize(
    "content,pid",
    [
        (b"4242\n", 4242),
        (b"  4242  \n", 4242),
        (b"4242", 4242),
        (b"4242\nleft over\n", 4242),
        (b"", None),
        (b"\n", None),
        (b"abc\n", None),
        (b"0\n", None),  # kill 0 would signal the whole process group
        (b"-1\n", None),  # kill -1: every process
        (b"12 13\n", None),
    ],
)
def test_the_pid_a_pid_file_names(content, pid):
    assert facts.parse_pid(content) == pid


def test_a_pid_file_is_read_only_when_it_is_a_regular_file(tmp_path):
    regular = tmp_path / "a.pid"
    regular.write_bytes(b"4242\n")
    assert facts.read_pidfile(str(regular)) == (b"4242\n", None)
    assert facts.read_pidfile(str(tmp_path / "none.pid")) == (None, None)
    link = tmp_path / "link.pid"
    link.symlink_to(regular)
    content, problem = facts.read_pidfile(str(link))
    assert content is None and problem.startswith("a symbolic link")
    fifo = tmp_path / "fifo.pid"
    os.mkfifo(fifo)  # opening it would block: it is never opened
    content, problem = facts.read_pidfile(str(fifo))
    assert content is None and problem.startswith("not a regular file")
