"""systemd's view of units read over its private D-Bus socket, without spawning ``systemctl``.

``systemctl show --property=... UNIT...`` costs a process; the same properties read from
``/run/systemd/private`` cost about half (in a booted nspawn container: 2.4 to 4.3 ms against
7.5 to 8.4 ms for one unit, 4.8 to 6.2 ms against 10 to 13 ms for status's two candidates; of
that, about 1.7 ms is systemd setting up the connection).  This is the smallest D-Bus client
that does it: standard library only (``socket``, ``struct``, ``os``, ``time``), peer to
peer with systemd (no bus daemon: as ``systemctl`` talks to systemd when run as root).

Per unit it sends what ``systemctl show`` sends: one ``org.freedesktop.DBus.Properties.GetAll``
with the empty interface name (every interface of the unit), all units' calls in one write,
the replies matched by serial.  One call per unit, not one ``Get`` per property, because
systemd loads a unit nobody references (one that does not exist, or is stopped and not
wanted) for each message and unloads it again right after: eight ``Get`` calls loaded it eight
times and sent every private connection a ``UnitNew``, ``UnitRemoved`` and a train of
``PropertiesChanged`` signals each time (17 ms for one stopped, disabled service).  One
``GetAll`` is also one consistent snapshot of the unit, as ``systemctl show`` has it.  Of the
reply (about 400 properties, 14 kB for a service) only the wanted ones are decoded; the rest
are skipped by their lengths.

``unit_properties(units)`` gives, per unit, the properties as ``systemctl show`` prints them;
``unit_states(units)`` the ``UnitState`` records ``systemd.parse_show`` makes of
that output.

Anything that goes wrong (no socket, not root, authentication refused, a protocol error, an
error reply, no answer within ``timeout``) raises ``Unavailable``: the caller then asks
``systemctl`` as before.  Every socket operation has a timeout bounded by one deadline for the
whole call, so a call never hangs.
"""

import os
import socket
import struct
import time

import _cloudassist_systemd as systemd

SOCKET_PATH = "/run/systemd/private"
UNIT_PATH_PREFIX = "/org/freedesktop/systemd1/unit/"
PROPERTIES_INTERFACE = "org.freedesktop.DBus.Properties"

# The properties ``systemctl show`` is asked for (``systemd.PROPERTIES``), as the reply names them.
_WANTED = frozenset(name.encode("ascii") for name in systemd.PROPERTIES)

UNIT_TYPES = frozenset(
    (
        "service",
        "socket",
        "target",
        "device",
        "mount",
        "automount",
        "swap",
        "timer",
        "path",
        "slice",
        "scope",
    )
)
UNIT_NAME_MAX = 255
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@")
_LABEL_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

# Message types and header fields (D-Bus specification, "Message Format").
METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
PATH, INTERFACE, MEMBER, ERROR_NAME, REPLY_SERIAL, DESTINATION, SENDER, SIGNATURE, UNIX_FDS = range(
    1, 10
)
MAX_MESSAGE = 1 << 27  # the specification's maximum message length
MAX_ARRAY = 1 << 26
MAX_DEPTH = 64

_ALIGN = {
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
_FIXED = {
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
_SIZE = {c: struct.calcsize("<" + f) for c, f in _FIXED.items()}
_U32 = {"<": struct.Struct("<I"), ">": struct.Struct(">I")}


class Unavailable(Exception):
    """systemd could not be asked over its private socket; ``reason`` says why."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class ProtocolError(ValueError):
    """Bytes that are not what the D-Bus specification allows."""


# --------------------------------------------------------------------------------------------
# Unit names and object paths
# --------------------------------------------------------------------------------------------


def unit_id(name):
    """The unit ``name`` means, as ``systemctl`` mangles it: without a unit type's suffix, a
    ``.service``.  A name systemctl would have to escape raises ``Unavailable``."""
    if (
        not isinstance(name, str)
        or not name
        or name.startswith((".", "@"))
        or not set(name) <= _NAME_CHARS
    ):
        raise Unavailable(f"unit name {name!r} is not one this client sends as it is")
    stem, dot, suffix = name.rpartition(".")
    if not (dot and stem and suffix in UNIT_TYPES):
        name += ".service"
    if len(name) > UNIT_NAME_MAX:
        raise Unavailable(f"unit name {name!r} is too long")
    return name


def escape_label(text):
    """sd-bus's object path label escape (``bus_label_escape``): every byte but an ASCII
    letter or (not first) digit becomes ``_`` and two lower-case hex digits."""
    raw = text.encode("utf-8")
    if not raw:
        return "_"
    out = []
    for i, byte in enumerate(raw):
        if byte in _LABEL_CHARS and not (i == 0 and 0x30 <= byte <= 0x39):
            out.append(chr(byte))
        else:
            out.append(f"_{byte:02x}")
    return "".join(out)


def unit_path(name):
    """The object path systemd gives unit ``name`` (a full unit name)."""
    return UNIT_PATH_PREFIX + escape_label(name)


# --------------------------------------------------------------------------------------------
# Marshalling (little endian, only what a method call with string arguments needs)
# --------------------------------------------------------------------------------------------


def _pad(buf, alignment):
    buf.extend(b"\0" * (-len(buf) % alignment))


def _put_string(buf, text):
    raw = text.encode("utf-8")
    _pad(buf, 4)
    buf.extend(struct.pack("<I", len(raw)))
    buf.extend(raw)
    buf.append(0)


def _put_signature(buf, text):
    raw = text.encode("ascii")
    buf.append(len(raw))
    buf.extend(raw)
    buf.append(0)


def _put_field(buf, code, sig, *, value):
    _pad(buf, 8)
    buf.append(code)
    _put_signature(buf, sig)
    if sig == "g":
        _put_signature(buf, value)
    else:
        _put_string(buf, value)


def method_call(serial, path, interface, *, member, args=()):
    """A METHOD_CALL message whose arguments are all strings (signature ``s...``)."""
    body = bytearray()
    for arg in args:
        _put_string(body, arg)
    fields = bytearray()  # starts at offset 16 of the message, which is 8-aligned
    _put_field(fields, PATH, "o", value=path)
    _put_field(fields, INTERFACE, "s", value=interface)
    _put_field(fields, MEMBER, "s", value=member)
    if args:
        _put_field(fields, SIGNATURE, "g", value="s" * len(args))
    message = bytearray(
        struct.pack("<cBBBIII", b"l", METHOD_CALL, 0, 1, len(body), serial, len(fields))
    )
    message.extend(fields)
    _pad(message, 8)
    message.extend(body)
    return bytes(message)


def get_all(serial, path, interface=""):
    """``Properties.GetAll(interface)``; the empty name means every interface of the object."""
    return method_call(serial, path, PROPERTIES_INTERFACE, member="GetAll", args=(interface,))


# --------------------------------------------------------------------------------------------
# Unmarshalling (either endianness, any type, so that unknown header fields are skipped
# by the alignment rules)
# --------------------------------------------------------------------------------------------


def _type_end(sig, i):
    """Index just after the single complete type that starts at ``sig[i]``."""
    if i >= len(sig):
        raise ProtocolError(f"signature {sig!r} ends inside a type")
    c = sig[i]
    if c in _FIXED or c in "sogv":
        return i + 1
    if c == "a":
        return _type_end(sig, i + 1)
    if c in "({":
        close = ")" if c == "(" else "}"
        j = i + 1
        count = 0
        while j < len(sig) and sig[j] != close:
            j = _type_end(sig, j)
            count += 1
        if j >= len(sig) or count == 0 or (c == "{" and count != 2):
            raise ProtocolError(f"bad container in signature {sig!r}")
        return j + 1
    raise ProtocolError(f"unknown type {c!r} in signature {sig!r}")


def split_signature(sig):
    """The complete types of a signature: ``"sa{sv}"`` -> ``["s", "a{sv}"]``."""
    types = []
    i = 0
    while i < len(sig):
        j = _type_end(sig, i)
        types.append(sig[i:j])
        i = j
    return types


class Variant(tuple):
    """A decoded variant: ``(signature, value)``."""

    __slots__ = ()

    def __new__(cls, sig, value):
        return tuple.__new__(cls, (sig, value))

    @property
    def sig(self):
        return self[0]

    @property
    def value(self):
        return self[1]


class Decoder:
    """Reads D-Bus values from ``data``; offsets (and so alignment) count from ``base``,
    the position of ``data[0]`` in its message."""

    def __init__(self, data, endian, base=0):
        if endian not in "lB":
            raise ProtocolError(f"endianness {endian!r}")
        self.data = data
        self.order = "<" if endian == "l" else ">"
        self.base = base
        self.pos = 0

    def _align(self, alignment):
        pad = -(self.base + self.pos) % alignment
        if self.data[self.pos : self.pos + pad].strip(b"\0"):
            raise ProtocolError("non-zero padding")
        self._take(pad)

    def _take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError(
                f"message ends at {len(self.data)} where {n} more bytes were expected"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def _text(self, length):
        raw = self._take(length)
        if self._take(1) != b"\0":
            raise ProtocolError("string without its terminating NUL")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("string that is not UTF-8") from None

    def read(self, sig, depth=0):
        """The value of the single complete type ``sig``."""
        if depth > MAX_DEPTH:
            raise ProtocolError("values nested too deep")
        c = sig[0]
        self._align(_ALIGN[c])
        if c in _FIXED:
            fmt = self.order + _FIXED[c]
            (value,) = struct.unpack(fmt, self._take(struct.calcsize(fmt)))
            if c == "b":
                if value > 1:
                    raise ProtocolError(f"boolean {value}")
                return bool(value)
            return value
        if c in "so":
            (length,) = struct.unpack(self.order + "I", self._take(4))
            return self._text(length)
        if c == "g":
            return self._text(self._take(1)[0])
        if c == "v":
            inner = single_type(self._text(self._take(1)[0]))
            return Variant(inner, self.read(inner, depth + 1))
        if c == "a":
            (length,) = struct.unpack(self.order + "I", self._take(4))
            if length > 1 << 26:
                raise ProtocolError(f"array of {length} bytes")
            element = sig[1:]
            self._align(_ALIGN[element[0]])
            end = self.pos + length
            if end > len(self.data):
                raise ProtocolError("array runs past the end of the message")
            items = []
            while self.pos < end:
                items.append(self.read(element, depth + 1))
            if self.pos != end:
                raise ProtocolError("array elements overrun the array's length")
            return items
        # struct or dict entry
        return tuple(self.read(t, depth + 1) for t in split_signature(sig[1:-1]))

    def read_all(self, sig):
        values = [self.read(t) for t in split_signature(sig)]
        return values


def skip(data, pos, sig, *, order="<"):
    """Where the value of the single complete type ``sig`` at ``data[pos]`` ends, found from
    its lengths (an array is jumped over whole) without decoding it."""
    c = sig[0]
    size = _SIZE.get(c)
    if size is not None:
        return pos + (-pos % _ALIGN[c]) + size
    if c == "s" or c == "o":
        pos += -pos % 4
        return pos + 5 + _U32[order].unpack_from(data, pos)[0]
    if c == "a":
        pos += -pos % 4
        length = _U32[order].unpack_from(data, pos)[0]
        if length > MAX_ARRAY:
            raise ProtocolError(f"array of {length} bytes")
        pos += 4
        return pos + (-pos % _ALIGN[sig[1]]) + length
    if c == "g":
        return pos + data[pos] + 2
    if c == "v":
        length = data[pos]
        inner = single_type(data[pos + 1 : pos + 1 + length].decode("ascii"))
        return skip(data, pos + 2 + length, inner, order=order)
    pos += -pos % 8
    for member in _members(sig):
        pos = skip(data, pos, member, order=order)
    return pos


_MEMBERS = {}
_SINGLE = set()


def single_type(sig):
    """``sig``, checked to be one complete type (as a variant's signature must be)."""
    if sig not in _SINGLE:
        if len(split_signature(sig)) != 1:
            raise ProtocolError(f"variant signature {sig!r} is not a single type")
        if len(_SINGLE) < 1024:
            _SINGLE.add(sig)
    return sig


def _members(sig):
    """The member types of a struct or dict entry signature (cached: systemd's are few)."""
    members = _MEMBERS.get(sig)
    if members is None:
        members = split_signature(sig[1:-1])
        if len(_MEMBERS) < 1024:
            _MEMBERS[sig] = members
    return members


_PLANS = {}


def _plan(raw):
    """How to step over a value of signature ``raw`` (bytes): ``(sig, kind, alignment,
    size)``, kind 0 a fixed-size type, 1 a string or object path, 2 an array, 3 anything
    else (walked by ``skip``).  Cached: systemd's properties have a few dozen signatures."""
    plan = _PLANS.get(raw)
    if plan is None:
        sig = single_type(raw.decode("ascii"))
        c = sig[0]
        if c in _SIZE:
            plan = (sig, 0, _ALIGN[c], _SIZE[c])
        elif c in "so":
            plan = (sig, 1, 4, 0)
        elif c == "a":
            plan = (sig, 2, _ALIGN[sig[1]], 0)
        else:
            plan = (sig, 3, 8, 0)
        if len(_PLANS) < 1024:
            _PLANS[raw] = plan
    return plan


def scan_properties(body, endian, wanted=_WANTED):
    """``{name: Variant}`` for the names in ``wanted`` (bytes) of an ``a{sv}`` body; the other
    entries are stepped over by their lengths, and the scan ends when all were found."""
    order = "<" if endian == "l" else ">"
    unpack = _U32[order].unpack_from
    length = unpack(body, 0)[0]
    pos = 8  # dict entries are 8-aligned
    end = pos + length
    if length > MAX_ARRAY or end > len(body):
        raise ProtocolError(f"property array of {length} bytes in a body of {len(body)}")
    found = {}
    missing = len(wanted)
    decoder = Decoder(body, endian)
    while pos < end:
        pos += -pos % 8
        key_length = unpack(body, pos)[0]
        key = body[pos + 4 : pos + 4 + key_length]
        pos += 5 + key_length
        sig_length = body[pos]
        sig, kind, alignment, size = _plan(body[pos + 1 : pos + 1 + sig_length])
        pos += 2 + sig_length
        if key in wanted:
            decoder.pos = pos
            found[key.decode("ascii")] = Variant(sig, decoder.read(sig))
            pos = decoder.pos
            missing -= 1
            if not missing:
                return found
        elif kind == 0:
            pos += (-pos % alignment) + size
        elif kind == 1:
            pos += -pos % 4
            pos += 5 + unpack(body, pos)[0]
        elif kind == 2:
            pos += -pos % 4
            length = unpack(body, pos)[0]
            pos += 4
            pos += (-pos % alignment) + length
        else:
            pos = skip(body, pos, sig, order=order)
    if pos != end:
        raise ProtocolError("property array overruns its length")
    return found


class Message:
    """A received message: its type, serial, header fields (code -> value) and raw body."""

    def __init__(self, endian, mtype, flags, *, serial, fields, body):
        self.endian = endian
        self.type = mtype
        self.flags = flags
        self.serial = serial
        self.fields = fields
        self.body = body

    @property
    def reply_serial(self):
        return self.fields.get(REPLY_SERIAL)

    @property
    def signature(self):
        return self.fields.get(SIGNATURE, "")

    def values(self):
        """The body's values by its SIGNATURE (the body starts 8-aligned)."""
        decoder = Decoder(self.body, self.endian)
        values = decoder.read_all(self.signature)
        if decoder.pos != len(self.body):
            raise ProtocolError(f"{len(self.body) - decoder.pos} bytes after the body's values")
        return values


def parse_fixed_header(head):
    """``(endian, type, flags, body_length, serial, fields_length)`` of a message's first 16
    bytes."""
    endian = chr(head[0])
    if endian not in "lB":
        raise ProtocolError(f"message does not start with an endianness mark: {head[:1]!r}")
    order = "<" if endian == "l" else ">"
    mtype, flags, version, body_length, serial, fields_length = struct.unpack(
        order + "BBBIII", head[1:16]
    )
    if version != 1:
        raise ProtocolError(f"protocol version {version}")
    if serial == 0:
        raise ProtocolError("serial 0")
    if 16 + fields_length + body_length + 7 > MAX_MESSAGE:
        raise ProtocolError(f"message of {16 + fields_length + body_length} bytes")
    return endian, mtype, flags, body_length, serial, fields_length


def header_length(fields_length):
    return 16 + fields_length + (-fields_length % 8)


def parse_message(data):
    """A whole message (``bytes``) as a ``Message``."""
    if len(data) < 16:
        raise ProtocolError("message shorter than its fixed header")
    endian, mtype, flags, body_length, serial, fields_length = parse_fixed_header(data[:16])
    start = header_length(fields_length)
    if len(data) != start + body_length:
        raise ProtocolError(f"message of {len(data)} bytes, its header says {start + body_length}")
    decoder = Decoder(data[: 16 + fields_length], endian)
    decoder._take(12)
    fields = {}
    for code, variant in decoder.read("a(yv)"):
        fields[code] = variant.value
    if data[16 + fields_length : start].strip(b"\0"):
        raise ProtocolError("non-zero padding after the header")
    return Message(endian, mtype, flags, serial=serial, fields=fields, body=data[start:])


# --------------------------------------------------------------------------------------------
# The connection
# --------------------------------------------------------------------------------------------


class _Connection:
    """A socket with one deadline for every operation on it."""

    def __init__(self, path, timeout):
        self.deadline = time.monotonic() + timeout
        self.buffer = bytearray()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._arm()
            self.sock.connect(path)
        except BaseException:
            self.sock.close()
            raise

    def close(self):
        self.sock.close()

    def _arm(self):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed")
        self.sock.settimeout(remaining)

    def send(self, data):
        self._arm()
        self.sock.sendall(data)

    def _fill(self):
        self._arm()
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ProtocolError("systemd closed the connection")
        self.buffer.extend(chunk)

    def read_exact(self, n):
        while len(self.buffer) < n:
            self._fill()
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def read_line(self, limit=4096):
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > limit:
                raise ProtocolError(f"authentication line longer than {limit} bytes")
            self._fill()
        end = self.buffer.index(b"\r\n") + 2
        line = bytes(self.buffer[:end])
        del self.buffer[:end]
        return line

    def read_message(self):
        head = self.read_exact(16)
        _, _, _, body_length, _, fields_length = parse_fixed_header(head)
        rest = self.read_exact(header_length(fields_length) - 16 + body_length)
        return parse_message(head + rest)


def auth_request(uid):
    """The SASL EXTERNAL handshake as one write: the NUL byte, ``AUTH EXTERNAL`` with the uid
    in hex of its decimal digits, and ``BEGIN`` (as sd-bus's own clients pipeline it)."""
    return b"\0AUTH EXTERNAL " + str(uid).encode("ascii").hex().encode("ascii") + b"\r\nBEGIN\r\n"


def authenticate(conn, uid=None):
    """Authenticate and begin; the connection is then ready for messages.

    ``BEGIN`` goes with ``AUTH``, and the first message only after systemd's ``OK``: systemd's
    sd-bus server (seen with 252) leaves a message that arrives in the same read as ``BEGIN``
    unprocessed until more bytes arrive, so a lone request sent with ``BEGIN`` is never
    answered.
    """
    conn.send(auth_request(os.getuid() if uid is None else uid))
    line = conn.read_line()
    if not line.startswith(b"OK "):
        raise Unavailable(
            "systemd refused the authentication: {}".format(
                line.strip().decode("ascii", "replace") or "(empty)"
            )
        )


# --------------------------------------------------------------------------------------------
# What systemctl show prints
# --------------------------------------------------------------------------------------------


def format_value(variant):
    """A property value as ``systemctl show`` prints it (for the types these properties have)."""
    sig, value = variant
    if sig in ("s", "o", "g"):
        return value
    if sig in ("y", "n", "q", "i", "u", "x", "t"):
        return str(value)
    if sig == "b":
        return "yes" if value else "no"
    raise ProtocolError(f"property value of type {sig!r}")


def requests(ids):
    """One ``GetAll("")`` per unit, serials 1, 2, ... in the order of ``ids``."""
    return b"".join(get_all(serial, unit_path(uid)) for serial, uid in enumerate(ids, 1))


def _error_text(message):
    name = message.fields.get(ERROR_NAME, "(no error name)")
    try:
        values = message.values()
    except (ProtocolError, struct.error, IndexError):
        values = []
    detail = values[0] if values and isinstance(values[0], str) else ""
    return "{}{}".format(name, ": " + detail if detail else "")


def unit_properties(units, timeout=5.0, path=SOCKET_PATH):
    """Per unit of ``units``, in order, the dict of what ``systemctl show
    --property=Id,LoadState,ActiveState,SubState,MainPID,NRestarts,UnitFileState,ControlGroup``
    prints for it: ``{"Id": "aliyun.service", "MainPID": "0", "ControlGroup": "", ...}``.

    A name without a unit type's suffix is a ``.service``, as for systemctl.  The keys are the
    ones systemctl prints: all eight for a service, also for one that does not exist
    (LoadState ``not-found``, ActiveState ``inactive``, SubState ``dead``, MainPID and
    NRestarts ``0``, UnitFileState and ControlGroup empty); a unit whose type lacks one (a
    target has no MainPID, NRestarts, ControlGroup) lacks its key.  Raises ``Unavailable`` on
    any problem, within ``timeout`` seconds.
    """
    units = [units] if isinstance(units, str) else list(units)
    if not units:
        return []
    ids = [unit_id(name) for name in units]
    request = requests(ids)
    try:
        conn = _Connection(path, timeout)
    except FileNotFoundError:
        raise Unavailable(
            f"no {path} (systemd is not the running init, or not this root's)"
        ) from None
    except PermissionError:
        raise Unavailable(f"{path} is for root only") from None
    except TimeoutError:
        raise Unavailable(f"connecting to {path} timed out") from None
    except OSError as exc:
        raise Unavailable(f"cannot connect to {path}: {exc}") from exc
    try:
        return _exchange(conn, ids, request)
    except Unavailable:
        raise
    except TimeoutError:
        raise Unavailable(f"systemd did not answer on {path} within {timeout} s") from None
    except ProtocolError as exc:
        raise Unavailable(f"unexpected D-Bus data from {path}: {exc}") from exc
    except (OSError, ValueError, struct.error, IndexError, KeyError, RecursionError) as exc:
        raise Unavailable(f"talking to systemd on {path} failed: {exc!r}") from exc
    finally:
        conn.close()


def _exchange(conn, ids, request):
    authenticate(conn)
    conn.send(request)
    results = [None] * len(ids)
    pending = len(ids)
    while pending:
        message = conn.read_message()
        serial = message.reply_serial
        if (
            message.type not in (METHOD_RETURN, ERROR)
            or not isinstance(serial, int)
            or not 1 <= serial <= len(ids)
            or results[serial - 1] is not None
        ):
            continue  # a signal (systemd sends them to every private connection), or not ours
        uid = ids[serial - 1]
        if message.type == ERROR:
            raise Unavailable(f"systemd answered GetAll of {uid} with {_error_text(message)}")
        if message.signature != "a{sv}":
            raise ProtocolError(f"reply to GetAll of {uid} has signature {message.signature!r}")
        found = scan_properties(message.body, message.endian)
        if "Id" not in found:
            raise ProtocolError(f"reply to GetAll of {uid} has no Id")
        results[serial - 1] = {
            prop: format_value(found[prop]) for prop in systemd.PROPERTIES if prop in found
        }
        pending -= 1
    return results


def unit_states(units, timeout=5.0, path=SOCKET_PATH):
    """``UnitState`` per unit of ``units``, in order, named as given: what
    ``systemd.parse_show`` makes of ``systemctl show`` for the same units.
    Raises ``Unavailable``."""
    units = [units] if isinstance(units, str) else list(units)
    return tuple(
        systemd.unit_state(name, props)
        for name, props in zip(units, unit_properties(units, timeout, path), strict=False)
    )
