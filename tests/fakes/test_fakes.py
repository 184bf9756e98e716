#!/usr/bin/env python3
"""Tests of the fake WooCommerce and KeyCRM servers against the reference.

Run from the repository root::

    /usr/bin/python3 -m unittest tests/fakes/test_fakes.py
    /usr/bin/python3 tests/fakes/test_fakes.py

Each fake runs as a subprocess on a free port, exactly as the integration
tests use it.  The WooCommerce part replays the real recordings kept in
``tests/fakes/recordings/`` (copied byte for byte from a WooCommerce 7.8.2
session) in their recorded order against the fake reset to
``catalogue_recorded.json``, and compares status, paging headers and bodies
(volatile fields such as date_modified and related_ids excepted).  The
KeyCRM part checks auth, pagination, 202/422 answers, the rate limit and the
stock webhook (auto and hold modes).
"""

import base64
import glob
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDINGS = os.path.join(HERE, "recordings")
PYTHON = sys.executable or "/usr/bin/python3"

# The throwaway key of the recorded install (recording 20c); the OAuth
# recordings are signed with it, for the Home URL http://127.0.0.1:8080.
CK = "ck_e2a7462c817186690896e5b31b56c1457b4e18b5"
CS = "cs_0128287fe76db141316f910a944a8a4e77db39e0"

sys.path.insert(0, HERE)
import fake_woo  # noqa: E402
from fakebase import FakeProcess, parse_php_query  # noqa: E402

# --------------------------------------------------------------------------
# Subprocess helpers
# --------------------------------------------------------------------------


class Client:
    """Minimal HTTP(S) client; one connection per request."""

    def __init__(self, port, tls_ca=None):
        self.port = port
        self.context = ssl.create_default_context(cafile=tls_ca) if tls_ca else None

    def connection(self, timeout=10):
        if self.context:
            return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=timeout)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, target, body=None, headers=None, timeout=10):
        conn = self.connection(timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                headers = dict({"Content-Type": "application/json"}, **(headers or {}))
            conn.request(method, target, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            return response.status, response.headers, data
        finally:
            conn.close()

    def json(self, method, target, body=None, headers=None):
        status, headers_, data = self.request(method, target, body, headers)
        return status, headers_, json.loads(data.decode()) if data else None

    def control(self, method, path, body=None):
        status, _, data = self.json(method, "/_control/" + path, body)
        if status != 200:
            raise AssertionError("control %s %s -> %s %s" % (method, path, status, data))
        return data


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


def make_cert(directory):
    """Self-signed certificate for 127.0.0.1 (see fakebase's docstring)."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


# --------------------------------------------------------------------------
# Recordings
# --------------------------------------------------------------------------


class Recording:
    """One .http file: the request as sent and the answer as received."""

    def __init__(self, path):
        self.name = os.path.basename(path)[:-5]
        with open(path, "rb") as handle:
            raw = handle.read().decode("utf-8")
        request, response = raw.split("### RESPONSE", 1)
        lines = request.split("\n")
        self.method, url = lines[1].split(" ", 1)
        self.auth = lines[2][len("# auth:"):].split("   extra curl args")[0].strip()
        self.tls = url.startswith("https://")
        self.target = "/" + url.split("://", 1)[1].split("/", 1)[1]
        self.headers, self.body = {}, None
        rest = lines[3:]
        index = 0
        while index < len(rest) and rest[index].strip():
            name, value = rest[index].split(":", 1)
            self.headers[name.strip()] = value.strip()
            index += 1
        if self.headers:
            self.body = "\n".join(rest[index + 1:]).rstrip("\n")
        summary, http_text = response.split("\n", 1)
        size = int(summary.split("=")[1].split()[2])
        head, body = http_text.split("\r\n\r\n", 1)
        head_lines = head.split("\r\n")
        self.status = int(head_lines[0].split()[1])
        self.response_headers = {}
        for line in head_lines[1:]:
            name, value = line.split(":", 1)
            self.response_headers.setdefault(name.strip().lower(), []).append(value.strip())
        self.response_body = body.encode("utf-8")[:size]

    def request_headers(self):
        headers = dict(self.headers)
        auth = self.auth
        if auth.startswith("Basic "):
            user, password = auth.split()[1].split(":", 1)
            user = {"ck": CK, "admin": "admin"}.get(user, user)
            password = {"cs": CS}.get(password, password)
            headers.update(basic(user, password))
        return headers


def load_recordings(names):
    out = []
    for name in names:
        matches = glob.glob(os.path.join(RECORDINGS, name + "-*.http"))
        assert len(matches) == 1, name
        out.append(Recording(matches[0]))
    return out


VOLATILE = {"date_modified", "date_modified_gmt", "related_ids"}


class JsonObject(list):
    """A JSON object as its ordered (key, value) pairs."""


def json_pairs(data):
    return json.loads(data.decode(), object_pairs_hook=JsonObject)


def compare_json(expected, actual, where="$", volatile=VOLATILE):
    """Compare two values parsed with json_pairs (key order checked), ignoring
    the volatile keys. Returns a list of differences."""
    if isinstance(expected, JsonObject) or isinstance(actual, JsonObject):
        if not (isinstance(expected, JsonObject) and isinstance(actual, JsonObject)):
            return ["%s: %r != %r" % (where, expected, actual)]
        keys_e = [k for k, _ in expected]
        keys_a = [k for k, _ in actual]
        if keys_e != keys_a:
            return ["%s: keys %s != %s" % (where, keys_e, keys_a)]
        diffs = []
        for (key, value_e), (_, value_a) in zip(expected, actual):
            if key not in volatile:
                diffs += compare_json(value_e, value_a, "%s.%s" % (where, key), volatile)
        return diffs
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return ["%s: %d items != %d items" % (where, len(expected), len(actual))]
        diffs = []
        for index, (value_e, value_a) in enumerate(zip(expected, actual)):
            diffs += compare_json(value_e, value_a, "%s[%d]" % (where, index), volatile)
        return diffs
    if expected == actual and type(expected) == type(actual):
        return []
    return ["%s: %r != %r" % (where, expected, actual)]


# Recordings replayed on the TLS instance, in recorded order (INDEX.md).
TLS_SEQUENCE = """01 02 03 03b 03c 03d 04 05 05b 05c 06 06b 07 07b 08 09 09b 09c 09d
10 10b 10c 10d 10e 10f 11 11b 11c 11d 11e 11f 11g 11h 11i 11j 12 12b 12c 12d 12e 13 13b 14 14b
15 15b 15c 15d 15e 15f 15g 15h 15i 16 16b 16c 16d 17 17b 18 18b 19 19b 20c 20d 21 21b 21c 25f
31 31b 31c""".split()
# Recordings replayed on the plain-HTTP instance (Home URL http://127.0.0.1:8080).
PLAIN_SEQUENCE = "20 20b 25 25b 25c 25d 25e".split()
# Where the recorded answer depends on MySQL's order of equal post dates and
# cannot be reproduced by a deterministic fake: compare the first N ids only.
ORDER_PREFIX_ONLY = {"09d": 2}
# Between 16d and 21 the recording session moved variation 26 back to RW-MUG.
FIXUPS_AFTER = {"16d": {"upsert": [{"id": 26, "parent_id": 25, "stock_quantity": 4,
                                    "attributes": [{"name": "Color", "option": "Red"}]}]}}


class WooReplayMixin:

    def replay(self, client, recording):
        status, headers, body = client.request(recording.method, recording.target,
                                               recording.body.encode() if recording.body is not None else None,
                                               recording.request_headers())
        where = recording.name
        self.assertEqual(recording.status, status, "%s: status, body %s" % (where, body[:300]))
        for name in ("x-wp-total", "x-wp-totalpages", "link"):
            expected = recording.response_headers.get(name)
            actual = headers.get_all(name)
            self.assertEqual(expected, actual, "%s: header %s" % (where, name))
        self.assertIsNone(headers.get("WWW-Authenticate"), where)
        expected = json_pairs(recording.response_body)
        actual = json_pairs(body)
        prefix = ORDER_PREFIX_ONLY.get(recording.name.split("-")[0])
        if prefix:
            self.assertEqual([dict(i)["id"] for i in expected[:prefix]], [dict(i)["id"] for i in actual[:prefix]])
            self.assertEqual(len(expected), len(actual), where)
            return
        diffs = compare_json(expected, actual)
        self.assertEqual([], diffs, where)
        if not any(key in recording.response_body.decode() for key in VOLATILE):
            self.assertEqual(recording.response_body, body, "%s: body bytes" % where)


class WooFakeTest(WooReplayMixin, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fakewoo-")
        cls.cert, key = make_cert(cls.tmp)
        cls.tls = FakeProcess("fake_woo.py", "--tls-cert", cls.cert, "--tls-key", key,
                              "--consumer-key", CK, "--consumer-secret", CS,
                              "--home-url", "https://127.0.0.1:8443")
        cls.plain = FakeProcess("fake_woo.py", "--consumer-key", CK, "--consumer-secret", CS,
                                "--home-url", "http://127.0.0.1:8080")
        cls.https = Client(cls.tls.port, cls.cert)
        cls.http = Client(cls.plain.port)

    @classmethod
    def tearDownClass(cls):
        cls.tls.stop()
        cls.plain.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        for client in (self.https, self.http):
            client.control("POST", "reset", {})
            client.control("POST", "config", {"oauth_check_timestamp": True, "key_permissions": "read_write"})

    # ---- recordings -----------------------------------------------------------

    def test_replay_tls_recordings_in_order(self):
        self.https.control("POST", "config", {"oauth_check_timestamp": False})  # 25f is signed in the past
        for recording in load_recordings(TLS_SEQUENCE):
            with self.subTest(recording.name):
                self.replay(self.https, recording)
            fixup = FIXUPS_AFTER.get(recording.name.split("-")[0])
            if fixup:
                self.https.control("POST", "products", fixup)

    def test_replay_plain_http_recordings_in_order(self):
        self.http.control("POST", "config", {"oauth_check_timestamp": False})
        for recording in load_recordings(PLAIN_SEQUENCE):
            with self.subTest(recording.name):
                self.replay(self.http, recording)
        log = self.http.control("GET", "log")
        self.assertEqual(["none", "none", "oauth", "none", "oauth", "none", "none"], [e["auth"] for e in log])

    def test_oauth_vectors(self):
        """The verifier accepts the recorded signatures and rejects 25d/25e."""
        for name, method, accepted in (("25", "GET", True), ("25c", "PUT", True),
                                       ("25d", "GET", False), ("25e", "GET", False)):
            recording = load_recordings([name])[0]
            path, _, query = recording.target.partition("?")
            error = fake_woo.verify_oauth(method, path, parse_php_query(query), CK, CS,
                                          "http://127.0.0.1:8080", "http", {}, check_timestamp=False)
            self.assertEqual(accepted, error is None, name)
            if not accepted:
                self.assertEqual("Invalid signature - provided signature does not match.", error.message)

    # ---- behaviour beyond the recordings ---------------------------------------

    def get_json(self, client, target, headers=None, method="GET", body=None):
        headers = dict(basic(CK, CS), **(headers or {})) if client is self.https and headers is None else headers
        status, response_headers, data = client.request(method, target, body, headers)
        return status, response_headers, json.loads(data.decode()) if data else None

    def test_paging_walk_follows_link_next(self):
        target = "/wp-json/wc/v3/products?per_page=5&orderby=id&order=asc&_fields=id,sku"
        seen, pages = [], 0
        while target:
            status, headers, items = self.get_json(self.https, target)
            self.assertEqual(200, status)
            self.assertEqual("13", headers["X-WP-Total"])
            self.assertEqual("3", headers["X-WP-TotalPages"])
            seen += [item["id"] for item in items]
            pages += 1
            match = re.search(r'<https://127\.0\.0\.1:8443([^>]*)>; rel="next"', headers.get("Link", ""))
            target = match.group(1) if match else None
        self.assertEqual(3, pages)
        self.assertEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 25], seen)

    def test_sku_filter_semantics(self):
        fields = "&_fields=id,type,parent_id,sku,manage_stock,stock_quantity"
        _, _, items = self.get_json(self.https, "/wp-json/wc/v3/products?sku=RW-TEE-M,RW-MUG" + fields)
        self.assertEqual({(23, "variation", 21), (25, "variable", 0)},
                         {(i["id"], i["type"], i["parent_id"]) for i in items})
        _, headers, items = self.get_json(self.https, "/wp-json/wc/v3/products?sku=0" + fields)
        self.assertEqual("13", headers["X-WP-Total"])  # sku=0 is no filter at all
        self.assertNotIn("variation", {i["type"] for i in items})
        _, _, items = self.get_json(self.https, "/wp-json/wc/v3/products/25/variations?_fields=id,sku,manage_stock")
        self.assertIn({"id": 28, "sku": "RW-MUG", "manage_stock": "parent"}, items)

    def oauth_sign(self, method, url, params, secret=CS, key=CK, algorithm="HMAC-SHA256", timestamp=None):
        """An independent RFC 5849 signer (standard form of WooCommerce's base string)."""
        def enc(text):
            return quote(str(text), safe="-._~")
        oauth = {"oauth_consumer_key": key, "oauth_nonce": secrets.token_hex(16),
                 "oauth_signature_method": algorithm,
                 "oauth_timestamp": str(int(time.time()) if timestamp is None else timestamp)}
        merged = dict(params, **oauth)
        normalized = "&".join("%s=%s" % (enc(k), enc(merged[k])) for k in sorted(merged))
        base = "&".join([method, enc(url), enc(normalized)])
        digest = hmac.new((secret + "&").encode(), base.encode(), {"HMAC-SHA1": hashlib.sha1,
                                                                   "HMAC-SHA256": hashlib.sha256}[algorithm])
        oauth["oauth_signature"] = base64.b64encode(digest.digest()).decode()
        return oauth

    def test_oauth_over_plain_http(self):
        path = "/wp-json/wc/v3/products"
        params = {"per_page": "1", "_fields": "id,sku"}
        oauth = self.oauth_sign("GET", "http://127.0.0.1:8080" + path, params, algorithm="HMAC-SHA1")
        target = path + "?" + "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in dict(params, **oauth).items())
        status, _, items = self.get_json(self.http, target, headers={})
        self.assertEqual(200, status, items)
        status, _, error = self.get_json(self.http, target, headers={})
        self.assertEqual((401, "Invalid nonce - nonce has already been used."), (status, error["message"]))
        # Authorization: OAuth header, HMAC-SHA256, a PUT whose JSON body is not signed.
        put_path = "/wp-json/wc/v3/products/10"
        oauth = self.oauth_sign("PUT", "http://127.0.0.1:8080" + put_path, {})
        header = "OAuth " + ", ".join('%s="%s"' % (k, quote(v, safe="")) for k, v in oauth.items())
        status, _, item = self.get_json(self.http, put_path, {"Authorization": header, "Content-Type":
                                                              "application/json"}, "PUT", '{"stock_quantity":4}')
        self.assertEqual((200, 4), (status, item["stock_quantity"]))
        stale = self.oauth_sign("GET", "http://127.0.0.1:8080" + path, {}, timestamp=int(time.time()) - 3600)
        target = path + "?" + "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in stale.items())
        self.assertEqual("Invalid timestamp.", self.get_json(self.http, target, headers={})[2]["message"])
        wrong_key = self.oauth_sign("GET", "http://127.0.0.1:8080" + path, {}, key="ck_nope")
        target = path + "?" + "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in wrong_key.items())
        self.assertEqual("Consumer key is invalid.", self.get_json(self.http, target, headers={})[2]["message"])
        status, _, error = self.get_json(self.http, path + "?oauth_consumer_key=%s&oauth_nonce=x" % CK, headers={})
        self.assertEqual((401, "woocommerce_rest_authentication_missing_parameter",
                          "Missing OAuth parameters oauth_timestamp, oauth_signature, oauth_signature_method"),
                         (status, error["code"], error["message"]))
        # Basic auth over plain HTTP is ignored: anonymous.
        status, _, error = self.get_json(self.http, put_path, dict(basic(CK, CS), **{"Content-Type":
                                         "application/json"}), "PUT", '{"stock_quantity":1}')
        self.assertEqual((401, "woocommerce_rest_cannot_edit"), (status, error["code"]))
        status, _, error = self.get_json(self.http, "/wp-json/wc/v3/products/batch", basic(CK, CS), "POST", "{}")
        self.assertEqual((401, "woocommerce_rest_cannot_batch"), (status, error["code"]))

    def test_webhooks_routes_authenticate_like_the_others(self):
        """Over plain HTTP only OAuth 1.0a is read; Basic auth runs anonymously (401)."""
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            url = "http://127.0.0.1:%d/hook" % closed.getsockname()[1]
        body = json.dumps({"topic": "product.updated", "delivery_url": url, "secret": "s"})
        headers = dict(basic(CK, CS), **{"Content-Type": "application/json"})
        status, _, error = self.get_json(self.http, "/wp-json/wc/v3/webhooks", headers, "POST", body)
        self.assertEqual((401, "woocommerce_rest_cannot_create"), (status, error["code"]))
        path = "/wp-json/wc/v3/webhooks"
        oauth = self.oauth_sign("POST", "http://127.0.0.1:8080" + path, {})
        header = "OAuth " + ", ".join('%s="%s"' % (k, quote(v, safe="")) for k, v in oauth.items())
        status, headers_, hook = self.get_json(self.http, path, {"Authorization": header,
                                                                 "Content-Type": "application/json"}, "POST", body)
        self.assertEqual((201, "http://127.0.0.1:8080/wp-json/wc/v3/webhooks/1"), (status, headers_["Location"]))
        self.assertEqual(["none", "oauth"], [e["auth"] for e in self.http.control("GET", "log")])
        self.assertEqual([True], [h["pending_delivery"] for h in self.http.control("GET", "webhooks")])

    def test_read_only_key(self):
        self.https.control("POST", "config", {"key_permissions": "read"})
        status, _, error = self.get_json(self.https, "/wp-json/wc/v3/products/10", None, "PUT",
                                         '{"stock_quantity":1}')
        self.assertEqual((401, "The API key provided does not have write permissions."), (status, error["message"]))
        self.assertEqual(200, self.get_json(self.https, "/wp-json/wc/v3/products/10")[0])

    def test_global_manage_stock_off(self):
        self.https.control("POST", "config", {"options": {"manage_stock": "no"}})
        try:
            status, _, item = self.get_json(self.https, "/wp-json/wc/v3/products/10?_fields=id,manage_stock,"
                                            "stock_quantity", None, "PUT",
                                            '{"manage_stock":true,"stock_quantity":3}')
            self.assertEqual((200, False, 10), (status, item["manage_stock"], item["stock_quantity"]))
            _, _, setting = self.get_json(self.https, "/wp-json/wc/v3/settings/products/woocommerce_manage_stock")
            self.assertEqual("no", setting["value"])
        finally:
            self.https.control("POST", "config", {"options": {"manage_stock": "yes"}})

    def test_sale_moves_modified_dates_and_orders(self):
        after = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
        sale = self.https.control("POST", "sale", {"id": 23, "quantity": 2})
        self.assertEqual(4, sale["product"]["stock_quantity"])
        self.https.control("POST", "sale", {"id": 28, "quantity": 1})  # parent-managed: RW-MUG's stock
        query = "modified_after=%s&dates_are_gmt=true&_fields=id,parent_id,stock_quantity" % after
        _, _, items = self.get_json(self.https, "/wp-json/wc/v3/products?" + query)
        self.assertEqual({21: None, 25: 49}, {i["id"]: i["stock_quantity"] for i in items})
        _, _, items = self.get_json(self.https, "/wp-json/wc-analytics/variations?" + query)
        self.assertEqual({(23, 21, 4), (28, 25, 49)}, {(i["id"], i["parent_id"], i["stock_quantity"]) for i in items})
        _, _, orders = self.get_json(self.https, "/wp-json/wc/v3/orders?modified_after=%s&dates_are_gmt=true"
                                                 "&_fields=id,line_items" % after)
        lines = sorted((o["line_items"][0] for o in orders), key=lambda line: line["variation_id"])
        self.assertEqual([("RW-TEE-M", 21, 23, 2, "2"), ("RW-MUG", 25, 28, 1, "1")],
                         [(l["sku"], l["product_id"], l["variation_id"], l["quantity"], l["meta_data"][0]["value"])
                          for l in lines])

    def test_batch_of_100_and_log(self):
        ids = [10, 11, 12, 13, 14, 16, 17, 18, 19, 20]
        body = {"update": [{"id": ids[i % 10], "manage_stock": True, "stock_quantity": i} for i in range(100)]}
        self.https.control("POST", "log/clear")
        status, _, data = self.https.request("POST", "/wp-json/wc/v3/products/batch", json.dumps(body),
                                             dict(basic(CK, CS), **{"Content-Type": "application/json"}))
        self.assertEqual(200, status)
        answer = json.loads(data.decode())
        self.assertEqual(100, len(answer["update"]))
        self.assertGreater(len(data) / 100, 1000)  # ~1.9 KB per item, like the real thing
        self.assertEqual(99, answer["update"][-1]["stock_quantity"])
        log = self.https.control("GET", "log")
        self.assertEqual([("POST", "/wp-json/wc/v3/products/batch", 200, "basic", 100)],
                         [(e["method"], e["path"], e["status"], e["auth"], e["items"]) for e in log])

    def test_control_products_upsert_and_delete(self):
        self.https.control("POST", "products", {"upsert": [{"id": 90, "type": "simple", "sku": "NEW-1",
                                                            "name": "New", "manage_stock": True,
                                                            "stock_quantity": 5, "price": "1.00"}]})
        _, _, items = self.get_json(self.https, "/wp-json/wc/v3/products?sku=NEW-1&_fields=id,stock_status")
        self.assertEqual([{"id": 90, "stock_status": "instock"}], items)
        self.https.control("POST", "products", {"delete": [90]})
        self.assertEqual([], self.get_json(self.https, "/wp-json/wc/v3/products?sku=NEW-1")[2])

    def test_errors_for_unknown_ids(self):
        headers = dict(basic(CK, CS), **{"Content-Type": "application/json"})
        status, _, error = self.get_json(self.https, "/wp-json/wc/v3/products/999999", headers, "PUT",
                                         '{"stock_quantity":1}')
        self.assertEqual((400, "woocommerce_rest_product_invalid_id"), (status, error["code"]))
        status, _, error = self.get_json(self.https, "/wp-json/wc/v3/products/21/variations/999999", headers, "PUT",
                                         '{"stock_quantity":1}')
        self.assertEqual((400, "woocommerce_rest_product_variation_invalid_id"), (status, error["code"]))
        status, _, error = self.get_json(self.https, "/wp-json/wc/v3/products/10", headers, "PUT",
                                         '{"sku":"RW-SIMPLE-003"}')
        self.assertEqual((400, "product_invalid_sku", 12), (status, error["code"], error["data"]["resource_id"]))
        # Without Content-Type: application/json WordPress does not read the JSON body.
        status, _, item = self.get_json(self.https, "/wp-json/wc/v3/products/10", basic(CK, CS), "PUT",
                                        '{"stock_quantity":1}')
        self.assertEqual((200, 10), (status, item["stock_quantity"]))

    def test_in_process_server(self):
        server = fake_woo.make_server(consumer_key="ck_a", consumer_secret="cs_b")
        server.start_background()
        try:
            status, _, error = Client(server.port).json("GET", "/wp-json/wc/v3/products")
            self.assertEqual((401, "woocommerce_rest_cannot_view"), (status, error["code"]))
            self.assertEqual(19, len(server.shop.products))
        finally:
            server.stop()

    def test_keep_alive(self):
        conn = self.https.connection()
        try:
            for _ in range(3):
                conn.request("GET", "/wp-json/wc/v3/products/10?_fields=id", headers=basic(CK, CS))
                response = conn.getresponse()
                self.assertEqual(b'{"id":10,', response.read()[:9])
        finally:
            conn.close()

    def test_faults(self):
        path = "/wp-json/wc/v3/products?_fields=id"
        self.http.control("POST", "faults", {"rules": [{"path_prefix": "/wp-json/wc/v3/products", "action": "status",
                                                        "status": 503, "retry_after": 7}]})
        status, headers, _ = self.http.request("GET", path)
        self.assertEqual((503, "7"), (status, headers["Retry-After"]))
        self.assertEqual(401, self.http.request("GET", path)[0])  # rule used up; anonymous again
        for action, error in (("drop", http.client.RemoteDisconnected), ("truncate", http.client.IncompleteRead),
                              ("timeout", socket.timeout)):
            self.http.control("POST", "faults", {"rules": [{"action": action, "hold_s": 2}]})
            with self.assertRaises(error, msg=action):
                self.http.request("GET", path, timeout=0.5)
        self.http.control("POST", "faults", {"rules": [{"action": "garbage"}]})
        status, headers, data = self.http.request("GET", path)
        self.assertEqual(200, status)
        self.assertRaises(ValueError, json.loads, data.decode())
        # apply: the write happens, the client sees an error.
        self.https.control("POST", "faults", {"rules": [{"method": "PUT", "action": "status", "status": 502,
                                                         "apply": True}]})
        status, _, _ = self.https.request("PUT", "/wp-json/wc/v3/products/10", '{"stock_quantity":42}',
                                          dict(basic(CK, CS), **{"Content-Type": "application/json"}))
        self.assertEqual(502, status)
        self.assertEqual(42, self.get_json(self.https, "/wp-json/wc/v3/products/10")[2]["stock_quantity"])
        self.https.control("POST", "faults", {"latency_ms": 150, "per_item_ms": 20})
        start = time.time()
        self.https.request("POST", "/wp-json/wc/v3/products/batch", json.dumps(
            {"update": [{"id": 10, "stock_quantity": 1}] * 5}), dict(basic(CK, CS), **{"Content-Type":
                                                                                        "application/json"}))
        self.assertGreaterEqual(time.time() - start, 0.25)
        self.assertEqual([], self.https.control("POST", "faults", {})["rules"])


# --------------------------------------------------------------------------
# WooCommerce's own webhooks (woo_webhooks.py)
# --------------------------------------------------------------------------

WEBHOOK_SECRET = "rw_webhook_secret_123"  # the secret of recording 30
RECORDED_SINK = "http://127.0.0.1:9099/wc-hook"
DATES_RE = re.compile(rb'"date_(created|modified)(_gmt)?":("[^"]*"|null)')


class DeliverySink:
    """A loopback HTTP endpoint that keeps every request it gets, raw:
    ``.deliveries`` (signed webhook deliveries) and ``.pings``.

    ``statuses`` answers the next requests with those statuses in turn
    (then ``status``); ``gate`` (a threading.Event) holds every answer
    until it is set."""

    def __init__(self):
        sink = self
        self.requests = []
        self.status = 200
        self.statuses = []
        self.gate = None
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink.lock:
                    sink.requests.append({"path": self.path, "version": self.request_version,
                                          "headers": self.headers, "body": body, "t": time.time()})
                    status = sink.statuses.pop(0) if sink.statuses else sink.status
                if sink.gate is not None:
                    sink.gate.wait(30)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                if status in (301, 302):
                    self.send_header("Location", "/elsewhere")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/wc-hook" % self.server.server_address[1]

    @property
    def deliveries(self):
        with self.lock:
            return [r for r in self.requests if r["headers"].get("X-WC-Webhook-ID")]

    @property
    def pings(self):
        with self.lock:
            return [r for r in self.requests if not r["headers"].get("X-WC-Webhook-ID")]

    def wait_deliveries(self, count, timeout=10):
        deadline = time.time() + timeout
        while len(self.deliveries) < count and time.time() < deadline:
            time.sleep(0.02)
        return self.deliveries

    def clear(self):
        with self.lock:
            self.requests = []
            self.statuses = []
        self.status = 200
        self.gate = None

    def close(self):
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def verify_signature(delivery, secret):
    expected = base64.b64encode(hmac.new(secret.encode(), delivery["body"], hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, delivery["headers"]["X-WC-Webhook-Signature"])


class WooWebhookTest(WooReplayMixin, unittest.TestCase):
    """The fake shop's webhooks agree with woocommerce-webhooks.md and recordings 30-32."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fakewoo-hooks-")
        cls.cert, key = make_cert(cls.tmp)
        cls.fake = FakeProcess("fake_woo.py", "--tls-cert", cls.cert, "--tls-key", key,
                               "--consumer-key", CK, "--consumer-secret", CS,
                               "--home-url", "https://127.0.0.1:8443")
        cls.shop = Client(cls.fake.port, cls.cert)
        cls.sink = DeliverySink()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()
        cls.sink.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.shop.control("POST", "reset", {})
        self.sink.clear()

    # ---- helpers ----------------------------------------------------------------

    def api(self, method, target, body=None, auth=True):
        headers = dict(basic(CK, CS)) if auth else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        status, headers_, data = self.shop.request(method, target, body, headers)
        return status, headers_, json.loads(data.decode()) if data else None

    def register(self, topic="product.updated", url=None, secret=WEBHOOK_SECRET):
        status, _, hook = self.api("POST", "/wp-json/wc/v3/webhooks", {
            "name": "sink", "topic": topic, "delivery_url": url or self.sink.url, "secret": secret})
        self.assertEqual(201, status, hook)
        return hook

    def put_stock(self, pid, quantity):
        status, _, item = self.api("PUT", "/wp-json/wc/v3/products/%d" % pid, {"stock_quantity": quantity})
        self.assertEqual(200, status, item)

    def run_queue(self):
        return self.shop.control("POST", "webhooks/run", {})

    def stored(self, webhook_id=1):
        return {h["id"]: h for h in self.shop.control("GET", "webhooks")}[webhook_id]

    def replay_with_sink(self, name):
        """Replay a webhook recording with its delivery URL pointed at our sink."""
        recording = load_recordings([name])[0]
        recording.body = recording.body.replace(RECORDED_SINK, self.sink.url)
        recording.response_body = recording.response_body.replace(
            RECORDED_SINK.replace("/", "\\/").encode(), self.sink.url.replace("/", "\\/").encode())
        status, headers, body = self.shop.request(recording.method, recording.target, recording.body.encode(),
                                                  recording.request_headers())
        self.assertEqual(recording.status, status, body)
        for name_ in ("location", "allow"):
            self.assertEqual(recording.response_headers.get(name_), headers.get_all(name_), name_)
        self.assertEqual([], compare_json(json_pairs(recording.response_body), json_pairs(body),
                                          volatile={"date_created", "date_created_gmt", "date_modified",
                                                    "date_modified_gmt"}))
        self.assertEqual(DATES_RE.sub(b"", recording.response_body), DATES_RE.sub(b"", body))
        return json.loads(body.decode())

    # ---- the recordings ------------------------------------------------------------

    def test_recordings_30_to_32_and_their_deliveries(self):
        created = self.replay_with_sink("30")
        self.assertIsNone(created["date_modified"])  # as recorded: the answer is built before the ping
        ping = self.sink.pings
        self.assertEqual(1, len(ping))
        self.assertEqual((b"webhook_id=1", "HTTP/1.0", "application/x-www-form-urlencoded",
                          "WooCommerce/7.8.2 Hookshot (WordPress/6.2.7)"),
                         (ping[0]["body"], ping[0]["version"], ping[0]["headers"]["Content-Type"],
                          ping[0]["headers"]["User-Agent"]))
        self.assertEqual([], [h for h in ping[0]["headers"] if h.lower().startswith("x-wc-webhook")])
        self.assertFalse(self.stored()["pending_delivery"])
        for recording in load_recordings(["31", "31b", "31c"]):
            self.replay(self.shop, recording)
        self.assertEqual([], self.sink.deliveries)  # nothing until the queue runs
        self.assertEqual([10, 22, 11, 14], [j["arg"] for j in self.shop.control("GET", "webhooks/queue")])
        made = self.run_queue()
        self.assertEqual([200] * 4, [d["status"] for d in made])
        # X-WC-Webhook-Delivery-ID is a hash of the webhook id and the second: not unique.
        by_second = {}
        for delivery in made:
            by_second.setdefault(int(delivery["sent_at"]), set()).add(delivery["headers"]["X-WC-Webhook-Delivery-ID"])
        self.assertEqual([1] * len(by_second), [len(ids) for ids in by_second.values()])
        self.assertEqual(len(by_second), len(set.union(*by_second.values())))
        got = self.sink.deliveries
        self.assertEqual(["10", "22", "11", "14"], [json.loads(d["body"])["id"].__str__() for d in got])
        for delivery, quantity in zip(got, (16, 13, 4, 98)):
            headers = delivery["headers"]
            self.assertTrue(verify_signature(delivery, WEBHOOK_SECRET))
            self.assertFalse(verify_signature(delivery, WEBHOOK_SECRET + "x"))
            self.assertEqual(("HTTP/1.0", "application/json", "https://127.0.0.1:8443/", "product.updated",
                              "product", "updated", "1", "WooCommerce/7.8.2 Hookshot (WordPress/6.2.7)"),
                             (delivery["version"], headers["Content-Type"], headers["X-WC-Webhook-Source"],
                              headers["X-WC-Webhook-Topic"], headers["X-WC-Webhook-Resource"],
                              headers["X-WC-Webhook-Event"], headers["X-WC-Webhook-ID"], headers["User-Agent"]))
            self.assertRegex(headers["X-WC-Webhook-Delivery-ID"], r"^[0-9a-f]{32}$")
            payload = json.loads(delivery["body"])
            self.assertEqual(quantity, payload["stock_quantity"])
            # The body is the wc/v3 object a GET answers, encoded like PHP.
            status, _, current = self.shop.request("GET", "/wp-json/wc/v3/products/%d" % payload["id"],
                                                   headers=basic(CK, CS))
            self.assertEqual(current, delivery["body"])
        variation = json.loads(got[1]["body"])
        self.assertEqual(("variation", 21, "RW-TEE-S"), (variation["type"], variation["parent_id"], variation["sku"]))
        paused = self.replay_with_sink("32")
        self.assertEqual("paused", paused["status"])
        self.assertIsNotNone(paused["date_modified"])
        self.put_stock(10, 5)
        self.assertEqual([], self.shop.control("GET", "webhooks/queue"))

    # ---- registration and the ping -------------------------------------------------

    def test_creation_succeeds_whatever_the_ping_gets(self):
        self.sink.statuses = [500]
        self.register()
        self.assertEqual(1, len(self.sink.pings))
        self.assertTrue(self.stored()["pending_delivery"])
        # While pending_delivery is set, the next save of the active webhook pings again.
        status, _, _ = self.api("PUT", "/wp-json/wc/v3/webhooks/1", {"name": "renamed"})
        self.assertEqual(200, status)
        self.assertEqual(2, len(self.sink.pings))
        self.assertFalse(self.stored()["pending_delivery"])
        self.api("PUT", "/wp-json/wc/v3/webhooks/1", {"name": "again"})
        self.assertEqual(2, len(self.sink.pings))
        # A closed port, and a receiver slower than the ping's timeout: created all the same.
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        self.register(url="http://127.0.0.1:%d/hook" % port)
        self.shop.control("POST", "webhooks/config", {"ping_timeout_s": 0.3})
        self.sink.gate = threading.Event()
        hook = self.register()
        self.sink.gate.set()
        self.assertEqual("active", hook["status"])
        log = self.shop.control("GET", "webhooks/deliveries?kind=ping")
        self.assertEqual([200, None, None], [p["status"] for p in log[1:]])
        self.assertIn("timed out", log[-1]["error"])
        self.assertEqual([False, True, True], [h["pending_delivery"] for h in self.shop.control("GET", "webhooks")])

    def test_rest_answers(self):
        status, _, error = self.api("POST", "/wp-json/wc/v3/webhooks", {"name": "x"})
        self.assertEqual((400, "rest_missing_callback_param", "Missing parameter(s): topic, delivery_url",
                          ["topic", "delivery_url"]),
                         (status, error["code"], error["message"], error["data"]["params"]))
        for body, code in (({"topic": "product.sold"}, "woocommerce_rest_shop_webhook_invalid_topic"),
                           ({"delivery_url": "ftp://x/"}, "woocommerce_rest_shop_webhook_invalid_delivery_url"),
                           ({"status": "off"}, "rest_invalid_param")):
            request = dict({"topic": "product.updated", "delivery_url": self.sink.url}, **body)
            status, _, error = self.api("POST", "/wp-json/wc/v3/webhooks", request)
            self.assertEqual((400, code), (status, error["code"]), body)
        status, _, error = self.api("POST", "/wp-json/wc/v3/webhooks", {"topic": "product.updated",
                                                                       "delivery_url": self.sink.url}, auth=False)
        self.assertEqual((401, "woocommerce_rest_cannot_create"), (status, error["code"]))
        self.assertEqual(401, self.api("GET", "/wp-json/wc/v3/webhooks", auth=False)[0])
        # A status given at creation is ignored; the secret is never shown.
        status, _, hook = self.api("POST", "/wp-json/wc/v3/webhooks", {
            "topic": "product.updated", "delivery_url": self.sink.url, "status": "paused"})
        self.assertEqual((201, "active"), (status, hook["status"]))
        self.assertNotIn("secret", hook)
        self.assertEqual(50, len(self.stored()["secret"]))  # generated: wp_generate_password(50)
        self.assertTrue(hook["name"].startswith("Webhook created on "))
        status, _, error = self.api("GET", "/wp-json/wc/v3/webhooks/9")
        self.assertEqual((400, "woocommerce_rest_shop_webhook_invalid_id", "ID is invalid."),
                         (status, error["code"], error["message"]))
        self.assertEqual(400, self.api("PUT", "/wp-json/wc/v3/webhooks/9", {"status": "paused"})[0])
        status, _, error = self.api("DELETE", "/wp-json/wc/v3/webhooks/1")
        self.assertEqual((501, "woocommerce_rest_trash_not_supported"), (status, error["code"]))
        self.assertEqual(404, self.api("DELETE", "/wp-json/wc/v3/webhooks/9?force=true")[0])
        self.register()
        self.api("PUT", "/wp-json/wc/v3/webhooks/2", {"status": "disabled"})
        status, headers, items = self.api("GET", "/wp-json/wc/v3/webhooks?_fields=id,status")
        self.assertEqual((200, "2", [{"id": 2, "status": "disabled"}, {"id": 1, "status": "active"}]),
                         (status, headers["X-WP-Total"], items))
        self.assertEqual([1], [h["id"] for h in self.api("GET", "/wp-json/wc/v3/webhooks?status=active")[2]])
        status, _, deleted = self.api("DELETE", "/wp-json/wc/v3/webhooks/1?force=true")
        self.assertEqual((200, 1), (status, deleted["id"]))
        self.assertEqual([2], [h["id"] for h in self.shop.control("GET", "webhooks")])

    # ---- what fires, and when it is sent ------------------------------------------------

    def test_batch_delivers_one_per_saved_product(self):
        self.register()
        status, _, answer = self.api("POST", "/wp-json/wc/v3/products/batch", {"update": [
            {"id": 11, "stock_quantity": 4}, {"id": 14, "stock_quantity": 98}, {"id": 999, "stock_quantity": 1},
            {"id": 12, "sku": "RW-SIMPLE-003"}]})
        self.assertEqual(200, status)
        self.assertEqual(3, len(self.run_queue()))  # the bad id saved nothing; a save without change counts
        payloads = [json.loads(d["body"]) for d in self.sink.deliveries]
        self.assertEqual({(11, 4), (14, 98), (12, 25)}, {(p["id"], p["stock_quantity"]) for p in payloads})
        status, _, _ = self.api("POST", "/wp-json/wc/v3/products/21/variations/batch",
                                {"update": [{"id": 22, "stock_quantity": 1}]})
        self.assertEqual(["variation"], [json.loads(d["body"])["type"] for d in self.run_queue()])

    def test_paid_orders_variations_and_cancellation(self):
        self.register()
        self.register(topic="order.created")
        sale = self.shop.control("POST", "sale", {"id": 23, "quantity": 2})
        self.shop.control("POST", "sale", {"id": 28, "quantity": 1})  # RW-MUG's stock: the parent is saved
        made = self.run_queue()
        products = [json.loads(d["body"]) for d in made if d["topic"] == "product.updated"]
        self.assertEqual([(23, "variation", 21, 4), (25, "variable", 0, 49)],
                         [(p["id"], p["type"], p["parent_id"], p["stock_quantity"]) for p in products])
        orders = [json.loads(d["body"]) for d in made if d["topic"] == "order.created"]
        self.assertEqual([sale["order"]["id"], sale["order"]["id"] + 1], [o["id"] for o in orders])
        self.assertEqual(["RW-TEE-M"], [line["sku"] for line in orders[0]["line_items"]])
        self.shop.control("POST", "cancel", {"id": sale["order"]["id"]})
        restored = [json.loads(d["body"]) for d in self.run_queue()]
        self.assertEqual([(23, 6)], [(p["id"], p["stock_quantity"]) for p in restored])

    def test_async_coalesces_until_the_queue_runs(self):
        self.register()
        for quantity in range(20):
            self.put_stock(10, quantity)
        self.put_stock(12, 3)
        self.assertEqual([10, 12], [j["arg"] for j in self.shop.control("GET", "webhooks/queue")])
        self.assertEqual([], self.sink.deliveries)
        self.run_queue()
        self.assertEqual([19, 3], [json.loads(d["body"])["stock_quantity"] for d in self.sink.deliveries])
        self.put_stock(10, 7)  # the job has run: a new change queues a new one
        self.assertEqual([7], [json.loads(d["body"])["stock_quantity"] for d in self.run_queue()])

    def test_sync_and_after_response_modes(self):
        self.register()
        self.shop.control("POST", "webhooks/config", {"mode": "sync"})
        for quantity in (5, 6, 7):
            self.put_stock(10, quantity)
        # Delivered before each answer, one per save, each with its own value.
        self.assertEqual([5, 6, 7], [json.loads(d["body"])["stock_quantity"] for d in self.sink.deliveries])
        self.assertEqual([], self.shop.control("GET", "webhooks/queue"))
        self.shop.control("POST", "webhooks/config", {"mode": "after_response"})
        self.sink.gate = threading.Event()
        self.put_stock(10, 8)  # answered while the receiver still holds the delivery
        self.sink.gate.set()
        self.assertEqual(8, json.loads(self.sink.wait_deliveries(4)[-1]["body"])["stock_quantity"])
        self.shop.control("POST", "reset", {})
        self.assertEqual("async", self.shop.control("GET", "webhooks/config")["mode"])

    def test_queue_runners(self):
        self.register()
        self.put_stock(10, 1)
        self.assertEqual(200, self.shop.request("GET", "/wp-cron.php")[0])  # due: runs after answering
        self.assertEqual(1, len(self.sink.wait_deliveries(1)))
        self.put_stock(10, 2)
        self.shop.request("GET", "/wp-cron.php")  # the every-minute event is not due again yet
        self.shop.request("GET", "/wp-admin/admin-ajax.php")  # a wp-admin hit starts the runner
        self.assertEqual(2, json.loads(self.sink.wait_deliveries(2)[-1]["body"])["stock_quantity"])
        self.shop.control("POST", "webhooks/config", {"queue_interval_s": 0.2})
        self.put_stock(10, 3)
        self.assertEqual(3, json.loads(self.sink.wait_deliveries(3)[-1]["body"])["stock_quantity"])

    # ---- failures -------------------------------------------------------------------

    def test_seventh_failure_in_a_row_disables_and_nothing_is_retried(self):
        self.register()
        self.sink.status = 500
        for pid in (10, 11, 12, 13, 14, 16, 17):
            self.put_stock(pid, 1)
        made = self.run_queue()
        self.assertEqual(7, len(self.sink.deliveries))  # the 7th is still sent
        self.assertEqual([(1, "active"), (2, "active"), (3, "active"), (4, "active"), (5, "active"),
                          (6, "active"), (6, "disabled")], [(d["failure_count"], d["webhook_status"]) for d in made])
        self.assertEqual("disabled", self.api("GET", "/wp-json/wc/v3/webhooks/1")[2]["status"])
        self.assertEqual([], self.run_queue())  # no retries
        self.put_stock(10, 2)
        self.assertEqual([], self.shop.control("GET", "webhooks/queue"))  # disabled: nothing queued
        # Re-enabled, the count stays at 6: one more failure disables it again.
        self.api("PUT", "/wp-json/wc/v3/webhooks/1", {"status": "active"})
        self.put_stock(10, 3)
        self.assertEqual([(6, "disabled")], [(d["failure_count"], d["webhook_status"]) for d in self.run_queue()])

    def test_which_answers_count_as_failures(self):
        self.register()
        self.shop.control("POST", "webhooks/config", {"delivery_timeout_s": 0.3})
        outcomes = []
        for status in (500, 404, 200, 301, 302, 303, 201, 204, 400):
            self.sink.statuses = [status]
            self.put_stock(10, status)
            outcomes.append((status, self.run_queue()[0]["failure_count"]))
        self.assertEqual([(500, 1), (404, 2), (200, 0), (301, 0), (302, 0), (303, 1), (201, 0), (204, 0),
                          (400, 1)], outcomes)
        self.sink.gate = threading.Event()  # no answer in time
        self.put_stock(10, 1)
        made = self.run_queue()
        self.sink.gate.set()
        self.assertEqual((None, 2), (made[0]["status"], made[0]["failure_count"]))
        self.assertIn("timed out", made[0]["error"])
        # Without the mu-plugin, wp_safe_remote_post refuses a loopback URL on another port.
        self.shop.control("POST", "webhooks/config", {"safe_urls": True})
        self.put_stock(10, 2)
        made = self.run_queue()
        self.assertEqual(("A valid URL was not provided.", 3), (made[0]["error"], made[0]["failure_count"]))

    def test_pause_keeps_what_is_queued(self):
        self.register()
        self.put_stock(10, 4)
        self.api("PUT", "/wp-json/wc/v3/webhooks/1", {"status": "paused"})
        self.put_stock(11, 4)  # paused: not queued
        self.assertEqual([10], [json.loads(d["body"])["id"] for d in self.run_queue()])
        self.assertEqual("paused", self.stored()["status"])

    def test_other_topics_and_replay(self):
        self.register(topic="action.woocommerce_product_set_stock")
        self.register(topic="product.deleted")
        self.put_stock(10, 1)
        self.put_stock(11, 1)
        self.api("DELETE", "/wp-json/wc/v3/products/12")  # trashed: product.deleted
        made = self.run_queue()
        self.assertEqual(['{"action":"woocommerce_product_set_stock","arg":[]}', '{"id":12}'],
                         [d["body"] for d in made])  # one job served both products
        again = self.shop.control("POST", "webhooks/replay", {"id": made[1]["id"]})
        self.assertEqual(200, again["status"])
        first, second = self.sink.deliveries[-2:]
        self.assertEqual((first["body"], dict(first["headers"])), (second["body"], dict(second["headers"])))


# --------------------------------------------------------------------------
# KeyCRM
# --------------------------------------------------------------------------

KEY = "test-keycrm-key-0123456789"


class WebhookSink:
    """A local endpoint that records what the fake KeyCRM posts."""

    def __init__(self):
        sink = self
        self.calls = []
        self.status = 200
        self.event = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.calls.append((self.path, self.headers.get("Content-Type"), json.loads(body.decode())))
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                sink.event.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/keycrm/webhook?secret=s" % self.server.server_address[1]

    def wait(self, count, timeout=3):
        deadline = time.time() + timeout
        while len(self.calls) < count and time.time() < deadline:
            time.sleep(0.01)
        return self.calls

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class KeyCrmFakeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeProcess("fake_keycrm.py", "--api-key", KEY)
        cls.client = Client(cls.fake.port)
        cls.sink = WebhookSink()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()
        cls.sink.close()

    def setUp(self):
        self.client.control("POST", "reset", {})
        self.client.control("POST", "config", {"webhook_url": self.sink.url})
        self.sink.calls.clear()
        self.sink.status = 200

    def api(self, method, target, body=None, key=KEY):
        headers = {"Authorization": "Bearer " + key, "Accept": "application/json"} if key else {}
        return self.client.json(method, target, body, headers)

    def test_sigterm_exits_cleanly(self):
        other = FakeProcess("fake_keycrm.py", "--api-key", KEY)
        Client(other.port).control("POST", "faults", {"rules": [{"action": "timeout", "hold_s": 60}]})
        held = socket.create_connection(("127.0.0.1", other.port))
        held.sendall(b"GET /v1/offers HTTP/1.1\r\nHost: x\r\n\r\n")  # held by the fault
        time.sleep(0.1)
        self.assertEqual(0, other.stop())
        held.close()

    def test_put_without_json_content_type(self):
        status, _, error = self.client.json("PUT", "/v1/offers/stocks", '{"warehouse_id":1,"stocks":[]}',
                                            {"Authorization": "Bearer " + KEY})
        self.assertEqual(422, status)
        self.assertEqual(["warehouse_id", "stocks"], list(error["errors"]))

    def test_auth(self):
        self.assertEqual((401, {"message": "Unauthenticated."}), self.api("GET", "/v1/offers", key=None)[::2])
        self.assertEqual(401, self.api("GET", "/v1/offers", key="wrong")[0])
        self.assertEqual(200, self.api("GET", "/v1/offers?limit=1")[0])
        self.assertEqual(404, self.api("GET", "/v1/warehouses")[0])
        log = self.client.control("GET", "log")
        self.assertEqual([False, False, True, False], [e["auth_ok"] for e in log])  # 404 before auth

    def test_offers_pagination_and_filters(self):
        status, _, page = self.api("GET", "/v1/offers?limit=5")
        self.assertEqual(200, status)
        self.assertEqual((16, 4, 1, 5, 5), (page["total"], page["last_page"], page["from"], page["to"],
                                            page["per_page"]))
        self.assertTrue(page["next_page_url"].endswith("/v1/offers?page=2"))
        self.assertIsNone(page["prev_page_url"])
        first = page["data"][0]
        self.assertEqual(("RW-SIMPLE-001", 13, 1), (first["sku"], first["quantity"], first["in_reserve"]))
        status, _, page = self.api("GET", "/v1/offers?limit=5&page=4")
        self.assertEqual((1, None), (len(page["data"]), page["next_page_url"]))
        _, _, page = self.api("GET", "/v1/offers?filter[sku]=RW-TEE-M,RW-MUG-RED&include=product")
        self.assertEqual([("RW-TEE-M", 10, "RW Tee"), ("RW-MUG-RED", 4, "RW Mug")],
                         [(o["sku"], o["quantity"], o["product"]["name"]) for o in page["data"]])
        self.assertEqual(15, page["per_page"])
        status, _, error = self.api("GET", "/v1/offers?limit=51")
        self.assertEqual(422, status)
        self.assertIn("limit", error["errors"])

    def test_stocks_listing(self):
        target = "/v1/offers/stocks?filter[offers_sku]=RW-SIMPLE-001,KC-ONLY-001&filter[details]=true"
        _, _, page = self.api("GET", target)
        self.assertEqual([{"id": 1001, "sku": "RW-SIMPLE-001", "price": 10, "purchased_price": 5,
                           "quantity": 13, "reserve": 1,
                           "warehouse": [{"id": 1, "name": "Основний", "quantity": 10, "reserve": 0},
                                         {"id": 2, "name": "Склад 2", "quantity": 3, "reserve": 1}]},
                          {"id": 1099, "sku": "KC-ONLY-001", "price": 1.5, "purchased_price": 0.75,
                           "quantity": 2.5, "reserve": 0.5,
                           "warehouse": [{"id": 1, "name": "Основний", "quantity": 2.5, "reserve": 0.5}]}],
                         page["data"])
        _, _, ignored = self.api("GET", target + "&filter[warehouse_id]=2")
        self.assertEqual(page["data"], ignored["data"])
        _, _, plain = self.api("GET", "/v1/offers/stocks?filter[offers_id]=1001")
        self.assertNotIn("warehouse", plain["data"][0])

    def test_put_stocks(self):
        status, _, body = self.api("PUT", "/v1/offers/stocks", {"warehouse_id": 1, "stocks": [
            {"sku": "RW-SIMPLE-001", "quantity": 4}, {"id": 1022, "quantity": 2.5},
            {"sku": "NOT-IN-CRM", "quantity": 1}]})
        self.assertEqual((202, {"status": True}), (status, body))
        offers = {o["sku"]: o for o in self.client.control("GET", "state")["offers"]}
        self.assertEqual((7, 4), (offers["RW-SIMPLE-001"]["quantity"], offers["RW-SIMPLE-001"]["stocks"]["1"]
                                  ["quantity"]))
        self.assertEqual(6.5, offers["RW-TEE-M"]["quantity"])
        self.assertEqual(3, self.client.control("GET", "log")[-1]["items"])

    def test_put_stocks_validation(self):
        cases = [
            ({"stocks": [{"sku": "RW-SIMPLE-001", "quantity": 1}]}, "warehouse_id",
             "The warehouse id field is required."),
            ({"warehouse_id": 9, "stocks": [{"sku": "RW-SIMPLE-001", "quantity": 1}]}, "warehouse_id",
             "The selected warehouse id is invalid."),
            ({"warehouse_id": 1, "stocks": [{"sku": "A", "quantity": 1}] * 3 + [{"sku": "B", "quantity": "x"}]},
             "stocks.3.quantity", "The stocks.3.quantity must be a number."),
            ({"warehouse_id": 1, "stocks": [{"quantity": 1}]}, "stocks.0.sku",
             "The stocks.0.sku field is required when stocks.0.id is not present."),
            ({"warehouse_id": 1, "stocks": [{"sku": "A", "quantity": 1}] * 10001}, "stocks",
             "The stocks must not have more than 10000 items."),
            ({"warehouse_id": 1}, "stocks", "The stocks field is required."),
        ]
        for body, key, message in cases:
            status, _, error = self.api("PUT", "/v1/offers/stocks", body)
            self.assertEqual(422, status, key)
            self.assertEqual("The given data was invalid.", error["message"])
            self.assertEqual([message], error["errors"][key])
        self.client.control("POST", "config", {"unknown_sku": "422"})
        status, _, error = self.api("PUT", "/v1/offers/stocks", {"warehouse_id": 1, "stocks": [
            {"sku": "RW-SIMPLE-001", "quantity": 1}, {"sku": "NOPE", "quantity": 1}]})
        self.assertEqual((422, {"stocks.1.sku": ["The selected stocks.1.sku is invalid."]}), (status, error["errors"]))
        offers = {o["sku"]: o for o in self.client.control("GET", "state")["offers"]}
        self.assertEqual(10, offers["RW-SIMPLE-001"]["stocks"]["1"]["quantity"])  # nothing applied

    def test_rate_limit(self):
        self.client.control("POST", "reset", {"options": {"rate_limit": {"requests": 3, "window_s": 1}}})
        remaining = []
        for _ in range(3):
            status, headers, _ = self.api("GET", "/v1/offers?limit=1")
            self.assertEqual(200, status)
            self.assertEqual("3", headers["X-RateLimit-Limit"])
            remaining.append(headers["X-RateLimit-Remaining"])
        self.assertEqual(["2", "1", "0"], remaining)
        status, headers, body = self.api("GET", "/v1/offers?limit=1")
        self.assertEqual((429, {"message": "Too Many Attempts."}), (status, body))
        self.assertEqual("1", headers["Retry-After"])
        time.sleep(1.05)
        self.assertEqual(200, self.api("GET", "/v1/offers?limit=1")[0])
        self.assertEqual([False, False, False, True, False],
                         [e["over_limit"] for e in self.client.control("GET", "log")])

    def test_webhook_auto(self):
        self.api("PUT", "/v1/offers/stocks", {"warehouse_id": 1, "stocks": [{"sku": "RW-SIMPLE-004", "quantity": 9}]})
        calls = self.sink.wait(1)
        self.assertEqual([("/keycrm/webhook?secret=s", "application/json",
                           [{"offer_id": 1004, "sku": "RW-SIMPLE-004", "in_stock": 9, "in_reserve": 0}])], calls)
        self.api("PUT", "/v1/offers/stocks", {"warehouse_id": 1, "stocks": [{"sku": "RW-SIMPLE-004", "quantity": 9}]})
        self.client.control("POST", "stock", {"sku": "RW-TEE-M", "warehouse_id": 2, "reserve": 1.5})
        calls = self.sink.wait(2)
        self.assertEqual([{"offer_id": 1022, "sku": "RW-TEE-M", "in_stock": 10, "in_reserve": 1.5}], calls[1][2])
        time.sleep(0.1)
        self.assertEqual(2, len(self.sink.calls))  # the no-op PUT sent nothing
        self.client.control("POST", "config", {"webhook_warehouses": [1]})
        self.client.control("POST", "stock", {"sku": "RW-TEE-M", "warehouse_id": 2, "quantity": 0})
        time.sleep(0.1)
        self.assertEqual(2, len(self.sink.calls))  # warehouse 2 is not watched
        hooks = self.client.control("GET", "webhooks")
        self.assertEqual([1, 1], [h["delivered"] for h in hooks])
        self.assertEqual(200, hooks[0]["deliveries"][0]["status"])

    def test_webhook_hold_and_deliver_out_of_order(self):
        self.client.control("POST", "config", {"webhook_mode": "hold"})
        self.client.control("POST", "stock", {"sku": "RW-SIMPLE-001", "warehouse_id": 1, "quantity": 1})
        self.client.control("POST", "stock", {"sku": "RW-SIMPLE-001", "warehouse_id": 1, "quantity": 2})
        time.sleep(0.05)
        self.assertEqual([], self.sink.calls)
        hooks = self.client.control("GET", "webhooks")
        self.assertEqual([(1, 4, 0), (2, 5, 0)],
                         [(h["id"], h["payload"][0]["in_stock"], h["delivered"]) for h in hooks])
        self.sink.status = 503
        results = self.client.control("POST", "webhooks/deliver", {"ids": [2, 1], "times": 2})
        self.assertEqual([(2, 503), (1, 503), (2, 503), (1, 503)], [(r["id"], r["status"]) for r in results])
        self.assertEqual([5, 4, 5, 4], [c[2][0]["in_stock"] for c in self.sink.calls])
        self.assertEqual([2, 2], [h["delivered"] for h in self.client.control("GET", "webhooks")])


if __name__ == "__main__":
    unittest.main()
