"""WooCommerce's own product webhooks (SPEC 3, "webhook.cgi at
/keycrm/shop-webhook") through the real binaries behind nginx and Apache,
with the fake shop registering and delivering them as WooCommerce does:

- the unsigned ping is answered 200; a bad or missing signature is refused
  with 403 and stores nothing;
- a sale in the shop reaches KeyCRM with no cron call, and a burst of sales
  over several SKUs ends in few PUTs with every final value right;
- a stale delivery replayed late moves nothing backwards;
- KeyCRM's echo of what was pushed makes no shop write;
- with shop_orders_in_keycrm a sale is not pushed (the cron sync decides it);
- a secret as WooCommerce's admin screen generates it (spaces, punctuation),
  from the configuration file or the page's saved settings, verifies;
- a burst of 1,000 paid orders over 200 SKUs (variations among them),
  delivered by the shop's queue while it goes on, is pushed in few PUTs,
  never over keycrm_requests_per_minute, every final value right;
- the pusher killed mid-push (the FastCGI worker, or the detached CGI
  child) loses nothing: the next pusher, or the cron sync, sends it;
- a variation's sale reaches KeyCRM (and its parent gets no delivery);
- WooCommerce's synchronous delivery after the response (the mu-plugin in
  contrib/) brings a sale to KeyCRM with no queue run at all.
"""

import base64
import hashlib
import hmac
import json
import os
import random
import secrets
import signal
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


def sign(raw, secret=SHOP_SECRET):
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


# wp_generate_password(50, true, true): what WooCommerce's admin screen gives a
# webhook whose secret field is left empty.
WP_CHARS = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
            "!@#$%^&*()" "-_ []{}<>~`+=,.;:/?|")


def wp_secret():
    """One such secret, beginning with a blank and holding every kind of
    character a config line could trip on."""
    rng = random.SystemRandom()
    middle = "".join(rng.choice(WP_CHARS) for _ in range(40))
    return " " + middle[:20] + "#= %<>`|" + middle[20:] + "x"


def pusher_pids(state):
    """Processes holding the state's push lock: the pusher at work.  On
    MariaDB the lock is a lease whose owner names the process
    (host:pid:random, lib/store_lease.c)."""
    if kctest.database_of(state) is not None:
        if not kctest.state_exists(state):
            return []
        rows = query(state, "SELECT owner FROM leases WHERE name = 'push' AND expires_at >= ?",
                     time.time())
        pids = [int(owner.rsplit(":", 2)[1]) for (owner,) in rows]
        return [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
    lock = os.path.realpath(os.path.join(str(state), "push.lock"))
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == lock:
                    pids.append(int(pid))
                    break
            except OSError:
                continue
    return pids


def burst_catalogue():
    """200 SKUs: 160 simple products and 4 variable products of 10
    variations each, all managing their own stock (100 each)."""
    products = []
    for i in range(160):
        products.append({"id": 5000 + i, "type": "simple", "parent_id": 0,
                         "sku": f"BURST-{i:03d}", "manage_stock": True,
                         "stock_quantity": 100, "status": "publish", "name": f"Burst {i}"})
    for v in range(4):
        parent = 6000 + v * 100
        products.append({"id": parent, "type": "variable", "parent_id": 0,
                         "sku": f"BURST-VAR{v}", "manage_stock": False,
                         "stock_quantity": None, "status": "publish", "name": f"Var {v}"})
        for k in range(1, 11):
            products.append({"id": parent + k, "type": "variation", "parent_id": parent,
                             "sku": f"BURST-VAR{v}-{k:02d}", "manage_stock": True,
                             "stock_quantity": 100, "status": "publish",
                             "name": f"Var {v} {k}"})
    return products


class OnBothServers(unittest.TestCase):
    """Each test runs once behind nginx and once behind Apache, with a
    fresh state and fresh fakes, after a first cron sync (the baseline)."""

    extra = {}
    variants = tuple((kind, None) for kind in KINDS)
    catalogue = None            # products for the fake shop; None: its recording
    push_delay_ms = PUSH_DELAY_MS
    secret = SHOP_SECRET

    def secret_config(self):
        """The configuration keys that carry the secret."""
        return {"shop_webhook_secret": self.secret}

    def each_server(self, scenario):
        for kind, mode in self.variants:
            with self.subTest(kind=kind, mode=mode):
                self.state = make_state_dir(f"shophook-{kind}")
                SHOP.reset(**({"products": self.catalogue()} if self.catalogue else {}))
                SHOP.faults()
                SHOP.webhook_config(mode="async", safe_urls=False, queue_interval_s=0)
                CRM.reset(**crm_like_shop())
                CRM.configure(webhook_mode="hold", unknown_sku="skip")
                cfg = full_config(f"shophook-{kind}.conf", self.state, SHOP, CRM,
                                  **self.secret_config(), **self.extra)
                cls = kctest.servers.Nginx if kind == "nginx" else kctest.servers.Apache
                self.server = cls(str(kctest.root()), str(kctest.BINDIR), cfg,
                                  programs=("webhook.cgi", "sync.cgi"),
                                  env={**kctest.sanitizer_env(),
                                       "KEYCRM_SYNC_PUSH_DELAY_MS": str(self.push_delay_ms)},
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
        SHOP.create_webhook(self.hook_url, self.secret)

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
            with kctest.RunLock(self.state, "push"):
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

    def test_a_delivery_late_past_a_sync_moves_nothing_backwards(self):
        """WooCommerce's delivery arrives only after a cron sync read the
        product, and the newer delivery is lost: KeyCRM keeps the sync's value."""
        def scenario():
            self.register()
            pid, sku = simple_skus(1)[0]
            # Deliveries fail for now (the receiver unreachable): logged, never resent.
            SHOP.edit_webhook(1, delivery_url=f"http://127.0.0.1:{kctest.servers.free_port()}"
                                              "/keycrm/shop-webhook")
            SHOP.sale(pid, 1)
            SHOP.run_queue()
            late = SHOP.deliveries()[-1]
            SHOP.sale(pid, 2)
            SHOP.run_queue()
            final = SHOP.qty(pid)
            self.assertNotEqual([d["status"] for d in SHOP.deliveries()], [200, 200])
            time.sleep(2.2)                      # the sync starts seconds after the sales
            self.cron()
            self.assertEqual(keycrm_qty(sku), final)
            CRM.clear_log()
            r = SHOP.replay(late["id"], url=self.hook_url)
            self.assertEqual(r["status"], 200, r)
            wait_for(lambda: self.pending() == [], what="the late change to be handled")
            kctest.wait_run_over(self.state, "push")     # its pusher has finished
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
                kctest.wait_run_over(self.state, "push")  # that pusher has finished
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
            kctest.wait_run_over(self.state, "push")
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


class WooCommerceSecret(OnBothServers):
    """A secret WooCommerce generated, in the configuration file (between
    double quotes: it begins with a blank)."""

    secret = wp_secret()

    def secret_config(self):
        return {"shop_webhook_secret": '"' + self.secret + '"'}

    def test_a_delivery_signed_with_it_is_accepted(self):
        def scenario():
            self.register()
            self.assertEqual([d["status"] for d in SHOP.deliveries(kind="ping")], [200])
            pid, sku = simple_skus(1)[0]
            SHOP.sale(pid, 1)
            made = SHOP.run_queue()
            self.assertEqual([d["status"] for d in made], [200], made)
            self.wait_pushed({sku: SHOP.qty(pid)})
            # The same body signed with the secret as a careless copy would
            # have it (its leading blank lost) is refused.
            raw = json.dumps({"id": pid, "parent_id": 0, "type": "simple", "sku": sku,
                              "manage_stock": True, "stock_quantity": 1,
                              "date_modified_gmt": "2030-01-01T00:00:00"}).encode()
            r = self.post(raw, {"X-WC-Webhook-Topic": "product.updated",
                                "X-WC-Webhook-Signature": sign(raw, self.secret.strip())})
            self.assertEqual(r.status, 403, r.text)
            r = self.post(raw, {"X-WC-Webhook-Topic": "product.updated",
                                "X-WC-Webhook-Signature": sign(raw, self.secret)})
            self.assertEqual(r.status, 200, r.text)
        self.each_server(scenario)


class WooCommerceSecretSaved(WooCommerceSecret):
    """The same secret saved from the settings page (state_dir/settings.conf),
    the main file holding none."""

    def secret_config(self):
        if kctest.database_of(self.state):
            # Saved settings then live in the database.
            self.skipTest("settings saved in the database: see test_settings")
        path = os.path.join(str(self.state), "settings.conf")
        with open(path, "w") as f:
            f.write('# Saved from the keycrm-sync settings page.\n'
                    f'shop_webhook_secret = "{self.secret}"\n')
        st = os.stat(self.state)
        os.chown(path, st.st_uid, st.st_gid)
        os.chmod(path, 0o600)
        return {}


class Burst(OnBothServers):
    """1,000 paid orders over 200 SKUs while the shop's queue runs every
    second, as a runner started every second would."""

    catalogue = staticmethod(burst_catalogue)
    # Deliveries through plain CGI take a few seconds for the burst: a
    # wait of two seconds coalesces them into a few passes.
    push_delay_ms = 2000
    LIMIT = 30
    extra = {"keycrm_requests_per_minute": LIMIT}

    def test_a_burst_of_1000_sales_over_200_skus(self):
        def scenario():
            CRM.configure(rate_limit={"requests": self.LIMIT, "window_s": 60})
            self.register()
            ids = {p["id"]: p["sku"] for p in burst_catalogue() if p["manage_stock"]}
            self.assertEqual(len(ids), 200)
            rng = random.Random(17)
            order = list(ids) * 5                 # every SKU sold 5 times
            rng.shuffle(order)
            SHOP.webhook_config(queue_interval_s=1)
            try:
                for pid in order:
                    SHOP.sale(pid, 1)
                # The runner goes on until the queue is empty (plain CGI under a
                # sanitizer takes a while per delivery).
                wait_for(lambda: SHOP.webhook_queue() == [], timeout=300,
                         what="the shop's queue to be sent")
            finally:
                SHOP.webhook_config(queue_interval_s=0)
            expected = {sku: 95 for sku in ids.values()}
            self.assertEqual({ids[pid]: SHOP.qty(pid) for pid in ids}, expected)
            wait_for(lambda: all(keycrm_qty(s) == 95 for s in expected), timeout=240,
                     what="KeyCRM to hold every final value")
            wait_for(lambda: self.pending() == [], what="the queue to empty")
            self.assertEqual({d["status"] for d in SHOP.deliveries()}, {200})
            log = CRM.log()
            puts = [e for e in log if e["method"] == "PUT"]
            # Coalesced: a couple of seconds of deliveries per PUT, not one each
            # (a slow machine stretches the burst, hence more passes).
            n = len(SHOP.deliveries())
            self.assertLessEqual(len(puts), max(10, n // 10), (len(puts), n))
            self.assertEqual([e for e in log if e["status"] == 429 or e.get("over_limit")], [])
            times = sorted(e["t"] for e in log if e["path"].startswith("/v1/"))
            worst = max(sum(1 for u in times if t <= u < t + 60) for t in times)
            self.assertLessEqual(worst, self.LIMIT, worst)
            print(f"[{len(SHOP.deliveries())} deliveries, {len(puts)} PUTs,"
                  f" {len(times)} KeyCRM requests, at most {worst} in 60 s]", end=" ")
        self.each_server(scenario)


class Killed(OnBothServers):
    """The pusher killed while its PUT is in flight: nothing is lost."""

    variants = (("nginx", None), ("apache", None), ("nginx", "fcgiwrap"),
                ("apache", "proxy_fcgi"))

    def kill_mid_push(self, pid):
        """Sells one of pid, and kills the pusher while KeyCRM holds its PUT."""
        wait_for(lambda: not pusher_pids(self.state), what="the last pusher to finish")
        CRM.clear_log()
        CRM.faults(rules=[{"method": "PUT", "path_prefix": "/v1/offers/stocks",
                           "action": "timeout", "hold_s": 20, "times": 1}])
        try:
            SHOP.sale(pid, 1)
            SHOP.run_queue()
            wait_for(lambda: CRM.puts(), what="the pusher's PUT")
            wait_for(lambda: len(pusher_pids(self.state)) == 1, what="one pusher at work")
            pids = pusher_pids(self.state)
            self.assertEqual(len(pids), 1, pids)
            os.kill(pids[0], signal.SIGKILL)
            wait_for(lambda: not pusher_pids(self.state), what="the pusher to be gone")
            # MariaDB: its lease outlives it by 30 s (the take-over: test_cluster).
            kctest.expire_leases(self.state)
        finally:
            CRM.faults()
        self.assertEqual([r[0] for r in self.pending()], [pid])

    def test_killed_mid_push_the_next_pusher_or_the_sync_sends_it(self):
        def scenario():
            self.register()
            (a, sku_a), (b, sku_b), (c, sku_c) = simple_skus(3, types=("simple", "variation"), least=4)
            before = keycrm_qty(sku_a)
            self.kill_mid_push(a)
            self.assertEqual(keycrm_qty(sku_a), before)     # the PUT never landed
            # The next delivery's pusher sends both.
            SHOP.sale(b, 2)
            SHOP.run_queue()
            self.wait_pushed({sku_a: SHOP.qty(a), sku_b: SHOP.qty(b)})
            wait_for(lambda: self.pending() == [], what="the queue to empty")
            # Killed again; this time no delivery follows: the cron sync sends it.
            self.kill_mid_push(c)
            self.cron()
            self.assertEqual(keycrm_qty(sku_c), SHOP.qty(c))
            rows = query(self.state, "SELECT sku, agreed_qty FROM ledger WHERE sku IN (?, ?, ?)",
                         sku_a, sku_b, sku_c)
            self.assertEqual(dict(rows), {sku_a: SHOP.qty(a), sku_b: SHOP.qty(b),
                                          sku_c: SHOP.qty(c)})
        self.each_server(scenario)


class Variations(OnBothServers):
    def test_a_variations_sale_reaches_keycrm(self):
        def scenario():
            self.register()
            variations = simple_skus(50, types=("variation",), least=2)
            self.assertTrue(variations)
            pid, sku = variations[0]
            parent = SHOP.products()[pid]["parent_id"]
            SHOP.sale(pid, 2)
            made = SHOP.run_queue()
            self.assertEqual([(json.loads(d["body"])["id"], json.loads(d["body"])["type"]) for d in made],
                             [(pid, "variation")], made)
            self.assertEqual(json.loads(made[0]["body"])["parent_id"], parent)
            self.wait_pushed({sku: SHOP.qty(pid)})
            wait_for(lambda: self.pending() == [], what="the queue to empty")
        self.each_server(scenario)


class SynchronousDelivery(OnBothServers):
    """contrib/keycrm-sync-deliver-now.php: WooCommerce delivers right after
    its answer (fake mode after_response): no queue run is needed."""

    def test_a_sale_reaches_keycrm_without_any_queue_run(self):
        def scenario():
            self.register()
            SHOP.webhook_config(mode="after_response")
            pid, sku = simple_skus(1)[0]
            SHOP.sale(pid, 1)
            self.wait_pushed({sku: SHOP.qty(pid)})
            self.assertEqual(SHOP.webhook_queue(), [])
            self.assertEqual([d["status"] for d in SHOP.deliveries()], [200])
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
