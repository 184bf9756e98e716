"""sync.cgi through the real binary (SPEC section 3 sync.cgi, section 4):
token auth, one run at a time, the first run's baseline, sending only
what changed (value = shop quantity + KeyCRM's reserve), no lost update
when a webhook arrives during the scan, resuming after sync_max_seconds,
KeyCRM's 422 for unknown SKUs, a rejected key, dry run, push all,
backfill, and the echo of our own push dying out.
"""

import json
import os
import pwd
import threading
import time
import unittest
from pathlib import Path

import kctest
from kctest import (full_config, SYNC_TOKEN, WEBHOOK_SECRET, Program, ThroughServer,
                    make_state_dir, query, root, wait_for, write_config)

SHOP = CRM = None
TOKEN_Q = f"token={SYNC_TOKEN}"


FAKES = kctest.SharedFakes()


def setUpModule():
    global SHOP, CRM
    SHOP, CRM = FAKES.start()


def tearDownModule():
    FAKES.stop()


def config(name, state, **extra):
    extra.setdefault("sync_max_seconds", 60)
    return full_config(f"{name}.conf", state, SHOP, CRM, **extra)


def crm_like_shop(reserve=0):
    return kctest.crm_like_shop(SHOP, reserve)


def body_of(entry):
    """A logged request's JSON body (the fake keeps it parsed or as text)."""
    b = entry["body"]
    return json.loads(b) if isinstance(b, (str, bytes)) else b


class SyncCase(unittest.TestCase):
    def setUp(self):
        self.state = make_state_dir("state-sync")
        SHOP.reset()
        SHOP.faults()
        CRM.reset(**crm_like_shop())
        CRM.configure(webhook_mode="hold", unknown_sku="skip")
        self.config = config("sync", self.state)
        self.sync = Program("sync.cgi", self.config)
        self.webhook = Program("webhook.cgi", self.config)

    def run_sync(self, query="", expect=200, **kw):
        r = self.sync.cgi("GET", TOKEN_Q + ("&" + query if query else ""), **kw)
        self.assertEqual(r.status, expect, r.text + r.stderr.decode())
        return r.json()

    def baseline(self):
        ans = self.run_sync()
        self.assertTrue(ans["first_run"], ans)
        CRM.clear_log()
        SHOP.clear_log()
        return ans

    def deliver_echoes(self):
        """KeyCRM's webhooks (held by the fake) delivered to webhook.cgi."""
        for hook in CRM.webhooks():
            if hook["delivered"]:
                continue
            r = self.webhook.cgi("POST", f"secret={WEBHOOK_SECRET}&wait=1",
                                 json.dumps(hook["payload"]).encode())
            self.assertEqual(r.status, 200, r.text)
        CRM.control("webhooks/clear", {})


class Auth(SyncCase):
    def test_token_required(self):
        for q in ("", "token=wrong", "token=" + SYNC_TOKEN[:-1]):
            r = self.sync.cgi("GET", q)
            self.assertEqual(r.status, 403, q)
            self.assertNotIn(SYNC_TOKEN, r.text)
        self.assertEqual(SHOP.log(), [])

    def test_token_in_header(self):
        r = self.sync.cgi("GET", "", headers={"X-Sync-Token": SYNC_TOKEN})
        self.assertEqual(r.status, 200, r.text)

    def test_no_token_configured_is_503(self):
        cfg = write_config(root() / "notoken.conf", state_dir=self.state, woo_url=SHOP.url)
        r = Program("sync.cgi", cfg).cgi("GET", "token=x")
        self.assertEqual(r.status, 503)

    def test_other_methods_are_405(self):
        r = self.sync.cgi("PUT", TOKEN_Q)
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers.get("allow"), "GET, POST")

    def test_busy_is_409_at_once(self):
        self.assertEqual(self.sync.cgi("GET", TOKEN_Q).status, 200)   # the state exists
        SHOP.clear_log()
        with kctest.RunLock(self.state, "sync"):
            r = self.sync.cgi("GET", TOKEN_Q)
            self.assertEqual(r.status, 409)
            self.assertEqual(r.json(), {"status": "busy"})
            out = self.sync.shell()
            self.assertEqual(out.returncode, 3, out.stderr)
        self.assertEqual(SHOP.log(), [])


class Decisions(SyncCase):
    def test_first_run_records_the_baseline_and_sends_nothing(self):
        ans = self.run_sync()
        self.assertTrue(ans["first_run"])
        self.assertEqual(ans["sent"], 0)
        self.assertEqual(CRM.puts(), [])
        agreed = dict(query(self.state, "SELECT sku, agreed_qty FROM ledger"))
        p = SHOP.products()
        self.assertEqual(agreed["RW-SIMPLE-001"], p[10]["stock_quantity"])
        self.assertEqual(agreed["RW-TEE-M"], p[23]["stock_quantity"])
        self.assertNotIn("RW-SIMPLE-006", agreed)   # does not manage stock
        # A second run is no first run, and nothing changed.
        ans = self.run_sync()
        self.assertFalse(ans["first_run"])
        self.assertEqual((ans["changed"], ans["sent"]), (0, 0))
        self.assertEqual(CRM.puts(), [])

    def test_sale_in_the_shop_is_sent_with_the_reserve_added(self):
        self.baseline()
        # KeyCRM told us about a reserve of 2 on RW-SIMPLE-003 (shop then 25 - 2).
        CRM.set_stock("RW-SIMPLE-003", quantity=27, reserve=2)
        self.deliver_echoes()
        shop_before = SHOP.qty(12)
        SHOP.control("sale", {"id": 12, "quantity": 3})
        SHOP.control("sale", {"id": 23, "quantity": 1})
        ans = self.run_sync()
        self.assertEqual((ans["changed"], ans["sent"]), (2, 2), ans)
        puts = CRM.puts()
        self.assertEqual(len(puts), 1)
        sent = {s["sku"]: s["quantity"] for s in body_of(puts[0])["stocks"]}
        self.assertEqual(sent["RW-SIMPLE-003"], shop_before - 3 + 2)
        self.assertEqual(sent["RW-TEE-M"], SHOP.qty(23))
        self.assertEqual(body_of(puts[0])["warehouse_id"], 1)
        offers = CRM.offers()
        self.assertEqual(offers["RW-SIMPLE-003"]["in_stock"] - offers["RW-SIMPLE-003"]["in_reserve"],
                         SHOP.qty(12))

    def test_echo_of_our_push_dies_out(self):
        self.baseline()
        SHOP.control("sale", {"id": 10, "quantity": 2})
        SHOP.control("sale", {"id": 26, "quantity": 1})
        ans = self.run_sync()
        self.assertEqual(ans["sent"], 2, ans)
        self.assertEqual(len(CRM.webhooks()), 1)
        SHOP.clear_log()
        CRM.clear_log()
        self.deliver_echoes()
        # The echo computes back to what the shop holds: no write.
        self.assertEqual([e for e in SHOP.log() if e["method"] == "POST"], [])
        ans = self.run_sync()
        self.assertEqual((ans["changed"], ans["sent"]), (0, 0), ans)
        self.assertEqual(CRM.puts(), [])

    def test_skips_are_counted_not_guessed(self):
        ans = self.run_sync(query="full=1")
        # 17 has no SKU, 15 does not manage stock, 28 shows its parent's SKU.
        self.assertGreaterEqual(ans["skipped"], 3, ans)

    def test_new_sku_after_the_first_run_is_sent(self):
        self.baseline()
        SHOP.upsert({"id": 50, "type": "simple", "parent_id": 0, "sku": "RW-NEW-1",
                     "manage_stock": True, "stock_quantity": 4, "status": "publish",
                     "name": "New"})
        CRM.control("offers", {"upsert": [{"id": 5050, "sku": "RW-NEW-1"}]})
        ans = self.run_sync(query="full=1")
        self.assertEqual(ans["sent"], 1, ans)
        self.assertEqual(CRM.offers()["RW-NEW-1"]["in_stock"], 4)

    def test_unknown_skus_are_dropped_from_a_422_and_the_rest_sent(self):
        self.baseline()
        CRM.configure(unknown_sku="422")
        SHOP.upsert({"id": 51, "type": "simple", "parent_id": 0, "sku": "SHOP-ONLY-1",
                     "manage_stock": True, "stock_quantity": 9, "status": "publish",
                     "name": "Shop only"})
        SHOP.control("sale", {"id": 13, "quantity": 1})
        ans = self.run_sync(query="full=1")
        self.assertEqual(ans["unknown_skus"], ["SHOP-ONLY-1"], ans)
        self.assertEqual(ans["sent"], 1)
        self.assertEqual(CRM.offers()["RW-SIMPLE-004"]["in_stock"], SHOP.qty(13))
        self.assertIn(("SHOP-ONLY-1", "not_in_keycrm"),
                      query(self.state, "SELECT sku, kind FROM problems"))

    def test_rejected_key_is_said_plainly(self):
        self.baseline()
        SHOP.control("sale", {"id": 10, "quantity": 1})
        cfg = config("badcrm", self.state, keycrm_api_key="not-the-key")
        r = Program("sync.cgi", cfg).cgi("GET", TOKEN_Q)
        ans = r.json()
        self.assertEqual(ans["sent"], 0)
        self.assertIn("rejected the API key", " ".join(ans["errors"]))
        self.assertNotIn("not-the-key", r.text)
        # Not recorded as agreed: the next run sends it.
        ans = self.run_sync()
        self.assertEqual(ans["sent"], 1, ans)

    def test_dry_run_writes_nothing_anywhere(self):
        self.baseline()
        SHOP.control("sale", {"id": 10, "quantity": 2})
        ledger = query(self.state, "SELECT * FROM ledger ORDER BY sku")
        ans = self.run_sync(query="dry_run=1")
        # KeyCRM's reserve for it is not known yet, and a dry run asks nothing.
        self.assertEqual(ans["plan"], [{"sku": "RW-SIMPLE-001", "shop": SHOP.qty(10),
                                        "send": float(SHOP.qty(10)),
                                        "plus_keycrm_reserve": True}])
        self.assertEqual(CRM.puts(), [])
        self.assertEqual(query(self.state, "SELECT * FROM ledger ORDER BY sku"), ledger)
        self.assertEqual([e for e in SHOP.log() if e["method"] != "GET"], [])
        out = self.sync.shell("--dry-run")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("RW-SIMPLE-001", out.stdout)

    def test_push_all_sends_every_managed_sku(self):
        ans = self.run_sync(query="push_all=1")
        self.assertFalse(ans["first_run"])
        self.assertGreaterEqual(ans["sent"], 10, ans)
        self.assertEqual(len(CRM.puts()), 1)
        # And the baseline is done: the next run sends nothing.
        CRM.clear_log()
        self.assertEqual(self.run_sync()["sent"], 0)


class ShopOrdersInKeyCRM(SyncCase):
    """shop_orders_in_keycrm = yes: the shop's sales reach KeyCRM as
    orders, so only the part of a change they don't explain is sent."""

    def setUp(self):
        super().setUp()
        self.config = config("orders", self.state, shop_orders_in_keycrm="yes")
        self.sync = Program("sync.cgi", self.config)

    def test_sales_are_not_sent_twice_but_restocks_are(self):
        self.baseline()
        # Order times have whole seconds: keep the sale out of the baseline's.
        time.sleep(1.1)
        before = SHOP.qty(12)
        in_stock = CRM.offers()["RW-SIMPLE-003"]["in_stock"]
        SHOP.control("sale", {"id": 12, "quantity": 3})
        ans = self.run_sync()
        self.assertEqual((ans["changed"], ans["sent"]), (0, 0), ans)
        self.assertEqual(CRM.puts(), [])
        self.assertEqual(dict(query(self.state, "SELECT sku, agreed_qty FROM ledger"))
                         ["RW-SIMPLE-003"], before - 3)
        # A restock of 5 and another sale of 1: only the 5 is news to KeyCRM.
        time.sleep(1.1)
        SHOP.upsert({"id": 12, "stock_quantity": before - 3 + 5})
        SHOP.control("sale", {"id": 12, "quantity": 1})
        ans = self.run_sync()
        self.assertEqual(ans["sent"], 1, ans)
        sent = body_of(CRM.puts()[0])["stocks"]
        self.assertEqual(sent, [{"sku": "RW-SIMPLE-003", "quantity": in_stock + 5}])
        # Nothing left to explain: the next run is quiet.
        CRM.clear_log()
        self.assertEqual(self.run_sync()["sent"], 0)

    def test_an_order_keycrm_already_reserved_is_not_counted_again(self):
        self.baseline()
        time.sleep(1.1)
        in_stock = CRM.offers()["RW-SIMPLE-001"]["in_stock"]
        SHOP.control("sale", {"id": 10, "quantity": 2})
        time.sleep(1.1)
        # KeyCRM imports the order and reserves it; that webhook comes first.
        CRM.set_stock("RW-SIMPLE-001", quantity=in_stock, reserve=2)
        self.deliver_echoes()
        ans = self.run_sync()
        self.assertEqual((ans["changed"], ans["sent"]), (0, 0), ans)
        self.assertEqual(CRM.puts(), [])

    def test_dry_run_plans_the_same_without_recording(self):
        self.baseline()
        time.sleep(1.1)
        SHOP.control("sale", {"id": 10, "quantity": 2})
        ans = self.run_sync(query="dry_run=1")
        self.assertEqual(ans["plan"], [])
        self.assertEqual(query(self.state, "SELECT count(*) FROM order_lines"), [(0,)])


class Races(SyncCase):
    def test_webhook_during_the_scan_wins(self):
        self.baseline()
        SHOP.control("sale", {"id": 10, "quantity": 1})
        SHOP.faults(latency_ms=1500)
        result = {}
        t = threading.Thread(target=lambda: result.update(self.run_sync()))
        t.start()
        time.sleep(0.6)
        # KeyCRM reports a new quantity while the sync reads the shop.
        r = self.webhook.cgi("POST", f"secret={WEBHOOK_SECRET}",
                             json.dumps([{"sku": "RW-SIMPLE-001", "in_stock": 40,
                                          "in_reserve": 0}]).encode())
        self.assertEqual(r.status, 200)
        t.join(120)
        SHOP.faults()
        self.assertGreaterEqual(result["held"], 1, result)
        sent = [s["sku"] for e in CRM.puts() for s in body_of(e)["stocks"]]
        self.assertNotIn("RW-SIMPLE-001", sent)
        wait_for(lambda: SHOP.qty(10) == 40, what="the webhook's value in the shop")
        ans = self.run_sync()
        self.assertEqual(ans["sent"], 0, ans)

    def test_stops_at_sync_max_seconds_and_resumes(self):
        self.baseline()
        SHOP.upsert(*[{"id": 3000 + i, "type": "simple", "parent_id": 0,
                       "sku": f"PAGE-{i:04d}", "manage_stock": True, "stock_quantity": 5,
                       "status": "publish", "name": f"P{i}"} for i in range(250)])
        CRM.control("offers", {"upsert": [{"id": 7000 + i, "sku": f"PAGE-{i:04d}"}
                                          for i in range(250)]})
        SHOP.faults(latency_ms=1200)
        cfg = config("short", self.state, sync_max_seconds=3, woo_parallel_requests=1)
        first = Program("sync.cgi", cfg).cgi("GET", TOKEN_Q + "&full=1").json()
        self.assertFalse(first["complete"], first)
        first_pages = [e["query"].get("page") for e in SHOP.log()
                       if e["path"].endswith("/products")]
        SHOP.clear_log()
        SHOP.faults()
        ans = Program("sync.cgi", cfg).cgi("GET", TOKEN_Q).json()
        self.assertTrue(ans["complete"], ans)
        resumed = [e["query"].get("page") for e in SHOP.log()
                   if e["path"].endswith("/products")]
        self.assertNotEqual(resumed[0], "1", (first_pages, resumed))
        self.assertEqual(resumed[-1], "3")
        # What the first call decided was sent before it stopped.
        self.assertEqual(first["sent"] + ans["sent"], 250, (first, ans))


class ParallelPages(SyncCase):
    def test_pages_read_at_once_are_decided_like_one_by_one(self):
        SHOP.upsert(*[{"id": 4000 + i, "type": "simple", "parent_id": 0,
                       "sku": f"PAR-{i:04d}", "manage_stock": True, "stock_quantity": i % 7,
                       "status": "publish", "name": f"P{i}"} for i in range(320)])
        CRM.control("offers", {"upsert": [{"id": 9000 + i, "sku": f"PAR-{i:04d}"}
                                          for i in range(320)]})
        results = {}
        for parallel in (1, 3):
            state = make_state_dir(f"state-par{parallel}")
            cfg = config(f"par{parallel}", state, woo_parallel_requests=parallel)
            SHOP.clear_log()
            ans = Program("sync.cgi", cfg).cgi("GET", TOKEN_Q + "&push_all=1").json()
            pages = sorted(int(e["query"]["page"]) for e in SHOP.log()
                           if e["path"].endswith("/wc/v3/products"))
            self.assertEqual(pages, [1, 2, 3, 4], (parallel, pages))
            results[parallel] = (ans["scanned"], ans["sent"], ans["skipped"])
            self.assertEqual(ans["errors"], [])
        self.assertEqual(results[1], results[3])
        self.assertGreater(results[3][1], 320)


class Backfill(SyncCase):
    def test_pull_sets_the_shop_from_keycrm(self):
        CRM.reset(stocks=[{"sku": "RW-SIMPLE-001", "warehouse_id": 1, "quantity": 30,
                           "reserve": 4},
                          {"sku": "RW-SIMPLE-001", "warehouse_id": 2, "quantity": 100,
                           "reserve": 0},
                          {"sku": "RW-TEE-S", "warehouse_id": 1, "quantity": 6,
                           "reserve": 0}])
        ans = self.run_sync(query="pull=1")
        self.assertGreaterEqual(ans["pulled"], 2, ans)
        # The configured warehouse's numbers, not the totals.
        self.assertEqual(SHOP.qty(10), 26)
        self.assertEqual(SHOP.qty(22), 6)
        gets = [e for e in CRM.log() if e["path"] == "/v1/offers/stocks"]
        self.assertTrue(gets and all(e["query"].get("filter", {}).get("details") == "true" for e in gets), gets)
        self.assertTrue(all(e["query"].get("limit") == "50" for e in gets))
        # Afterwards the first run is over: a sync sends only changes.
        self.assertFalse(self.run_sync()["first_run"])


class ThroughServers(unittest.TestCase):
    """The cron URL behind the real servers, as wget calls it."""

    def test_nginx_and_apache(self):
        for kind in ("nginx", "apache"):
            with self.subTest(kind=kind):
                state = make_state_dir(f"state-sync-{kind}")
                SHOP.reset()
                CRM.reset(**crm_like_shop())
                cfg = config(f"sync-{kind}", state)
                srv = ThroughServer(kind, cfg, programs=("webhook.cgi", "sync.cgi"))
                try:
                    r = kctest.servers.http_request(f"{srv.server.url}/keycrm/sync?{TOKEN_Q}")
                    self.assertEqual(r.status, 200, r.text)
                    self.assertTrue(r.json()["first_run"])
                    SHOP.control("sale", {"id": 12, "quantity": 1})
                    r = kctest.servers.http_request(
                        f"{srv.server.url}/keycrm/sync?{TOKEN_Q}", method="POST", body=b"")
                    self.assertEqual(r.json()["sent"], 1, r.text)
                    r = kctest.servers.http_request(f"{srv.server.url}/keycrm/sync?token=no")
                    self.assertEqual(r.status, 403)
                    self.assertNotIn(SYNC_TOKEN, srv.server.access_log_text())
                finally:
                    srv.stop()


class Shell(SyncCase):
    def test_summary_and_exit_statuses(self):
        out = self.sync.shell()
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("first run", out.stdout)
        out = self.sync.shell("--bogus")
        self.assertEqual(out.returncode, 2)
        bad = write_config(root() / "bad-shell.conf", sync_max_seconds="soon")
        out = Program("sync.cgi", bad).shell()
        self.assertEqual(out.returncode, 2)
        self.assertIn("sync_max_seconds must be a whole number", out.stderr)

    def test_summary_speaks_the_language_key_else_the_locale(self):
        """From a shell the language is the `language` key's, else the
        environment's locale: cron's C locale keeps English."""
        out = self.sync.shell(env={"LANG": "uk_UA.UTF-8"})
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("прочитано позицій магазину", out.stdout)
        self.assertIn("перший запуск", out.stdout)
        out = self.sync.shell(env={"LANG": "C"})
        self.assertIn("shop items read", out.stdout)
        out = self.sync.shell(env={"LC_ALL": "en_US.UTF-8", "LANG": "uk_UA.UTF-8"})
        self.assertIn("shop items read", out.stdout)
        for key, lang, words in (("uk", "C", "прочитано позицій магазину"),
                                 ("en", "uk_UA.UTF-8", "shop items read")):
            cfg = config(f"sync-lang-{key}", self.state, language=key)
            out = Program("sync.cgi", cfg).shell(env={"LANG": lang})
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn(words, out.stdout, key)
        out = self.sync.shell("--bogus", env={"LANG": "uk_UA.UTF-8"})
        self.assertEqual(out.returncode, 2)
        self.assertIn("Надсилає", out.stderr)
        out = self.webhook.shell("--apply", env={"LANG": "uk_UA.UTF-8"})
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("застосовано — 0", out.stdout)


class FailedRuns(SyncCase):
    """A run that failed against a side answers 502 with its JSON; the log
    line holds the error's text and never blames sync_max_seconds."""

    def assert_failed(self, r, words):
        self.assertEqual(r.status, 502, r.text)
        ans = r.json()
        self.assertEqual(ans["status"], "error")
        self.assertIn(words, " ".join(ans["errors"]))
        log = r.stderr.decode()
        line = [l for l in log.splitlines() if "scanned" in l]
        self.assertTrue(line and words in line[-1], log)
        self.assertNotIn("sync_max_seconds", log)

    def test_revoked_shop_key_is_502(self):
        cfg = config("revoked", self.state, woo_consumer_key="ck_revoked")
        r = Program("sync.cgi", cfg).cgi("GET", TOKEN_Q)
        self.assert_failed(r, "401")
        out = Program("sync.cgi", cfg).shell()
        self.assertEqual(out.returncode, 1)
        self.assertNotIn("sync_max_seconds", out.stdout + out.stderr)
        self.assertIn("401", out.stdout)

    def test_refused_warehouse_is_502(self):
        self.baseline()
        SHOP.control("sale", {"id": 10, "quantity": 1})
        cfg = config("nowarehouse", self.state, keycrm_warehouse_id=7)
        r = Program("sync.cgi", cfg).cgi("GET", TOKEN_Q)
        self.assert_failed(r, "refused warehouse_id 7")

    def test_a_good_run_stays_200(self):
        self.assertEqual(self.sync.cgi("GET", TOKEN_Q).status, 200)


def crm_differing_in_all_four_ways(extra_crm_only=0):
    """KeyCRM like the shop, except: RW-SIMPLE-003 differs, RW-SIMPLE-004
    is missing, KC-ONLY-X (and extra_crm_only more) only in KeyCRM."""
    crm = crm_like_shop()
    crm["offers"] = [o for o in crm["offers"] if o["sku"] != "RW-SIMPLE-004"]
    crm["stocks"] = [s for s in crm["stocks"] if s["sku"] != "RW-SIMPLE-004"]
    for s in crm["stocks"]:
        if s["sku"] == "RW-SIMPLE-003":
            s["quantity"] += 4
    for i in range(extra_crm_only + 1):
        sku = "KC-ONLY-X" if i == 0 else f"KC-ONLY-{i:03d}"
        crm["offers"].append({"id": 5000 + i, "product_id": 9000 + i, "sku": sku})
        crm["stocks"].append({"sku": sku, "warehouse_id": 1, "quantity": 3, "reserve": 1})
    return crm


class Compare(SyncCase):
    def test_both_sides_per_sku_with_the_four_counts(self):
        CRM.reset(**crm_differing_in_all_four_ways())
        r = self.sync.cgi("GET", TOKEN_Q + "&compare=1")
        self.assertEqual(r.status, 200, r.text + r.stderr.decode())
        ans = r.json()
        self.assertTrue(ans["complete"], ans)
        rows = {row["sku"]: row for row in ans["rows"]}
        self.assertEqual(rows["RW-SIMPLE-003"]["status"], "different")
        self.assertEqual(rows["RW-SIMPLE-003"]["difference"], -4)
        self.assertEqual(rows["RW-SIMPLE-003"]["keycrm"], SHOP.qty(12) + 4)
        self.assertEqual(rows["RW-SIMPLE-004"]["status"], "only_in_shop")
        self.assertIsNone(rows["RW-SIMPLE-004"]["keycrm"])
        self.assertEqual(rows["KC-ONLY-X"], {"sku": "KC-ONLY-X", "status": "only_in_keycrm",
                                             "shop": None, "keycrm": 2.0, "difference": None})
        self.assertEqual(rows["RW-SIMPLE-001"]["status"], "equal")
        counts = ans["counts"]
        for kind in ("equal", "different", "only_in_shop", "only_in_keycrm"):
            self.assertEqual(counts[kind], sum(1 for x in ans["rows"] if x["status"] == kind))
        self.assertEqual(counts["different"], 1)
        # The biggest differences first.
        self.assertEqual(ans["rows"][0]["sku"], "RW-SIMPLE-003")
        # Writes nothing anywhere.
        self.assertEqual(CRM.puts(), [])
        self.assertEqual([e for e in SHOP.log() if e["method"] != "GET"], [])
        self.assertEqual(query(self.state, "SELECT count(*) FROM ledger"), [(0,)])
        # CSV, over HTTP and from a shell.
        r = self.sync.cgi("GET", TOKEN_Q + "&compare=1&format=csv")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/csv"), r.headers)
        lines = r.text.splitlines()
        self.assertEqual(lines[0], "sku,status,shop,keycrm_available,difference,shop_product_id,shop_parent_id")
        self.assertIn("KC-ONLY-X,only_in_keycrm,,2,,,", lines)
        out = self.sync.shell("--compare", "--csv")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines()[0], lines[0])
        out = self.sync.shell("--compare")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(f"{counts['different']} different", out.stdout)
        self.assertIn("RW-SIMPLE-003", out.stdout)

    def test_resumes_across_calls_under_a_low_request_limit(self):
        CRM.reset(**crm_differing_in_all_four_ways(extra_crm_only=60))
        cfg = config("slowcrm", self.state, keycrm_requests_per_minute=1,
                     sync_max_seconds=5)
        sync = Program("sync.cgi", cfg)
        ans = sync.cgi("GET", TOKEN_Q + "&compare=1").json()
        self.assertFalse(ans["complete"], ans)
        self.assertEqual(ans["status"], "ok", ans)
        self.assertEqual(ans["progress"]["phase"], "keycrm")
        self.assertEqual(ans["keycrm_requests"], 1)
        first_shop_requests = ans["shop_requests"]
        self.assertGreater(first_shop_requests, 0)
        # A minute later the request window has room again.
        kctest.execute(self.state, "DELETE FROM keycrm_requests")
        ans = sync.cgi("GET", TOKEN_Q + "&compare=1").json()
        self.assertTrue(ans["complete"], ans)
        self.assertEqual(ans["shop_requests"], 0, "the shop was not read again")
        self.assertEqual(ans["keycrm_requests"], 1)
        self.assertEqual(ans["counts"]["only_in_keycrm"],
                         sum(1 for x in ans["rows"] if x["status"] == "only_in_keycrm"))
        self.assertIn("KC-ONLY-060", {x["sku"] for x in ans["rows"]})
        self.assertEqual(ans["counts"]["different"], 1)


@unittest.skipUnless(os.geteuid() == 0, "needs root")
class RootRuns(SyncCase):
    """sync.cgi and webhook.cgi --apply run from a root shell work as the
    owner of the state directory, and leave nothing root's behind."""

    def owners(self):
        return {p.name: p.stat().st_uid for p in Path(self.state).iterdir()}

    def test_runs_as_the_state_directory_owner(self):
        www = pwd.getpwnam("www-data").pw_uid
        out = self.sync.shell()
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("running as www-data", out.stderr)
        out = self.webhook.shell("--apply")
        self.assertEqual(out.returncode, 0, out.stderr)
        owners = self.owners()
        if kctest.STORE == "sqlite":
            self.assertIn("state.db", owners)
        self.assertEqual({n: u for n, u in owners.items() if u != www}, {})
        # The web server's next run works.
        self.assertEqual(self.sync.cgi("GET", TOKEN_Q).status, 200)

    def test_refuses_a_root_owned_state_directory_with_the_command_to_use(self):
        os.chown(self.state, 0, 0)
        out = self.sync.shell()
        self.assertEqual(out.returncode, 2)
        self.assertIn("runuser -u www-data -- sync.cgi", out.stderr)
        self.assertEqual(list(Path(self.state).iterdir()), [])
        out = self.webhook.shell("--apply")
        self.assertEqual(out.returncode, 2)
        self.assertIn("runuser -u www-data -- webhook.cgi --apply", out.stderr)

    @kctest.sqlite_only("a symbolic link planted as state.db; settings.conf is not read"
                        " when the settings live in MariaDB")
    def test_a_symlink_planted_in_the_state_directory_is_not_followed(self):
        target = Path(self.state).parent / "elsewhere.db"
        target.write_bytes(b"")
        os.symlink(target, Path(self.state) / "state.db")
        out = self.sync.shell()
        self.assertNotEqual(out.returncode, 0)
        self.assertEqual(target.read_bytes(), b"")
        os.unlink(Path(self.state) / "state.db")
        os.symlink("/etc/passwd", Path(self.state) / "settings.conf")
        out = self.sync.shell()
        self.assertEqual(out.returncode, 2)
        self.assertIn("symbolic link", out.stderr)
        self.assertNotIn("root:", out.stderr)

    def test_an_unreadable_state_directory_is_named(self):
        os.chmod(self.state, 0o700)
        os.chown(self.state, 0, 0)
        r = self.sync.cgi("GET", TOKEN_Q)
        self.assertEqual(r.status, 500)
        self.assertIn(f"state_dir {self.state} cannot be entered", r.stderr.decode())


if __name__ == "__main__":
    unittest.main()
