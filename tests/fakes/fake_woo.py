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
import contextlib
import hmac
import json
import math
import os
import re
import sys
import types
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import woo_webhooks  # noqa: E402
from fakebase import (FakeHandler, FakeServer, Response, make_ssl_context, parse_php_query,  # noqa: E402
                      php_json, serve_main)
from woo_rest import (DEFAULT_CATALOGUE, OAUTH_PARAMS, WooError, add_query_arg, keyed_fields,  # noqa: E402
                      php_intval, set_scheme, wp_list_fields)
from woo_serialize import shape_generic  # noqa: E402
from woo_shop import Shop  # noqa: E402
from woo_oauth import oauth_error, parse_oauth_header, verify_oauth  # noqa: E402
from woo_routes import ROUTES  # noqa: E402
import woo_oauth  # noqa: E402
import woo_rest  # noqa: E402
import woo_routes  # noqa: E402
import woo_serialize  # noqa: E402
import woo_shop  # noqa: E402

# The shop is split along its sections (woo_rest: WordPress REST semantics,
# woo_shop: the state, woo_serialize, woo_oauth, woo_routes); every public
# name of theirs stays importable from here, as before the split.
for _part in (woo_rest, woo_serialize, woo_shop, woo_oauth, woo_routes):
    globals().update({k: v for k, v in vars(_part).items()
                      if not k.startswith("_") and k not in globals()
                      and not isinstance(v, types.ModuleType)})


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

    CONTROL = {
        "reset": ("POST", "control_reset", True),
        "products": (None, "control_products", True),
        "sale": ("POST", "control_sale", True),
        "cancel": ("POST", "control_cancel", True),
        "orders": (None, "control_orders", True),
        "config": (None, "control_config", True),
        # WooCommerce's webhooks: never under the shop's lock (they may send).
        "webhooks": (None, "control_webhooks", False),
        "webhooks/create": ("POST", "control_webhook_create", False),
        "webhooks/edit": ("POST", "control_webhook_edit", False),
        "webhooks/queue": (None, "control_webhook_queue", False),
        "webhooks/run": ("POST", "control_webhook_run", False),
        "webhooks/deliveries": (None, "control_deliveries", False),
        "webhooks/deliveries/clear": ("POST", "control_deliveries_clear", False),
        "webhooks/replay": ("POST", "control_replay", False),
        "webhooks/config": (None, "control_webhook_config", False),
    }

    def handle_control(self):
        """Control requests are shop-side actions: what they save fires the
        webhooks' hooks like a request of the shop would."""
        self.after_answer_items = None
        self.run_queue_after = False
        return super().handle_control()

    @contextlib.contextmanager
    def control_lock(self):
        webhooks = self.shop.webhooks
        webhooks.begin()
        try:
            with self.shop.lock:
                yield
        finally:
            self.after_answer_items = webhooks.end()

    def control_reset(self, payload):
        self.shop.reset(payload.get("products"), payload.get("options"))
        self.server.faults.clear()
        return {"ok": True, "products": len(self.shop.products)}

    def control_products(self, payload):
        if self.command == "POST":
            return self.control_edit_products(payload)
        return sorted(self.shop.products.values(), key=lambda r: r["id"])

    def control_sale(self, payload):
        # "at": when the order was placed (GMT, whole seconds), for tests
        # of orders in the same second as something else.
        at = payload.get("at")
        if at is not None and not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", at):
            raise ValueError("at must be YYYY-MM-DDTHH:MM:SS")
        record, order = self.shop.sale(int(payload["id"]), php_intval(payload.get("quantity", 1)), at)
        return {"product": record, "order": order}

    def control_cancel(self, payload):
        return self.shop.cancel_order(int(payload["id"]))

    def control_orders(self, payload):
        shop = self.shop
        if self.command == "POST":
            # Re-dates an order: {"id": N, "at": "YYYY-MM-DDTHH:MM:SS"}.
            order = shop.orders[int(payload["id"])]
            order["date_created_gmt"] = order["date_modified_gmt"] = str(payload["at"])
        return sorted(shop.orders.values(), key=lambda o: o["id"])

    def control_log(self, payload):
        return self.shop.log

    def control_log_clear(self, payload):
        self.shop.log = []
        return {"ok": True}

    def control_config(self, payload):
        shop = self.shop
        if self.command == "POST":
            for key in ("consumer_key", "consumer_secret", "home_url", "key_permissions"):
                if key in payload:
                    shop.config[key] = str(payload[key])
            if "oauth_check_timestamp" in payload:
                shop.config["oauth_check_timestamp"] = bool(payload["oauth_check_timestamp"])
            shop.options.update(payload.get("options") or {})
        return dict(shop.config, options=shop.options)

    def control_webhooks(self, payload):
        return self.shop.webhooks.snapshot()

    def control_webhook_create(self, payload):
        engine = self.shop.webhooks
        engine.begin()
        try:
            record = engine.control_create(payload)
        finally:
            engine.end()  # the ping, before answering
        return engine.get(record["id"])

    def control_webhook_edit(self, payload):
        return self.shop.webhooks.control_edit(int(payload["id"]), payload)

    def control_webhook_queue(self, payload):
        return self.shop.webhooks.queue()

    def control_webhook_run(self, payload):
        return self.shop.webhooks.run_queue(payload.get("limit"))

    def control_deliveries(self, payload):
        webhook_id = self.query.get("webhook_id")
        return self.shop.webhooks.delivery_log(php_intval(self.query.get("since", 0)),
                                               int(webhook_id) if webhook_id else None,
                                               self.query.get("kind") or None)

    def control_deliveries_clear(self, payload):
        self.shop.webhooks.clear_deliveries()
        return {"ok": True}

    def control_replay(self, payload):
        engine = self.shop.webhooks
        matches = [d for d in engine.delivery_log() if d["id"] == int(payload["id"])]
        if not matches:
            raise ValueError("no delivery %s" % payload["id"])
        return engine.replay(matches[0], payload.get("url"))

    def control_webhook_config(self, payload):
        engine = self.shop.webhooks
        if self.command == "POST":
            return engine.configure(payload)
        return dict(engine.settings)

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
