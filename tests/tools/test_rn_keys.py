"""test_rn_keys.py -- deploy/compose/rn-keys, the bus's CURVE keys per role for a generator
pair: the layout it makes, and a directory of the former one-generator layout upgraded in
place (its pairs and its allow-list, revocations included, kept). Runs the script with the
build's keygen."""

import os
import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RN_KEYS = ROOT / "deploy" / "compose" / "rn-keys"
BIN = Path(os.environ.get("RN_BIN_DIR", ROOT / "build" / "bin"))


def rn_keys(directory):
    env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    p = subprocess.run(["sh", str(RN_KEYS), str(directory)], capture_output=True, text=True,
                       env=env, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"rn-keys failed: {p.stdout}{p.stderr}")
    return p.stdout


def read(path):
    return Path(path).read_text().strip()


def lines(path):
    return sorted(read(path).split())


class RnKeys(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name) / "keys"

    def tearDown(self):
        self.tmp.cleanup()

    def check_pair_layout(self):
        d = self.dir
        pub = {r: read(d / r / f"{r}.pub") for r in ("generator", "generator-backup", "gateway", "monitor")}
        self.assertEqual(len(set(pub.values())), 4, "a pair per role")
        for gen, peer in (("generator", "generator-backup"), ("generator-backup", "generator")):
            self.assertEqual(read(d / gen / f"{peer}.pub"), pub[peer], f"{gen} holds its peer's key")
            self.assertEqual(sorted(p.name for p in (d / gen).glob("*.key")), [f"{gen}.key"])
        for role in ("gateway", "monitor"):
            for gen in ("generator", "generator-backup"):
                self.assertEqual(read(d / role / f"{gen}.pub"), pub[gen])
            self.assertEqual(sorted(p.name for p in (d / role).glob("*.key")), [f"{role}.key"])
        return pub

    def test_fresh(self):
        rn_keys(self.dir)
        pub = self.check_pair_layout()
        self.assertEqual(lines(self.dir / "generator" / "clients"),
                         sorted([pub["gateway"], pub["monitor"], pub["generator-backup"]]))
        self.assertEqual(lines(self.dir / "generator-backup" / "clients"),
                         sorted([pub["gateway"], pub["monitor"], pub["generator"]]))
        self.assertEqual(oct(self.dir.joinpath("gateway", "gateway.key").stat().st_mode & 0o777),
                         "0o600")
        # Complete: kept as it is, an operator's edit of an allow-list included.
        clients = self.dir / "generator" / "clients"
        clients.write_text(pub["monitor"] + "\n" + pub["generator-backup"] + "\n")
        self.assertIn("kept", rn_keys(self.dir))
        self.assertEqual(lines(clients), sorted([pub["monitor"], pub["generator-backup"]]))

    def make_former_layout(self, revoke_monitor):
        """What the one-generator rn-keys made: generator/, gateway/, monitor/, each with its
        pair, the subscribers with generator.pub, generator/clients last."""
        env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}")
        for role in ("generator", "gateway", "monitor"):
            (self.dir / role).mkdir(parents=True)
            subprocess.run(["keygen", str(self.dir / role / role)], check=True, env=env,
                           capture_output=True, timeout=30)
        for role in ("gateway", "monitor"):
            (self.dir / role / "generator.pub").write_text(
                (self.dir / "generator" / "generator.pub").read_text())
        allowed = [read(self.dir / "gateway" / "gateway.pub")]
        if not revoke_monitor:
            allowed.append(read(self.dir / "monitor" / "monitor.pub"))
        (self.dir / "generator" / "clients").write_text("\n".join(allowed) + "\n")
        return {r: read(self.dir / r / f"{r}.key") for r in ("generator", "gateway", "monitor")}

    def test_upgrade_of_the_former_layout(self):
        keys = self.make_former_layout(revoke_monitor=False)
        rn_keys(self.dir)
        pub = self.check_pair_layout()
        for role, key in keys.items():
            self.assertEqual(read(self.dir / role / f"{role}.key"), key, f"{role}'s pair kept")
        self.assertEqual(lines(self.dir / "generator" / "clients"),
                         sorted([pub["gateway"], pub["monitor"], pub["generator-backup"]]))
        self.assertEqual(lines(self.dir / "generator-backup" / "clients"),
                         sorted([pub["gateway"], pub["monitor"], pub["generator"]]))

    def test_upgrade_keeps_a_revocation(self):
        self.make_former_layout(revoke_monitor=True)
        rn_keys(self.dir)
        pub = self.check_pair_layout()
        self.assertEqual(lines(self.dir / "generator" / "clients"),
                         sorted([pub["gateway"], pub["generator-backup"]]))
        self.assertEqual(lines(self.dir / "generator-backup" / "clients"),
                         sorted([pub["gateway"], pub["generator"]]))

    def test_a_run_cut_short_is_finished(self):
        rn_keys(self.dir)
        # As if the last run had stopped in the middle: a half pair and no final allow-list.
        (self.dir / "generator-backup" / "clients").unlink()
        (self.dir / "generator-backup" / "generator-backup.pub").unlink()
        rn_keys(self.dir)
        pub = self.check_pair_layout()
        self.assertEqual(lines(self.dir / "generator" / "clients"),
                         sorted([pub["gateway"], pub["monitor"], pub["generator-backup"]]))


if __name__ == "__main__":
    unittest.main()
