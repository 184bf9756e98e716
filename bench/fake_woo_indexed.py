#!/usr/bin/env python3
"""The simulated WooCommerce shop (tests/fakes/fake_woo.py) with indexes for the catalogue
listings a sync reads and the SKU lookups an applier makes, for benchmarks of large
catalogues.

Why: the stock fake filters and sorts its whole catalogue in Python for every page it
answers, and serialises each product's "related_ids" by sorting the whole catalogue, so
a scan costs O(N^2): 30 s instead of 1 s for 10,000 SKUs, most of an hour for 100,000 -
which would measure the fake, not the program. Here the listings the sync asks for

    GET /wp-json/wc/v3/products?per_page=..&page=..&orderby=id&order=asc[&modified_after=..]
    GET /wp-json/wc-analytics/variations?...   (the same parameters)

are answered from a list of the catalogue's records sorted by id, and the SKU lookups of
webhook application (GET /wp-json/wc/v3/products?sku=A,B,...) from an index by SKU; a
product's variations and "related_ids" come from indexes too. The indexes are built once
and rebuilt after any control request or any API request that is not a GET (which could
add, remove or re-type products). Everything else - the filter on modified_after, paging
headers and links, _fields, serialisation, authentication, latency and fault injection,
the request log - is the stock fake's own code. Any other query (a status or type
filter, another order) goes to the stock code unchanged.

Check: with KC_FAKE_INDEX_CHECK=N in the environment, every indexed listing of a catalogue
of at most N records is also computed the stock way, and a difference is a 500 answer
(so the program under test reports an error). bench/run.py sets it for its smallest size.

Command line: as fake_woo.py.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "fakes"))

import fake_woo  # noqa: E402
import woo_routes  # noqa: E402
from fake_woo import Serializer, WooError  # noqa: E402

# Parameters that make a listing something other than "the catalogue by id".
_FILTERS = {"sku", "search_sku", "type", "search", "include", "exclude", "parent",
            "stock_status", "modified_before", "after", "before", "offset"}
_CHECK_MAX = int(os.environ.get("KC_FAKE_INDEX_CHECK", "0") or 0)

_generation = [0]
_cache = {}


def _simple(params):
    return (not (_FILTERS & set(params)) and params.get("status", "any") == "any" and
            params.get("orderby") == "id")


def _by_id(h, variations):
    """The non-trash records of one kind, sorted by id (cached per generation)."""
    shop = h.shop
    key = ("variations" if variations else "products", _generation[0], id(shop.products),
           len(shop.products))
    hit = _cache.get(key[0])
    if hit is None or hit[0] != key:
        records = [r for r in shop.products.values()
                   if (r["type"] == "variation") == variations and r["status"] != "trash"]
        records.sort(key=lambda r: r["id"])
        hit = (key, records)
        _cache[key[0]] = hit
    return hit[1]


def _listing(h, params, variations):
    records = _by_id(h, variations)
    if "modified_after" in params:
        since = params["modified_after"]
        records = [r for r in records if r["date_modified_gmt"] > since]
    if params.get("order", "desc") == "desc":
        records = records[::-1]
    return records


def _differs(indexed, stock):
    return [r["id"] for r in indexed] != [r["id"] for r in stock]


def _sku_lookup(h, params):
    """?sku=A,B,...: the stock filter's matches (any type, not trash, sku_key equal to a
    part or to the whole parameter), from an index by sku_key; ordered by the stock code."""
    shop = h.shop
    key = ("skus", _generation[0], id(shop.products), len(shop.products))
    hit = _cache.get("skus")
    if hit is None or hit[0] != key:
        index = {}
        for r in shop.products.values():
            if r["sku"]:
                index.setdefault(fake_woo.sku_key(r["sku"]), []).append(r)
        hit = (key, index)
        _cache["skus"] = hit
    cleaned = fake_woo.sanitize_text_field(params["sku"])
    parts = cleaned.split(",")
    if len(parts) > 1:
        parts.append(cleaned)
    seen, out = set(), []
    for k in {fake_woo.sku_key(p) for p in parts}:
        for r in hit[1].get(k, []):
            if r["id"] not in seen and r["status"] != "trash":
                seen.add(r["id"])
                out.append(r)
    out = h.date_filters(out, params)
    return h.sort_records(out, params, h.sort_keys(), reverse_ties=True)


_SKU_FILTERS = _FILTERS - {"sku"}

_stock_product_list_filter = fake_woo.product_list_filter


def product_list_filter(h, params, analytics=False):
    if (not analytics and params.get("sku") not in (None, "", "0") and
            not (_SKU_FILTERS & set(params)) and params.get("status", "any") == "any"):
        records = _sku_lookup(h, params)
        if _CHECK_MAX and len(h.shop.products) <= _CHECK_MAX:
            if _differs(records, _stock_product_list_filter(h, params, analytics)):
                raise WooError(500, "bench_index_mismatch", "indexed SKU lookup differs")
        return records
    if analytics or not _simple(params):
        return _stock_product_list_filter(h, params, analytics)
    records = _listing(h, params, variations=False)
    if _CHECK_MAX and len(h.shop.products) <= _CHECK_MAX:
        if _differs(records, _stock_product_list_filter(h, params, analytics)):
            raise WooError(500, "bench_index_mismatch", "indexed product listing differs")
    return records


# The routes (woo_routes.py) look it up there.
woo_routes.product_list_filter = fake_woo.product_list_filter = product_list_filter


def analytics_variations(h, match, raw_params, body, authenticated, allow):
    params = fake_woo.validate(raw_params, fake_woo.VARIATION_LIST_SCHEMA)
    if not _simple(params):
        return _stock_analytics_variations(h, match, raw_params, body, authenticated, allow)
    h.require(authenticated, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
    records = _listing(h, params, variations=True)
    if _CHECK_MAX and len(h.shop.products) <= _CHECK_MAX:
        stock = [r for r in h.shop.products.values()
                 if r["type"] == "variation" and r["status"] != "trash"]
        stock = h.sort_records(h.date_filters(stock, params), params, h.sort_keys())
        if _differs(records, stock):
            raise WooError(500, "bench_index_mismatch", "indexed variation listing differs")
    # As the end of fake_woo.variation_collection(), for the analytics route.
    serializer = Serializer(h.shop, h.home())
    link_base = "%s/%s/products/(?P<product_id>[\\d]+)/variations" % (serializer.rest,
                                                                     "wc-analytics")
    chunk, headers, links = h.paginate(records, params, link_base)
    fields = h.query.get("_fields")
    items = [h.list_item(serializer.variation(r, True),
                         serializer.variation_links(r, 0, "wc-analytics"),
                         fields, fake_woo.shape_generic) for r in chunk]
    return h.collection_answer(items, headers, links, allow)


_stock_analytics_variations = fake_woo.analytics_variations
for _i, (_methods, _regex, _func, _allow) in enumerate(fake_woo.ROUTES):
    if _func is _stock_analytics_variations:
        fake_woo.ROUTES[_i] = (_methods, _regex, analytics_variations, _allow)
        break
else:
    raise SystemExit("fake_woo_indexed: the /wc-analytics/variations route was not found")

# Serialising a product also computes fields the sync's _fields drop, two of them by
# walking the whole catalogue for every product on the page: its "related_ids" (sorted
# over all products) and, for a variable product, its variations. Both are answered from
# per-generation indexes here, with the stock code's results.

_stock_children = fake_woo.Shop.children


def children(self, pid):
    key = (_generation[0], id(self.products), len(self.products))
    hit = _cache.get("children")
    if hit is None or hit[0] != key:
        index = {}
        for p in self.products.values():
            if p["type"] == "variation":
                index.setdefault(p["parent_id"], []).append(p)
        for lst in index.values():
            lst.sort(key=lambda p: p["id"])
        hit = (key, index)
        _cache["children"] = hit
    result = list(hit[1].get(pid, []))
    if _CHECK_MAX and len(self.products) <= _CHECK_MAX:
        if result != _stock_children(self, pid):
            raise WooError(500, "bench_index_mismatch", "indexed children differ")
    return result


_stock_related_ids = fake_woo.Serializer.related_ids


def related_ids(self, record):
    """Stock: the published non-variations but this one, stably sorted by
    (id * 7919 + record_id * 104729) % 1009, first five. Here: bucketed by id * 7919 % 1009
    in catalogue order, walked from the bucket whose key is 0."""
    shop = self.shop
    key = (_generation[0], id(shop.products), len(shop.products))
    hit = _cache.get("related")
    if hit is None or hit[0] != key:
        buckets = [[] for _ in range(1009)]
        for p in shop.products.values():
            if p["type"] != "variation" and p["status"] == "publish":
                buckets[p["id"] * 7919 % 1009].append(p["id"])
        hit = (key, buckets)
        _cache["related"] = hit
    buckets, rid = hit[1], record["id"]
    out = []
    start = (-(rid * 104729)) % 1009
    for step in range(1009):
        for i in buckets[(start + step) % 1009]:
            if i != rid:
                out.append(i)
                if len(out) == 5:
                    break
        if len(out) == 5:
            break
    if _CHECK_MAX and len(shop.products) <= _CHECK_MAX:
        if out != _stock_related_ids(self, record):
            raise WooError(500, "bench_index_mismatch", "indexed related_ids differ")
    return out


fake_woo.Shop.children = children
fake_woo.Serializer.related_ids = related_ids

_stock_handle_control = fake_woo.WooHandler.handle_control
_stock_handle_api = fake_woo.WooHandler.handle_api


def handle_control(self):
    try:
        return _stock_handle_control(self)
    finally:
        _generation[0] += 1


def handle_api(self):
    try:
        return _stock_handle_api(self)
    finally:
        if self.command not in ("GET", "HEAD"):
            _generation[0] += 1


fake_woo.WooHandler.handle_control = handle_control
fake_woo.WooHandler.handle_api = handle_api

if __name__ == "__main__":
    sys.exit(fake_woo.main())
