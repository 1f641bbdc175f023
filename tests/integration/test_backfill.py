"""Backfill from the generator under load: many clients resume from before the gateway's
history at once, some of them never reading. Every client that reads gets exactly the
events the generator still holds, and the gateway asks for them over one replay
connection, whoever reads slowly. Runs in netns.sh's namespace (small TCP buffers), so a
client that never reads fills its socket within a backfill."""
import re
import selectors
import socket
import time
import unittest

from cut_proxy import CutProxy
from harness import SSEClient, SystemTest, free_port, metrics, parse_id, wait_until

STALLED = 80   # more than the 64 backfills the gateway once allowed at a time
READERS = 200
EVENT_RE = re.compile(rb"^id: (\d+)-(\d+)$|^event: reset\ndata: (.*)$", re.M)


def connect(url, last_id, path="/events", rcvbuf=None):
    """Sends the request of a client resuming after last_id; reads nothing."""
    host, port = url[len("http://"):].split(":")
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect((host, int(port)))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nLast-Event-ID: {last_id}\r\n\r\n".encode())
    return s


ID_RE = re.compile(rb"^id: (\d+)-(\d+)$", re.M)


def reached(data, seen, seq):
    """Whether the bytes from about `seen` on hold an event id at seq or beyond."""
    return any(int(s) >= seq for _, s in ID_RE.findall(bytes(data[max(0, seen - 64):])))


def read_all(socks, seq, timeout):
    """Reads every socket until it was sent an id at seq or beyond (then closes it), it
    closes, or the time is up. Returns each socket's bytes."""
    got = {s: bytearray() for s in socks}
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(0.5):
            s, buf = key.fileobj, got[key.fileobj]
            try:
                chunk = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            seen = len(buf)
            buf += chunk
            if not chunk or reached(buf, seen, seq):
                sel.unregister(s)
                s.close()
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    sel.close()
    return list(got.values())


def events_of(data):
    """What a stream's bytes hold: (epoch, seq) per numbered event, "reset: REASON" per
    reset."""
    return [(int(e), int(q)) if e else f"reset: {why.decode()}"
            for e, q, why in EVENT_RE.findall(bytes(data))]


def first_difference(got, want):
    """None when got starts with want, else what came where."""
    for i, w in enumerate(want):
        if i >= len(got) or got[i] != w:
            return f"{got[i] if i < len(got) else 'the end'} where {w} was due"
    return None


class BackfillTest(SystemTest):
    def test_many_resumes_share_one_replay_connection_and_slow_readers_hold_nothing(self):
        port, replay_port = free_port(), free_port()
        _, endpoint = self.generator(port=port, interval_ms=5, extra=[
            "--replay-bind", f"tcp://127.0.0.1:{replay_port}", "--replay-history", "100000"])
        proxy = CutProxy(replay_port)  # counts the gateway's replay connections
        self.addCleanup(proxy.close)
        # A history of 0.64 s: the resumes below go to the generator. The stalled clients
        # would hold their writes (and, before, a backfill slot) for the whole test.
        _, url = self.gateway(endpoint, [
            "--history", "128", "--threads", "320", "--write-timeout-ms", "20000",
            "--replay-connect", f"tcp://127.0.0.1:{proxy.port}"])
        first = SSEClient(url)
        epoch, last = parse_id(first.events(1)[0]["id"])
        first.close()
        time.sleep(6.0)  # about 1,200 events: far more than the gateway's history
        stalled = []
        try:
            # With the page's HTML each event is about 200 bytes: a backfill is far more
            # than the namespace's socket buffers take from a client that never reads.
            for _ in range(STALLED):
                stalled.append(connect(url, f"{epoch}-{last}", "/events?html=1", rcvbuf=4096))
            wait_until(lambda: metrics(url)["rn_gateway_sse_clients"] >= STALLED, 20,
                       what="the stalled clients admitted")
            time.sleep(1.0)  # they are in their backfills now, their sockets full
            live = SSEClient(url)
            _, target = parse_id(live.events(1)[0]["id"])
            live.close()
            readers = [connect(url, f"{epoch}-{last}") for _ in range(READERS)]
            streams = read_all(readers, target, timeout=60)
        finally:
            for s in stalled:  # before the gateway stops: its writes to them end at once
                s.close()
        want = [(epoch, seq) for seq in range(last + 1, target + 1)]
        wrong = [(i, d) for i, d in enumerate(first_difference(events_of(data), want)
                                             for data in streams) if d]
        m = metrics(url)
        print(f"replay connections through the proxy: {proxy.accepted}; backfill requests: "
              + ", ".join(f"{k[k.index('=') + 2:-2]} {int(v)}" for k, v in m.items()
                          if k.startswith("rn_gateway_backfill_requests_total")))
        self.assertEqual(len(wrong), 0, f"{len(wrong)} of {READERS} readers were not sent every "
                         f"event after their id, in order; reader {wrong[0][0]} got {wrong[0][1]}"
                         if wrong else "")
        self.assertEqual(m['rn_gateway_sse_resets_total{reason="too-old"}'], 0)
        # One for the bus thread, one shared by every stream; a reconnect after a timeout
        # under load may add one.
        self.assertLessEqual(proxy.accepted, 3, "replay connections opened by the gateway")


if __name__ == "__main__":
    unittest.main()
