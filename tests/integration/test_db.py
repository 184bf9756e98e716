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
import re
import secrets
import subprocess
import unittest

import kctest
from harness import mariadb

# Run once, not again under KC_STORE=mysql (tests/run.py): tests both engines itself.
STORE_INDEPENDENT = True

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
    store_test = os.path.relpath(binary().parent / "test_store_mysql", REPO)
    args = ["make", "-C", str(REPO), target, store_test, "build/mysql-statements"]
    if os.environ.get("KC_SANITIZED"):
        args = ["make", "-C", str(REPO), "BUILD=build/asan", "BINDIR=build/asan/cgi-bin",
                "CFLAGS=-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer "
                "-fno-sanitize-recover=undefined", target, store_test]
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise AssertionError(f"building {target} failed:\n{out.stdout}\n{out.stderr}")
    if os.environ.get("KC_SANITIZED"):
        out = subprocess.run(["make", "-C", str(REPO), "build/mysql-statements"],
                             capture_output=True, text=True, env=env, timeout=600)
        if out.returncode != 0:
            raise AssertionError(f"building mysql-statements failed:\n{out.stderr}")
    SERVER = mariadb.MariaDB().start()
    SERVER.create_database("kcsync", user="kcsync", password=PASSWORD)


def tearDownModule():
    if SERVER:
        SERVER.remove()


def mysql_env():
    return dict(os.environ, KC_TEST_MYSQL_SOCKET=SERVER.socket, KC_TEST_MYSQL_USER="kcsync",
                KC_TEST_MYSQL_PASSWORD=PASSWORD, KC_TEST_MYSQL_DATABASE="kcsync")


class Driver(unittest.TestCase):
    def run_cases(self):
        return subprocess.run([str(binary())], env=mysql_env(), capture_output=True, text=True,
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


def store_statements():
    """Every SQL statement of lib/store*.c that MariaDB runs, its string literals joined as
    the compiler joins them (of a KC_SQL_FOR pair, the MariaDB spelling)."""
    found = []
    for path in sorted((REPO / "lib").glob("store*.c")):
        src = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S).replace("\\\n", " ")
        literal = r'"(?:[^"\\]|\\.)*"'
        macros = dict(re.findall(rf"#define\s+(\w+)\s+((?:{literal}\s*)+)", src))
        macros["STR(KC_RETAIN_HISTORY_ROWS)"] = '"1000"'
        # KC_SQL_FOR(st, sqlite, mysql): MariaDB runs only the second spelling.
        src = re.sub(rf"KC_SQL_FOR\(\s*\w+\s*,\s*(?:{literal}\s*)+,", "KC_SQL_FOR(st,", src)
        for name, value in macros.items():
            src = re.sub(r"(?<![#\w])" + re.escape(name) + r"(?!\w)", lambda m: f" {value} ", src)
        for run in re.finditer(rf"((?:{literal}\s*)+)", src):
            text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', run.group(1)))
            text = text.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
            if re.match(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH|REPLACE) ", text):
                found.append((path.name, text))
    return found


class StoreStatements(unittest.TestCase):
    """The store is written once: each of its statements must run on MariaDB as translated."""

    def test_every_statement_of_the_store_is_accepted_by_mariadb(self):
        statements = store_statements()
        self.assertGreater(len(statements), 50)     # the extraction found the store's SQL
        tool = REPO / "build" / "mysql-statements"
        r = subprocess.run([str(tool)], input=b"".join(s.encode() + b"\0" for _, s in statements),
                           env=mysql_env(), capture_output=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        lines = r.stdout.decode().splitlines()
        self.assertEqual(len(lines), len(statements))
        bad = [f"{name}: {line}" for (name, _), line in zip(statements, lines)
               if not line.startswith("ok\t")]
        self.assertEqual(bad, [], "\n".join(bad))


class StoreOnMariaDB(unittest.TestCase):
    def test_schema_leases_and_reads(self):
        build = binary().parent
        r = subprocess.run([str(build / "test_store_mysql")], env=mysql_env(),
                           capture_output=True, text=True, timeout=300)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        self.assertRegex(out, r"\[  PASSED  \] 7 test\(s\)")
        self.assertNotIn("SKIPPED", out)


if __name__ == "__main__":
    unittest.main()
