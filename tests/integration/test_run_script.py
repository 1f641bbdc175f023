"""The README's first command, tools/run.sh, on the test's own ports and build tree: it
prints the page's address, the page streams, neither daemon runs as root, and Ctrl-C
stops both and leaves nothing behind."""
import os
import re
import signal
import subprocess
import tempfile
import unittest

from harness import SSEClient, free_port, http_get, wait_until

REPO = os.path.join(os.path.dirname(__file__), "../..")
BUILD = os.environ.get("RN_BUILD_DIR", os.path.join(REPO, "build"))


def children_of(pid):
    """Every descendant of pid, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [pid]
    while todo:
        pid = todo.pop()
        kids = [c for c, parent in parents.items() if parent == pid]
        found += kids
        todo += kids
    return found


def program_and_uid(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
        with open(f"/proc/{pid}/status") as f:
            uid = int(re.search(r"^Uid:\s+(\d+)\s+(\d+)", f.read(), re.M).group(2))
        return comm, uid
    except (OSError, AttributeError):
        return None, None


def staged():
    return {d for d in os.listdir("/tmp") if d.startswith("rn-run.")}


class RunScriptTest(unittest.TestCase):
    def test_run_sh_serves_the_page_and_runs_nothing_as_root(self):
        http, bus = free_port(), free_port()
        env = dict(os.environ, RN_HTTP=f"127.0.0.1:{http}", RN_BUS=f"tcp://127.0.0.1:{bus}",
                   RN_BUILD_DIR=os.path.abspath(BUILD))
        staged_before = staged()
        out = tempfile.TemporaryFile()
        script = subprocess.Popen(["bash", "tools/run.sh"], cwd=REPO, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)

        def printed():
            out.seek(0)
            return out.read().decode(errors="replace")
        try:
            url = f"http://127.0.0.1:{http}/"
            wait_until(lambda: url in printed() or script.poll() is not None, 240,
                       step=0.2, what="run.sh to print the page's address")
            self.assertIn(f"The live page: {url}", printed())
            status, _, body = http_get(url)
            self.assertEqual(status, 200)
            self.assertIn(b'hx-sse:connect="/events', body)
            client = SSEClient(f"http://127.0.0.1:{http}")
            try:
                self.assertEqual(len(client.events(2, timeout=10)), 2)
            finally:
                client.close()
            daemons = {}
            for pid in children_of(script.pid):
                comm, uid = program_and_uid(pid)
                if comm in ("generator", "gateway"):
                    daemons[pid] = (comm, uid)
            self.assertEqual(sorted(c for c, _ in daemons.values()), ["gateway", "generator"],
                             printed())
            for comm, uid in daemons.values():
                self.assertNotEqual(uid, 0, f"{comm} runs as root")
            script.send_signal(signal.SIGINT)
            script.wait(30)
            for pid in daemons:
                self.assertFalse(os.path.exists(f"/proc/{pid}"), "a daemon outlived run.sh")
            self.assertEqual(staged() - staged_before, set(), "the staged copy was left")
        finally:
            if script.poll() is None:
                os.killpg(script.pid, signal.SIGKILL)
                script.wait(10)
            out.close()


if __name__ == "__main__":
    unittest.main()
