"""The fake shop's serializers (fake_woo.py): records as the REST API shows them.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakebase import php_urlencode  # noqa: E402
from woo_rest import (filter_keyed, keyed_fields, php_intval, sanitize_title,  # noqa: E402
                      wp_list_fields)


# --------------------------------------------------------------------------
# Serializers
# --------------------------------------------------------------------------

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
