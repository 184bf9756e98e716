"""The fake shop's WordPress REST semantics (fake_woo.py): its constants, WooError and
the parameter validation, URL helpers (add_query_arg and friends) and _fields filtering.
"""

import math
import os
import re
import sys
import unicodedata
from datetime import datetime, timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakebase import parse_php_query, php_urlencode  # noqa: E402


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
