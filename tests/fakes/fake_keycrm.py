#!/usr/bin/env python3
"""Fake KeyCRM OpenAPI (base path /v1), for the stock part of the API.

What it models (ground truth: the shared reference keycrm-api.md and
keycrm-openapi.yml, paths /offers and /offers/stocks):

* Warehouses ``[{id, name}]`` (default 1 "Основний", 2 "Склад 2"), offers
  (variants) ``{id, product_id, sku, price, purchased_price, ...}`` and, per
  (offer, warehouse), a ``quantity`` and a ``reserve`` (numbers, may be
  fractional).
* ``Authorization: Bearer <key>``; otherwise 401 ``{"message":"Unauthenticated."}``.
* A rate limit of 60 requests per rolling 60 s per key (configurable); over it
  429 ``{"message":"Too Many Attempts."}`` with ``Retry-After``.  Every /v1
  answer carries ``X-RateLimit-Limit`` and ``X-RateLimit-Remaining``.  Order
  as in Laravel: route (404/405) -> auth (401, not counted) -> throttle -> handler.
* ``GET /v1/offers`` (limit 1..50, default 15; page; ``filter[sku]``,
  ``filter[id]``, ``filter[product_id]``, ``filter[is_archived]``;
  ``include=product``; ``sort=id|-id``): items carry ``quantity`` and
  ``in_reserve`` totals, as the live API does.
* ``GET /v1/offers/stocks`` (``filter[offers_sku]``, ``filter[offers_id]``,
  ``filter[details]=true`` adds ``warehouse: [{id,name,quantity,reserve}]``;
  ``filter[warehouse_id]`` is ignored, as observed live).
* ``PUT /v1/offers/stocks`` ``{"warehouse_id", "stocks": [{"sku"|"id", "quantity"}]}``
  sets that warehouse's quantity (absolute) and answers 202 ``{"status":true}``;
  Laravel-style 422 ``{"message":"The given data was invalid.","errors":{...}}``.
  Unknown SKUs/ids: option ``unknown_sku`` = "skip" (default, silently ignored)
  or "422" (``"The selected stocks.N.sku is invalid."``).
* Paginated answers are Laravel length-aware paginators: current_page, data,
  first_page_url, from, last_page, last_page_url, next_page_url (null on the
  last page), path, per_page, prev_page_url, to, total.  Page URLs carry only
  ``?page=N`` (as in the spec's example), not the other query parameters.
* The stock webhook (keycrm-api.md §3.1): after every stock change (a PUT, or
  a control-side edit of quantity or reserve) a JSON array
  ``[{"offer_id","sku","in_stock","in_reserve"}]`` of the offers whose watched
  totals changed is POSTed to the webhook URL; totals are summed over the
  watched warehouses (``webhook_warehouses``, default all).  Mode "auto"
  delivers in order from a background thread after ``webhook_delay_ms``;
  mode "hold" queues them until ``POST /_control/webhooks/deliver``.

Command line::

    python3 fake_keycrm.py --port 0 --api-key KEY [--webhook-url URL]

prints ``PORT=<n>`` once listening on 127.0.0.1 and serves until SIGTERM.

Control API (no authentication, JSON in and out, never logged or throttled):

``POST /_control/reset``    ``{"warehouses": [{id,name}], "offers": [{id?, product_id?,
                            sku, price?, purchased_price?, ...}], "stocks": [{"sku"|
                            "offer_id", "warehouse_id", "quantity", "reserve"}],
                            "options": {...}}``; anything left out gets the default
                            (offers given without stocks start empty).  Clears log,
                            faults, rate-limit windows and webhooks.
``GET  /_control/state``    warehouses, offers with per-warehouse stock, totals
                            (quantity/reserve) and watched totals (in_stock/
                            in_reserve), options, webhook_url.
``POST /_control/stock``    ``{"sku"|"offer_id", "warehouse_id", "quantity"?, "reserve"?}``
                            or ``{"changes": [...]}``: a KeyCRM-side edit; fires the webhook.
``POST /_control/offers``   ``{"upsert": [{...}], "delete": [ids]}``.
``GET  /_control/log``      ``[{"method","path","query","status","items","over_limit",
                            "auth_ok","t","body","fault"}]``; ``POST /_control/log/clear``.
``GET|POST /_control/faults`` same shape as the WooCommerce fake (fakebase.FaultInjector).
``GET|POST /_control/config`` ``{"webhook_url": "...", "api_key": "...", <any option>}``.
``GET  /_control/webhooks`` ``[{"id","payload","delivered","deliveries":[{"t","status","error"}]}]``.
``POST /_control/webhooks/deliver`` ``{"ids": [...] (default: all undelivered, in id
                            order; the order given is kept), "times": 1}`` delivers now and
                            answers ``[{"id","status","error"}]``.
``POST /_control/webhooks/clear``.
``GET  /_control/health``   ``{"ok": true}``.

Options: ``unknown_sku`` ("skip"|"422"), ``rate_limit`` ({"requests": 60, "window_s": 60}),
``webhook_mode`` ("auto"|"hold"), ``webhook_warehouses`` (list of ids or null = all),
``webhook_delay_ms`` (0), ``webhook_on_noop`` (false: a PUT that changes nothing sends
nothing), ``webhook_batch_max`` (0 = one POST per change event), ``sku_match``
("exact"|"ci": MySQL-like case-insensitive matching), ``webhook_timeout_s`` (10).
"""

import argparse
import collections
import copy
import math
import os
import queue
import re
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakebase import (FakeHandler, FakeServer, Response,  # noqa: E402
                      json_number, parse_php_query, php_json, serve_main)

DEFAULT_WAREHOUSES = [{"id": 1, "name": "Основний"}, {"id": 2, "name": "Склад 2"}]

# The shop of the WooCommerce recordings, as a CRM would hold it, plus one
# CRM-only offer. (offer id, product id, sku, product name, price)
DEFAULT_OFFERS = [
    (1001, 501, "RW-SIMPLE-001", "RW Simple 001", 10.0),
    (1002, 502, "RW-SIMPLE-002", "RW Simple 002 (zero stock)", 11.0),
    (1003, 503, "RW-SIMPLE-003", "RW Simple 003", 12.0),
    (1004, 504, "RW-SIMPLE-004", "RW Simple 004", 13.0),
    (1005, 505, "RW-SIMPLE-005", "RW Simple 005", 14.0),
    (1006, 506, "RW-SIMPLE-006", "RW Simple 006 (no stock mgmt)", 15.0),
    (1007, 507, "RW-SIMPLE-007", "RW Simple 007 (backorders)", 16.0),
    (1009, 509, "RW-SIMPLE-009", "RW Simple 009 (draft)", 18.0),
    (1010, 510, "rw-simple-010", "RW Simple 010 (lowercase SKU)", 19.0),
    (1011, 511, "RW+011 X/Y", "RW Simple 011 (special SKU)", 20.0),
    (1021, 521, "RW-TEE-S", "RW Tee", 9.99),
    (1022, 521, "RW-TEE-M", "RW Tee", 9.99),
    (1023, 521, "RW-TEE-L", "RW Tee", 9.99),
    (1026, 525, "RW-MUG-RED", "RW Mug", 5.0),
    (1027, 525, "RW-MUG-BLUE", "RW Mug", 5.0),
    (1099, 599, "KC-ONLY-001", "KeyCRM only", 1.5),
]
# (sku, warehouse, quantity, reserve); warehouse 1 mirrors the shop's start.
DEFAULT_STOCKS = [
    ("RW-SIMPLE-001", 1, 10, 0), ("RW-SIMPLE-002", 1, 0, 0), ("RW-SIMPLE-003", 1, 25, 0),
    ("RW-SIMPLE-004", 1, 5, 0), ("RW-SIMPLE-005", 1, 100, 0), ("RW-SIMPLE-006", 1, 8, 0),
    ("RW-SIMPLE-007", 1, 0, 0), ("RW-SIMPLE-009", 1, 7, 0), ("rw-simple-010", 1, 9, 0),
    ("RW+011 X/Y", 1, 11, 0), ("RW-TEE-S", 1, 2, 0), ("RW-TEE-M", 1, 6, 0), ("RW-TEE-L", 1, 10, 0),
    ("RW-MUG-RED", 1, 4, 0), ("RW-MUG-BLUE", 1, 0, 0), ("KC-ONLY-001", 1, 2.5, 0.5),
    ("RW-SIMPLE-001", 2, 3, 1), ("RW-TEE-M", 2, 4, 0),
]
DEFAULT_OPTIONS = {
    "unknown_sku": "skip", "rate_limit": {"requests": 60, "window_s": 60}, "webhook_mode": "auto",
    "webhook_warehouses": None, "webhook_delay_ms": 0, "webhook_on_noop": False,
    "webhook_batch_max": 0, "sku_match": "exact", "webhook_timeout_s": 10,
}
MAX_STOCK_ITEMS = 10000
MAX_LIMIT = 50


class CrmError(Exception):
    def __init__(self, status, body, headers=None):
        super().__init__(body.get("message"))
        self.status = status
        self.body = body
        self.headers = headers or []


def invalid(errors):
    return CrmError(422, {"message": "The given data was invalid.", "errors": errors})


def is_numeric(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    return isinstance(value, str) and bool(re.match(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$", value))


def is_integer(value):
    return is_numeric(value) and float(value).is_integer() and not (isinstance(value, str) and "." in value)


def number(value):
    value = float(value)
    return json_number(value)


# --------------------------------------------------------------------------
# Rate limiting
# --------------------------------------------------------------------------


class RateLimiter:
    """Rolling-window limiter: at most ``requests`` hits per ``window_s`` per key."""

    def __init__(self, requests=60, window_s=60.0):
        self.lock = threading.Lock()
        self.configure(requests, window_s)

    def configure(self, requests, window_s):
        with self.lock:
            self.requests = int(requests)
            self.window = float(window_s)
            self.hits = collections.defaultdict(collections.deque)

    def _trim(self, hits, now):
        while hits and hits[0] <= now - self.window:
            hits.popleft()

    def hit(self, key, now=None):
        """Returns (allowed, remaining, retry_after_seconds)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            hits = self.hits[key]
            self._trim(hits, now)
            if len(hits) >= self.requests:
                retry = max(1, int(math.ceil(hits[0] + self.window - now)))
                return False, 0, retry
            hits.append(now)
            return True, self.requests - len(hits), None

    def remaining(self, key, now=None):
        now = time.monotonic() if now is None else now
        with self.lock:
            hits = self.hits[key]
            self._trim(hits, now)
            return max(0, self.requests - len(hits))


# --------------------------------------------------------------------------
# Webhooks
# --------------------------------------------------------------------------


class Webhooks:
    """Stock webhook records and their delivery (auto worker or on demand)."""

    def __init__(self, crm, stopping):
        self.crm = crm
        self.stopping = stopping
        self.lock = threading.Lock()
        self.records = []
        self.queue = queue.Queue()
        self.generation = 0
        threading.Thread(target=self._worker, daemon=True).start()

    def clear(self):
        with self.lock:
            self.records = []
            self.generation += 1

    def add(self, payload):
        with self.lock:
            record = {"id": len(self.records) + 1, "payload": payload, "created": round(time.time(), 3),
                      "delivered": 0, "deliveries": []}
            self.records.append(record)
            generation = self.generation
        if self.crm.options["webhook_mode"] == "auto":
            self.queue.put((generation, record["id"]))
        return record

    def snapshot(self):
        with self.lock:
            return copy.deepcopy(self.records)

    def get(self, webhook_id):
        with self.lock:
            for record in self.records:
                if record["id"] == webhook_id:
                    return record
        return None

    def _worker(self):
        while not self.stopping.is_set():
            try:
                generation, webhook_id = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            delay = float(self.crm.options.get("webhook_delay_ms") or 0) / 1000.0
            if delay:
                self.stopping.wait(delay)
            if generation == self.generation:
                self.deliver(webhook_id)

    def deliver(self, webhook_id):
        record = self.get(webhook_id)
        if record is None:
            return {"id": webhook_id, "status": None, "error": "no such webhook"}
        url = self.crm.config.get("webhook_url")
        result = {"t": round(time.time(), 3), "status": None, "error": None}
        if not url:
            result["error"] = "no webhook_url configured"
        else:
            result.update(self._post(url, php_json(record["payload"])))
        with self.lock:
            record["deliveries"].append(result)
            if result["status"] is not None:
                record["delivered"] += 1
        return {"id": webhook_id, "status": result["status"], "error": result["error"]}

    def _post(self, url, body):
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "KeyCRM-Webhook (fake)"})
        handlers = [urllib.request.ProxyHandler({})]  # loopback only: never a proxy
        if url.startswith("https"):
            handlers.append(urllib.request.HTTPSHandler(context=ssl._create_unverified_context()))
        opener = urllib.request.build_opener(*handlers)
        timeout = float(self.crm.options.get("webhook_timeout_s") or 10)
        try:
            with opener.open(request, timeout=timeout) as answer:
                answer.read()
                return {"status": answer.status}
        except urllib.error.HTTPError as error:
            error.read()
            return {"status": error.code}
        except (urllib.error.URLError, OSError, ValueError) as error:
            return {"error": "%s: %s" % (type(error).__name__, getattr(error, "reason", error))}


# --------------------------------------------------------------------------
# The CRM state
# --------------------------------------------------------------------------


class Crm:
    """Warehouses, offers, stock. All access goes through ``lock``."""

    def __init__(self, api_key, webhook_url, stopping):
        self.lock = threading.RLock()
        self.config = {"api_key": api_key, "webhook_url": webhook_url}
        self.limiter = RateLimiter()
        self.options = copy.deepcopy(DEFAULT_OPTIONS)
        self.webhooks = Webhooks(self, stopping)
        self.log = []
        self.reset()

    # ---- state management ----------------------------------------------------

    def reset(self, warehouses=None, offers=None, stocks=None, options=None):
        with self.lock:
            self.options = copy.deepcopy(DEFAULT_OPTIONS)
            self.set_options(options or {})
            limit = self.options["rate_limit"]
            self.limiter.configure(limit.get("requests", 60), limit.get("window_s", 60))
            self.warehouses = {}
            for warehouse in warehouses if warehouses is not None else DEFAULT_WAREHOUSES:
                self.warehouses[int(warehouse["id"])] = {"id": int(warehouse["id"]),
                                                         "name": str(warehouse.get("name", ""))}
            self.offers = {}
            self.stock = {}
            if offers is None:
                for oid, pid, sku, name, price in DEFAULT_OFFERS:
                    self.upsert_offer({"id": oid, "product_id": pid, "sku": sku, "product_name": name,
                                       "price": price, "purchased_price": round(price / 2, 2)})
                if stocks is None:
                    stocks = [{"sku": s, "warehouse_id": w, "quantity": q, "reserve": r}
                              for s, w, q, r in DEFAULT_STOCKS]
            else:
                for offer in offers:
                    self.upsert_offer(offer)
            for row in stocks or []:
                offer = self.resolve(row)
                if offer is None:
                    raise ValueError("stock row for unknown offer: %r" % (row,))
                cell = self.cell(offer["id"], int(row["warehouse_id"]))
                cell["quantity"] = number(row.get("quantity", 0))
                cell["reserve"] = number(row.get("reserve", 0))
            self.log = []
            self.webhooks.clear()

    def set_options(self, options):
        for key, value in options.items():
            if key not in DEFAULT_OPTIONS:
                raise ValueError("unknown option %r" % key)
            self.options[key] = value
        if self.options["unknown_sku"] not in ("skip", "422"):
            raise ValueError("unknown_sku must be 'skip' or '422'")
        if self.options["webhook_mode"] not in ("auto", "hold"):
            raise ValueError("webhook_mode must be 'auto' or 'hold'")
        if "rate_limit" in options:
            limit = self.options["rate_limit"]
            self.limiter.configure(limit.get("requests", 60), limit.get("window_s", 60))

    def upsert_offer(self, raw):
        oid = int(raw["id"]) if raw.get("id") is not None else max(list(self.offers) + [1000]) + 1
        offer = self.offers.get(oid) or {
            "id": oid, "product_id": oid, "sku": "", "barcode": "", "price": 0, "purchased_price": 0,
            "weight": 0, "length": 0, "width": 0, "height": 0, "properties": [], "is_archived": False,
            "thumbnail_url": None, "product_name": "Product %d" % oid}
        for key, value in raw.items():
            offer[key] = copy.deepcopy(value)
        offer["id"] = oid
        self.offers[oid] = offer
        return offer

    # ---- lookups --------------------------------------------------------------

    def sku_equal(self, left, right):
        if self.options.get("sku_match") == "ci":
            return left.rstrip(" ").casefold() == right.rstrip(" ").casefold()
        return left == right

    def by_sku(self, sku):
        for offer in sorted(self.offers.values(), key=lambda o: o["id"]):
            if offer["sku"] and self.sku_equal(offer["sku"], str(sku)):
                return offer
        return None

    def resolve(self, row):
        if row.get("offer_id") is not None:
            return self.offers.get(int(row["offer_id"]))
        if row.get("id") is not None:
            return self.offers.get(int(row["id"]))
        return self.by_sku(row.get("sku", ""))

    def cell(self, offer_id, warehouse_id):
        return self.stock.setdefault((offer_id, warehouse_id), {"quantity": 0, "reserve": 0})

    def totals(self, offer_id, warehouses=None):
        quantity = reserve = 0
        for (oid, wid), cell in self.stock.items():
            if oid == offer_id and (warehouses is None or wid in warehouses):
                quantity += cell["quantity"]
                reserve += cell["reserve"]
        return number(quantity), number(reserve)

    def watched(self, offer_id):
        warehouses = self.options.get("webhook_warehouses")
        return self.totals(offer_id, set(int(w) for w in warehouses) if warehouses else None)

    def warehouse_rows(self, offer_id):
        rows = []
        for wid in sorted(self.warehouses):
            cell = self.stock.get((offer_id, wid))
            if cell is not None:
                rows.append({"id": wid, "name": self.warehouses[wid]["name"],
                             "quantity": number(cell["quantity"]), "reserve": number(cell["reserve"])})
        return rows

    # ---- stock changes and the webhook --------------------------------------------

    def change_stock(self, changes):
        """changes: [(offer, warehouse_id, quantity or None, reserve or None)].
        Applies them and fires one webhook for offers whose watched totals changed."""
        before = {}
        for offer, _, _, _ in changes:
            before.setdefault(offer["id"], self.watched(offer["id"]))
        for offer, warehouse_id, quantity, reserve in changes:
            cell = self.cell(offer["id"], warehouse_id)
            if quantity is not None:
                cell["quantity"] = number(quantity)
            if reserve is not None:
                cell["reserve"] = number(reserve)
        payload = []
        watched = self.options.get("webhook_warehouses")
        for offer_id, old in before.items():
            new = self.watched(offer_id)
            touched_watched = any(not watched or wid in [int(w) for w in watched]
                                  for o, wid, _, _ in changes if o["id"] == offer_id)
            if new != old or self.options.get("webhook_on_noop") and touched_watched:
                offer = self.offers[offer_id]
                payload.append({"offer_id": offer_id, "sku": offer["sku"], "in_stock": new[0], "in_reserve": new[1]})
        size = int(self.options.get("webhook_batch_max") or 0) or len(payload) or 1
        ids = []
        for start in range(0, len(payload), size):
            ids.append(self.webhooks.add(payload[start:start + size])["id"])
        return ids

    # ---- serializers --------------------------------------------------------------

    def offer_item(self, offer, include_product=False):
        quantity, reserve = self.totals(offer["id"])
        item = {
            "id": offer["id"], "product_id": offer["product_id"], "sku": offer["sku"],
            "barcode": offer.get("barcode", ""), "price": number(offer.get("price", 0)),
            "purchased_price": number(offer.get("purchased_price", 0)), "quantity": quantity,
            "in_reserve": reserve, "weight": number(offer.get("weight", 0)),
            "length": number(offer.get("length", 0)), "width": number(offer.get("width", 0)),
            "height": number(offer.get("height", 0)), "properties": offer.get("properties", []),
            "is_archived": bool(offer.get("is_archived")), "thumbnail_url": offer.get("thumbnail_url"),
        }
        if include_product:
            siblings = [o for o in self.offers.values() if o["product_id"] == offer["product_id"]]
            prices = [float(o.get("price", 0)) for o in siblings]
            item["product"] = {
                "id": offer["product_id"], "name": offer.get("product_name", ""), "description": "",
                "thumbnail_url": offer.get("thumbnail_url"),
                "quantity": number(sum(self.totals(o["id"])[0] for o in siblings)),
                "unit_type": None, "currency_code": "UAH", "sku": offer["sku"] if len(siblings) == 1 else "",
                "min_price": number(min(prices)), "max_price": number(max(prices)),
                "weight": 0, "length": 0, "width": 0, "height": 0,
            }
        return item

    def stock_item(self, offer, details=False):
        quantity, reserve = self.totals(offer["id"])
        item = {"id": offer["id"], "sku": offer["sku"], "price": number(offer.get("price", 0)),
                "purchased_price": number(offer.get("purchased_price", 0)),
                "quantity": quantity, "reserve": reserve}
        if details:
            item["warehouse"] = self.warehouse_rows(offer["id"])
        return item

    def state(self):
        offers = []
        for offer in sorted(self.offers.values(), key=lambda o: o["id"]):
            quantity, reserve = self.totals(offer["id"])
            in_stock, in_reserve = self.watched(offer["id"])
            offers.append(dict(offer, stocks={str(r["id"]): {"quantity": r["quantity"], "reserve": r["reserve"]}
                                              for r in self.warehouse_rows(offer["id"])},
                               quantity=quantity, reserve=reserve, in_stock=in_stock, in_reserve=in_reserve))
        return {"warehouses": [self.warehouses[w] for w in sorted(self.warehouses)], "offers": offers,
                "options": self.options, "webhook_url": self.config.get("webhook_url")}


# --------------------------------------------------------------------------
# HTTP handler
# --------------------------------------------------------------------------


def paginate(records, limit, page, path_url):
    """Laravel LengthAwarePaginator::toArray()."""
    total = len(records)
    last_page = max(1, int(math.ceil(total / float(limit))))
    data = records[(page - 1) * limit:page * limit]

    def url(number_):
        return "%s?page=%d" % (path_url, number_)

    first = (page - 1) * limit + 1 if data else None
    return {
        "current_page": page, "data": data, "first_page_url": url(1), "from": first,
        "last_page": last_page, "last_page_url": url(last_page),
        "next_page_url": url(page + 1) if page < last_page else None, "path": path_url,
        "per_page": limit, "prev_page_url": url(page - 1) if page > 1 else None,
        "to": first + len(data) - 1 if data else None, "total": total,
    }


def split_list(value):
    if isinstance(value, dict):
        value = ",".join(str(v) for v in value.values())
    return [] if value is None else str(value).split(",")


def id_list(value):
    return [int(float(v)) for v in split_list(value) if is_numeric(v)]


ROUTES = {"/v1/offers": ("GET", "HEAD"), "/v1/offers/stocks": ("GET", "HEAD", "PUT")}


class CrmHandler(FakeHandler):
    server_version = "nginx"

    @property
    def crm(self):
        return self.server.crm

    def answer(self, status, body, headers=None):
        return Response(status, php_json(body), [("Cache-Control", "no-cache, private")] + (headers or []),
                        "application/json")

    def fault_default_response(self, status):
        return self.answer(status, {"message": "Server Error"})

    # ---- API ----------------------------------------------------------------

    def handle_api(self):
        self.over_limit = False
        self.auth_ok = False
        self.batch_items = None
        self.log_body = None
        crm = self.crm
        try:
            path = self.raw_path.rstrip("/") or "/"
            methods = ROUTES.get(path)
            if methods is None:
                raise CrmError(404, {"message": "The route %s could not be found." % path.lstrip("/")})
            if self.command not in methods:
                raise CrmError(405, {"message": "The %s method is not supported for this route. Supported "
                                                "methods: %s." % (self.command, ", ".join(methods))})
            token = self.bearer_token()
            if token is None or token != crm.config["api_key"]:
                raise CrmError(401, {"message": "Unauthenticated."}, self.limit_headers(token or ""))
            self.auth_ok = True
            allowed, remaining, retry = crm.limiter.hit(token)
            limit_headers = [("X-RateLimit-Limit", str(crm.limiter.requests)),
                             ("X-RateLimit-Remaining", str(remaining))]
            if not allowed:
                self.over_limit = True
                reset = int(time.time()) + retry
                raise CrmError(429, {"message": "Too Many Attempts."},
                               [("Retry-After", str(retry)), ("X-RateLimit-Reset", str(reset))] + limit_headers)
            with crm.lock:
                if path == "/v1/offers":
                    body = self.list_offers()
                elif self.command == "PUT":
                    return self.answer(202, self.put_stocks(), limit_headers)
                else:
                    body = self.list_stocks()
            return self.answer(200, body, limit_headers)
        except CrmError as error:
            headers = error.headers
            if self.auth_ok and not any(name == "X-RateLimit-Limit" for name, _ in headers):
                headers = headers + self.limit_headers(self.bearer_token())
            return self.answer(error.status, error.body, headers)

    def limit_headers(self, token):
        limiter = self.crm.limiter
        return [("X-RateLimit-Limit", str(limiter.requests)),
                ("X-RateLimit-Remaining", str(limiter.remaining(token)))]

    def bearer_token(self):
        header = self.headers.get("Authorization") or ""
        if header[:7].lower() == "bearer ":
            return header[7:].strip()
        return None

    def page_params(self):
        errors = {}
        limit = self.query.get("limit", "15")
        if not is_integer(limit):
            errors["limit"] = ["The limit must be an integer."]
        elif int(float(limit)) < 1:
            errors["limit"] = ["The limit must be at least 1."]
        elif int(float(limit)) > MAX_LIMIT:
            errors["limit"] = ["The limit must not be greater than %d." % MAX_LIMIT]
        if errors:
            raise invalid(errors)
        page = self.query.get("page", "1")
        page = int(float(page)) if is_integer(page) and int(float(page)) >= 1 else 1
        return int(float(limit)), page

    def path_url(self):
        host = self.headers.get("Host") or "127.0.0.1:%d" % self.server.port
        return "%s://%s%s" % (self.server.scheme, host, self.raw_path.rstrip("/"))

    def filters(self):
        value = self.query.get("filter")
        return value if isinstance(value, dict) else {}

    def sku_filter(self, offers, value):
        wanted = split_list(value)
        return [o for o in offers if o["sku"] and any(self.crm.sku_equal(o["sku"], w) for w in wanted)]

    def list_offers(self):
        crm = self.crm
        limit, page = self.page_params()
        filters = self.filters()
        offers = list(crm.offers.values())
        if "sku" in filters:
            offers = self.sku_filter(offers, filters["sku"])
        if "id" in filters:
            ids = id_list(filters["id"])
            offers = [o for o in offers if o["id"] in ids]
        if "product_id" in filters:
            ids = id_list(filters["product_id"])
            offers = [o for o in offers if o["product_id"] in ids]
        if "is_archived" in filters:
            archived = str(filters["is_archived"]).lower() in ("true", "1")
            offers = [o for o in offers if bool(o.get("is_archived")) == archived]
        offers.sort(key=lambda o: o["id"], reverse=self.query.get("sort") == "-id")
        include_product = "product" in split_list(self.query.get("include"))
        return paginate([crm.offer_item(o, include_product) for o in offers], limit, page, self.path_url())

    def list_stocks(self):
        crm = self.crm
        limit, page = self.page_params()
        filters = self.filters()
        offers = sorted(crm.offers.values(), key=lambda o: o["id"])
        if "offers_sku" in filters:
            offers = self.sku_filter(offers, filters["offers_sku"])
        if "offers_id" in filters:
            ids = id_list(filters["offers_id"])
            offers = [o for o in offers if o["id"] in ids]
        details = str(filters.get("details", "")).lower() in ("true", "1")
        return paginate([crm.stock_item(o, details) for o in offers], limit, page, self.path_url())

    def put_stocks(self):
        crm = self.crm
        content_type = (self.headers.get("Content-Type") or "").lower()
        if "json" in content_type:
            try:
                body = self.json_body()
            except ValueError:
                body = {}
        else:  # Laravel reads a non-JSON body as a form: the JSON text is no field at all
            body = parse_php_query(self.body.decode("utf-8", "replace"))
        self.log_body = body
        if not isinstance(body, dict):
            body = {}
        errors = collections.OrderedDict()
        warehouse_id = body.get("warehouse_id")
        if warehouse_id is None or warehouse_id == "":
            errors["warehouse_id"] = ["The warehouse id field is required."]
        elif not is_integer(warehouse_id):
            errors["warehouse_id"] = ["The warehouse id must be an integer."]
        elif int(float(warehouse_id)) not in crm.warehouses:
            errors["warehouse_id"] = ["The selected warehouse id is invalid."]
        stocks = body.get("stocks")
        resolved = []
        if stocks is None or stocks == [] or stocks == "":
            errors["stocks"] = ["The stocks field is required."]
        elif not isinstance(stocks, list):
            errors["stocks"] = ["The stocks must be an array."]
        elif len(stocks) > MAX_STOCK_ITEMS:
            errors["stocks"] = ["The stocks must not have more than %d items." % MAX_STOCK_ITEMS]
        else:
            self.batch_items = len(stocks)
            for index, item in enumerate(stocks):
                resolved.append(self.check_stock_item(index, item, errors))
        if errors:
            raise invalid(errors)
        warehouse_id = int(float(warehouse_id))
        changes = [(offer, warehouse_id, number(item["quantity"]), None)
                   for offer, item in resolved if offer is not None]
        crm.change_stock(changes)
        return {"status": True}

    def check_stock_item(self, index, item, errors):
        """Validate stocks.N; returns (offer or None, item)."""
        crm = self.crm
        prefix = "stocks.%d" % index
        if not isinstance(item, dict):
            errors[prefix] = ["The %s must be an array." % prefix]
            return None, item
        has_id = item.get("id") not in (None, "")
        has_sku = item.get("sku") not in (None, "")
        offer = None
        if not has_id and not has_sku:
            errors[prefix + ".sku"] = ["The %s.sku field is required when %s.id is not present." % (prefix, prefix)]
        elif has_id:
            if not is_integer(item["id"]):
                errors[prefix + ".id"] = ["The %s.id must be an integer." % prefix]
            else:
                offer = crm.offers.get(int(float(item["id"])))
                if offer is None and crm.options["unknown_sku"] == "422":
                    errors[prefix + ".id"] = ["The selected %s.id is invalid." % prefix]
        else:
            if not isinstance(item["sku"], str):
                errors[prefix + ".sku"] = ["The %s.sku must be a string." % prefix]
            else:
                offer = crm.by_sku(item["sku"])
                if offer is None and crm.options["unknown_sku"] == "422":
                    errors[prefix + ".sku"] = ["The selected %s.sku is invalid." % prefix]
        quantity = item.get("quantity")
        if quantity is None or quantity == "":
            errors[prefix + ".quantity"] = ["The %s.quantity field is required." % prefix]
        elif not is_numeric(quantity):
            errors[prefix + ".quantity"] = ["The %s.quantity must be a number." % prefix]
        return offer, item

    # ---- control API ------------------------------------------------------------

    CONTROL = {
        "reset": ("POST", "control_reset", True),
        "state": (None, "control_state", True),
        "stock": ("POST", "control_stock", True),
        "offers": ("POST", "control_offers", True),
        "config": (None, "control_config", True),
        "webhooks/clear": ("POST", "control_webhooks_clear", True),
        # Deliveries run outside the state lock (our endpoint may call back into us).
        "webhooks": (None, "control_webhooks", False),
        "webhooks/deliver": ("POST", "control_deliver", False),
    }

    def control_lock(self):
        return self.crm.lock

    def control_reset(self, payload):
        self.crm.reset(payload.get("warehouses"), payload.get("offers"), payload.get("stocks"),
                       payload.get("options"))
        self.server.faults.clear()
        return {"ok": True}

    def control_state(self, payload):
        return self.crm.state()

    def control_offers(self, payload):
        crm = self.crm
        changed = [crm.upsert_offer(o) for o in payload.get("upsert") or []]
        for oid in payload.get("delete") or []:
            crm.offers.pop(int(oid), None)
            for key in [k for k in crm.stock if k[0] == int(oid)]:
                del crm.stock[key]
        return {"ok": True, "offers": changed}

    def control_log(self, payload):
        return self.crm.log

    def control_log_clear(self, payload):
        self.crm.log = []
        return {"ok": True}

    def control_config(self, payload):
        crm = self.crm
        if self.command == "POST":
            for key in ("webhook_url", "api_key"):
                if key in payload:
                    crm.config[key] = payload[key]
            crm.set_options({k: v for k, v in payload.items() if k not in ("webhook_url", "api_key")})
        return dict(crm.config, options=crm.options)

    def control_webhooks_clear(self, payload):
        self.crm.webhooks.clear()
        return {"ok": True}

    def control_webhooks(self, payload):
        return self.crm.webhooks.snapshot()

    def control_stock(self, payload):
        crm = self.crm
        rows = payload.get("changes") if "changes" in payload else [payload]
        changes = []
        for row in rows:
            offer = crm.resolve(row)
            if offer is None:
                raise ValueError("unknown offer %r" % (row.get("sku") or row.get("offer_id")))
            warehouse_id = int(row.get("warehouse_id", min(crm.warehouses)))
            if warehouse_id not in crm.warehouses:
                raise ValueError("unknown warehouse %d" % warehouse_id)
            changes.append((offer, warehouse_id, row.get("quantity"), row.get("reserve")))
        webhook_ids = crm.change_stock(changes)
        return {"ok": True, "webhooks": webhook_ids,
                "offers": [o for o in crm.state()["offers"] if o["id"] in {c[0]["id"] for c in changes}]}

    def control_deliver(self, payload):
        webhooks = self.crm.webhooks
        ids = payload.get("ids")
        if ids is None:
            ids = [w["id"] for w in webhooks.snapshot() if w["delivered"] == 0]
        results = []
        for _ in range(int(payload.get("times", 1))):
            for webhook_id in ids:
                results.append(webhooks.deliver(int(webhook_id)))
        return results

    # ---- request log ------------------------------------------------------------

    def record(self, status, fault=None):
        entry = {"method": self.command, "path": self.raw_path, "query": self.query, "status": status,
                 "items": getattr(self, "batch_items", None), "over_limit": getattr(self, "over_limit", False),
                 "auth_ok": getattr(self, "auth_ok", False), "t": round(self.t0, 3),
                 "body": getattr(self, "log_body", None), "fault": fault}
        with self.crm.lock:
            self.crm.log.append(entry)


# --------------------------------------------------------------------------
# Construction and command line
# --------------------------------------------------------------------------


def make_server(port=0, api_key="test-key", webhook_url=None):
    """Build (but do not start) a fake KeyCRM server bound to 127.0.0.1.

    ``server.start_background()`` serves from a thread, ``server.stop()`` stops;
    ``server.crm`` is the state."""
    server = FakeServer(("127.0.0.1", port), CrmHandler)
    server.crm = Crm(api_key, webhook_url, server.stopping)
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fake KeyCRM OpenAPI for tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--webhook-url")
    args = parser.parse_args(argv)
    return serve_main(make_server(args.port, args.api_key, args.webhook_url))


if __name__ == "__main__":
    sys.exit(main())
