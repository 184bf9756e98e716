"""Registering WooCommerce's own product webhook from the settings page
(SPEC 3, "shop webhook"; reference woocommerce-webhooks.md section 1),
through the real settings.cgi as plain CGI (as www-data) and behind nginx
and Apache with Basic auth, against the fake shop's webhooks REST API:

- "Connect" creates the webhook in the shop (product.updated, our delivery
  URL, a new secret saved as shop_webhook_secret and never shown whole);
  the shop's ping is answered 200, and a stock change in the shop reaches
  the fake KeyCRM through it;
- a webhook WooCommerce disabled after failed deliveries is warned about
  on Status and re-enabled by the button;
- "Recreate" gives a new secret: the old signature is refused;
- "Remove" deletes it in the shop and forgets the secret;
- the shop's refusals (401, 500) say why and change nothing;
- values from the shop are shown as text;
- sync.cgi --shop-webhook (what keycrm-sync-setup runs) does the same.
"""

import base64
import hashlib
import hmac
import json
import re
import shutil
import subprocess
import time
import unittest
import urllib.parse
from pathlib import Path

import kctest
from harness import servers
from kctest import (BINDIR, SYNC_TOKEN, full_config, make_state_dir, root, sanitizer_env,
                    wait_for)

SHOP = CRM = None
FAKES = kctest.SharedFakes()
USER, PASSWORD = "admin", "s3cret-shophooks"
PROGRAMS = ("webhook.cgi", "sync.cgi", "settings.cgi")
OUR_NAME = "keycrm-sync: stock changes"
PUSH_DELAY_MS = 300


def setUpModule():
    global SHOP, CRM
    SHOP, CRM = FAKES.start()


def tearDownModule():
    FAKES.stop()


def sign(raw, secret):
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def form(**fields):
    return urllib.parse.urlencode(fields).encode()


def csrf_token(page):
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert m, "no CSRF token on the page:\n" + page.text[:2000]
    return m.group(1)


def section(page):
    m = re.search(r'<section class="card" id="shop-webhooks">.*?</section>', page.text, re.S)
    assert m, "no Shop webhooks section:\n" + page.text[:3000]
    return m.group(0)


def status_section(page):
    m = re.search(r'<section class="card" id="status">.*?</section>', page.text, re.S)
    assert m, "no Status section"
    return m.group(0)


class PageOnServer:
    """One kind of target: the page as plain CGI ("cgi") or behind a
    server; webhook.cgi and sync.cgi always behind a server (nginx for
    "cgi"), which is where WooCommerce delivers."""

    kind = None

    @classmethod
    def setUpClass(cls):
        cls.state = make_state_dir(f"state-shophooks-{cls.kind}")
        cls.config = str(root() / f"shophooks-{cls.kind}.conf")
        CRM.reset(**kctest.crm_like_shop(SHOP))
        cls.write_config()
        server_cls = servers.Apache if cls.kind == "apache" else servers.Nginx
        htpasswd = servers.make_htpasswd(root() / f"shophooks-{cls.kind}.htpasswd", USER,
                                         PASSWORD)
        cls.server = server_cls(str(root()), str(BINDIR), cls.config, htpasswd=htpasswd,
                                programs=PROGRAMS,
                                env={**sanitizer_env(),
                                     "KEYCRM_SYNC_PUSH_DELAY_MS": str(PUSH_DELAY_MS)})
        cls.server.start()
        cls.hook_url = cls.server.url + "/keycrm/shop-webhook"
        if cls.kind == "cgi":
            # The page runs without a server: the shop must be told where to deliver.
            cls.write_config(shop_webhook_url=cls.hook_url)

    @classmethod
    def write_config(cls, **extra):
        full_config(Path(cls.config).name, cls.state, SHOP, CRM, **extra)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        SHOP.reset()
        SHOP.faults()
        SHOP.webhook_config(mode="async", safe_urls=False)
        CRM.reset(**kctest.crm_like_shop(SHOP))
        kctest.forget_saved_settings(self.state)
        self.responses = []
        self.secrets_seen = set()
        # The baseline: the first complete sync.
        r = servers.http_request(f"{self.server.url}/keycrm/sync?token={SYNC_TOKEN}&full=1")
        self.assertEqual(r.status, 200, r.text)
        CRM.clear_log()

    def tearDown(self):
        secret = self.saved_secret()
        if secret:
            self.secrets_seen.add(secret)
        for r in self.responses:
            for s in self.secrets_seen:
                self.assertNotIn(s, r.text, "the shop webhook's secret appears whole in a page")

    # --- helpers

    def settings_conf(self):
        return Path(self.state) / "settings.conf"

    def saved_secret(self):
        if kctest.database_of(self.state) is not None:
            rows = kctest.query(self.state, "SELECT value FROM settings WHERE name = 'settings.conf'")
            text = rows[0][0] if rows else ""
        else:
            p = self.settings_conf()
            text = p.read_text() if p.exists() else ""
        m = re.search(r"^shop_webhook_secret = (\S+)$", text, re.M)
        return m.group(1) if m else None

    def request(self, method="GET", query="", body=None):
        if self.kind == "cgi":
            env = {"REQUEST_METHOD": method, "QUERY_STRING": query,
                   "SCRIPT_NAME": "/keycrm/settings", "SERVER_NAME": "shop.example",
                   "SERVER_PORT": "443", "HTTPS": "on", "HTTP_HOST": "shop.example",
                   "KEYCRM_SYNC_CONFIG": self.config, "REMOTE_USER": USER, **sanitizer_env()}
            if body is not None:
                env["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
            r = servers.run_cgi(BINDIR / "settings.cgi", env=env, body=body or b"",
                                user="www-data", timeout=120)
        else:
            url = self.server.url + "/keycrm/settings" + (f"?{query}" if query else "")
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
            r = servers.http_request(url, method, body, headers, auth=(USER, PASSWORD),
                                     timeout=120)
        self.responses.append(r)
        return r

    def get(self):
        r = self.request()
        self.assertEqual(r.status, 200, r.text[:2000])
        return r

    def act(self, action, before=None):
        """Presses a button of the page (before(): what happens between
        showing the page and the press); the page after the redirect."""
        page = self.get()
        self.assertIn(f'name="action" value="{action}"', section(page))
        if before is not None:
            before()
        r = self.request("POST", body=form(action=action, csrf=csrf_token(page)))
        self.assertEqual(r.status, 303, r.text[:1000])
        query = urllib.parse.urlsplit(r.headers["location"]).query
        return self.request("GET", query)

    def connect(self):
        page = self.act("shop_connect")
        self.assertIn("WooCommerce created webhook", page.text)
        hooks = list(SHOP.webhooks().values())
        self.assertEqual(len(hooks), 1, hooks)
        return hooks[0], page

    def deliver(self, raw, secret):
        return servers.http_request(self.hook_url, "POST", raw, {
            "Content-Type": "application/json", "X-WC-Webhook-Topic": "product.updated",
            "X-WC-Webhook-Signature": sign(raw, secret)})

    def product(self):
        for p in sorted(SHOP.products().values(), key=lambda p: p["id"]):
            if p.get("type") == "simple" and p.get("manage_stock") is True and p.get("sku") \
                    and (p.get("stock_quantity") or 0) > 5:
                return p
        self.fail("no simple product that manages stock")

    # --- the tests

    def test_connect_creates_it_the_ping_gets_200_and_a_change_reaches_keycrm(self):
        page = self.get()
        self.assertIn("Not connected", section(page))
        self.assertEqual(SHOP.webhooks(), {})
        hook, page = self.connect()
        self.assertEqual(hook["topic"], "product.updated")
        self.assertEqual(hook["delivery_url"], self.hook_url)
        self.assertEqual(hook["name"], OUR_NAME)
        self.assertEqual(hook["status"], "active")
        secret = self.saved_secret()
        self.assertRegex(secret or "", r"^[0-9a-f]{64}$")
        self.assertEqual(hook["secret"], secret)
        pings = SHOP.deliveries(kind="ping")
        self.assertEqual([d["status"] for d in pings], [200], pings)
        self.assertFalse(hook["pending_delivery"])
        self.assertIn('data-hook-status="active"', section(page))
        self.assertIn("\u2026" + secret[-4:], section(page))
        # A stock change in the shop, delivered signed with that secret,
        # reaches KeyCRM with no cron call.
        # A sale, as a paid order: WooCommerce stamps the product modified now
        # (a change older than the last sync would be that sync's to send).
        p = self.product()
        SHOP.sale(p["id"], 2)
        made = SHOP.run_queue()
        self.assertEqual([d["status"] for d in made], [200], made)
        wait_for(lambda: CRM.offers()[p["sku"]]["stocks"]["1"]["quantity"] ==
                 p["stock_quantity"] - 2, what="KeyCRM to hold the shop's new stock")
        page = self.get()
        self.assertRegex(section(page), r"Last notified us</dt><dd>(just now|\d+ min ago)")
        # What the push sent, and how late WooCommerce delivered: the history
        # records the push once the pusher has finished.
        wait_for(lambda: 'data-pushed="1"' in section(self.get()),
                 what="the page to count the pushed value")
        page = self.get()
        self.assertRegex(section(page), r'data-delay-median="\d+"')
        self.assertIn("Shop changes pushed", page.text)

    def test_a_disabled_webhook_is_warned_about_and_repaired(self):
        hook, _ = self.connect()
        self.assertNotIn("disabled", status_section(self.get()).lower())
        # Six failures already; the seventh, for real, disables it.
        SHOP.edit_webhook(hook["id"], failure_count=6,
                          delivery_url=f"http://127.0.0.1:{servers.free_port()}/gone")
        p = self.product()
        SHOP.upsert({**p, "stock_quantity": p["stock_quantity"] + 1})
        made = SHOP.run_queue()
        self.assertEqual([d["success"] for d in made], [False], made)
        self.assertEqual(SHOP.webhook(hook["id"])["status"], "disabled")
        SHOP.edit_webhook(hook["id"], delivery_url=self.hook_url)
        page = self.get()
        self.assertIn(f"WooCommerce has disabled the shop&#39;s webhook {hook['id']}",
                      status_section(page))
        self.assertIn('data-hook-status="disabled"', section(page))
        self.assertIn('value="shop_enable"', section(page))
        page = self.act("shop_enable")
        self.assertIn("active again", page.text)
        self.assertEqual(SHOP.webhook(hook["id"])["status"], "active")
        self.assertIn('data-hook-status="active"', section(page))
        self.assertNotIn("has disabled", status_section(page))

    def test_recreate_gives_a_new_secret_and_the_old_signature_is_refused(self):
        old, _ = self.connect()
        old_secret = self.saved_secret()
        p = self.product()
        raw = json.dumps({"id": p["id"], "parent_id": 0, "type": "simple", "sku": p["sku"],
                          "manage_stock": True, "stock_quantity": p["stock_quantity"],
                          "date_modified_gmt": "2030-01-01T00:00:00"}).encode()
        self.assertEqual(self.deliver(raw, old_secret).status, 200)
        page = self.act("shop_recreate")
        self.assertIn("old webhook was removed", page.text)
        hooks = list(SHOP.webhooks().values())
        self.assertEqual(len(hooks), 1, hooks)
        new_secret = self.saved_secret()
        self.assertNotEqual(new_secret, old_secret)
        self.assertNotEqual(hooks[0]["id"], old["id"])
        self.assertEqual(hooks[0]["secret"], new_secret)
        self.assertEqual(self.deliver(raw, old_secret).status, 403)
        self.assertEqual(self.deliver(raw, new_secret).status, 200)
        self.secrets_seen.add(old_secret)

    def test_remove_deletes_it_in_the_shop_and_forgets_the_secret(self):
        self.connect()
        SHOP.create_webhook("http://example.invalid/other", "x" * 40, name="someone else's")
        page = self.act("shop_remove")
        self.assertIn("Removed 1 webhook", page.text)
        self.assertEqual([h["name"] for h in SHOP.webhooks().values()], ["someone else's"])
        self.assertIsNone(self.saved_secret())
        self.assertIn("Not connected", section(page))

    def test_the_shops_refusals_say_why_and_change_nothing(self):
        refused = {"method": "*", "path_prefix": "/wp-json/wc/v3/webhooks", "times": -1,
                   "action": "status", "status": 401,
                   "body": json.dumps({"code": "woocommerce_rest_cannot_view",
                                       "message": "Sorry, you cannot list resources."})}
        broken = {"method": "POST", "path_prefix": "/wp-json/wc/v3/webhooks", "times": -1,
                  "action": "status", "status": 500,
                  "body": json.dumps({"code": "internal", "message": "<b>Database</b> gone"})}
        # A first connect refused: no secret saved, no webhook.
        for rule in (refused, broken):
            SHOP.faults(rules=[rule])
            page = self.act("shop_connect")
            self.assertIn("Nothing was changed", page.text)
            SHOP.faults()
            self.assertIsNone(self.saved_secret())
            self.assertEqual(SHOP.webhooks(), {})
        self.connect()
        secret = self.saved_secret()
        before = SHOP.webhooks()
        for rule, action, said in (
                (refused, "shop_recreate", "the shop refused to list its webhooks (HTTP 401: "
                 "Sorry, you cannot list resources.)"),
                (refused, "shop_remove", "the shop refused to list its webhooks (HTTP 401"),
                (broken, "shop_recreate", "the shop could not create the webhook (HTTP 500: "
                 "Database gone)")):
            with self.subTest(action=action, status=rule["status"]):
                page = self.act(action, lambda: SHOP.faults(rules=[rule]))
                SHOP.faults()
                self.assertIn("Nothing was changed: " + said, page.text)
                self.assertEqual(self.saved_secret(), secret)
                self.assertEqual(SHOP.webhooks(), before)

    def test_a_sync_that_found_changes_no_webhook_reported_is_warned_about(self):
        self.connect()
        now = time.time()
        # Connected two hours ago; syncs an hour and ten minutes ago, the
        # last one finding 3 changes; the last delivery a day old.
        kctest.execute(
            self.state,
            ("UPDATE kv SET value = ? WHERE key = 'check:shop_webhook'",
             json.dumps({"t": now - 7200})),
            "UPDATE shop_changes SET received_at = received_at - 86400",
            ("INSERT INTO history(kind, started_at, finished_at, received, queued, applied)"
             " VALUES ('sync', ?, ?, 10, 0, 0)", now - 3600, now - 3590),
            ("INSERT INTO history(kind, started_at, finished_at, received, queued, applied)"
             " VALUES ('sync', ?, ?, 10, 3, 3)", now - 600, now - 590))
        warning = "The last sync run found 3 changes in the shop that no shop webhook reported"
        self.assertIn(warning, status_section(self.get()))
        # A delivery arrives: WooCommerce does report.
        p = self.product()
        SHOP.upsert({**p, "stock_quantity": p["stock_quantity"] + 2})
        self.assertEqual([d["status"] for d in SHOP.run_queue()], [200])
        self.assertNotIn(warning, status_section(self.get()))

    def test_values_from_the_shop_are_shown_as_text(self):
        hook, _ = self.connect()
        SHOP.edit_webhook(hook["id"], name='<script>alert(1)</script>"><img src=x>',
                          status="paused")
        page = self.get()
        self.assertNotIn("<script>alert", page.text)
        self.assertNotIn("<img src=x>", page.text)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x&gt;",
                      section(page))
        self.assertIn('data-hook-status="paused"', section(page))
        self.assertIn("is paused in WooCommerce", status_section(page))


class ShopHooksAsCGI(PageOnServer, unittest.TestCase):
    kind = "cgi"

    def test_from_a_shell_connect_status_repair_remove(self):
        # keycrm-sync-setup as installed: sync.cgi in ../lib/keycrm-sync beside it.
        tree = root() / "setup-tree"
        (tree / "sbin").mkdir(parents=True, exist_ok=True)
        (tree / "lib" / "keycrm-sync").mkdir(parents=True, exist_ok=True)
        setup = tree / "sbin" / "keycrm-sync-setup"
        shutil.copy(kctest.REPO / "contrib" / "keycrm-sync-setup", setup)
        link = tree / "lib" / "keycrm-sync" / "sync.cgi"
        link.unlink(missing_ok=True)
        link.symlink_to(BINDIR.resolve() / "sync.cgi")

        def shell(action):
            return subprocess.run([str(setup), "--shop-webhook", action, "--config", self.config],
                                  capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  timeout=120, env={"PATH": "/usr/bin:/bin", **sanitizer_env()})
        r = shell("status")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("No webhook of ours", r.stdout)
        r = shell("connect")
        self.assertEqual(r.returncode, 0, r.stderr)
        hooks = list(SHOP.webhooks().values())
        self.assertEqual(len(hooks), 1)
        self.assertEqual(hooks[0]["delivery_url"], self.hook_url)
        self.assertEqual(hooks[0]["secret"], self.saved_secret())
        self.assertNotIn(self.saved_secret(), r.stdout + r.stderr)
        self.assertEqual([d["status"] for d in SHOP.deliveries(kind="ping")], [200])
        # Written as the state directory's owner, so the web server reads it.
        if kctest.database_of(self.state) is None:
            self.assertEqual(self.settings_conf().stat().st_uid, Path(self.state).stat().st_uid)
        SHOP.edit_webhook(hooks[0]["id"], status="disabled")
        r = shell("status")
        self.assertEqual(r.returncode, 1)
        self.assertIn("disabled", r.stdout)
        r = shell("repair")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(SHOP.webhook(hooks[0]["id"])["status"], "active")
        r = shell("status")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = shell("remove")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(SHOP.webhooks(), {})
        self.assertIsNone(self.saved_secret())
        r = shell("sideways")
        self.assertEqual(r.returncode, 2)


class ShopHooksBehindNginx(PageOnServer, unittest.TestCase):
    kind = "nginx"


class ShopHooksBehindApache(PageOnServer, unittest.TestCase):
    kind = "apache"


if __name__ == "__main__":
    unittest.main()
