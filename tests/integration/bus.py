"""bus.py -- the test's own view of the ZeroMQ bus, through Debian's python3-zmq: a
heartbeat watcher that observes the generator from outside, and an injector of raw
messages. Neither decodes protobuf by hand: heartbeats are read with the gateway's eyes,
so only the fields this file needs are parsed from the wire format."""
import threading
import time

import zmq

HEARTBEAT_TOPIC = b"_heartbeat"


def varint_fields(payload):
    """Minimal protobuf reader for scalar varint fields: {field_number: value}."""
    out, i = {}, 0
    while i < len(payload):
        key, i = _varint(payload, i)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            out[field], i = _varint(payload, i)
        elif wire_type == 2:
            length, i = _varint(payload, i)
            out[field] = payload[i:i + length]
            i += length
        else:
            raise ValueError(f"wire type {wire_type}")
    return out


def _varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


class HeartbeatWatcher:
    """Subscribes to the heartbeat topic only, so it never makes the generator publish."""

    def __init__(self, endpoint):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, HEARTBEAT_TOPIC)
        self.sock.connect(endpoint)

    def next(self, timeout=5):
        """Returns (last_seq, publishing) of the next heartbeat."""
        if not self.sock.poll(int(timeout * 1000)):
            raise AssertionError("no heartbeat from the generator")
        topic, payload = self.sock.recv_multipart()
        assert topic == HEARTBEAT_TOPIC, topic
        fields = varint_fields(payload)
        return fields.get(2, 0), bool(fields.get(6, 0))

    def latest(self, seconds):
        """Reads heartbeats for the given time and returns the last."""
        deadline, last = time.monotonic() + seconds, None
        while time.monotonic() < deadline or last is None:
            last = self.next()
        return last

    def close(self):
        self.sock.close()


class Injector:
    """An XPUB the gateway connects to as a second generator; it can wait until the
    gateway's subscription arrives, so nothing it sends is lost to the slow joiner."""

    def __init__(self, port):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(f"tcp://127.0.0.1:{port}")
        self.endpoint = f"tcp://127.0.0.1:{port}"

    def wait_subscription(self, topic, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sock.poll(100) and self.sock.recv() == b"\x01" + topic:
                return
        raise AssertionError(f"no subscription to {topic!r}")

    def send(self, frames):
        self.sock.send_multipart(frames)

    def close(self):
        self.sock.close()


class RawPeer:
    """A ZMTP 3.0 peer in plain Python (no library, no keys): what any stray process on
    the network can do to the generator's bus. It speaks just enough of the protocol to
    be a SUB socket and then sends whatever frames it is told to."""

    def __init__(self, port, sndbuf=None):
        """sndbuf: the kernel's send buffer for this connection, to keep what it holds
        on our side small."""
        import socket
        import struct
        self.struct = struct
        self.sock = socket.socket()
        self.sock.settimeout(5)
        if sndbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        try:
            self._handshake(port)
        except OSError:
            self.sock.close()
            raise

    def _handshake(self, port):
        self.sock.connect(("127.0.0.1", port))
        greeting = b"\xff" + bytes(8) + b"\x7f" + b"\x03\x00" + b"NULL" + bytes(16) + b"\x00" + bytes(31)
        self.sock.sendall(greeting)
        self._read(64)
        ready = b"\x05READY" + b"\x0bSocket-Type" + self.struct.pack(">I", 3) + b"SUB"
        self.sock.sendall(b"\x04" + bytes([len(ready)]) + ready)
        self._read_frame()  # the generator's READY

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def _read_frame(self):
        flags = self._read(1)[0]
        size = self.struct.unpack(">Q", self._read(8))[0] if flags & 2 else self._read(1)[0]
        return self._read(size)

    def send(self, body):
        """One single-frame message: b"\\x01topic" subscribes, b"\\x00topic" unsubscribes."""
        self.send_raw(frame(body))

    def send_counted(self, data):
        """Sends data; returns how many bytes of it the kernel took before the generator
        closed the connection (all of them while it is open)."""
        view, sent = memoryview(data), 0
        try:
            while sent < len(data):
                sent += self.sock.send(view[sent:])
        except ConnectionError:
            pass
        return sent

    def send_raw(self, data):
        """Bytes as they are; False when the generator has closed the connection."""
        try:
            self.sock.sendall(data)
            return True
        except ConnectionError:
            return False  # the generator hung up part way: what closed_by_peer reports

    def closed_by_peer(self, timeout=3):
        """True once the generator has closed the connection."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except ConnectionError:
            return True
        except OSError:  # the timeout
            return False

    def close(self):
        self.sock.close()


def frame(body):
    """A single-frame ZMTP 3.0 message (short or long form)."""
    if len(body) < 256:
        return b"\x00" + bytes([len(body)]) + body
    return b"\x02" + len(body).to_bytes(8, "big") + body


def distinct_subscriptions(first, count, size):
    """count framed subscriptions of size bytes each (the flag byte included), numbered
    from first: "~" and the number, padded with "~". Calls with disjoint numbers repeat
    none, and none is a prefix of the generator's topics."""
    return b"".join(frame(b"\x01~" + str(first + i).encode().ljust(size - 2, b"~"))
                    for i in range(count))


class SubscriptionFlood(threading.Thread):
    """What a hostile peer can do to the generator's bus: subscribes to distinct prefixes
    as fast as the generator takes them, from raw connections, opening a new one whenever
    the generator closes one. Stops after max_bytes or seconds, whichever is first; its
    counts say what it did."""

    def __init__(self, port, size, max_bytes, seconds, batch=2000, sndbuf=None):
        super().__init__(daemon=True)
        self.port, self.size, self.batch, self.sndbuf = port, size, batch, sndbuf
        self.max_bytes, self.seconds = max_bytes, seconds
        self.sent = self.connections = self.closed = 0
        self.error = None

    def run(self):
        deadline = time.monotonic() + self.seconds
        number = 0
        try:
            while self.sent < self.max_bytes and time.monotonic() < deadline:
                try:
                    peer = RawPeer(self.port, sndbuf=self.sndbuf)
                except ConnectionError:  # closed in the handshake, for an earlier one
                    self.closed += 1
                    continue
                self.connections += 1
                while self.sent < self.max_bytes and time.monotonic() < deadline:
                    chunk = distinct_subscriptions(number, self.batch, self.size)
                    number += self.batch
                    sent = peer.send_counted(chunk)
                    self.sent += sent
                    if sent < len(chunk):
                        self.closed += 1
                        break
                peer.close()
        except Exception as e:  # noqa: BLE001 -- reported by the test that started it
            self.error = e


def encode_varint(value):
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def encode_number(epoch, seq, published_ns, value):
    """A NumberEvent (proto/rn.proto) in protobuf wire format: fields 1-4, all varints."""
    return b"".join(encode_varint(field << 3) + encode_varint(v)
                    for field, v in ((1, epoch), (2, seq), (3, published_ns), (4, value)))
