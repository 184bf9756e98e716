/*
 * woo_lookup.c - finding shop products by SKU: ?sku= lookups of up to 100 SKUs,
 * side by side through a pool of woo_parallel_requests connections, and
 * only the products whose SKU is the one asked for (SPEC 4.6).
 */
#include "woo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "sku.h"
#include "woo_client.h"

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
		woo_answer_error(w, "GET", url, resp, err);
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
			if (woo_products_push(out, &got.items[i]) != 0) {
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
		req.authorize = woo_authorize;
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
		reqs[k].authorize = woo_authorize;
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
