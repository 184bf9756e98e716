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
import secrets
import shutil
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
        self.proc = subprocess.Popen([PYTHON, str(HERE / "fakes" / script), "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("PORT="):
            self.proc.kill()
            raise RuntimeError(f"{script} did not start: {line!r}")
        self.port = int(line[5:])
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
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


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


def inbox(state_dir):
    """The webhook inbox as {sku: (in_stock, in_reserve)}."""
    if database_of(state_dir) is not None:
        try:
            return {r[0]: (r[1], r[2]) for r in
                    query(state_dir, "SELECT sku, in_stock, in_reserve FROM inbox")}
        except _mysql_missing_table():
            return {}
    db = Path(state_dir) / "state.db"
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return {r[0]: (r[1], r[2]) for r in
                con.execute("SELECT sku, in_stock, in_reserve FROM inbox")}
    finally:
        con.close()


def _mysql_missing_table():
    import pymysql
    return pymysql.err.ProgrammingError


def _mysql_query(state_dir, sql, args):
    """A test's SQLite query on the state directory's MariaDB database."""
    import re
    import pymysql
    for table in STORE_TABLES:
        sql = re.sub(rf"(?<![\w.])({table})(?![\w])(?=\s*(?:$|[\s,;)(]|WHERE|ORDER|GROUP|LIMIT))",
                     DB_PREFIX + table, sql) if re.search(rf"(FROM|JOIN|INTO|UPDATE|TABLE)\s+{table}\b", sql) else sql
    sql = re.sub(r"\?\d*", "%s", sql)
    con = pymysql.connect(unix_socket=mariadb().socket, user=DB_USER, password=DB_PASSWORD,
                          database=database_of(state_dir), sql_mode="ANSI_QUOTES,PIPES_AS_CONCAT")
    try:
        with con.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        con.close()


def query(state_dir, sql, *args):
    if database_of(state_dir) is not None:
        return _mysql_query(state_dir, sql, args)
    con = sqlite3.connect(f"file:{Path(state_dir) / 'state.db'}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


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
    """A configuration for both sides: the fake shop (and fake KeyCRM), the
    run's secrets, state in `state`; extra keys override."""
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
