/*
 * woo.c - see woo.h.
 */
#include "woo.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "config.h"
#include "form.h"
#include "oauth.h"
#include "sku.h"

#define LOOKUP_URL_BUDGET 4000	/* encoded SKU bytes per lookup URL */
#define MAX_PAGES 1000
#define PRODUCT_FIELDS "id,type,parent_id,sku,manage_stock,stock_quantity,name"

int
kc_woo_init(struct kc_woo *w, const struct kc_config *cfg, struct kc_error *err)
{
	memset(w, 0, sizeof(*w));
	if (cfg->woo_url == NULL || cfg->woo_consumer_key == NULL ||
	    cfg->woo_consumer_secret == NULL) {
		kc_error_set(err, "the shop is not configured (woo_url, woo_consumer_key and woo_consumer_secret are needed)");
		return -1;
	}
	if (kc_http_init(&w->http, "WooCommerce", cfg->ca_file,
	    cfg->woo_connect_to, err) != 0)
		return -1;
	if (asprintf(&w->api, "%s/wp-json/wc/v3", cfg->woo_url) < 0) {
		w->api = NULL;
		kc_http_cleanup(&w->http);
		kc_error_set(err, "out of memory");
		return -1;
	}
	if (asprintf(&w->root, "%s/wp-json", cfg->woo_url) < 0) {
		w->root = NULL;
		kc_woo_cleanup(w);
		kc_error_set(err, "out of memory");
		return -1;
	}
	w->parallel = (int)cfg->woo_parallel_requests;
	if (w->parallel < 1)
		w->parallel = 1;
	if (w->parallel > KC_WOO_PARALLEL_MAX)
		w->parallel = KC_WOO_PARALLEL_MAX;
	for (int i = 0; i < w->parallel - 1; i++) {
		if (kc_http_init(&w->extra[i], "WooCommerce", cfg->ca_file,
		    cfg->woo_connect_to, err) != 0) {
			kc_woo_cleanup(w);
			return -1;
		}
		w->extra[i].timeout_ms = 120000;
	}
	w->consumer_key = kc_strdup(cfg->woo_consumer_key);
	w->consumer_secret = kc_strdup(cfg->woo_consumer_secret);
	w->oauth = strncmp(cfg->woo_url, "http://", 7) == 0;
	/* Batch answers are full product objects: ~10 KB each. */
	w->http.timeout_ms = 120000;
	return 0;
}

void
kc_woo_cleanup(struct kc_woo *w)
{
	kc_http_cleanup(&w->http);
	for (int i = 0; i < KC_WOO_PARALLEL_MAX - 1; i++)
		if (w->extra[i].curl != NULL)
			kc_http_cleanup(&w->extra[i]);
	free(w->api);
	free(w->root);
	free(w->consumer_key);
	if (w->consumer_secret != NULL)
		kc_wipe(w->consumer_secret, strlen(w->consumer_secret));
	free(w->consumer_secret);
	memset(w, 0, sizeof(*w));
}

static int
authorize(void *ctx, const char *method, const char *url, struct kc_buf *out,
    struct curl_slist **headers, struct kc_error *err)
{
	struct kc_woo *w = ctx;
	struct kc_buf cred, line;
	int rc = 0;

	if (w->oauth)
		return kc_oauth_sign_url(method, url, w->consumer_key,
		    w->consumer_secret, NULL, 0, out, err);
	kc_buf_adds(out, url);
	kc_buf_init(&cred);
	kc_buf_init(&line);
	kc_buf_addf(&cred, "%s:%s", w->consumer_key, w->consumer_secret);
	kc_buf_adds(&line, "Authorization: Basic ");
	if (cred.data == NULL || kc_base64((unsigned char *)cred.data, cred.len,
	    &line) != 0 || (*headers = curl_slist_append(*headers, line.data)) == NULL) {
		kc_error_set(err, "out of memory");
		rc = -1;
	}
	kc_wipe(cred.data, cred.cap);
	kc_wipe(line.data, line.cap);
	kc_buf_free(&cred);
	kc_buf_free(&line);
	return rc;
}

/* The "message" of a WordPress error answer, trimmed, for reports. */
void
kc_woo_error_message(const struct kc_http_response *resp, char *out, size_t outsz)
{
	json_t *root = json_loadb(resp->body.data ? resp->body.data : "",
	    resp->body.len, 0, NULL);
	const char *msg = NULL;

	if (json_is_object(root))
		msg = json_string_value(json_object_get(root, "message"));
	snprintf(out, outsz, "%.200s", msg ? msg : "no error message");
	json_decref(root);
}

/* Turns a non-200 answer into an error; returns -1. */
static int
answer_error(struct kc_woo *w, const char *method, const char *url,
    const struct kc_http_response *resp, struct kc_error *err)
{
	char path[256], msg[256];

	kc_url_path(url, path, sizeof(path));
	kc_woo_error_message(resp, msg, sizeof(msg));
	if (resp->status == 401 || resp->status == 403) {
		w->auth_failed = 1;
		kc_error_set(err, "WooCommerce rejected the API key (HTTP %ld: %s); check woo_consumer_key and woo_consumer_secret and that the key has read/write permission",
		    resp->status, msg);
	} else {
		kc_error_set(err, "WooCommerce %s %s: HTTP %ld: %s", method, path,
		    resp->status, msg);
	}
	return -1;
}

void
kc_woo_products_free(struct kc_woo_products *p)
{
	for (size_t i = 0; i < p->count; i++)
		free(p->items[i].sku);
	free(p->items);
	memset(p, 0, sizeof(*p));
}

static int
products_push(struct kc_woo_products *p, const struct kc_woo_product *item)
{
	if (p->count == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct kc_woo_product *n = realloc(p->items, cap * sizeof(*n));
		if (n == NULL)
			return -1;
		p->items = n;
		p->cap = cap;
	}
	p->items[p->count++] = *item;
	return 0;
}

/*
 * /products/{id}/variations objects carry neither type nor parent_id, so
 * a listing can supply them (def_type NULL: type is required).
 */
static int
parse_product(json_t *o, struct kc_woo_product *p, const char *def_type,
    long long def_parent, struct kc_error *err)
{
	json_t *id = json_object_get(o, "id"), *v;

	memset(p, 0, sizeof(*p));
	if (!json_is_integer(id) || json_integer_value(id) <= 0) {
		kc_error_set(err, "a product without a valid id");
		return -1;
	}
	p->id = json_integer_value(id);
	v = json_object_get(o, "parent_id");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 0)) {
		kc_error_set(err, "product %lld has a bad parent_id", p->id);
		return -1;
	}
	p->parent_id = v ? json_integer_value(v) : def_parent;
	v = json_object_get(o, "type");
	if (v == NULL && def_type != NULL) {
		kc_strlcpy(p->type, def_type, sizeof(p->type));
	} else if (!json_is_string(v) || json_string_length(v) >= sizeof(p->type)) {
		kc_error_set(err, "product %lld has no valid type", p->id);
		return -1;
	} else {
		kc_strlcpy(p->type, json_string_value(v), sizeof(p->type));
	}
	v = json_object_get(o, "sku");
	if (v != NULL && !json_is_string(v)) {
		kc_error_set(err, "product %lld has a non-text sku", p->id);
		return -1;
	}
	p->sku = kc_strdup(v ? json_string_value(v) : "");
	/* Only ever shown to people: kept when it is text, cut between characters. */
	v = json_object_get(o, "name");
	if (json_is_string(v)) {
		size_t n = json_string_length(v);

		if (n >= sizeof(p->name)) {
			n = sizeof(p->name) - 1;
			while (n > 0 && ((unsigned char)json_string_value(v)[n] & 0xC0) == 0x80)
				n--;
		}
		memcpy(p->name, json_string_value(v), n);
		p->name[n] = '\0';
	}
	v = json_object_get(o, "manage_stock");
	if (json_is_true(v))
		p->manage = KC_WOO_MANAGE_YES;
	else if (json_is_string(v) && strcmp(json_string_value(v), "parent") == 0)
		p->manage = KC_WOO_MANAGE_PARENT;
	else if (v == NULL || json_is_false(v))
		p->manage = KC_WOO_MANAGE_NO;
	else {
		kc_error_set(err, "product %lld has a bad manage_stock", p->id);
		free(p->sku);
		return -1;
	}
	v = json_object_get(o, "stock_quantity");
	if (json_is_integer(v)) {
		p->has_qty = 1;
		p->qty = json_integer_value(v);
	} else if (json_is_real(v) && isfinite(json_real_value(v)) &&
	    fabs(json_real_value(v)) < 1e15) {
		p->has_qty = 1;
		p->qty = (long long)floor(json_real_value(v));
	} else if (v != NULL && !json_is_null(v)) {
		kc_error_set(err, "product %lld has a bad stock_quantity", p->id);
		free(p->sku);
		return -1;
	}
	if (p->sku == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	return 0;
}

static int
parse_list(const char *json, size_t len, const char *def_type,
    long long def_parent, struct kc_woo_products *out, struct kc_error *err);

int
kc_woo_parse_products(const char *json, size_t len,
    struct kc_woo_products *out, struct kc_error *err)
{
	return parse_list(json, len, NULL, 0, out, err);
}

static int
parse_list(const char *json, size_t len, const char *def_type,
    long long def_parent, struct kc_woo_products *out, struct kc_error *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	size_t i;
	json_t *o;

	if (root == NULL) {
		kc_error_set(err, "not JSON (%s)", jerr.text);
		return -1;
	}
	if (!json_is_array(root)) {
		kc_error_set(err, "not a list of products");
		json_decref(root);
		return -1;
	}
	json_array_foreach(root, i, o) {
		struct kc_woo_product p;

		if (!json_is_object(o)) {
			kc_error_set(err, "item %zu is not an object", i);
			json_decref(root);
			return -1;
		}
		if (parse_product(o, &p, def_type, def_parent, err) != 0) {
			json_decref(root);
			return -1;
		}
		if (products_push(out, &p) != 0) {
			free(p.sku);
			kc_error_set(err, "out of memory");
			json_decref(root);
			return -1;
		}
	}
	json_decref(root);
	return 0;
}

static int
wanted(const char *sku, char *const *skus, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (kc_sku_equal(sku, skus[i]))
			return 1;
	return 0;
}

static char *
lookup_url(struct kc_woo *w, const char *sku_param, long page)
{
	char *url = NULL;

	if (asprintf(&url, "%s/products?sku=%s&per_page=100&page=%ld"
	    "&orderby=id&order=asc&_fields=" PRODUCT_FIELDS, w->api,
	    sku_param, page) < 0)
		return NULL;
	return url;
}

/*
 * Keeps the products of one lookup answer that carry a SKU asked for
 * (SPEC 4.6: the shop answers looser matches too).  Returns 1 when more
 * pages follow, 0 when this was the last, -1 on an error.
 */
static int
lookup_answer(struct kc_woo *w, const char *url, long page,
    struct kc_http_response *resp, char *const *skus, size_t n,
    struct kc_woo_products *out, struct kc_error *err)
{
	struct kc_woo_products got = { 0 };
	size_t i;

	if (resp->status != 200) {
		answer_error(w, "GET", url, resp, err);
		return -1;
	}
	if (kc_woo_parse_products(resp->body.data ? resp->body.data : "",
	    resp->body.len, &got, err) != 0) {
		kc_error_prefix(err, "WooCommerce sent an unexpected product list");
		kc_woo_products_free(&got);
		return -1;
	}
	for (i = 0; i < got.count; i++) {
		if (wanted(got.items[i].sku, skus, n)) {
			if (products_push(out, &got.items[i]) != 0) {
				kc_error_set(err, "out of memory");
				break;
			}
			got.items[i].sku = NULL;
		}
	}
	kc_woo_products_free(&got);
	if (i < got.count)
		return -1;
	return resp->wp_total_pages >= 0 && page < resp->wp_total_pages;
}

/* Fetches the pages of one ?sku= query from page `first` on. */
static int
lookup_chunk(struct kc_woo *w, const char *sku_param, char *const *skus,
    size_t n, long first, struct kc_woo_products *out, struct kc_error *err)
{
	for (long page = first; page <= MAX_PAGES; page++) {
		struct kc_http_response resp;
		struct kc_http_request req = { 0 };
		char *url = lookup_url(w, sku_param, page);
		int more;

		if (url == NULL) {
			kc_error_set(err, "out of memory");
			return -1;
		}
		req.method = "GET";
		req.url = url;
		req.authorize = authorize;
		req.auth_ctx = w;
		req.retry = 1;
		kc_http_response_init(&resp);
		more = kc_http_perform(&w->http, &req, &resp, err) != 0 ? -1 :
		    lookup_answer(w, url, page, &resp, skus, n, out, err);
		kc_http_response_free(&resp);
		free(url);
		if (more <= 0)
			return more;
	}
	kc_error_set(err, "WooCommerce returned more than %d pages for one lookup", MAX_PAGES);
	return -1;
}

/* One ?sku= query's worth of SKUs: its parameter and its slice. */
struct lookup_span {
	char *param;
	char *const *skus;
	size_t n;
};

/*
 * The next span from skus[start]: up to KC_WOO_LOOKUP_MAX SKUs comma-joined,
 * within the URL budget.  The shop splits the parameter on commas, so a
 * SKU that has one goes alone (the shop also matches the whole string).
 */
static int
next_span(char *const *skus, size_t n, size_t start, struct lookup_span *span)
{
	struct kc_buf param;
	size_t end = start;

	kc_buf_init(&param);
	if (strchr(skus[start], ',') != NULL) {
		kc_percent_encode(&param, skus[start], strlen(skus[start]));
		end = start + 1;
	} else {
		while (end < n && end - start < KC_WOO_LOOKUP_MAX &&
		    strchr(skus[end], ',') == NULL && param.len < LOOKUP_URL_BUDGET) {
			if (end > start)
				kc_buf_adds(&param, ",");
			kc_percent_encode(&param, skus[end], strlen(skus[end]));
			end++;
		}
		/* PHP's empty("0") is true: "0" alone would match all. */
		if (end == start + 1 && strcmp(skus[start], "0") == 0)
			kc_buf_adds(&param, ",0");
	}
	if (param.data == NULL)
		return -1;
	span->param = param.data;
	span->skus = skus + start;
	span->n = end - start;
	return 0;
}

/*
 * The first page of every lookup through a pool of w->parallel
 * connections; a lookup whose attempt failed, or that has more pages,
 * goes on alone.
 */
static int
lookup_pooled(struct kc_woo *w, struct lookup_span *spans, size_t count,
    struct kc_woo_products *out, struct kc_error *err)
{
	struct kc_http *hs[KC_WOO_PARALLEL_MAX];
	struct kc_http_request *reqs = calloc(count, sizeof(*reqs));
	struct kc_http_response *resps = calloc(count, sizeof(*resps));
	char **urls = calloc(count, sizeof(*urls));
	int *ok = calloc(count, sizeof(*ok));
	int rc = 0;
	size_t k;

	if (reqs == NULL || resps == NULL || urls == NULL || ok == NULL) {
		kc_error_set(err, "out of memory");
		rc = -1;
		goto out;
	}
	for (k = 0; k < count; k++) {
		kc_http_response_init(&resps[k]);
		if ((urls[k] = lookup_url(w, spans[k].param, 1)) == NULL) {
			kc_error_set(err, "out of memory");
			rc = -1;
			goto out;
		}
		reqs[k].method = "GET";
		reqs[k].url = urls[k];
		reqs[k].authorize = authorize;
		reqs[k].auth_ctx = w;
	}
	for (int i = 0; i < w->parallel; i++) {
		hs[i] = i == 0 ? &w->http : &w->extra[i - 1];
		hs[i]->deadline_ms = w->http.deadline_ms;
	}
	kc_http_perform_pool(hs, (size_t)w->parallel, reqs, resps, ok, count);
	for (k = 0; k < count && rc == 0; k++) {
		int answered = ok[k] && resps[k].status == 200, more = -1;

		if (answered)
			more = lookup_answer(w, urls[k], 1, &resps[k], spans[k].skus,
			    spans[k].n, out, err);
		if (!answered)
			rc = lookup_chunk(w, spans[k].param, spans[k].skus, spans[k].n, 1,
			    out, err);
		else if (more > 0)
			rc = lookup_chunk(w, spans[k].param, spans[k].skus, spans[k].n, 2,
			    out, err);
		else
			rc = more;
	}
out:
	for (k = 0; k < count && resps != NULL; k++) {
		kc_http_response_free(&resps[k]);
		if (urls != NULL)
			free(urls[k]);
	}
	for (int i = 1; i < w->parallel; i++)
		w->http.requests += w->extra[i - 1].requests, w->extra[i - 1].requests = 0;
	free(reqs);
	free(resps);
	free(urls);
	free(ok);
	return rc;
}

int
kc_woo_find_skus(struct kc_woo *w, char *const *skus, size_t n,
    struct kc_woo_products *out, struct kc_error *err)
{
	struct lookup_span *spans = calloc(n ? n : 1, sizeof(*spans));
	size_t start = 0, count = 0;
	int rc = 0;

	if (spans == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	while (start < n) {
		if (next_span(skus, n, start, &spans[count]) != 0) {
			kc_error_set(err, "out of memory");
			rc = -1;
			break;
		}
		start += spans[count++].n;
	}
	if (rc == 0 && count == 1)
		rc = lookup_chunk(w, spans[0].param, spans[0].skus, spans[0].n, 1, out, err);
	else if (rc == 0 && w->parallel == 1)
		for (size_t k = 0; rc == 0 && k < count; k++)
			rc = lookup_chunk(w, spans[k].param, spans[k].skus, spans[k].n, 1,
			    out, err);
	else if (rc == 0 && count > 1)
		rc = lookup_pooled(w, spans, count, out, err);
	for (size_t k = 0; k < count; k++)
		free(spans[k].param);
	free(spans);
	return rc;
}

static void
mark_all(struct kc_woo_write **group, size_t n, const char *why)
{
	for (size_t i = 0; i < n; i++) {
		group[i]->transient = 1;
		kc_strlcpy(group[i]->error, why, sizeof(group[i]->error));
	}
}

/* Reads the outcome of each item from a batch answer. */
static void
read_batch_answer(json_t *root, struct kc_woo_write **group, size_t n)
{
	json_t *list = json_is_object(root) ? json_object_get(root, "update") : NULL;

	for (size_t i = 0; i < n; i++) {
		struct kc_woo_write *wr = group[i];
		json_t *item = json_array_get(list, i), *e, *v;

		/* Items stand in request order; check the id all the same. */
		if (!json_is_object(item) ||
		    json_integer_value(json_object_get(item, "id")) != wr->id) {
			size_t k;
			json_t *o;
			item = NULL;
			json_array_foreach(list, k, o)
				if (json_integer_value(json_object_get(o, "id")) == wr->id)
					item = o;
		}
		if (item == NULL) {
			wr->transient = 1;
			kc_strlcpy(wr->error, "the shop's answer does not mention this product",
			    sizeof(wr->error));
			continue;
		}
		if ((e = json_object_get(item, "error")) != NULL) {
			const char *code = json_string_value(json_object_get(e, "code"));
			const char *msg = json_string_value(json_object_get(e, "message"));
			snprintf(wr->error, sizeof(wr->error), "the shop refused: %.80s: %.150s",
			    code ? code : "error", msg ? msg : "");
			continue;
		}
		v = json_object_get(item, "stock_quantity");
		if (!json_is_true(json_object_get(item, "manage_stock")) ||
		    !json_is_integer(v) || json_integer_value(v) != wr->qty) {
			snprintf(wr->error, sizeof(wr->error),
			    "the shop did not take the quantity (is stock management on in WooCommerce > Settings > Products > Inventory?)");
			continue;
		}
		wr->done = 1;
	}
}

/* The body and URL of one batch request; 0, or -1 when out of memory. */
static int
group_request(struct kc_woo *w, long long parent, struct kc_woo_write **group,
    size_t n, char **url, char **text)
{
	json_t *body = json_array(), *root;
	int rc;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(body, json_pack("{s:I,s:b,s:I}", "id",
		    (json_int_t)group[i]->id, "manage_stock", 1,
		    "stock_quantity", (json_int_t)group[i]->qty));
	root = json_pack("{s:o}", "update", body);
	*text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	if (parent > 0)
		rc = asprintf(url, "%s/products/%lld/variations/batch", w->api, parent);
	else
		rc = asprintf(url, "%s/products/batch", w->api);
	if (rc < 0)
		*url = NULL;
	if (rc < 0 || *text == NULL) {
		free(*text);
		free(*url);
		*text = *url = NULL;
		return -1;
	}
	return 0;
}

static void
group_http_request(struct kc_woo *w, const char *url, const char *text,
    struct kc_http_request *req)
{
	memset(req, 0, sizeof(*req));
	req->method = "POST";
	req->url = url;
	req->body = text;
	req->body_len = strlen(text);
	req->content_type = "application/json";
	req->authorize = authorize;
	req->auth_ctx = w;
	req->retry = 1;		/* absolute quantities: repeating is harmless */
}

/* Reads one batch answer into the group's outcomes. */
static int
group_answer(struct kc_woo *w, const char *url, struct kc_woo_write **group,
    size_t n, struct kc_http_response *resp, struct kc_error *err)
{
	json_t *ans;

	if (resp->status != 200) {
		answer_error(w, "POST", url, resp, err);
		mark_all(group, n, err->msg);
		return -1;
	}
	ans = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL);
	if (!json_is_object(ans)) {
		json_decref(ans);
		kc_error_set(err, "WooCommerce sent an unreadable batch answer");
		mark_all(group, n, err->msg);
		return -1;
	}
	read_batch_answer(ans, group, n);
	json_decref(ans);
	return 0;
}

static int
write_group(struct kc_woo *w, long long parent, struct kc_woo_write **group,
    size_t n, struct kc_error *err)
{
	struct kc_http_request req;
	struct kc_http_response resp;
	char *url, *text;
	int rc;

	if (group_request(w, parent, group, n, &url, &text) != 0) {
		mark_all(group, n, "out of memory");
		kc_error_set(err, "out of memory");
		return -1;
	}
	group_http_request(w, url, text, &req);
	kc_http_response_init(&resp);
	if (kc_http_perform(&w->http, &req, &resp, err) != 0) {
		mark_all(group, n, err->msg);
		rc = -1;
	} else {
		rc = group_answer(w, url, group, n, &resp, err);
	}
	kc_http_response_free(&resp);
	free(url);
	free(text);
	return rc;
}

/* One group of writes: a batch request's worth, for one parent. */
struct write_group_span {
	long long parent;
	struct kc_woo_write **items;
	size_t n;
};

/*
 * Every group once through a pool of w->parallel connections (the shop's
 * PHP workers serve them side by side; a big batch does not hold the
 * small ones behind it), then, in order, each group whose attempt failed
 * again on its own with retries - until one fails that way too: the shop
 * is then not asked again in this call.  Returns -1 when a whole request
 * failed.
 */
static int
write_groups_pooled(struct kc_woo *w, struct write_group_span *g, size_t count,
    struct kc_error *err)
{
	struct kc_http *hs[KC_WOO_PARALLEL_MAX];
	struct kc_http_request *reqs = calloc(count, sizeof(*reqs));
	struct kc_http_response *resps = calloc(count, sizeof(*resps));
	char **urls = calloc(count, sizeof(*urls)), **texts = calloc(count, sizeof(*texts));
	int *ok = calloc(count, sizeof(*ok));
	int failed = 0;
	size_t k;

	if (reqs == NULL || resps == NULL || urls == NULL || texts == NULL || ok == NULL) {
		kc_error_set(err, "out of memory");
		failed = 1;
		goto out;
	}
	for (k = 0; k < count; k++) {
		kc_http_response_init(&resps[k]);
		if (group_request(w, g[k].parent, g[k].items, g[k].n, &urls[k], &texts[k]) != 0) {
			kc_error_set(err, "out of memory");
			failed = 1;
			goto out;
		}
		group_http_request(w, urls[k], texts[k], &reqs[k]);
	}
	for (int i = 0; i < w->parallel; i++) {
		hs[i] = i == 0 ? &w->http : &w->extra[i - 1];
		hs[i]->deadline_ms = w->http.deadline_ms;
	}
	kc_http_perform_pool(hs, (size_t)w->parallel, reqs, resps, ok, count);
	for (k = 0; k < count; k++) {
		struct kc_error e = { { 0 } };

		if (failed) {
			mark_all(g[k].items, g[k].n, err->msg);
		} else if (ok[k] && resps[k].status == 200) {
			if (group_answer(w, urls[k], g[k].items, g[k].n, &resps[k], &e) != 0) {
				failed = 1;
				*err = e;
			}
		} else if (write_group(w, g[k].parent, g[k].items, g[k].n, &e) != 0) {
			/* Again on its own, with retries and a proper message. */
			failed = 1;
			*err = e;
		}
	}
out:
	if (failed && reqs == NULL)
		for (k = 0; k < count; k++)
			mark_all(g[k].items, g[k].n, "out of memory");
	for (k = 0; k < count && resps != NULL; k++) {
		kc_http_response_free(&resps[k]);
		if (urls != NULL)
			free(urls[k]);
		if (texts != NULL)
			free(texts[k]);
	}
	for (int i = 1; i < w->parallel; i++)
		w->http.requests += w->extra[i - 1].requests, w->extra[i - 1].requests = 0;
	free(reqs);
	free(resps);
	free(urls);
	free(texts);
	free(ok);
	return failed ? -1 : 0;
}

static int
cmp_write(const void *a, const void *b)
{
	const struct kc_woo_write *x = *(struct kc_woo_write *const *)a;
	const struct kc_woo_write *y = *(struct kc_woo_write *const *)b;
	long long px = x->is_variation ? x->parent_id : 0;
	long long py = y->is_variation ? y->parent_id : 0;

	if (px != py)
		return px < py ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int
kc_woo_set_stock(struct kc_woo *w, struct kc_woo_write *writes, size_t n,
    struct kc_error *err)
{
	struct kc_woo_write **order;
	struct write_group_span *groups;
	size_t i = 0, count = 0;
	int failed = 0;

	if (n == 0)
		return 0;
	order = calloc(n, sizeof(*order));
	groups = calloc(n, sizeof(*groups));
	if (order == NULL || groups == NULL) {
		free(order);
		free(groups);
		kc_error_set(err, "out of memory");
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		writes[k].done = writes[k].transient = 0;
		writes[k].error[0] = '\0';
		order[k] = &writes[k];
	}
	qsort(order, n, sizeof(*order), cmp_write);
	/* One batch request per parent, at most KC_WOO_BATCH_MAX items each. */
	while (i < n) {
		long long parent = order[i]->is_variation ? order[i]->parent_id : 0;
		size_t j = i;

		while (j < n && j - i < KC_WOO_BATCH_MAX &&
		    (order[j]->is_variation ? order[j]->parent_id : 0) == parent)
			j++;
		groups[count].parent = parent;
		groups[count].items = order + i;
		groups[count].n = j - i;
		count++;
		i = j;
	}
	if (w->auth_failed) {
		for (size_t k = 0; k < count; k++)
			mark_all(groups[k].items, groups[k].n, "WooCommerce rejected the API key");
		failed = 1;
		kc_error_set(err, "WooCommerce rejected the API key");
	} else if (w->parallel > 1 && count > 1) {
		failed = write_groups_pooled(w, groups, count, err) != 0;
	} else {
		for (size_t k = 0; k < count; k++) {
			if (failed)	/* the shop just failed a whole request: don't hammer it */
				mark_all(groups[k].items, groups[k].n, err->msg);
			else
				failed = write_group(w, groups[k].parent, groups[k].items,
				    groups[k].n, err) != 0;
		}
	}
	free(groups);
	free(order);
	return failed ? -1 : 0;
}

int
kc_woo_request(struct kc_woo *w, const char *method, const char *path_query,
    const char *json_body, struct kc_http_response *resp, struct kc_error *err)
{
	struct kc_http_request req = { 0 };
	char *url = NULL;
	int rc;

	if (asprintf(&url, "%s%s", w->root, path_query) < 0) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	req.method = method;
	req.url = url;
	req.body = json_body;
	req.body_len = json_body ? strlen(json_body) : 0;
	req.content_type = json_body ? "application/json" : NULL;
	req.authorize = authorize;
	req.auth_ctx = w;
	req.retry = 1;
	rc = kc_http_perform(&w->http, &req, resp, err);
	if (rc == 0 && (resp->status == 401 || resp->status == 403))
		w->auth_failed = 1;
	free(url);
	return rc;
}

static void listing_path(struct kc_buf *pq, enum kc_woo_listing what,
    long long parent, const char *modified_after, long page);
static int read_listing(struct kc_woo *w, enum kc_woo_listing what,
    long long parent, const char *pq, const struct kc_http_response *resp,
    struct kc_woo_products *out, long *total_pages, struct kc_error *err);

int
kc_woo_list(struct kc_woo *w, enum kc_woo_listing what, long long parent,
    const char *modified_after, long page, struct kc_woo_products *out,
    long *total_pages, struct kc_error *err)
{
	struct kc_http_response resp;
	struct kc_buf pq;
	int rc = -1;

	kc_buf_init(&pq);
	listing_path(&pq, what, parent, modified_after, page);
	if (pq.data == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	kc_http_response_init(&resp);
	*total_pages = -1;
	w->no_route = 0;
	if (kc_woo_request(w, "GET", pq.data, NULL, &resp, err) != 0)
		goto out;
	rc = read_listing(w, what, parent, pq.data, &resp, out, total_pages, err);
out:
	kc_http_response_free(&resp);
	kc_buf_free(&pq);
	return rc;
}

static void
listing_path(struct kc_buf *pq, enum kc_woo_listing what, long long parent,
    const char *modified_after, long page)
{
	switch (what) {
	case KC_WOO_LIST_PRODUCTS:
		kc_buf_addf(pq, "/wc/v3/products?per_page=100&page=%ld&orderby=id"
		    "&order=asc&_fields=" PRODUCT_FIELDS, page);
		break;
	case KC_WOO_LIST_VARIATIONS:
		kc_buf_addf(pq, "/wc-analytics/variations?per_page=100&page=%ld"
		    "&orderby=id&order=asc&_fields=" PRODUCT_FIELDS, page);
		break;
	case KC_WOO_LIST_PARENT_VARIATIONS:
		kc_buf_addf(pq, "/wc/v3/products/%lld/variations?per_page=100&page=%ld"
		    "&orderby=id&order=asc&_fields=id,sku,manage_stock,stock_quantity",
		    parent, page);
		break;
	}
	if (modified_after != NULL) {
		kc_buf_adds(pq, "&dates_are_gmt=true&modified_after=");
		kc_percent_encode(pq, modified_after, strlen(modified_after));
	}
}

/* Turns a listing's answer into products. */
static int
read_listing(struct kc_woo *w, enum kc_woo_listing what, long long parent,
    const char *pq, const struct kc_http_response *resp,
    struct kc_woo_products *out, long *total_pages, struct kc_error *err)
{
	char msg[256];

	if (resp->status != 200) {
		kc_woo_error_message(resp, msg, sizeof(msg));
		if (resp->status == 401 || resp->status == 403)
			w->auth_failed = 1;
		if (resp->status == 404 && strstr(resp->body.data ? resp->body.data : "",
		    "rest_no_route") != NULL)
			w->no_route = 1;
		if (w->auth_failed)
			kc_error_set(err, "WooCommerce rejected the API key (HTTP %ld: %s)",
			    resp->status, msg);
		else
			kc_error_set(err, "WooCommerce GET /wp-json%.*s: HTTP %ld: %s",
			    (int)strcspn(pq, "?"), pq, resp->status, msg);
		return -1;
	}
	if (parse_list(resp->body.data ? resp->body.data : "", resp->body.len,
	    what == KC_WOO_LIST_PRODUCTS ? NULL : "variation",
	    what == KC_WOO_LIST_PARENT_VARIATIONS ? parent : 0, out, err) != 0) {
		kc_error_prefix(err, "WooCommerce sent an unexpected list");
		return -1;
	}
	*total_pages = resp->wp_total_pages;
	return 0;
}

int
kc_woo_list_pages(struct kc_woo *w, enum kc_woo_listing what, long long parent,
    const char *modified_after, long first, long count,
    struct kc_woo_products *outs, long *total_pages, struct kc_error *err)
{
	struct kc_http *hs[KC_WOO_PARALLEL_MAX];
	struct kc_http_request reqs[KC_WOO_PARALLEL_MAX] = { { 0 } };
	struct kc_http_response resps[KC_WOO_PARALLEL_MAX];
	struct kc_buf urls[KC_WOO_PARALLEL_MAX];
	int ok[KC_WOO_PARALLEL_MAX];
	int rc = 0;

	if (count < 1 || count > w->parallel)
		count = count < 1 ? 1 : w->parallel;
	if (count == 1)
		return kc_woo_list(w, what, parent, modified_after, first, &outs[0],
		    total_pages, err);
	for (long k = 0; k < count; k++) {
		kc_buf_init(&urls[k]);
		kc_buf_adds(&urls[k], w->root);
		listing_path(&urls[k], what, parent, modified_after, first + k);
		memset(&reqs[k], 0, sizeof(reqs[k]));
		reqs[k].method = "GET";
		reqs[k].url = urls[k].data;
		reqs[k].authorize = authorize;
		reqs[k].auth_ctx = w;
		hs[k] = k == 0 ? &w->http : &w->extra[k - 1];
		hs[k]->deadline_ms = w->http.deadline_ms;
		kc_http_response_init(&resps[k]);
	}
	kc_http_perform_parallel(hs, reqs, resps, ok, (size_t)count);
	*total_pages = -1;
	for (long k = 0; k < count && rc == 0; k++) {
		long pages = -1;
		const char *pq = urls[k].data + strlen(w->root);

		if (ok[k] && resps[k].status == 200 &&
		    read_listing(w, what, parent, pq, &resps[k], &outs[k], &pages, err) == 0) {
			*total_pages = pages;
			continue;
		}
		/* One at a time again, with retries and a proper message. */
		kc_woo_products_free(&outs[k]);
		rc = kc_woo_list(w, what, parent, modified_after, first + k, &outs[k],
		    &pages, err);
		if (rc == 0)
			*total_pages = pages;
	}
	for (long k = 0; k < count; k++) {
		kc_http_response_free(&resps[k]);
		kc_buf_free(&urls[k]);
		if (k > 0)
			w->http.requests += hs[k]->requests, hs[k]->requests = 0;
	}
	return rc;
}

void
kc_woo_order_lines_free(struct kc_woo_order_line *lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i].sku);
	free(lines);
}

static double
reduced_stock(json_t *line)
{
	json_t *meta = json_object_get(line, "meta_data"), *m;
	size_t i;

	json_array_foreach(meta, i, m) {
		const char *key = json_string_value(json_object_get(m, "key"));
		json_t *v = json_object_get(m, "value");

		if (key == NULL || strcmp(key, "_reduced_stock") != 0)
			continue;
		if (json_is_number(v))
			return json_number_value(v);
		if (json_is_string(v)) {
			char *end;
			double d = strtod(json_string_value(v), &end);
			return *end == '\0' && isfinite(d) ? d : 0;
		}
	}
	return 0;
}

/* "2026-11-27T00:07:20" (GMT) as unix time; 0 when absent or bad. */
static double
gmt_time(const json_t *v)
{
	struct tm tm;
	const char *s = json_string_value(v), *end;

	if (s == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	return end != NULL && *end == '\0' ? (double)timegm(&tm) : 0;
}

int
kc_woo_list_orders(struct kc_woo *w, const char *modified_after, long page,
    struct kc_woo_order_line **lines, size_t *n, long *total_pages,
    struct kc_error *err)
{
	struct kc_http_response resp;
	struct kc_buf pq;
	json_t *root = NULL, *order;
	size_t i, cap = 0;
	char msg[256];
	int rc = -1;

	*lines = NULL;
	*n = 0;
	kc_buf_init(&pq);
	kc_buf_addf(&pq, "/wc/v3/orders?per_page=100&page=%ld&orderby=id&order=asc"
	    "&_fields=id,status,date_created_gmt,date_modified_gmt,line_items"
	    "&dates_are_gmt=true&modified_after=", page);
	kc_percent_encode(&pq, modified_after, strlen(modified_after));
	kc_http_response_init(&resp);
	if (pq.data == NULL || kc_woo_request(w, "GET", pq.data, NULL, &resp, err) != 0)
		goto out;
	if (resp.status != 200) {
		kc_woo_error_message(&resp, msg, sizeof(msg));
		kc_error_set(err, "WooCommerce GET /wp-json/wc/v3/orders: HTTP %ld: %s",
		    resp.status, msg);
		goto out;
	}
	root = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
	if (!json_is_array(root)) {
		kc_error_set(err, "WooCommerce sent an unexpected order list");
		goto out;
	}
	json_array_foreach(root, i, order) {
		const char *status = json_string_value(json_object_get(order, "status"));
		json_t *id = json_object_get(order, "id"), *line;
		int given_back = status != NULL && (strcmp(status, "cancelled") == 0 ||
		    strcmp(status, "refunded") == 0 || strcmp(status, "failed") == 0);
		size_t k;

		if (!json_is_integer(id))
			continue;
		json_array_foreach(json_object_get(order, "line_items"), k, line) {
			const char *sku = json_string_value(json_object_get(line, "sku"));
			json_t *lid = json_object_get(line, "id");

			if (sku == NULL || sku[0] == '\0' || !json_is_integer(lid))
				continue;
			if (*n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct kc_woo_order_line *nl = realloc(*lines, ncap * sizeof(*nl));
				if (nl == NULL) {
					kc_error_set(err, "out of memory");
					goto out;
				}
				*lines = nl;
				cap = ncap;
			}
			(*lines)[*n].line_id = json_integer_value(lid);
			(*lines)[*n].order_id = json_integer_value(id);
			(*lines)[*n].reduced = given_back ? 0 : reduced_stock(line);
			(*lines)[*n].created_at = gmt_time(json_object_get(order, "date_created_gmt"));
			(*lines)[*n].modified_at = gmt_time(json_object_get(order, "date_modified_gmt"));
			if (((*lines)[*n].sku = kc_strdup(sku)) == NULL) {
				kc_error_set(err, "out of memory");
				goto out;
			}
			(*n)++;
		}
	}
	*total_pages = resp.wp_total_pages;
	rc = 0;
out:
	if (rc != 0) {
		kc_woo_order_lines_free(*lines, *n);
		*lines = NULL;
		*n = 0;
	}
	json_decref(root);
	kc_http_response_free(&resp);
	kc_buf_free(&pq);
	return rc;
}
