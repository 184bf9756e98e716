"""WooCommerce 7.8.2's own webhooks, for the fake shop (fake_woo.py).

Ground truth: the shared reference woocommerce-webhooks.md (measured on a real
WordPress 6.2.7 + WooCommerce 7.8.2), the recordings 30-32 in recordings/, and
WooCommerce's class-wc-webhook.php, wc-webhook-functions.php,
class-wc-webhook-data-store.php and the REST webhooks controller.

What is modelled (``WebhookEngine``):

* Webhook records as the ``wc_webhooks`` table holds them: id, name, status
  (``active``/``paused``/``disabled``), topic, delivery_url, secret, user_id,
  api_version 3, failure_count, pending_delivery, dates.  The REST object
  shows neither the secret nor the failure count.
* The ping: ``POST <delivery_url>`` with the form body ``webhook_id=N``,
  ``Content-Type: application/x-www-form-urlencoded``, the Hookshot user agent,
  no ``X-WC-Webhook-*`` headers, HTTP/1.0, 5 s timeout, no redirects followed.
  Sent inside the creating request, after the answer is built; the creation
  succeeds whatever the ping gets.  Only a 200 clears ``pending_delivery``;
  while it is set, every save of an active webhook (a REST update, the failure
  count saved after a delivery) pings again, and so does a change of
  delivery_url.
* Hooks: the shop calls ``fire(resource, event, arg)`` when it saves a product,
  variation or order and ``fire_action(hook)`` for ``woocommerce_*`` actions.
  Only active webhooks whose topic matches take note; within one request a
  webhook takes note of one resource once (``is_already_processed``).  At the
  end of the request (WooCommerce's ``shutdown``), depending on the mode:
  ``async`` (the default) queues one job per (webhook, resource) unless one is
  already pending (Action Scheduler: a product's pending delivery is not queued
  twice, so 20 saves before the queue runs give 1 delivery with the final
  value); ``sync`` delivers before the request is answered (filter
  ``woocommerce_webhook_deliver_async`` false); ``after_response`` delivers
  right after the answer, on the same worker (sync + fastcgi_finish_request).
* The queue runs only when told: ``run_queue()`` (control ``/webhooks/run``),
  an optional automatic interval (``queue_interval_s``: a runner started every
  N seconds, e.g. a cron job or ``wp action-scheduler run``), ``/wp-cron.php``
  (runs it when the every-minute event is due, after answering) and a wp-admin
  hit (``/wp-admin/admin-ajax.php``: starts a runner ~0.2 s later, at most once
  per 60 s).  Jobs run one after another, in the order queued; a job that has
  started no longer blocks a new one for the same resource.
* A delivery: the payload is built when it is sent (``GET /wc/v3/products/<id>``
  as the webhook's user, ``{"id": N}`` for ``deleted``, ``{"action", "arg": []}``
  for action topics), encoded like ``wp_json_encode``; ``POST``, HTTP/1.0,
  timeout 60 s, no redirects; headers Content-Type, X-WC-Webhook-Source (home
  URL + '/'), -Topic, -Resource, -Event, -Signature (base64 HMAC-SHA256 of the
  raw body with the secret), -ID, -Delivery-ID (a hash of the webhook id and
  the current second: not unique), User-Agent.  Queued jobs are delivered
  whatever the webhook's status is now (pausing cancels nothing queued).
* Outcome: 200-302 is a success and resets the failure count; anything else
  (or no answer) is a failure: the count goes up to 6, and the 7th failure in a
  row (still sent) disables the webhook, leaving the count at 6, so after a
  re-enable one more failure disables it again.  Nothing is ever retried.
* ``safe_urls`` (off by default, as on a shop with the small mu-plugin the
  reference used): wp_safe_remote_* refuses ports other than 80, 443 and 8080
  (and the site's own) and private/loopback hosts other than the site's own;
  pings and deliveries then fail with "A valid URL was not provided.".

Not modelled: Action Scheduler's batch sizes and time limits, a runner that
restarts itself every ~5 s while jobs keep coming, a queue backlog of other
jobs, the checkout (Store API) drafts that fire ``order.created`` without a
stock change, a refund restocking some items (only a whole order's
cancellation), jobs of a deleted webhook (dropped here; WooCommerce 7.8 would
run them with an empty record), redirects followed by the ping (WordPress
follows up to 5), the ``/webhooks/batch`` route, the other resources'
hooks (coupons, customers).
"""

import base64
import hashlib
import hmac
import http.client
import ipaddress
import secrets
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

from fakebase import now_gmt, php_json

USER_AGENT = "WooCommerce/7.8.2 Hookshot (WordPress/6.2.7)"
STATUSES = ("active", "paused", "disabled")
RESOURCES = ("coupon", "customer", "order", "product")
EVENTS = ("created", "updated", "deleted", "restored")
INVALID_TOPICS = ("action.woocommerce_login_credentials",
                  "action.woocommerce_product_csv_importer_check_import_file_path",
                  "action.woocommerce_webhook_should_deliver")
TOPIC_HOOKS = {
    "coupon.created": ["woocommerce_process_shop_coupon_meta", "woocommerce_new_coupon"],
    "coupon.updated": ["woocommerce_process_shop_coupon_meta", "woocommerce_update_coupon"],
    "coupon.deleted": ["wp_trash_post"],
    "coupon.restored": ["untrashed_post"],
    "customer.created": ["user_register", "woocommerce_created_customer", "woocommerce_new_customer"],
    "customer.updated": ["profile_update", "woocommerce_update_customer"],
    "customer.deleted": ["delete_user"],
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post"],
    "order.restored": ["untrashed_post"],
    "product.created": ["woocommerce_process_product_meta", "woocommerce_new_product",
                        "woocommerce_new_product_variation"],
    "product.updated": ["woocommerce_process_product_meta", "woocommerce_update_product",
                        "woocommerce_update_product_variation"],
    "product.deleted": ["wp_trash_post"],
    "product.restored": ["untrashed_post"],
}
MAX_FAILURES = 5  # woocommerce_max_webhook_delivery_failures: disabled when the count is above it
SAFE_PORTS = (80, 443, 8080)
MODES = ("async", "sync", "after_response")
DEFAULT_SETTINGS = {
    "mode": "async",            # async | sync | after_response
    "queue_interval_s": 0,      # > 0: a runner every N s; 0: only when told
    "delivery_timeout_s": 60,   # WooCommerce: MINUTE_IN_SECONDS
    "ping_timeout_s": 5,        # wp_safe_remote_post's default
    "cron_interval_s": 60,      # wp-cron.php runs the queue when this much has passed
    "admin_start_delay_s": 0.2,  # a wp-admin hit starts the runner this much later
    "admin_start_every_s": 60,  # at most one such start per this many seconds
    "safe_urls": False,         # true: wp_safe_remote_*'s URL checks (no mu-plugin)
    "ca_file": None,            # CA for https delivery URLs (verification is always on)
}
PASSWORD_CHARS = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                  "!@#$%^&*()-_ []{}<>~`+=,.;:/?|")
RESPONSE_KEEP = 2048  # bytes of a receiver's answer kept in the delivery log


class RestError(Exception):
    """A WP_Error of the webhooks controller; fake_woo turns it into its WooError."""

    def __init__(self, status, code, message, **data):
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data


# --------------------------------------------------------------------------
# WooCommerce helper functions
# --------------------------------------------------------------------------


def valid_topic(topic):
    """wc_is_webhook_valid_topic()."""
    if topic in INVALID_TOPICS:
        return False
    if topic.startswith("action.woocommerce_") or topic.startswith("action.wc_"):
        return True
    parts = topic.split(".")
    return len(parts) >= 2 and parts[0] in RESOURCES and parts[1] in EVENTS


def valid_url(url):
    """wc_is_valid_url(): http(s):// and roughly PHP's FILTER_VALIDATE_URL."""
    if not (url.startswith("http://") or url.startswith("https://")):
        return False
    if any(c.isspace() for c in url) or any(ord(c) > 126 for c in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return False
    return bool(parts.hostname)


def split_topic(topic):
    """(resource, event) of a topic, as WC_Webhook::get_resource()/get_event()."""
    parts = topic.split(".")
    return parts[0], parts[1] if len(parts) > 1 else ""


def topic_hooks(topic):
    resource, event = split_topic(topic)
    if resource == "action":
        return [event]
    return list(TOPIC_HOOKS.get(topic, []))


def generate_secret():
    """wp_generate_password(50, true, true)."""
    return "".join(secrets.choice(PASSWORD_CHARS) for _ in range(50))


def specialchars_decode(text):
    """wp_specialchars_decode($secret, ENT_QUOTES): the key the signature uses."""
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#039;", "'"),
                         ("&#39;", "'"), ("&#x27;", "'"), ("&amp;", "&")):
        text = text.replace(entity, char)
    return text


def signature(secret, body):
    """X-WC-Webhook-Signature: base64(HMAC-SHA256(secret, raw body))."""
    digest = hmac.new(specialchars_decode(secret).encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def delivery_id(webhook_id, now=None):
    """wp_hash(id . time()): the same for every delivery of one webhook in one second."""
    second = int(time.time() if now is None else now)
    return hmac.new(b"fake-wp-auth-salt", ("%d%d" % (webhook_id, second)).encode(), hashlib.md5).hexdigest()


def webhook_created_name():
    """'Webhook created on %s' with DateTime::format('M d, Y @ h:i A') (site time = UTC)."""
    return "Webhook created on " + time.strftime("%b %d, %Y @ %I:%M %p", time.gmtime())


def url_is_safe(url, home_url):
    """wp_http_validate_url() as wp_safe_remote_* applies it."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    home = urlsplit(home_url)
    same_host = (home.hostname or "").lower() == parts.hostname.lower()
    if not same_host:
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            address = None
        if address is not None and (address.is_private or address.is_loopback or address.is_unspecified):
            return False
        if parts.hostname == "localhost":
            return False
    if same_host and home.port and port == home.port:
        return True
    return port in SAFE_PORTS


class Http10(http.client.HTTPConnection):
    """WordPress sends webhooks as HTTP/1.0 requests."""
    _http_vsn = 10
    _http_vsn_str = "HTTP/1.0"


class Https10(http.client.HTTPSConnection):
    _http_vsn = 10
    _http_vsn_str = "HTTP/1.0"


def http_post(url, body, headers, timeout, ca_file=None):
    """One POST without redirects. Returns {"status", "error", "response"}."""
    parts = urlsplit(url)
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    try:
        port = parts.port
    except ValueError:
        return {"status": None, "error": "A valid URL was not provided.", "response": None}
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=ca_file)
        conn = Https10(parts.hostname, port, timeout=timeout, context=context)
    else:
        conn = Http10(parts.hostname, port, timeout=timeout)
    try:
        conn.putrequest("POST", target, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        answer = conn.getresponse()
        data = answer.read()
        return {"status": answer.status, "error": None,
                "response": data[:RESPONSE_KEEP].decode("utf-8", "replace")}
    except socket.timeout:
        return {"status": None, "response": None,
                "error": "cURL error 28: Operation timed out after %d milliseconds with 0 bytes received"
                         % int(timeout * 1000)}
    except (OSError, http.client.HTTPException) as error:
        return {"status": None, "response": None, "error": "cURL error 7: %s" % (error,)}
    finally:
        conn.close()


# --------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------


class WebhookEngine:
    """Webhook records, the delivery queue, deliveries and their log.

    ``payload(resource, event, arg)`` builds the body data (fake_woo takes the
    shop's lock for it); ``home_url()`` gives the site URL.  Lock order: the
    shop's lock before ``self.lock``; nothing is sent while either is held."""

    def __init__(self, payload, home_url, stopping=None, settings=None):
        self.payload = payload
        self.home_url = home_url
        self.stopping = stopping or threading.Event()
        self.lock = threading.RLock()
        self.runner = threading.Lock()  # one queue runner at a time
        self.local = threading.local()
        self.defaults = dict(DEFAULT_SETTINGS, **(settings or {}))
        self.wake = threading.Event()
        self.reset()
        threading.Thread(target=self._interval_runner, daemon=True).start()

    # ---- state -------------------------------------------------------------

    def reset(self):
        with self.lock:
            self.webhooks = {}
            self.jobs = []
            self.deliveries = []
            self.next_webhook = self.next_job = self.next_delivery = 1
            self.settings = dict(self.defaults)
            self.last_cron = self.last_admin = None
        self.wake.set()

    def configure(self, changes):
        unknown = set(changes) - set(DEFAULT_SETTINGS)
        if unknown:
            raise ValueError("unknown webhook settings: %s" % ", ".join(sorted(unknown)))
        if "mode" in changes and changes["mode"] not in MODES:
            raise ValueError("mode must be one of %s" % ", ".join(MODES))
        for key in ("queue_interval_s", "delivery_timeout_s", "ping_timeout_s", "cron_interval_s",
                    "admin_start_delay_s", "admin_start_every_s"):
            if key in changes and (not isinstance(changes[key], (int, float)) or changes[key] < 0):
                raise ValueError("%s must be a number >= 0" % key)
        for key in ("delivery_timeout_s", "ping_timeout_s"):
            if key in changes and not changes[key] > 0:
                raise ValueError("%s must be more than 0" % key)
        with self.lock:
            self.settings.update(changes)
            self.settings["safe_urls"] = bool(self.settings["safe_urls"])
            settings = dict(self.settings)
        self.wake.set()
        return settings

    def snapshot(self):
        """The records as the database holds them (secret and failure count included)."""
        with self.lock:
            out = []
            for record in sorted(self.webhooks.values(), key=lambda r: r["id"]):
                item = dict(record)
                item["queued"] = sum(1 for job in self.jobs if job["webhook_id"] == record["id"])
                out.append(item)
            return out

    def queue(self):
        with self.lock:
            return [dict(job) for job in self.jobs]

    def delivery_log(self, since=0, webhook_id=None, kind=None):
        with self.lock:
            return [dict(d) for d in self.deliveries if d["id"] > since and
                    (webhook_id is None or d["webhook_id"] == webhook_id) and (kind is None or d["kind"] == kind)]

    def clear_deliveries(self):
        with self.lock:
            self.deliveries = []

    def get(self, webhook_id):
        with self.lock:
            record = self.webhooks.get(webhook_id)
            return dict(record) if record else None

    # ---- the REST controller's operations ------------------------------------

    def rest_view(self, record):
        """prepare_item_for_response() of the v2/v3 controller (without _links)."""
        resource, event = split_topic(record["topic"])
        return {"id": record["id"], "name": record["name"], "status": record["status"],
                "topic": record["topic"], "resource": resource, "event": event,
                "hooks": topic_hooks(record["topic"]), "delivery_url": record["delivery_url"],
                "date_created": record["date_created_gmt"], "date_created_gmt": record["date_created_gmt"],
                "date_modified": record["date_modified_gmt"], "date_modified_gmt": record["date_modified_gmt"]}

    def rest_create(self, params, user_id=1):
        """create_item(): the given status is ignored (always active); ping after."""
        if params.get("id"):
            raise RestError(400, "woocommerce_rest_shop_webhook_exists", "Cannot create existing shop_webhook.")
        topic = params.get("topic") or ""
        if not topic or not valid_topic(str(topic).lower()):
            raise RestError(400, "woocommerce_rest_shop_webhook_invalid_topic",
                            "Webhook topic is required and must be valid.")
        url = params.get("delivery_url") or ""
        if not url or not valid_url(url):
            raise RestError(400, "woocommerce_rest_shop_webhook_invalid_delivery_url",
                            "Webhook delivery URL must be a valid URL starting with http:// or https://.")
        topic = topic.strip()
        with self.lock:
            record = {"id": self.next_webhook, "name": params.get("name") or webhook_created_name(),
                      "status": "active", "topic": topic if valid_topic(topic) else "",
                      "delivery_url": url, "secret": params.get("secret") or generate_secret(),
                      "user_id": user_id, "api_version": 3, "failure_count": 0, "pending_delivery": True,
                      "date_created_gmt": now_gmt(), "date_modified_gmt": None}
            self.next_webhook += 1
            self.webhooks[record["id"]] = record
        self._ping_later(record["id"])
        return dict(record)

    def rest_update(self, webhook_id, params):
        """update_item(): topic, delivery_url, secret, status, name; the save may ping."""
        with self.lock:
            record = self.webhooks.get(webhook_id)
            if record is None:
                raise RestError(400, "woocommerce_rest_shop_webhook_invalid_id", "ID is invalid.")
            work = dict(record)
            if params.get("topic"):
                if not valid_topic(str(params["topic"]).lower()):
                    raise RestError(400, "woocommerce_rest_shop_webhook_invalid_topic", "Webhook topic must be valid.")
                topic = params["topic"].strip()
                work["topic"] = topic if valid_topic(topic) else ""
            url_changed = False
            if params.get("delivery_url"):
                if not valid_url(params["delivery_url"]):
                    raise RestError(400, "woocommerce_rest_shop_webhook_invalid_delivery_url",
                                    "Webhook delivery URL must be a valid URL starting with http:// or https://.")
                url_changed = params["delivery_url"] != work["delivery_url"]
                work["delivery_url"] = params["delivery_url"]
            if params.get("secret"):
                work["secret"] = params["secret"]
            if params.get("status"):
                if params["status"].lower() not in STATUSES:
                    raise RestError(400, "woocommerce_rest_shop_webhook_invalid_status",
                                    "Webhook status must be valid.")
                work["status"] = params["status"] if params["status"] in STATUSES else "disabled"
            if params.get("name"):
                work["name"] = params["name"]
            self.webhooks[webhook_id] = work
            ping = self._save(work, url_changed)
        if ping:
            self._ping_later(webhook_id)
        return dict(work)

    def rest_delete(self, webhook_id):
        with self.lock:
            record = self.webhooks.pop(webhook_id, None)
            if record is None:
                raise RestError(404, "woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.")
            return record

    def control_create(self, params):
        """As a REST create by the shop's admin, for tests that need a webhook registered."""
        return self.rest_create(params)

    def control_edit(self, webhook_id, changes):
        """A direct edit of the stored record (no save side effects, no ping)."""
        allowed = {"status", "failure_count", "pending_delivery", "delivery_url", "secret", "name", "topic"}
        unknown = set(changes) - allowed - {"id"}
        if unknown:
            raise ValueError("cannot edit: %s" % ", ".join(sorted(unknown)))
        if "status" in changes and changes["status"] not in STATUSES:
            raise ValueError("status must be one of %s" % ", ".join(STATUSES))
        with self.lock:
            record = self.webhooks[webhook_id]
            record.update({k: v for k, v in changes.items() if k != "id"})
            record["failure_count"] = int(record["failure_count"])
            record["pending_delivery"] = bool(record["pending_delivery"])
            return dict(record)

    def _save(self, record, url_changed=False):
        """WC_Webhook_Data_Store::update(): date_modified moves; True when a ping is due."""
        record["date_modified_gmt"] = now_gmt()
        return record["status"] == "active" and (url_changed or record["pending_delivery"])

    # ---- hooks and the end of a request ---------------------------------------

    def begin(self):
        """A request starts (the shop's hooks fired until end() belong to it)."""
        self.local.context = {"fired": [], "seen": set(), "pings": []}

    def fire(self, resource, event, arg):
        """A WooCommerce hook of resource.event fired for object id ``arg``."""
        self._note(resource + "." + event, arg, str(arg), (resource, event))

    def fire_action(self, hook):
        """A ``do_action(hook, $object)``: action.<hook> topics; the object encodes to []."""
        self._note("action." + hook, [], "[]", ("action", hook))

    def _note(self, topic, arg, key, what):
        with self.lock:
            matching = [r["id"] for r in self.webhooks.values() if r["status"] == "active" and r["topic"] == topic]
        context = getattr(self.local, "context", None)
        for webhook_id in matching:
            item = {"webhook_id": webhook_id, "arg": arg, "key": key, "resource": what[0], "event": what[1]}
            if context is None:
                self._enqueue(item)
            elif (webhook_id, key) not in context["seen"]:
                context["seen"].add((webhook_id, key))
                context["fired"].append(item)

    def _ping_later(self, webhook_id):
        context = getattr(self.local, "context", None)
        if context is None:
            self.ping(webhook_id)
        else:
            context["pings"].append(webhook_id)

    def end(self):
        """The request's shutdown, called once the shop's lock is released and
        before the answer is sent: pings, then queue or deliver what was fired.
        Returns the deliveries to send after the answer (after_response mode)."""
        context = getattr(self.local, "context", None)
        self.local.context = None
        if context is None:
            return []
        for webhook_id in context["pings"]:
            self.ping(webhook_id)
        mode = self.settings["mode"]
        if mode == "async":
            for item in context["fired"]:
                self._enqueue(item)
            return []
        if mode == "sync":
            for item in context["fired"]:
                self.deliver(item, mode)
            return []
        return context["fired"]

    def after_answer(self, items):
        for item in items:
            self.deliver(item, "after_response")

    # ---- the queue -------------------------------------------------------------

    def _enqueue(self, item):
        with self.lock:
            for job in self.jobs:
                if job["webhook_id"] == item["webhook_id"] and job["key"] == item["key"]:
                    return None
            job = dict(item, id=self.next_job, queued_at=round(time.time(), 3))
            self.next_job += 1
            self.jobs.append(job)
            return job

    def run_queue(self, limit=None):
        """Run the pending jobs in order (also those queued meanwhile); returns
        the deliveries made."""
        made = []
        with self.runner:
            while limit is None or len(made) < limit:
                with self.lock:
                    if not self.jobs:
                        break
                    job = self.jobs.pop(0)  # started: no longer blocks a new job
                made.append(self.deliver(job, "async", queued_at=job["queued_at"]))
        return [d for d in made if d is not None]

    def _interval_runner(self):
        last = time.monotonic()
        while not self.stopping.is_set():
            interval = self.settings.get("queue_interval_s") or 0
            if interval <= 0:
                self.wake.wait(0.5)
                self.wake.clear()
                last = time.monotonic()
                continue
            remaining = interval - (time.monotonic() - last)
            if remaining > 0:
                self.wake.wait(min(remaining, 0.5))
                self.wake.clear()
                continue
            last = time.monotonic()
            if self.jobs:
                self.run_queue()

    def cron_due(self):
        """wp-cron.php: True when the every-minute queue event is due (and claims it)."""
        with self.lock:
            now = time.monotonic()
            if self.last_cron is not None and now - self.last_cron < self.settings["cron_interval_s"]:
                return False
            self.last_cron = now
            return True

    def admin_hit(self):
        """A wp-admin request: starts a runner a moment later, at most once per minute."""
        with self.lock:
            now = time.monotonic()
            if self.last_admin is not None and now - self.last_admin < self.settings["admin_start_every_s"]:
                return False
            self.last_admin = now
            delay = self.settings["admin_start_delay_s"]
        timer = threading.Timer(delay, self.run_queue)
        timer.daemon = True
        timer.start()
        return True

    # ---- sending ---------------------------------------------------------------

    def _blocked(self, url):
        return self.settings["safe_urls"] and not url_is_safe(url, self.home_url())

    def deliver(self, item, mode, queued_at=None):
        """WC_Webhook::deliver() then log_delivery()'s failure tracking."""
        with self.lock:
            record = self.webhooks.get(item["webhook_id"])
            record = dict(record) if record else None
        if record is None:
            return None  # the webhook was deleted meanwhile
        body = php_json(self.payload(item["resource"], item["event"], item["arg"]))
        resource, event = split_topic(record["topic"])
        started = time.time()
        headers = [("User-Agent", USER_AGENT), ("Content-Type", "application/json"),
                   ("X-WC-Webhook-Source", self.home_url().rstrip("/") + "/"),
                   ("X-WC-Webhook-Topic", record["topic"]), ("X-WC-Webhook-Resource", resource),
                   ("X-WC-Webhook-Event", event), ("X-WC-Webhook-Signature", signature(record["secret"], body)),
                   ("X-WC-Webhook-ID", str(record["id"])),
                   ("X-WC-Webhook-Delivery-ID", delivery_id(record["id"], started))]
        result = self._send(record["delivery_url"], body, headers, self.settings["delivery_timeout_s"])
        success = result["status"] is not None and 200 <= result["status"] < 303
        with self.lock:
            current = self.webhooks.get(record["id"])
            ping = False
            if current is not None:
                if success:
                    current["failure_count"] = 0
                elif current["failure_count"] > MAX_FAILURES:
                    current["status"] = "disabled"
                else:
                    current["failure_count"] += 1
                ping = self._save(current)
            entry = self._log("delivery", record, body, headers, result, started, mode=mode,
                              arg=item["arg"], queued_at=queued_at, success=success,
                              failure_count=current["failure_count"] if current else None,
                              webhook_status=current["status"] if current else None)
        if ping:
            self.ping(record["id"])
        return entry

    def ping(self, webhook_id):
        """WC_Webhook::deliver_ping(): unsigned, form body, 5 s; only 200 clears pending_delivery."""
        with self.lock:
            record = self.webhooks.get(webhook_id)
            record = dict(record) if record else None
        if record is None:
            return None
        body = ("webhook_id=%d" % webhook_id).encode()
        headers = [("User-Agent", USER_AGENT), ("Content-Type", "application/x-www-form-urlencoded")]
        started = time.time()
        result = self._send(record["delivery_url"], body, headers, self.settings["ping_timeout_s"])
        with self.lock:
            current = self.webhooks.get(webhook_id)
            if current is not None and result["status"] == 200:
                current["pending_delivery"] = False
                self._save(current)
            return self._log("ping", record, body, headers, result, started, success=result["status"] == 200,
                             failure_count=current["failure_count"] if current else None,
                             webhook_status=current["status"] if current else None)

    def replay(self, delivery, url=None):
        """Send a logged delivery again, byte for byte (a late or duplicated
        delivery for tests); touches no webhook state."""
        body = delivery["body"].encode("utf-8")
        headers = [(k, v) for k, v in delivery["headers"].items()]
        started = time.time()
        result = self._send(url or delivery["url"], body, headers, self.settings["delivery_timeout_s"])
        with self.lock:
            record = {"id": delivery["webhook_id"], "topic": delivery["topic"], "delivery_url": url or delivery["url"]}
            return self._log("replay", record, body, headers, result, started, arg=delivery.get("arg"),
                             success=result["status"] is not None and 200 <= result["status"] < 303,
                             replay_of=delivery["id"])

    def _send(self, url, body, headers, timeout):
        if self._blocked(url):
            return {"status": None, "error": "A valid URL was not provided.", "response": None}
        return http_post(url, body, headers, timeout, self.settings.get("ca_file"))

    def _log(self, kind, record, body, headers, result, started, **extra):
        done = time.time()
        entry = {"id": self.next_delivery, "kind": kind, "webhook_id": record["id"], "topic": record["topic"],
                 "url": record["delivery_url"], "method": "POST", "http_version": "HTTP/1.0",
                 "headers": dict(headers), "body": body.decode("utf-8"), "status": result["status"],
                 "error": result["error"], "response": result["response"],
                 "sent_at": round(started, 3), "done_at": round(done, 3),
                 "duration_ms": round((done - started) * 1000, 1)}
        entry.update(extra)
        self.next_delivery += 1
        self.deliveries.append(entry)
        return dict(entry)
