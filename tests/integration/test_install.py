"""`cmake --install` into a fresh prefix, then the installed programs with no flags but
their addresses: the gateway finds its web root beside itself and serves the page and
htmx; the generator and gateway report their version."""
import os
import subprocess
import tempfile
import unittest

from harness import Process, free_port, http_get, wait_until

BUILD = os.environ.get("RN_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))


class InstallTest(unittest.TestCase):
    def test_the_installed_gateway_serves_the_page_with_no_web_root_flag(self):
        with tempfile.TemporaryDirectory() as prefix:
            subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], check=True,
                           capture_output=True, timeout=120)
            bin_dir = os.path.join(prefix, "bin")
            for program in ("generator", "gateway", "monitor", "keygen"):
                self.assertTrue(os.access(os.path.join(bin_dir, program), os.X_OK), program)
            bus, http = free_port(), free_port()
            gen = Process("generator", [os.path.join(bin_dir, "generator"), "--bind",
                                        f"tcp://127.0.0.1:{bus}"])
            gw = Process("gateway", [os.path.join(bin_dir, "gateway"), "--listen",
                                     f"127.0.0.1:{http}", "--connect", f"tcp://127.0.0.1:{bus}",
                                     "--drain-ms", "0"])
            try:
                gen.wait_log(r'msg="started"')
                gw.wait_log(r'msg="started"')
                url = f"http://127.0.0.1:{http}"
                wait_until(lambda: http_get(url + "/readyz")[0] == 200, 10, what="ready")
                status, _, body = http_get(url + "/")
                self.assertEqual(status, 200)
                self.assertIn(b'hx-sse:connect="/events', body)
                status, _, body = http_get(url + "/static/htmx.min.js")
                self.assertEqual(status, 200)
                self.assertGreater(len(body), 10000)
            finally:
                self.assertEqual(gw.stop(), 0, gw.text()[-2000:])
                self.assertEqual(gen.stop(), 0, gen.text()[-2000:])


if __name__ == "__main__":
    unittest.main()
