"""The relay path on real processes: events on the SSE stream, two clients, the fragment,
the page and htmx served by the gateway, heartbeats."""
import os
import re
import time
import unittest

from harness import SSEClient, SystemTest, http_get, metrics, parse_id, wait_until


class StreamTest(SystemTest):
    def test_events_arrive_once_a_second_with_increasing_ids(self):
        _, endpoint = self.generator(interval_ms=1000)
        _, url = self.gateway(endpoint)
        sse = SSEClient(url)
        self.assertEqual(sse.status, 200)
        self.assertTrue(sse.headers["content-type"].startswith("text/event-stream"))
        self.assertEqual(sse.headers["cache-control"], "no-cache")
        self.assertEqual(sse.headers["x-accel-buffering"], "no")
        arrivals, events = [], []
        for _ in range(4):
            ev = sse.next_event(timeout=3)
            self.assertIsNotNone(ev, "an event every second")
            arrivals.append(time.monotonic())
            events.append(ev)
        self.assertIsNotNone(sse.retry, "a retry: hint on connect")
        ids = [parse_id(e["id"]) for e in events]
        for (e1, s1), (e2, s2) in zip(ids, ids[1:]):
            self.assertEqual(e1, e2)
            self.assertEqual(s2, s1 + 1, f"consecutive ids, got {ids}")
        for e in events:
            self.assertEqual(e["event"], "number")
            self.assertTrue(1 <= int(e["data"]) <= 100, e)
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        self.assertTrue(all(0.5 < g < 2.0 for g in gaps), f"about a second apart: {gaps}")
        sse.close()

    def test_two_clients_see_the_same_events(self):
        _, endpoint = self.generator(interval_ms=200)
        _, url = self.gateway(endpoint)
        a, b = SSEClient(url), SSEClient(url)
        ea = a.events(8)
        eb = b.events(8)
        # Both joined before any of these events; align on the first id both have.
        ids_a, ids_b = [e["id"] for e in ea], [e["id"] for e in eb]
        common = [i for i in ids_a if i in ids_b]
        self.assertGreaterEqual(len(common), 6, (ids_a, ids_b))
        by_id_a = {e["id"]: e["data"] for e in ea}
        by_id_b = {e["id"]: e["data"] for e in eb}
        for i in common:
            self.assertEqual(by_id_a[i], by_id_b[i])

    def test_html_stream_carries_each_events_fragment(self):
        """html=1 (the page) adds after each number event an unnamed message holding the
        fragment of that event; other clients get the number events alone."""
        _, endpoint = self.generator(interval_ms=200)
        _, url = self.gateway(endpoint)
        page, plain = SSEClient(url, path="/events?html=1"), SSEClient(url)
        for _ in range(3):
            ev, msg = page.next_event(timeout=3), page.next_event(timeout=3)
            self.assertEqual(ev["event"], "number", ev)
            self.assertNotIn("event", msg, "the HTML is an unnamed message")
            self.assertNotIn("id", msg, "it carries the number event's id, not one of its own")
            self.assertEqual(
                msg["data"],
                f'<span class="number" data-event-id="{ev["id"]}">{ev["data"]}</span>')
        for ev in plain.events(5, timeout=5):
            self.assertEqual(ev["event"], "number", ev)
            self.assertNotIn("<", ev["data"])
        page.close()
        plain.close()

    def test_a_reader_that_keeps_up_gets_every_event_of_a_burst(self):
        """At 5,000 events/s with --coalesce-ms 100 each wake-up brings about 500 events,
        more than one write buffer holds: the writer goes on until the stream has them all
        instead of leaving the rest for the next wake-up (and dropping the reader as slow)."""
        _, endpoint = self.generator(extra=["--interval-us", "200"])
        _, url = self.gateway(endpoint, ["--coalesce-ms", "100", "--history", "8192"])
        sse = SSEClient(url)
        ids = [parse_id(e["id"]) for e in sse.events(10000, timeout=30)]
        epoch, first = ids[0]
        self.assertEqual(ids, [(epoch, first + i) for i in range(len(ids))])
        self.assertEqual(metrics(url)["rn_gateway_sse_dropped_slow_total"], 0)
        sse.close()

    def test_fragment_matches_the_last_event(self):
        _, endpoint = self.generator(interval_ms=1000)
        _, url = self.gateway(endpoint)
        sse = SSEClient(url)
        matched = 0
        for _ in range(3):
            ev = sse.next_event(timeout=3)
            status, headers, body = http_get(url + "/fragments/number")
            self.assertEqual(status, 200)
            self.assertTrue(headers["content-type"].startswith("text/html"))
            m = re.search(r'data-event-id="([^"]*)">(\d+)<', body.decode())
            self.assertIsNotNone(m, body)
            if m.group(1) == ev["id"]:
                self.assertEqual(m.group(2), ev["data"])
                matched += 1
        self.assertGreaterEqual(matched, 2, "the fragment shows the event just relayed")

    def test_page_and_htmx_are_served_by_the_gateway(self):
        _, endpoint = self.generator()
        _, url = self.gateway(endpoint)
        status, headers, body = http_get(url + "/")
        page = body.decode()
        self.assertEqual(status, 200)
        for text in ("Featured Random Number", "The Random Number is..",
                     'hx-sse:connect="/events?html=1"', 'hx-target="#number"',
                     'src="/static/htmx.min.js"', 'src="/static/hx-sse.min.js"',
                     'src="/static/shared-stream.js"'):
            self.assertIn(text, page)
        self.assertNotIn("{{number}}", page)
        self.assertNotIn("//unpkg", page)
        self.assertIn("script-src 'self'", headers["content-security-policy"])
        npm = os.path.join(os.environ["RN_BUILD_DIR"], "web-npm/node_modules/htmx.org/dist")
        for path, file in (("/static/htmx.min.js", "htmx.min.js"),
                           ("/static/hx-sse.min.js", "ext/hx-sse.min.js")):
            status, headers, body = http_get(url + path)
            self.assertEqual(status, 200)
            self.assertIn("javascript", headers["content-type"])
            with open(os.path.join(npm, file), "rb") as f:
                self.assertEqual(body, f.read(), f"{path} is the npm package's file")
        status, headers, body = http_get(url + "/static/shared-stream.js")
        self.assertEqual(status, 200)
        self.assertIn("javascript", headers["content-type"])
        self.assertIn(b"navigator.locks", body)
        with open(os.path.join(npm, "../package.json")) as f:
            self.assertRegex(f.read(), r'"version": "4\.', "htmx current major")

    def test_heartbeat_comments_keep_an_idle_stream_open(self):
        _, endpoint = self.generator(interval_ms=60000)
        _, url = self.gateway(endpoint, ["--heartbeat-ms", "300"])
        sse = SSEClient(url)
        self.assertIsNone(sse.next_event(timeout=1.5))
        self.assertIn("heartbeat", sse.comments)
        self.assertFalse(sse.closed)

    def test_coalescing_sends_events_in_bursts_and_loses_none(self):
        _, endpoint = self.generator(interval_ms=20)
        _, url = self.gateway(endpoint, ["--coalesce-ms", "200"])
        sse = SSEClient(url)
        sse.next_event()
        arrivals, ids = [], []
        while len(ids) < 40:
            ev = sse.next_event(timeout=3)
            self.assertIsNotNone(ev)
            arrivals.append(time.monotonic())
            ids.append(parse_id(ev["id"])[1])
        self.assertEqual(ids, list(range(ids[0], ids[0] + 40)), "every event, in order")
        bursts = 1 + sum(1 for a, b in zip(arrivals, arrivals[1:]) if b - a > 0.01)
        # 40 events 20 ms apart span 0.8 s: about four 200 ms windows, not 40 wake-ups.
        self.assertLessEqual(bursts, 8, f"events arrive in bursts: {bursts} for 40 events")

    def test_metrics_count_relayed_and_delivered_events(self):
        _, endpoint = self.generator(interval_ms=100)
        _, url = self.gateway(endpoint)
        sse = SSEClient(url)
        sse.events(5)
        # Each client adds its delivery counts to the shared ones every 100 ms.
        wait_until(lambda: metrics(url)["rn_gateway_events_delivered_total"] >= 5, 2,
                   what="deliveries counted")
        m = metrics(url)
        self.assertEqual(m["rn_gateway_sse_clients"], 1)
        self.assertGreaterEqual(m["rn_gateway_bus_events_total"], 5)
        self.assertGreaterEqual(m["rn_gateway_events_delivered_total"], 5)
        self.assertEqual(m["rn_gateway_generator_up"], 1)


if __name__ == "__main__":
    unittest.main()
