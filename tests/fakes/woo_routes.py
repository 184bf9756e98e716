"""The fake shop's REST routes (fake_woo.py): products, variations, batches, orders,
settings and webhooks, registered in ROUTES.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import woo_webhooks  # noqa: E402
from fakebase import now_gmt  # noqa: E402
from woo_rest import (BATCH_LIMIT, LIST_SCHEMA, ORDER_LIST_SCHEMA, VARIATION_LIST_SCHEMA,  # noqa: E402
                      VARIATION_WRITE_SCHEMA, WRITE_SCHEMA, WooError, filter_keyed, keyed_fields,
                      php_intval, php_is_numeric, sanitize_text_field, sku_key, to_bool, validate,
                      wp_list_fields)
from woo_serialize import Serializer, shape_generic, shape_product  # noqa: E402


ROUTES = []


def route(methods, pattern, allow):
    """Register a REST route: methods, regex on the path after /wp-json, Allow header."""
    def register(func):
        ROUTES.append((set(methods.split()), re.compile("^" + pattern + "$"), func, allow))
        return func
    return register


EDIT = "POST PUT PATCH"


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
