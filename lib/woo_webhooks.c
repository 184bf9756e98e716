/*
 * woo_webhooks.c - see woo_webhooks.h.
 */
#include "woo_webhooks.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "html.h"

#define LIST_PAGE 100
#define LIST_PAGES_MAX 20

static const char *const statuses[] = { "active", "paused", "disabled" };

/* A string field of at most outsz - 1 bytes, without control characters. */
static int
text_field(const json_t *v, const char *name, int required, char *out,
    size_t outsz, struct kc_error *err)
{
	const json_t *f = json_object_get(v, name);
	const char *s;
	size_t len;

	out[0] = '\0';
	if (f == NULL && !required)
		return 0;
	if (!json_is_string(f)) {
		kc_error_set(err, "\"%s\" is %s, not a string", name,
		    f == NULL ? "missing" : "of another type");
		return -1;
	}
	s = json_string_value(f);
	len = json_string_length(f);
	if (len >= outsz || strlen(s) != len) {
		kc_error_set(err, "\"%s\" is too long or holds a NUL", name);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			kc_error_set(err, "\"%s\" holds a control character", name);
			return -1;
		}
	memcpy(out, s, len + 1);
	return 0;
}

int
kc_woo_hook_parse(const json_t *v, struct kc_shop_hook *out,
    struct kc_error *err)
{
	const json_t *id = json_object_get(v, "id");
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(v)) {
		kc_error_set(err, "a webhook is not a JSON object");
		return -1;
	}
	if (!json_is_integer(id) || json_integer_value(id) <= 0) {
		kc_error_set(err, "\"id\" is not a positive whole number");
		return -1;
	}
	out->id = (long long)json_integer_value(id);
	if (text_field(v, "status", 1, out->status, sizeof(out->status), err) != 0 ||
	    text_field(v, "topic", 1, out->topic, sizeof(out->topic), err) != 0 ||
	    text_field(v, "delivery_url", 1, out->delivery_url,
	    sizeof(out->delivery_url), err) != 0 ||
	    text_field(v, "name", 0, out->name, sizeof(out->name), err) != 0) {
		kc_error_prefix(err, "webhook %lld: ", out->id);
		return -1;
	}
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(out->status, statuses[i]) == 0)
			break;
	if (i == sizeof(statuses) / sizeof(statuses[0])) {
		char shown[64];
		kc_text_from_markup(out->status, shown, sizeof(shown));
		kc_error_set(err, "webhook %lld: unknown status \"%s\"", out->id, shown);
		return -1;
	}
	return 0;
}

/* The shop's refusal in words ("401: ..."), the markup dropped. */
static int
answer_error(struct kc_woo *w, const char *what,
    const struct kc_http_response *resp, struct kc_error *err)
{
	char raw[256], msg[256];

	kc_woo_error_message(resp, raw, sizeof(raw));
	kc_text_from_markup(raw, msg, sizeof(msg));
	if (resp->status == 401 || resp->status == 403) {
		w->auth_failed = 1;
		kc_error_set(err, "the shop refused to %s (HTTP %ld: %s); the REST key "
		    "needs Read/Write permission and an administrator's account", what,
		    resp->status, msg);
	} else {
		kc_error_set(err, "the shop could not %s (HTTP %ld: %s)", what,
		    resp->status, msg);
	}
	return -1;
}

/* The JSON of a 2xx answer, or -1 with err set. */
static json_t *
answer_json(const struct kc_http_response *resp, const char *what,
    struct kc_error *err)
{
	json_error_t je;
	json_t *root = json_loadb(resp->body.data ? resp->body.data : "",
	    resp->body.len, JSON_REJECT_DUPLICATES, &je);

	if (root == NULL)
		kc_error_set(err, "the shop's answer to %s is not JSON (%s)", what, je.text);
	return root;
}

static int
error_code_is(const struct kc_http_response *resp, const char *code)
{
	json_t *root = json_loadb(resp->body.data ? resp->body.data : "",
	    resp->body.len, 0, NULL);
	const char *c = json_string_value(json_object_get(root, "code"));
	int same = c != NULL && strcmp(c, code) == 0;

	json_decref(root);
	return same;
}

static int
request(struct kc_woo *w, const char *method, const char *path,
    const char *body, const char *what, long want, json_t **root,
    struct kc_error *err)
{
	struct kc_http_response resp;
	int rc = -1;

	*root = NULL;
	kc_http_response_init(&resp);
	if (kc_woo_request(w, method, path, body, &resp, err) != 0) {
		kc_error_prefix(err, "the shop could not be reached to %s: ", what);
	} else if (resp.status == 404 && strcmp(method, "DELETE") == 0 &&
	    error_code_is(&resp, "woocommerce_rest_shop_webhook_invalid_id")) {
		rc = 1;
	} else if (resp.status != want && resp.status != 200) {
		answer_error(w, what, &resp, err);
	} else if ((*root = answer_json(&resp, what, err)) != NULL) {
		rc = 0;
	}
	kc_http_response_free(&resp);
	return rc;
}

static int
is_ours(const struct kc_shop_hook *h, const char *url)
{
	return strcmp(h->topic, KC_SHOP_HOOK_TOPIC) == 0 &&
	    (strcmp(h->delivery_url, url) == 0 || strcmp(h->name, KC_SHOP_HOOK_NAME) == 0);
}

int
kc_woo_hooks_ours(struct kc_woo *w, const char *url, struct kc_shop_hook *out,
    size_t *n, struct kc_error *err)
{
	*n = 0;
	for (int page = 1; page <= LIST_PAGES_MAX; page++) {
		char path[128];
		json_t *root, *item;
		size_t i, got;

		snprintf(path, sizeof(path), "/wc/v3/webhooks?per_page=%d&page=%d"
		    "&orderby=id&order=asc", LIST_PAGE, page);
		if (request(w, "GET", path, NULL, "list its webhooks", 200, &root, err) != 0)
			return -1;
		if (!json_is_array(root)) {
			kc_error_set(err, "the shop's list of webhooks is not a JSON array");
			json_decref(root);
			return -1;
		}
		got = json_array_size(root);
		json_array_foreach(root, i, item) {
			struct kc_shop_hook h;
			if (kc_woo_hook_parse(item, &h, err) != 0) {
				kc_error_prefix(err, "the shop's list of webhooks: ");
				json_decref(root);
				return -1;
			}
			if (!is_ours(&h, url))
				continue;
			if (*n == KC_SHOP_HOOKS_MAX) {
				kc_error_set(err, "the shop has more than %d webhooks to %s or named "
				    "\"%s\"; remove the extra ones in WooCommerce (Settings, Advanced, "
				    "Webhooks)", KC_SHOP_HOOKS_MAX, url, KC_SHOP_HOOK_NAME);
				json_decref(root);
				return -1;
			}
			out[(*n)++] = h;
		}
		json_decref(root);
		if (got < LIST_PAGE)
			return 0;
	}
	kc_error_set(err, "the shop lists more than %d webhooks", LIST_PAGE * LIST_PAGES_MAX);
	return -1;
}

static int
one_hook(struct kc_woo *w, const char *method, const char *path, json_t *body,
    const char *what, long want, struct kc_shop_hook *out, struct kc_error *err)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_t *root;
	int rc;

	if (body != NULL && text == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	rc = request(w, method, path, text, what, want, &root, err);
	if (text != NULL) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
	if (rc != 0)
		return rc;
	if (kc_woo_hook_parse(root, out, err) != 0) {
		kc_error_prefix(err, "the shop's answer to %s: ", what);
		rc = -1;
	}
	json_decref(root);
	return rc;
}

int
kc_woo_hook_create(struct kc_woo *w, const char *url, const char *secret,
    struct kc_shop_hook *out, struct kc_error *err)
{
	json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s}", "name", KC_SHOP_HOOK_NAME,
	    "topic", KC_SHOP_HOOK_TOPIC, "delivery_url", url, "secret", secret,
	    "status", "active");
	int rc;

	if (body == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	/* Never twice: a retried POST would make a second webhook. */
	w->http.max_attempts = 1;
	rc = one_hook(w, "POST", "/wc/v3/webhooks", body, "create the webhook", 201,
	    out, err);
	json_decref(body);
	if (rc == 0 && (strcmp(out->topic, KC_SHOP_HOOK_TOPIC) != 0 ||
	    strcmp(out->delivery_url, url) != 0)) {
		kc_error_set(err, "the shop created webhook %lld but not as asked "
		    "(topic \"%s\")", out->id, out->topic);
		return -1;
	}
	return rc;
}

int
kc_woo_hook_set_status(struct kc_woo *w, long long id, const char *status,
    struct kc_shop_hook *out, struct kc_error *err)
{
	json_t *body = json_pack("{s:s}", "status", status);
	char path[64];
	int rc;

	if (body == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	snprintf(path, sizeof(path), "/wc/v3/webhooks/%lld", id);
	rc = one_hook(w, "PUT", path, body, "change the webhook", 200, out, err);
	json_decref(body);
	if (rc == 0 && out->id != id) {
		kc_error_set(err, "the shop answered for webhook %lld, not %lld", out->id, id);
		return -1;
	}
	return rc;
}

int
kc_woo_hook_delete(struct kc_woo *w, long long id, struct kc_error *err)
{
	struct kc_shop_hook gone;
	char path[64];

	snprintf(path, sizeof(path), "/wc/v3/webhooks/%lld?force=true", id);
	return one_hook(w, "DELETE", path, NULL, "remove the webhook", 200, &gone, err);
}

int
kc_shop_hook_new_secret(char out[KC_SHOP_HOOK_SECRET_LEN + 1], struct kc_error *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[KC_SHOP_HOOK_SECRET_LEN / 2];

	if (RAND_bytes(raw, (int)sizeof(raw)) != 1) {
		kc_error_set(err, "cannot make a random secret (OpenSSL RAND_bytes failed)");
		return -1;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[KC_SHOP_HOOK_SECRET_LEN] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}
