#!/usr/bin/env python3
"""The simulated KeyCRM (tests/fakes/fake_keycrm.py) with indexes, for benchmarks of
large catalogues.

Why: the stock fake looks an offer up by SKU by sorting every offer (O(N log N) per SKU),
sums an offer's stock by walking every stock cell (O(cells) per offer), checks each change
of a PUT against every other change (O(k^2)), and builds the stock item of every offer for
each page of GET /offers/stocks. A PUT of 10,000 items against 100,000 offers would take
hours, which would measure the fake, not the program. Here:

  - Crm.by_sku          a dict per SKU (the lowest offer id wins, as in the stock code)
  - Crm.cell / totals   the cells of each offer, in the order the stock code sums them
  - Crm.change_stock    the same webhook payload, the changes grouped by offer once
  - GET /offers/stocks  items are built for the requested page only, and
                        filter[offers_sku] is looked up by SKU

The indexes are rebuilt after every control request (offers may have changed) and checked
against the stock dict sizes on every use. Everything else is the stock fake's own code.

Check: with KC_FAKE_INDEX_CHECK=N in the environment, while the CRM holds at most N offers,
each indexed answer is compared with the stock code's and a difference is a 500 answer.

Command line: as fake_keycrm.py.
"""

import os
import sys
from collections.abc import Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "fakes"))

import fake_keycrm  # noqa: E402
from fake_keycrm import Crm, CrmError, CrmHandler  # noqa: E402

_CHECK_MAX = int(os.environ.get("KC_FAKE_INDEX_CHECK", "0") or 0)
_generation = [0]


def _check(crm):
    return _CHECK_MAX and len(crm.offers) <= _CHECK_MAX


def _mismatch(what):
    raise CrmError(500, {"message": "bench index mismatch: " + what})


# ---- stock cells, per offer ----------------------------------------------------------------

def _cells(crm):
    """{offer_id: {warehouse_id: cell}} mirroring crm.stock, in its insertion order."""
    idx = getattr(crm, "_bench_cells", None)
    if idx is None or idx[0] is not crm.stock or idx[1][0] != len(crm.stock):
        per_offer = {}
        for (oid, wid), cell in crm.stock.items():
            per_offer.setdefault(oid, {})[wid] = cell
        idx = (crm.stock, [len(crm.stock)], per_offer)
        crm._bench_cells = idx
    return idx


def cell(self, offer_id, warehouse_id):
    key = (offer_id, warehouse_id)
    found = self.stock.get(key)
    if found is not None:
        return found
    idx = _cells(self)
    found = self.stock[key] = {"quantity": 0, "reserve": 0}
    idx[2].setdefault(offer_id, {})[warehouse_id] = found
    idx[1][0] += 1
    return found


_stock_totals = Crm.totals


def totals(self, offer_id, warehouses=None):
    quantity = reserve = 0
    for wid, c in _cells(self)[2].get(offer_id, {}).items():
        if warehouses is None or wid in warehouses:
            quantity += c["quantity"]
            reserve += c["reserve"]
    result = (quantity, reserve)
    if _check(self) and result != _stock_totals(self, offer_id, warehouses):
        _mismatch("totals")
    return result


# ---- offers by SKU ---------------------------------------------------------------------------

_stock_by_sku = Crm.by_sku


def _sku_key(crm, sku):
    if crm.options.get("sku_match") == "ci":
        return sku.rstrip(" ").casefold()
    return sku


def by_sku(self, sku):
    key = (_generation[0], id(self.offers), len(self.offers), self.options.get("sku_match"))
    idx = getattr(self, "_bench_skus", None)
    if idx is None or idx[0] != key:
        table = {}
        for offer in sorted(self.offers.values(), key=lambda o: o["id"]):
            if offer["sku"]:
                table.setdefault(_sku_key(self, offer["sku"]), offer)
        idx = (key, table)
        self._bench_skus = idx
    found = idx[1].get(_sku_key(self, str(sku)))
    if _check(self) and found is not _stock_by_sku(self, sku):
        _mismatch("by_sku")
    return found


# ---- filter[offers_sku]=A,B,... without comparing every offer with every SKU ------------

_stock_sku_filter = CrmHandler.sku_filter


def sku_filter(self, offers, value):
    crm = self.crm
    key = (_generation[0], id(crm.offers), len(crm.offers), crm.options.get("sku_match"))
    idx = getattr(crm, "_bench_sku_all", None)
    if idx is None or idx[0] != key:
        table = {}
        for offer in crm.offers.values():
            if offer["sku"]:
                table.setdefault(_sku_key(crm, offer["sku"]), []).append(offer)
        idx = (key, table)
        crm._bench_sku_all = idx
    matched = set()
    for w in fake_keycrm.split_list(value):
        for offer in idx[1].get(_sku_key(crm, str(w)), []):
            matched.add(offer["id"])
    result = [o for o in offers if o["id"] in matched]
    if _check(crm) and result != _stock_sku_filter(self, offers, value):
        _mismatch("sku_filter")
    return result


# ---- change_stock without the quadratic scan ---------------------------------------------

def change_stock(self, changes):
    """As Crm.change_stock (same payload, same webhooks), grouping the changes by offer."""
    before = {}
    touched = {}
    for offer, wid, _, _ in changes:
        before.setdefault(offer["id"], self.watched(offer["id"]))
        touched.setdefault(offer["id"], []).append(wid)
    for offer, warehouse_id, quantity, reserve in changes:
        c = self.cell(offer["id"], warehouse_id)
        if quantity is not None:
            c["quantity"] = fake_keycrm.number(quantity)
        if reserve is not None:
            c["reserve"] = fake_keycrm.number(reserve)
    payload = []
    watched = self.options.get("webhook_warehouses")
    watched_ids = [int(w) for w in watched] if watched else None
    for offer_id, old in before.items():
        new = self.watched(offer_id)
        touched_watched = any(not watched or wid in watched_ids for wid in touched[offer_id])
        if new != old or self.options.get("webhook_on_noop") and touched_watched:
            offer = self.offers[offer_id]
            payload.append({"offer_id": offer_id, "sku": offer["sku"], "in_stock": new[0],
                            "in_reserve": new[1]})
    size = int(self.options.get("webhook_batch_max") or 0) or len(payload) or 1
    ids = []
    for start in range(0, len(payload), size):
        ids.append(self.webhooks.add(payload[start:start + size])["id"])
    return ids


# ---- GET /offers/stocks: build the requested page only -------------------------------------

class _Lazy(Sequence):
    def __init__(self, records, build):
        self.records, self.build = records, build

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.build(r) for r in self.records[i]]
        return self.build(self.records[i])


_stock_list_stocks = CrmHandler.list_stocks


def list_stocks(self):
    crm = self.crm
    limit, page = self.page_params()
    filters = self.filters()
    offers = sorted(crm.offers.values(), key=lambda o: o["id"])
    if "offers_sku" in filters:
        offers = self.sku_filter(offers, filters["offers_sku"])
    if "offers_id" in filters:
        ids = fake_keycrm.id_list(filters["offers_id"])
        offers = [o for o in offers if o["id"] in ids]
    details = str(filters.get("details", "")).lower() in ("true", "1")
    answer = fake_keycrm.paginate(_Lazy(offers, lambda o: crm.stock_item(o, details)),
                                  limit, page, self.path_url())
    if _check(crm) and answer != _stock_list_stocks(self):
        _mismatch("list_stocks")
    return answer


# ---- generations ---------------------------------------------------------------------------

_stock_handle_control = CrmHandler.handle_control


def handle_control(self):
    try:
        return _stock_handle_control(self)
    finally:
        _generation[0] += 1


Crm.cell = cell
Crm.totals = totals
Crm.by_sku = by_sku
Crm.change_stock = change_stock
CrmHandler.list_stocks = list_stocks
CrmHandler.sku_filter = sku_filter
CrmHandler.handle_control = handle_control

if __name__ == "__main__":
    sys.exit(fake_keycrm.main())
