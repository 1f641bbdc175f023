"""Last-Event-ID resume: a client that comes back, on any gateway, gets exactly the events
it missed, or a reset event saying why it cannot."""
import signal
import time
import unittest

from harness import SSEClient, SystemTest, free_port, metrics, parse_id, wait_until


def seqs(events):
    return [parse_id(e["id"]) for e in events if e.get("event") == "number"]


class ResumeTest(SystemTest):
    def two_gateways(self, interval_ms=100, extra=()):
        _, endpoint = self.generator(interval_ms=interval_ms)
        _, url_a = self.gateway(endpoint, extra)
        _, url_b = self.gateway(endpoint, extra)
        return endpoint, url_a, url_b

    def read_then_leave(self, url, count=5):
        sse = SSEClient(url)
        events = sse.events(count)
        sse.close()
        return events[-1]["id"]

    def assert_exact_resume(self, last_id, resumed):
        got = seqs(resumed)
        epoch, seq = parse_id(last_id)
        self.assertEqual(got, [(epoch, seq + i + 1) for i in range(len(got))],
                         "exactly the events after the last id, in order, no gap, no duplicate")
        self.assertNotIn("reset", [e.get("event") for e in resumed])

    def test_resume_on_another_gateway_with_the_header(self):
        _, url_a, url_b = self.two_gateways()
        last = self.read_then_leave(url_a)
        time.sleep(1.0)  # about ten events pass while the client is away
        sse = SSEClient(url_b, headers={"Last-Event-ID": last})
        resumed = sse.events(15)
        self.assert_exact_resume(last, resumed)
        self.assertEqual(metrics(url_b)["rn_gateway_sse_resumes_total"], 1)

    def test_resume_with_the_query_parameter(self):
        _, url_a, url_b = self.two_gateways()
        last = self.read_then_leave(url_a)
        time.sleep(0.8)
        sse = SSEClient(url_b, path=f"/events?lastEventId={last}")
        self.assert_exact_resume(last, sse.events(12))

    def test_an_id_older_than_the_history_is_served_from_the_generator(self):
        _, endpoint = self.generator(interval_ms=20)
        _, url = self.gateway(endpoint, ["--history", "16"])
        last = self.read_then_leave(url, 2)
        time.sleep(1.0)  # about fifty events: far more than the history holds
        sse = SSEClient(url, headers={"Last-Event-ID": last})
        self.assert_exact_resume(last, sse.events(80))
        m = metrics(url)
        self.assertGreater(m["rn_gateway_sse_backfilled_events_total"], 16)
        self.assertEqual(m['rn_gateway_sse_resets_total{reason="too-old"}'], 0)

    def test_an_id_further_back_than_the_lag_limit_is_resumed_not_dropped(self):
        """A client coming back after more than --max-lag events (but within the history)
        is not slow: it gets them all, then the live stream."""
        _, endpoint = self.generator(interval_ms=20)
        _, url = self.gateway(endpoint, ["--history", "64"])  # --max-lag 32
        last = self.read_then_leave(url, 2)
        time.sleep(0.9)  # about 45 events
        sse = SSEClient(url, headers={"Last-Event-ID": last})
        self.assert_exact_resume(last, sse.events(80))
        self.assertEqual(metrics(url)["rn_gateway_sse_dropped_slow_total"], 0)

    def test_an_id_older_than_anyone_holds_gets_a_reset_then_live_events(self):
        _, endpoint = self.generator(interval_ms=20, extra=["--replay-history", "16"])
        _, url = self.gateway(endpoint, ["--history", "16"])
        last = self.read_then_leave(url, 2)
        time.sleep(1.0)  # about fifty events: more than the gateway or the generator holds
        sse = SSEClient(url, headers={"Last-Event-ID": last})
        first = sse.next_event()
        self.assertEqual((first["event"], first["data"]), ("reset", "too-old"))
        self.assertNotIn("id", first, "a reset leaves the client's last id alone")
        live = sse.events(3)
        epoch, seq = parse_id(live[0]["id"])
        self.assertGreater(seq, parse_id(last)[1] + 16)
        self.assertEqual(seqs(live), [(epoch, seq), (epoch, seq + 1), (epoch, seq + 2)])
        self.assertEqual(metrics(url)['rn_gateway_sse_resets_total{reason="too-old"}'], 1)

    def test_an_id_from_a_previous_epoch_gets_a_reset(self):
        port = free_port()
        gen, endpoint = self.generator(port=port, interval_ms=50)
        _, url = self.gateway(endpoint, ["--history", "16"])
        last = self.read_then_leave(url, 3)
        gen.stop(signal.SIGTERM)
        self.generator(port=port, interval_ms=50)
        wait_until(lambda: metrics(url)["rn_gateway_generator_epoch"] > parse_id(last)[0], 10,
                   what="the new epoch")
        time.sleep(1.2)  # the new epoch fills the history
        sse = SSEClient(url, headers={"Last-Event-ID": last})
        first = sse.next_event()
        self.assertEqual((first["event"], first["data"]), ("reset", "epoch"))
        nxt = sse.events(2)
        self.assertGreater(parse_id(nxt[0]["id"])[0], parse_id(last)[0])

    def test_a_live_client_crossing_a_restart_gets_a_reset_between_epochs(self):
        port = free_port()
        gen, endpoint = self.generator(port=port, interval_ms=100)
        _, url = self.gateway(endpoint)
        sse = SSEClient(url)
        old_epoch = parse_id(sse.events(2)[-1]["id"])[0]
        gen.stop(signal.SIGTERM)
        self.generator(port=port, interval_ms=100)
        seen = []
        while not seen or seen[-1].get("event") != "number" or \
                parse_id(seen[-1]["id"])[0] == old_epoch:
            seen += sse.events(1, timeout=10)
        self.assertEqual((seen[-2]["event"], seen[-2]["data"]), ("reset", "epoch"), seen[-3:])
        self.assertEqual(parse_id(seen[-1]["id"])[1], 1)

    def test_a_gateway_started_late_serves_ids_from_before_its_start(self):
        """Its history is fetched from the generator before it is ready."""
        _, endpoint = self.generator(interval_ms=50)
        _, url_a = self.gateway(endpoint)
        last = self.read_then_leave(url_a, 3)
        time.sleep(1.0)
        _, url_late = self.gateway(endpoint)
        self.assertEqual(metrics(url_late)["rn_gateway_history_warm"], 1)
        sse = SSEClient(url_late, headers={"Last-Event-ID": last})
        self.assert_exact_resume(last, sse.events(30))
        self.assertEqual(metrics(url_late)["rn_gateway_sse_backfilled_events_total"], 0,
                         "served from its own warm history")

    def test_without_replay_a_gateway_that_joined_late_says_what_it_cannot_know(self):
        _, endpoint = self.generator(interval_ms=50, extra=["--replay-bind", "off"])
        _, url_a = self.gateway(endpoint)
        last = self.read_then_leave(url_a, 3)
        time.sleep(0.5)
        _, url_late = self.gateway(endpoint)  # its history starts after the client's id
        self.assertEqual(metrics(url_late)["rn_gateway_history_warm"], 0)
        sse = SSEClient(url_late, headers={"Last-Event-ID": last})
        first = sse.next_event()
        self.assertEqual((first["event"], first["data"]), ("reset", "too-old"))

    def test_an_id_ahead_of_the_gateway_gets_a_reset_not_silence(self):
        _, endpoint = self.generator(interval_ms=50)
        _, url = self.gateway(endpoint, ["--bus-timeout-ms", "1000"])
        epoch, seq = parse_id(self.read_then_leave(url, 2))
        sse = SSEClient(url, headers={"Last-Event-ID": f"{epoch}-{seq + 100000}"})
        first = sse.next_event(timeout=5)
        self.assertEqual((first["event"], first["data"]), ("reset", "invalid-id"))
        self.assertEqual(sse.events(1)[0]["event"], "number")
        other = SSEClient(url, headers={"Last-Event-ID": f"{epoch + 1000}-5"})
        first = other.next_event(timeout=5)
        self.assertEqual((first["event"], first["data"]), ("reset", "epoch"))

    def test_an_invalid_id_gets_a_reset(self):
        _, endpoint = self.generator(interval_ms=100)
        _, url = self.gateway(endpoint)
        sse = SSEClient(url, headers={"Last-Event-ID": "not-an-id"})
        first = sse.next_event()
        self.assertEqual((first["event"], first["data"]), ("reset", "invalid-id"))
        self.assertEqual(sse.events(1)[0]["event"], "number")


if __name__ == "__main__":
    unittest.main()
