"""OAuth 1.0a as WooCommerce 7.8 checks it (WC_REST_Authentication), for fake_woo.py.
"""

import base64
import hashlib
import hmac
import os
import re
import sys
import time
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakebase import php_rawurldecode, php_rawurlencode, php_urldecode  # noqa: E402
from woo_rest import OAUTH_WINDOW, WooError, php_intval, set_scheme  # noqa: E402


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
