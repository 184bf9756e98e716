"""The two demos of the README, walked to the end: `make demo` (one nginx, SQLite) and
`make demo-cluster` (two nginx, one MariaDB).  Each checks its own steps and exits non-zero
when one fails; here they run with --no-wait, as a user would see them, and must print no
secret whole."""

import re
import subprocess
import sys
import unittest
from pathlib import Path

import kctest
from harness import mariadb

# Run once, not again under KC_STORE=mysql (tests/run.py): each demo picks its own store (make
# demo: SQLite, make demo-cluster: MariaDB).
STORE_INDEPENDENT = True

TESTS = Path(__file__).resolve().parents[1]


def walk(script):
    return subprocess.run([sys.executable, str(TESTS / script), "--bindir",
                           str(kctest.BINDIR), "--no-wait"],
                          capture_output=True, text=True, timeout=600)


@unittest.skipIf(kctest.SANITIZED, "the demos are walked once, with the ordinary build")
class Demos(unittest.TestCase):
    def check(self, out):
        self.assertEqual(out.returncode, 0, out.stdout[-4000:] + out.stderr[-2000:])
        self.assertIn("Demo walk complete.", out.stdout)
        # Secrets in URLs are masked: ****abcd.
        for m in re.finditer(r"(?:secret|token)=([^\s&]+)", out.stdout):
            self.assertTrue(m.group(1).startswith("****"), m.group(0))

    def test_make_demo(self):
        out = walk("demo.py")
        self.check(out)
        self.assertIn("shop stock of", out.stdout)

    @unittest.skipUnless(mariadb.available(), "mariadb-server is not installed")
    def test_make_demo_cluster(self):
        out = walk("demo_cluster.py")
        self.check(out)
        self.assertRegex(out.stdout, r"server [AB]: 409")
        self.assertIn("server A: killed", out.stdout)


if __name__ == "__main__":
    unittest.main()
