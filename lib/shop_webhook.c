/*
 * shop_webhook.c - see shop_webhook.h.
 */
#include "shop_webhook.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "context.h"
#include "i18n.h"
#include "webhook.h"

/* The ping's body is "webhook_id=N": anything longer is not one. */
#define PING_MAX_BYTES 64
/* How long storing may wait for a busy state database (WooCommerce waits 60 s). */
#define SHOP_STORE_SECONDS 20

int
kc_shop_signature_ok(const char *secret, const char *body, size_t len,
    const char *given)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	unsigned char expected[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	size_t elen, glen;
	int ok;

	if (secret == NULL || given == NULL)
		return 0;
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (const unsigned char *)(body ? body : ""), len, mac, &maclen) == NULL)
		return 0;
	elen = (size_t)EVP_EncodeBlock(expected, mac, (int)maclen);
	glen = strlen(given);
	/* The length is no secret: a SHA-256 signature is always 44 characters. */
	ok = glen == elen && CRYPTO_memcmp(expected, given, elen) == 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}

/* YYYY-MM-DDTHH:MM:SS exactly, so that text order is time order. */
static int
valid_modified(const char *s)
{
	static const char pattern[] = "dddd-dd-ddTdd:dd:dd";

	if (strlen(s) != sizeof(pattern) - 1)
		return 0;
	for (size_t i = 0; pattern[i]; i++) {
		if (pattern[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pattern[i])
			return 0;
	}
	return 1;
}

static const char *
reduce_object(json_t *o, struct kc_shop_change *out)
{
	json_t *id = json_object_get(o, "id"), *parent = json_object_get(o, "parent_id");
	json_t *type = json_object_get(o, "type"), *sku = json_object_get(o, "sku");
	json_t *manage = json_object_get(o, "manage_stock");
	json_t *qty = json_object_get(o, "stock_quantity");
	json_t *mod = json_object_get(o, "date_modified_gmt");

	if (!json_is_integer(id) || json_integer_value(id) <= 0)
		return _("id is not a positive whole number");
	out->p.id = json_integer_value(id);
	if (parent != NULL && !json_is_null(parent)) {
		if (!json_is_integer(parent) || json_integer_value(parent) < 0)
			return _("parent_id is not a whole number");
		out->p.parent_id = json_integer_value(parent);
	}
	if (!json_is_string(type) || json_string_length(type) == 0 ||
	    json_string_length(type) >= sizeof(out->p.type))
		return _("type is missing or not a product type");
	kc_strlcpy(out->p.type, json_string_value(type), sizeof(out->p.type));
	if (sku != NULL && !json_is_null(sku)) {
		if (!json_is_string(sku))
			return _("sku is not a string");
		if (json_string_length(sku) > KC_SKU_MAX_BYTES ||
		    strlen(json_string_value(sku)) != json_string_length(sku))
			return _("sku is longer than 200 bytes or holds a NUL character");
	}
	if (json_is_true(manage))
		out->p.manage = KC_WOO_MANAGE_YES;
	else if (json_is_false(manage) || manage == NULL || json_is_null(manage))
		out->p.manage = KC_WOO_MANAGE_NO;
	else if (json_is_string(manage) && strcmp(json_string_value(manage), "parent") == 0)
		out->p.manage = KC_WOO_MANAGE_PARENT;
	else
		return _("manage_stock is not true, false or \"parent\"");
	if (qty != NULL && !json_is_null(qty)) {
		if (!json_is_integer(qty) || json_integer_value(qty) < -1000000000LL ||
		    json_integer_value(qty) > 1000000000LL)
			return _("stock_quantity is not a whole number in range");
		out->p.has_qty = 1;
		out->p.qty = json_integer_value(qty);
	}
	if (!json_is_string(mod) || !valid_modified(json_string_value(mod)))
		return _("date_modified_gmt is not YYYY-MM-DDTHH:MM:SS");
	kc_strlcpy(out->modified, json_string_value(mod), sizeof(out->modified));
	out->p.sku = kc_strdup(json_is_string(sku) ? json_string_value(sku) : "");
	return out->p.sku ? NULL : _("out of memory");
}

int
kc_shop_payload_reduce(const char *body, size_t len,
    struct kc_shop_change *out, struct kc_error *err)
{
	json_error_t jerr;
	json_t *root;
	const char *why;

	memset(out, 0, sizeof(*out));
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		kc_error_set(err, _("the body is not valid JSON: %s (line %d, column %d)"),
		    jerr.text, jerr.line, jerr.column);
		return -1;
	}
	why = json_is_object(root) ? reduce_object(root, out) :
	    _("the body is not a JSON object");
	json_decref(root);
	if (why != NULL) {
		free(out->p.sku);
		memset(out, 0, sizeof(*out));
		kc_error_set(err, _("not a product: %s"), why);
		return -1;
	}
	return 0;
}

static int
ends_with(const char *s, const char *tail)
{
	size_t n = s ? strlen(s) : 0, t = strlen(tail);

	return n >= t && strcmp(s + n - t, tail) == 0;
}

int
kc_shop_webhook_path(const struct kc_request *req)
{
	const char *uri = kc_request_env(req, "REQUEST_URI");
	char path[1024];

	if (ends_with(kc_request_env(req, "SCRIPT_NAME"), "/shop-webhook"))
		return 1;
	if (uri == NULL)
		return 0;
	kc_strlcpy(path, uri, sizeof(path));
	path[strcspn(path, "?")] = '\0';
	return ends_with(path, "/shop-webhook");
}

static int
has_wc_headers(const struct kc_request *req)
{
	static const char *const names[] = {
		"HTTP_X_WC_WEBHOOK_SIGNATURE", "HTTP_X_WC_WEBHOOK_TOPIC",
		"HTTP_X_WC_WEBHOOK_ID", "HTTP_X_WC_WEBHOOK_SOURCE",
		"HTTP_X_WC_WEBHOOK_RESOURCE", "HTTP_X_WC_WEBHOOK_EVENT",
		"HTTP_X_WC_WEBHOOK_DELIVERY_ID",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (kc_request_env(req, names[i]) != NULL)
			return 1;
	return 0;
}

/* "webhook_id=N", N digits: WooCommerce's unsigned ping. */
static int
is_ping(const char *body, size_t len)
{
	static const char key[] = "webhook_id=";
	size_t k = sizeof(key) - 1, i;

	if (len <= k || len > PING_MAX_BYTES || memcmp(body, key, k) != 0)
		return 0;
	for (i = k; i < len; i++)
		if (!isdigit((unsigned char)body[i]))
			return 0;
	return 1;
}

/*
 * No X-WC-Webhook-* header: the ping, or nothing we accept.  Only a
 * short body is read for it; anything else is refused unread.
 */
static void
answer_unsigned(struct kc_request *req)
{
	struct kc_error err = { { 0 } };
	const char *cl = kc_request_env(req, "CONTENT_LENGTH");
	size_t n;

	if (kc_parse_content_length(cl, PING_MAX_BYTES, &n) == 0 &&
	    kc_request_read_body(req, PING_MAX_BYTES, 1, &err) == 0 &&
	    is_ping(req->body, req->body_len)) {
		kc_respond_json(req, 200, json_pack("{s:s}", "ping", "ok"));
		return;
	}
	kc_log(KC_LOG_WARN, "shop webhook: refused a request without a signature");
	kc_request_drain(req, PING_MAX_BYTES);
	kc_respond_error(req, 403, _("forbidden"));
}

static int
topic_wanted(const char *topic)
{
	return topic != NULL && (strcmp(topic, "product.updated") == 0 ||
	    strcmp(topic, "product.created") == 0);
}

static int
store_change(struct kc_job *job, const struct kc_shop_change *c,
    struct kc_error *err)
{
	double started = kc_now();

	for (;;) {
		struct kc_store *st;
		int rc = kc_context_store(job->ctx, &st, err);

		if (rc == 0)
			rc = kc_store_shop_put(st, c, kc_now(), err);
		if (rc >= 0 || strstr(err->msg, "is locked") == NULL ||
		    kc_now() - started >= SHOP_STORE_SECONDS)
			return rc;
		usleep(50000 + kc_random_below(200000));
	}
}

static void
accept_delivery(struct kc_request *req, struct kc_job *job)
{
	struct kc_shop_change c;
	struct kc_error err = { { 0 } };
	const char *topic = kc_request_env(req, "HTTP_X_WC_WEBHOOK_TOPIC");
	int rc;

	if (!topic_wanted(topic)) {
		kc_respond_json(req, 200, json_pack("{s:s}", "ignored",
		    _("only product.updated and product.created are handled here")));
		return;
	}
	if (kc_shop_payload_reduce(req->body, req->body_len, &c, &err) != 0) {
		kc_log(KC_LOG_WARN, "shop webhook: refused: %s", err.msg);
		kc_respond_error(req, 400, err.msg);
		return;
	}
	rc = store_change(job, &c, &err);
	if (rc < 0) {
		kc_log(KC_LOG_ERROR, "shop webhook: cannot store product %lld: %s",
		    c.p.id, err.msg);
		free(c.p.sku);
		kc_respond_error(req, 503, _("the change could not be stored right now"));
		return;
	}
	job->push = rc > 0;
	kc_respond_json(req, 200, json_pack("{s:I,s:b}", "product", (json_int_t)c.p.id,
	    "stored", rc > 0));
	kc_log(KC_LOG_INFO, "shop webhook: product %lld %s", c.p.id,
	    rc > 0 ? "stored" : "ignored (an older change than the one kept)");
	free(c.p.sku);
}

void
kc_shop_webhook_handle(struct kc_request *req, struct kc_job *job)
{
	const struct kc_config *cfg;
	struct kc_error err = { { 0 } };
	int status;

	if ((cfg = kc_request_config(req, job, "POST")) == NULL)
		return;
	if (cfg->shop_webhook_secret == NULL) {
		kc_respond_error(req, 503, _("the shop webhook is not set up (shop_webhook_secret is not configured)"));
		return;
	}
	if (!has_wc_headers(req)) {
		answer_unsigned(req);
		return;
	}
	if (kc_request_env(req, "HTTP_X_WC_WEBHOOK_SIGNATURE") == NULL) {
		kc_log(KC_LOG_WARN, "shop webhook: refused a delivery without a signature");
		kc_request_drain(req, (size_t)cfg->webhook_max_bytes);
		kc_respond_error(req, 403, _("forbidden"));
		return;
	}
	status = kc_request_read_body(req, (size_t)cfg->webhook_max_bytes, 1, &err);
	if (status != 0) {
		kc_respond_error(req, status, err.msg);
		return;
	}
	if (!kc_shop_signature_ok(cfg->shop_webhook_secret, req->body, req->body_len,
	    kc_request_env(req, "HTTP_X_WC_WEBHOOK_SIGNATURE"))) {
		kc_log(KC_LOG_WARN, "shop webhook: refused a delivery with a wrong signature");
		kc_respond_error(req, 403, _("forbidden"));
		return;
	}
	accept_delivery(req, job);
}
