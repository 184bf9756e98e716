"""db.h, the store's way to speak SQL, against a real MariaDB server as well as SQLite.

The C cases live in tests/unit/test_db.c; `make check-unit` runs their SQLite half. This
module starts a private MariaDB (tests/harness/mariadb.py: Debian's mariadb-server, its own
data directory, socket and port) with a database and a user that has rights on it alone, and
runs the same binary against it: values typed as they went in, long text, transactions,
matched-row counts, a connection killed under a prepared statement and reopened, a lock wait
that times out as retryable, TLS demanded from a server without it refused, and no password
in any reason.
"""

import os
import secrets
import subprocess
import unittest

import kctest
from harness import mariadb

REPO = kctest.REPO
SERVER = None
PASSWORD = "kc-" + secrets.token_hex(12)


def binary():
    build = REPO / "build"
    if os.environ.get("KC_SANITIZED"):
        build = build / "asan"
    return build / "tests" / "test_db"


def setUpModule():
    global SERVER
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    target = os.path.relpath(binary(), REPO)
    args = ["make", "-C", str(REPO), target]
    if os.environ.get("KC_SANITIZED"):
        args = ["make", "-C", str(REPO), "BUILD=build/asan", "BINDIR=build/asan/cgi-bin",
                "CFLAGS=-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer "
                "-fno-sanitize-recover=undefined", target]
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise AssertionError(f"building {target} failed:\n{out.stdout}\n{out.stderr}")
    SERVER = mariadb.MariaDB().start()
    SERVER.create_database("kcsync", user="kcsync", password=PASSWORD)


def tearDownModule():
    if SERVER:
        SERVER.remove()


class Driver(unittest.TestCase):
    def run_cases(self):
        env = dict(os.environ, KC_TEST_MYSQL_SOCKET=SERVER.socket,
                   KC_TEST_MYSQL_USER="kcsync", KC_TEST_MYSQL_PASSWORD=PASSWORD,
                   KC_TEST_MYSQL_DATABASE="kcsync")
        return subprocess.run([str(binary())], env=env, capture_output=True, text=True,
                              timeout=300)

    def test_same_behaviour_on_sqlite_and_mariadb(self):
        r = self.run_cases()
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        # Both halves ran: the MariaDB cases are not skipped when a server is given.
        self.assertIn("test_mysql_reconnect", out)
        self.assertRegex(out, r"\[  PASSED  \] 16 test\(s\)")
        self.assertNotIn("SKIPPED", out)
        self.assertNotIn(PASSWORD, out)


if __name__ == "__main__":
    unittest.main()
