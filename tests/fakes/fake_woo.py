#!/usr/bin/env python3
"""Fake WooCommerce REST API (wc/v3), modelled on WordPress 6.2 + WooCommerce 7.8.2.

What it models (ground truth: tests/fakes/recordings/*.http, recorded on a real
WooCommerce 7.8.2, and the shared reference woocommerce-api.md):

* A catalogue of products: simple, variable, variation, grouped, external;
  ``manage_stock`` (a variation that does not manage stock while its parent
  does is shown as ``"parent"`` with the parent's quantity), ``stock_quantity``,
  ``backorders``, ``status`` (drafts are listed), SKUs (a variation without its
  own SKU shows its parent's SKU but is never matched by ``?sku=``).
  ``stock_status`` is derived like ``WC_Product::validate_props()``.
  Store options ``manage_stock`` ("yes"/"no": when "no", stock fields in
  updates are ignored and products show ``manage_stock: false``) and
  ``notify_no_stock_amount``.
* Routes: ``GET/POST /wp-json/wc/v3/products``, ``GET/PUT/POST/PATCH/DELETE
  /products/{id}``, ``/products/batch``, ``/products/{pid}/variations[/{id}]``,
  ``/products/{pid}/variations/batch``, ``GET /wp-json/wc-analytics/variations``,
  ``GET /wp-json/wc-analytics/products``, ``GET /wp-json/wc/v3/orders[/{id}]``,
  ``GET/PUT /wp-json/wc/v3/settings/products[/{option}]``, ``GET /wp-json/``.
  Query parameters, validation errors, paging headers (X-WP-Total,
  X-WP-TotalPages, Link rel=prev/next built like WordPress's add_query_arg,
  including its mangled base URL on variation routes), ``_fields`` and
  ``_links`` behave as recorded.  JSON is encoded like PHP (``\\/``).
* Authentication (``class-wc-rest-authentication.php`` of 7.8): over TLS,
  query-string ``consumer_key``/``consumer_secret`` or HTTP Basic; over plain
  HTTP both are ignored (the request runs anonymously and fails the
  permission check with 401).  OAuth 1.0a one-legged (query string, form body
  or ``Authorization: OAuth`` header) on both, HMAC-SHA1/SHA256, signature base
  string from the Home URL, ±15 min timestamps, nonce replay detection.  No
  WWW-Authenticate header is ever sent.
* Batch endpoints: 100-item limit (413), per-item errors in place, ``_fields``
  gives ``[]`` while still applying, items skip validation, variations sent to
  another parent's batch are moved to it.
* WooCommerce's own webhooks (details in woo_webhooks.py; ground truth the
  reference woocommerce-webhooks.md and recordings 30-32): ``GET/POST
  /wp-json/wc/v3/webhooks``, ``GET/PUT/POST/PATCH/DELETE /webhooks/{id}``
  (the controller's validation, 401s, "ID is invalid." 400, delete only with
  ``force`` (501 otherwise), a status given at creation ignored, the secret
  never shown); the unsigned ping at creation; ``product.updated`` (and
  created/deleted, order.created/updated, ``action.woocommerce_*``) fired by
  every save: REST PUTs and batch items (one each, changed or not), paid
  orders (``/_control/sale``: the record holding the stock is saved, so a
  "parent"-managed variation's sale delivers the parent), cancellations
  (``/_control/cancel``), control-side edits.  Deliveries are queued and sent
  when the queue runs (``/_control/webhooks/run``, ``queue_interval_s``,
  ``/wp-cron.php`` once per minute, ``/wp-admin/admin-ajax.php``), or in mode
  ``sync`` before the answer, or ``after_response`` right after it; signed,
  HTTP/1.0, failures counted, disabled at the 7th in a row, never retried.

Command line::

    python3 fake_woo.py --port 0 [--tls-cert F --tls-key F] \\
        --consumer-key ck_x --consumer-secret cs_y [--home-url URL] \\
        [--catalogue FILE] [--key-permissions read_write|read|write] \\
        [--webhook-mode async|sync|after_response] [--queue-interval S]

prints ``PORT=<n>`` once listening on 127.0.0.1 and serves until SIGTERM.

Control API (no authentication, JSON in and out, never logged):

``POST /_control/reset``     ``{"products": [...]?, "options": {...}?}`` replaces
                             the catalogue (default catalogue_recorded.json) and
                             clears orders, log, faults, used nonces and webhooks.
``GET  /_control/products``  raw product records.
``POST /_control/products``  ``{"upsert": [{...}], "delete": [ids]}`` edits like a
                             shop admin (date_modified_gmt moves to now unless given).
``POST /_control/sale``      ``{"id": N, "quantity": q}`` an order that reduces stock
                             (parent stock for "parent"-managed variations); moves
                             date_modified_gmt of the item and its parent; adds an
                             order to /orders.  Answers the product and the order.
                             Fires product.updated (the stock holder), order.created
                             and order.updated.
``POST /_control/cancel``    ``{"id": order}`` cancels an order: its reduced stock comes
                             back (product.updated per line, order.updated).
``GET  /_control/orders``    raw orders.
``GET  /_control/log``       ``[{"method","path","query","status","auth","items","t",
                             "tls","body","fault","auth_error"}]``;
                             ``POST /_control/log/clear`` empties it.
``GET|POST /_control/faults`` see fakebase.FaultInjector (``{}`` clears).
``GET|POST /_control/config`` ``{"consumer_key","consumer_secret","home_url",
                             "oauth_check_timestamp": bool, "key_permissions",
                             "options": {...}}`` (kept across resets).
``GET  /_control/health``    ``{"ok": true}``.

Webhooks (``/_control/webhooks...``; a reset removes every webhook, job and
logged delivery and restores the settings given on the command line):

``GET  /_control/webhooks``            the stored records: ``id, name, status, topic,
                                       delivery_url, secret, user_id, api_version,
                                       failure_count, pending_delivery, date_created_gmt,
                                       date_modified_gmt, queued`` (jobs waiting).
``POST /_control/webhooks/create``     ``{"topic", "delivery_url", "secret"?, "name"?}``
                                       as a REST create (the ping included).
``POST /_control/webhooks/edit``       ``{"id", "status"?, "failure_count"?, "pending_delivery"?,
                                       "delivery_url"?, "secret"?, "name"?, "topic"?}`` edits
                                       the stored record directly (no ping, no side effect).
``GET  /_control/webhooks/queue``      the pending jobs ``[{"id","webhook_id","arg","resource",
                                       "event","queued_at"}]``.
``POST /_control/webhooks/run``        ``{"limit"?: N}`` runs the queue now; answers the
                                       deliveries made.
``GET  /_control/webhooks/deliveries`` ``?since=<id>&webhook_id=N&kind=delivery|ping|replay``:
                                       ``[{"id","kind","webhook_id","topic","arg","url",
                                       "method","http_version","headers","body","status"
                                       (null: no answer),"error","response","success",
                                       "failure_count","webhook_status" (after it),"mode",
                                       "queued_at","sent_at","done_at","duration_ms"}]``;
                                       ``POST /_control/webhooks/deliveries/clear``.
``POST /_control/webhooks/replay``     ``{"id": delivery, "url"?: other}`` sends a logged
                                       delivery again, byte for byte (a late or duplicated
                                       delivery); changes no webhook state.
``GET|POST /_control/webhooks/config`` ``{"mode": "async|sync|after_response",
                                       "queue_interval_s": 0, "delivery_timeout_s": 60,
                                       "ping_timeout_s": 5, "cron_interval_s": 60,
                                       "admin_start_delay_s": 0.2, "admin_start_every_s": 60,
                                       "safe_urls": false, "ca_file": null}``.

Control-side product edits (``/_control/products``) fire the webhooks' hooks
like an admin's save; ``"hooks": false`` in the body leaves them out.
"""

import argparse
import base64
import copy
import hashlib
import hmac
import json
import math
import os
import re
import sys
import threading
import time
import unicodedata
from datetime import datetime, timedelta
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakebase import (FakeHandler, FakeServer, FaultConfigError, Response,  # noqa: E402
                      control_json, make_ssl_context, now_gmt, parse_php_query,
                      php_json, php_rawurldecode, php_rawurlencode, php_urldecode,
                      php_urlencode, serve_main)
import woo_webhooks  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CATALOGUE = os.path.join(HERE, "catalogue_recorded.json")

PRODUCT_TYPES = ("simple", "variable", "variation", "grouped", "external")
POST_STATUSES = ("draft", "pending", "private", "publish")
MSG_USE_VARIATIONS = ("To manipulate product variations you should use the "
                      "/products/&lt;product_id&gt;/variations/&lt;id&gt; endpoint.")
OAUTH_PARAMS = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce",
                "oauth_signature", "oauth_signature_method")
OAUTH_WINDOW = 15 * 60
BATCH_LIMIT = 100
DEFAULT_OPTIONS = {"manage_stock": "yes", "notify_no_stock_amount": 0}

# --------------------------------------------------------------------------
# Errors and parameter validation (WordPress REST semantics)
# --------------------------------------------------------------------------


class WooError(Exception):
    """A WP_Error: answered as {"code","message","data":{"status",...}}."""

    def __init__(self, status, code, message, **data):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.data = data

    def body(self):
        data = {"status": self.status}
        data.update(self.data)
        return {"code": self.code, "message": self.message, "data": data}

    def batch_error(self):
        return {"code": self.code, "message": self.message, "data": {"status": self.status, **self.data}}


def wp_list(values):
    """wp_sprintf '%l': 'a', 'a and b', 'a, b, and c'."""
    values = list(values)
    if len(values) <= 2:
        return " and ".join(values)
    return ", ".join(values[:-1]) + ", and " + values[-1]


_NUMERIC_RE = re.compile(r"^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*$")


def php_is_numeric(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and bool(_NUMERIC_RE.match(value))


def rest_is_integer(value):
    return php_is_numeric(value) and float(value).is_integer()


def rest_is_boolean(value):
    if isinstance(value, bool):
        return True
    if isinstance(value, str):
        return value.lower() in ("false", "true", "0", "1")
    if isinstance(value, int):
        return value in (0, 1)
    return False


def to_bool(value):
    """rest_sanitize_boolean / wc_string_to_bool."""
    if isinstance(value, str):
        return value.lower() in ("true", "1", "yes")
    return bool(value)


def php_intval(value):
    """PHP intval() (wc_stock_amount with the default 'intval' filter)."""
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else 0
    match = re.match(r"^[ \t\n\r\v\f]*([+-]?\d+)", str(value))
    if not match:
        return 0
    if php_is_numeric(value):
        try:
            return int(float(value))
        except (OverflowError, ValueError):
            return 0
    return int(match.group(1))


_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|z|[+-]\d{2}(:?\d{2})?)?$")


def parse_wp_date(value):
    """rest_parse_date(): return a GMT 'YYYY-MM-DDTHH:MM:SS' string or None."""
    match = _DATE_RE.match(str(value).strip())
    if not match:
        return None
    try:
        when = datetime(*[int(match.group(i)) for i in range(1, 7)])
    except ValueError:
        return None
    tz = match.group(8)
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        when = when - sign * offset
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def wp_parse_id_list(value):
    if isinstance(value, dict):
        value = ",".join(str(v) for v in value.values())
    ids = []
    for part in re.split(r"[\s,]+", str(value)):
        if part:
            number = abs(php_intval(part))
            if number not in ids:
                ids.append(number)
    return ids


def wp_parse_list(value):
    if isinstance(value, dict):
        return [str(v) for v in value.values()]
    return [p for p in re.split(r"[\s,]+", str(value)) if p]


class ParamErrors:
    """Collects rest_invalid_param failures like WP_REST_Request::has_valid_params()."""

    def __init__(self):
        self.params = {}
        self.details = {}

    def add(self, name, code, message, data=None):
        if name not in self.params:
            self.params[name] = message
            self.details[name] = {"code": code, "message": message, "data": data}

    def raise_if_any(self):
        if self.params:
            raise WooError(400, "rest_invalid_param", "Invalid parameter(s): " + ", ".join(self.params),
                           params=self.params, details=self.details)


def validate(params, schema):
    """Validate and sanitize params against a tiny schema; raise rest_invalid_param.

    schema: {name: {"type": "integer"|"boolean"|"string"|"date"|"idlist"|"list",
                    "min": n, "max": n, "enum": [...], "or_parent": bool}}"""
    errors = ParamErrors()
    clean = {}
    for name, rule in schema.items():
        if name not in params or params[name] is None:
            continue
        value = params[name]
        kind = rule["type"]
        if "enum" in rule and kind == "string":
            if not isinstance(value, str) or value not in rule["enum"]:
                if not isinstance(value, str):
                    errors.add(name, "rest_invalid_type", "%s is not of type string." % name, {"param": name})
                else:
                    errors.add(name, "rest_not_in_enum", "%s is not one of %s." % (name, wp_list(rule["enum"])))
                continue
            clean[name] = value
        elif kind == "integer":
            if isinstance(value, dict) or not rest_is_integer(value):
                errors.add(name, "rest_invalid_type", "%s is not of type integer." % name, {"param": name})
                continue
            number = int(float(value))
            low, high = rule.get("min"), rule.get("max")
            if low is not None and high is not None and not low <= number <= high:
                errors.add(name, "rest_out_of_bounds",
                           "%s must be between %d (inclusive) and %d (inclusive)" % (name, low, high))
                continue
            if low is not None and high is None and number < low:
                errors.add(name, "rest_out_of_bounds", "%s must be greater than or equal to %d" % (name, low))
                continue
            clean[name] = number
        elif kind == "boolean":
            if rule.get("or_parent") and value == "parent":
                clean[name] = "parent"
            elif not rest_is_boolean(value):
                errors.add(name, "rest_invalid_type", "%s is not of type boolean." % name, {"param": name})
            else:
                clean[name] = to_bool(value)
        elif kind == "string":
            if not isinstance(value, str):
                errors.add(name, "rest_invalid_type", "%s is not of type string." % name, {"param": name})
            else:
                clean[name] = value
        elif kind == "date":
            parsed = parse_wp_date(value) if isinstance(value, str) else None
            if parsed is None:
                errors.add(name, "rest_invalid_date", "Invalid date.")
            else:
                clean[name] = parsed
        elif kind == "idlist":
            clean[name] = wp_parse_id_list(value)
        elif kind == "list":
            clean[name] = wp_parse_list(value)
    errors.raise_if_any()
    return clean


LIST_SCHEMA = {
    "page": {"type": "integer", "min": 1},
    "per_page": {"type": "integer", "min": 1, "max": 100},
    "offset": {"type": "integer"},
    "order": {"type": "string", "enum": ["asc", "desc"]},
    "orderby": {"type": "string", "enum": ["date", "id", "include", "title", "slug", "modified",
                                            "menu_order", "price", "popularity", "rating"]},
    "status": {"type": "string", "enum": ["any", "future", "trash", "draft", "pending", "private", "publish"]},
    "type": {"type": "string", "enum": ["simple", "grouped", "external", "variable"]},
    "stock_status": {"type": "string", "enum": ["instock", "outofstock", "onbackorder"]},
    "dates_are_gmt": {"type": "boolean"},
    "modified_after": {"type": "date"}, "modified_before": {"type": "date"},
    "after": {"type": "date"}, "before": {"type": "date"},
    "include": {"type": "idlist"}, "exclude": {"type": "idlist"}, "parent": {"type": "idlist"},
    "search": {"type": "string"}, "sku": {"type": "string"}, "search_sku": {"type": "string"},
}
VARIATION_LIST_SCHEMA = {k: v for k, v in LIST_SCHEMA.items() if k != "type"}
ORDER_LIST_SCHEMA = {
    "page": LIST_SCHEMA["page"], "per_page": LIST_SCHEMA["per_page"], "offset": LIST_SCHEMA["offset"],
    "order": LIST_SCHEMA["order"], "orderby": {"type": "string", "enum": ["date", "id", "include", "title",
                                                                          "slug", "modified"]},
    "dates_are_gmt": LIST_SCHEMA["dates_are_gmt"], "modified_after": {"type": "date"},
    "modified_before": {"type": "date"}, "after": {"type": "date"}, "before": {"type": "date"},
    "status": {"type": "list"}, "include": {"type": "idlist"},
}
WRITE_SCHEMA = {
    "stock_quantity": {"type": "integer"},
    "manage_stock": {"type": "boolean"},
    "backorders": {"type": "string", "enum": ["no", "notify", "yes"]},
    "stock_status": {"type": "string", "enum": ["instock", "outofstock", "onbackorder"]},
    "status": {"type": "string", "enum": ["draft", "pending", "private", "publish", "future"]},
    "sku": {"type": "string"}, "name": {"type": "string"}, "regular_price": {"type": "string"},
    "low_stock_amount": {"type": "integer"},
    "type": {"type": "string", "enum": ["simple", "grouped", "external", "variable"]},
}
VARIATION_WRITE_SCHEMA = dict(WRITE_SCHEMA, manage_stock={"type": "boolean", "or_parent": True})
del VARIATION_WRITE_SCHEMA["name"], VARIATION_WRITE_SCHEMA["type"]

# --------------------------------------------------------------------------
# URL helpers (WordPress add_query_arg and friends)
# --------------------------------------------------------------------------


def wp_build_query(items):
    """build_query() without urlencoding, then add_query_arg's '=(&|$)' strip."""
    parts = []

    def emit(prefix, value):
        if isinstance(value, dict):
            for sub_key, sub_value in value.items():
                emit("%s%%5B%s%%5D" % (prefix, sub_key), sub_value)
        elif value is not None:
            parts.append("%s=%s" % (prefix, value))

    for key, value in items:
        emit(key, value)
    return re.sub(r"=(&|$)", r"\1", "&".join(parts))


def _urlencode_deep(value):
    if isinstance(value, dict):
        return {k: _urlencode_deep(v) for k, v in value.items()}
    return php_urlencode(value)


def add_query_arg(args, url):
    """WordPress add_query_arg( array $args, $url )."""
    if "?" in url:
        base, query = url.split("?", 1)
    else:
        base, query = url, ""
    merged = _urlencode_deep(parse_php_query(query))
    for key, value in args.items():
        merged[key] = value
    return (base + "?" + wp_build_query(merged.items())).rstrip("?")


def set_scheme(url, scheme):
    return re.sub(r"^[a-zA-Z]+://", scheme + "://", url)


def sanitize_text_field(text):
    text = re.sub(r"<[^>]*>?", "", text)
    text = re.sub(r"%[a-fA-F0-9]{2}", "", text)
    return re.sub(r"[\r\n\t ]+", " ", text).strip()


def sanitize_title(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def sku_key(sku):
    """MySQL utf8mb4_unicode_ci comparison: case-, accent- and
    trailing-space-insensitive (RW-SÏMPLE-004 finds RW-SIMPLE-004, as the
    real shop answers)."""
    decomposed = unicodedata.normalize("NFD", sku.rstrip(" "))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


# --------------------------------------------------------------------------
# Field filtering (_fields)
# --------------------------------------------------------------------------


def keyed_fields(spec):
    """rest_filter_response_fields(): 'a,b.c' -> {'a': True, 'b': {'c': True}}."""
    keyed = {}
    for field in wp_list_fields(spec):
        parts = field.split(".")
        ref = keyed
        for part in parts[:-1]:
            if ref.get(part) is True:
                break
            ref = ref.setdefault(part, {})
        else:
            ref[parts[-1]] = True
    return keyed


def wp_list_fields(spec):
    return [f.strip() for f in re.split(r"[\s,]+", spec or "") if f.strip()]


def filter_keyed(data, keyed):
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        want = keyed.get(key)
        if want is True:
            out[key] = value
        elif isinstance(want, dict):
            if isinstance(value, list):
                out[key] = [filter_keyed(v, want) for v in value]
            else:
                out[key] = filter_keyed(value, want)
    return out


# --------------------------------------------------------------------------
# The shop
# --------------------------------------------------------------------------

RECORD_DEFAULTS = {
    "type": "simple", "parent_id": 0, "sku": "", "name": "", "slug": None, "status": "publish",
    "manage_stock": False, "stock_quantity": None, "backorders": "no", "stock_status": "instock",
    "price": "", "regular_price": None, "date_created_gmt": None, "date_modified_gmt": None,
    "attributes": [], "low_stock_amount": None, "menu_order": 0, "total_sales": 0,
    "description": "", "short_description": "",
}

V2_PRODUCT_KEYS = (
    "id", "name", "slug", "permalink", "date_created", "date_created_gmt", "date_modified",
    "date_modified_gmt", "type", "status", "featured", "catalog_visibility", "description",
    "short_description", "sku", "price", "regular_price", "sale_price", "date_on_sale_from",
    "date_on_sale_from_gmt", "date_on_sale_to", "date_on_sale_to_gmt", "on_sale", "purchasable",
    "total_sales", "virtual", "downloadable", "downloads", "download_limit", "download_expiry",
    "external_url", "button_text", "tax_status", "tax_class", "manage_stock", "stock_quantity",
    "backorders", "backorders_allowed", "backordered", "low_stock_amount", "sold_individually",
    "weight", "dimensions", "shipping_required", "shipping_taxable", "shipping_class",
    "shipping_class_id", "reviews_allowed", "average_rating", "rating_count", "upsell_ids",
    "cross_sell_ids", "parent_id", "purchase_note", "categories", "tags", "images", "attributes",
    "default_attributes", "variations", "grouped_products", "menu_order", "price_html",
    "related_ids", "meta_data")
V3_EXTRA_KEYS = ("stock_status", "has_options", "permalink_template", "generated_slug")


def load_catalogue(path):
    with open(path, encoding="utf-8") as handle:
        doc = json.load(handle)
    if isinstance(doc, list):
        return doc, {}
    return doc.get("products", []), doc.get("options", {})


class Shop:
    """The shop state. All access goes through ``lock``."""

    def __init__(self, consumer_key, consumer_secret, home_url, catalogue=DEFAULT_CATALOGUE,
                 key_permissions="read_write", stopping=None, webhook_settings=None):
        self.lock = threading.RLock()
        self.catalogue_path = catalogue
        self.config = {"consumer_key": consumer_key, "consumer_secret": consumer_secret,
                       "home_url": home_url, "oauth_check_timestamp": True,
                       "key_permissions": key_permissions}
        self.log = []
        self.webhooks = woo_webhooks.WebhookEngine(self.webhook_payload, lambda: self.config["home_url"],
                                                   stopping, webhook_settings)
        self.reset()

    # ---- state management -------------------------------------------------

    def reset(self, products=None, options=None):
        with self.lock:
            default_products, default_options = load_catalogue(self.catalogue_path)
            self.options = dict(DEFAULT_OPTIONS)
            self.options.update(default_options if products is None else {})
            self.options.update(options or {})
            self.products = {}
            for raw in (default_products if products is None else products):
                record = self.normalize(raw)
                self.products[record["id"]] = record
            self.orders = {}
            self.nonces = {}
            self.log = []
            self.webhooks.reset()

    def normalize(self, raw, existing=None):
        if not isinstance(raw, dict) or "id" not in raw and existing is None:
            raise ValueError("a product needs an id")
        record = copy.deepcopy(existing) if existing else dict(copy.deepcopy(RECORD_DEFAULTS))
        for key, value in raw.items():
            record[key] = copy.deepcopy(value)
        record["id"] = int(record["id"])
        record["parent_id"] = int(record.get("parent_id") or 0)
        if record["type"] not in PRODUCT_TYPES:
            raise ValueError("bad type %r" % record["type"])
        record["sku"] = record.get("sku") or ""
        record["manage_stock"] = bool(record.get("manage_stock"))
        if not record["manage_stock"]:
            record["stock_quantity"] = None
        elif record.get("stock_quantity") is not None:
            record["stock_quantity"] = php_intval(record["stock_quantity"])
        stamp = now_gmt()
        record["date_created_gmt"] = record.get("date_created_gmt") or stamp
        record["date_modified_gmt"] = record.get("date_modified_gmt") or stamp
        return record

    def next_id(self):
        ids = list(self.products) + list(self.orders)
        return max(ids) + 1 if ids else 1

    def get(self, pid):
        return self.products.get(pid)

    def children(self, pid):
        return sorted((p for p in self.products.values()
                       if p["type"] == "variation" and p["parent_id"] == pid), key=lambda p: p["id"])

    def parent_of(self, record):
        if record["type"] == "variation":
            return self.products.get(record["parent_id"])
        return None

    def global_manage(self):
        return str(self.options.get("manage_stock", "yes")) == "yes"

    # ---- effective (view context) values ---------------------------------

    def stock_owner(self, record):
        """The record whose stock applies: the parent for 'parent'-managed variations."""
        parent = self.parent_of(record)
        if parent is not None and not record["manage_stock"] and parent["manage_stock"]:
            return parent
        return record

    def view_manage_stock(self, record):
        if not self.global_manage():
            return False
        if record["manage_stock"]:
            return True
        return "parent" if self.stock_owner(record) is not record else False

    def view_stock_quantity(self, record):
        owner = self.stock_owner(record)
        return owner["stock_quantity"] if owner["manage_stock"] else None

    def view_backorders(self, record):
        owner = self.stock_owner(record)
        return owner["backorders"] if owner["manage_stock"] else record["backorders"]

    def derive_status(self, quantity, backorders):
        threshold = abs(php_intval(self.options.get("notify_no_stock_amount", 0)))
        if php_intval(quantity) > threshold:
            return "instock"
        return "onbackorder" if backorders != "no" else "outofstock"

    def view_stock_status(self, record, _depth=0):
        owner = self.stock_owner(record)
        if owner["manage_stock"]:
            return self.derive_status(owner["stock_quantity"], owner["backorders"])
        if record["type"] == "variable" and _depth == 0:
            statuses = [self.view_stock_status(c, 1) for c in self.children(record["id"])]
            for status in ("instock", "onbackorder", "outofstock"):
                if status in statuses:
                    return status
        return record["stock_status"]

    def view_sku(self, record):
        parent = self.parent_of(record)
        if not record["sku"] and parent is not None:
            return parent["sku"]
        return record["sku"]

    def display_name(self, record):
        parent = self.parent_of(record)
        if record["type"] != "variation" or parent is None:
            return record["name"]
        options = [a.get("option", "") for a in record.get("attributes") or []]
        if options and len(options) <= 2:
            return "%s - %s" % (parent["name"], ", ".join(options))
        return parent["name"]

    def slug(self, record):
        return record.get("slug") or sanitize_title(self.display_name(record)) or str(record["id"])

    def price(self, record):
        if record["type"] == "variable":
            prices = sorted(float(c["price"]) for c in self.children(record["id"]) if c.get("price"))
            return "%.2f" % prices[0] if prices else record.get("price") or ""
        return record.get("price") or ""

    # ---- writes -------------------------------------------------------------

    def touch(self, record):
        record["date_modified_gmt"] = now_gmt()

    def check_sku_unique(self, record, sku):
        if not sku:
            return
        for other in self.products.values():
            if other["id"] != record["id"] and other["status"] != "trash" and other["sku"] \
                    and sku_key(other["sku"]) == sku_key(sku):
                raise WooError(400, "product_invalid_sku", "Invalid or duplicated SKU.",
                               resource_id=other["id"], unique_sku="%s-1" % sku)

    def apply_common_fields(self, record, params):
        """Non-stock fields accepted on updates (a reasonable subset)."""
        if params.get("sku") is not None:
            sku = str(params["sku"])
            self.check_sku_unique(record, sku)
            record["sku"] = sku
        for key in ("name", "description", "short_description", "slug"):
            if params.get(key) is not None:
                record[key] = str(params[key])
        if params.get("status") in POST_STATUSES:
            record["status"] = params["status"]
        if params.get("regular_price") is not None:
            record["regular_price"] = str(params["regular_price"])
            record["price"] = str(params["regular_price"])
        if params.get("menu_order") is not None:
            record["menu_order"] = php_intval(params["menu_order"])
        if "low_stock_amount" in params:
            value = params["low_stock_amount"]
            record["low_stock_amount"] = None if value in (None, "") else php_intval(value)

    def apply_product_stock(self, record, params):
        """V2 products controller prepare_object_for_database(), stock part."""
        stock_status = params.get("stock_status") or record["stock_status"]
        variable = record["type"] == "variable"
        if self.global_manage():
            if params.get("manage_stock") is not None:
                record["manage_stock"] = to_bool(params["manage_stock"])
            if params.get("backorders") is not None:
                record["backorders"] = params["backorders"]
            if record["type"] == "grouped":
                record.update(manage_stock=False, backorders="no", stock_quantity=None, stock_status=stock_status)
            elif record["type"] == "external":
                record.update(manage_stock=False, backorders="no", stock_quantity=None, stock_status="instock")
            elif record["manage_stock"]:
                if not variable:
                    record["stock_status"] = stock_status
                if "stock_quantity" in params:
                    record["stock_quantity"] = php_intval(params["stock_quantity"])
                elif params.get("inventory_delta") is not None:
                    record["stock_quantity"] = php_intval(record["stock_quantity"]) + \
                        php_intval(params["inventory_delta"])
            else:
                record.update(manage_stock=False, stock_quantity=None, backorders="no", stock_status=stock_status)
        elif not variable:
            record["stock_status"] = stock_status

    def apply_variation_stock(self, record, params):
        """V3 variations controller prepare_object_for_database(), stock part."""
        if self.global_manage():
            if params.get("manage_stock") is not None:
                value = params["manage_stock"]
                record["manage_stock"] = False if value == "parent" else to_bool(value)
            if params.get("backorders") is not None:
                record["backorders"] = params["backorders"]
            if record["manage_stock"]:
                if "stock_quantity" in params:
                    record["stock_quantity"] = php_intval(params["stock_quantity"])
                elif params.get("inventory_delta") is not None:
                    record["stock_quantity"] = php_intval(record["stock_quantity"]) + \
                        php_intval(params["inventory_delta"])
            else:
                # A 'parent'-managed variation: its own quantity is cleared on save.
                record.update(backorders="no", stock_quantity=None)
        if params.get("stock_status") in ("instock", "outofstock", "onbackorder"):
            record["stock_status"] = params["stock_status"]

    def update_product(self, pid, params):
        """PUT /products/{id} (also a products batch 'update' item)."""
        record = self.get(pid)
        if record is None:
            raise WooError(400, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        if record["type"] == "variation":
            raise WooError(404, "woocommerce_rest_invalid_product_id", MSG_USE_VARIATIONS)
        work = copy.deepcopy(record)
        self.apply_common_fields(work, params)
        self.apply_product_stock(work, params)
        self.touch(work)
        self.products[pid] = work
        self.saved(record, work)
        return work

    def update_variation(self, route_pid, vid, params):
        """PUT /products/{pid}/variations/{id} (also a variations batch item).

        The item's own product_id (if any) or the URL's becomes the parent:
        a variation sent to another parent's batch is moved there."""
        record = self.get(vid)
        if record is None or record["type"] != "variation":
            raise WooError(400, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
        new_parent_id = php_intval(params.get("product_id", route_pid))
        new_parent = self.get(new_parent_id)
        if new_parent is None:
            raise WooError(400, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
        work = copy.deepcopy(record)
        self.apply_common_fields(work, params)
        self.apply_variation_stock(work, params)
        if new_parent_id != work["parent_id"]:
            names = {a.get("name") for a in new_parent.get("attributes") or []}
            work["attributes"] = [a for a in work.get("attributes") or [] if a.get("name") in names]
            work["parent_id"] = new_parent_id
        self.touch(work)
        self.products[vid] = work
        self.saved(record, work)
        return work

    def create_product(self, params, variation_parent=None):
        if params.get("id"):
            post_type = "product_variation" if variation_parent else "product"
            raise WooError(400, "woocommerce_rest_%s_exists" % post_type, "Cannot create existing %s." % post_type)
        ptype = "variation" if variation_parent else params.get("type") or "simple"
        record = self.normalize({"id": self.next_id(), "type": ptype,
                                 "parent_id": variation_parent or 0,
                                 "name": str(params.get("name") or ("Product" if not variation_parent else "")),
                                 "attributes": params.get("attributes") if variation_parent else []})
        if variation_parent and isinstance(record["attributes"], list):
            record["attributes"] = [{"name": a.get("name", ""), "option": a.get("option", "")}
                                    for a in record["attributes"] if isinstance(a, dict)]
        self.apply_common_fields(record, params)
        if variation_parent:
            self.apply_variation_stock(record, params)
        else:
            self.apply_product_stock(record, params)
        self.products[record["id"]] = record
        self.webhooks.fire("product", "created", record["id"])
        return record

    def delete_product(self, pid, force, variation_route=False):
        record = self.get(pid)
        post_type = "product_variation" if variation_route else "product"
        if record is None or (variation_route and record["type"] != "variation"):
            raise WooError(404, "woocommerce_rest_%s_invalid_id" % post_type, "Invalid ID.")
        if not force:
            if record["status"] == "trash":
                raise WooError(410, "woocommerce_rest_already_trashed",
                               "The %s has already been deleted." % post_type.replace("_", " "))
            record["status"] = "trash"
            self.touch(record)
            self.webhooks.fire("product", "deleted", pid)  # wp_trash_post; a forced delete fires nothing
            return record
        snapshot = copy.deepcopy(record)
        for child in self.children(pid):
            del self.products[child["id"]]
        del self.products[pid]
        return snapshot

    def sale(self, pid, quantity, at=None):
        """An order paid in the shop: reduces stock like wc_reduce_stock_levels()."""
        record = self.get(pid)
        if record is None:
            raise ValueError("no product %s" % pid)
        owner = self.stock_owner(record)
        reduced = None
        if owner["manage_stock"] and self.global_manage():
            owner["stock_quantity"] = php_intval(owner["stock_quantity"]) - quantity
            reduced = quantity
        record["total_sales"] = php_intval(record.get("total_sales")) + quantity
        parent = self.parent_of(record)
        for item in {id(r): r for r in (record, owner, parent) if r is not None}.values():
            self.touch(item)
        order = self.make_order(record, quantity, reduced, at)
        if reduced is not None:
            self.stock_saved(owner)
        self.webhooks.fire("order", "created", order["id"])
        self.webhooks.fire("order", "updated", order["id"])  # paid: the order is saved again
        return record, order

    def cancel_order(self, oid):
        """The order cancelled in the shop: the stock it reduced comes back
        (wc_increase_stock_levels), as when a refund restocks its items."""
        order = self.orders[oid]
        if order["status"] == "cancelled":
            raise ValueError("order %s is already cancelled" % oid)
        for line in order["line_items"]:
            reduced = [m for m in line["meta_data"] if m["key"] == "_reduced_stock"]
            record = self.get(line["variation_id"] or line["product_id"])
            if not reduced or record is None:
                continue
            owner = self.stock_owner(record)
            owner["stock_quantity"] = php_intval(owner["stock_quantity"]) + php_intval(reduced[0]["value"])
            self.touch(owner)
            line["meta_data"] = [m for m in line["meta_data"] if m["key"] != "_reduced_stock"]
            self.stock_saved(owner)
        order["status"] = "cancelled"
        order["date_modified_gmt"] = now_gmt()
        self.webhooks.fire("order", "updated", oid)
        return order

    # ---- webhooks (woo_webhooks.py) ---------------------------------------------

    def saved(self, before, after):
        """A product or variation saved through its data store: its update hook,
        and the set_stock action when its quantity changed (handle_updated_props)."""
        self.webhooks.fire("product", "updated", after["id"])
        if before.get("stock_quantity") != after.get("stock_quantity"):
            self.webhooks.fire_action("woocommerce_variation_set_stock" if after["type"] == "variation"
                                      else "woocommerce_product_set_stock")

    def stock_saved(self, owner):
        """wc_update_product_stock(): the record that holds the stock is saved
        (a 'parent'-managed variation's sale saves the parent)."""
        self.webhooks.fire("product", "updated", owner["id"])
        self.webhooks.fire_action("woocommerce_variation_set_stock" if owner["type"] == "variation"
                                  else "woocommerce_product_set_stock")

    def webhook_payload(self, resource, event, arg):
        """What WC_Webhook::build_payload() sends: the wc/v3 object as a GET by
        the webhook's user would answer it, built now."""
        if resource == "action":
            return {"action": event, "arg": arg}
        if event == "deleted":
            return {"id": arg}
        with self.lock:
            serializer = Serializer(self, self.config["home_url"])
            if resource == "product":
                record = self.get(arg)
                if record is None:
                    return WooError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.").body()
                return dict(serializer.product(record), _links=serializer.product_links(record))
            if resource == "order":
                order = self.orders.get(arg)
                if order is None:
                    return WooError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.").body()
                return dict(serializer.order(order), _links={
                    "self": [{"href": "%s/wc/v3/orders/%d" % (serializer.rest, arg)}],
                    "collection": [{"href": "%s/wc/v3/orders" % serializer.rest}]})
        return {}

    def make_order(self, record, quantity, reduced, at=None):
        stamp = at or now_gmt()
        oid = self.next_id()
        parent = self.parent_of(record)
        meta = []
        if reduced is not None:
            meta.append({"id": oid * 10 + 1, "key": "_reduced_stock", "value": str(reduced),
                         "display_key": "_reduced_stock", "display_value": str(reduced)})
        price = self.price(record) or "0.00"
        total = "%.2f" % (float(price) * quantity)
        self.orders[oid] = {
            "id": oid, "status": "processing", "date_created_gmt": stamp, "date_modified_gmt": stamp,
            "total": total,
            "line_items": [{
                "id": oid * 10, "name": self.display_name(record),
                "product_id": parent["id"] if parent else record["id"],
                "variation_id": record["id"] if parent else 0, "quantity": quantity,
                "tax_class": "", "subtotal": total, "subtotal_tax": "0.00", "total": total, "total_tax": "0.00",
                "taxes": [], "meta_data": meta, "sku": self.view_sku(record), "price": float(price)}],
        }
        return self.orders[oid]


# --------------------------------------------------------------------------
# Serializers
# --------------------------------------------------------------------------


def price_html(price):
    if price in (None, ""):
        return ""
    return ('<span class="woocommerce-Price-amount amount"><bdi><span class="woocommerce-Price-currencySymbol">'
            '&#36;</span>%s</bdi></span>' % price)


class Serializer:
    """Builds API objects from records for one request (home URL, scheme)."""

    def __init__(self, shop, home):
        self.shop = shop
        self.home = home.rstrip("/")
        self.rest = self.home + "/wp-json"

    def permalink(self, record):
        parent = self.shop.parent_of(record)
        if record["type"] == "variation" and parent is not None:
            base = self.permalink(parent)
            attrs = [a for a in record.get("attributes") or [] if a.get("option")]
            if attrs:
                base += "?" + "&".join("attribute_%s=%s" % (sanitize_title(a.get("name", "")),
                                                            php_urlencode(a["option"])) for a in attrs)
            return base
        if record["status"] in ("draft", "pending", "future"):
            return "%s/?post_type=product&p=%d" % (self.home, record["id"])
        return "%s/product/%s/" % (self.home, self.shop.slug(record))

    def related_ids(self, record):
        pool = [p["id"] for p in self.shop.products.values()
                if p["type"] != "variation" and p["id"] != record["id"] and p["status"] == "publish"]
        pool.sort(key=lambda i: (i * 7919 + record["id"] * 104729) % 1009)
        return pool[:5]

    def attributes(self, record):
        if record["type"] == "variation":
            return [{"id": 0, "name": a.get("name", ""), "option": a.get("option", "")}
                    for a in record.get("attributes") or []]
        return [{"id": 0, "name": a.get("name", ""), "position": i, "visible": True,
                 "variation": record["type"] == "variable", "options": list(a.get("options") or [])}
                for i, a in enumerate(record.get("attributes") or [])]

    def stock_block(self, record):
        shop = self.shop
        status = shop.view_stock_status(record)
        backorders = shop.view_backorders(record)
        return {
            "manage_stock": shop.view_manage_stock(record),
            "stock_quantity": shop.view_stock_quantity(record),
            "stock_status": status,
            "backorders": backorders,
            "backorders_allowed": backorders != "no",
            "backordered": status == "onbackorder",
        }

    def product(self, record, context="view"):
        """Full object of the products endpoint (V2 keys, then V3 extras)."""
        shop = self.shop
        variation = record["type"] == "variation"
        stock = self.stock_block(record)
        price = shop.price(record)
        regular = record.get("regular_price")
        regular = price if regular is None else regular
        if record["type"] == "variable":
            regular = ""
        children = shop.children(record["id"]) if record["type"] == "variable" else []
        child_prices = sorted({float(c["price"]) for c in children if c.get("price")})
        if len(child_prices) > 1:
            html = "%s &ndash; %s" % (price_html("%.2f" % child_prices[0]), price_html("%.2f" % child_prices[-1]))
        else:
            html = price_html(price)
        data = {
            "id": record["id"], "name": shop.display_name(record), "slug": shop.slug(record),
            "permalink": self.permalink(record),
            "date_created": record["date_created_gmt"], "date_created_gmt": record["date_created_gmt"],
            "date_modified": record["date_modified_gmt"], "date_modified_gmt": record["date_modified_gmt"],
            "type": record["type"], "status": record["status"], "featured": False,
            "catalog_visibility": "visible", "description": record.get("description", ""),
            "short_description": record.get("short_description", ""), "sku": shop.view_sku(record),
            "price": price, "regular_price": regular, "sale_price": "",
            "date_on_sale_from": None, "date_on_sale_from_gmt": None,
            "date_on_sale_to": None, "date_on_sale_to_gmt": None, "on_sale": False,
            "purchasable": price != "",
            "total_sales": str(record.get("total_sales", 0)) if variation else php_intval(record.get("total_sales")),
            "virtual": False, "downloadable": False, "downloads": [], "download_limit": -1,
            "download_expiry": -1, "external_url": "", "button_text": "", "tax_status": "taxable",
            "tax_class": "", "manage_stock": stock["manage_stock"], "stock_quantity": stock["stock_quantity"],
            "backorders": stock["backorders"], "backorders_allowed": stock["backorders_allowed"],
            "backordered": stock["backordered"], "low_stock_amount": record.get("low_stock_amount"),
            "sold_individually": False, "weight": "", "dimensions": {"length": "", "width": "", "height": ""},
            "shipping_required": True, "shipping_taxable": True, "shipping_class": "", "shipping_class_id": 0,
            "reviews_allowed": not variation, "average_rating": "0.00" if variation else "0",
            "rating_count": 0, "upsell_ids": [], "cross_sell_ids": [], "parent_id": record["parent_id"],
            "purchase_note": "",
            "categories": [] if variation else [{"id": 15, "name": "Uncategorized", "slug": "uncategorized"}],
            "tags": [], "images": [], "attributes": self.attributes(record), "default_attributes": [],
            "variations": [c["id"] for c in children], "grouped_products": [],
            "menu_order": record.get("menu_order", 0),
            "price_html": html, "related_ids": [] if variation else self.related_ids(record), "meta_data": [],
            "stock_status": stock["stock_status"], "has_options": record["type"] == "variable",
        }
        if context == "edit" and not variation:
            data["permalink_template"] = "%s/product/%%pagename%%/" % self.home
            data["generated_slug"] = shop.slug(record)
        return data

    def product_links(self, record):
        links = {"self": [{"href": "%s/wc/v3/products/%d" % (self.rest, record["id"])}],
                 "collection": [{"href": "%s/wc/v3/products" % self.rest}]}
        if record["parent_id"]:
            links["up"] = [{"href": "%s/wc/v3/products/%d" % (self.rest, record["parent_id"])}]
        return links

    def variation(self, record, analytics=False):
        """Full object of the variations endpoint (and of /wc-analytics/variations)."""
        shop = self.shop
        stock = self.stock_block(record)
        price = shop.price(record)
        regular = record.get("regular_price")
        data = {
            "id": record["id"],
            "date_created": record["date_created_gmt"], "date_created_gmt": record["date_created_gmt"],
            "date_modified": record["date_modified_gmt"], "date_modified_gmt": record["date_modified_gmt"],
            "description": record.get("description", ""), "permalink": self.permalink(record),
            "sku": shop.view_sku(record), "price": price, "regular_price": price if regular is None else regular,
            "sale_price": "", "date_on_sale_from": None, "date_on_sale_from_gmt": None,
            "date_on_sale_to": None, "date_on_sale_to_gmt": None, "on_sale": False,
            "status": record["status"], "purchasable": price != "", "virtual": False, "downloadable": False,
            "downloads": [], "download_limit": -1, "download_expiry": -1, "tax_status": "taxable",
            "tax_class": "", "manage_stock": stock["manage_stock"], "stock_quantity": stock["stock_quantity"],
            "stock_status": stock["stock_status"], "backorders": stock["backorders"],
            "backorders_allowed": stock["backorders_allowed"], "backordered": stock["backordered"],
            "low_stock_amount": record.get("low_stock_amount"), "weight": "",
            "dimensions": {"length": "", "width": "", "height": ""}, "shipping_class": "",
            "shipping_class_id": 0, "image": None, "attributes": self.attributes(record),
            "menu_order": record.get("menu_order", 0), "meta_data": [],
        }
        if analytics:
            data["name"] = shop.display_name(record)
            data["type"] = "variation"
            data["parent_id"] = record["parent_id"]
        return data

    def variation_links(self, record, route_pid, namespace="wc/v3"):
        base = "%s/%s/products/%d" % (self.rest, namespace, route_pid)
        return {"self": [{"href": "%s/variations/%d" % (base, record["id"])}],
                "collection": [{"href": "%s/variations" % base}],
                "up": [{"href": base}]}

    def order(self, order):
        items = []
        for line in order["line_items"]:
            items.append(dict(line, image={"id": "", "src": ""}, parent_name=None))
        return {
            "id": order["id"], "parent_id": 0, "status": order["status"], "currency": "USD",
            "version": "7.8.2", "prices_include_tax": False,
            "date_created": order["date_created_gmt"], "date_modified": order["date_modified_gmt"],
            "discount_total": "0.00", "discount_tax": "0.00", "shipping_total": "0.00", "shipping_tax": "0.00",
            "cart_tax": "0.00", "total": order["total"], "total_tax": "0.00", "customer_id": 0,
            "order_key": "wc_order_fake%d" % order["id"],
            "billing": {"first_name": "Test", "last_name": "Buyer", "email": "buyer@example.com"},
            "shipping": {}, "payment_method": "bacs", "payment_method_title": "Direct bank transfer",
            "transaction_id": "", "created_via": "checkout", "customer_note": "",
            "date_completed": None, "date_paid": order["date_created_gmt"], "cart_hash": "",
            "number": str(order["id"]), "meta_data": [], "line_items": items, "tax_lines": [],
            "shipping_lines": [], "fee_lines": [], "coupon_lines": [], "refunds": [],
            "payment_url": "%s/checkout/order-pay/%d/" % (self.home, order["id"]),
            "is_editable": False, "needs_payment": False, "needs_processing": True,
            "date_created_gmt": order["date_created_gmt"], "date_modified_gmt": order["date_modified_gmt"],
            "date_completed_gmt": None, "date_paid_gmt": order["date_created_gmt"], "currency_symbol": "$",
        }


def shape_product(data, fields):
    """_fields on the products endpoint: V2 fields in requested order (WC loops over
    the requested list), then the V3 extras; 'id' always kept; nested 'a.b' honoured."""
    if fields is None:
        return data
    requested = wp_list_fields(fields)
    if not requested:
        return data
    keyed = keyed_fields(fields)
    keyed.setdefault("id", True)
    order = []
    for field in requested + ["id"]:
        top = field.split(".")[0]
        if top in V2_PRODUCT_KEYS and top not in order:
            order.append(top)
    order += [k for k in V3_EXTRA_KEYS if k in keyed]
    shaped = {k: data[k] for k in order if k in data}
    return filter_keyed(shaped, keyed)


def shape_generic(data, fields):
    """_fields elsewhere: keep data order, 'id' always kept."""
    if fields is None or not wp_list_fields(fields):
        return data
    keyed = keyed_fields(fields)
    keyed.setdefault("id", True)
    return filter_keyed(data, keyed)


# --------------------------------------------------------------------------
# OAuth 1.0a (WC_REST_Authentication::perform_oauth_authentication, WC 7.8)
# --------------------------------------------------------------------------


def _rfc3986(value):
    return php_rawurlencode(value).replace("%7E", "~")


def _normalized_pairs(params, prefix=None):
    pairs = []
    for key, value in params.items():
        name = _rfc3986(key)
        if prefix:
            name = "%s%%5B%s%%5D" % (prefix, name)
        if isinstance(value, dict):
            pairs.extend(_normalized_pairs(value, name))
        else:
            pairs.append(_rfc3986("%s=%s" % (name, _rfc3986(value))))
    return pairs


def oauth_base_string(method, home_url, scheme, raw_path, params):
    """The signature base string exactly as check_oauth_signature() builds it."""
    home = set_scheme(home_url.rstrip("/"), scheme)
    home_path = urlsplit(home).path.rstrip("/") + "/"
    request_path = raw_path
    if request_path.startswith(home_path):
        request_path = request_path[len(home_path):]
    base_uri = home + "/" + request_path.lstrip("/")
    ordered = {k: params[k] for k in sorted(params, key=lambda k: k.encode("utf-8"))
               if k != "oauth_signature"}
    query = "%26".join(_normalized_pairs(ordered))
    return "%s&%s&%s" % (method.upper(), php_rawurlencode(base_uri), query)


def oauth_signature(base_string, consumer_secret, method_name):
    algo = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}[method_name]
    digest = hmac.new((consumer_secret + "&").encode(), base_string.encode("utf-8"), algo).digest()
    return base64.b64encode(digest).decode()


def parse_oauth_header(header):
    """WC parse_header(): only oauth_* parameters, urldecoded."""
    header = (header or "").strip()
    if not header.startswith("OAuth "):
        return {}
    params = {}
    for match in re.finditer(r'(oauth_[a-z_-]*)=(:?"([^"]*)"|([^,]*))', header):
        params[match.group(1)] = php_urldecode(match.group(3) if match.group(3) else (match.group(4) or ""))
    return params


def oauth_error(message, code="woocommerce_rest_authentication_error"):
    return WooError(401, code, message)


def verify_oauth(method, raw_path, params, consumer_key, consumer_secret, home_url, scheme,
                 nonces, check_timestamp=True, now=None):
    """Check one OAuth-signed request.

    params: all query + form params merged with the header's oauth_* ones.
    nonces: dict {timestamp: nonce} of this key (updated on success).
    Returns None when the request is authenticated, else a WooError."""
    if params.get("oauth_consumer_key") != consumer_key:
        return oauth_error("Consumer key is invalid.")
    signature_method = params.get("oauth_signature_method")
    if signature_method not in ("HMAC-SHA1", "HMAC-SHA256"):
        return oauth_error("Invalid signature - signature method is invalid.")
    provided = php_rawurldecode(str(params["oauth_signature"]).replace(" ", "+"))
    base = oauth_base_string(method, home_url, scheme, raw_path, params)
    expected = oauth_signature(base, consumer_secret, signature_method)
    if not hmac.compare_digest(expected.encode(), provided.encode("utf-8", "replace")):
        return oauth_error("Invalid signature - provided signature does not match.")
    now = time.time() if now is None else now
    timestamp = php_intval(params.get("oauth_timestamp"))
    if check_timestamp and not now - OAUTH_WINDOW <= timestamp <= now + OAUTH_WINDOW:
        return oauth_error("Invalid timestamp.")
    nonce = params.get("oauth_nonce")
    if nonce in nonces.values():
        return oauth_error("Invalid nonce - nonce has already been used.")
    nonces[timestamp] = nonce  # keyed by timestamp, as WooCommerce stores them
    if check_timestamp:
        for stamp in [s for s in nonces if s < now - OAUTH_WINDOW]:
            del nonces[stamp]
    return None


# --------------------------------------------------------------------------
# HTTP handler
# --------------------------------------------------------------------------

WP_HEADERS = [
    ("X-Robots-Tag", "noindex"),
    ("X-Content-Type-Options", "nosniff"),
    ("Access-Control-Expose-Headers", "X-WP-Total, X-WP-TotalPages, Link"),
    ("Access-Control-Allow-Headers", "Authorization, X-WP-Nonce, Content-Disposition, Content-MD5, Content-Type"),
]
WP_TRAILER = [("Expires", "Wed, 11 Jan 1984 05:00:00 GMT"),
              ("Cache-Control", "no-cache, must-revalidate, max-age=0")]

ROUTES = []


def route(methods, pattern, allow):
    """Register a REST route: methods, regex on the path after /wp-json, Allow header."""
    def register(func):
        ROUTES.append((set(methods.split()), re.compile("^" + pattern + "$"), func, allow))
        return func
    return register


EDIT = "POST PUT PATCH"


class WooHandler(FakeHandler):

    # ---- helpers -----------------------------------------------------------

    @property
    def shop(self):
        return self.server.shop

    def home(self):
        return set_scheme(self.shop.config["home_url"], self.server.scheme)

    def json_answer(self, status, data, extra_headers=None, pagination_links=None, allow=None):
        headers = [WP_HEADERS[0]]
        if not pagination_links:
            headers.append(("Link", '<%s/wp-json/>; rel="https://api.w.org/"' % self.home()))
        headers.extend(WP_HEADERS[1:])
        headers.extend(extra_headers or [])
        if pagination_links:
            headers.append(("Link", ", ".join('<%s>; rel="%s"' % (url, rel) for rel, url in pagination_links)))
        if allow:
            headers.append(("Allow", allow))
        headers.extend(WP_TRAILER)
        return Response(status, php_json(data), headers)

    def error_answer(self, error, allow=None):
        return self.json_answer(error.status, error.body(), allow=allow)

    def fault_default_response(self, status):
        return self.json_answer(status, {"code": "internal_server_error", "message":
                                         "<p>There has been a critical error on this website.</p>",
                                         "data": {"status": status}})

    def route_path(self):
        """Strip the Home URL's path prefix (a WordPress installed in a sub-directory)."""
        prefix = urlsplit(self.shop.config["home_url"]).path.rstrip("/")
        path = self.raw_path
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix):]
        return path

    # ---- authentication ----------------------------------------------------

    def authenticate(self, path):
        """Returns (authenticated, error) following WC_REST_Authentication (7.8)."""
        self.auth_method = "none"
        if not (path.startswith("/wp-json/wc/") or path.startswith("/wp-json/wc-")):
            return False, None
        config = self.shop.config
        error = None
        if self.is_tls:
            key, secret, method = self._basic_credentials()
            if key and secret:
                if key == config["consumer_key"]:
                    if hmac.compare_digest(secret.encode(), config["consumer_secret"].encode()):
                        self.auth_method = method
                        return self._check_key_permissions()
                    error = oauth_error("Consumer secret is invalid.")
        params, oauth_error_found = self._oauth_params()
        if oauth_error_found:
            return False, oauth_error_found
        if params:
            failure = error or verify_oauth(self.command, self.raw_path, params, config["consumer_key"],
                                   config["consumer_secret"], config["home_url"], self.server.scheme,
                                   self.shop.nonces.setdefault(config["consumer_key"], {}),
                                   check_timestamp=config["oauth_check_timestamp"])
            if failure:
                return False, failure
            self.auth_method = "oauth"
            return self._check_key_permissions()
        return False, error

    def _basic_credentials(self):
        if self.query.get("consumer_key") not in (None, "", "0") and \
                self.query.get("consumer_secret") not in (None, "", "0"):
            return str(self.query["consumer_key"]), str(self.query["consumer_secret"]), "query"
        header = self.headers.get("Authorization") or ""
        if header[:6].lower() == "basic ":
            try:
                user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, None, None
            return user, password, "basic"
        return None, None, None

    def _oauth_params(self):
        params = dict(self.query)
        params.update(self.form_params())
        params.update(parse_oauth_header(self.headers.get("Authorization")))
        missing = [name for name in OAUTH_PARAMS if params.get(name) in (None, "", "0")]
        if len(missing) == len(OAUTH_PARAMS):
            return {}, None
        if missing:
            message = ("Missing OAuth parameter %s" if len(missing) == 1 else "Missing OAuth parameters %s") \
                % ", ".join(missing)
            return {}, oauth_error(message, "woocommerce_rest_authentication_missing_parameter")
        return params, None

    def _check_key_permissions(self):
        permissions = self.shop.config.get("key_permissions", "read_write")
        if self.command in ("GET", "HEAD"):
            if permissions not in ("read", "read_write"):
                return False, oauth_error("The API key provided does not have read permissions.")
        elif permissions not in ("write", "read_write"):
            return False, oauth_error("The API key provided does not have write permissions.")
        return True, None

    # ---- request parsing ---------------------------------------------------

    def content_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def form_params(self):
        if self.content_type() == "application/x-www-form-urlencoded" and self.command != "GET":
            return parse_php_query(self.body.decode("utf-8", "replace"))
        return {}

    def json_params(self):
        """The JSON body like WP_REST_Request::parse_json_params()."""
        if self.content_type() != "application/json" or not self.body.strip():
            return {}
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.", json_error_code=5,
                           json_error_message="Malformed UTF-8 characters, possibly incorrectly encoded")
        try:
            data = json.loads(text)
        except ValueError:
            raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.", json_error_code=4,
                           json_error_message="Syntax error")
        self.log_body = data
        return data if isinstance(data, dict) else {}

    # ---- dispatch ------------------------------------------------------------

    def handle_api(self):
        """One request as WordPress runs it: the route under the shop's lock, then
        WooCommerce's shutdown work for webhooks (pings, then queueing or
        synchronous deliveries) once the lock is released."""
        self.after_answer_items = None
        self.run_queue_after = False
        self.auth_method = "none"
        self.auth_error = self.batch_items = self.log_body = None
        path = self.route_path()
        if path == "/wp-cron.php":
            self.run_queue_after = self.shop.webhooks.cron_due()
            return Response(200, b"", content_type="text/html; charset=UTF-8")
        if path == "/wp-admin/admin-ajax.php":
            self.shop.webhooks.admin_hit()
            return Response(400, b"0", content_type="text/html; charset=UTF-8")
        webhooks = self.shop.webhooks
        webhooks.begin()
        try:
            response = self.handle_rest()
        finally:
            self.after_answer_items = webhooks.end()
        return response

    def after_answer(self):
        """After the answer, on the same worker: deliveries of the
        after_response mode, the queue run of a due wp-cron.php."""
        items, self.after_answer_items = getattr(self, "after_answer_items", None), None
        if items:
            self.shop.webhooks.after_answer(items)
        if getattr(self, "run_queue_after", False):
            self.run_queue_after = False
            self.shop.webhooks.run_queue()

    def handle_rest(self):
        self.auth_method = "none"
        self.auth_error = None
        self.batch_items = None
        self.log_body = None
        allow = None
        try:
            with self.shop.lock:
                path = self.route_path()
                if not path.startswith("/wp-json"):
                    return Response(404, b"<html><body><h1>Not Found</h1></body></html>",
                                    content_type="text/html; charset=UTF-8")
                authenticated, error = self.authenticate(path)
                if error:
                    self.auth_error = error.code
                    raise error
                rest_path = path[len("/wp-json"):] or "/"
                method = "GET" if self.command == "HEAD" else self.command
                for methods, regex, func, allow_header in ROUTES:
                    match = regex.match(rest_path)
                    if match and method in methods:
                        allow = allow_header
                        body = self.json_params() if method != "GET" else {}
                        params = dict(self.query)
                        params.update(self.form_params())
                        params.update(body)
                        return func(self, match, params, body, authenticated, allow)
                raise WooError(404, "rest_no_route", "No route was found matching the URL and request method.")
        except WooError as error:
            return self.error_answer(error, allow)

    def require(self, authenticated, code, message):
        """Permission callback: anonymous requests fail with 401 (403 would be a
        logged-in user without the capability; every key here is an admin's)."""
        if not authenticated:
            raise WooError(401, code, message)

    def paginate(self, records, params, link_base):
        per_page = params.get("per_page", 10)
        page = params.get("page", 1)
        total = len(records)
        pages = int(math.ceil(total / float(per_page))) if total else 0
        start = max(0, params["offset"] if "offset" in params else (page - 1) * per_page)
        chunk = records[start:start + per_page]
        # WC_REST_CRUD_Controller::get_items(): base = add_query_arg(query params, rest_url(rest_base))
        base = add_query_arg(dict(self.query), link_base)
        links = []
        if page > 1:
            links.append(("prev", add_query_arg({"page": min(page - 1, pages)}, base)))
        if pages > page:
            links.append(("next", add_query_arg({"page": page + 1}, base)))
        headers = [("X-WP-Total", str(total)), ("X-WP-TotalPages", str(pages))]
        return chunk, headers, links

    @staticmethod
    def sort_records(records, params, key_funcs, reverse_ties=False, default_orderby="date"):
        orderby = params.get("orderby", default_orderby)
        descending = params.get("order", "desc") == "desc"
        tie_descending = descending != reverse_ties
        records = sorted(records, key=lambda r: r["id"], reverse=tie_descending)
        if orderby == "include" and params.get("include"):
            position = {pid: i for i, pid in enumerate(params["include"])}
            return sorted(records, key=lambda r: position.get(r["id"], 0))
        if orderby != "id":
            records.sort(key=key_funcs[orderby], reverse=descending)
        else:
            records.sort(key=lambda r: r["id"], reverse=descending)
        return records

    def sort_keys(self):
        shop = self.shop
        return {
            "date": lambda r: r["date_created_gmt"], "modified": lambda r: r["date_modified_gmt"],
            "title": lambda r: shop.display_name(r).lower(), "slug": lambda r: shop.slug(r),
            "menu_order": lambda r: r.get("menu_order", 0),
            "price": lambda r: float(shop.price(r) or 0), "popularity": lambda r: php_intval(r.get("total_sales")),
            "rating": lambda r: 0, "include": lambda r: 0,
        }

    @staticmethod
    def date_filters(records, params, created="date_created_gmt", modified="date_modified_gmt"):
        out = []
        for record in records:
            if "modified_after" in params and not record[modified] > params["modified_after"]:
                continue
            if "modified_before" in params and not record[modified] < params["modified_before"]:
                continue
            if "after" in params and not record[created] > params["after"]:
                continue
            if "before" in params and not record[created] < params["before"]:
                continue
            out.append(record)
        return out

    def collection_answer(self, items, headers, links, allow):
        return self.json_answer(200, items, extra_headers=headers, pagination_links=links, allow=allow)

    def item_answer(self, data, links, fields, shaper=shape_generic, status=200, allow=None):
        body = shaper(data, fields)
        body["_links"] = links
        return self.json_answer(status, body, allow=allow)

    def list_item(self, data, links, fields, shaper):
        if fields is None or not wp_list_fields(fields):
            data = dict(data)
            data["_links"] = links
            return data
        keyed = keyed_fields(fields)
        item = shaper(data, fields)
        if "_links" in keyed:
            item["_links"] = links
        return item

    # ---- control API ---------------------------------------------------------

    def handle_control(self):
        """Control requests are shop-side actions: what they save fires the
        webhooks' hooks like a request of the shop would."""
        self.after_answer_items = None
        self.run_queue_after = False
        try:
            payload = self.json_body() if self.command in ("POST", "PUT") else {}
        except ValueError:
            return control_json(400, {"error": "invalid JSON"})
        if self.raw_path.startswith("/_control/webhooks"):
            try:
                return self.control_webhooks(self.raw_path[len("/_control/webhooks"):], payload)
            except (KeyError, TypeError, ValueError) as error:
                return control_json(400, {"error": "%s: %s" % (type(error).__name__, error)})
        webhooks = self.shop.webhooks
        webhooks.begin()
        try:
            return self.control_shop(payload)
        finally:
            self.after_answer_items = webhooks.end()

    def control_webhooks(self, path, payload):
        """/_control/webhooks...: never under the shop's lock (they may send)."""
        engine = self.shop.webhooks
        post = self.command == "POST"
        if path == "":
            return control_json(200, engine.snapshot())
        if path == "/create" and post:
            engine.begin()
            try:
                record = engine.control_create(payload)
            finally:
                engine.end()  # the ping, before answering
            return control_json(200, engine.get(record["id"]))
        if path == "/edit" and post:
            return control_json(200, engine.control_edit(int(payload["id"]), payload))
        if path == "/queue":
            return control_json(200, engine.queue())
        if path == "/run" and post:
            return control_json(200, engine.run_queue(payload.get("limit")))
        if path == "/deliveries":
            webhook_id = self.query.get("webhook_id")
            return control_json(200, engine.delivery_log(php_intval(self.query.get("since", 0)),
                                                         int(webhook_id) if webhook_id else None,
                                                         self.query.get("kind") or None))
        if path == "/deliveries/clear" and post:
            engine.clear_deliveries()
            return control_json(200, {"ok": True})
        if path == "/replay" and post:
            matches = [d for d in engine.delivery_log() if d["id"] == int(payload["id"])]
            if not matches:
                raise ValueError("no delivery %s" % payload["id"])
            return control_json(200, engine.replay(matches[0], payload.get("url")))
        if path == "/config":
            if post:
                return control_json(200, engine.configure(payload))
            return control_json(200, dict(engine.settings))
        return control_json(404, {"error": "no such control endpoint"})

    def control_shop(self, payload):
        shop = self.shop
        path = self.raw_path
        try:
            with shop.lock:
                if path == "/_control/health":
                    return control_json(200, {"ok": True})
                if path == "/_control/reset" and self.command == "POST":
                    shop.reset(payload.get("products"), payload.get("options"))
                    self.server.faults.clear()
                    return control_json(200, {"ok": True, "products": len(shop.products)})
                if path == "/_control/products":
                    if self.command == "POST":
                        return control_json(200, self.control_edit_products(payload))
                    return control_json(200, sorted(shop.products.values(), key=lambda r: r["id"]))
                if path == "/_control/sale" and self.command == "POST":
                    # "at": when the order was placed (GMT, whole seconds), for tests
                    # of orders in the same second as something else.
                    at = payload.get("at")
                    if at is not None and not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", at):
                        raise ValueError("at must be YYYY-MM-DDTHH:MM:SS")
                    record, order = shop.sale(int(payload["id"]), php_intval(payload.get("quantity", 1)), at)
                    return control_json(200, {"product": record, "order": order})
                if path == "/_control/cancel" and self.command == "POST":
                    return control_json(200, shop.cancel_order(int(payload["id"])))
                if path == "/_control/orders":
                    if self.command == "POST":
                        # Re-dates an order: {"id": N, "at": "YYYY-MM-DDTHH:MM:SS"}.
                        order = shop.orders[int(payload["id"])]
                        order["date_created_gmt"] = order["date_modified_gmt"] = str(payload["at"])
                    return control_json(200, sorted(shop.orders.values(), key=lambda o: o["id"]))
                if path == "/_control/log":
                    return control_json(200, shop.log)
                if path == "/_control/log/clear" and self.command == "POST":
                    shop.log = []
                    return control_json(200, {"ok": True})
                if path == "/_control/faults":
                    if self.command == "POST":
                        self.server.faults.configure(payload)
                    return control_json(200, self.server.faults.snapshot())
                if path == "/_control/config":
                    if self.command == "POST":
                        for key in ("consumer_key", "consumer_secret", "home_url", "key_permissions"):
                            if key in payload:
                                shop.config[key] = str(payload[key])
                        if "oauth_check_timestamp" in payload:
                            shop.config["oauth_check_timestamp"] = bool(payload["oauth_check_timestamp"])
                        shop.options.update(payload.get("options") or {})
                    return control_json(200, dict(shop.config, options=shop.options))
        except (KeyError, TypeError, ValueError, FaultConfigError) as error:
            return control_json(400, {"error": "%s: %s" % (type(error).__name__, error)})
        return control_json(404, {"error": "no such control endpoint"})

    def control_edit_products(self, payload):
        shop = self.shop
        changed = []
        for raw in payload.get("upsert") or []:
            pid = raw.get("id")
            existing = shop.get(int(pid)) if pid is not None else None
            if pid is None:
                raw = dict(raw, id=shop.next_id())
            record = shop.normalize(raw, existing)
            if "date_modified_gmt" not in raw:
                shop.touch(record)
            shop.products[record["id"]] = record
            changed.append(record)
            if payload.get("hooks", True):  # an admin's save: woocommerce_process_product_meta
                if existing is None:
                    shop.webhooks.fire("product", "created", record["id"])
                else:
                    shop.saved(existing, record)
        for pid in payload.get("delete") or []:
            for child in shop.children(int(pid)):
                shop.products.pop(child["id"], None)
            shop.products.pop(int(pid), None)
        return {"ok": True, "products": changed}

    # ---- request log -----------------------------------------------------------

    def record(self, status, fault=None):
        entry = {
            "method": self.command, "path": self.raw_path, "query": self.query, "status": status,
            "auth": getattr(self, "auth_method", "none"), "items": getattr(self, "batch_items", None),
            "t": round(self.t0, 3), "tls": self.is_tls, "body": getattr(self, "log_body", None),
            "fault": fault, "auth_error": getattr(self, "auth_error", None),
        }
        with self.shop.lock:
            self.shop.log.append(entry)


# --------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------


@route("GET", r"/", "GET")
def wp_index(h, match, params, body, authenticated, allow):
    home = h.home()
    return h.json_answer(200, {"name": "Fake WooCommerce Shop", "description": "", "url": home, "home": home,
                               "gmt_offset": "0", "timezone_string": "",
                               "namespaces": ["wc-analytics", "wc/v3"], "authentication": [], "routes": {}},
                         allow=allow)


def product_list_filter(h, params, analytics=False):
    shop = h.shop
    sku_param = params.get("sku")
    skus = None
    if sku_param not in (None, "", "0"):
        cleaned = sanitize_text_field(sku_param)
        parts = cleaned.split(",")
        if len(parts) > 1:
            parts.append(cleaned)
        skus = {sku_key(p) for p in parts}
    search_sku = params.get("search_sku") or None
    with_variations = skus is not None or search_sku is not None
    status = params.get("status", "any")
    out = []
    for record in shop.products.values():
        if record["type"] == "variation" and not with_variations:
            continue
        if status == "any" and record["status"] == "trash" or status != "any" and record["status"] != status:
            continue
        if "type" in params and record["type"] != params["type"]:
            continue
        if skus is not None and (not record["sku"] or sku_key(record["sku"]) not in skus):
            continue
        if search_sku is not None and search_sku.lower() not in record["sku"].lower():
            continue
        if params.get("search"):
            needle = params["search"].lower()
            haystack = [shop.display_name(record).lower()]
            if analytics:
                haystack.append(record["sku"].lower())
            if not any(needle in text for text in haystack):
                continue
        if "include" in params and params["include"] and record["id"] not in params["include"]:
            continue
        if "exclude" in params and record["id"] in params["exclude"]:
            continue
        if "parent" in params and params["parent"] and record["parent_id"] not in params["parent"]:
            continue
        if "stock_status" in params and shop.view_stock_status(record) != params["stock_status"]:
            continue
        out.append(record)
    out = h.date_filters(out, params)
    return h.sort_records(out, params, h.sort_keys(), reverse_ties=skus is not None)


@route("GET", r"/wc/v3/products", "GET, POST")
def products_list(h, match, params, body, authenticated, allow):
    params = validate(params, LIST_SCHEMA)
    h.require(authenticated, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
    records = product_list_filter(h, params)
    serializer = Serializer(h.shop, h.home())
    chunk, headers, links = h.paginate(records, params, serializer.rest + "/wc/v3/products")
    fields = h.query.get("_fields")
    items = [h.list_item(serializer.product(r), serializer.product_links(r), fields, shape_product) for r in chunk]
    return h.collection_answer(items, headers, links, allow)


@route("GET", r"/wc-analytics/products", "GET, POST")
def analytics_products(h, match, params, body, authenticated, allow):
    params = validate(params, LIST_SCHEMA)
    h.require(authenticated, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
    records = product_list_filter(h, params, analytics=True)
    serializer = Serializer(h.shop, h.home())
    chunk, headers, links = h.paginate(records, params, serializer.rest + "/wc-analytics/products")
    fields = h.query.get("_fields")
    items = []
    for record in chunk:
        links_for = {"self": [{"href": "%s/wc-analytics/products/%d" % (serializer.rest, record["id"])}],
                     "collection": [{"href": "%s/wc-analytics/products" % serializer.rest}]}
        items.append(h.list_item(serializer.product(record), links_for, fields, shape_product))
    return h.collection_answer(items, headers, links, allow)


@route("POST", r"/wc/v3/products", "GET, POST")
def products_create(h, match, params, body, authenticated, allow):
    params = dict(params, **validate(params, WRITE_SCHEMA))
    h.require(authenticated, "woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources.")
    record = h.shop.create_product(params)
    serializer = Serializer(h.shop, h.home())
    return h.item_answer(serializer.product(record, "edit"), serializer.product_links(record),
                         h.query.get("_fields"), shape_product, status=201, allow=allow)


@route("GET", r"/wc/v3/products/(?P<id>\d+)", "GET, POST, PUT, PATCH, DELETE")
def product_get(h, match, params, body, authenticated, allow):
    record = h.shop.get(int(match.group("id")))
    if record is not None:
        h.require(authenticated, "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
    if record is None:
        raise WooError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
    serializer = Serializer(h.shop, h.home())
    return h.item_answer(serializer.product(record), serializer.product_links(record),
                         h.query.get("_fields"), shape_product, allow=allow)


@route(EDIT, r"/wc/v3/products/(?P<id>\d+)", "GET, POST, PUT, PATCH, DELETE")
def product_update(h, match, params, body, authenticated, allow):
    clean = validate(params, WRITE_SCHEMA)
    params = dict(params, **clean)
    if "stock_quantity" in params and params["stock_quantity"] is None:
        params["stock_quantity"] = 0  # recorded: null becomes 0 (11g)
    pid = int(match.group("id"))
    if h.shop.get(pid) is not None:
        h.require(authenticated, "woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource.")
    record = h.shop.update_product(pid, params)
    serializer = Serializer(h.shop, h.home())
    return h.item_answer(serializer.product(record, "edit"), serializer.product_links(record),
                         h.query.get("_fields"), shape_product, allow=allow)


@route("DELETE", r"/wc/v3/products/(?P<id>\d+)", "GET, POST, PUT, PATCH, DELETE")
def product_delete(h, match, params, body, authenticated, allow):
    pid = int(match.group("id"))
    if h.shop.get(pid) is not None:
        h.require(authenticated, "woocommerce_rest_cannot_delete",
                  "Sorry, you are not allowed to delete this resource.")
    serializer = Serializer(h.shop, h.home())
    existing = h.shop.get(pid)
    data = serializer.product(existing, "edit") if existing else None
    record = h.shop.delete_product(pid, to_bool(params.get("force", False)))
    if record.get("status") == "trash" and pid in h.shop.products:
        data = serializer.product(record, "edit")
    return h.item_answer(data, serializer.product_links(record), h.query.get("_fields"), shape_product, allow=allow)


@route("GET", r"/wc/v3/products/(?P<pid>\d+)/variations", "GET, POST")
def variations_list(h, match, params, body, authenticated, allow):
    params = validate(params, VARIATION_LIST_SCHEMA)
    h.require(authenticated, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
    pid = int(match.group("pid"))
    return variation_collection(h, params, allow, parent=pid, namespace="wc/v3")


@route("GET", r"/wc-analytics/variations", "GET")
def analytics_variations(h, match, params, body, authenticated, allow):
    params = validate(params, VARIATION_LIST_SCHEMA)
    h.require(authenticated, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
    return variation_collection(h, params, allow, parent=None, namespace="wc-analytics")


def variation_collection(h, params, allow, parent, namespace):
    shop = h.shop
    skus = None
    if params.get("sku") not in (None, "", "0"):
        cleaned = sanitize_text_field(params["sku"])
        parts = cleaned.split(",")
        skus = {sku_key(p) for p in parts + ([cleaned] if len(parts) > 1 else [])}
    status = params.get("status", "any")
    records = []
    for record in shop.products.values():
        if record["type"] != "variation" or parent is not None and record["parent_id"] != parent:
            continue
        if status == "any" and record["status"] == "trash" or status != "any" and record["status"] != status:
            continue
        if skus is not None and (not record["sku"] or sku_key(record["sku"]) not in skus):
            continue
        if params.get("search"):
            needle = params["search"].lower()
            if needle not in record["sku"].lower() and needle not in shop.display_name(record).lower():
                continue
        if params.get("include") and record["id"] not in params["include"]:
            continue
        if "exclude" in params and record["id"] in params["exclude"]:
            continue
        if "stock_status" in params and shop.view_stock_status(record) != params["stock_status"]:
            continue
        records.append(record)
    records = h.date_filters(records, params)
    records = h.sort_records(records, params, h.sort_keys())
    serializer = Serializer(shop, h.home())
    # WordPress builds the paging base from the route's rest_base regex (recorded quirk).
    link_base = "%s/%s/products/(?P<product_id>[\\d]+)/variations" % (serializer.rest, namespace)
    chunk, headers, links = h.paginate(records, params, link_base)
    fields = h.query.get("_fields")
    analytics = namespace == "wc-analytics"
    route_pid = 0 if analytics else parent
    items = [h.list_item(serializer.variation(r, analytics), serializer.variation_links(r, route_pid, namespace),
                         fields, shape_generic) for r in chunk]
    return h.collection_answer(items, headers, links, allow)


def load_variation_for_route(h, pid, vid, authenticated, action):
    record = h.shop.get(vid)
    if record is not None:
        code, message = action
        h.require(authenticated, code, message)
        if record["type"] == "variation" and record["parent_id"] and record["parent_id"] != pid:
            raise WooError(403, "woocommerce_rest_cannot_edit", "Parent product does not match current variation.")
    return record


@route("GET", r"/wc/v3/products/(?P<pid>\d+)/variations/(?P<id>\d+)", "GET, POST, PUT, PATCH, DELETE")
def variation_get(h, match, params, body, authenticated, allow):
    pid, vid = int(match.group("pid")), int(match.group("id"))
    record = h.shop.get(vid)
    if record is not None:
        h.require(authenticated, "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
    if record is None or record["type"] != "variation" or record["parent_id"] != pid:
        raise WooError(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
    serializer = Serializer(h.shop, h.home())
    return h.item_answer(serializer.variation(record), serializer.variation_links(record, pid),
                         h.query.get("_fields"), allow=allow)


@route(EDIT, r"/wc/v3/products/(?P<pid>\d+)/variations/(?P<id>\d+)", "GET, POST, PUT, PATCH, DELETE")
def variation_update(h, match, params, body, authenticated, allow):
    params = dict(params, **validate(params, VARIATION_WRITE_SCHEMA))
    if "stock_quantity" in params and params["stock_quantity"] is None:
        params["stock_quantity"] = 0
    pid, vid = int(match.group("pid")), int(match.group("id"))
    load_variation_for_route(h, pid, vid, authenticated, (
        "woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."))
    params.pop("product_id", None)
    record = h.shop.update_variation(pid, vid, params)
    serializer = Serializer(h.shop, h.home())
    return h.item_answer(serializer.variation(record), serializer.variation_links(record, pid),
                         h.query.get("_fields"), allow=allow)


@route("POST", r"/wc/v3/products/(?P<pid>\d+)/variations", "GET, POST")
def variation_create(h, match, params, body, authenticated, allow):
    params = dict(params, **validate(params, VARIATION_WRITE_SCHEMA))
    h.require(authenticated, "woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources.")
    pid = int(match.group("pid"))
    if h.shop.get(pid) is None:
        raise WooError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
    record = h.shop.create_product(params, variation_parent=pid)
    serializer = Serializer(h.shop, h.home())
    return h.item_answer(serializer.variation(record), serializer.variation_links(record, pid),
                         h.query.get("_fields"), status=201, allow=allow)


@route("DELETE", r"/wc/v3/products/(?P<pid>\d+)/variations/(?P<id>\d+)", "GET, POST, PUT, PATCH, DELETE")
def variation_delete(h, match, params, body, authenticated, allow):
    pid, vid = int(match.group("pid")), int(match.group("id"))
    load_variation_for_route(h, pid, vid, authenticated, (
        "woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."))
    serializer = Serializer(h.shop, h.home())
    existing = h.shop.get(vid)
    data = serializer.variation(existing) if existing and existing["type"] == "variation" else None
    record = h.shop.delete_product(vid, to_bool(params.get("force", False)), variation_route=True)
    if vid in h.shop.products:
        data = serializer.variation(record)
    return h.item_answer(data, serializer.variation_links(record, pid), h.query.get("_fields"), allow=allow)


def batch_count(items):
    total = 0
    for key in ("create", "update", "delete"):
        value = items.get(key)
        if value and isinstance(value, (list, dict)):
            total += len(value)
    return total


def batch_values(value):
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return value
    return []


def run_batch(h, body, authenticated, variation_parent=None):
    """WC_REST_Controller::batch_items(), including the variations override."""
    h.require(authenticated, "woocommerce_rest_cannot_batch",
              "Sorry, you are not allowed to batch manipulate this resource.")
    items = {k: v for k, v in body.items() if v}
    total = batch_count(items)
    if total > BATCH_LIMIT:
        raise WooError(413, "woocommerce_rest_request_entity_too_large",
                       "Unable to accept more than %d items for this request." % BATCH_LIMIT)
    h.batch_items = total
    shop = h.shop
    serializer = Serializer(shop, h.home())
    response = {}

    def inject(item):
        if variation_parent is not None and isinstance(item, dict):
            return dict({"product_id": variation_parent}, **item)
        return item

    def product_data(record):
        if variation_parent is not None:
            route_pid = record["parent_id"]
            data = serializer.variation(record)
            data["_links"] = serializer.variation_links(record, route_pid)
        else:
            data = serializer.product(record, "edit")
            data["_links"] = serializer.product_links(record)
        return data

    for item in batch_values(items.get("create")):
        item = inject(item)
        try:
            if not isinstance(item, dict):
                item = {}
            record = shop.create_product(item, variation_parent=variation_parent)
            response.setdefault("create", []).append(product_data(record))
        except WooError as error:
            response.setdefault("create", []).append({"id": 0, "error": error.batch_error()})
    for item in batch_values(items.get("update")):
        item = inject(item)
        item_id = item.get("id") if isinstance(item, dict) else None
        try:
            if not isinstance(item, dict) or item_id is None:
                raise WooError(400, "woocommerce_rest_%s_invalid_id" %
                               ("product_variation" if variation_parent is not None else "product"), "Invalid ID.")
            pid = php_intval(item_id)
            if variation_parent is not None:
                record = shop.update_variation(variation_parent, pid, item)
            else:
                record = shop.update_product(pid, item)
            response.setdefault("update", []).append(product_data(record))
        except WooError as error:
            response.setdefault("update", []).append({"id": item_id, "error": error.batch_error()})
    for item in batch_values(items.get("delete")):
        pid = php_intval(item)
        if pid == 0:
            continue
        try:
            existing = shop.get(pid)
            data = product_data(existing) if existing is not None and (
                variation_parent is None or existing["type"] == "variation") else None
            shop.delete_product(pid, True, variation_route=variation_parent is not None)
            response.setdefault("delete", []).append(data)
        except WooError as error:
            response.setdefault("delete", []).append({"id": pid, "error": error.batch_error()})
    fields = h.query.get("_fields")
    if fields is not None and wp_list_fields(fields):
        response = filter_keyed(response, keyed_fields(fields))
    return response or []


@route(EDIT, r"/wc/v3/products/batch", "POST, PUT, PATCH")
def products_batch(h, match, params, body, authenticated, allow):
    return h.json_answer(200, run_batch(h, body, authenticated), allow=allow)


@route(EDIT, r"/wc/v3/products/(?P<pid>\d+)/variations/batch", "POST, PUT, PATCH")
def variations_batch(h, match, params, body, authenticated, allow):
    return h.json_answer(200, run_batch(h, body, authenticated, int(match.group("pid"))), allow=allow)


@route("GET", r"/wc/v3/orders", "GET, POST")
def orders_list(h, match, params, body, authenticated, allow):
    params = validate(params, ORDER_LIST_SCHEMA)
    h.require(authenticated, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
    statuses = [s for s in params.get("status", ["any"])]
    records = [o for o in h.shop.orders.values() if "any" in statuses or o["status"] in statuses]
    if params.get("include"):
        records = [o for o in records if o["id"] in params["include"]]
    records = h.date_filters(records, params)
    keys = {"date": lambda o: o["date_created_gmt"], "modified": lambda o: o["date_modified_gmt"],
            "title": lambda o: o["id"], "slug": lambda o: o["id"], "include": lambda o: 0}
    records = h.sort_records(records, params, keys)
    serializer = Serializer(h.shop, h.home())
    chunk, headers, links = h.paginate(records, params, serializer.rest + "/wc/v3/orders")
    fields = h.query.get("_fields")
    items = []
    for order in chunk:
        order_links = {"self": [{"href": "%s/wc/v3/orders/%d" % (serializer.rest, order["id"])}],
                       "collection": [{"href": "%s/wc/v3/orders" % serializer.rest}]}
        items.append(h.list_item(serializer.order(order), order_links, fields, shape_generic))
    return h.collection_answer(items, headers, links, allow)


@route("GET", r"/wc/v3/orders/(?P<id>\d+)", "GET, POST, PUT, PATCH, DELETE")
def order_get(h, match, params, body, authenticated, allow):
    order = h.shop.orders.get(int(match.group("id")))
    if order is None:
        raise WooError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
    h.require(authenticated, "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
    serializer = Serializer(h.shop, h.home())
    links = {"self": [{"href": "%s/wc/v3/orders/%d" % (serializer.rest, order["id"])}],
             "collection": [{"href": "%s/wc/v3/orders" % serializer.rest}]}
    return h.item_answer(serializer.order(order), links, h.query.get("_fields"), allow=allow)


SETTINGS = {
    "woocommerce_manage_stock": ("manage_stock", "Manage stock", "Enable stock management.", "checkbox", "yes"),
    "woocommerce_notify_no_stock_amount": (
        "notify_no_stock_amount", "Out of stock threshold",
        "When product stock reaches this amount the stock status will change to \"out of stock\" and you will "
        "be notified via email. This setting does not affect existing \"in stock\" products.", "number", "0"),
}


def setting_object(h, setting_id):
    option, label, description, kind, default = SETTINGS[setting_id]
    rest = Serializer(h.shop, h.home()).rest
    data = {"id": setting_id, "label": label, "description": description, "type": kind,
            "default": default, "tip": description, "value": str(h.shop.options.get(option, default))}
    links = {"self": [{"href": "%s/wc/v3/settings/products/%s" % (rest, setting_id)}],
             "collection": [{"href": "%s/wc/v3/settings/products" % rest}]}
    return data, links


@route("GET", r"/wc/v3/settings/(?P<group>[\w-]+)", "GET")
def settings_list(h, match, params, body, authenticated, allow):
    h.require(authenticated, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
    if match.group("group") != "products":
        raise WooError(404, "rest_setting_setting_group_invalid", "Invalid setting group.")
    items = []
    for setting_id in SETTINGS:
        data, links = setting_object(h, setting_id)
        items.append(h.list_item(data, links, h.query.get("_fields"), shape_generic))
    return h.json_answer(200, items, allow=allow)


@route("GET " + EDIT, r"/wc/v3/settings/(?P<group>[\w-]+)/(?P<id>[\w-]+)", "GET, POST, PUT, PATCH")
def setting_item(h, match, params, body, authenticated, allow):
    if h.command in ("GET", "HEAD"):
        h.require(authenticated, "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
    else:
        h.require(authenticated, "woocommerce_rest_cannot_edit", "Sorry, you cannot edit this resource.")
    if match.group("group") != "products":
        raise WooError(404, "rest_setting_setting_group_invalid", "Invalid setting group.")
    setting_id = match.group("id")
    if setting_id not in SETTINGS:
        raise WooError(404, "rest_setting_setting_invalid", "Invalid setting.")
    if h.command not in ("GET", "HEAD") and "value" in params:
        option, _, _, kind, _ = SETTINGS[setting_id]
        value = params["value"]
        if kind == "checkbox" and value not in ("yes", "no") or kind == "number" and not php_is_numeric(value):
            raise WooError(400, "rest_setting_value_invalid", "An invalid setting value was passed.")
        h.shop.options[option] = str(value) if kind == "checkbox" else php_intval(value)
    data, links = setting_object(h, setting_id)
    return h.item_answer(data, links, h.query.get("_fields"), allow=allow)


# --------------------------------------------------------------------------
# Webhooks (REST controller v3; the engine is woo_webhooks.py)
# --------------------------------------------------------------------------

WEBHOOK_STATUSES = list(woo_webhooks.STATUSES)
WEBHOOK_WRITE_SCHEMA = {
    "name": {"type": "string"}, "status": {"type": "string", "enum": WEBHOOK_STATUSES},
    "topic": {"type": "string"}, "secret": {"type": "string"},
}
WEBHOOK_LIST_SCHEMA = {
    "page": LIST_SCHEMA["page"], "per_page": LIST_SCHEMA["per_page"], "offset": LIST_SCHEMA["offset"],
    "order": LIST_SCHEMA["order"], "orderby": {"type": "string", "enum": ["date", "id", "title"]},
    "status": {"type": "string", "enum": ["all"] + WEBHOOK_STATUSES}, "search": {"type": "string"},
    "include": {"type": "idlist"}, "exclude": {"type": "idlist"},
    "after": {"type": "date"}, "before": {"type": "date"},
}
WEBHOOK_ITEM_ALLOW = "GET, POST, PUT, PATCH, DELETE"


def webhook_links(h, webhook_id):
    rest = Serializer(h.shop, h.home()).rest
    return {"self": [{"href": "%s/wc/v3/webhooks/%d" % (rest, webhook_id)}],
            "collection": [{"href": "%s/wc/v3/webhooks" % rest}]}


def webhook_call(func, *args):
    try:
        return func(*args)
    except woo_webhooks.RestError as error:
        raise WooError(error.status, error.code, error.message, **error.data)


def webhook_id_of(match):
    webhook_id = int(match.group("id"))
    if not webhook_id:
        raise WooError(404, "woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.")
    return webhook_id


def webhook_answer(h, record, allow, status=200, extra_headers=None):
    body = shape_generic(h.shop.webhooks.rest_view(record), h.query.get("_fields"))
    body["_links"] = webhook_links(h, record["id"])
    return h.json_answer(status, body, extra_headers=extra_headers, allow=allow)


@route("GET", r"/wc/v3/webhooks", "GET, POST")
def webhooks_list(h, match, params, body, authenticated, allow):
    params = validate(params, WEBHOOK_LIST_SCHEMA)
    h.require(authenticated, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
    records = h.shop.webhooks.snapshot()
    if params.get("status", "all") != "all":
        records = [r for r in records if r["status"] == params["status"]]
    if params.get("search"):
        records = [r for r in records if params["search"].lower() in r["name"].lower()]
    if params.get("include"):
        records = [r for r in records if r["id"] in params["include"]]
    if params.get("exclude"):
        records = [r for r in records if r["id"] not in params["exclude"]]
    if "after" in params or "before" in params:
        low, high = params.get("after", "0000-00-00"), params.get("before", now_gmt())
        records = [r for r in records if low <= r["date_created_gmt"] <= high]
    keys = {"date": lambda r: r["date_created_gmt"], "title": lambda r: r["name"]}
    records = h.sort_records(records, params, keys)
    rest = Serializer(h.shop, h.home()).rest
    chunk, headers, links = h.paginate(records, params, rest + "/wc/v3/webhooks")
    fields = h.query.get("_fields")
    items = [h.list_item(h.shop.webhooks.rest_view(r), webhook_links(h, r["id"]), fields, shape_generic)
             for r in chunk]
    return h.collection_answer(items, headers, links, allow)


@route("POST", r"/wc/v3/webhooks", "GET, POST")
def webhook_create(h, match, params, body, authenticated, allow):
    missing = [name for name in ("topic", "delivery_url") if params.get(name) is None]
    if missing:
        raise WooError(400, "rest_missing_callback_param", "Missing parameter(s): " + ", ".join(missing),
                       params=missing)
    params = dict(params, **validate(params, dict(WEBHOOK_WRITE_SCHEMA, delivery_url={"type": "string"})))
    h.require(authenticated, "woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources.")
    record = webhook_call(h.shop.webhooks.rest_create, params)
    location = "%s/wp-json/wc/v3/webhooks/%d" % (h.home(), record["id"])
    return webhook_answer(h, record, allow, 201, [("Location", location)])


@route("GET", r"/wc/v3/webhooks/(?P<id>\d+)", WEBHOOK_ITEM_ALLOW)
def webhook_get(h, match, params, body, authenticated, allow):
    h.require(authenticated, "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
    record = h.shop.webhooks.get(webhook_id_of(match))
    if record is None:
        raise WooError(400, "woocommerce_rest_shop_webhook_invalid_id", "ID is invalid.")
    return webhook_answer(h, record, allow)


@route(EDIT, r"/wc/v3/webhooks/(?P<id>\d+)", WEBHOOK_ITEM_ALLOW)
def webhook_update(h, match, params, body, authenticated, allow):
    params = dict(params, **validate(params, WEBHOOK_WRITE_SCHEMA))
    h.require(authenticated, "woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource.")
    if params.get("delivery_url") is not None:
        params["delivery_url"] = str(params["delivery_url"])
    record = webhook_call(h.shop.webhooks.rest_update, int(match.group("id")), params)
    return webhook_answer(h, record, allow)


@route("DELETE", r"/wc/v3/webhooks/(?P<id>\d+)", WEBHOOK_ITEM_ALLOW)
def webhook_delete(h, match, params, body, authenticated, allow):
    force = validate(params, {"force": {"type": "boolean"}}).get("force", False)
    h.require(authenticated, "woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource.")
    if not force:
        raise WooError(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
    record = webhook_call(h.shop.webhooks.rest_delete, int(match.group("id")))
    return webhook_answer(h, record, allow)


# --------------------------------------------------------------------------
# Construction and command line
# --------------------------------------------------------------------------


def make_server(port=0, consumer_key="ck_test", consumer_secret="cs_test", home_url=None,
                tls_cert=None, tls_key=None, catalogue=DEFAULT_CATALOGUE, key_permissions="read_write",
                webhook_settings=None):
    """Build (but do not start) a fake WooCommerce server bound to 127.0.0.1.

    Use ``server.start_background()`` to serve from a thread, ``server.stop()``
    to stop; ``server.shop`` is the state.  ``webhook_settings``: the webhook
    engine's defaults (woo_webhooks.DEFAULT_SETTINGS), restored by every reset."""
    context = make_ssl_context(tls_cert, tls_key) if tls_cert else None
    server = FakeServer(("127.0.0.1", port), WooHandler, context)
    home = home_url or "%s://127.0.0.1:%d" % (server.scheme, server.port)
    server.shop = Shop(consumer_key, consumer_secret, home, catalogue, key_permissions,
                       server.stopping, webhook_settings)
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fake WooCommerce REST API for tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--consumer-key", required=True)
    parser.add_argument("--consumer-secret", required=True)
    parser.add_argument("--home-url", help="WordPress Home URL (default scheme://127.0.0.1:<port>)")
    parser.add_argument("--catalogue", default=DEFAULT_CATALOGUE)
    parser.add_argument("--key-permissions", default="read_write", choices=("read", "write", "read_write"))
    parser.add_argument("--webhook-mode", default="async", choices=woo_webhooks.MODES,
                        help="when webhooks are delivered (default async: when the queue runs)")
    parser.add_argument("--queue-interval", type=float, default=0,
                        help="run the webhook queue every N seconds (default 0: only when told)")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    server = make_server(args.port, args.consumer_key, args.consumer_secret, args.home_url,
                         args.tls_cert, args.tls_key, args.catalogue, args.key_permissions,
                         {"mode": args.webhook_mode, "queue_interval_s": args.queue_interval})
    return serve_main(server)


if __name__ == "__main__":
    sys.exit(main())
