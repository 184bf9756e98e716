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
#include "woo_client.h"

int
kc_woo_init(struct kc_woo *w, const struct kc_config *cfg, struct kc_error *err)
{
	return kc_woo_init_key(w, cfg, cfg->woo_consumer_key, cfg->woo_consumer_secret, err);
}

int
kc_woo_init_key(struct kc_woo *w, const struct kc_config *cfg, const char *ck,
    const char *cs, struct kc_error *err)
{
	memset(w, 0, sizeof(*w));
	if (cfg->woo_url == NULL || ck == NULL || cs == NULL) {
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
	w->consumer_key = kc_strdup(ck);
	w->consumer_secret = kc_strdup(cs);
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

int
woo_authorize(void *ctx, const char *method, const char *url, struct kc_buf *out,
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
int
woo_answer_error(struct kc_woo *w, const char *method, const char *url,
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

int
woo_products_push(struct kc_woo_products *p, const struct kc_woo_product *item)
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
		if (woo_products_push(out, &p) != 0) {
			free(p.sku);
			kc_error_set(err, "out of memory");
			json_decref(root);
			return -1;
		}
	}
	json_decref(root);
	return 0;
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
	req.authorize = woo_authorize;
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
		reqs[k].authorize = woo_authorize;
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
