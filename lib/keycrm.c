/*
 * keycrm.c - see keycrm.h.
 */
#include "keycrm.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "config.h"
#include "form.h"
#include "keycrm_client.h"

#define AUTH_PREFIX "Authorization: Bearer "
#define SKU_MAX 200		/* longer SKUs from KeyCRM are not kept */
#define PAGE_ITEMS_MAX 1000	/* offers on one page; we ask for 50 */
#define LAST_PAGE_MAX 1000000L
#define MEM_WINDOW_MAX 600	/* keycrm_requests_per_minute is at most 600 */
/*
 * KeyCRM's limiter counts requests as they arrive, in 60 s; a slot is taken
 * before the request leaves, and the time between the two varies (a new
 * process or connection, the network).  The window is kept a second longer
 * so that those differences never make two requests look closer to KeyCRM
 * than the limit allows.
 */
#define WINDOW_MS 61000
#define CHECK_MAX_MS 30000	/* a key check gives up after this */

/*
 * Without a state store the window only covers this process: enough for a
 * tool run by hand, and the reason every program that can opens the store.
 */
static int64_t mem_window[MEM_WINDOW_MAX];
static size_t mem_used;

static const char *
api_key(const struct kc_keycrm *k)
{
	if (k->auth_header == NULL)
		return NULL;
	return k->auth_header + strlen(AUTH_PREFIX);
}

int
kc_keycrm_init(struct kc_keycrm *k, const struct kc_config *cfg,
    struct kc_store *store, struct kc_error *err)
{
	return kc_keycrm_init_key(k, cfg, cfg->keycrm_api_key, store, err);
}

int
kc_keycrm_init_key(struct kc_keycrm *k, const struct kc_config *cfg,
    const char *key, struct kc_store *store, struct kc_error *err)
{
	size_t len;

	memset(k, 0, sizeof(*k));
	if (key == NULL || *key == '\0') {
		kc_error_set(err, "the KeyCRM API key is not set (keycrm_api_key)");
		return -1;
	}
	/* It goes into a header line: a line break would add headers. */
	for (const char *p = key; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			kc_error_set(err, "the KeyCRM API key (keycrm_api_key) contains control characters");
			return -1;
		}
	}
	if (cfg->keycrm_api_url == NULL || *cfg->keycrm_api_url == '\0') {
		kc_error_set(err, "the KeyCRM API URL is not set (keycrm_api_url)");
		return -1;
	}
	if (kc_http_init(&k->http, "KeyCRM", cfg->ca_file, NULL, err) != 0)
		return -1;
	len = strlen(cfg->keycrm_api_url);
	while (len > 0 && cfg->keycrm_api_url[len - 1] == '/')
		len--;
	k->base = kc_strndup(cfg->keycrm_api_url, len);
	if (k->base == NULL ||
	    asprintf(&k->auth_header, AUTH_PREFIX "%s", key) < 0) {
		k->auth_header = NULL;
		kc_keycrm_cleanup(k);
		kc_error_set(err, "out of memory");
		return -1;
	}
	k->store = store;
	k->per_minute = cfg->keycrm_requests_per_minute > 0 ?
	    cfg->keycrm_requests_per_minute : 60;
	/* A PUT of 10,000 items takes KeyCRM a while to validate. */
	k->http.timeout_ms = 120000;
	return 0;
}

void
kc_keycrm_cleanup(struct kc_keycrm *k)
{
	kc_http_cleanup(&k->http);
	free(k->base);
	if (k->auth_header != NULL)
		kc_wipe(k->auth_header, strlen(k->auth_header));
	free(k->auth_header);
	memset(k, 0, sizeof(*k));
}

/* The in-process window: same rule as kc_store_rate_take(). */
static void
mem_take(long per_minute, int64_t *wait_ms)
{
	int64_t now = kc_monotonic_ms();
	size_t limit = per_minute > MEM_WINDOW_MAX ? MEM_WINDOW_MAX :
	    (size_t)per_minute, old = 0;

	while (old < mem_used && mem_window[old] <= now - WINDOW_MS)
		old++;
	if (old > 0) {
		memmove(mem_window, mem_window + old,
		    (mem_used - old) * sizeof(mem_window[0]));
		mem_used -= old;
	}
	if (mem_used >= limit) {
		*wait_ms = mem_window[0] + WINDOW_MS - now + 20;
		if (*wait_ms < 20)
			*wait_ms = 20;
		return;
	}
	mem_window[mem_used++] = now;
	*wait_ms = 0;
}

/*
 * Takes a slot in the request window, waiting for one as long as the
 * run's deadline allows.  Called before every attempt, retries included:
 * a retry is a request like any other to KeyCRM's limiter.
 */
static int
pace(struct kc_keycrm *k, const char *method, const char *url,
    struct kc_error *err)
{
	for (;;) {
		int64_t wait = 0;

		if (k->store != NULL) {
			if (kc_store_rate_take(k->store, k->per_minute, kc_now(),
			    &wait, err) != 0) {
				kc_error_prefix(err, "KeyCRM request limit");
				return -1;
			}
		} else {
			mem_take(k->per_minute, &wait);
		}
		if (wait == 0)
			return 0;
		if (k->http.deadline_ms > 0 &&
		    kc_monotonic_ms() + wait + 200 > k->http.deadline_ms) {
			char path[256];

			kc_url_path(url, path, sizeof(path));
			k->paced_out = 1;
			kc_error_set(err, "KeyCRM %s %s: out of time for this run (the limit of %ld requests per minute is reached)",
			    method, path, k->per_minute);
			return -1;
		}
		kc_log(KC_LOG_DEBUG, "KeyCRM: the limit of %ld requests per minute is reached; waiting %lld ms",
		    k->per_minute, (long long)wait);
		kc_sleep_ms(wait);
	}
}

static int
authorize(void *ctx, const char *method, const char *url, struct kc_buf *out,
    struct curl_slist **headers, struct kc_error *err)
{
	struct kc_keycrm *k = ctx;
	struct curl_slist *h;

	if (pace(k, method, url, err) != 0)
		return -1;
	if (kc_buf_adds(out, url) != 0 ||
	    (h = curl_slist_append(*headers, k->auth_header)) == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	*headers = h;
	return 0;
}

int
keycrm_perform(struct kc_keycrm *k, const char *method, const char *url,
    const char *body, struct kc_http_response *resp, struct kc_error *err)
{
	struct kc_http_request req = { 0 };

	req.method = method;
	req.url = url;
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	req.content_type = body ? "application/json" : NULL;
	req.authorize = authorize;
	req.auth_ctx = k;
	/* Reads, and writes of absolute quantities: repeating is harmless. */
	req.retry = 1;
	return kc_http_perform(&k->http, &req, resp, err);
}

/* Copies at most MSG_MAX bytes of s, whole UTF-8 characters, no controls. */
void
keycrm_clean_text(const char *s, char *out, size_t outsz)
{
	size_t n = strlen(s), i;

	if (n > MSG_MAX)
		n = MSG_MAX;
	if (n >= outsz)
		n = outsz - 1;
	/* Don't cut a character in half. */
	if (n < strlen(s))
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	for (i = 0; i < n; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
	out[i] = '\0';
}

/*
 * The "message" of a KeyCRM error answer (Laravel: {"message": ...}),
 * trimmed, for reports.  Should a server ever echo the key, it is not
 * repeated.
 */
static void
answer_message(const struct kc_keycrm *k, const struct kc_http_response *resp,
    char *out, size_t outsz)
{
	json_t *root = json_loadb(resp->body.data ? resp->body.data : "",
	    resp->body.len, 0, NULL);
	const char *msg = NULL, *key = api_key(k);

	if (json_is_object(root))
		msg = json_string_value(json_object_get(root, "message"));
	if (msg != NULL && *msg != '\0')
		keycrm_clean_text(msg, out, outsz);
	else
		snprintf(out, outsz, "%s", root ? "no error message" :
		    "the answer is not JSON");
	if (key != NULL && *key != '\0' && strstr(out, key) != NULL)
		snprintf(out, outsz, "(the message is withheld: it repeats the API key)");
	json_decref(root);
}

/* Turns an unwanted answer into an error; returns -1. */
int
keycrm_answer_error(struct kc_keycrm *k, const char *method, const char *path,
    const struct kc_http_response *resp, struct kc_error *err)
{
	char msg[MSG_MAX + 64];

	if (resp->status == 401 || resp->status == 403) {
		k->key_rejected = 1;
		kc_error_set(err, "KeyCRM rejected the API key (HTTP %ld)",
		    resp->status);
		return -1;
	}
	answer_message(k, resp, msg, sizeof(msg));
	kc_error_set(err, "KeyCRM %s %s: HTTP %ld: %s", method, path,
	    resp->status, msg);
	return -1;
}

enum kc_key_status
kc_keycrm_check_key(struct kc_keycrm *k, struct kc_error *err)
{
	struct kc_http_response resp;
	enum kc_key_status st;
	char *url = NULL;
	int64_t saved_deadline, soon;
	int saved, rc;

	if (api_key(k) == NULL || *api_key(k) == '\0' || k->base == NULL) {
		kc_error_set(err, "the KeyCRM API key is not set (keycrm_api_key)");
		return KC_KEY_NOT_SET;
	}
	if (asprintf(&url, "%s/offers?limit=1", k->base) < 0) {
		kc_error_set(err, "out of memory");
		return KC_KEY_UNREACHABLE;
	}
	/*
	 * Someone is waiting on the settings page: one retry at most, and no
	 * minute-long wait for a Retry-After or a free request slot.
	 */
	saved = k->http.max_attempts;
	saved_deadline = k->http.deadline_ms;
	soon = kc_monotonic_ms() + CHECK_MAX_MS;
	k->http.max_attempts = 2;
	if (saved_deadline == 0 || saved_deadline > soon)
		k->http.deadline_ms = soon;
	kc_http_response_init(&resp);
	rc = keycrm_perform(k, "GET", url, NULL, &resp, err);
	k->http.max_attempts = saved;
	k->http.deadline_ms = saved_deadline;
	free(url);
	if (rc != 0) {
		st = KC_KEY_UNREACHABLE;
	} else if (resp.status == 200) {
		json_t *root = json_loadb(resp.body.data ? resp.body.data : "",
		    resp.body.len, 0, NULL);

		/* A 200 from something else (a wrong keycrm_api_url) is no proof. */
		if (json_is_object(root) &&
		    json_is_array(json_object_get(root, "data"))) {
			st = KC_KEY_VALID;
		} else {
			kc_error_set(err, "KeyCRM GET /offers: the answer is not KeyCRM's (check keycrm_api_url)");
			st = KC_KEY_UNREACHABLE;
		}
		json_decref(root);
	} else {
		keycrm_answer_error(k, "GET", "/offers", &resp, err);
		st = resp.status == 401 || resp.status == 403 ?
		    KC_KEY_REJECTED : KC_KEY_UNREACHABLE;
	}
	kc_http_response_free(&resp);
	return st;
}

/* ---- reading 422 answers ------------------------------------------------ */

/* ---- PUT /offers/stocks --------------------------------------------------- */

/* ---- GET /offers/stocks ---------------------------------------------------- */

void
kc_keycrm_offers_free(struct kc_keycrm_offer *offers, size_t n)
{
	if (offers == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(offers[i].sku);
	free(offers);
}

/*
 * A count: a JSON number, or a numeric string (decimal columns can come
 * out of PHP as "5.000"); null or absent is 0.
 */
static int
count_value(json_t *v, double *out)
{
	double d;

	if (v == NULL || json_is_null(v)) {
		*out = 0;
		return 0;
	}
	if (json_is_number(v)) {
		d = json_number_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		/* Plain decimal only: strtod would also take "0x1p3" and "nan". */
		if (*s == '\0' || json_string_length(v) > 64 ||
		    s[strspn(s, "+-.0123456789eE")] != '\0')
			return -1;
		errno = 0;
		d = strtod(s, &end);
		if (*end != '\0' || errno != 0)
			return -1;
	} else {
		return -1;
	}
	if (!isfinite(d) || fabs(d) > QTY_MAX)
		return -1;
	*out = d;
	return 0;
}

static int
parse_offer(json_t *o, long warehouse_id, struct kc_keycrm_offer *out,
    struct kc_error *err)
{
	json_t *id = json_object_get(o, "id"), *v;
	const char *sku = "";

	memset(out, 0, sizeof(*out));
	if (!json_is_integer(id) || json_integer_value(id) <= 0) {
		kc_error_set(err, "an offer without a valid id");
		return -1;
	}
	out->id = json_integer_value(id);
	v = json_object_get(o, "sku");
	if (json_is_string(v)) {
		sku = json_string_value(v);
		if (json_string_length(v) > SKU_MAX) {
			/* Cut, it could match another product: keep none. */
			kc_log(KC_LOG_WARN, "KeyCRM offer %lld has a SKU longer than %d bytes; it is ignored",
			    out->id, SKU_MAX);
			sku = "";
		}
	} else if (v != NULL && !json_is_null(v)) {
		kc_error_set(err, "offer %lld has a non-text sku", out->id);
		return -1;
	}
	if (count_value(json_object_get(o, "quantity"), &out->quantity) != 0 ||
	    count_value(json_object_get(o, "reserve"), &out->reserve) != 0) {
		kc_error_set(err, "offer %lld has a bad quantity or reserve", out->id);
		return -1;
	}
	if (warehouse_id > 0) {
		json_t *list = json_object_get(o, "warehouse"), *w;
		size_t i;

		/*
		 * No breakdown at all would read as "nothing in stock": better
		 * to stop than to zero a shop.
		 */
		if (!json_is_array(list)) {
			kc_error_set(err, "offer %lld has no per-warehouse breakdown (\"warehouse\")",
			    out->id);
			return -1;
		}
		out->quantity = out->reserve = 0;
		json_array_foreach(list, i, w) {
			json_t *wid = json_object_get(w, "id");

			if (!json_is_object(w) || !json_is_integer(wid)) {
				kc_error_set(err, "offer %lld has a bad warehouse entry", out->id);
				return -1;
			}
			if (json_integer_value(wid) != warehouse_id)
				continue;
			if (count_value(json_object_get(w, "quantity"), &out->quantity) != 0 ||
			    count_value(json_object_get(w, "reserve"), &out->reserve) != 0) {
				kc_error_set(err, "offer %lld has a bad quantity or reserve in warehouse %ld",
				    out->id, warehouse_id);
				return -1;
			}
			break;
		}
	}
	out->sku = kc_strdup(sku);
	if (out->sku == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	return 0;
}

/* last_page, else ceil(total / per_page), else what next_page_url says. */
static int
parse_last_page(json_t *root, long *last_page, struct kc_error *err)
{
	json_t *v = json_object_get(root, "last_page");
	json_t *total = json_object_get(root, "total");
	json_t *per = json_object_get(root, "per_page");
	json_t *cur = json_object_get(root, "current_page");
	json_int_t n;

	if (v != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			kc_error_set(err, "a bad last_page");
			return -1;
		}
		n = json_integer_value(v);
	} else if (json_is_integer(total) && json_is_integer(per) &&
	    json_integer_value(per) > 0 && json_integer_value(total) >= 0) {
		n = json_integer_value(total) / json_integer_value(per) +
		    (json_integer_value(total) % json_integer_value(per) != 0);
		if (n < 1)
			n = 1;
	} else if (json_is_integer(cur) && json_integer_value(cur) >= 1 &&
	    json_integer_value(cur) < LAST_PAGE_MAX &&
	    (json_is_null(json_object_get(root, "next_page_url")) ||
	    json_is_string(json_object_get(root, "next_page_url")))) {
		n = json_integer_value(cur) +
		    json_is_string(json_object_get(root, "next_page_url"));
	} else {
		kc_error_set(err, "no page count (last_page, total or next_page_url)");
		return -1;
	}
	if (n > LAST_PAGE_MAX) {
		kc_error_set(err, "more than %ld pages", LAST_PAGE_MAX);
		return -1;
	}
	*last_page = (long)n;
	return 0;
}

int
kc_keycrm_parse_stocks(const char *json, size_t len, long warehouse_id,
    struct kc_keycrm_offer **offers, size_t *n, long *last_page,
    struct kc_error *err)
{
	json_error_t jerr;
	json_t *root, *data, *o;
	struct kc_keycrm_offer *list;
	size_t i, count = 0;
	int failed = 0;

	*offers = NULL;
	*n = 0;
	*last_page = 0;
	root = json_loadb(json ? json : "", json ? len : 0,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		kc_error_set(err, "not JSON (%s)", jerr.text);
		return -1;
	}
	data = json_is_object(root) ? json_object_get(root, "data") : NULL;
	if (!json_is_array(data)) {
		kc_error_set(err, "not a page of offers (no \"data\" list)");
		json_decref(root);
		return -1;
	}
	if (json_array_size(data) > PAGE_ITEMS_MAX) {
		kc_error_set(err, "more than %d offers on one page", PAGE_ITEMS_MAX);
		json_decref(root);
		return -1;
	}
	if (parse_last_page(root, last_page, err) != 0) {
		json_decref(root);
		return -1;
	}
	list = calloc(json_array_size(data) + 1, sizeof(*list));
	if (list == NULL) {
		kc_error_set(err, "out of memory");
		json_decref(root);
		return -1;
	}
	json_array_foreach(data, i, o) {
		if (!json_is_object(o)) {
			kc_error_set(err, "offer %zu is not an object", i);
			failed = 1;
			break;
		}
		if (parse_offer(o, warehouse_id, &list[count], err) != 0) {
			failed = 1;
			break;
		}
		count++;
	}
	json_decref(root);
	if (failed) {
		kc_keycrm_offers_free(list, count);
		*last_page = 0;
		return -1;
	}
	*offers = list;
	*n = count;
	return 0;
}

/* One GET /offers/stocks; extra is more of the query string, or "". */
static int
get_stocks(struct kc_keycrm *k, long page, long warehouse_id, const char *extra,
    struct kc_keycrm_offer **offers, size_t *n, long *last_page,
    struct kc_error *err)
{
	struct kc_http_response resp;
	char *url = NULL;
	int rc;

	*offers = NULL;
	*n = 0;
	*last_page = 0;
	if (page < 1 || page > LAST_PAGE_MAX) {
		kc_error_set(err, "KeyCRM GET /offers/stocks: no page %ld", page);
		return -1;
	}
	/* PHP reads filter%5Bdetails%5D as filter[details]; curl keeps it as is. */
	if (asprintf(&url, "%s/offers/stocks?limit=%d&page=%ld%s%s", k->base,
	    KC_KEYCRM_PAGE_MAX, page, warehouse_id > 0 ?
	    "&filter%5Bdetails%5D=true" : "", extra) < 0) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	kc_http_response_init(&resp);
	rc = keycrm_perform(k, "GET", url, NULL, &resp, err);
	free(url);
	if (rc != 0) {
		kc_http_response_free(&resp);
		return -1;
	}
	if (resp.status != 200) {
		keycrm_answer_error(k, "GET", "/offers/stocks", &resp, err);
		kc_http_response_free(&resp);
		return -1;
	}
	rc = kc_keycrm_parse_stocks(resp.body.data, resp.body.len, warehouse_id,
	    offers, n, last_page, err);
	if (rc != 0)
		kc_error_prefix(err, "KeyCRM GET /offers/stocks page %ld: an unexpected answer",
		    page);
	kc_http_response_free(&resp);
	return rc;
}

int
kc_keycrm_get_stocks(struct kc_keycrm *k, long page, long warehouse_id,
    struct kc_keycrm_offer **offers, size_t *n, long *last_page,
    struct kc_error *err)
{
	return get_stocks(k, page, warehouse_id, "", offers, n, last_page, err);
}

int
kc_keycrm_get_stocks_of(struct kc_keycrm *k, const char *const *skus, size_t nskus,
    long warehouse_id, struct kc_keycrm_offer **offers, size_t *n,
    struct kc_error *err)
{
	struct kc_buf extra;
	long last;
	int rc;

	if (nskus == 0 || nskus > KC_KEYCRM_PAGE_MAX) {
		kc_error_set(err, "KeyCRM GET /offers/stocks: 1 to %d SKUs at a time",
		    KC_KEYCRM_PAGE_MAX);
		return -1;
	}
	kc_buf_init(&extra);
	kc_buf_adds(&extra, "&filter%5Boffers_sku%5D=");
	for (size_t i = 0; i < nskus; i++) {
		if (i > 0)
			kc_buf_adds(&extra, ",");
		kc_percent_encode(&extra, skus[i], strlen(skus[i]));
	}
	if (extra.data == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	rc = get_stocks(k, 1, warehouse_id, extra.data, offers, n, &last, err);
	kc_buf_free(&extra);
	return rc;
}

/*
 * KeyCRM has no API that lists warehouses (reference/keycrm-api.md 2.5):
 * the ids are gathered from the per-warehouse breakdown of
 * GET /offers/stocks?filter[details]=true, which shows the warehouses
 * that hold a stock row for some offer.
 */
static int
add_warehouse_ids(json_t *root, long *ids, size_t max, size_t *n)
{
	json_t *data = json_object_get(root, "data"), *o, *w;
	size_t i, j;

	if (!json_is_array(data))
		return -1;
	json_array_foreach(data, i, o) {
		json_array_foreach(json_object_get(o, "warehouse"), j, w) {
			json_t *id = json_object_get(w, "id");
			size_t m;

			if (!json_is_integer(id) || json_integer_value(id) <= 0)
				continue;
			for (m = 0; m < *n && ids[m] != (long)json_integer_value(id); m++)
				;
			if (m == *n && *n < max)
				ids[(*n)++] = (long)json_integer_value(id);
		}
	}
	return 0;
}

int
kc_keycrm_warehouse_ids(struct kc_keycrm *k, long max_pages, long *ids,
    size_t max, size_t *n, int *complete, struct kc_error *err)
{
	long page, last = 1;

	*n = 0;
	*complete = 0;
	for (page = 1; page <= last && page <= max_pages; page++) {
		struct kc_http_response resp;
		json_t *root;
		char *url = NULL;
		int rc;

		if (asprintf(&url, "%s/offers/stocks?limit=%d&page=%ld&filter%%5Bdetails%%5D=true",
		    k->base, KC_KEYCRM_PAGE_MAX, page) < 0) {
			kc_error_set(err, "out of memory");
			return -1;
		}
		kc_http_response_init(&resp);
		rc = keycrm_perform(k, "GET", url, NULL, &resp, err);
		free(url);
		if (rc == 0 && resp.status != 200) {
			keycrm_answer_error(k, "GET", "/offers/stocks", &resp, err);
			rc = -1;
		}
		root = rc == 0 ? json_loadb(resp.body.data ? resp.body.data : "",
		    resp.body.len, 0, NULL) : NULL;
		if (rc == 0 && (root == NULL || add_warehouse_ids(root, ids, max, n) != 0)) {
			kc_error_set(err, "KeyCRM GET /offers/stocks: an unexpected answer (no \"data\" list)");
			rc = -1;
		} else if (rc == 0 && parse_last_page(root, &last, err) != 0) {
			kc_error_prefix(err, "KeyCRM GET /offers/stocks: an unexpected answer");
			rc = -1;
		}
		json_decref(root);
		kc_http_response_free(&resp);
		if (rc != 0)
			return -1;
	}
	*complete = page > last;
	return 0;
}
