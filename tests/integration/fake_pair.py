"""fake_pair.py -- two stand-ins for a generator pair (proto/rn.proto, "A generator pair"),
written from the contract alone, so the gateway's side (one socket per source, relay from
the active, replay to the active, votes) is tested on its own: each member has an XPUB
bus and a ROUTER replay socket, they share one history (a perfect mirror), and a passive
member becomes active in the same epoch only when a vote arrives after the test silenced
the active one. The real pair is tested in test_pair.py with real generators."""
import threading
import time

import zmq

from bus import encode_number, encode_varint, varint_fields
from harness import free_port

ACTIVE, STARTING, PASSIVE = 0, 1, 2
PRIMARY, BACKUP = 1, 2


def encode_fields(fields):
    """Protobuf wire format of varint (int) and length-delimited (bytes) fields."""
    out = b""
    for number, value in fields:
        if isinstance(value, bytes):
            out += encode_varint(number << 3 | 2) + encode_varint(len(value)) + value
        elif value:
            out += encode_varint(number << 3) + encode_varint(value)
    return out


class History:
    """What both members hold: the mirror, shared."""

    def __init__(self):
        self.epoch = int(time.time() * 1000)
        self.events = []  # (seq, published_ns, value)
        self.lock = threading.Lock()

    def add(self):
        with self.lock:
            seq = len(self.events) + 1
            self.events.append((seq, time.time_ns(), seq % 100 + 1))
            return self.events[-1]

    def last_seq(self):
        with self.lock:
            return len(self.events)

    def range(self, first, last):
        with self.lock:
            return self.events[first - 1:min(last, len(self.events))]


class FakeMember(threading.Thread):
    def __init__(self, history, role, state, interval_ms=100, failover_ms=1000, topic="number"):
        super().__init__(daemon=True)
        self.history, self.role, self.state = history, role, state
        self.interval, self.failover_ms, self.topic = interval_ms / 1000, failover_ms, topic
        self.port, self.replay_port = free_port(), free_port()
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.votes, self.requests = [], []  # (epoch, from, to) of each
        self.takeovers = 0
        self.silent = threading.Event()    # killed: no message out, no answer
        self.stopping = threading.Event()
        ctx = zmq.Context.instance()
        self.pub = ctx.socket(zmq.XPUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind(self.endpoint)
        self.router = ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind(f"tcp://127.0.0.1:{self.replay_port}")
        self.peer = None

    def heartbeat(self):
        last = self.history.last_seq()
        return encode_fields([(1, self.history.epoch), (2, last), (3, time.time_ns()),
                              (4, int(self.interval * 1000)), (5, self.topic.encode()),
                              (6, 1), (8, self.replay_port), (9, self.role), (10, self.state),
                              (11, int(self.peer is not None and not self.peer.silent.is_set())),
                              (12, last), (13, 1), (14, self.takeovers),
                              (15, self.failover_ms)])

    def answer(self, ident, payload):
        f = varint_fields(payload)
        epoch, first, last, vote = f.get(1, 0), f.get(2, 0), f.get(3, 0), f.get(4, 0)
        (self.votes if vote else self.requests).append((epoch, first, last))
        if vote and self.state != ACTIVE and self.peer.silent.is_set():
            self.state = ACTIVE  # the same epoch, the next seq: the mirror is complete
            self.takeovers += 1
            self.pub.send_multipart([b"_heartbeat", self.heartbeat()])
        events = b""
        if epoch == self.history.epoch and first:
            for seq, ns, value in self.history.range(first, last):
                events += encode_fields([(4, encode_number(self.history.epoch, seq, ns, value))])
        reply = encode_fields([(1, self.history.epoch), (2, 1 if self.history.last_seq() else 0),
                               (3, self.history.last_seq())]) + events
        self.router.send_multipart([ident, b"", reply])

    def run(self):
        next_beat = next_event = time.monotonic()
        while not self.stopping.is_set():
            if self.silent.is_set():
                time.sleep(0.05)
                continue
            while self.pub.poll(0):
                self.pub.recv()  # subscriptions
            if self.router.poll(10):
                ident, empty, payload = self.router.recv_multipart()
                self.answer(ident, payload)
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + self.interval
                self.pub.send_multipart([b"_heartbeat", self.heartbeat()])
            if self.state == ACTIVE and now >= next_event:
                next_event = now + self.interval
                seq, ns, value = self.history.add()
                self.pub.send_multipart([self.topic.encode(),
                                         encode_number(self.history.epoch, seq, ns, value)])

    def stop(self):
        self.stopping.set()
        self.join(5)
        self.pub.close()
        self.router.close()


def fake_pair(**kw):
    """A primary, active, and a backup, passive, of one history; started."""
    history = History()
    a = FakeMember(history, PRIMARY, ACTIVE, **kw)
    b = FakeMember(history, BACKUP, PASSIVE, **kw)
    a.peer, b.peer = b, a
    a.start()
    b.start()
    return a, b
