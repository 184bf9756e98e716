#!/usr/bin/python3
"""keycrm-sync demo on two web servers and one MariaDB (what `make demo-cluster` runs).

The same fakes as `make demo` (tests/demo.py), but the state lives in a MariaDB server, as on
a shop that runs several web servers behind a load balancer (README, "Several web servers"):

  0. a private MariaDB (Debian's mariadb-server, its own data directory, socket and port),
     a database and a user with rights on it alone; two nginx servers, A and B, each with
     its own FastCGI workers and state_dir, both pointed at that database;
  1. KeyCRM's webhooks land on A, then on B: either applies, the shop follows both;
  2. cron calls the sync URL on both servers at once: one runs, the other answers 409;
  3. both servers' KeyCRM requests are counted in one window, in the database;
  4. server A is killed (nginx and workers, SIGKILL): B goes on taking webhooks;
  5. the URLs (secrets masked), then keeps everything running until Ctrl-C.

Needs root (the workers run as www-data, MariaDB as mysql).

Usage: /usr/bin/python3 tests/demo_cluster.py [--bindir cgi-bin] [--no-wait] [--keep]
"""

import secrets
import sys
import threading
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

import demo  # noqa: E402
from demo import (ADMIN_USER, FAKE_KEYCRM, FAKE_WOO, WAREHOUSE_ID, DemoError,  # noqa: E402
                  Fake, call, heading, pretty, say, write_config)
from harness import mariadb, servers  # noqa: E402

DATABASE, DB_USER, PREFIX = "keycrm_sync", "keycrm_sync", "keycrm_sync_"


class ClusterDemo:
    """Everything this demo starts, so that it can all be stopped whatever happens."""

    def __init__(self, bindir, workdir):
        self.bindir, self.dir = bindir, workdir
        self.woo = self.keycrm = self.db = None
        self.servers = {}
        self.creds = demo.new_credentials(mysql_password=secrets.token_urlsafe(18))

    def url(self, name, path):
        return f"{self.servers[name].url}{path}"

    def webhook_url(self, name, extra=""):
        return self.url(name, f"/keycrm/webhook?secret={self.creds['webhook_secret']}{extra}")

    def sync_url(self, name):
        return self.url(name, f"/keycrm/sync?token={self.creds['sync_token']}")

    def start(self):
        heading(0, "Starting MariaDB, the fake shop and KeyCRM, and two nginx servers")
        self.db = mariadb.MariaDB(self.dir / "mariadb").start()
        self.db.create_database(DATABASE, user=DB_USER, password=self.creds["mysql_password"])
        say(f"MariaDB: socket {self.db.socket} (PID {self.db.proc.pid}); database {DATABASE}, "
            f"user {DB_USER} with rights on that database only")
        self.woo = Fake("fake-woo", FAKE_WOO,
                        ["--consumer-key", self.creds["woo_consumer_key"],
                         "--consumer-secret", self.creds["woo_consumer_secret"]],
                        self.dir).start()
        self.keycrm = Fake("fake-keycrm", FAKE_KEYCRM,
                           [f"--api-key={self.creds['keycrm_api_key']}"], self.dir).start()
        say(f"fake WooCommerce: {self.woo.url}; fake KeyCRM: {self.keycrm.url}")
        htpasswd = servers.make_htpasswd(self.dir / "htpasswd", ADMIN_USER,
                                         self.creds["admin_password"])
        programs = [p for p in servers.PROGRAMS if (self.bindir / p).is_file()]
        for name in ("A", "B"):
            state = self.dir / f"state-{name}"
            state.mkdir()
            servers.prepare_for_www_data(state)
            config = self.dir / f"keycrm-sync-{name}.conf"
            write_config(config, {
                **demo.config_values(self.creds, self.woo, self.keycrm, state),
                "mysql_host": self.db.socket,
                "mysql_database": DATABASE,
                "mysql_user": DB_USER,
                "mysql_password": self.creds["mysql_password"],
            })
            self.servers[name] = servers.Nginx(self.dir, self.bindir, config,
                                               htpasswd=htpasswd, workers=2,
                                               programs=programs).start()
            say(f"server {name}: nginx {self.servers[name].url} (PID {self.servers[name].pid}),"
                f" its own FastCGI workers and state_dir, the shared database")
        call("POST", f"{self.woo.url}/_control/reset", {})
        call("POST", f"{self.keycrm.url}/_control/reset",
             {"options": {"webhook_warehouses": [WAREHOUSE_ID]}})

    def stop(self):
        stopped = []
        for name, srv in self.servers.items():
            srv.stop()
            stopped.append(f"server {name}")
        for fake in (self.keycrm, self.woo):
            if fake is not None and fake.stop():
                stopped.append(fake.name)
        if self.db is not None:
            self.db.stop()
            stopped.append("MariaDB")
        if stopped:
            say("Stopped " + ", ".join(stopped) + ".")

    # ----------------------------------------------------------------------------------------

    def stock(self, sku):
        _, answer = call("GET", f"{self.woo.url}/_control/products")
        for p in demo.as_list(answer, "products", "items"):
            if p.get("sku") == sku:
                return p.get("stock_quantity")
        raise DemoError(f"the shop has no product with SKU {sku!r}")

    def webhook(self, name, sku, in_stock, in_reserve=0):
        items = [{"sku": sku, "in_stock": in_stock, "in_reserve": in_reserve}]
        before = self.stock(sku)
        _, answer = call("POST", self.webhook_url(name, "&wait=1"), items)
        after = self.stock(sku)
        say(f"webhook to server {name}: {sku} in_stock {in_stock}, in_reserve {in_reserve} -> "
            f"applied {answer.get('applied')}; shop stock {before} -> {after}")
        if after != in_stock - in_reserve:
            raise DemoError(f"{sku}: the shop has {after}, not {in_stock - in_reserve}")

    def step_webhooks(self):
        heading(1, "KeyCRM's webhooks land on either server")
        self.webhook("A", "RW-SIMPLE-001", 30, 2)
        self.webhook("B", "RW-SIMPLE-001", 25, 0)
        self.webhook("B", "RW-TEE-M", 12, 1)
        rows = self.db.sql(f"SELECT sku, agreed_qty FROM {PREFIX}ledger ORDER BY sku", DATABASE)
        say("one ledger for both, in the database: " +
            ", ".join(f"{sku} = {qty}" for sku, qty in rows))

    def step_sync_on_both(self):
        heading(2, "cron calls the sync URL on both servers at the same moment")
        answers, start = {}, threading.Barrier(2)

        def run(name):
            start.wait()
            answers[name] = call("GET", self.sync_url(name), expect=(200, 409), timeout=300)

        threads = [threading.Thread(target=run, args=(n,)) for n in ("A", "B")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        for name in ("A", "B"):
            status, answer = answers[name]
            summary = {"status": "busy"} if status == 409 else {
                k: answer.get(k) for k in ("first_run", "scanned", "sent", "errors")}
            say(f"server {name}: {status} {pretty(summary)}")
        if sorted(s for s, _ in answers.values()) != [200, 409]:
            raise DemoError("expected one run (200) and one 409 while it ran")

    def step_one_window(self):
        heading(3, "One KeyCRM request window for both servers")
        _, state = call("GET", f"{self.woo.url}/_control/products")
        product = next(p for p in demo.as_list(state, "products", "items")
                       if p.get("sku") == "RW-SIMPLE-003")
        call("POST", f"{self.woo.url}/_control/sale", {"id": product["id"], "quantity": 2})
        say("shop: 2 x RW-SIMPLE-003 sold")
        for name in ("A", "B"):
            _, answer = call("GET", self.sync_url(name), timeout=300)
            say(f"sync on server {name}: sent {answer.get('sent')}, "
                f"{answer.get('keycrm_requests')} KeyCRM request(s)")
        rows = self.db.sql(f"SELECT COUNT(*) FROM {PREFIX}keycrm_requests "
                           f"WHERE t > UNIX_TIMESTAMP() - 60", DATABASE)
        say(f"KeyCRM requests in the last minute, both servers together: {rows[0][0]} "
            f"(the limit is the keycrm_requests_per_minute of both, not of each)")

    def step_one_server_down(self):
        heading(4, "Server A dies (nginx and its workers, SIGKILL); B carries on")
        self.servers["A"].kill()
        say("server A: killed")
        self.webhook("B", "RW-SIMPLE-001", 21, 0)

    def show_urls(self):
        heading(5, "Running")
        say(f"webhook URL on B (paste into KeyCRM): {self.webhook_url('B')}")
        say(f"sync URL on B (for crontab):          {self.sync_url('B')}")
        say(f"settings page on B:                   {self.url('B', '/keycrm/settings')}  "
            f"(user {ADMIN_USER}, password {self.creds['admin_password']})")
        say(f"MariaDB: mariadb -S {self.db.socket} -u root {DATABASE}")

    def walk(self):
        self.step_webhooks()
        self.step_sync_on_both()
        self.step_one_window()
        self.step_one_server_down()
        self.show_urls()


def check_mariadb(bindir):
    if not mariadb.available():
        raise DemoError("MariaDB is not installed (apt-get install mariadb-server "
                        "mariadb-client)")


def make_demo(bindir, workdir):
    workdir.chmod(0o755)            # mariadbd runs as mysql and must reach its directory
    return ClusterDemo(bindir, workdir)


def main(argv=None):
    return demo.run(make_demo, argv, description=__doc__.split("\n\n")[0],
                    prefix="keycrm-demo-cluster-", check=check_mariadb)

if __name__ == "__main__":
    sys.exit(main())
