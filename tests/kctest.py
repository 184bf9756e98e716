"""Shared pieces of the integration tests: the simulated shop and CRM as
subprocesses, configuration files, the binaries under test, and the
targets a request can go through (the binary run directly as CGI, nginx
with FastCGI workers, Apache with mod_cgid).

Which binaries are tested comes from KC_BINDIR (default cgi-bin/), so the
same tests run against the normal and the sanitizer build.

Where the state is comes from KC_STORE: "sqlite" (default, state.db in each
state directory) or "mysql": a private MariaDB server (harness/mariadb.py)
started on first use, one database per state directory, and every
configuration written for a state directory points at its database.
"""

import fcntl
import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from harness import servers  # noqa: E402

sys.path.insert(0, str(HERE / "fakes"))
from fakebase import FakeProcess  # noqa: E402

PYTHON = "/usr/bin/python3"
BINDIR = Path(os.environ.get("KC_BINDIR", REPO / "cgi-bin")).resolve()
SANITIZED = os.environ.get("KC_SANITIZED") == "1"

# Test credentials: random per run, so nothing here is a real secret.
CK = "ck_" + secrets.token_hex(20)
CS = "cs_" + secrets.token_hex(20)
WEBHOOK_SECRET = secrets.token_urlsafe(32)
SYNC_TOKEN = secrets.token_urlsafe(32)
KEYCRM_KEY = secrets.token_urlsafe(36)

STORE = os.environ.get("KC_STORE", "sqlite")
if STORE not in ("sqlite", "mysql"):
    raise SystemExit(f"KC_STORE must be sqlite or mysql, not {STORE!r}")
DB_USER = "kcsync"
DB_PASSWORD = "kc-" + secrets.token_hex(12)
DB_PREFIX = "keycrm_sync_"
STORE_TABLES = ("counters", "inbox", "ledger", "sku_map", "problems", "history", "kv",
                "keycrm_requests", "shop_parents", "order_lines", "order_events",
                "shop_changes", "compare_shop", "compare_keycrm", "compare_parents",
                "leases", "settings", "schema_version")

_root = None
_mariadb = None
_databases = {}


def root():
    """A temporary directory for this test run that www-data can enter."""
    global _root
    if _root is None:
        _root = Path(tempfile.mkdtemp(prefix="kc-test-"))
        os.chmod(_root, 0o755)
        if SANITIZED:
            sanitizer_dir().mkdir(mode=0o777)
            os.chmod(sanitizer_dir(), 0o777)
    return _root


def sanitizer_dir():
    return Path(tempfile.gettempdir()) / f"{root().name}-sanitizer"


def sanitizer_env():
    """ASan/UBSan write their reports to files, so that even a detached
    applier (whose stderr is /dev/null) cannot hide one."""
    if not SANITIZED:
        return {}
    d = sanitizer_dir()
    return {
        "ASAN_OPTIONS": f"log_path={d}/asan:detect_leaks=1:exitcode=86",
        "UBSAN_OPTIONS": f"log_path={d}/ubsan:print_stacktrace=1:halt_on_error=1",
    }


def sanitizer_reports():
    if not SANITIZED or not sanitizer_dir().exists():
        return []
    # A process killed on purpose may leave its report file empty.
    return [t for t in (p.read_text(errors="replace") for p in sanitizer_dir().iterdir())
            if t.strip()]


class Fake:
    """A fake server (tests/fakes/*.py) in a subprocess, driven through
    its /_control/ interface."""

    def __init__(self, script, *args, scheme="http"):
        self.process = FakeProcess(script, *args, python=PYTHON)
        self.proc, self.port = self.process.proc, self.process.port
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.control_url = f"http://127.0.0.1:{self.port}" if scheme == "http" else None

    def control(self, path, body=None, method=None):
        url = (self.control_url or self.url) + "/_control/" + path
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"),
                                     headers={"Content-Type": "application/json"})
        ctx = None
        if url.startswith("https"):
            import ssl
            ctx = ssl.create_default_context(cafile=self.ca_file)
        with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
            return json.loads(r.read() or b"null")

    def stop(self):
        self.process.stop()


class FakeShop(Fake):
    """The simulated WooCommerce shop (plain http: the programs sign with
    OAuth 1.0a; https: Basic auth, verified against ca_file)."""

    def __init__(self, tls=False):
        args = ["--consumer-key", CK, "--consumer-secret", CS]
        self.ca_file = None
        if tls:
            d = root() / "tls"
            d.mkdir(exist_ok=True)
            cert, key = d / "cert.pem", d / "key.pem"
            if not cert.exists():
                subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                "-days", "2", "-subj", "/CN=shop.example",
                                "-addext", "subjectAltName=DNS:shop.example,IP:127.0.0.1",
                                "-keyout", str(key), "-out", str(cert)],
                               check=True, capture_output=True)
                os.chmod(cert, 0o644)
            self.ca_file = str(cert)
            args += ["--tls-cert", str(cert), "--tls-key", str(key)]
        super().__init__("fake_woo.py", *args, scheme="https" if tls else "http")

    def reset(self, products=None, options=None):
        body = {}
        if products is not None:
            body["products"] = products
        if options is not None:
            body["options"] = options
        return self.control("reset", body)

    def products(self):
        return {p["id"]: p for p in self.control("products")}

    def qty(self, pid):
        return self.products()[pid]["stock_quantity"]

    def upsert(self, *products):
        return self.control("products", {"upsert": list(products)})

    def log(self):
        return self.control("log")

    def clear_log(self):
        return self.control("log/clear", {})

    def faults(self, **spec):
        return self.control("faults", spec)

    def writes(self):
        """The batch requests the shop received."""
        return [e for e in self.log() if e["method"] in ("POST", "PUT") and
                e["path"].endswith("/batch")]

    # ---- WooCommerce's own webhooks (tests/fakes/woo_webhooks.py) ----

    def sale(self, pid, quantity=1, at=None):
        """A paid order in the shop; fires the webhooks' hooks."""
        body = {"id": pid, "quantity": quantity}
        if at is not None:
            body["at"] = at
        return self.control("sale", body)

    def cancel(self, order_id):
        """The order cancelled: its stock comes back."""
        return self.control("cancel", {"id": order_id})

    def webhooks(self):
        """{id: stored record} with secret, status, failure_count, pending_delivery."""
        return {h["id"]: h for h in self.control("webhooks")}

    def webhook(self, webhook_id=1):
        return self.webhooks()[webhook_id]

    def create_webhook(self, delivery_url, secret, topic="product.updated", name=None):
        """Registers one as the shop's REST API would (the ping included)."""
        body = {"topic": topic, "delivery_url": delivery_url, "secret": secret}
        if name is not None:
            body["name"] = name
        return self.control("webhooks/create", body)

    def edit_webhook(self, webhook_id=1, **fields):
        """Sets stored fields directly (e.g. status="disabled", failure_count=6)."""
        return self.control("webhooks/edit", {"id": webhook_id, **fields})

    def webhook_queue(self):
        return self.control("webhooks/queue")

    def run_queue(self, limit=None):
        """Runs WooCommerce's job queue now; the deliveries made."""
        return self.control("webhooks/run", {} if limit is None else {"limit": limit})

    def deliveries(self, since=0, kind="delivery", webhook_id=None):
        """Logged deliveries (kind "ping", "replay" or None for all): payload,
        headers, status received, times."""
        query = f"since={since}" + (f"&kind={kind}" if kind else "") + \
            (f"&webhook_id={webhook_id}" if webhook_id is not None else "")
        return self.control("webhooks/deliveries?" + query)

    def clear_deliveries(self):
        return self.control("webhooks/deliveries/clear", {})

    def replay(self, delivery_id, url=None):
        """Sends a logged delivery again, byte for byte (late or duplicate)."""
        body = {"id": delivery_id}
        if url is not None:
            body["url"] = url
        return self.control("webhooks/replay", body)

    def webhook_config(self, **settings):
        """mode="async"|"sync"|"after_response", queue_interval_s, delivery_timeout_s, ..."""
        return self.control("webhooks/config", settings) if settings else \
            self.control("webhooks/config")


def write_config(path, **values):
    """A configuration file as an administrator writes it, readable by
    root and the web server's group only."""
    if "mysql_host" not in values and values.get("state_dir") is not None:
        values = {**values, **mysql_keys(values["state_dir"])}
    lines = [f"{k} = {v}" for k, v in values.items() if v is not None]
    Path(path).write_text("# written by the tests\n" + "\n".join(lines) + "\n")
    servers.prepare_for_www_data(str(path))
    return str(path)


_state_dirs = {}


def mariadb():
    """The run's MariaDB server (KC_STORE=mysql), started on first use."""
    global _mariadb
    if _mariadb is None:
        from harness.mariadb import MariaDB
        _mariadb = MariaDB(root() / "mariadb").start()
        os.chmod(_mariadb.dir, 0o755)       # www-data reaches the socket
    return _mariadb


def make_state_dir(name):
    """A new, empty state directory for each call, even under a name used
    before: a detached applier of an earlier test may still be starting,
    and must find its own directory, not this one. With KC_STORE=mysql it
    gets a new, empty database too."""
    n = _state_dirs[name] = _state_dirs.get(name, 0) + 1
    d = root() / (name if n == 1 else f"{name}.{n}")
    d.mkdir()
    servers.prepare_for_www_data(str(d))
    if STORE == "mysql":
        db = "kc_" + "".join(c if c.isalnum() else "_" for c in d.name)[:50]
        mariadb().create_database(db, user=DB_USER, password=DB_PASSWORD)
        _databases[str(d)] = db
    return d


def database_of(state_dir):
    """The MariaDB database of a state directory (KC_STORE=mysql), or None."""
    return _databases.get(str(state_dir))


def mysql_keys(state_dir):
    """The configuration keys that put a state directory's state in its database."""
    db = database_of(state_dir)
    if db is None:
        return {}
    return dict(mysql_host=mariadb().socket, mysql_database=db, mysql_user=DB_USER,
                mysql_password=DB_PASSWORD, mysql_table_prefix=DB_PREFIX)


# ---- The state, read and changed by the tests on either store ----
#
# The tests speak SQLite's SQL with the store's own table names; on MariaDB
# the statement is rewritten as the store's dialect does (lib/db_dialect.c):
# table names get the prefix, the column "key" is quoted, ?N become %s.

_SQL_TOKENS = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*"|\?\d*|\w+|\s+|.)""", re.S)
_TABLE_AFTER = ("FROM", "JOIN", "INTO", "UPDATE", "TABLE", "EXISTS")


def mysql_sql(sql):
    """A test's SQLite statement as MariaDB runs it on the store's tables."""
    out, prev = [], ""
    for tok in _SQL_TOKENS.findall(sql):
        if tok.isspace():
            out.append(tok)
            continue
        if tok.startswith("'"):
            out.append(tok.replace("%", "%%"))
        elif tok.startswith("?"):
            out.append("%s")
        elif tok in STORE_TABLES and prev.upper() in _TABLE_AFTER + (",",):
            out.append(DB_PREFIX + tok)
        elif tok.lower() == "key" and prev.upper() not in ("PRIMARY", "UNIQUE", "FOREIGN"):
            out.append('"key"')
        else:
            out.append(tok.replace("%", "%%"))
        prev = tok
    return "".join(out)


def _mysql_connect(state_dir, **options):
    import pymysql
    return pymysql.connect(unix_socket=mariadb().socket, user=DB_USER, password=DB_PASSWORD,
                           database=database_of(state_dir), autocommit=True,
                           sql_mode="ANSI_QUOTES,PIPES_AS_CONCAT", **options)


def _mysql_missing_table():
    import pymysql
    return pymysql.err.ProgrammingError


def _sqlite_path(state_dir):
    return Path(state_dir) / "state.db"


def state_exists(state_dir):
    """Whether a program has created the state yet (state.db, or the tables)."""
    if database_of(state_dir) is not None:
        return bool(_mysql_run(state_dir, "SELECT 1 FROM information_schema.tables"
                               " WHERE table_schema = DATABASE() AND table_name = %s",
                               (DB_PREFIX + "schema_version",), translate=False))
    return _sqlite_path(state_dir).exists()


def _mysql_run(state_dir, sql, args=(), translate=True):
    con = _mysql_connect(state_dir)
    try:
        with con.cursor() as cur:
            n = cur.execute(mysql_sql(sql) if translate else sql, args)
            return list(cur.fetchall()) if cur.description else n
    finally:
        con.close()


def query(state_dir, sql, *args):
    """The rows a read of the state gives, as tuples."""
    if database_of(state_dir) is not None:
        return _mysql_run(state_dir, sql, args)
    con = sqlite3.connect(f"file:{_sqlite_path(state_dir)}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def execute(state_dir, *statements):
    """Changes the state behind the programs' back, in one transaction:
    each statement a string or (sql, args...). Rows changed in all."""
    statements = [(s,) if isinstance(s, str) else tuple(s) for s in statements]
    changed = 0
    if database_of(state_dir) is not None:
        con = _mysql_connect(state_dir)
        try:
            con.begin()
            with con.cursor() as cur:
                for sql, *args in statements:
                    changed += cur.execute(mysql_sql(sql), args)
            con.commit()
        finally:
            con.close()
        return changed
    con = sqlite3.connect(_sqlite_path(state_dir), timeout=30)
    try:
        with con:
            for sql, *args in statements:
                changed += max(con.execute(sql, args).rowcount, 0)
    finally:
        con.close()
    # Files SQLite made for root (the journal) go back to the workers' user.
    servers.prepare_for_www_data(state_dir)
    return changed


def count(state_dir, table, where="1 = 1", *args):
    """Rows in one of the store's tables (0 before it exists)."""
    if not state_exists(state_dir):
        return 0
    return query(state_dir, f"SELECT COUNT(*) FROM {table} WHERE {where}", *args)[0][0]


def integrity(state_dir):
    """"ok" when the store's own check finds nothing wrong (SQLite's
    integrity_check; CHECK TABLE on each of the MariaDB tables)."""
    if database_of(state_dir) is not None:
        bad = []
        for (name,) in _mysql_run(state_dir, "SELECT table_name FROM information_schema.tables"
                                  " WHERE table_schema = DATABASE()", translate=False):
            for row in _mysql_run(state_dir, f'CHECK TABLE "{name}"', translate=False):
                if row[2] in ("error", "warning") or (row[2] == "status" and row[3] != "OK"):
                    bad.append(f"{name}: {row[3]}")
        return "; ".join(bad) or "ok"
    con = sqlite3.connect(f"file:{_sqlite_path(state_dir)}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def inbox(state_dir):
    """The webhook inbox as {sku: (in_stock, in_reserve)}; {} before the
    state exists."""
    try:
        return {r[0]: (r[1], r[2]) for r in
                query(state_dir, "SELECT sku, in_stock, in_reserve FROM inbox")}
    except sqlite3.OperationalError:
        if not _sqlite_path(state_dir).exists():
            return {}
        # Created a moment ago, the table not yet: nothing is stored.
        if query(state_dir, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'inbox'")[0][0]:
            raise
        return {}
    except Exception as e:
        if STORE == "mysql" and isinstance(e, _mysql_missing_table()):
            return {}
        raise


_HOLD_SQLITE = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
con.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2])) if float(sys.argv[2]) > 0 else sys.stdin.read()
con.execute("ROLLBACK")
"""

_HOLD_MYSQL = """
import pymysql, sys, time
con = pymysql.connect(unix_socket=sys.argv[3], user=sys.argv[4], password=sys.argv[5],
                      database=sys.argv[6], autocommit=False)
cur = con.cursor()
con.begin()
cur.execute("SELECT value FROM " + sys.argv[7] + "counters WHERE name = 'writer' FOR UPDATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2])) if float(sys.argv[2]) > 0 else sys.stdin.read()
con.rollback()
"""


class WriteLock:
    """Another process holding the state's write lock, as a long writer
    would (SQLite: BEGIN IMMEDIATE as the web server's user; MariaDB: the
    row every write transaction of the store locks first, lib/store.c)
    until release(), or for `seconds`."""

    def __init__(self, state_dir, seconds=0):
        db = database_of(state_dir)
        if db is None:
            args = ["-c", _HOLD_SQLITE, str(_sqlite_path(state_dir)), str(seconds)]
            user = dict(user="www-data", group="www-data", extra_groups=[]) \
                if os.geteuid() == 0 else {}
        else:
            args = ["-c", _HOLD_MYSQL, "", str(seconds), mariadb().socket, DB_USER,
                    DB_PASSWORD, db, DB_PREFIX]
            user = {}
        self.proc = subprocess.Popen([PYTHON, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, **user)
        line = self.proc.stdout.readline().strip()
        if line != "locked":
            self.release()
            raise RuntimeError("the write lock was not taken")

    def release(self):
        """Lets go (or, when held for a time, waits until it has)."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(60)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


class RunLock:
    """The lock of a run ("sync", "apply") held as a server running one
    would: the state directory's NAME.lock (SQLite), or a live lease in the
    database (MariaDB), until release()."""

    def __init__(self, state_dir, name):
        self.state_dir, self.name, self.fd = state_dir, name, None
        if database_of(state_dir) is not None:
            now = time.time()
            execute(state_dir, ("INSERT INTO leases(name, owner, expires_at, taken_at)"
                                " VALUES (?, ?, ?, ?)", name, "test:held", now + 600, now))
            return
        path = Path(state_dir) / f"{name}.lock"
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o660)
        if os.geteuid() == 0:
            os.chown(path, servers._www_ids()[0], -1)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        elif database_of(self.state_dir) is not None:
            execute(self.state_dir, ("DELETE FROM leases WHERE name = ? AND owner = ?",
                                     self.name, "test:held"))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def wait_run_over(state_dir, name, timeout=60):
    """Returns once no run holds the lock NAME (its file lock, or a live
    lease in MariaDB): the run that held it has finished."""
    if database_of(state_dir) is not None:
        wait_for(lambda: not state_exists(state_dir) or count(
            state_dir, "leases", "name = ? AND expires_at >= ?", name, time.time()) == 0,
            timeout=timeout, what=f"the {name} run to finish")
        return
    fd = os.open(Path(state_dir) / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o660)
    try:
        if os.geteuid() == 0:
            os.chown(Path(state_dir) / f"{name}.lock", servers._www_ids()[0], -1)
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)


def expire_leases(state_dir):
    """After a run was SIGKILLed: with SQLite the kernel let go of its lock
    file at once; a lease in MariaDB is taken over once it expires
    (KC_RUNLOCK_LEASE_S, lib/runlock.h).  Makes the leases of runs that
    are gone look expired, as they would be that long later (the take-over
    itself is tested in test_cluster.py).  Only for runs known dead."""
    if database_of(state_dir) is not None and state_exists(state_dir):
        execute(state_dir, ("UPDATE leases SET expires_at = ? WHERE expires_at >= ?",
                            time.time() - 1, time.time() - 1))


def reset_state(state_dir, timeout=30):
    """Empties the state (as if state.db were removed) once no applier is
    running; the settings saved on the page stay."""
    deadline = time.monotonic() + timeout
    if database_of(state_dir) is not None:
        while state_exists(state_dir) and query(
                state_dir, "SELECT COUNT(*) FROM leases WHERE name = 'apply'"
                " AND expires_at >= ?", time.time())[0][0]:
            if time.monotonic() > deadline:
                raise AssertionError("an applier is still running")
            time.sleep(0.05)
        if state_exists(state_dir):
            execute(state_dir, "UPDATE counters SET value = 0",
                    *[f"DELETE FROM {t}" for t in STORE_TABLES
                      if t not in ("schema_version", "settings", "counters")])
        return
    lock = Path(state_dir) / "apply.lock"
    # Only look at the lock: creating it here would give it the wrong owner.
    fd = os.open(lock, os.O_RDONLY) if lock.exists() else None
    try:
        while fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssertionError("an applier is still running")
                time.sleep(0.05)
        for f in Path(state_dir).glob("state.db*"):
            f.unlink()
    finally:
        if fd is not None:
            os.close(fd)


def saved_settings(state_dir):
    """The settings saved from the page, {key: value}; None when none were
    ever saved (state_dir/settings.conf, or the settings table in MariaDB)."""
    if database_of(state_dir) is not None:
        # One row holding settings.conf's text (lib/store_settings.c).
        rows = query(state_dir, "SELECT value FROM settings WHERE name = 'settings.conf'") \
            if state_exists(state_dir) else []
        if not rows:
            return None
        text = rows[0][0].decode() if isinstance(rows[0][0], bytes) else rows[0][0]
    else:
        path = Path(state_dir) / "settings.conf"
        if not path.exists():
            return None
        text = path.read_text()
    return dict(line.split(" = ", 1) for line in text.splitlines()
                if " = " in line and not line.startswith("#"))


def forget_saved_settings(state_dir):
    """As if nothing had ever been saved from the page."""
    if database_of(state_dir) is not None:
        if state_exists(state_dir):
            execute(state_dir, "DELETE FROM settings")
        return
    (Path(state_dir) / "settings.conf").unlink(missing_ok=True)


def sqlite_only(why):
    """A decorator for a test about SQLite itself (its file, journal,
    locks): skipped, saying why, when the state is in MariaDB."""
    return unittest.skipIf(STORE == "mysql", f"SQLite only: {why}")


def wait_for(predicate, timeout=20.0, what="condition"):
    """Polls for an outcome that happens after an answer (the applier
    runs once the webhook has answered); fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Direct:
    """The binary run as plain CGI, as a server would exec it."""
    name = "cgi"

    def __init__(self, config_path, program="webhook.cgi"):
        self.config_path = config_path
        self.binary = BINDIR / program

    def request(self, method="POST", query="", body=None, headers=None, env=None,
                timeout=60):
        e = {"REQUEST_METHOD": method, "QUERY_STRING": query,
             "KEYCRM_SYNC_CONFIG": self.config_path, **sanitizer_env()}
        if body is not None:
            e["CONTENT_LENGTH"] = str(len(body))
        for k, v in (headers or {}).items():
            e["HTTP_" + k.upper().replace("-", "_")] = v
        e.update(env or {})
        return servers.run_cgi(self.binary, env=e, body=body or b"", timeout=timeout,
                               user="www-data" if os.geteuid() == 0 else None)

    def stop(self):
        pass


class ThroughServer:
    """Requests through a real web server started from the example configs."""

    def __init__(self, kind, config_path, workers=2, programs=("webhook.cgi",)):
        cls = servers.Nginx if kind == "nginx" else servers.Apache
        kwargs = {"workers": workers} if kind == "nginx" else {}
        self.name = kind
        self.server = cls(str(root()), str(BINDIR),
                          config_path, programs=programs, env=sanitizer_env(),
                          **kwargs)
        self.server.start()

    def request(self, method="POST", query="", body=None, headers=None, env=None):
        url = f"{self.server.url}/keycrm/webhook" + (f"?{query}" if query else "")
        return servers.http_request(url, method=method, body=body, headers=headers)

    def stop(self):
        self.server.stop()


def body(items):
    return json.dumps(items).encode()


class Result(unittest.TextTestResult):
    pass


class FakeCRM(Fake):
    """The simulated KeyCRM (base URL .url + "/v1")."""

    def __init__(self, webhook_url=None):
        # One argument: a random key may begin with "-", which argparse would take
        # for an option.
        args = [f"--api-key={KEYCRM_KEY}"]
        if webhook_url:
            args += ["--webhook-url", webhook_url]
        super().__init__("fake_keycrm.py", *args)
        self.api_url = self.url + "/v1"

    def reset(self, **body):
        return self.control("reset", body)

    def state(self):
        return self.control("state")

    def offers(self):
        """{sku: offer} with per-warehouse stock and totals."""
        return {o["sku"]: o for o in self.state()["offers"]}

    def log(self):
        return self.control("log")

    def puts(self):
        return [e for e in self.log() if e["method"] == "PUT"]

    def clear_log(self):
        return self.control("log/clear", {})

    def configure(self, **options):
        return self.control("config", options)

    def set_stock(self, sku, warehouse_id=1, **values):
        return self.control("stock", {"sku": sku, "warehouse_id": warehouse_id, **values})

    def webhooks(self):
        return self.control("webhooks")

    def deliver(self, ids=None, times=1):
        body = {"times": times}
        if ids is not None:
            body["ids"] = ids
        return self.control("webhooks/deliver", body)

    def faults(self, **spec):
        return self.control("faults", spec)


class Program:
    """Any of the programs run as plain CGI or from a shell."""

    def __init__(self, name, config_path):
        self.binary = BINDIR / name
        self.config_path = config_path

    def cgi(self, method="GET", query="", body=None, headers=None, env=None):
        e = {"REQUEST_METHOD": method, "QUERY_STRING": query,
             "KEYCRM_SYNC_CONFIG": self.config_path, **sanitizer_env()}
        if body is not None:
            e["CONTENT_LENGTH"] = str(len(body))
        for k, v in (headers or {}).items():
            e["HTTP_" + k.upper().replace("-", "_")] = v
        e.update(env or {})
        # As the web server runs it: files it creates belong to www-data.
        return servers.run_cgi(self.binary, env=e, body=body or b"",
                               user="www-data" if os.geteuid() == 0 else None)

    def shell(self, *args, env=None):
        e = {"PATH": "/usr/bin:/bin", "KEYCRM_SYNC_CONFIG": self.config_path,
             **sanitizer_env(), **(env or {})}
        return subprocess.run([str(self.binary), *args], capture_output=True, text=True,
                              env=e, timeout=300)


def full_config(filename, state, shop, crm=None, **extra):
    """The configuration every module writes: the fake shop (and fake
    KeyCRM), the run's secrets, state in `state` (its database under
    KC_STORE=mysql, see write_config); extra keys override, None leaves a
    key out."""
    values = dict(webhook_secret=WEBHOOK_SECRET, sync_token=SYNC_TOKEN, state_dir=state,
                  woo_url=shop.url, woo_consumer_key=CK, woo_consumer_secret=CS,
                  sync_max_seconds=60)
    if crm is not None:
        values.update(keycrm_api_url=crm.api_url, keycrm_api_key=KEYCRM_KEY,
                      keycrm_warehouse_id=1)
    values.update(extra)
    return write_config(root() / filename, **values)


def bulk_products(first_id, n):
    """n simple products BULK-00000... with ids from first_id, 1 in stock each."""
    return [{"id": first_id + i, "type": "simple", "parent_id": 0, "sku": f"BULK-{i:05d}",
             "manage_stock": True, "stock_quantity": 1, "status": "publish",
             "name": f"Bulk {i}"} for i in range(n)]


def bulk_webhook(n):
    """KeyCRM's webhook for the n products of bulk_products(): BULK-i gets i % 50 + 2."""
    return [{"offer_id": i + 1, "sku": f"BULK-{i:05d}", "in_stock": i % 50 + 2,
             "in_reserve": 0} for i in range(n)]


def crm_like_shop(shop, reserve=0):
    """KeyCRM offers for every SKU of the fake shop, warehouse 1 stocked like
    the shop (with a reserve on top, if given): for FakeCRM.reset(**...)."""
    offers, stocks = [], []
    for p in sorted(shop.products().values(), key=lambda p: p["id"]):
        if not p.get("sku") or p["sku"] in [o["sku"] for o in offers]:
            continue
        offers.append({"id": 1000 + p["id"], "product_id": p["id"], "sku": p["sku"]})
        if p.get("manage_stock") is True and p.get("stock_quantity") is not None:
            stocks.append({"sku": p["sku"], "warehouse_id": 1,
                           "quantity": p["stock_quantity"] + reserve, "reserve": reserve})
    return {"offers": offers, "stocks": stocks}


class SharedFakes:
    """setUpModule/tearDownModule for a module that shares one fake shop
    and one fake KeyCRM: `SHOP, CRM = FAKES.start()` ... `FAKES.stop()`."""

    def __init__(self):
        self.shop = self.crm = None

    def start(self):
        self.shop, self.crm = FakeShop(), FakeCRM()
        return self.shop, self.crm

    def stop(self):
        for fake in (self.shop, self.crm):
            if fake is not None:
                fake.stop()
