"""WooCommerce's own product webhooks (SPEC 3, "webhook.cgi at
/keycrm/shop-webhook") through the real binaries behind nginx and Apache,
with the fake shop registering and delivering them as WooCommerce does:

- the unsigned ping is answered 200; a bad or missing signature is refused
  with 403 and stores nothing;
- a sale in the shop reaches KeyCRM with no cron call, and a burst of sales
  over several SKUs ends in few PUTs with every final value right;
- a stale delivery replayed late moves nothing backwards;
- KeyCRM's echo of what was pushed makes no shop write;
- with shop_orders_in_keycrm a sale is not pushed (the cron sync decides it).
"""

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
import unittest

import kctest
from kctest import (SYNC_TOKEN, WEBHOOK_SECRET, full_config, make_state_dir, query,
                    wait_for)

SHOP = CRM = None
FAKES = kctest.SharedFakes()
KINDS = ("nginx", "apache")
SHOP_SECRET = secrets.token_urlsafe(32)
# The pusher's coalescing wait, short for the tests.
PUSH_DELAY_MS = 400


def setUpModule():
    global SHOP, CRM
    SHOP, CRM = FAKES.start()


def tearDownModule():
    FAKES.stop()


def crm_like_shop():
    return kctest.crm_like_shop(SHOP)


def simple_skus(n, types=("simple",), least=20):
    """n products that manage their own stock, with more than least: [(id, sku)]."""
    out = [(p["id"], p["sku"]) for p in sorted(SHOP.products().values(), key=lambda p: p["id"])
           if p.get("type") in types and p.get("manage_stock") is True and p.get("sku")
           and (p.get("stock_quantity") or 0) > least]
    return out[:n]


def keycrm_qty(sku):
    return CRM.offers()[sku]["stocks"]["1"]["quantity"]


@contextlib.contextmanager
def held_lock(state, name):
    """Holds state/name as another process of the programs would."""
    path = state / name if hasattr(state, "joinpath") else os.path.join(state, name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        st = os.stat(state)
        os.fchown(fd, st.st_uid, st.st_gid)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def sign(raw, secret=SHOP_SECRET):
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


class OnBothServers(unittest.TestCase):
    """Each test runs once behind nginx and once behind Apache, with a
    fresh state and fresh fakes, after a first cron sync (the baseline)."""

    extra = {}
    variants = tuple((kind, None) for kind in KINDS)

    def each_server(self, scenario):
        for kind, mode in self.variants:
            with self.subTest(kind=kind, mode=mode):
                self.state = make_state_dir(f"shophook-{kind}")
                SHOP.reset()
                SHOP.faults()
                SHOP.webhook_config(mode="async", safe_urls=False)
                CRM.reset(**crm_like_shop())
                CRM.configure(webhook_mode="hold", unknown_sku="skip")
                cfg = full_config(f"shophook-{kind}.conf", self.state, SHOP, CRM,
                                  shop_webhook_secret=SHOP_SECRET, **self.extra)
                cls = kctest.servers.Nginx if kind == "nginx" else kctest.servers.Apache
                self.server = cls(str(kctest.root()), str(kctest.BINDIR), cfg,
                                  programs=("webhook.cgi", "sync.cgi"),
                                  env={**kctest.sanitizer_env(),
                                       "KEYCRM_SYNC_PUSH_DELAY_MS": str(PUSH_DELAY_MS)},
                                  **({"mode": mode} if mode else {}))
                self.server.start()
                try:
                    self.cron()
                    CRM.clear_log()
                    scenario()
                finally:
                    self.server.stop()

    @property
    def hook_url(self):
        return f"{self.server.url}/keycrm/shop-webhook"

    def post(self, raw, headers=None, method="POST"):
        return kctest.servers.http_request(self.hook_url, method=method, body=raw,
                                           headers=headers or {})

    def cron(self):
        r = kctest.servers.http_request(f"{self.server.url}/keycrm/sync?token={SYNC_TOKEN}")
        self.assertEqual(r.status, 200, r.text)
        return r.json()

    def register(self):
        SHOP.create_webhook(self.hook_url, SHOP_SECRET)

    def stored(self):
        return query(self.state, "SELECT product_id, qty, modified, pending FROM shop_changes")

    def pending(self):
        return [r for r in self.stored() if r[3] == 1]

    def wait_pushed(self, expected):
        """Until KeyCRM holds every {sku: qty} of expected."""
        wait_for(lambda: all(keycrm_qty(s) == q for s, q in expected.items()),
                 what=f"KeyCRM to hold {expected}")


class Receiving(OnBothServers):
    def test_ping_is_answered_and_changes_nothing(self):
        def scenario():
            self.register()
            pings = SHOP.deliveries(kind="ping")
            self.assertEqual([d["status"] for d in pings], [200], pings)
            self.assertEqual(SHOP.webhook()["status"], "active")
            self.assertEqual(self.stored(), [])
            r = self.post(b"webhook_id=12", {"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(r.status, 200, r.text)
            self.assertEqual(self.stored(), [])
        self.each_server(scenario)

    def test_bad_or_missing_signature_is_refused_and_stores_nothing(self):
        def scenario():
            pid, sku = simple_skus(1)[0]
            raw = json.dumps({"id": pid, "parent_id": 0, "type": "simple", "sku": sku,
                              "manage_stock": True, "stock_quantity": 1,
                              "date_modified_gmt": "2030-01-01T00:00:00"}).encode()
            topic = {"X-WC-Webhook-Topic": "product.updated",
                     "Content-Type": "application/json"}
            for headers in ({**topic},
                            {**topic, "X-WC-Webhook-Signature": sign(raw, "wrong-secret")},
                            {**topic, "X-WC-Webhook-Signature": sign(raw)[:-2]},
                            {**topic, "X-WC-Webhook-Signature": ""}):
                r = self.post(raw, headers)
                self.assertEqual(r.status, 403, (headers, r.text))
            # Not a ping either: an unsigned body of another shape.
            r = self.post(b"webhook_id=12&x=1",
                          {"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(r.status, 403, r.text)
            r = self.post(None, method="GET")
            self.assertEqual(r.status, 405, r.text)
            self.assertIn("POST", r.headers.get("allow", ""))
            self.assertEqual(self.stored(), [])
            # The right signature on the same body is stored.
            r = self.post(raw, {**topic, "X-WC-Webhook-Signature": sign(raw)})
            self.assertEqual(r.status, 200, r.text)
            self.assertEqual(len(self.stored()), 1)
            # Another topic: answered 200, ignored.
            other = json.dumps({"id": 5}).encode()
            r = self.post(other, {"X-WC-Webhook-Topic": "order.updated",
                                  "X-WC-Webhook-Signature": sign(other)})
            self.assertEqual(r.status, 200, r.text)
            self.assertEqual(len(self.stored()), 1)
        self.each_server(scenario)


class Pushing(OnBothServers):
    def test_a_sale_reaches_keycrm_without_cron(self):
        def scenario():
            self.register()
            pid, sku = simple_skus(1)[0]
            before = SHOP.qty(pid)
            SHOP.sale(pid, 3)
            made = SHOP.run_queue()
            self.assertTrue(made, made)
            self.wait_pushed({sku: before - 3})
            wait_for(lambda: self.pending() == [], what="the queue to empty")
            rows = query(self.state, "SELECT agreed_qty FROM ledger WHERE sku = ?", sku)
            self.assertEqual(rows, [(before - 3,)])
            # Every delivery was answered 200.
            self.assertEqual({d["status"] for d in SHOP.deliveries()}, {200})
        self.each_server(scenario)

    def test_a_burst_of_sales_is_one_put_and_every_value_right(self):
        def scenario():
            self.register()
            SHOP.webhook_config(mode="sync")      # one delivery per save
            products = simple_skus(20, types=("simple", "variation"), least=4)
            self.assertGreaterEqual(len(products), 6, products)
            expected = {}
            # A pusher still busy (its lock held) while the burst arrives:
            # every delivery is stored and leaves the push to it.
            with held_lock(self.state, "push.lock"):
                for pid, sku in products:
                    for _ in range(2):
                        SHOP.sale(pid, 1)
                    expected[sku] = SHOP.qty(pid)
                self.assertEqual({d["status"] for d in SHOP.deliveries()}, {200})
                self.assertEqual(len(self.pending()), len(products))
                self.assertEqual(CRM.puts(), [])
            # The next delivery's pusher takes them all: one PUT, final values.
            SHOP.replay(SHOP.deliveries()[-1]["id"])
            self.wait_pushed(expected)
            wait_for(lambda: self.pending() == [], what="the queue to empty")
            puts = CRM.puts()
            self.assertEqual(len(puts), 1, [p["body"] for p in puts])
            body = puts[0]["body"]
            body = json.loads(body) if isinstance(body, (str, bytes)) else body
            self.assertEqual({s["sku"]: s["quantity"] for s in body["stocks"]}, expected)
        self.each_server(scenario)

    def test_a_stale_late_delivery_moves_nothing_backwards(self):
        def scenario():
            self.register()
            pid, sku = simple_skus(1)[0]
            SHOP.sale(pid, 1)
            SHOP.run_queue()
            first = SHOP.deliveries()[-1]
            self.wait_pushed({sku: SHOP.qty(pid)})
            time.sleep(1.1)                       # a later modified second
            SHOP.sale(pid, 2)
            SHOP.run_queue()
            final = SHOP.qty(pid)
            self.wait_pushed({sku: final})
            wait_for(lambda: self.pending() == [], what="the queue to empty")
            CRM.clear_log()
            SHOP.replay(first["id"])
            replayed = SHOP.deliveries(kind="replay")
            self.assertEqual([d["status"] for d in replayed], [200], replayed)
            self.assertEqual(self.pending(), [])
            self.assertEqual(self.stored()[0][1], final)
            self.assertEqual(keycrm_qty(sku), final)
            self.assertEqual(CRM.puts(), [])
        self.each_server(scenario)

    def test_what_cannot_be_sent_stays_queued_until_a_sync_supersedes_it(self):
        def scenario():
            self.register()
            pid, sku = simple_skus(1)[0]
            before = SHOP.qty(pid)
            CRM.faults(rules=[{"method": "PUT", "path_prefix": "/v1/offers/stocks",
                               "action": "status", "status": 400, "times": -1}])
            try:
                SHOP.sale(pid, 1)
                SHOP.run_queue()
                wait_for(lambda: CRM.puts(), what="the pusher's refused PUT")
                with held_lock(self.state, "push.lock"):
                    pass                              # that pusher has finished
                self.assertEqual([r[0] for r in self.pending()], [pid])
            finally:
                CRM.faults()
            # Two more sold; WooCommerce has not delivered it yet. Cron sends it.
            SHOP.sale(pid, 2)
            self.cron()
            self.assertEqual(keycrm_qty(sku), before - 3)
            # The next pusher must not send the older quantity it kept.
            CRM.clear_log()
            raw = json.dumps({"id": 999999, "parent_id": 0, "type": "simple",
                              "sku": "SHOPHOOK-OTHER", "manage_stock": True,
                              "stock_quantity": 1,
                              "date_modified_gmt": "2030-01-01T00:00:00"}).encode()
            r = self.post(raw, {"X-WC-Webhook-Topic": "product.updated",
                                "X-WC-Webhook-Signature": sign(raw)})
            self.assertEqual(r.status, 200, r.text)
            wait_for(lambda: self.pending() == [], what="the queue to empty")
            with held_lock(self.state, "push.lock"):
                pass
            self.assertEqual(keycrm_qty(sku), before - 3)
            self.assertEqual(CRM.puts(), [])
        self.each_server(scenario)

    def test_keycrm_echo_makes_no_shop_write(self):
        def scenario():
            CRM.configure(webhook_url=f"{self.server.url}/keycrm/webhook"
                                      f"?secret={WEBHOOK_SECRET}&wait=1")
            self.register()
            pid, sku = simple_skus(1)[0]
            SHOP.sale(pid, 2)
            SHOP.run_queue()
            final = SHOP.qty(pid)
            self.wait_pushed({sku: final})
            held = CRM.webhooks()
            self.assertTrue(held, held)
            SHOP.clear_log()
            got = CRM.deliver()
            self.assertTrue(got, got)
            self.assertEqual(SHOP.writes(), [])
            self.assertEqual(SHOP.qty(pid), final)
        self.each_server(scenario)


class OtherServerModes(OnBothServers):
    """The other example blocks: nginx with plain CGI through fcgiwrap,
    Apache with FastCGI workers through mod_proxy_fcgi."""

    variants = (("nginx", "fcgiwrap"), ("apache", "proxy_fcgi"))

    def test_ping_and_a_sale_reach_keycrm(self):
        def scenario():
            self.register()
            self.assertEqual([d["status"] for d in SHOP.deliveries(kind="ping")], [200])
            pid, sku = simple_skus(1)[0]
            SHOP.sale(pid, 1)
            SHOP.run_queue()
            self.wait_pushed({sku: SHOP.qty(pid)})
            self.assertEqual({d["status"] for d in SHOP.deliveries()}, {200})
        self.each_server(scenario)


class PlainCGI(unittest.TestCase):
    """What needs its own configuration, run directly as plain CGI."""

    def run_hook(self, cfg, body, headers=None, method="POST"):
        env = {"SCRIPT_NAME": "/keycrm/shop-webhook", "REQUEST_URI": "/keycrm/shop-webhook"}
        return kctest.Program("webhook.cgi", cfg).cgi(method=method, body=body,
                                                      headers=headers, env=env)

    def test_no_secret_503_and_body_limits(self):
        state = make_state_dir("shophook-plain")
        raw = b'{"id": 1}'
        signed = {"X-WC-Webhook-Topic": "product.updated",
                  "X-WC-Webhook-Signature": sign(raw)}
        cfg = full_config("shophook-nosecret.conf", state, SHOP, CRM)
        r = self.run_hook(cfg, raw, signed)
        self.assertEqual(r.status, 503, r.body)
        cfg = full_config("shophook-small.conf", state, SHOP, CRM,
                          shop_webhook_secret=SHOP_SECRET, webhook_max_bytes=1024)
        big = b"{" + b" " * 2000 + b"}"
        r = self.run_hook(cfg, big, {**signed, "X-WC-Webhook-Signature": sign(big)})
        self.assertEqual(r.status, 413, r.body)
        # No Content-Length (Apache's mod_cgid with a chunked body).
        r = kctest.Program("webhook.cgi", cfg).cgi(
            method="POST", headers=signed,
            env={"SCRIPT_NAME": "/keycrm/shop-webhook", "CONTENT_LENGTH": None})
        self.assertEqual(r.status, 411, r.body)
        bad = b'{"id": 1'
        r = self.run_hook(cfg, bad, {**signed, "X-WC-Webhook-Signature": sign(bad)})
        self.assertEqual(r.status, 400, r.body)
        # The KeyCRM webhook is still the other path of the same program.
        r = kctest.Program("webhook.cgi", cfg).cgi(
            method="POST", body=b"[]", env={"SCRIPT_NAME": "/keycrm/webhook"})
        self.assertEqual(r.status, 403, r.body)


class OrdersMode(OnBothServers):
    extra = {"shop_orders_in_keycrm": "yes"}

    def test_a_sale_is_not_pushed(self):
        def scenario():
            self.register()
            pid, sku = simple_skus(1)[0]
            before = keycrm_qty(sku)
            SHOP.sale(pid, 2)
            SHOP.run_queue()
            wait_for(lambda: len(self.pending()) == 1, what="the change to be stored")
            # Well past the pusher's wait: still nothing sent, still queued.
            time.sleep(PUSH_DELAY_MS / 1000 + 2)
            self.assertEqual(CRM.puts(), [])
            self.assertEqual(keycrm_qty(sku), before)
            self.assertEqual(len(self.pending()), 1)
            # The cron sync decides it (with the orders); the pusher that
            # follows takes off the queue what that run superseded.
            self.cron()
            other, _ = simple_skus(2)[1]
            SHOP.sale(other, 1)
            SHOP.run_queue()
            wait_for(lambda: [r[0] for r in self.pending()] == [other],
                     what="the change the sync superseded to leave the queue")
        self.each_server(scenario)


if __name__ == "__main__":
    unittest.main()
