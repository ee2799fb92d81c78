"""``_modules/_cloudassist_records.py``: the pid file record and its steps, as an operator
reads them."""

from _cloudassist_records import PidFile, Process, Step

SLEEP = Process(4242, "sleep", "/usr/bin/sleep", ("sleep", "1000"))
STALE = PidFile(
    "/var/run/aliyun-service.pid",
    "PIDFILE= in /etc/init.d/aliyun-service",
    "/etc/init.d/aliyun-service",
    content=b"4242\n",
    pid=4242,
    owner=SLEEP,
    stale=True,
)


def test_the_pid_file_steps_read_as_commands():
    path = "/var/run/aliyun-service.pid"
    assert Step(("drop-pidfile", path, b"4242\n"), kind="file").text == f"rm -f {path}"
    assert Step(("write-pidfile", path, b"4242\n", 77), kind="file").text == f"echo 77 > {path}"


def test_the_owner_is_named_with_its_program_and_command_line():
    assert STALE.owner_text == "pid 4242 (sleep, /usr/bin/sleep: sleep 1000)"
    assert STALE._replace(owner=None).owner_text == "pid 4242, which no process has now"
    assert STALE._replace(pid=None, owner=None, content=b"x\n").owner_text == (
        "no pid (it holds b'x\\n')"
    )


def test_as_dict():
    assert STALE.as_dict() == {
        "path": "/var/run/aliyun-service.pid",
        "source": "PIDFILE= in /etc/init.d/aliyun-service",
        "pid": 4242,
        "owner": {
            "pid": 4242,
            "comm": "sleep",
            "exe": "/usr/bin/sleep",
            "cmdline": ["sleep", "1000"],
        },
        "stale": True,
        "problem": None,
    }
    assert STALE._replace(owner=None).as_dict()["owner"] is None
