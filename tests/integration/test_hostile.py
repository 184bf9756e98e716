"""Hostile input (docs/RELIABILITY.md, "Hostile input").

Secrets of the wrong length or alphabet, in the configuration and in
requests; CR/LF meant to reach outgoing requests (SKUs, the API key);
SKUs with spaces, quotes, Unicode, %, +, &, #, <script> and SQL-like text
travelling end to end (webhook -> inbox -> the shop's lookup -> the write;
shop -> sync -> KeyCRM's PUT) and arriving byte for byte; deeply nested and
duplicate-key JSON; oversized and crowded query strings; tens of thousands
of items; numbers such as 1e309, -0, NaN, huge integers.  Each gets a
clear answer, stores nothing it should not, and crashes nothing.
"""

import json
import os
import select
import socket
import threading
import time
import unittest
import urllib.parse

import kctest
from kctest import (full_config, SYNC_TOKEN, WEBHOOK_SECRET, Program, ThroughServer, inbox,
                    make_state_dir, query, root, sanitizer_env)
from harness import servers

SHOP = CRM = None
HOOK_Q = f"secret={WEBHOOK_SECRET}"


FAKES = kctest.SharedFakes()


def setUpModule():
    global SHOP, CRM
    SHOP, CRM = FAKES.start()


def tearDownModule():
    FAKES.stop()


def config(name, state, **extra):
    extra.setdefault("sync_max_seconds", 20)
    return full_config(f"hostile-{name}.conf", state, SHOP, CRM, **extra)


class Secrets(unittest.TestCase):
    def setUp(self):
        self.state = make_state_dir("hostile-secrets")

    def test_configured_secret_of_wrong_length_or_alphabet_is_refused(self):
        """The programs refuse to run: over HTTP 500 without details (they
        go to the log, without the value), from a shell exit 2 naming the
        key and the rule."""
        bad = {"31 characters": "a" * 31, "257 characters": "b" * 257,
               "a plus sign": "c" * 31 + "+", "a slash": "d" * 31 + "/",
               "a percent sign": "e" * 31 + "%", "non-ASCII": "é" * 20,
               "an equals sign": "f" * 40 + "="}
        for key in ("webhook_secret", "sync_token"):
            for why, value in bad.items():
                with self.subTest(key=key, value=why):
                    cfg = config("badsecret", self.state, **{key: value})
                    r = Program("webhook.cgi", cfg).cgi(
                        "POST", "secret=" + urllib.parse.quote(value, safe=""), b"[]")
                    self.assertEqual(r.status, 500, r.text)
                    self.assertNotIn(value, r.text)
                    self.assertIn(key.encode(), r.stderr)
                    self.assertNotIn(value.encode(), r.stderr)
                    out = Program("sync.cgi", cfg).shell()
                    self.assertEqual(out.returncode, 2)
                    self.assertIn(key, out.stderr)
                    self.assertNotIn(value, out.stderr)
        self.assertEqual(inbox(self.state), {})

    def test_given_secret_of_any_other_form_is_403(self):
        # Accepted reports go to a detached applier: an unreachable shop
        # keeps it away from the shared fake shop of the later tests.
        cfg = config("secrets", self.state, woo_url="http://127.0.0.1:9", sync_max_seconds=1)
        hook = Program("webhook.cgi", cfg)
        items = json.dumps([{"sku": "RW-SIMPLE-001", "in_stock": 1}]).encode()
        others = ["", WEBHOOK_SECRET[:-1], WEBHOOK_SECRET + "x", WEBHOOK_SECRET.upper(),
                  " " + WEBHOOK_SECRET, WEBHOOK_SECRET[:16], "x" * 60000,
                  WEBHOOK_SECRET + "%00"]
        for given in others:
            with self.subTest(length=len(given)):
                r = hook.cgi("POST", "secret=" + given, items)
                self.assertIn(r.status, (400, 403), r.text)
                self.assertNotIn(WEBHOOK_SECRET, r.text)
        # The first secret= is the one compared; an extra one does not help.
        r = hook.cgi("POST", f"secret=wrong&secret={WEBHOOK_SECRET}", items)
        self.assertEqual(r.status, 403)
        # Percent-encoding the right secret is the same secret.
        enc = "".join("%%%02X" % b for b in WEBHOOK_SECRET.encode())
        r = hook.cgi("POST", "secret=" + enc, items)
        self.assertEqual(r.status, 200, r.text)
        # CR/LF in the header form is refused as a wrong secret.
        r = hook.cgi("POST", "", items, headers={"X-Webhook-Secret": WEBHOOK_SECRET + "\r\nX: 1"})
        self.assertEqual(r.status, 403)


class Injection(unittest.TestCase):
    def setUp(self):
        SHOP.reset()
        SHOP.faults()
        self.state = make_state_dir("hostile-injection")

    def test_crlf_in_a_sku_never_reaches_the_shop(self):
        cfg = config("crlf", self.state)
        SHOP.clear_log()
        items = [{"sku": "RW-SIMPLE-001\r\nX-Injected: 1", "in_stock": 3},
                 {"sku": "RW-SIMPLE-001\nGET /evil HTTP/1.1", "in_stock": 3},
                 {"sku": "RW-SIMPLE-001\u0000", "in_stock": 3},
                 {"sku": "RW-SIMPLE-001\u007f", "in_stock": 3},
                 {"sku": "RW-SIMPLE-003", "in_stock": 4}]
        r = Program("webhook.cgi", cfg).cgi("POST", HOOK_Q + "&wait=1",
                                            json.dumps(items).encode())
        if r.status == 400:
            # \u0000 makes the body invalid JSON for the parser: nothing stored.
            self.assertEqual(inbox(self.state), {})
            items.pop(2)
            r = Program("webhook.cgi", cfg).cgi("POST", HOOK_Q + "&wait=1",
                                                json.dumps(items).encode())
        ans = r.json()
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(ans["applied"], 1, ans)
        self.assertTrue(all("control characters" in x["reason"] for x in ans["rejected"]), ans)
        for e in SHOP.log():
            self.assertNotIn("Injected", json.dumps(e))
            self.assertNotIn("evil", json.dumps(e))
        self.assertEqual(SHOP.qty(10), 10, "untouched")

    def test_crlf_in_the_api_key_is_refused_by_the_configuration(self):
        for key, value in (("keycrm_api_key", "abc\rX-Injected: 1"),
                           ("keycrm_api_key", "abc X-Injected:1"),
                           ("woo_consumer_key", "ck_1\r\nHost: evil"),
                           ("woo_url", "http://shop.example\rX: 1"),
                           ("keycrm_api_url", "http://user:pw@evil.example/v1")):
            with self.subTest(key=key, value=value):
                path = root() / "hostile-crlf.conf"
                text = (f"state_dir = {self.state}\nwebhook_secret = {WEBHOOK_SECRET}\n"
                        f"sync_token = {SYNC_TOKEN}\n{key} = {value}\n")
                path.write_text(text)
                kctest.servers.prepare_for_www_data(str(path))
                out = Program("sync.cgi", str(path)).shell()
                self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
                # Either the key's rule, or (a LF splits the line) the line.
                self.assertIn("hostile-crlf.conf:", out.stderr)
                self.assertNotIn("Injected", out.stderr)

    def test_odd_skus_travel_byte_for_byte(self):
        """Webhook -> inbox -> the shop's ?sku= lookup (the fake logs the
        decoded parameter) -> the batch write; then shop -> sync -> KeyCRM's
        PUT body.  WordPress runs sanitize_text_field() over ?sku= (it drops
        <tags> and %XX, squeezes and trims whitespace), so SKUs it changes
        cannot be found by lookup: those are reported unmatched, never
        silently dropped (docs/RELIABILITY.md, finding 3)."""
        reach = ["A B", "trail ", 'quo"te\'s', "Ünï-cødé-ß", "50%OFF", "a+b", "a&b=c",
                 "h#sh", "x'; DROP TABLE inbox;--", "a,b", "emoji😀", "back\\slash",
                 "semi;colon", "q?x=1", "slash/y", "~tilde", "ПРОДУКТ-1", "a>b"]
        # ("A  B" would find the shop's "A B", as the shop itself does: see
        # SkuCase.test_sku_the_shop_normalises_finds_its_product.)
        sanitized_away = [" lead", "%41%42", "<script>alert(1)</script>", "<b"]
        skus = reach + sanitized_away
        SHOP.upsert(*[{"id": 3000 + i, "type": "simple", "parent_id": 0, "sku": s,
                       "manage_stock": True, "stock_quantity": 1, "status": "publish",
                       "name": f"Odd {i}"} for i, s in enumerate(skus)])
        cfg = config("odd", self.state)
        SHOP.clear_log()
        items = [{"sku": s, "in_stock": 10 + i} for i, s in enumerate(skus)]
        r = Program("webhook.cgi", cfg).cgi("POST", HOOK_Q + "&wait=1",
                                            json.dumps(items).encode())
        ans = r.json()
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(ans["rejected"], [])
        # The lookups carried every SKU exactly (comma-joined; one with a
        # comma goes alone).
        asked = []
        for e in SHOP.log():
            if e["method"] == "GET":
                q = e["query"]["sku"]
                asked += [q] if q == "a,b" else q.split(",")
        self.assertEqual(sorted(asked), sorted(skus))
        shop = SHOP.products()
        for i, s in enumerate(reach):
            self.assertEqual(shop[3000 + i]["stock_quantity"], 10 + i, repr(s))
        self.assertEqual(sorted(ans["unmatched"]), sorted(sanitized_away), ans)
        problems = {r[0] for r in query(self.state,
                                        "SELECT sku FROM problems WHERE kind = 'unmatched'")}
        self.assertEqual(problems, set(sanitized_away))
        self.assertEqual(inbox(self.state), {})
        # And the other way: shop -> KeyCRM.
        CRM.reset(offers=[{"id": 9000 + i, "sku": s} for i, s in enumerate(reach)],
                  stocks=[{"sku": s, "warehouse_id": 1, "quantity": 10 + i, "reserve": 0}
                          for i, s in enumerate(reach)])
        CRM.configure(webhook_mode="hold")
        sync = Program("sync.cgi", cfg)
        self.assertEqual(sync.cgi("GET", f"token={SYNC_TOKEN}").json()["errors"], [])
        for i in range(len(reach)):
            SHOP.control("sale", {"id": 3000 + i, "quantity": 1})
        ans = sync.cgi("GET", f"token={SYNC_TOKEN}").json()
        self.assertEqual((ans["sent"], ans["errors"]), (len(reach), []), ans)
        (put,) = CRM.puts()
        body = put["body"] if isinstance(put["body"], dict) else json.loads(put["body"])
        self.assertEqual(sorted(s["sku"] for s in body["stocks"]), sorted(reach))
        offers = CRM.offers()
        for i, s in enumerate(reach):
            self.assertEqual(offers[s]["stocks"]["1"]["quantity"], 9 + i, repr(s))


class SkuCase(unittest.TestCase):
    def test_case_variants_of_one_sku_newest_report_wins(self):
        """Found here (docs/RELIABILITY.md): the shop matches SKUs ignoring
        case, and the inbox once kept "rw-simple-001" = 5 and then
        "RW-SIMPLE-001" = 10 apart: one round decided both from the same
        lookup, wrote the older and left the shop at the stale 5.  Now the
        inbox keys SKUs by their identity (SPEC 4.6): the newer report
        replaces the older, whatever its case."""
        SHOP.reset()
        state = make_state_dir("hostile-case")
        hook = Program("webhook.cgi", config("case", state))
        SHOP.faults(rules=[{"method": "*", "path_prefix": "/wp-json/", "times": -1,
                            "action": "status", "status": 401}])
        for sku, value in (("rw-simple-001", 5), ("RW-SIMPLE-001", 10)):
            r = hook.cgi("POST", HOOK_Q + "&wait=1",
                         json.dumps([{"sku": sku, "in_stock": value}]).encode())
            self.assertEqual(r.status, 200, r.text)
        SHOP.faults()
        SHOP.upsert({"id": 10, "stock_quantity": 10})
        self.assertEqual(inbox(state), {"RW-SIMPLE-001": (10.0, 0.0)})
        hook.shell("--apply")
        self.assertEqual(SHOP.qty(10), 10, "the newest report is 10")


    def test_sku_the_shop_normalises_finds_its_product(self):
        """FINDING 3 (docs/RELIABILITY.md): WooCommerce runs ?sku= through
        sanitize_text_field(), so KeyCRM's "TRAIL " and "DBL  SPACE" find the
        shop's "TRAIL" and "DBL SPACE".  SPEC 4.6: trailing blanks are the
        shop's collation and match; squeezed inner blanks are looser than
        identity: reported, never written."""
        SHOP.reset()
        SHOP.upsert({"id": 3100, "type": "simple", "parent_id": 0, "sku": "DBL SPACE",
                     "manage_stock": True, "stock_quantity": 1, "status": "publish",
                     "name": "x"},
                    {"id": 3101, "type": "simple", "parent_id": 0, "sku": "TRAIL",
                     "manage_stock": True, "stock_quantity": 1, "status": "publish",
                     "name": "y"})
        state = make_state_dir("hostile-normalised")
        r = Program("webhook.cgi", config("normalised", state)).cgi(
            "POST", HOOK_Q + "&wait=1", json.dumps(
                [{"sku": "DBL  SPACE", "in_stock": 7}, {"sku": "TRAIL ", "in_stock": 8}]).encode())
        self.assertEqual(r.json()["unmatched"], ["DBL  SPACE"], r.text)
        self.assertEqual((SHOP.qty(3100), SHOP.qty(3101)), (1, 8))


class Bodies(unittest.TestCase):
    def setUp(self):
        SHOP.reset()
        SHOP.faults()
        self.state = make_state_dir("hostile-bodies")
        self.cfg = config("bodies", self.state)
        self.hook = Program("webhook.cgi", self.cfg)

    def post(self, raw, wait=False):
        t0 = time.monotonic()
        r = self.hook.cgi("POST", HOOK_Q + ("&wait=1" if wait else ""), raw)
        return r, time.monotonic() - t0

    def test_a_body_of_bad_items_gets_a_short_answer(self):
        """Every bad item counted, the first 100 listed: a body of a million
        bad items once cost gigabytes and an answer of its own size."""
        raw = b"[" + b",".join([b"0"] * 200_000) + b',{"sku":"RW-SIMPLE-003","in_stock":2}]'
        srv = ThroughServer("nginx", self.cfg)
        try:
            r = srv.request("POST", HOOK_Q, raw)
        finally:
            srv.stop()
        self.assertEqual(r.status, 200, r.text[:500])
        ans = r.json()
        self.assertEqual((ans["received"], ans["queued"]), (200_001, 1))
        self.assertEqual(len(ans["rejected"]), 100)
        self.assertEqual(ans["rejected"][99], {"index": 99, "sku": None,
                                               "reason": "the item is not an object"})
        self.assertEqual(ans["rejected_more"], 199_900)
        self.assertLess(len(r.body), 10_000)

    def test_nesting_and_duplicate_keys(self):
        cases = {
            "100000 ['s": b"[" * 100000,
            "100000 [ and ]": b"[" * 100000 + b"]" * 100000,
            "an item nested 5000 deep": b'[{"sku":"a","in_stock":1,"x":' + b"[" * 5000 +
                                        b"]" * 5000 + b"}]",
            "objects nested 3000 deep": b'{"a":' * 3000 + b"1" + b"}" * 3000,
            "duplicate key": b'[{"sku":"RW-SIMPLE-001","sku":"RW-SIMPLE-003","in_stock":5}]',
            "duplicate key deep": b'[{"sku":"a","in_stock":1,"x":{"k":1,"k":2}}]',
        }
        for name, raw in cases.items():
            with self.subTest(case=name):
                r, took = self.post(raw)
                self.assertEqual(r.status, 400, (name, r.text[:300]))
                self.assertIn("error", r.json())
                self.assertLess(took, 10)
        self.assertEqual(inbox(self.state), {})

    def test_numbers(self):
        r, _ = self.post(b'[{"sku":"RW-SIMPLE-001","in_stock":1e309}]')
        self.assertEqual(r.status, 400, r.text)          # not a JSON number jansson can hold
        r, _ = self.post(b'[{"sku":"RW-SIMPLE-001","in_stock":NaN}]')
        self.assertEqual(r.status, 400, r.text)
        r, _ = self.post(b'[{"sku":"RW-SIMPLE-001","in_stock":Infinity}]')
        self.assertEqual(r.status, 400, r.text)
        r, _ = self.post(b'[{"sku":"RW-SIMPLE-001","in_stock":99999999999999999999999}]')
        self.assertEqual(r.status, 400, r.text)          # integer overflow: refused whole
        self.assertEqual(inbox(self.state), {})
        items = [{"sku": "RW-SIMPLE-001", "in_stock": -0.0, "in_reserve": -0},     # 0
                 {"sku": "RW-SIMPLE-003", "in_stock": 1e-320},                      # 0
                 {"sku": "RW-SIMPLE-004", "in_stock": 7, "in_reserve": 9},          # 0
                 {"sku": "RW-SIMPLE-005", "in_stock": 999999999999.0},              # kept
                 {"sku": "RW-TEE-S", "in_stock": 1e12 + 1},                         # refused
                 {"sku": "RW-TEE-M", "in_stock": -1e13},                            # refused
                 {"sku": "RW-TEE-L", "in_stock": "5"},                              # refused
                 {"sku": "RW-MUG-RED", "in_stock": 5, "offer_id": 1.5},            # refused
                 {"sku": "RW-MUG-BLUE", "in_stock": 5, "offer_id": -4},            # refused
                 {"sku": "RW-SIMPLE-007", "in_stock": 2.5, "in_reserve": 0.5}]      # 2
        r, _ = self.post(json.dumps(items).encode(), wait=True)
        ans = r.json()
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual([x["index"] for x in ans["rejected"]], [4, 5, 6, 7, 8], ans)
        p = SHOP.products()
        self.assertEqual([p[i]["stock_quantity"] for i in (10, 12, 13, 14, 16)],
                         [0, 0, 0, 999999999999, 2])

    def test_thousands_of_items(self):
        """20,000 items (1.2 MB) are committed and answered at once; the
        same SKU 1,000 times keeps the last value."""
        items = [{"offer_id": i + 1, "sku": f"MANY-{i:05d}", "in_stock": i % 40,
                  "in_reserve": 0} for i in range(20000)]
        items += [{"sku": "DUP-1", "in_stock": k} for k in range(1000)]
        raw = json.dumps(items).encode()
        # Answered before any applying; the shop is unreachable, so that the
        # detached applier leaves the reports where they are.
        cfg = config("many", self.state, woo_url="http://127.0.0.1:9", sync_max_seconds=1)
        t0 = time.monotonic()
        r = Program("webhook.cgi", cfg).cgi("POST", HOOK_Q, raw)
        took = time.monotonic() - t0
        ans = r.json()
        self.assertEqual(r.status, 200, r.text[:500])
        self.assertEqual((ans["received"], ans["rejected"]), (21000, []))
        held = inbox(self.state)
        self.assertEqual(len(held), 20001)
        self.assertEqual(held["DUP-1"], (999.0, 0.0))
        self.assertEqual(held["MANY-19999"], (19999 % 40, 0.0))
        print(f"\n    21,000 items ({len(raw) // 1024} KiB): committed and answered in"
              f" {took:.2f} s", end=" ")

    def test_sku_length_limits(self):
        ok = "é" * 100                    # 200 bytes
        long = "é" * 100 + "x"            # 201 bytes
        # The shop is unreachable, so that the report stays to be looked at.
        cfg = config("length", self.state, woo_url="http://127.0.0.1:9", sync_max_seconds=1)
        r = Program("webhook.cgi", cfg).cgi("POST", HOOK_Q + "&wait=1", json.dumps(
            [{"sku": ok, "in_stock": 1}, {"sku": long, "in_stock": 1}]).encode())
        ans = r.json()
        self.assertEqual([x["index"] for x in ans["rejected"]], [1], ans)
        self.assertIn("200 bytes", ans["rejected"][0]["reason"])
        self.assertEqual(set(inbox(self.state)), {ok})


class QueryStrings(unittest.TestCase):
    def setUp(self):
        self.state = make_state_dir("hostile-query")
        self.cfg = config("query", self.state)

    def test_oversized_and_crowded_query_strings(self):
        hook = Program("webhook.cgi", self.cfg)
        body = b"[]"
        cases = {"70000 bytes": HOOK_Q + "&pad=" + "x" * 70000,
                 "65 fields": HOOK_Q + "".join(f"&f{i}=1" for i in range(64)),
                 "bad escape": HOOK_Q + "&x=%zz",
                 "NUL": HOOK_Q + "&x=%00"}
        for name, q in cases.items():
            with self.subTest(case=name):
                r = hook.cgi("POST", q, body)
                self.assertEqual(r.status, 400, r.text)
                self.assertNotIn(WEBHOOK_SECRET, r.text)
        r = hook.cgi("POST", HOOK_Q + "".join(f"&f{i}=1" for i in range(63)), body)
        self.assertEqual(r.status, 200, "64 fields are fine")

    def test_oversized_url_through_nginx(self):
        """nginx refuses a URL over its header buffers itself (414) and logs
        it before any location applies, in the site's log: the example's
        condition on that log keeps the secret out (docs/RELIABILITY.md,
        finding 4)."""
        srv = ThroughServer("nginx", self.cfg)
        try:
            r = srv.request("POST", HOOK_Q + "&pad=" + "x" * 20000, b"[]")
            self.assertIn(r.status, (400, 414), r.status)
            r = srv.request("POST", HOOK_Q + "".join(f"&f{i}=1" for i in range(80)), b"[]")
            self.assertEqual(r.status, 400)
            logs = srv.server.access_log_text() + srv.server.error_log_text()
        finally:
            srv.stop()
        self.assertNotIn(WEBHOOK_SECRET, logs)
        self.assertEqual(inbox(self.state), {})


class Terminal(unittest.TestCase):
    """sync.cgi from a shell prints shop SKUs (--dry-run's table) and
    messages: escape sequences in them must not reach the terminal."""

    def setUp(self):
        SHOP.reset()
        SHOP.faults()
        self.state = make_state_dir("hostile-terminal")

    def test_dry_run_escapes_what_the_shop_sends(self):
        cfg = config("terminal", self.state)
        sync = Program("sync.cgi", cfg)
        r = sync.cgi("GET", f"token={SYNC_TOKEN}")
        self.assertEqual(r.status, 200, r.text)
        evil = ["\x1b]0;pwned\x07TITLE", "\x1b[2J\x1b[HCLEAR", "ROW\nFAKE-SKU 1 2",
                "C1\u009b31mRED"]
        for i, sku in enumerate(evil):
            SHOP.upsert({"id": 60 + i, "type": "simple", "parent_id": 0, "sku": sku,
                         "manage_stock": True, "stock_quantity": 3, "status": "publish",
                         "name": f"Evil {i}"})
        out = sync.shell("--dry-run", "--full")
        text = out.stdout + out.stderr
        self.assertEqual(out.returncode, 0, text)
        for bad in ("\x1b", "\x07", "\u009b", "ROW\nFAKE"):
            self.assertNotIn(bad, text)
        for shown in ("\\x1b]0;pwned\\x07TITLE", "\\x1b[2J\\x1b[HCLEAR",
                      "ROW\\x0aFAKE-SKU 1 2", "C1\\xc2\\x9b31mRED"):
            self.assertIn(shown, out.stdout)


def raw_request(port, data):
    """Sends bytes as they are (no client normalises the path or fixes a
    header); returns the status line's code, or None."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data.encode())
        try:
            line = s.recv(4096).split(b"\r\n")[0].split()
            return int(line[1]) if len(line) > 1 else None
        except OSError:
            return None


class ServerLogs(unittest.TestCase):
    """The servers log requests they refuse while reading headers before
    any location applies, and Apache's SetEnvIf saw the path before it was
    normalised: secrets in query strings must reach no log anyway.  And
    the header forms (X-Webhook-Secret, X-Sync-Token) work through both
    servers, for whoever would rather keep the secret out of the URL."""

    def setUp(self):
        SHOP.reset()
        SHOP.faults()
        self.state = make_state_dir("hostile-logs")
        self.cfg = config("logs", self.state)

    def check(self, kind):
        srv = ThroughServer(kind, self.cfg, programs=("webhook.cgi", "sync.cgi"))
        port = srv.server.port
        q = f"secret={WEBHOOK_SECRET}"
        item = json.dumps([{"sku": "RW-SIMPLE-003", "in_stock": 1}])
        refused = {
            "repeated Content-Length": "Content-Length: 2\r\nContent-Length: 3\r\n",
            "negative Content-Length": "Content-Length: -2\r\n",
            "malformed header": "Bad Header: x\r\nContent-Length: 2\r\n",
            "oversized header": f"X-Big: {'y' * 20000}\r\nContent-Length: 2\r\n",
            "repeated Host": "Host: b\r\nContent-Length: 2\r\n",
        }
        try:
            for name, headers in refused.items():
                with self.subTest(server=kind, request=name):
                    status = raw_request(port, f"POST /keycrm/webhook?{q} HTTP/1.1\r\n"
                                               f"Host: a\r\n{headers}\r\n[]")
                    self.assertEqual(status, 400)
            status = raw_request(port, f"POST /keycrm/webhook?{q} HTTP/1.1\r\n"
                                       f"Content-Length: 2\r\n\r\n[]")
            self.assertEqual(status, 400, "no Host")
            # Served: the server normalises the path.
            status = raw_request(port, f"POST /x/../keycrm/webhook?{q} HTTP/1.1\r\nHost: a\r\n"
                                       f"Content-Length: {len(item)}\r\n\r\n{item}")
            self.assertEqual(status, 200)
            r = servers.http_request(f"{srv.server.url}/keycrm/webhook", "POST", b"[]",
                                     headers={"X-Webhook-Secret": WEBHOOK_SECRET})
            self.assertEqual(r.status, 200, r.text)
            r = servers.http_request(f"{srv.server.url}/keycrm/sync",
                                     headers={"X-Sync-Token": SYNC_TOKEN}, timeout=120)
            self.assertEqual(r.status, 200, r.text)
            r = servers.http_request(f"{srv.server.url}/keycrm/sync",
                                     headers={"X-Sync-Token": "wrong" + SYNC_TOKEN})
            self.assertEqual(r.status, 403)
            time.sleep(0.5)           # the servers write their logs after answering
            logs = srv.server.access_log_text() + srv.server.error_log_text()
        finally:
            srv.stop()
        self.assertNotIn(WEBHOOK_SECRET, logs)
        self.assertNotIn(SYNC_TOKEN, logs)
        self.assertIn("RW-SIMPLE-003", inbox(self.state) or query(
            self.state, "SELECT sku FROM ledger WHERE sku = 'RW-SIMPLE-003'")[0])

    def test_nginx(self):
        self.check("nginx")

    def test_apache(self):
        self.check("apache")


class StateGrowth(unittest.TestCase):
    """Unknown SKUs must not stay in the state for good: after a run the
    worker drops ledger rows neither side has had for 90 days (never one
    with a report waiting), problems not seen for 30 days and history
    older than 90 days; the settings page shows the database's size."""

    def setUp(self):
        SHOP.reset()
        SHOP.faults()
        self.state = make_state_dir("hostile-growth")
        self.cfg = config("growth", self.state, sync_max_seconds=3)

    def tearDown(self):
        SHOP.faults()

    def age(self, days):
        """Moves everything recorded so far `days` into the past, and forgets
        when retention last ran (as root, then back to www-data)."""
        d = days * 86400
        kctest.execute(self.state,
                       ("UPDATE ledger SET keycrm_at = keycrm_at - ?", d),
                       ("UPDATE problems SET first_seen = first_seen - ?,"
                        " last_seen = last_seen - ?", d, d),
                       ("UPDATE history SET started_at = started_at - ?,"
                        " finished_at = finished_at - ?", d, d),
                       "DELETE FROM kv WHERE key = 'retention_at'")

    def test_unknown_skus_are_forgotten_but_pending_work_is_kept(self):
        srv = ThroughServer("nginx", self.cfg)
        try:
            unknown = [{"sku": f"UNKNOWN-{i:04d}", "in_stock": 1} for i in range(200)]
            r = srv.request("POST", HOOK_Q + "&wait=1", json.dumps(unknown).encode())
            self.assertEqual(r.status, 200, r.text)
            self.assertEqual(len(r.json()["unmatched"]), 200)
            # A report the shop cannot take now stays in the inbox.
            SHOP.faults(rules=[{"method": "GET", "path_prefix": "/wp-json/", "times": -1,
                                "action": "status", "status": 503}])
            r = srv.request("POST", HOOK_Q + "&wait=1",
                            json.dumps([{"sku": "PENDING-1", "in_stock": 2}]).encode())
            self.assertEqual(r.status, 200, r.text)
            self.assertIn("PENDING-1", inbox(self.state))
            self.age(100)
            # The next webhook's worker applies (the shop still fails), then
            # finds retention due.
            r = srv.request("POST", HOOK_Q, json.dumps([{"sku": "PENDING-2",
                                                         "in_stock": 2}]).encode())
            self.assertEqual(r.status, 200, r.text)
            kctest.wait_for(lambda: query(self.state, "SELECT count(*) FROM ledger"
                                                      " WHERE sku LIKE 'UNKNOWN-%'")[0][0] == 0,
                            what="the unknown SKUs to be dropped")
        finally:
            srv.stop()
        ledger = {r[0] for r in query(self.state, "SELECT sku FROM ledger")}
        self.assertIn("PENDING-1", ledger, "a row with a report waiting is never dropped")
        self.assertIn("PENDING-1", inbox(self.state))
        self.assertEqual(query(self.state, "SELECT count(*) FROM problems"
                                           " WHERE sku LIKE 'UNKNOWN-%'"), [(0,)])
        self.assertEqual(query(self.state, "SELECT count(*) FROM history WHERE started_at < ?",
                               time.time() - 80 * 86400), [(0,)])
        page = Program("settings.cgi", self.cfg).cgi("GET", env={"REMOTE_USER": "admin"})
        self.assertEqual(page.status, 200)
        self.assertIn("State database", page.text)
        if kctest.STORE == "sqlite":       # the size of state.db; MariaDB's is not shown
            self.assertRegex(page.text, r"State database</dt><dd>\d+(\.\d)? [KM]B")


class ConfigFile(unittest.TestCase):
    """What the configuration file may be, and what an error about it may
    quote."""

    def setUp(self):
        self.state = make_state_dir("hostile-config")

    def test_a_secret_pasted_on_a_line_of_its_own_is_never_quoted(self):
        cfg = config("pasted", self.state)
        pasted = "Zm9vYmFyYmF6" + WEBHOOK_SECRET[:20] + "=="
        with open(cfg, "a") as f:
            f.write(pasted + "\n")
        srv = ThroughServer("apache", cfg)
        try:
            r = srv.request("POST", HOOK_Q, b"[]")
            logs = srv.server.error_log_text()
        finally:
            srv.stop()
        self.assertEqual(r.status, 500)
        out = Program("sync.cgi", cfg).shell()
        self.assertEqual(out.returncode, 2)
        self.assertIn("expected 'key = value'", out.stderr)
        for text in (r.text, logs, out.stderr):
            self.assertNotIn(pasted[:12], text)
            self.assertNotIn(WEBHOOK_SECRET[:20], text)

    def test_group_writable_file_and_fifo_are_refused(self):
        cfg = config("groupw", self.state)
        os.chmod(cfg, 0o660)
        r = Program("webhook.cgi", cfg).cgi("POST", HOOK_Q, b"[]")
        self.assertEqual(r.status, 500)
        self.assertIn(b"writable by its group", r.stderr)
        fifo = root() / "hostile-fifo.conf"
        if not fifo.exists():
            os.mkfifo(fifo, 0o640)
        # Answered at once (run_cgi would time out if it waited for a writer).
        r = Program("webhook.cgi", str(fifo)).cgi("POST", HOOK_Q, b"[]")
        self.assertEqual(r.status, 500)
        self.assertIn(b"not a regular file", r.stderr)
        self.assertEqual(inbox(self.state), {})


def trickle(port, target, stop, answers, length=1_000_000):
    """A client that declares a large body and sends it a byte at a time,
    five a second, until it gets an answer or `stop` is set; the answer's
    status (or None) goes into `answers`."""
    status = None
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(f"POST {target} HTTP/1.1\r\nHost: localhost\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n[".encode())
        got = b""
        for _ in range(length):
            if stop.is_set():
                break
            ready, _, _ = select.select([s], [], [], 0.2)
            if ready:
                chunk = s.recv(65536)
                got += chunk
                if not chunk or b"\r\n" in got:
                    break
                continue
            try:
                s.sendall(b" ")
            except OSError:
                break
        if got.startswith(b"HTTP/1."):
            status = int(got.split()[1])
    answers.append(status)


class SlowClients(unittest.TestCase):
    """Apache's mod_proxy_fcgi passes a body on at the client's pace
    (nginx reads it whole first).  Clients that send a few bytes a second
    must not keep KeyCRM's webhooks from the workers: a refusal does not
    wait for the body, and a body has a deadline."""

    def setUp(self):
        self.state = make_state_dir("hostile-slow")
        # An unreachable shop: accepted reports stay in the inbox to be seen.
        self.cfg = config("slow", self.state, woo_url="http://127.0.0.1:9", sync_max_seconds=1)
        env = {**sanitizer_env(), "KEYCRM_SYNC_BODY_SECONDS": "3"}
        self.srv = servers.Apache(str(root()), str(kctest.BINDIR), self.cfg, mode="proxy_fcgi",
                                  workers=2, env=env)
        self.srv.start()
        self.stop = threading.Event()
        self.threads, self.answers = [], []

    def tearDown(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        self.srv.stop()

    def start_slow(self, target, n):
        for _ in range(n):
            t = threading.Thread(target=trickle,
                                 args=(self.srv.port, target, self.stop, self.answers))
            t.start()
            self.threads.append(t)

    def webhook(self, sku):
        items = json.dumps([{"sku": sku, "in_stock": 5}]).encode()
        return servers.http_request(f"{self.srv.url}/keycrm/webhook?{HOOK_Q}", "POST", items,
                                    timeout=60)

    def test_slow_clients_without_the_secret_do_not_hold_the_workers(self):
        self.start_slow("/keycrm/webhook?secret=wrong", 4)
        self.start_slow("/keycrm/webhook", 2)
        time.sleep(1)             # let them reach the workers
        for i in range(3):
            r = self.webhook(f"SLOW-{i}")
            self.assertEqual(r.status, 200, r.text)
            self.assertEqual(r.json()["queued"], 1)
        self.assertEqual(set(inbox(self.state)), {"SLOW-0", "SLOW-1", "SLOW-2"})
        # Apache itself holds the slow clients until their bodies end (its
        # Timeout, or mod_reqtimeout where enabled); the workers have moved on.

    def test_a_body_that_never_finishes_is_given_up(self):
        """With the right secret a body still has to arrive in time
        (KEYCRM_SYNC_BODY_SECONDS, 3 here): 408, nothing stored, and the
        workers are free for the real webhooks meanwhile."""
        self.start_slow(f"/keycrm/webhook?{HOOK_Q}", 2)
        time.sleep(1)
        r = self.webhook("SLOW-OK")
        self.assertEqual(r.status, 200, r.text)
        for t in self.threads:
            t.join(60)
        self.assertEqual(self.answers, [408, 408])
        self.assertEqual(set(inbox(self.state)), {"SLOW-OK"})
        self.assertNotIn(WEBHOOK_SECRET, self.srv.error_log_text())


if __name__ == "__main__":
    unittest.main()
