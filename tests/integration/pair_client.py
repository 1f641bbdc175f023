"""pair_client.py -- a subscriber of a generator pair written from proto/rn.proto, as a
gateway is: a reader on both buses that keeps every (epoch, seq) it sees with its value and
who sent it, the last heartbeat of each, and a voter/fetcher on the replay sockets (a REQ
per request, so a lost answer never passes for a later one)."""
import threading
import time

import zmq

from bus import encode_varint, varint_fields

ACTIVE, STARTING, PASSIVE = 0, 1, 2


def heartbeat_fields(payload):
    f = varint_fields(payload)
    return {"epoch": f.get(1, 0), "last_seq": f.get(2, 0), "replay_port": f.get(8, 0),
            "role": f.get(9, 0), "state": f.get(10, 0), "peer_seen": bool(f.get(11, 0)),
            "mirrored_seq": f.get(12, 0), "standby_synced": bool(f.get(13, 0)),
            "takeovers": f.get(14, 0), "failover_ms": f.get(15, 0), "at": time.monotonic()}


def number_fields(payload):
    f = varint_fields(payload)
    value = f.get(4, 0)
    if value >= 1 << 63:
        value -= 1 << 64
    return f.get(1, 0), f.get(2, 0), value


def encode_request(epoch, from_seq, to_seq, vote=False):
    fields = [(1, epoch), (2, from_seq), (3, to_seq)] + ([(4, 1)] if vote else [])
    return b"".join(encode_varint(n << 3) + encode_varint(v) for n, v in fields if v)


def decode_reply(payload):
    """(epoch, first_seq, last_seq, [(epoch, seq, value)], error) of a ReplayReply."""
    out, events, i = {}, [], 0
    from bus import _varint
    while i < len(payload):
        key, i = _varint(payload, i)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            out[field], i = _varint(payload, i)
        else:
            length, i = _varint(payload, i)
            body = payload[i:i + length]
            i += length
            if field == 4:
                events.append(number_fields(body))
            else:
                out[field] = body
    return out.get(1, 0), out.get(2, 0), out.get(3, 0), events, out.get(5, b"").decode()


def request(endpoint, epoch, from_seq, to_seq, vote=False, timeout=2.0):
    """One ReplayRequest; the decoded reply, or None on timeout."""
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(endpoint)
        sock.send(encode_request(epoch, from_seq, to_seq, vote))
        if not sock.poll(int(timeout * 1000)):
            return None
        return decode_reply(sock.recv())
    finally:
        sock.close()


class PairReader(threading.Thread):
    """Subscribes to the data topic and the heartbeats of each named bus."""

    def __init__(self, buses, topic=b"number"):
        super().__init__(daemon=True)
        self.ctx = zmq.Context.instance()
        self.lock = threading.Lock()
        self.values = {}      # (epoch, seq) -> value
        self.conflicts = []   # (epoch, seq, value, other value)
        self.arrivals = []    # (monotonic time, source, epoch, seq), in arrival order
        self.heartbeats = {}  # source -> last heartbeat fields
        self.stopped = False
        self.socks = {}
        for name, endpoint in buses.items():
            s = self.ctx.socket(zmq.SUB)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.SUBSCRIBE, topic)
            s.setsockopt(zmq.SUBSCRIBE, b"_heartbeat")
            s.connect(endpoint)
            self.socks[s] = name
        self.start()

    def run(self):
        poller = zmq.Poller()
        for s in self.socks:
            poller.register(s, zmq.POLLIN)
        while not self.stopped:
            for s, _ in poller.poll(100):
                topic, payload = s.recv_multipart()
                self._take(self.socks[s], topic, payload)
        for s in self.socks:
            s.close()

    def _take(self, source, topic, payload):
        with self.lock:
            if topic == b"_heartbeat":
                self.heartbeats[source] = heartbeat_fields(payload)
                return
            epoch, seq, value = number_fields(payload)
            old = self.values.setdefault((epoch, seq), value)
            if old != value:
                self.conflicts.append((epoch, seq, value, old))
            self.arrivals.append((time.monotonic(), source, epoch, seq))

    def heartbeat(self, source):
        with self.lock:
            return dict(self.heartbeats.get(source, {}))

    def last(self):
        """(epoch, seq) of the latest event received, or (0, 0)."""
        with self.lock:
            return self.arrivals[-1][2:] if self.arrivals else (0, 0)

    def count_from(self, source, since=0.0):
        with self.lock:
            return sum(1 for t, s, _, _ in self.arrivals if s == source and t >= since)

    def seqs(self, epoch):
        with self.lock:
            return sorted(seq for e, seq in self.values if e == epoch)

    def add(self, epoch, seq, value):
        """An event fetched from a replay socket: checked against what was seen."""
        with self.lock:
            old = self.values.setdefault((epoch, seq), value)
            if old != value:
                self.conflicts.append((epoch, seq, value, old))

    def close(self):
        self.stopped = True
        self.join(5)
