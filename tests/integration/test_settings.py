"""settings.cgi through the real binary (SPEC sections 2 and 3): the page
only for a user the web server authenticated, every action a POST with a
CSRF token and a redirect, settings saved atomically to settings.conf
(0600) and shown as "saved from this page", a new KeyCRM key checked before
it is saved, hostile SKUs shown as text, secrets never whole on any page
but the one-time "show" answer, and the security headers on every answer.

The page runs three ways: the binary executed as plain CGI (as www-data,
like a server would), behind a real nginx (FastCGI workers) and behind a
real Apache (mod_cgid), both with HTTP Basic auth exactly as the example
configs set it up, against the simulated shop and KeyCRM.
"""

import base64
import hashlib
import json
import os
import re
import stat
import subprocess
import time
import unittest
import urllib.parse
from pathlib import Path

import kctest
from harness import servers
from kctest import (BINDIR, CK, CS, KEYCRM_KEY, SYNC_TOKEN, WEBHOOK_SECRET, FakeShop,
                    make_state_dir, root, sanitizer_env, saved_settings, write_config)

SHOP = CRM = None
USER, PASSWORD = "admin", "s3cret-" + os.urandom(6).hex()
OTHER_USER = "someone-else"
SECRETS = {"webhook_secret": WEBHOOK_SECRET, "sync_token": SYNC_TOKEN,
           "woo_consumer_secret": CS, "keycrm_api_key": KEYCRM_KEY}
XSS_SKUS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
PROGRAMS = ("webhook.cgi", "sync.cgi", "settings.cgi")


def setUpModule():
    global SHOP, CRM
    SHOP = FakeShop()
    CRM = kctest.Fake("fake_keycrm.py", "--api-key", KEYCRM_KEY)


def tearDownModule():
    for f in (SHOP, CRM):
        if f is not None:
            f.stop()


def config(name, state_dir, **extra):
    # KeyCRM's URL only: its key is set on the page.
    return kctest.full_config(f"{name}.conf", state_dir, SHOP,
                              **{"keycrm_api_url": CRM.url + "/v1", "sync_max_seconds": 30,
                                 **extra})


def csrf_token(page):
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert m, "no CSRF token on the page:\n" + page.text[:2000]
    return m.group(1)


def show_fields(page):
    """The one-use fields of the page's "show" form."""
    m = re.search(r'name="nonce" value="([0-9a-f]{32})"><input type="hidden" name="once" '
                  r'value="([0-9a-f]{64})">', page.text)
    assert m, "no show form on the page"
    return {"nonce": m.group(1), "once": m.group(2)}


def form(**fields):
    return urllib.parse.urlencode(fields).encode()


def finished(t, user=USER, timeout=120):
    """Waits for the work the page runs in the background; returns the page
    once its card no longer says running."""
    deadline = time.monotonic() + timeout
    while True:
        card = t.request("GET", "job=card", user=user)
        assert card.status == 200, card.text[:500]
        if 'data-state="running"' not in card.text:
            return t.request("GET", user=user)
        assert time.monotonic() < deadline, "the background work did not finish: " + card.text
        time.sleep(0.3)


def settings_conf(state_dir):
    return Path(state_dir) / "settings.conf"


class DirectCGI:
    """settings.cgi run as plain CGI, as www-data, with the variables a
    server sets (REMOTE_USER only when given)."""

    def __init__(self, config_path):
        self.config_path = config_path
        self.binary = BINDIR / "settings.cgi"
        self.responses = []

    def request(self, method="GET", query="", body=None, user=USER, env=None):
        e = {"REQUEST_METHOD": method, "QUERY_STRING": query, "SCRIPT_NAME": "/keycrm/settings",
             "SERVER_NAME": "shop.example", "SERVER_PORT": "443", "HTTPS": "on",
             "HTTP_HOST": "shop.example", "KEYCRM_SYNC_CONFIG": self.config_path,
             **sanitizer_env()}
        if user is not None:
            e["REMOTE_USER"] = user
        if body is not None:
            e["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        e.update(env or {})
        r = servers.run_cgi(self.binary, env=e, body=body or b"", user="www-data", timeout=120)
        self.responses.append(r)
        return r

    def follow(self, r):
        self.assertion_redirect(r)
        query = urllib.parse.urlsplit(r.headers["location"]).query
        return self.request("GET", query)

    @staticmethod
    def assertion_redirect(r):
        assert r.status == 303, f"expected 303, got {r.status}: {r.text[:500]}"

    def stop(self):
        pass


class Behind:
    """settings.cgi behind a real server with Basic auth from the examples."""

    def __init__(self, kind, config_path):
        cls = servers.Nginx if kind == "nginx" else servers.Apache
        htpasswd = servers.make_htpasswd(root() / f"{kind}-settings.htpasswd", USER, PASSWORD)
        subprocess.run(["htpasswd", "-iB", str(htpasswd), OTHER_USER], input=PASSWORD.encode(),
                       check=True, capture_output=True, timeout=30)
        self.server = cls(str(root()), str(BINDIR), config_path, htpasswd=htpasswd,
                          programs=PROGRAMS, env=sanitizer_env())
        self.server.start()
        self.url = self.server.url + "/keycrm/settings"
        self.responses = []

    def request(self, method="GET", query="", body=None, user=USER, env=None, password=PASSWORD,
                headers=None):
        headers = {**({"Content-Type": "application/x-www-form-urlencoded"}
                      if body is not None else {}), **(headers or {})}
        auth = (user, password) if user is not None else None
        r = servers.http_request(self.url + (f"?{query}" if query else ""), method, body,
                                 headers, auth=auth, timeout=120)
        self.responses.append(r)
        return r

    def follow(self, r):
        assert r.status == 303, f"expected 303, got {r.status}: {r.text[:500]}"
        loc = r.headers["location"]
        assert loc.startswith("/keycrm/settings"), loc
        return self.request("GET", urllib.parse.urlsplit(loc).query)

    def webhook(self, items):
        return servers.http_request(
            f"{self.server.url}/keycrm/webhook?secret={WEBHOOK_SECRET}&wait=1", "POST",
            json.dumps(items).encode())

    def stop(self):
        self.server.stop()


class PageContract:
    """What every way of running the page must do."""

    kind = None

    @classmethod
    def setUpClass(cls):
        cls.state = make_state_dir(f"state-settings-{cls.kind}")
        cls.config = config(f"settings-{cls.kind}", cls.state)
        cls.target = DirectCGI(cls.config) if cls.kind == "cgi" else Behind(cls.kind, cls.config)

    @classmethod
    def tearDownClass(cls):
        cls.target.stop()

    def setUp(self):
        SHOP.reset()
        self.target.responses = []
        kctest.forget_saved_settings(self.state)

    def tearDown(self):
        # No page but the one-time "show" answer may hold a secret whole.
        for r in self.target.responses:
            if getattr(r, "shows_secrets", False):
                continue
            for name, value in SECRETS.items():
                self.assertNotIn(value, r.text, f"{name} appears whole in a page")
                self.assertNotIn(value, json.dumps(r.headers), f"{name} appears in a header")

    def get(self):
        r = self.target.request("GET")
        self.assertEqual(r.status, 200, r.text[:2000])
        return r

    def post(self, token=None, **fields):
        if token is not None:
            fields["csrf"] = token
        return self.target.request("POST", body=form(**fields))

    def assert_security_headers(self, r):
        h = r.headers
        csp = h.get("content-security-policy", "")
        for part in ("default-src 'none'", "form-action 'self'", "frame-ancestors 'none'",
                     "base-uri 'none'"):
            self.assertIn(part, csp)
        self.assertNotIn("unsafe-inline", csp)
        # The one script is page.js, allowed by its hash; nothing inline else.
        self.assertRegex(csp, r"script-src 'sha256-[A-Za-z0-9+/]+=*';")
        self.assertIn("connect-src 'self'", csp)
        self.assertEqual(h.get("x-frame-options"), "DENY")
        self.assertEqual(h.get("cache-control"), "no-store")
        self.assertEqual(h.get("referrer-policy"), "no-referrer")
        self.assertEqual(h.get("x-content-type-options"), "nosniff")
        m = re.search(r"<style>(.*?)</style>", r.text, re.S)
        if m:
            digest = base64.b64encode(hashlib.sha256(m.group(1).encode()).digest()).decode()
            self.assertIn(f"'sha256-{digest}'", csp, "the inline stylesheet's hash")
        scripts = re.findall(r"<script>(.*?)</script>", r.text, re.S)
        self.assertLessEqual(len(scripts), 1)
        for script in scripts:
            digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
            self.assertIn(f"script-src 'sha256-{digest}'", csp, "the script's hash")

    # --- reading the page

    def test_page_shows_every_section_with_security_headers(self):
        r = self.get()
        self.assert_security_headers(r)
        self.assertTrue(r.headers["content-type"].startswith("text/html"))
        for h in ("Status", "Connection", "Setup", "Settings", "Problems", "History"):
            self.assertIn(f"<h2>{h}</h2>", r.text)
        self.assertNotIn("<script", r.text.lower())
        self.assertIn("/keycrm/webhook?secret=\u2026" + WEBHOOK_SECRET[-4:], r.text)
        self.assertIn("wget -qO- &#39;", r.text)
        self.assertIn("/keycrm/sync?token=\u2026" + SYNC_TOKEN[-4:], r.text)

    def test_post_without_or_with_a_wrong_token_is_refused_and_changes_nothing(self):
        page = self.get()
        good = csrf_token(page)
        fields = dict(action="save", keycrm_api_key=KEYCRM_KEY, keycrm_warehouse_id="3",
                      subtract_reserve="no", manage_stock="enable")
        bad = "0" * 64 if good[0] != "0" else "1" * 64
        for token in (None, "", bad, good[:-1], good + "0", good.upper()):
            with self.subTest(token=token):
                r = self.post(token, **fields)
                self.assertEqual(r.status, 403, r.text[:500])
                self.assert_security_headers(r)
                self.assertIn("Nothing was changed", r.text)
                self.assertIsNone(saved_settings(self.state))
        r = self.post(bad, action="show")
        self.assertEqual(r.status, 403)
        self.assertNotIn("webhook?secret=" + WEBHOOK_SECRET[:8], r.text)

    def test_token_of_another_user_is_refused(self):
        other = self.target.request("GET", user=OTHER_USER)
        self.assertEqual(other.status, 200)
        token = csrf_token(other)
        r = self.post(token, action="save", keycrm_warehouse_id="4")
        self.assertEqual(r.status, 403)
        self.assertIsNone(saved_settings(self.state))

    def test_saving_writes_settings_conf_0600_and_shows_where_values_come_from(self):
        token = csrf_token(self.get())
        r = self.post(token, action="save", keycrm_api_key=KEYCRM_KEY, keycrm_warehouse_id="1",
                      subtract_reserve="no", manage_stock="enable")
        r = self.target.follow(r)
        self.assertIn("Settings saved", r.text)
        saved = saved_settings(self.state)
        for key, value in (("keycrm_api_key", KEYCRM_KEY), ("keycrm_warehouse_id", "1"),
                           ("subtract_reserve", "no"), ("manage_stock", "enable")):
            self.assertEqual(saved.get(key), value, key)
        if kctest.STORE == "sqlite":
            path = settings_conf(self.state)
            self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o600)
            self.assertEqual([p.name for p in Path(self.state).glob(".settings.conf*")], [],
                             "no temporary file is left")
        for key in ("keycrm_api_key", "keycrm_warehouse_id", "subtract_reserve", "manage_stock"):
            label = re.search(rf'<label for="{key}">.*?</label>', r.text, re.S)
            self.assertIsNotNone(label, key)
            self.assertIn("saved from this page", label.group(0), key)
        # The key is never sent back into the form.
        self.assertRegex(r.text, r'name="keycrm_api_key" value=""')
        # An empty key field keeps the saved key.
        r = self.target.follow(self.post(csrf_token(r), action="save", keycrm_api_key="",
                                         keycrm_warehouse_id="2", subtract_reserve="",
                                         manage_stock=""))
        self.assertIn("Settings saved", r.text)
        saved = saved_settings(self.state)
        self.assertEqual(saved.get("keycrm_api_key"), KEYCRM_KEY)
        self.assertEqual(saved.get("keycrm_warehouse_id"), "2")
        self.assertNotIn("subtract_reserve", saved)
        label = re.search(r'<label for="subtract_reserve">.*?</label>', r.text, re.S).group(0)
        self.assertIn("default", label)

    def test_a_rejected_keycrm_key_is_not_saved_and_says_why(self):
        token = csrf_token(self.get())
        r = self.target.follow(self.post(token, action="save", keycrm_api_key="wrong-key-123",
                                         keycrm_warehouse_id="1"))
        self.assertIn("Nothing was saved: KeyCRM rejected the new API key.", r.text)
        self.assertNotIn("(KeyCRM rejected", r.text, "the reason is not said twice")
        self.assertIsNone(saved_settings(self.state))

    def test_bad_values_are_not_saved(self):
        token = csrf_token(self.get())
        for fields, words in ((dict(keycrm_warehouse_id="abc"), "whole number"),
                              (dict(subtract_reserve="maybe"), "yes or no"),
                              (dict(manage_stock="always"), "skip or enable"),
                              (dict(keycrm_warehouse_id="1\nwebhook_secret=" + "x" * 40),
                               "one line")):
            with self.subTest(fields=fields):
                r = self.target.follow(self.post(token, action="save", **fields))
                self.assertIn("Nothing was saved", r.text)
                self.assertIn(words, r.text)
                self.assertIsNone(saved_settings(self.state))

    def test_result_message_is_shown_once_and_only_its_id_is_in_the_url(self):
        token = csrf_token(self.get())
        r = self.post(token, action="save", keycrm_warehouse_id="5")
        self.assertEqual(r.status, 303)
        loc = r.headers["location"]
        self.assertRegex(loc, r"^/keycrm/settings\?m=[0-9a-f]{32}$")
        first = self.target.follow(r)
        self.assertIn("Settings saved", first.text)
        again = self.target.request("GET", urllib.parse.urlsplit(loc).query)
        self.assertNotIn("Settings saved", again.text)

    def test_hostile_skus_render_as_text(self):
        SHOP.reset()
        if isinstance(self.target, Behind):
            r = self.target.webhook([{"sku": s, "in_stock": 2, "in_reserve": 0} for s in XSS_SKUS])
        else:
            d = kctest.Direct(self.config)
            r = servers.run_cgi(d.binary, env={
                "REQUEST_METHOD": "POST", "QUERY_STRING": f"secret={WEBHOOK_SECRET}&wait=1",
                "KEYCRM_SYNC_CONFIG": self.config, **sanitizer_env()},
                body=json.dumps([{"sku": s, "in_stock": 2} for s in XSS_SKUS]).encode(),
                user="www-data")
        self.assertEqual(r.status, 200, r.text)
        page = self.get()
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;", page.text)
        self.assertIn("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;", page.text)
        self.assertNotIn("<script>alert", page.text)
        self.assertNotIn("<img", page.text)
        self.assertIn("In KeyCRM, not in the shop", page.text)

    def test_show_reveals_the_urls_once_on_a_no_store_answer(self):
        page = self.get()
        token, once = csrf_token(page), show_fields(page)
        r = self.post(token, action="show", **once)
        r.shows_secrets = True
        self.assertEqual(r.status, 200)
        self.assert_security_headers(r)
        self.assertIn(f"/keycrm/webhook?secret={WEBHOOK_SECRET}", r.text)
        self.assertIn(f"/keycrm/sync?token={SYNC_TOKEN}", r.text)
        self.assertNotIn(CS, r.text)
        # The same form again (a copy kept anywhere) shows nothing.
        r = self.post(token, action="show", **once)
        self.assertEqual(r.status, 403)
        self.assertIn("Already shown", r.text)
        # Without the one-use fields, or with another user's, neither.
        self.assertEqual(self.post(token, action="show").status, 403)
        other = show_fields(self.target.request("GET", user=OTHER_USER))
        self.assertEqual(self.post(token, action="show", **other).status, 403)
        # A fresh page has a fresh form.
        page = self.get()
        r = self.post(csrf_token(page), action="show", **show_fields(page))
        r.shows_secrets = True
        self.assertEqual(r.status, 200)

    def test_buttons_language_and_stylesheet_are_what_the_page_says(self):
        r = self.get()
        # The attribute is markup, not escaped text.
        self.assertIn('class="primary">Sync now</button>', r.text)
        self.assertIn('class="primary">Save settings</button>', r.text)
        self.assertNotIn("&quot;primary", r.text)
        self.assertIn('<html lang="en">', r.text)
        # The stylesheet built in from lib/page.css, allowed by its hash.
        css = re.search(r"<style>(.*?)</style>", r.text, re.S).group(1)
        self.assertIn("button.primary{", css)
        self.assert_security_headers(r)
        # One backfill button at most, wherever it is.
        self.assertLessEqual(r.text.count('value="backfill"'), 1)

    def get_in(self, accept_language):
        if isinstance(self.target, DirectCGI):
            r = self.target.request("GET", env={"HTTP_ACCEPT_LANGUAGE": accept_language})
        else:
            r = self.target.request("GET", headers={"Accept-Language": accept_language})
        self.assertEqual(r.status, 200, r.text[:2000])
        return r

    def test_ukrainian_when_the_browser_prefers_it(self):
        r = self.get_in("uk-UA,uk;q=0.9,en;q=0.5")
        self.assertIn('<html lang="uk">', r.text)
        self.assertIn('class="primary">Синхронізувати зараз</button>', r.text)
        self.assertIn('class="primary">Зберегти налаштування</button>', r.text)
        self.assertNotIn(">Sync now<", r.text)
        # Russian is not Ukrainian: English, the fallback.
        r = self.get_in("ru-RU,ru;q=0.9")
        self.assertIn('<html lang="en">', r.text)
        self.assertIn('class="primary">Sync now</button>', r.text)

    def test_check_key_reports_both_sides(self):
        token = csrf_token(self.get())
        r = self.target.follow(self.post(token, action="check"))
        self.assertIn("no API key", r.text)
        self.assertIn("Write permission", r.text)
        self.assertIn("Stock management on", r.text)


class SettingsAsCGI(PageContract, unittest.TestCase):
    kind = "cgi"

    def test_without_remote_user_403_says_how_to_protect_it(self):
        r = self.target.request("GET", user=None)
        self.assertEqual(r.status, 403)
        self.assert_security_headers(r)
        self.assertIn("htpasswd", r.text)
        self.assertIn("auth_basic", r.text)
        self.assertIn("AuthType Basic", r.text)
        self.assertNotIn(SHOP.url, r.text)
        r = self.target.request("POST", body=form(action="save", keycrm_warehouse_id="9"),
                                user=None)
        self.assertEqual(r.status, 403)
        self.assertIsNone(saved_settings(self.state))

    def test_from_a_shell_it_prints_usage_and_exits_2(self):
        proc = subprocess.run([str(BINDIR / "settings.cgi")], capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", **sanitizer_env()})
        self.assertEqual(proc.returncode, 2)
        self.assertIn("usage: settings.cgi", proc.stderr)

    def test_other_methods_are_405(self):
        r = self.target.request("PUT")
        self.assertEqual(r.status, 405)
        self.assertIn("POST", r.headers["allow"])

    def test_configuration_error_is_shown_to_the_administrator(self):
        cfg = write_config(root() / "settings-broken.conf", state_dir=self.state,
                           colour="blue", webhook_secret=WEBHOOK_SECRET)
        r = DirectCGI(cfg).request("GET")
        self.assertEqual(r.status, 500)
        self.assert_security_headers(r)
        self.assertIn("unknown key &#39;colour&#39;", r.text)
        self.assertIn("settings-broken.conf:", r.text)
        self.assertNotIn(WEBHOOK_SECRET, r.text)
        # Nobody unauthenticated learns anything.
        r = DirectCGI(cfg).request("GET", user=None)
        self.assertEqual(r.status, 403)
        self.assertNotIn("colour", r.text)

    def test_webhook_url_is_built_from_the_request(self):
        r = self.target.request("GET", env={"HTTPS": None, "HTTP_HOST": "shop.example",
                                            "SERVER_PORT": "8080"})
        self.assertIn("http://shop.example:8080/keycrm/webhook?secret=", r.text)
        self.assertIn("served over plain HTTP", r.text)
        r = self.target.request("GET", env={"HTTP_HOST": "evil\"><x"})
        self.assertIn("https://shop.example/keycrm/webhook?secret=", r.text)
        self.assertNotIn("served over plain HTTP", r.text)

    def test_first_install_offers_push_all_or_backfill(self):
        state = make_state_dir("state-settings-first")
        cfg = config("settings-first", state, keycrm_api_key=KEYCRM_KEY, keycrm_warehouse_id=1)
        t = DirectCGI(cfg)
        page = t.request("GET")
        self.assertIn("First install", page.text)
        self.assertIn('value="push_all"', page.text)
        r = t.follow(t.request("POST", body=form(csrf=csrf_token(page), action="backfill")))
        self.assertIn("started in the background", r.text)
        r = finished(t)
        self.assertIn("Backfill from KeyCRM done", r.text)
        for resp in t.responses:
            for value in SECRETS.values():
                self.assertNotIn(value, resp.text)

    def test_first_install_card_compares_and_survives_cron(self):
        state = make_state_dir("state-settings-card")
        cfg = config("settings-card", state, keycrm_api_key=KEYCRM_KEY, keycrm_warehouse_id=1)
        CRM.control("reset", {})
        SHOP.control("sale", {"id": 12, "quantity": 2})
        t = DirectCGI(cfg)
        page = t.request("GET")
        self.assertIn("First install", page.text)
        self.assertIn('value="compare"', page.text)
        # Cron runs meanwhile: the first run's baseline ends, the choice stays.
        def cron():
            # As the web server's user, like wget through the server.
            r = servers.run_cgi(BINDIR / "sync.cgi", user="www-data", env={
                "REQUEST_METHOD": "GET", "QUERY_STRING": f"token={SYNC_TOKEN}",
                "KEYCRM_SYNC_CONFIG": cfg, **sanitizer_env()})
            self.assertEqual(r.status, 200, r.text)
        cron()
        cron()
        self.assertIn("First install", t.request("GET").text)
        token = csrf_token(page)
        t.follow(t.request("POST", body=form(csrf=token, action="compare")))
        r = finished(t)
        self.assertIn("Compared in", r.text)
        counts = re.search(r'<p id="compare-counts">.*?</p>', r.text, re.S).group(0)
        self.assertIn("1 different", counts)
        # KC-ONLY-001, and RW-SIMPLE-006 (the shop does not manage its stock).
        self.assertIn("2 only in KeyCRM", counts)
        table = re.search(r'<table class="cards" id="compare">.*?</table>', r.text, re.S).group(0)
        self.assertIn("<code>RW-SIMPLE-003</code>", table)
        self.assertIn(">-2<", table)
        self.assertIn("<code>KC-ONLY-001</code>", table)
        self.assertIn("?download=compare.csv", r.text)
        csv = t.request("GET", "download=compare.csv")
        self.assertEqual(csv.status, 200)
        self.assertTrue(csv.headers["content-type"].startswith("text/csv"))
        self.assertIn("RW-SIMPLE-003,different,", csv.text)
        # Backfill is the choice: the shop takes KeyCRM's numbers, the card goes.
        t.follow(t.request("POST", body=form(csrf=token, action="backfill")))
        r = finished(t)
        self.assertIn("Backfill from KeyCRM done", r.text)
        self.assertNotIn("First install", r.text)
        self.assertEqual(SHOP.products()[12]["stock_quantity"], 25)
        # ... for good.
        cron()
        self.assertNotIn("First install", t.request("GET").text)
        for resp in t.responses:
            for value in SECRETS.values():
                self.assertNotIn(value, resp.text)

    def test_warehouse_is_checked_with_keycrm_before_saving(self):
        state = make_state_dir("state-settings-warehouse")
        cfg = config("settings-warehouse", state, keycrm_api_key=KEYCRM_KEY)
        CRM.control("reset", {})
        t = DirectCGI(cfg)
        token = csrf_token(t.request("GET"))
        r = t.follow(t.request("POST", body=form(csrf=token, action="save",
                                                 keycrm_warehouse_id="7")))
        self.assertIn("Nothing was saved", r.text)
        self.assertIn("shows no warehouse 7 (warehouses it shows: 1, 2)", r.text)
        self.assertIsNone(saved_settings(state))
        gets = [e for e in CRM.control("log") if e["path"] == "/v1/offers/stocks"]
        self.assertTrue(gets and gets[-1]["query"]["filter"]["details"] == "true", gets)
        r = t.follow(t.request("POST", body=form(csrf=token, action="save",
                                                 keycrm_warehouse_id="2")))
        self.assertIn("Settings saved", r.text)
        self.assertEqual(saved_settings(state).get("keycrm_warehouse_id"), "2")
        r = t.follow(t.request("POST", body=form(csrf=token, action="save",
                                                 keycrm_warehouse_id="7",
                                                 warehouse_unlisted="yes")))
        self.assertIn("Settings saved", r.text)
        self.assertEqual(saved_settings(state).get("keycrm_warehouse_id"), "7")

    def test_statuses_that_no_longer_hold_are_cleared_and_problems_are_actionable(self):
        state = make_state_dir("state-settings-stale")
        cfg = config("settings-stale", state, keycrm_api_key=KEYCRM_KEY, keycrm_warehouse_id=1)
        revoked = config("settings-stale-revoked", state, keycrm_api_key=KEYCRM_KEY,
                         keycrm_warehouse_id=1, woo_consumer_key="ck_revoked")
        CRM.control("reset", {})
        SHOP.upsert({"id": 60, "type": "simple", "parent_id": 0, "sku": "RW-SIMPLE-001",
                     "manage_stock": True, "stock_quantity": 4, "status": "publish",
                     "name": "Twin"},
                    {"id": 61, "type": "simple", "parent_id": 0, "sku": "SHOP-ONLY-1",
                     "manage_stock": True, "stock_quantity": 9, "status": "publish",
                     "name": "Shop only"})

        def cron(query=""):
            r = servers.run_cgi(BINDIR / "sync.cgi", user="www-data", env={
                "REQUEST_METHOD": "GET", "QUERY_STRING": f"token={SYNC_TOKEN}&{query}",
                "KEYCRM_SYNC_CONFIG": cfg, **sanitizer_env()})
            self.assertEqual(r.status, 200, r.text)
            return r.json()

        bad = DirectCGI(revoked)
        r = bad.follow(bad.request("POST", body=form(csrf=csrf_token(bad.request("GET")),
                                                     action="check")))
        self.assertIn("WooCommerce rejected the API key at the last check", r.text)
        t = DirectCGI(cfg)
        self.assertIn("WooCommerce rejected the API key at the last check", t.request("GET").text)
        # A successful run contradicts it.
        cron("full=1")
        page = t.request("GET")
        self.assertNotIn("WooCommerce rejected the API key at the last check", page.text)
        dup = re.search(r'<details id="problems-duplicate".*?</details>', page.text, re.S).group(0)
        self.assertIn("<code>RW-SIMPLE-001</code>", dup)
        self.assertIn("written to every one of them", dup)
        skipped = re.search(r'<details id="problems-skipped".*?</details>', page.text, re.S).group(0)
        self.assertIn("<code>RW-SIMPLE-006</code>", skipped)
        # A comparison lists the shop SKUs KeyCRM does not have, with their product.
        token = csrf_token(page)
        t.request("POST", body=form(csrf=token, action="compare"))
        page = finished(t)
        missing = re.search(r'<details id="problems-not-in-keycrm".*?</details>', page.text,
                            re.S).group(0)
        self.assertIn("<code>SHOP-ONLY-1</code>", missing)
        self.assertIn(f'href="{SHOP.url}/wp-admin/post.php?post=61&amp;action=edit">Shop only</a>',
                      missing)
        unmatched = re.search(r'<details id="problems-unmatched".*?</details>', page.text,
                              re.S).group(0)
        self.assertNotIn("SHOP-ONLY-1", unmatched)
        # A row can be dismissed.
        r = t.follow(t.request("POST", body=form(csrf=token, action="dismiss", kind="skipped",
                                                 sku="RW-SIMPLE-006")))
        self.assertIn("Dismissed RW-SIMPLE-006", r.text)
        skipped = re.search(r'<details id="problems-skipped".*?</details>', r.text, re.S).group(0)
        self.assertNotIn("<code>RW-SIMPLE-006</code>", skipped)
        # The twin is deleted: the next full scan drops the duplicate.
        SHOP.control("products", {"delete": [60]})
        cron("full=1")
        page = t.request("GET")
        dup = re.search(r'<details id="problems-duplicate".*?</details>', page.text, re.S).group(0)
        self.assertNotIn("RW-SIMPLE-001", dup)
        self.assertIn("<p>None.</p>", dup)

    def test_the_shops_rest_key_is_replaced_on_the_page_after_the_shop_accepts_it(self):
        state = make_state_dir("state-settings-wookey")
        cfg = config("settings-wookey", state, keycrm_api_key=KEYCRM_KEY, keycrm_warehouse_id=1,
                     woo_consumer_key="ck_revoked", woo_consumer_secret="cs_revoked")
        t = DirectCGI(cfg)
        token = csrf_token(t.request("GET"))
        r = t.follow(t.request("POST", body=form(csrf=token, action="save",
                                                 woo_consumer_key=CK)))
        self.assertIn("enter both", r.text)
        r = t.follow(t.request("POST", body=form(csrf=token, action="save",
                                                 woo_consumer_key="ck_wrong",
                                                 woo_consumer_secret="cs_wrong")))
        self.assertIn("Nothing was saved: the shop rejected the new REST key", r.text)
        notice = re.search(r'<div class="notice [a-z]+" role="status" id="result"><p>(.*?)</p>',
                           r.text, re.S).group(1)
        self.assertNotIn("..", notice, "one full stop at the end of the shop's sentence")
        self.assertIsNone(saved_settings(state))
        r = t.follow(t.request("POST", body=form(csrf=token, action="save",
                                                 woo_consumer_key=CK, woo_consumer_secret=CS)))
        self.assertIn("the shop accepted the new REST key", r.text)
        saved = saved_settings(state)
        self.assertEqual(saved.get("woo_consumer_key"), CK)
        self.assertEqual(saved.get("woo_consumer_secret"), CS)
        label = re.search(r'<label for="woo_consumer_key">.*?</label>', r.text, re.S).group(0)
        self.assertIn("saved from this page", label)
        # The cron URL works with it, and saving other settings keeps it.
        r = servers.run_cgi(BINDIR / "sync.cgi", user="www-data", env={
            "REQUEST_METHOD": "GET", "QUERY_STRING": f"token={SYNC_TOKEN}",
            "KEYCRM_SYNC_CONFIG": cfg, **sanitizer_env()})
        self.assertEqual(r.status, 200, r.text)
        t.follow(t.request("POST", body=form(csrf=token, action="save", manage_stock="enable")))
        self.assertEqual(saved_settings(state).get("woo_consumer_secret"), CS)

    def test_sync_now_and_dry_run_plan(self):
        state = make_state_dir("state-settings-sync")
        cfg = config("settings-sync", state, keycrm_api_key=KEYCRM_KEY, keycrm_warehouse_id=1)
        t = DirectCGI(cfg)
        token = csrf_token(t.request("GET"))
        r = t.follow(t.request("POST", body=form(csrf=token, action="sync")))
        self.assertIn("Sync now started in the background", r.text)
        r = finished(t)
        self.assertIn("Sync run done", r.text)
        self.assertIn("first run", r.text)
        # The choice is still to be made: the card stays.
        self.assertIn("First install", r.text)
        sold = SHOP.products()[10]
        SHOP.control("sale", {"id": 10, "quantity": 3})
        r = t.follow(t.request("POST", body=form(csrf=token, action="dry_run")))
        self.assertIn("Dry run done", r.text)
        table = re.search(r'<table class="cards" id="plan">.*?</table>', r.text, re.S)
        self.assertIsNotNone(table, r.text[:3000])
        self.assertIn(f"<code>{sold['sku']}</code>", table.group(0))
        self.assertIn(f">{sold['stock_quantity'] - 3}<", table.group(0))
        # The whole plan as CSV, and its pages on their own.
        csv = t.request("GET", "download=plan.csv")
        self.assertEqual(csv.status, 200)
        self.assertEqual(csv.text.split("\r\n")[0], "sku,shop,keycrm,send")
        self.assertIn(f"{sold['sku']},{sold['stock_quantity'] - 3},", csv.text)
        again = t.request("GET", "plan=1")
        self.assertIn(f"<code>{sold['sku']}</code>", again.text)
        # Only for the user who ran it.
        self.assertEqual(t.request("GET", "download=plan.csv", user=OTHER_USER).status, 404)
        # Once the choice is made, push all needs a confirmation.
        r = t.follow(t.request("POST", body=form(csrf=token, action="first_keep")))
        self.assertIn("kept as they are", r.text)
        self.assertNotIn("First install", r.text)
        self.assertIn('id="push-all"', r.text)
        r = t.follow(t.request("POST", body=form(csrf=token, action="push_all")))
        self.assertIn("tick the confirmation", r.text)
        self.assertNotIn("Push all done", r.text)
        t.follow(t.request("POST", body=form(csrf=token, action="push_all", confirm="yes")))
        r = finished(t)
        self.assertIn("Push all done", r.text)
        for resp in t.responses:
            for value in SECRETS.values():
                self.assertNotIn(value, resp.text)

    def test_long_problem_lists_are_paged_and_downloadable(self):
        state = make_state_dir("state-settings-paged")
        cfg = config("settings-paged", state, keycrm_api_key=KEYCRM_KEY, keycrm_warehouse_id=1)
        skus = [f"NOWHERE-{i:03d}" for i in range(118)] + XSS_SKUS[:1] + ["=HYPERLINK(1)"]
        r = kctest.Direct(cfg).request("POST", f"secret={WEBHOOK_SECRET}&wait=1",
                                       json.dumps([{"sku": s, "in_stock": 1} for s in skus]).encode())
        self.assertEqual(r.status, 200, r.text)
        t = DirectCGI(cfg)
        page = t.request("GET")
        self.assertIn('<a href="#problems-unmatched">(see Problems)</a>', page.text)
        self.assertIn("120 SKUs from KeyCRM matched nothing in the shop", page.text)
        table = re.search(r'<details id="problems-unmatched".*?</details>', page.text, re.S).group(0)
        self.assertEqual(table.count("<tr><td"), 50)
        self.assertIn("Page 1 of 3", table)
        self.assertIn('href="/keycrm/settings?problems=unmatched&amp;page=2#problems-unmatched"',
                      table)
        seen = set(re.findall(r"<code>(NOWHERE-\d+)</code>", table))
        last = t.request("GET", "problems=unmatched&page=3")
        table = re.search(r'<details id="problems-unmatched".*?</details>', last.text,
                          re.S).group(0)
        self.assertEqual(table.count("<tr><td"), 20)
        self.assertIn("Page 3 of 3", table)
        self.assertIn('rel="prev"', table)
        self.assertNotIn('rel="next"', table)
        middle = t.request("GET", "problems=unmatched&page=2").text
        for text in (table, middle):
            seen |= set(re.findall(r"<code>(NOWHERE-\d+)</code>", text))
        self.assertEqual(len(seen), 118, "every row on exactly one of the pages")
        for text in (page.text, middle, last.text):
            self.assertNotIn("<script>alert", text)
        # A page number out of range or malformed shows a page, never an error.
        for q in ("problems=unmatched&page=99", "problems=unmatched&page=-1",
                  "problems=unmatched&page=x"):
            self.assertEqual(t.request("GET", q).status, 200, q)
        csv = t.request("GET", "download=problems-unmatched.csv")
        self.assertEqual(csv.status, 200)
        self.assertTrue(csv.headers["content-type"].startswith("text/csv"))
        lines = csv.text.strip().split("\r\n")
        self.assertEqual(lines[0], "sku,why,times,last_seen")
        self.assertEqual(len(lines), 121)
        self.assertTrue(any(line.startswith('"\'=HYPERLINK(1)"') for line in lines))
        self.assertTrue(any(line.startswith("<script>alert(1)</script>,") for line in lines))
        self.assertEqual(t.request("GET", "download=problems-nothing.csv").status, 404)
        self.assertEqual(t.request("GET", "download=problems-.csv").status, 404)

    def test_a_healthy_shop_shows_status_and_problems_first_setup_folded(self):
        state = make_state_dir("state-settings-healthy")
        cfg = config("settings-healthy", state, keycrm_api_key=KEYCRM_KEY, keycrm_warehouse_id=1)
        CRM.control("reset", {})
        t = DirectCGI(cfg)
        page = t.request("GET")
        self.assertNotIn('<details class="fold"><summary><h2>Setup</h2>', page.text)
        for _ in range(2):
            r = servers.run_cgi(BINDIR / "sync.cgi", user="www-data", env={
                "REQUEST_METHOD": "GET", "QUERY_STRING": f"token={SYNC_TOKEN}",
                "KEYCRM_SYNC_CONFIG": cfg, **sanitizer_env()})
            self.assertEqual(r.status, 200, r.text)
        page = t.request("GET")
        self.assertIn("Healthy", page.text)
        self.assertIn('<details class="fold"><summary><h2>Setup</h2></summary>', page.text)
        self.assertIn('<details class="fold"><summary><h2>Configuration</h2></summary>',
                      page.text)
        order = [page.text.index(f'id="{s}"') for s in
                 ("status", "problems", "connection", "history", "settings", "setup",
                  "configuration")]
        self.assertEqual(order, sorted(order), "status and problems first, setup last")

    def test_sync_now_runs_in_the_background_with_progress_then_result(self):
        state = make_state_dir("state-settings-background")
        cfg = config("settings-background", state, keycrm_api_key=KEYCRM_KEY,
                     keycrm_warehouse_id=1)
        t = DirectCGI(cfg)
        token = csrf_token(t.request("GET"))
        SHOP.faults(latency_ms=1500)
        try:
            r = t.request("POST", body=form(csrf=token, action="sync"))
            self.assertEqual(r.status, 303)
            page = t.follow(r)
            self.assertIn("Sync now started in the background", page.text)
            card = re.search(r'<section class="card" id="job".*?</section>', page.text, re.S)
            self.assertIsNotNone(card, page.text[:3000])
            self.assertIn('data-state="running"', card.group(0))
            self.assertRegex(card.group(0), r"Running since \d\d:\d\d")
            self.assertIn("requests a minute", card.group(0))
            self.assert_security_headers(page)
            self.assertIn("<script>", page.text, "page.js follows the work")
            # The card alone, for page.js.
            alone = t.request("GET", "job=card")
            self.assertEqual(alone.status, 200)
            self.assertTrue(alone.text.startswith('<section class="card" id="job"'), alone.text)
            self.assert_security_headers(alone)
            # One job at a time.
            again = t.follow(t.request("POST", body=form(csrf=token, action="backfill")))
            self.assertIn("still running", again.text)
        finally:
            SHOP.faults()
        page = finished(t)
        card = re.search(r'<section class="card" id="job".*?</section>', page.text, re.S).group(0)
        self.assertIn('data-state="done"', card)
        self.assertIn("Sync run done", card)
        self.assertRegex(card, r"Finished at \d\d:\d\d, after ")
        self.assertNotIn("<script", page.text)
        # The history records the run.
        self.assertIn("Sync run", re.search(r'id="history".*', page.text, re.S).group(0))

    def test_history_is_paged_filtered_charted_in_the_sites_zone(self):
        state = make_state_dir("state-settings-history")
        cfg = config("settings-history", state, keycrm_api_key=KEYCRM_KEY, keycrm_warehouse_id=1,
                     timezone="Europe/Kyiv")
        broken = config("settings-history-broken", state, keycrm_api_key=KEYCRM_KEY,
                        keycrm_warehouse_id=1, timezone="Europe/Kyiv",
                        woo_url=f"http://127.0.0.1:{servers.free_port()}")
        hook = kctest.Direct(cfg)
        for i in range(17):
            r = hook.request("POST", f"secret={WEBHOOK_SECRET}&wait=1", json.dumps(
                [{"sku": XSS_SKUS[i % 2] if i < 2 else f"H-{i}", "in_stock": i}]).encode())
            self.assertEqual(r.status, 200, r.text)

        def cron(path):
            r = servers.run_cgi(BINDIR / "sync.cgi", user="www-data", env={
                "REQUEST_METHOD": "GET", "QUERY_STRING": f"token={SYNC_TOKEN}",
                "KEYCRM_SYNC_CONFIG": path, **sanitizer_env()})
            return r

        self.assertEqual(cron(cfg).status, 200)
        cron(broken)            # the shop cannot be reached: a run with an error
        t = DirectCGI(cfg)
        page = t.request("GET")
        self.assert_security_headers(page)
        history = re.search(r'<section class="card" id="history">.*?</section>', page.text,
                            re.S).group(0)
        # The chart: inline SVG with its size, its summary, no script, nothing loaded.
        svg = re.search(r"<svg class=\"chart\".*?</svg>", history, re.S)
        self.assertIsNotNone(svg, history[:2000])
        self.assertIn('viewBox="0 0 720 190"', svg.group(0))
        self.assertRegex(svg.group(0), r"<desc id=\"chart-desc\">\d+ items moved, \d+ runs, "
                                       r"17 webhooks, [1-9]\d* errors\.</desc>")
        self.assertIn('class="bar"', svg.group(0))
        self.assertIn('class="err"', svg.group(0))
        self.assertNotIn("href", svg.group(0))
        # 36 rows at least (17 webhooks, 17 applier runs, 2 sync runs): two pages.
        self.assertEqual(history.count('<tr><td data-label="When">'), 30)
        self.assertIn("Page 1 of 2", history)
        self.assertIn('href="/keycrm/settings?history=all&amp;hpage=2#history"', history)
        second = re.search(r'id="history">.*?</section>', t.request("GET", "history=all&hpage=2").text,
                           re.S).group(0)
        self.assertIn("Page 2 of 2", second)
        self.assertGreaterEqual(second.count('<tr><td data-label="When">'), 6)
        # Filters: sync runs only; webhooks; errors.
        sync = re.search(r'id="history">.*?</section>', t.request("GET", "history=sync").text,
                         re.S).group(0)
        self.assertIn('<strong aria-current="page">Sync runs</strong>', sync)
        whats = re.findall(r'<td data-label="What">([^<]*)</td>', sync)
        self.assertEqual(whats, ["Sync run", "Sync run"])
        hooks = re.search(r'id="history">.*?</section>', t.request("GET", "history=webhook").text,
                          re.S).group(0)
        self.assertEqual(set(re.findall(r'<td data-label="What">([^<]*)</td>', hooks)),
                         {"Webhook", "Applied to shop"})
        errors = re.search(r'id="history">.*?</section>', t.request("GET", "history=errors").text,
                           re.S).group(0)
        self.assertGreaterEqual(errors.count('<span class="badge bad">error</span>'), 1)
        self.assertEqual(errors.count('<tr><td data-label="When">'),
                         errors.count('<span class="badge bad">error</span>'))
        # Anything else is the whole history, never an error.
        for q in ("history=<script>", "history=all&hpage=999", "hpage=-1"):
            r = t.request("GET", q)
            self.assertEqual(r.status, 200, q)
            self.assertNotIn("<script>", r.text)
        # Times where the site is (Kyiv: EET in winter, EEST in summer), not UTC.
        self.assertRegex(history, r"\d{4}-\d\d-\d\d \d\d:\d\d EES?T")
        self.assertNotIn(" UTC)", history)
        # An unknown zone is said, and UTC used.
        odd = config("settings-history-odd", state, keycrm_api_key=KEYCRM_KEY,
                     keycrm_warehouse_id=1, timezone="Mars/Olympus_Mons")
        r = DirectCGI(odd).request("GET")
        self.assertIn("Mars/Olympus_Mons (the timezone key) is not known here", r.text)
        self.assertIn(" UTC)", r.text)

    def test_the_shops_error_pages_are_quoted_as_text_not_markup(self):
        state = make_state_dir("state-settings-markup")
        cfg = config("settings-markup", state, keycrm_api_key=KEYCRM_KEY, keycrm_warehouse_id=1)
        sku = SHOP.products()[10]["sku"]
        # WordPress's fatal-error answer: JSON whose message is HTML.
        body = json.dumps({"code": "internal_server_error", "data": {"status": 500},
                           "message": "<p>There has been a critical error on this website.</p>"
                                      "<p><a href=\"https://wordpress.org/\">Learn more</a></p>"})
        SHOP.faults(rules=[{"method": "POST", "path_prefix": "/wp-json/wc/v3/products",
                            "action": "status", "status": 500, "body": body,
                            "content_type": "application/json", "times": -1}])
        try:
            r = kctest.Direct(cfg).request("POST", f"secret={WEBHOOK_SECRET}&wait=1", json.dumps(
                [{"sku": sku, "in_stock": 3, "in_reserve": 0}]).encode())
            self.assertEqual(r.status, 200, r.text)
        finally:
            SHOP.faults()
        page = DirectCGI(cfg).request("GET")
        self.assertIn("There has been a critical error on this website. Learn more", page.text)
        self.assertNotIn("&lt;p&gt;", page.text)
        self.assertNotIn("<p>There has been", page.text)

    def test_unreachable_shop_and_read_only_key_are_said_plainly(self):
        state = make_state_dir("state-settings-down")
        port = servers.free_port()
        cfg = config("settings-down", state, woo_url=f"http://127.0.0.1:{port}",
                     keycrm_api_url=f"http://127.0.0.1:{port}/v1", keycrm_api_key=KEYCRM_KEY)
        t = DirectCGI(cfg)
        r = t.follow(t.request("POST", body=form(csrf=csrf_token(t.request("GET")),
                                                 action="check")))
        self.assertIn("KeyCRM could not be reached", r.text)
        self.assertIn("Unreachable", r.text)
        self.assertIn("Needs attention", r.text)
        SHOP.control("config", {"key_permissions": "read"})
        try:
            token = csrf_token(self.get())
            r = self.target.follow(self.post(token, action="check"))
            self.assertIn("No write permission", r.text)
            self.assertIn("may not write", r.text)
        finally:
            SHOP.control("config", {"key_permissions": "read_write"})


class SettingsBehindNginx(PageContract, unittest.TestCase):
    kind = "nginx"

    def test_basic_auth_is_required(self):
        r = self.target.request("GET", user=None)
        self.assertEqual(r.status, 401)
        r = self.target.request("GET", password="wrong")
        self.assertEqual(r.status, 401)
        r = self.target.request("POST", body=form(action="save", keycrm_warehouse_id="9"),
                                user=None)
        self.assertEqual(r.status, 401)
        self.assertIsNone(saved_settings(self.state))


class SettingsBehindApache(SettingsBehindNginx):
    kind = "apache"


class NginxLogin(unittest.TestCase):
    """nginx fills $remote_user from any Authorization header, checked or
    not: the example passes REMOTE_USER from a variable that only the
    login block defines, so a config without the login does not start."""

    def test_removing_the_login_makes_nginx_refuse_the_config(self):
        login = ("auth_basic ", "auth_basic_user_file ", "set $keycrm_settings_user ")
        text = servers.NGINX_EXAMPLE.read_text()
        stripped = "\n".join(line for line in text.splitlines()
                              if not line.strip().startswith(login))
        self.assertNotEqual(stripped, text)
        example = root() / "nginx-example-without-login.conf"
        example.write_text(stripped)
        state = make_state_dir("settings-nologin")
        srv = servers.Nginx(str(root()), str(BINDIR), config("nologin", state),
                            programs=PROGRAMS, example=example)
        try:
            with self.assertRaises(RuntimeError) as ctx:
                srv.check_config()
            self.assertIn("keycrm_settings_user", str(ctx.exception))
        finally:
            srv.stop()

    def test_a_made_up_user_name_gets_nowhere(self):
        state = make_state_dir("settings-madeup")
        target = Behind("nginx", config("madeup", state))
        try:
            r = servers.http_request(target.url, headers={
                "Authorization": "Basic " + base64.b64encode(b"mallory:x").decode()})
            self.assertEqual(r.status, 401)
            self.assertNotIn(WEBHOOK_SECRET, r.text)
        finally:
            target.stop()


if __name__ == "__main__":
    unittest.main()
