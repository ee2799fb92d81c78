"""``_modules/_cloudassist_sdbus.py``, the private-socket D-Bus client: marshalling,
unmarshalling, and a fake systemd peer.  How the host uses it is in ``test_host_bus.py``.

Bytes the client sends and bytes systemd would send are written out by hand here (the
D-Bus specification's "Message Format"), so that an encoder and decoder that agree with each
other but not with the specification fail.  The fake peer is a Unix socket served by a thread;
it speaks just enough of the protocol, and misbehaves on purpose (refuses, truncates, answers
with errors, never answers).
"""

import os
import shutil
import socket
import struct
import tempfile
import threading
import time

import pytest

import _cloudassist_sdbus as sdbus
from _cloudassist_records import UnitState
from _cloudassist_systemd import PROPERTIES, parse_show

UID_HEX = str(os.getuid()).encode("ascii").hex().encode("ascii")
AUTH = b"\0AUTH EXTERNAL " + UID_HEX + b"\r\nBEGIN\r\n"


# ------------------------------------------------------------------------------------------
# A test-side encoder (any type, either endianness), written independently of the module
# ------------------------------------------------------------------------------------------

ALIGN = {
    "y": 1,
    "b": 4,
    "n": 2,
    "q": 2,
    "i": 4,
    "u": 4,
    "x": 8,
    "t": 8,
    "d": 8,
    "h": 4,
    "s": 4,
    "o": 4,
    "g": 1,
    "v": 1,
    "a": 4,
    "(": 8,
    "{": 8,
}
FMT = {
    "y": "B",
    "b": "I",
    "n": "h",
    "q": "H",
    "i": "i",
    "u": "I",
    "x": "q",
    "t": "Q",
    "d": "d",
    "h": "I",
}


def one_type(sig, i=0):
    c = sig[i]
    if c == "a":
        return one_type(sig, i + 1)
    if c in "({":
        j = i + 1
        while sig[j] not in ")}":
            j = one_type(sig, j)
        return j + 1
    return i + 1


def types(sig):
    out, i = [], 0
    while i < len(sig):
        j = one_type(sig, i)
        out.append(sig[i:j])
        i = j
    return out


def pad(buf, n):
    buf.extend(b"\0" * (-len(buf) % n))


def enc(buf, sig, value, o="<"):
    """Append ``value`` of single type ``sig``; offsets count from ``buf[0]``."""
    c = sig[0]
    pad(buf, ALIGN[c])
    if c in FMT:
        buf.extend(struct.pack(o + FMT[c], value))
    elif c in "so":
        raw = value.encode()
        buf.extend(struct.pack(o + "I", len(raw)) + raw + b"\0")
    elif c == "g":
        buf.extend(bytes([len(value)]) + value.encode() + b"\0")
    elif c == "v":
        inner, inner_value = value
        enc(buf, "g", inner, o)
        enc(buf, inner, inner_value, o)
    elif c == "a":
        at = len(buf)
        buf.extend(b"\0\0\0\0")
        pad(buf, ALIGN[sig[1]])
        start = len(buf)
        for item in value:
            enc(buf, sig[1:], item, o)
        buf[at : at + 4] = struct.pack(o + "I", len(buf) - start)
    else:
        for member, item in zip(types(sig[1:-1]), value, strict=False):
            enc(buf, member, item, o)


def message(mtype, serial, fields, sig="", values=(), o="<", flags=0):
    """A whole message; ``fields`` is ``[(code, variant signature, value)]``."""
    body = bytearray()
    for t, v in zip(types(sig), values, strict=False):
        enc(body, t, v, o)
    fields = list(fields) + ([(8, "g", sig)] if sig else [])
    head = bytearray(b"l" if o == "<" else b"B")
    head.extend(struct.pack(o + "BBBII", mtype, flags, 1, len(body), serial))
    enc(head, "a(yv)", [(code, (fsig, fval)) for code, fsig, fval in fields], o)
    pad(head, 8)
    return bytes(head + body)


def reply(serial, props, o="<", reply_serial=None):
    """systemd's answer to GetAll: METHOD_RETURN with an ``a{sv}``."""
    return message(2, serial, [(5, "u", reply_serial or serial)], "a{sv}", [list(props.items())], o)


def service(
    id_="aliyun.service",
    load="loaded",
    active="active",
    sub="running",
    pid=42,
    restarts=0,
    file_state="enabled",
    cgroup=None,
    noise=True,
    result="success",
):
    """The properties systemd's GetAll("") gives for a service: many of other types around the
    wanted ones, in systemd's order (the Service interface first)."""
    props = {}
    if noise:
        props.update(
            {
                "Type": ("s", "simple"),
                "ExitType": ("s", "main"),
                "Restart": ("s", "no"),
                "RestartUSec": ("t", 100000),
                "TimeoutStartUSec": ("t", 90000000),
                "WatchdogTimestampMonotonic": ("t", 0),
                "RootDirectoryStartOnly": ("b", False),
                "ExecStart": (
                    "a(sasbttttuii)",
                    [
                        (
                            "/usr/sbin/aliyun-service",
                            ["/usr/sbin/aliyun-service"],
                            False,
                            1,
                            2,
                            3,
                            4,
                            5,
                            0,
                            0,
                        )
                    ],
                ),
                "StatusErrno": ("i", 0),
                "OOMScoreAdjust": ("i", 0),
                "Nice": ("i", 0),
                "CPUAffinity": ("ay", []),
                "InvocationID": ("ay", list(range(16))),
                "Environment": ("as", ["A=1", "B=2"]),
                "LimitNOFILE": ("t", 524288),
                "IOSchedulingClass": ("i", 2),
                "RestrictNamespaces": ("t", 0),
                "SystemCallFilter": ("(bas)", (False, ["@mount", "@reboot"])),
                "IPAddressAllow": ("a(iayu)", []),
                "UMask": ("u", 18),
                "DynamicUser": ("b", False),
                "ReloadResult": ("s", "success"),
                "ConditionResult": ("b", True),
                "Conditions": ("a(sbbsi)", []),
                "MemoryCurrent": ("t", 2**64 - 1),
                "TasksMax": ("t", 4915),
                "CPUWeight": ("t", 2**64 - 1),
                "Nested": ("v", ("(yt)", (7, 9))),
                "Float": ("d", 1.5),
                "Short": ("n", -2),
                "Unsigned16": ("q", 65535),
                "Byte": ("y", 7),
                "Int64": ("x", -5),
                "Sig": ("g", "a{sv}"),
                "Obj": ("o", "/org/freedesktop/systemd1"),
                "Map": ("a{sv}", [("k", ("s", "v")), ("n", ("t", 3))]),
            }
        )
    props["MainPID"] = ("u", pid)
    props["ControlPID"] = ("u", 0)
    props["NRestarts"] = ("u", restarts)
    props["Result"] = ("s", result)
    props["ControlGroup"] = (
        "s",
        cgroup if cgroup is not None else ("/system.slice/" + id_ if active != "inactive" else ""),
    )
    if noise:
        props["Names"] = ("as", [id_])
        props["Requires"] = ("as", ["sysinit.target"])
    props["Id"] = ("s", id_)
    props["Description"] = ("s", "Stand-in \u00e9 client")
    props["LoadState"] = ("s", load)
    props["ActiveState"] = ("s", active)
    props["FreezerState"] = ("s", "running")
    props["SubState"] = ("s", sub)
    props["FragmentPath"] = ("s", "/etc/systemd/system/" + id_ if load == "loaded" else "")
    props["UnitFileState"] = ("s", file_state)
    props["StartLimitBurst"] = ("u", 5)
    if noise:
        props["InactiveExitTimestamp"] = ("t", 1700000000000000)
        props["CanStart"] = ("b", True)
        props["Job"] = ("(uo)", (0, "/"))
    return props


def not_found(id_="nope.service"):
    return service(id_, "not-found", "inactive", "dead", 0, 0, "", "")


def target(id_="basic.target"):
    return {
        "Id": ("s", id_),
        "Names": ("as", [id_]),
        "LoadState": ("s", "loaded"),
        "ActiveState": ("s", "active"),
        "SubState": ("s", "active"),
        "UnitFileState": ("s", "static"),
        "StartLimitBurst": ("u", 5),
    }


# ------------------------------------------------------------------------------------------
# Names and object paths
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,label",
    [
        ("aliyun.service", "aliyun_2eservice"),
        ("aliyun-service.service", "aliyun_2dservice_2eservice"),
        ("agentwatch.service", "agentwatch_2eservice"),
        ("0foo.service", "_30foo_2eservice"),  # a leading digit is escaped, a later one is not
        ("a0.service", "a0_2eservice"),
        ("getty@tty1.service", "getty_40tty1_2eservice"),
        ("dev-disk-by\\x2duuid.device", "dev_2ddisk_2dby_5cx2duuid_2edevice"),
        ("_x", "_5fx"),
        ("\u00e9", "_c3_a9"),  # bytes of the UTF-8 encoding
        ("", "_"),
    ],
)
def test_label_escape_is_systemds(name, label):
    assert sdbus.escape_label(name) == label


def test_unit_path():
    assert sdbus.unit_path("aliyun.service") == "/org/freedesktop/systemd1/unit/aliyun_2eservice"


@pytest.mark.parametrize(
    "name,unit",
    [
        ("aliyun.service", "aliyun.service"),
        ("agentwatch", "agentwatch.service"),
        ("aliyun-service", "aliyun-service.service"),
        ("basic.target", "basic.target"),
        ("dbus.socket", "dbus.socket"),
        ("foo.bar", "foo.bar.service"),  # not a unit type: systemctl appends .service too
        ("getty@tty1", "getty@tty1.service"),
    ],
)
def test_a_name_without_a_unit_type_is_a_service(name, unit):
    assert sdbus.unit_id(name) == unit


@pytest.mark.parametrize(
    "name", ["", "a b", "x/y", ".service", "@x.service", "\u00e9.service", "a" * 250, None, 7]
)
def test_names_systemctl_would_have_to_mangle_are_left_to_it(name):
    with pytest.raises(sdbus.Unavailable):
        sdbus.unit_id(name)


# ------------------------------------------------------------------------------------------
# Marshalling: the exact bytes of a call
# ------------------------------------------------------------------------------------------

GETALL_ALIYUN = (
    # l, METHOD_CALL, flags 0, version 1, body length 5, serial 1, header fields 119 bytes
    b"l\x01\x00\x01"
    + b"\x05\x00\x00\x00"
    + b"\x01\x00\x00\x00"
    + b"\x77\x00\x00\x00"
    # PATH (1), variant 'o': length 47, the path, NUL (offset 16 -> 72)
    + b"\x01\x01o\x00"
    + b"\x2f\x00\x00\x00"
    + b"/org/freedesktop/systemd1/unit/aliyun_2eservice\x00"
    # INTERFACE (2), variant 's': length 31 (72 -> 112)
    + b"\x02\x01s\x00"
    + b"\x1f\x00\x00\x00"
    + b"org.freedesktop.DBus.Properties\x00"
    # MEMBER (3), variant 's': length 6 (112 -> 127), then one byte to align 8
    + b"\x03\x01s\x00"
    + b"\x06\x00\x00\x00"
    + b"GetAll\x00"
    + b"\x00"
    # SIGNATURE (8), variant 'g': "s" (128 -> 135), then the header is padded to 136
    + b"\x08\x01g\x00"
    + b"\x01s\x00"
    + b"\x00"
    # body: the empty string (length 0, NUL)
    + b"\x00\x00\x00\x00\x00"
)


def test_getall_call_bytes():
    assert sdbus.get_all(1, sdbus.unit_path("aliyun.service")) == GETALL_ALIYUN
    assert len(GETALL_ALIYUN) == 141


def test_method_call_with_two_string_arguments():
    call = sdbus.method_call(
        7,
        "/a",
        "org.freedesktop.DBus.Properties",
        member="Get",
        args=("org.freedesktop.systemd1.Unit", "Id"),
    )
    body = (
        b"\x1d\x00\x00\x00org.freedesktop.systemd1.Unit\x00"
        + b"\x00\x00"
        + b"\x02\x00\x00\x00Id\x00"
    )
    assert call.endswith(body)
    # fields: PATH 16 -> 27, pad to 32, INTERFACE -> 72, MEMBER -> 84, pad to 88, SIGNATURE -> 96
    assert struct.unpack_from("<III", call, 4) == (len(body), 7, 80)
    assert len(call) == 96 + len(body)
    msg = sdbus.parse_message(call)
    assert msg.type == sdbus.METHOD_CALL and msg.serial == 7
    assert msg.fields == {1: "/a", 2: "org.freedesktop.DBus.Properties", 3: "Get", 8: "ss"}
    assert msg.values() == ["org.freedesktop.systemd1.Unit", "Id"]


def test_auth_request_is_the_uid_in_hex_with_begin():
    assert sdbus.auth_request(0) == b"\0AUTH EXTERNAL 30\r\nBEGIN\r\n"
    assert sdbus.auth_request(1000) == b"\0AUTH EXTERNAL 31303030\r\nBEGIN\r\n"


# ------------------------------------------------------------------------------------------
# Unmarshalling: hand-written replies
# ------------------------------------------------------------------------------------------

# GetAll's reply body {"Id": <"a.service">, "MainPID": <7>}, written out by hand.
SMALL_BODY = (
    b"\x34\x00\x00\x00"
    + b"\x00\x00\x00\x00"  # array of 52 bytes; entries align to 8
    + b"\x02\x00\x00\x00Id\x00"
    + b"\x01s\x00"
    + b"\x00\x00"  # key, variant signature, pad to 4
    + b"\x09\x00\x00\x00a.service\x00"
    + b"\x00\x00\x00\x00\x00\x00"  # value, pad to 8 (40)
    + b"\x07\x00\x00\x00MainPID\x00"
    + b"\x01u\x00"
    + b"\x00"  # (40 -> 56)
    + b"\x07\x00\x00\x00"  # (56 -> 60)
)

# The METHOD_RETURN carrying it: REPLY_SERIAL 3, SIGNATURE a{sv}, and fields the client does
# not know: SENDER (7) and an invented code 42 whose variant "(yt)" needs 8-alignment inside.
SMALL_REPLY = (
    b"l\x02\x01\x01"
    + struct.pack("<I", len(SMALL_BODY))
    + b"\x09\x00\x00\x00"
    + b"\x3b\x00\x00\x00"
    + b"\x05\x01u\x00"
    + b"\x03\x00\x00\x00"  # REPLY_SERIAL (16 -> 24)
    + b"\x07\x01s\x00"
    + b"\x04\x00\x00\x00:1.1\x00"
    + b"\x00\x00\x00"  # SENDER (24 -> 40)
    + b"\x2a\x04(yt)\x00"  # code 42, signature "(yt)" (40 -> 47)
    + b"\x00"
    + b"\x05"
    + b"\x00" * 7
    + struct.pack("<Q", 2**40)  # struct at 48 (-> 64)
    + b"\x08\x01g\x00"
    + b"\x05a{sv}\x00"  # SIGNATURE (64 -> 75)
    + b"\x00" * 5  # header padded to 80
    + SMALL_BODY
)


def test_hand_written_reply_is_read():
    msg = sdbus.parse_message(SMALL_REPLY)
    assert (msg.type, msg.flags, msg.serial, msg.reply_serial, msg.signature) == (
        2,
        1,
        9,
        3,
        "a{sv}",
    )
    assert msg.fields[7] == ":1.1" and msg.fields[42] == (5, 2**40)
    assert msg.values() == [[("Id", ("s", "a.service")), ("MainPID", ("u", 7))]]
    assert sdbus.scan_properties(msg.body, "l") == {"Id": ("s", "a.service"), "MainPID": ("u", 7)}


def test_test_encoder_agrees_with_the_hand_written_bytes():
    assert len(SMALL_REPLY) == 80 + len(SMALL_BODY)
    body = bytearray()
    enc(body, "a{sv}", [("Id", ("s", "a.service")), ("MainPID", ("u", 7))])
    assert bytes(body) == SMALL_BODY


@pytest.mark.parametrize("order", ["<", ">"])
def test_scan_finds_the_wanted_properties_among_any_others(order):
    props = service()
    data = reply(1, props, order)
    msg = sdbus.parse_message(data)
    assert msg.endian == ("l" if order == "<" else "B")
    everything = dict(msg.values()[0])
    assert everything["SystemCallFilter"] == ("(bas)", (False, ["@mount", "@reboot"]))
    assert everything["Nested"] == ("v", ("(yt)", (7, 9)))
    assert everything["Float"] == ("d", 1.5) and everything["Int64"] == ("x", -5)
    wanted = {name: value for name, value in props.items() if name in PROPERTIES}
    assert sdbus.scan_properties(msg.body, msg.endian) == wanted
    # Every entry can be stepped over: asking for all of them finds all of them.
    assert (
        sdbus.scan_properties(msg.body, msg.endian, frozenset(k.encode() for k in props)) == props
    )


def test_scan_of_a_unit_without_service_properties():
    msg = sdbus.parse_message(reply(1, target()))
    assert set(sdbus.scan_properties(msg.body, "l")) == {
        "Id",
        "LoadState",
        "ActiveState",
        "SubState",
        "UnitFileState",
        "StartLimitBurst",
    }


def test_skip_steps_over_each_type():
    for sig, value in [
        ("y", 1),
        ("b", True),
        ("n", -1),
        ("q", 1),
        ("i", -1),
        ("u", 1),
        ("x", -1),
        ("t", 1),
        ("d", 0.5),
        ("h", 0),
        ("s", "abc"),
        ("o", "/a"),
        ("g", "a{sv}"),
        ("v", ("as", ["x"])),
        ("as", ["a", "bc"]),
        ("at", [1, 2]),
        ("a(st)", [("a", 1)]),
        ("(bas)", (True, ["x"])),
        ("a{sv}", [("k", ("t", 1))]),
        ("aay", [[1, 2], []]),
        ("(uo)", (1, "/")),
    ]:
        for lead in range(8):  # every starting alignment
            buf = bytearray(b"\x00" * lead)
            enc(buf, sig, value)
            assert sdbus.skip(bytes(buf), lead, sig) == len(buf), (sig, lead)
            decoder = sdbus.Decoder(bytes(buf), "l")
            decoder.pos = lead
            assert decoder.read(sig) == value, (sig, lead)


@pytest.mark.parametrize(
    "variant,text",
    [
        (("u", 0), "0"),
        (("u", 4294967295), "4294967295"),
        (("s", ""), ""),
        (("s", "/system.slice/aliyun.service"), "/system.slice/aliyun.service"),
        (("t", 2**64 - 1), "18446744073709551615"),
        (("i", -1), "-1"),
        (("b", True), "yes"),
        (("b", False), "no"),
        (("o", "/"), "/"),
    ],
)
def test_values_print_as_systemctl_prints_them(variant, text):
    assert sdbus.format_value(variant) == text


def test_a_container_value_is_not_printed():
    with pytest.raises(sdbus.ProtocolError):
        sdbus.format_value(("as", ["x"]))


@pytest.mark.parametrize(
    "sig,data",
    [
        ("s", b"\x05\x00\x00\x00abc"),  # shorter than its length
        ("s", b"\x03\x00\x00\x00abcd"),  # no NUL
        ("s", b"\x02\x00\x00\x00\xff\xfe\x00"),  # not UTF-8
        ("b", b"\x02\x00\x00\x00"),  # a boolean is 0 or 1
        ("(yu)", b"\x01\x01\x00\x00\x05\x00\x00\x00"),  # non-zero padding
        ("v", b"\x02ss\x00"),  # a variant holds one type
        ("v", b"\x01z\x00"),  # no such type
        ("v", b"\x01a\x00"),  # an array of nothing
        ("au", b"\x08\x00\x00\x00\x01\x00\x00\x00"),  # array longer than the data
        ("au", b"\x06\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00"),  # elements overrun it
        ("v", b"\x01v\x00" * 200),  # variants nested too deep, and running out of data
    ],
)
def test_malformed_values_are_protocol_errors(sig, data):
    with pytest.raises(sdbus.ProtocolError):
        sdbus.Decoder(data, "l").read(sig)


@pytest.mark.parametrize(
    "data",
    [
        b"x\x02\x00\x01" + b"\x00" * 12,  # no endianness mark
        b"l\x02\x00\x02" + b"\x00" * 12,  # version 2
        b"l\x02\x00\x01" + b"\x00" * 4 + b"\x00\x00\x00\x00" + b"\x00" * 4,  # serial 0
        b"l\x02\x00\x01" + struct.pack("<III", 1 << 27, 1, 0),  # too big
        SMALL_REPLY[:-1],  # shorter than its header says
        SMALL_REPLY + b"\x00",  # longer than its header says
        SMALL_REPLY[:75]
        + b"\x00\x00\x01\x00\x00"
        + SMALL_REPLY[80:],  # non-zero padding after the header
    ],
)
def test_malformed_messages_are_protocol_errors(data):
    with pytest.raises(sdbus.ProtocolError):
        sdbus.parse_message(data)


def test_scan_refuses_an_array_longer_than_the_body():
    body = bytearray(SMALL_BODY)
    body[0] = 0x40
    with pytest.raises(sdbus.ProtocolError):
        sdbus.scan_properties(bytes(body), "l")


# ------------------------------------------------------------------------------------------
# A fake systemd on a Unix socket
# ------------------------------------------------------------------------------------------


class Peer:
    """Serves one connection with ``handler(conn, peer)`` in a thread; ``path`` is its socket."""

    def __init__(self, handler):
        self.dir = tempfile.mkdtemp(prefix="sdbus-", dir="/tmp")  # short: sun_path is 108 bytes
        self.path = os.path.join(self.dir, "private")
        self.handler = handler
        self.calls = []  # the messages the client sent
        self.errors = []
        self.before_ok = None
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.server.settimeout(10)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.server.accept()
        except OSError as exc:
            self.errors.append(exc)
            return
        with conn:
            conn.settimeout(10)
            try:
                self.handler(conn, self)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as it should have
            except Exception as exc:  # reported by close()
                self.errors.append(exc)
            self.done.wait(10)  # hold the connection open until the test ends

    def read_auth(self, conn):
        data = b""
        while not data.endswith(b"BEGIN\r\n"):
            chunk = conn.recv(4096)
            if not chunk:
                raise AssertionError(f"client closed during auth: {data!r}")
            data += chunk
        assert data == AUTH, data
        # Nothing may follow BEGIN until OK was sent (systemd would leave it unprocessed).
        time.sleep(0.05)
        conn.setblocking(False)
        try:
            self.before_ok = conn.recv(4096)
        except BlockingIOError:
            self.before_ok = b""
        conn.settimeout(10)

    def read_calls(self, conn, count):
        buf = b""
        calls = []
        while len(calls) < count:
            while len(buf) < 16:
                buf += conn.recv(65536)
            _, _, _, body_length, _, fields_length = sdbus.parse_fixed_header(buf[:16])
            total = sdbus.header_length(fields_length) + body_length
            while len(buf) < total:
                buf += conn.recv(65536)
            calls.append(sdbus.parse_message(buf[:total]))
            buf = buf[total:]
        self.calls.extend(calls)
        return calls

    def close(self):
        self.done.set()
        self.thread.join(15)
        self.server.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        assert not self.thread.is_alive()
        assert not self.errors, self.errors


@pytest.fixture
def peer():
    peers = []

    def make(handler):
        p = Peer(handler)
        peers.append(p)
        return p

    yield make
    for p in peers:
        p.close()


def systemd_like(units, order="<", extra=None):
    """A handler answering GetAll per unit from ``units`` (unit id -> properties), with signals
    before, between and after, and the replies in reverse order."""

    def handler(conn, p):
        p.read_auth(conn)
        conn.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
        calls = p.read_calls(conn, len(units))
        out = [
            message(
                4,
                900,
                [
                    (1, "o", "/org/freedesktop/systemd1"),
                    (2, "s", "org.freedesktop.systemd1.Manager"),
                    (3, "s", "UnitNew"),
                ],
                "so",
                ["x.service", "/x"],
                order,
            )
        ]
        out.append(message(2, 901, [(5, "u", 999)], "s", ["a reply to nobody"], order))
        for serial, call in reversed(list(enumerate(calls, 1))):
            assert (
                call.fields[2] == "org.freedesktop.DBus.Properties" and call.fields[3] == "GetAll"
            )
            assert call.values() == [""]
            label = call.fields[1].rsplit("/", 1)[1]
            props = units[label]
            if isinstance(props, bytes):
                out.append(props)
            else:
                out.append(reply(1000 + serial, props, order, reply_serial=call.serial))
            out.append(
                message(
                    4,
                    950 + serial,
                    [(1, "o", call.fields[1]), (3, "s", "PropertiesChanged")],
                    "sa{sv}as",
                    ["org.freedesktop.systemd1.Unit", [("ActiveState", ("s", "x"))], []],
                    order,
                )
            )
        conn.sendall(b"".join(out) + (extra or b""))

    return handler


EXPECTED_RUNNING = {
    "Id": "aliyun.service",
    "LoadState": "loaded",
    "ActiveState": "active",
    "SubState": "running",
    "MainPID": "42",
    "NRestarts": "0",
    "UnitFileState": "enabled",
    "ControlGroup": "/system.slice/aliyun.service",
    "Result": "success",
    "StartLimitBurst": "5",
}
EXPECTED_NOT_FOUND = {
    "Id": "nope.service",
    "LoadState": "not-found",
    "ActiveState": "inactive",
    "SubState": "dead",
    "MainPID": "0",
    "NRestarts": "0",
    "UnitFileState": "",
    "ControlGroup": "",
    "Result": "success",
    "StartLimitBurst": "5",
}


@pytest.mark.parametrize("order", ["<", ">"])
def test_properties_from_a_fake_systemd(peer, order):
    p = peer(
        systemd_like(
            {
                "aliyun_2eservice": service(),
                "nope_2eservice": not_found(),
                "agentwatch_2eservice": service(
                    "agentwatch.service",
                    active="activating",
                    sub="auto-restart",
                    pid=0,
                    restarts=3,
                    file_state="disabled",
                    cgroup="",
                ),
                "basic_2etarget": target(),
            },
            order,
        )
    )
    got = sdbus.unit_properties(
        ["aliyun.service", "nope.service", "agentwatch", "basic.target"], timeout=5, path=p.path
    )
    assert got == [
        EXPECTED_RUNNING,
        EXPECTED_NOT_FOUND,
        {
            "Id": "agentwatch.service",
            "LoadState": "loaded",
            "ActiveState": "activating",
            "SubState": "auto-restart",
            "MainPID": "0",
            "NRestarts": "3",
            "UnitFileState": "disabled",
            "ControlGroup": "",
            "Result": "success",
            "StartLimitBurst": "5",
        },
        {
            "Id": "basic.target",
            "LoadState": "loaded",
            "ActiveState": "active",
            "SubState": "active",
            "UnitFileState": "static",
            "StartLimitBurst": "5",
        },
    ]
    assert list(got[0]) == list(PROPERTIES)  # in systemctl's --property order
    assert p.before_ok == b""
    assert [c.fields[1] for c in p.calls] == [
        "/org/freedesktop/systemd1/unit/aliyun_2eservice",
        "/org/freedesktop/systemd1/unit/nope_2eservice",
        "/org/freedesktop/systemd1/unit/agentwatch_2eservice",
        "/org/freedesktop/systemd1/unit/basic_2etarget",
    ]
    assert [c.serial for c in p.calls] == [1, 2, 3, 4]


def test_unit_states_are_what_parse_show_makes_of_systemctl(peer):
    units = ["aliyun.service", "nope", "basic.target"]
    p = peer(
        systemd_like(
            {
                "aliyun_2eservice": service(),
                "nope_2eservice": not_found(),
                "basic_2etarget": target(),
            }
        )
    )
    states = sdbus.unit_states(units, timeout=5, path=p.path)
    # What `systemctl show --property=...` prints for them (MainPID etc. first, as it does).
    show = (
        "MainPID=42\nNRestarts=0\nResult=success\nControlGroup=/system.slice/aliyun.service\n"
        "Id=aliyun.service\nLoadState=loaded\nActiveState=active\nSubState=running\n"
        "UnitFileState=enabled\nStartLimitBurst=5\n\n"
        "MainPID=0\nNRestarts=0\nResult=success\nControlGroup=\nId=nope.service\n"
        "LoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n"
        "StartLimitBurst=5\n\n"
        "Id=basic.target\nLoadState=loaded\nActiveState=active\nSubState=active\nUnitFileState=static\n"
        "StartLimitBurst=5\n"
    )
    assert states == parse_show(show, units)
    assert states[1] == UnitState(
        "nope", "not-found", "inactive", "dead", 0, 0, "", "", result="success", start_limit_burst=5
    )
    assert states[0].main_pid == 42 and states[0].name == "aliyun.service"


def test_no_units_no_connection():
    assert sdbus.unit_properties([], path="/nonexistent/private") == []
    assert sdbus.unit_states((), path="/nonexistent/private") == ()


def test_a_single_name_is_one_unit(peer):
    p = peer(systemd_like({"aliyun_2eservice": service()}))
    assert sdbus.unit_properties("aliyun.service", timeout=5, path=p.path) == [EXPECTED_RUNNING]


# -- what goes wrong ---------------------------------------------------------------------------


def unavailable(path, timeout=5.0, units=("aliyun.service",)):
    started = time.monotonic()
    with pytest.raises(sdbus.Unavailable) as info:
        sdbus.unit_properties(list(units), timeout=timeout, path=path)
    return info.value, time.monotonic() - started


def test_no_socket():
    exc, _ = unavailable("/nonexistent/run/systemd/private")
    assert "no /nonexistent/run/systemd/private" in exc.reason


def test_not_a_socket(tmp_path):
    (tmp_path / "private").write_text("")
    exc, _ = unavailable(str(tmp_path / "private"))
    assert "cannot connect" in exc.reason


def test_nobody_listening():
    d = tempfile.mkdtemp(prefix="sdbus-", dir="/tmp")
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(os.path.join(d, "private"))
        s.close()  # the socket file stays, nobody accepts
        exc, _ = unavailable(os.path.join(d, "private"))
        assert "cannot connect" in exc.reason
    finally:
        shutil.rmtree(d)


def test_permission_denied(monkeypatch):
    def connect(self, path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(sdbus.socket.socket, "connect", connect)
    exc, _ = unavailable("/run/systemd/private")
    assert "root only" in exc.reason


def test_auth_refused(peer):
    def handler(conn, p):
        p.read_auth(conn)
        conn.sendall(b"REJECTED EXTERNAL\r\n")

    p = peer(handler)
    exc, _ = unavailable(p.path)
    assert "refused the authentication: REJECTED EXTERNAL" in exc.reason


def test_closed_during_auth(peer):
    def handler(conn, p):
        conn.recv(100)
        conn.shutdown(socket.SHUT_RDWR)

    p = peer(handler)
    exc, _ = unavailable(p.path)
    assert "closed the connection" in exc.reason


def test_truncated_reply(peer):
    def handler(conn, p):
        p.read_auth(conn)
        conn.sendall(b"OK 0123\r\n")
        p.read_calls(conn, 1)
        conn.sendall(reply(1, service())[:-10])
        conn.shutdown(socket.SHUT_RDWR)

    p = peer(handler)
    exc, _ = unavailable(p.path)
    assert "closed the connection" in exc.reason


def test_error_reply(peer):
    def handler(conn, p):
        p.read_auth(conn)
        conn.sendall(b"OK 0123\r\n")
        (call,) = p.read_calls(conn, 1)
        conn.sendall(
            message(
                3,
                5,
                [(4, "s", "org.freedesktop.DBus.Error.AccessDenied"), (5, "u", call.serial)],
                "s",
                ["Access denied"],
            )
        )

    p = peer(handler)
    exc, _ = unavailable(p.path)
    assert exc.reason == (
        "systemd answered GetAll of aliyun.service with "
        "org.freedesktop.DBus.Error.AccessDenied: Access denied"
    )


def test_reply_of_the_wrong_type(peer):
    def handler(conn, p):
        p.read_auth(conn)
        conn.sendall(b"OK 0123\r\n")
        (call,) = p.read_calls(conn, 1)
        conn.sendall(message(2, 5, [(5, "u", call.serial)], "v", [("s", "x")]))

    p = peer(handler)
    exc, _ = unavailable(p.path)
    assert "signature 'v'" in exc.reason


def test_reply_without_id(peer):
    p = peer(systemd_like({"aliyun_2eservice": {"LoadState": ("s", "loaded")}}))
    exc, _ = unavailable(p.path)
    assert "no Id" in exc.reason


def test_garbage_reply(peer):
    p = peer(systemd_like({"aliyun_2eservice": b"HTTP/1.1 400 Bad Request\r\n\r\n"}))
    exc, _ = unavailable(p.path)
    assert "unexpected D-Bus data" in exc.reason


@pytest.mark.parametrize(
    "offset,value",
    [
        (1, 0x7F),  # the property array's length, far beyond the body
        (8, 0x7F),  # the first key's length
        (9, 0x01),
    ],
)
def test_corrupt_property_array(peer, offset, value):
    good = reply(1, service())
    start = len(good) - len(sdbus.parse_message(good).body)
    bad = bytearray(good)
    bad[start + offset] = value

    def handler(conn, p):
        p.read_auth(conn)
        conn.sendall(b"OK 0123\r\n")
        p.read_calls(conn, 1)
        conn.sendall(bytes(bad))

    p = peer(handler)
    exc, _ = unavailable(p.path)
    assert "unexpected D-Bus data" in exc.reason or "failed" in exc.reason, exc.reason


def test_peer_never_answers_auth(peer):
    p = peer(lambda conn, p: conn.recv(100))
    exc, elapsed = unavailable(p.path, timeout=0.3)
    assert "did not answer" in exc.reason and "0.3 s" in exc.reason
    assert elapsed < 1.5


def test_peer_never_answers_the_calls(peer):
    def handler(conn, p):
        p.read_auth(conn)
        conn.sendall(b"OK 0123\r\n")

    p = peer(handler)
    exc, elapsed = unavailable(p.path, timeout=0.4)
    assert "did not answer" in exc.reason
    assert 0.3 < elapsed < 1.5


def test_a_trickling_peer_does_not_stretch_the_deadline(peer):
    def handler(conn, p):
        p.read_auth(conn)
        conn.sendall(b"OK 0123\r\n")
        p.read_calls(conn, 1)
        for byte in reply(1, service()):
            conn.sendall(bytes([byte]))
            time.sleep(0.02)
            if p.done.is_set():
                return

    p = peer(handler)
    exc, elapsed = unavailable(p.path, timeout=0.5)
    assert "did not answer" in exc.reason
    assert elapsed < 1.5


def test_endless_auth_line(peer):
    def handler(conn, p):
        p.read_auth(conn)
        conn.sendall(b"OK " + b"0" * 10000)

    p = peer(handler)
    exc, _ = unavailable(p.path)
    assert "longer than" in exc.reason


def test_an_unmangled_name_never_reaches_the_socket():
    exc, _ = unavailable("/nonexistent/private", units=["aliyun.service", "a b"])
    assert "'a b'" in exc.reason
