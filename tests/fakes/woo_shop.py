"""The fake shop's state (fake_woo.py): the catalogue, orders, stock rules and the
hooks a save fires.
"""

import copy
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import woo_webhooks  # noqa: E402
from fakebase import now_gmt  # noqa: E402
from woo_rest import (DEFAULT_CATALOGUE, DEFAULT_OPTIONS, MSG_USE_VARIATIONS, POST_STATUSES,  # noqa: E402
                      PRODUCT_TYPES, WooError, php_intval, sanitize_title, sku_key, to_bool)
from woo_serialize import Serializer  # noqa: E402


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
