"""webhook.cgi through the real binary (SPEC section 3 and 4.1): every
status code, per-item rejection, the quantity rules, variations through
their true parent, skipped and unmatched products, no needless writes,
nothing lost when the shop is down or the process is killed.

The contract tests run three ways: the binary executed as plain CGI, a
real nginx with FastCGI workers (spawn-fcgi) and a real Apache with
mod_cgid, both configured from the example configs.
"""

import json
import os
import secrets
import signal
import unittest
from pathlib import Path

import kctest
from kctest import (CK, CS, WEBHOOK_SECRET, Direct, FakeShop, ThroughServer, body,
                    inbox, make_state_dir, query, root, wait_for, write_config)

SHOP = None


def setUpModule():
    global SHOP
    SHOP = FakeShop()


def tearDownModule():
    if SHOP is not None:
        SHOP.stop()


def base_config(name, state_dir, **extra):
    return kctest.full_config(f"{name}.conf", state_dir, SHOP,
                              **{"sync_max_seconds": 30, **extra})


SECRET_Q = f"secret={WEBHOOK_SECRET}"


class WebhookContract:
    """SPEC section 3 as seen from KeyCRM, for every way of running."""

    kind = None

    @classmethod
    def setUpClass(cls):
        cls.state = make_state_dir(f"state-{cls.kind}")
        cls.config = base_config(cls.kind, cls.state)
        cls.target = Direct(cls.config) if cls.kind == "cgi" else ThroughServer(cls.kind, cls.config)

    @classmethod
    def tearDownClass(cls):
        cls.target.stop()

    def setUp(self):
        kctest.reset_state(self.state)
        SHOP.reset()

    def post(self, payload, query=SECRET_Q, **kw):
        data = payload if isinstance(payload, bytes) else body(payload)
        return self.target.request("POST", query, data, **kw)

    def test_get_is_405_with_allow(self):
        r = self.target.request("GET", SECRET_Q)
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers.get("allow"), "POST")

    def test_wrong_or_missing_secret_is_403_and_stores_nothing(self):
        items = [{"sku": "RW-SIMPLE-001", "in_stock": 1, "in_reserve": 0}]
        for q in ("", "secret=wrong", "secret=" + WEBHOOK_SECRET[:-1],
                  "secret=" + WEBHOOK_SECRET + "x"):
            r = self.post(items, query=q)
            self.assertEqual(r.status, 403, q)
            self.assertNotIn(WEBHOOK_SECRET, r.text)
        self.assertEqual(inbox(self.state), {})

    def test_secret_in_header_is_accepted(self):
        r = self.post([{"sku": "RW-SIMPLE-003", "in_stock": 5, "in_reserve": 0}], query="wait=1",
                      headers={"X-Webhook-Secret": WEBHOOK_SECRET})
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(SHOP.qty(12), 5)

    def test_not_json_or_not_an_array_is_400_naming_the_problem(self):
        for payload, words in ((b"{oops", "not valid JSON"),
                               (b'{"sku":"a","in_stock":1}', "JSON array"),
                               (b"42", "JSON array"),
                               (b"", "empty")):
            r = self.post(payload)
            self.assertEqual(r.status, 400, payload)
            self.assertIn(words, r.json()["error"])
        self.assertEqual(inbox(self.state), {})

    def test_answers_for_people_speak_the_browsers_language(self):
        """Accept-Language picks the answers' language; the JSON's keys and
        the status codes stay what they are."""
        uk = {"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"}
        r = self.post(b"", headers=uk)
        self.assertEqual(r.status, 400)
        self.assertIn("тіло запиту порожнє", r.json()["error"])
        r = self.post([{"sku": "", "in_stock": 1}], headers=uk)
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.json()["rejected"][0]["reason"], "sku порожній")
        r = self.target.request("GET", SECRET_Q, headers=uk)
        self.assertEqual((r.status, r.json()), (405, {"error": "використовуйте POST"}))
        r = self.post(b"", headers={"Accept-Language": "de, en;q=0.1"})
        self.assertIn("the body is empty", r.json()["error"])
        self.assertEqual(inbox(self.state), {})

    @kctest.sqlite_only("the state file removed under a worker that keeps it open")
    def test_a_removed_state_file_is_opened_again_not_written_blind(self):
        """A worker keeps its connection to state.db; when the file is
        removed (or a backup restored over it) the next request must use the
        new file, or what it accepts is written where nobody reads it."""
        items = [{"sku": "RW-SIMPLE-003", "in_stock": 7, "in_reserve": 0}]
        self.assertEqual(self.post(items, query=SECRET_Q + "&wait=1").status, 200)
        kctest.reset_state(self.state)
        items[0]["in_stock"] = 9
        r = self.post(items, query=SECRET_Q + "&wait=1")
        self.assertEqual((r.status, r.json().get("applied")), (200, 1), r.text)
        self.assertEqual(SHOP.qty(12), 9)
        self.assertTrue((Path(self.state) / "state.db").exists())

    def test_order_event_is_ignored(self):
        r = self.post({"event": "order.change_order_status", "context": {"id": 1}})
        self.assertEqual(r.status, 200)
        self.assertIn("ignored", r.json())
        self.assertEqual(inbox(self.state), {})

    def test_bad_items_are_rejected_one_by_one(self):
        untouched, cur = SHOP.qty(14), SHOP.qty(13)
        r = self.post([{"sku": "RW-SIMPLE-004", "in_stock": cur + 5, "in_reserve": 2},
                       {"sku": "", "in_stock": 1},
                       {"sku": "RW-SIMPLE-005", "in_stock": "many"},
                       "nonsense"], query=SECRET_Q + "&wait=1")
        self.assertEqual(r.status, 200, r.text)
        ans = r.json()
        self.assertEqual(ans["received"], 4)
        self.assertEqual([x["index"] for x in ans["rejected"]], [1, 2, 3])
        self.assertEqual(ans["rejected"][1]["sku"], "RW-SIMPLE-005")
        self.assertIn("not a number", ans["rejected"][1]["reason"])
        self.assertEqual(ans["applied"], 1)
        self.assertEqual(SHOP.qty(13), cur + 3)
        self.assertEqual(SHOP.qty(14), untouched)

    def test_answers_at_once_then_applies(self):
        before = SHOP.qty(10)
        r = self.post([{"offer_id": 1, "sku": "RW-SIMPLE-001", "in_stock": before + 7,
                        "in_reserve": 2}])
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.json(), {"received": 1, "queued": 1, "rejected": []})
        wait_for(lambda: SHOP.qty(10) == before + 5, what="the shop to take the new stock")
        wait_for(lambda: inbox(self.state) == {}, what="the inbox to drain")

    def test_variations_go_through_their_true_parent(self):
        r = self.post([{"sku": "RW-TEE-M", "in_stock": 11, "in_reserve": 1},
                       {"sku": "RW-MUG-RED", "in_stock": 3, "in_reserve": 0},
                       {"sku": "RW-SIMPLE-003", "in_stock": 30, "in_reserve": 0}],
                      query=SECRET_Q + "&wait=1")
        self.assertEqual(r.json()["applied"], 3, r.text)
        p = SHOP.products()
        self.assertEqual((p[23]["stock_quantity"], p[23]["parent_id"]), (10, 21))
        self.assertEqual((p[26]["stock_quantity"], p[26]["parent_id"]), (3, 25))
        paths = sorted(e["path"] for e in SHOP.writes())
        self.assertEqual(paths, ["/wp-json/wc/v3/products/21/variations/batch",
                                 "/wp-json/wc/v3/products/25/variations/batch",
                                 "/wp-json/wc/v3/products/batch"])

    def test_oversized_body_is_413(self):
        big = b"[" + b" " * (4194304 + 10) + b"]"
        r = self.post(big)
        self.assertEqual(r.status, 413)
        self.assertEqual(inbox(self.state), {})
        server = getattr(self.target, "server", None)
        if server is not None:
            # The server reports the refusal without quoting the secret.
            self.assertNotIn(WEBHOOK_SECRET, server.error_log_text())
            self.assertNotIn(WEBHOOK_SECRET, server.access_log_text())


class WebhookAsCGI(WebhookContract, unittest.TestCase):
    kind = "cgi"

    def test_the_language_key_wins_over_the_browser(self):
        state = make_state_dir("state-cgi-uk")
        target = Direct(base_config("cgi-uk", state, language="uk"))
        r = target.request("POST", SECRET_Q, b"", headers={"Accept-Language": "en"})
        self.assertEqual(r.status, 400)
        self.assertIn("тіло запиту порожнє", r.json()["error"])
        r = target.request("POST", "", b"[]")
        self.assertEqual((r.status, r.json()), (403, {"error": "доступ заборонено"}))
        target = Direct(base_config("cgi-uk-nosecret", state, language="uk",
                                    webhook_secret=None))
        r = target.request("POST", SECRET_Q, b"[]")
        self.assertEqual(r.status, 503)
        self.assertIn("webhook_secret", r.json()["error"])
        self.assertNotIn("the webhook is not set up", r.json()["error"])

    def test_no_length_is_411(self):
        r = self.target.request("POST", SECRET_Q, b"[]", env={"CONTENT_LENGTH": None})
        self.assertEqual(r.status, 411)

    def test_malformed_length_is_400(self):
        r = self.target.request("POST", SECRET_Q, b"[]", env={"CONTENT_LENGTH": "-2"})
        self.assertEqual(r.status, 400)

    def test_short_body_is_400_and_stores_nothing(self):
        r = self.target.request("POST", SECRET_Q, b'[{"sku":"a","in_stock":1}]',
                                env={"CONTENT_LENGTH": "500"})
        self.assertEqual(r.status, 400)
        self.assertEqual(inbox(self.state), {})

    def test_no_secret_configured_is_503(self):
        state = make_state_dir("state-nosecret")
        cfg = write_config(root() / "nosecret.conf", state_dir=state, woo_url=SHOP.url)
        r = Direct(cfg).request("POST", "secret=x", body([]))
        self.assertEqual(r.status, 503)
        self.assertIn("webhook_secret", r.json()["error"])

    def test_configuration_error_is_500_without_details(self):
        cfg = write_config(root() / "broken.conf", webhook_secret=WEBHOOK_SECRET,
                           state_dir=self.state, colour="blue")
        r = Direct(cfg).request("POST", SECRET_Q, body([]))
        self.assertEqual(r.status, 500)
        self.assertNotIn("colour", r.text)
        self.assertIn(b"unknown key 'colour'", r.stderr)

    def test_world_readable_config_with_secrets_is_refused(self):
        cfg = base_config("loose", self.state)
        os.chmod(cfg, 0o644)
        r = Direct(cfg).request("POST", SECRET_Q, body([]))
        self.assertEqual(r.status, 500)
        self.assertIn(b"readable by everyone", r.stderr)


class WebhookBehindNginx(WebhookContract, unittest.TestCase):
    kind = "nginx"


class WebhookBehindApache(WebhookContract, unittest.TestCase):
    kind = "apache"

    def test_chunked_body_without_length_is_411(self):
        # mod_cgid passes no CONTENT_LENGTH for a chunked body.
        import http.client
        url = self.target.server.url
        host, port = url.split("//")[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.putrequest("POST", "/keycrm/webhook?" + SECRET_Q)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(b"2\r\n[]\r\n0\r\n\r\n")
        resp = conn.getresponse()
        resp.read()
        conn.close()
        self.assertEqual(resp.status, 411)


class Applying(unittest.TestCase):
    """SPEC 4.1 in detail, through the binary with ?wait=1."""

    def setUp(self):
        self.state = make_state_dir("state-apply")
        SHOP.reset()
        SHOP.faults()

    def send(self, items, **cfg):
        config = base_config("apply", self.state, **cfg)
        # ?wait=1 may take up to sync_max_seconds, and a little more to answer.
        r = Direct(config).request("POST", SECRET_Q + "&wait=1", body(items),
                                   timeout=cfg.get("sync_max_seconds", 30) + 30)
        self.assertEqual(r.status, 200, r.text + r.stderr.decode())
        return r.json()

    def test_reserve_subtracted_floored_and_clamped(self):
        ans = self.send([{"sku": "RW-SIMPLE-001", "in_stock": 16.9, "in_reserve": 3.2},
                         {"sku": "RW-SIMPLE-003", "in_stock": 2, "in_reserve": 5},
                         {"sku": "RW-SIMPLE-004", "in_stock": -3, "in_reserve": 0}])
        self.assertEqual(ans["applied"] + ans["unchanged"], 3, ans)
        p = SHOP.products()
        self.assertEqual([p[10]["stock_quantity"], p[12]["stock_quantity"],
                          p[13]["stock_quantity"]], [13, 0, 0])

    def test_reserve_ignored_when_configured(self):
        self.send([{"sku": "RW-SIMPLE-001", "in_stock": 16, "in_reserve": 3}],
                  subtract_reserve="no")
        self.assertEqual(SHOP.qty(10), 16)

    def test_no_write_when_the_shop_already_has_it(self):
        qty = SHOP.qty(10)
        SHOP.clear_log()
        ans = self.send([{"sku": "RW-SIMPLE-001", "in_stock": qty + 1, "in_reserve": 1}])
        self.assertEqual((ans["applied"], ans["unchanged"]), (0, 1))
        self.assertEqual(SHOP.writes(), [])

    def test_unmanaged_products_skipped_or_enabled(self):
        ans = self.send([{"sku": "RW-SIMPLE-006", "in_stock": 4, "in_reserve": 0}])
        self.assertEqual(ans["skipped"][0]["sku"], "RW-SIMPLE-006")
        self.assertIn("does not manage stock", ans["skipped"][0]["reason"])
        p = SHOP.products()[15]
        self.assertFalse(p["manage_stock"])
        ans = self.send([{"sku": "RW-SIMPLE-006", "in_stock": 4, "in_reserve": 0}],
                        manage_stock="enable")
        self.assertEqual(ans["applied"], 1, ans)
        p = SHOP.products()[15]
        self.assertEqual((p["manage_stock"], p["stock_quantity"]), (True, 4))

    def test_parent_managed_variation_skipped_even_with_enable(self):
        SHOP.upsert({"id": 29, "type": "variation", "parent_id": 25, "sku": "RW-MUG-GREEN2",
                     "manage_stock": False, "stock_quantity": None, "status": "publish",
                     "name": "RW Mug - Green 2"})
        SHOP.clear_log()
        ans = self.send([{"sku": "RW-MUG-GREEN2", "in_stock": 9, "in_reserve": 0}],
                        manage_stock="enable")
        self.assertEqual(len(ans["skipped"]), 1, ans)
        self.assertIn("parent", ans["skipped"][0]["reason"])
        self.assertEqual(SHOP.writes(), [])
        self.assertEqual(query(self.state, "SELECT kind FROM problems WHERE sku = ?",
                               "RW-MUG-GREEN2"), [("skipped",)])

    def test_unknown_and_duplicated_skus_reported(self):
        SHOP.upsert({"id": 40, "type": "simple", "parent_id": 0, "sku": "RW-SIMPLE-001",
                     "manage_stock": True, "stock_quantity": 1, "status": "publish",
                     "name": "Copy"})
        ans = self.send([{"sku": "NOPE-404", "in_stock": 1, "in_reserve": 0},
                         {"sku": "RW-SIMPLE-001", "in_stock": 8, "in_reserve": 0}])
        self.assertEqual(ans["unmatched"], ["NOPE-404"])
        self.assertEqual(ans["duplicates"], ["RW-SIMPLE-001"])
        p = SHOP.products()
        self.assertEqual((p[10]["stock_quantity"], p[40]["stock_quantity"]), (8, 8))
        kinds = query(self.state, "SELECT sku, kind FROM problems ORDER BY sku")
        self.assertIn(("NOPE-404", "unmatched"), kinds)
        self.assertIn(("RW-SIMPLE-001", "duplicate"), kinds)
        self.assertEqual(inbox(self.state), {})

    def test_skus_match_like_the_shop(self):
        ans = self.send([{"sku": "RW-SIMPLE-010", "in_stock": 3, "in_reserve": 0},
                         {"sku": "RW+011 X/Y", "in_stock": 6, "in_reserve": 0}])
        self.assertEqual(ans["unmatched"], [], ans)
        p = SHOP.products()
        self.assertEqual((p[19]["stock_quantity"], p[20]["stock_quantity"]), (3, 6))
        skus = [e["query"].get("sku") for e in SHOP.log() if e["method"] == "GET"]
        self.assertTrue(all(s for s in skus), "never an empty sku=")

    def test_shop_down_keeps_reports_queued_until_it_is_back(self):
        SHOP.faults(rules=[{"method": "*", "path_prefix": "/wp-json/", "times": -1,
                            "action": "status", "status": 503}])
        ans = self.send([{"sku": "RW-SIMPLE-003", "in_stock": 21, "in_reserve": 0}],
                        sync_max_seconds=3)
        self.assertEqual(ans["applied"], 0)
        self.assertEqual(ans["queued"], 1)
        self.assertIn("503", ans.get("error", "") + json.dumps(ans["failed"]))
        self.assertEqual(set(inbox(self.state)), {"RW-SIMPLE-003"})
        SHOP.faults()
        ans = self.send([{"sku": "RW-SIMPLE-004", "in_stock": 2, "in_reserve": 0}])
        self.assertEqual(ans["applied"], 2, ans)
        self.assertEqual((SHOP.qty(12), SHOP.qty(13)), (21, 2))
        self.assertEqual(inbox(self.state), {})

    def test_rejected_shop_key_keeps_reports_and_says_so(self):
        config = write_config(root() / "badkey.conf", webhook_secret=WEBHOOK_SECRET,
                              state_dir=self.state, woo_url=SHOP.url, woo_consumer_key=CK,
                              woo_consumer_secret="cs_wrong", sync_max_seconds=10)
        r = Direct(config).request("POST", SECRET_Q + "&wait=1",
                                   body([{"sku": "RW-SIMPLE-003", "in_stock": 1}]))
        self.assertIn("rejected the API key", r.json()["error"])
        self.assertNotIn("cs_wrong", r.text)
        self.assertEqual(set(inbox(self.state)), {"RW-SIMPLE-003"})

    def test_killed_right_after_the_inbox_commit_loses_nothing(self):
        config = base_config("apply", self.state)
        r = Direct(config).request("POST", SECRET_Q, body(
            [{"sku": "RW-TEE-L", "in_stock": 17, "in_reserve": 2}]),
            env={"KEYCRM_SYNC_CRASH_AT": "after-inbox-commit"})
        self.assertEqual(r.returncode, -signal.SIGKILL)
        self.assertIsNone(r.status)
        self.assertEqual(set(inbox(self.state)), {"RW-TEE-L"})
        # The next webhook's applier takes it along.
        ans = self.send([{"sku": "RW-SIMPLE-001", "in_stock": 3, "in_reserve": 0}])
        self.assertEqual(ans["applied"], 2, ans)
        self.assertEqual(SHOP.qty(24), 15)

    def test_killed_after_the_shop_write_applies_once_in_effect(self):
        config = base_config("apply", self.state)
        r = Direct(config).request("POST", SECRET_Q + "&wait=1", body(
            [{"sku": "RW-TEE-S", "in_stock": 4, "in_reserve": 0}]),
            env={"KEYCRM_SYNC_CRASH_AT": "after-shop-write"})
        self.assertEqual(r.returncode, -signal.SIGKILL)
        kctest.expire_leases(self.state)
        self.assertEqual(SHOP.qty(22), 4)
        self.assertEqual(set(inbox(self.state)), {"RW-TEE-S"})
        SHOP.clear_log()
        out = kctest.servers.subprocess.run(
            [str(kctest.BINDIR / "webhook.cgi"), "--apply"], capture_output=True, text=True,
            env={"KEYCRM_SYNC_CONFIG": config, **kctest.sanitizer_env()})
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("1 unchanged", out.stdout)
        self.assertEqual(SHOP.writes(), [])
        self.assertEqual(inbox(self.state), {})

    def test_five_thousand_items(self):
        SHOP.upsert(*kctest.bulk_products(1000, 5000))
        SHOP.clear_log()
        items = kctest.bulk_webhook(5000)
        ans = self.send(items, sync_max_seconds=120)
        self.assertEqual((ans["received"], ans["queued"], ans["applied"]), (5000, 0, 5000), 
                         {k: v for k, v in ans.items() if not isinstance(v, list)})
        p = SHOP.products()
        self.assertTrue(all(p[1000 + i]["stock_quantity"] == i % 50 + 2 for i in range(5000)))
        log = SHOP.log()
        gets = [e for e in log if e["method"] == "GET"]
        posts = [e for e in log if e["method"] == "POST"]
        self.assertEqual(len(gets), 50)
        self.assertEqual(len(posts), 50)
        self.assertTrue(all(e["items"] <= 100 for e in posts))
        print(f"\n    5000-item webhook: {len(gets)} lookups + {len(posts)} batch writes",
              end=" ")


class SideBySide(unittest.TestCase):
    """woo_parallel_requests: lookups and batch writes go to the shop side by
    side, never more at once than the setting allows.  The fake shop serves
    like a php-fpm pool of 4 workers and counts what was in flight at once."""

    def test_lookups_and_batches_in_parallel_up_to_the_setting(self):
        # 3 batch groups (simple products, two parents' variations) and
        # 2 lookups (the first of 100 SKUs, the unknown rest in another).
        items = [{"sku": "RW-SIMPLE-001", "in_stock": 41, "in_reserve": 0},
                 {"sku": "RW-TEE-M", "in_stock": 42, "in_reserve": 0},
                 {"sku": "RW-MUG-RED", "in_stock": 43, "in_reserve": 0}]
        items += [{"sku": f"NOT-IN-SHOP-{i}", "in_stock": 1, "in_reserve": 0}
                  for i in range(120)]
        for parallel in (1, 2):
            with self.subTest(woo_parallel_requests=parallel):
                state = make_state_dir(f"state-parallel-{parallel}")
                SHOP.reset()
                SHOP.faults(latency_ms=150, workers=4)
                cfg = base_config(f"parallel-{parallel}", state,
                                  woo_parallel_requests=parallel)
                r = Direct(cfg).request("POST", SECRET_Q + "&wait=1", body(items))
                self.assertEqual(r.status, 200, r.text)
                ans = r.json()
                self.assertEqual((ans["applied"], len(ans["unmatched"])), (3, 120), ans)
                self.assertEqual([SHOP.qty(10), SHOP.qty(23), SHOP.qty(26)], [41, 42, 43])
                log = SHOP.log()
                self.assertEqual(len([e for e in log if e["method"] == "GET"]), 2, log)
                self.assertEqual(len(SHOP.writes()), 3)
                self.assertEqual(SHOP.control("faults")["max_in_flight"], parallel)
                SHOP.faults()


class StaleMap(unittest.TestCase):
    """The SKU -> product map is learnt from lookups; a product deleted or
    given another SKU since must never be written for the old SKU."""

    def test_a_sku_moved_to_another_product_writes_that_one(self):
        state = make_state_dir("state-stale-map")
        SHOP.reset()
        cfg = base_config("stale-map", state)
        hook = Direct(cfg)
        r = hook.request("POST", SECRET_Q + "&wait=1",
                         body([{"sku": "RW-SIMPLE-003", "in_stock": 30, "in_reserve": 0}]))
        self.assertEqual(r.json()["applied"], 1, r.text)
        self.assertEqual(query(state, "SELECT product_id FROM sku_map WHERE sku = ?",
                               "RW-SIMPLE-003"), [(12,)])
        # The shop moves the SKU: product 12 gets another, product 13 takes it.
        SHOP.upsert({"id": 12, "sku": "RW-RENAMED-003"}, {"id": 13, "sku": "RW-SIMPLE-003"})
        before = SHOP.qty(12)
        r = hook.request("POST", SECRET_Q + "&wait=1",
                         body([{"sku": "RW-SIMPLE-003", "in_stock": 31, "in_reserve": 0}]))
        self.assertEqual(r.json()["applied"], 1, r.text)
        self.assertEqual((SHOP.qty(12), SHOP.qty(13)), (before, 31))
        # And once no product has it, nothing is written at all.
        SHOP.upsert({"id": 13, "sku": "RW-GONE-003"})
        SHOP.clear_log()
        r = hook.request("POST", SECRET_Q + "&wait=1",
                         body([{"sku": "RW-SIMPLE-003", "in_stock": 32, "in_reserve": 0}]))
        self.assertEqual(r.json()["unmatched"], ["RW-SIMPLE-003"], r.text)
        self.assertEqual(SHOP.writes(), [])


def age_map(state_dir, seconds):
    """Makes what the SKU map knows look that much older."""
    kctest.execute(state_dir, ("UPDATE sku_map SET refreshed_at = refreshed_at - ?", seconds))


class KnownSku(unittest.TestCase):
    """woo_sku_map_seconds: a SKU the shop showed on one product within that
    time is written in one request (POST /products/{id} when it is the only
    write), the answer must show the SKU on the product, and anything else
    goes through a lookup."""

    def setUp(self):
        self.state = make_state_dir("state-known-sku")
        SHOP.reset()
        self.hook = Direct(base_config("known-sku", self.state, woo_sku_map_seconds=600))

    def send(self, sku, qty):
        r = self.hook.request("POST", SECRET_Q + "&wait=1",
                              body([{"sku": sku, "in_stock": qty, "in_reserve": 0}]))
        self.assertEqual(r.status, 200, r.text)
        return r.json()

    def test_a_known_sku_takes_one_request(self):
        self.assertEqual(self.send("RW-SIMPLE-003", 30)["applied"], 1)
        self.assertEqual(len(SHOP.log()), 2)          # the lookup, then the write
        SHOP.clear_log()
        ans = self.send("rw-simple-003", 31)
        self.assertEqual(ans["applied"], 1, ans)
        log = SHOP.log()
        self.assertEqual([(e["method"], e["path"].split("?")[0]) for e in log],
                         [("POST", "/wp-json/wc/v3/products/12")], log)
        self.assertEqual(SHOP.qty(12), 31)
        self.assertEqual(query(self.state, "SELECT agreed_qty FROM ledger"), [(31,)])
        self.assertEqual(inbox(self.state), {})

    def test_a_deleted_product_is_looked_up_and_never_recreated(self):
        self.send("RW-SIMPLE-003", 30)
        SHOP.control("products", {"delete": [12]})
        SHOP.upsert({"id": 13, "sku": "RW-SIMPLE-003"})
        SHOP.clear_log()
        ans = self.send("RW-SIMPLE-003", 31)
        self.assertEqual(ans["applied"], 1, ans)
        self.assertNotIn(12, SHOP.products())
        self.assertEqual(SHOP.qty(13), 31)
        self.assertEqual([e["method"] for e in SHOP.log()], ["POST", "GET", "POST"])
        # And once no product has it, nothing is written anywhere.
        SHOP.control("products", {"delete": [13]})
        before = {pid: p["stock_quantity"] for pid, p in SHOP.products().items()}
        ans = self.send("RW-SIMPLE-003", 32)
        self.assertEqual(ans["unmatched"], ["RW-SIMPLE-003"], ans)
        self.assertEqual({pid: p["stock_quantity"] for pid, p in SHOP.products().items()},
                         before)

    def test_a_moved_sku_past_the_window_never_writes_the_old_product(self):
        self.send("RW-SIMPLE-003", 30)
        age_map(self.state, 601)
        SHOP.upsert({"id": 12, "sku": "RW-RENAMED-003"}, {"id": 13, "sku": "RW-SIMPLE-003"})
        before = SHOP.qty(12)
        SHOP.clear_log()
        ans = self.send("RW-SIMPLE-003", 31)
        self.assertEqual(ans["applied"], 1, ans)
        self.assertEqual((SHOP.qty(12), SHOP.qty(13)), (before, 31))
        self.assertEqual([e["method"] for e in SHOP.log()], ["GET", "POST"])
        self.assertEqual(query(self.state, "SELECT product_id FROM sku_map"), [(13,)])

    def test_within_the_window_a_moved_sku_is_caught_and_still_reaches_its_product(self):
        # The limit woo_sku_map_seconds accepts: WooCommerce saves before it
        # answers, so product 12 gets the stock once; the answer shows its
        # new SKU, the lookup finds the right product, and it is logged.
        self.send("RW-SIMPLE-003", 30)
        SHOP.upsert({"id": 12, "sku": "RW-RENAMED-003"}, {"id": 13, "sku": "RW-SIMPLE-003"})
        ans = self.send("RW-SIMPLE-003", 31)
        self.assertEqual(ans["applied"], 1, ans)
        self.assertEqual(SHOP.qty(13), 31)
        self.assertEqual(query(self.state, "SELECT product_id FROM sku_map"), [(13,)])
        # Next time the map sends it straight to 13.
        SHOP.clear_log()
        self.send("RW-SIMPLE-003", 33)
        self.assertEqual((SHOP.qty(13), len(SHOP.log())), (33, 1))

    def test_several_known_skus_go_in_one_batch(self):
        self.send("RW-SIMPLE-003", 30)
        self.send("RW-SIMPLE-004", 40)
        SHOP.clear_log()
        r = self.hook.request("POST", SECRET_Q + "&wait=1", body(
            [{"sku": "RW-SIMPLE-003", "in_stock": 31, "in_reserve": 0},
             {"sku": "RW-SIMPLE-004", "in_stock": 41, "in_reserve": 0}]))
        self.assertEqual(r.json()["applied"], 2, r.text)
        self.assertEqual([(e["method"], e["path"].split("?")[0]) for e in SHOP.log()],
                         [("POST", "/wp-json/wc/v3/products/batch")])
        self.assertEqual((SHOP.qty(12), SHOP.qty(13)), (31, 41))

    def test_variations_and_duplicates_are_always_looked_up(self):
        self.send("RW-TEE-M", 5)
        SHOP.clear_log()
        self.send("RW-TEE-M", 6)
        self.assertEqual([e["method"] for e in SHOP.log()], ["GET", "POST"])
        self.assertEqual(SHOP.qty(23), 6)


class OverHttps(unittest.TestCase):
    """Over https the key goes as HTTP Basic, TLS verified against ca_file,
    and woo_connect_to reaches the site locally under its public name."""

    def test_basic_auth_with_verified_tls(self):
        shop = FakeShop(tls=True)
        try:
            shop.reset()
            state = make_state_dir("state-tls")
            cfg = write_config(root() / "tls.conf", webhook_secret=WEBHOOK_SECRET,
                               state_dir=state, woo_url="https://shop.example",
                               woo_connect_to=f"127.0.0.1:{shop.port}", ca_file=shop.ca_file,
                               woo_consumer_key=CK, woo_consumer_secret=CS)
            r = Direct(cfg).request("POST", SECRET_Q + "&wait=1",
                                    body([{"sku": "RW-SIMPLE-005", "in_stock": 42}]))
            self.assertEqual(r.json().get("applied"), 1, r.text)
            self.assertEqual(shop.qty(14), 42)
            self.assertTrue(all(e["auth"] == "basic" for e in shop.log()))
            # Without the CA the certificate is refused: verification is on.
            cfg2 = write_config(root() / "tls2.conf", webhook_secret=WEBHOOK_SECRET,
                                state_dir=state, woo_url="https://shop.example",
                                woo_connect_to=f"127.0.0.1:{shop.port}",
                                woo_consumer_key=CK, woo_consumer_secret=CS,
                                sync_max_seconds=3)
            r = Direct(cfg2).request("POST", SECRET_Q + "&wait=1",
                                     body([{"sku": "RW-SIMPLE-005", "in_stock": 43}]))
            self.assertEqual(r.json().get("applied"), 0, r.text)
            self.assertIn("certificate", r.json().get("error", "").lower() +
                          json.dumps(r.json().get("failed")).lower())
            self.assertEqual(shop.qty(14), 42)
            # One truth: the answer lists the item the log counts as failed.
            cfg3 = write_config(root() / "tls3.conf", webhook_secret=WEBHOOK_SECRET,
                                state_dir=make_state_dir("state-tls-apache"),
                                woo_url="https://shop.example",
                                woo_connect_to=f"127.0.0.1:{shop.port}",
                                woo_consumer_key=CK, woo_consumer_secret=CS,
                                sync_max_seconds=3)
            srv = ThroughServer("apache", cfg3)
            try:
                r = srv.request("POST", SECRET_Q + "&wait=1",
                                body([{"sku": "RW-SIMPLE-005", "in_stock": 44}]))
                logs = srv.server.error_log_text()
            finally:
                srv.stop()
            ans = r.json()
            self.assertIn("failed", ans, ans)
            self.assertEqual([f["sku"] for f in ans["failed"]], ["RW-SIMPLE-005"], ans)
            self.assertIn("certificate", ans["failed"][0]["reason"].lower())
            self.assertEqual(ans["queued"], 1)
            if "apply:" in logs:
                self.assertIn("1 failed", logs)
        finally:
            shop.stop()


if __name__ == "__main__":
    unittest.main()
