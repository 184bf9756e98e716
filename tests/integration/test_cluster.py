"""Two web servers, one MariaDB: the state shared as SPEC section 1 describes.

Two nginx instances, each with its own FastCGI workers and its own state_dir,
configured with the same mysql_* keys, in front of one private MariaDB
(harness/mariadb.py) and the simulated shop and KeyCRM:

- KeyCRM's webhooks land on either server, alternating, with overlapping SKUs:
  the shop ends with exactly the last value sent for every SKU, whichever
  server applied it;
- a sync started on both servers at once runs once: the other answers 409;
- settings saved on one server's page (its form posted to the other) are used by the
  other server's next request;
- every KeyCRM request of both servers is counted in the one shared window;
- the database restarted while a sync reads the shop: that run fails cleanly
  (or goes on), the next one finishes, and no SKU is pushed twice;
- one server SIGKILLed (nginx and workers) in the middle of applying a
  5,000-item webhook: the other server takes the applier's lease over once
  it expires and finishes the work; every value ends right.
"""

import json
import re
import secrets
import threading
import time
import unittest
import urllib.parse

import kctest
from kctest import (SYNC_TOKEN, WEBHOOK_SECRET, FakeCRM, FakeShop,
                    crm_like_shop, full_config, make_state_dir, wait_for)

# Run once, not again under KC_STORE=mysql (tests/run.py): always on MariaDB.
STORE_INDEPENDENT = True

SHOP = CRM = DB = None
DATABASE = "kc_cluster"
PREFIX = "keycrm_sync_"
SERVERS = []
USER, PASSWORD = "shopadmin", secrets.token_urlsafe(16)
SKUS = {"RW-SIMPLE-001": 10, "RW-SIMPLE-003": 12, "RW-SIMPLE-004": 13, "RW-SIMPLE-005": 14,
        "RW-TEE-S": 22, "RW-TEE-M": 23}


def shared_keys():
    return dict(mysql_host=DB.socket, mysql_database=DATABASE, mysql_user=kctest.DB_USER,
                mysql_password=kctest.DB_PASSWORD, mysql_table_prefix=PREFIX)


def setUpModule():
    global SHOP, CRM, DB
    SHOP, CRM = FakeShop(), FakeCRM()
    DB = kctest.mariadb()
    DB.create_database(DATABASE, user=kctest.DB_USER, password=kctest.DB_PASSWORD)
    SHOP.reset()
    CRM.reset(**crm_like_shop(SHOP))
    htpasswd = kctest.servers.make_htpasswd(kctest.root() / "cluster.htpasswd", USER, PASSWORD)
    for name in ("cluster-a", "cluster-b"):
        conf = full_config(f"{name}.conf", make_state_dir(name), SHOP, CRM, **shared_keys())
        srv = kctest.servers.Nginx(str(kctest.root()), str(kctest.BINDIR), conf,
                                   htpasswd=htpasswd, workers=2, env=kctest.sanitizer_env(),
                                   programs=("webhook.cgi", "sync.cgi", "settings.cgi"))
        srv.start()
        SERVERS.append(srv)


def tearDownModule():
    for srv in SERVERS:
        srv.stop()
    for fake in (SHOP, CRM):
        if fake is not None:
            fake.stop()


def sql(statement, *args):
    import pymysql
    con = pymysql.connect(unix_socket=DB.socket, user=kctest.DB_USER,
                          password=kctest.DB_PASSWORD, database=DATABASE, autocommit=True)
    try:
        with con.cursor() as cur:
            cur.execute(statement, args)
            return list(cur.fetchall())
    finally:
        con.close()


def url(i, path):
    return f"{SERVERS[i].url}{path}"


def page(i, method="GET", fields=None):
    body = urllib.parse.urlencode(fields).encode() if fields is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    return kctest.servers.http_request(url(i, "/keycrm/settings"), method, body, headers,
                                       auth=(USER, PASSWORD), timeout=120)


def csrf_token(r):
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', r.text)
    assert m, r.text[:2000]
    return m.group(1)


def webhook(i, items):
    return kctest.servers.http_request(url(i, f"/keycrm/webhook?secret={WEBHOOK_SECRET}"),
                                       method="POST", body=json.dumps(items).encode(),
                                       timeout=120)


def sync(i):
    return kctest.servers.http_request(url(i, f"/keycrm/sync?token={SYNC_TOKEN}"), timeout=180)


def inbox_empty():
    return sql(f"SELECT COUNT(*) FROM {PREFIX}inbox")[0][0] == 0


class SharedState(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        r = sync(0)
        assert r.status == 200, r.text

    def test_a_webhooks_on_either_server_end_in_the_last_value(self):
        rng = secrets.SystemRandom()
        last = {}
        for n in range(12):
            skus = rng.sample(sorted(SKUS), 3)
            items = [{"sku": s, "in_stock": 30 + n, "in_reserve": 0} for s in skus]
            r = webhook(n % 2, items)
            self.assertEqual(r.status, 200, r.text)
            self.assertEqual(r.json()["queued"], 3)
            last.update({s: 30 + n for s in skus})
        wait_for(inbox_empty, timeout=60, what="the shared inbox to drain")
        shop = SHOP.products()
        for sku, value in last.items():
            self.assertEqual(shop[SKUS[sku]]["stock_quantity"], value, sku)
        # One ledger for both servers: each SKU agreed once, at its last value.
        agreed = dict(sql(f"SELECT sku, agreed_qty FROM {PREFIX}ledger"))
        for sku, value in last.items():
            self.assertEqual(agreed[sku], value, sku)

    def test_b_a_sync_runs_on_one_server_at_a_time(self):
        SHOP.faults(latency_ms=400)
        answers = [None, None]
        start = threading.Barrier(2)

        def run(i):
            start.wait()
            answers[i] = sync(i)

        threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(240)
        finally:
            SHOP.faults()
        statuses = sorted(a.status for a in answers)
        self.assertEqual(statuses, [200, 409], [a.text for a in answers])
        busy = [a for a in answers if a.status == 409][0]
        self.assertEqual(busy.json(), {"status": "busy"})

    def test_c_settings_saved_on_one_servers_page_are_used_by_the_other(self):
        # The form is shown by one server and posted to the other, as a balancer may do:
        # the form key is shared.
        token = csrf_token(page(0))
        r = page(1, "POST", dict(csrf=token, action="save", keycrm_warehouse_id="1",
                                 subtract_reserve="no", manage_stock=""))
        self.assertEqual(r.status, 303, r.text[:2000])
        saved = sql(f"SELECT value FROM {PREFIX}settings")
        self.assertEqual(len(saved), 1)
        self.assertIn("subtract_reserve = no\n", saved[0][0])
        try:
            r = webhook(0, [{"sku": "RW-SIMPLE-005", "in_stock": 9, "in_reserve": 4}])
            self.assertEqual(r.status, 200, r.text)
            wait_for(inbox_empty, timeout=60, what="the shared inbox to drain")
            self.assertEqual(SHOP.qty(SKUS["RW-SIMPLE-005"]), 9)
            # Both pages show the value and where it comes from.
            for i in (0, 1):
                self.assertIn("saved from this page", page(i).text)
        finally:
            sql(f"DELETE FROM {PREFIX}settings")
        r = webhook(1, [{"sku": "RW-SIMPLE-005", "in_stock": 9, "in_reserve": 4}])
        self.assertEqual(r.status, 200, r.text)
        wait_for(inbox_empty, timeout=60, what="the shared inbox to drain")
        self.assertEqual(SHOP.qty(SKUS["RW-SIMPLE-005"]), 5)

    def test_d_one_window_counts_both_servers_keycrm_requests(self):
        started = time.time() - 1
        CRM.clear_log()
        for i in (0, 1):
            SHOP.control("sale", {"id": SKUS["RW-TEE-S"], "quantity": 1})
            r = sync(i)
            self.assertEqual(r.status, 200, r.text)
            self.assertEqual(r.json()["errors"], [], r.text)
        made = len([e for e in CRM.log() if e["path"].startswith("/v1/")])
        counted = sql(f"SELECT COUNT(*) FROM {PREFIX}keycrm_requests WHERE t >= %s",
                      started)[0][0]
        self.assertGreater(made, 0)
        self.assertEqual(counted, made)
        self.assertFalse([e for e in CRM.log() if e.get("over_limit")])

    def test_e_the_database_restarted_during_a_sync_loses_and_repeats_nothing(self):
        baseline = sync(1)
        self.assertEqual(baseline.status, 200, baseline.text)
        sold = {"RW-SIMPLE-003": 2, "RW-TEE-M": 1}
        for sku, n in sold.items():
            SHOP.control("sale", {"id": SKUS[sku], "quantity": n})
        CRM.clear_log()
        SHOP.clear_log()
        # Every shop answer takes a while: the restart lands while the run reads.
        SHOP.faults(latency_ms=1500)
        answer = {}
        runner = threading.Thread(target=lambda: answer.update(r=sync(1)))
        runner.start()
        try:
            wait_for(lambda: SHOP.log(), timeout=60, what="the run to read the shop")
            DB.restart()
        finally:
            runner.join(240)
            SHOP.faults()
        r = answer["r"]
        # Failed cleanly (an answer that says why) or went on after reconnecting.
        self.assertIn(r.status, (200, 500, 502, 503), r.text)
        self.assertIsInstance(r.json(), dict, r.text)
        pushed_first = CRM.puts()
        for attempt in range(10):
            r = sync(1)
            if r.status == 200 and r.json()["errors"] == []:
                break
            time.sleep(1)   # the dead run's lease expires; the next one takes over
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.json()["errors"], [], r.text)
        sent = {}
        for put in CRM.puts():
            b = put["body"]
            for item in (json.loads(b) if isinstance(b, (str, bytes)) else b)["stocks"]:
                sent.setdefault(item["sku"], []).append(item["quantity"])
        offers = CRM.offers()
        for sku in sold:
            # Exactly once over both runs, with the shop's value.
            self.assertEqual(len(sent.get(sku, [])), 1, (sku, sent, len(pushed_first)))
            cell = offers[sku]["stocks"]["1"]
            self.assertEqual(cell["quantity"] - cell["reserve"], SHOP.qty(SKUS[sku]), sku)

    def test_f_a_server_killed_mid_apply_leaves_the_rest_to_the_other(self):
        SHOP.upsert(*kctest.bulk_products(5000, 5000))
        SHOP.clear_log()
        items = kctest.bulk_webhook(5000)
        # Slow shop answers, so that the kill lands in the middle of the apply.
        SHOP.faults(latency_ms=300)
        try:
            r = webhook(0, items)
            self.assertEqual((r.status, r.json().get("queued")), (200, 5000), r.text)
            wait_for(lambda: len([e for e in SHOP.log() if e["method"] == "POST"]) >= 3,
                     timeout=120, what="server A to write a few batches")
            SERVERS[0].kill()
        finally:
            SHOP.faults()
        written = len([e for e in SHOP.log() if e["method"] == "POST"])
        self.assertLess(written, 50, "the apply ended before the kill")
        self.assertFalse(inbox_empty())

        # The other server's next webhooks only queue while A's lease holds,
        # then its applier takes the lease over and finishes A's work.
        def finished():
            r = webhook(1, [{"sku": "RW-SIMPLE-001", "in_stock": 40, "in_reserve": 0}])
            assert r.status == 200, r.text
            time.sleep(1)
            return inbox_empty()

        wait_for(finished, timeout=180, what="server B to finish the apply")
        shop = SHOP.products()
        wrong = [i for i in range(5000) if shop[5000 + i]["stock_quantity"] != i % 50 + 2]
        self.assertEqual(wrong, [])
        self.assertEqual(SHOP.qty(SKUS["RW-SIMPLE-001"]), 40)


if __name__ == "__main__":
    unittest.main()
