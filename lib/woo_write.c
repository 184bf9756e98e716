/*
 * woo_write.c - setting stock: one batch request per parent (at most 100 items),
 * side by side through the pool, and each item's outcome read from the
 * answer; a lone write from the SKU map as one product request.
 */
#include "woo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sku.h"
#include "woo_client.h"

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
		if (wr->expect_sku != NULL) {
			/*
			 * Written from the map: a missing product answers an error
			 * (nothing saved); one that carries another SKU now was
			 * saved all the same - WooCommerce has no conditional write.
			 */
			const char *sku = json_string_value(json_object_get(item, "sku"));

			if (json_object_get(item, "error") != NULL ||
			    sku == NULL || !kc_sku_equal(sku, wr->expect_sku)) {
				wr->stale = 1;
				wr->stale_written = json_object_get(item, "error") == NULL;
				snprintf(wr->error, sizeof(wr->error),
				    "product %lld no longer has this SKU%s%.150s", wr->id,
				    sku ? "; it now has " : "", sku ? sku : "");
				continue;
			}
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
	req->authorize = woo_authorize;
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
		woo_answer_error(w, "POST", url, resp, err);
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

/*
 * One write from the SKU map alone: POST /products/{id} (the route takes
 * POST like PUT) costs the shop less than a batch of one, and answers the
 * product, or an error for an id that is gone or is a variation's (nothing
 * saved then) - read like a batch item.
 */
static int
write_single(struct kc_woo *w, struct kc_woo_write *wr, struct kc_error *err)
{
	struct kc_http_request req;
	struct kc_http_response resp;
	char *url = NULL, *text;
	json_t *body = json_pack("{s:b,s:I}", "manage_stock", 1, "stock_quantity",
	    (json_int_t)wr->qty), *ans, *root;
	int rc = -1;

	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL || asprintf(&url, "%s/products/%lld", w->api, wr->id) < 0) {
		free(text);
		mark_all(&wr, 1, "out of memory");
		kc_error_set(err, "out of memory");
		return -1;
	}
	group_http_request(w, url, text, &req);
	kc_http_response_init(&resp);
	if (kc_http_perform(&w->http, &req, &resp, err) != 0) {
		mark_all(&wr, 1, err->msg);
		goto out;
	}
	ans = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
	if (resp.status == 200 && json_is_object(ans)) {
		root = json_pack("{s:[O]}", "update", ans);
	} else if ((resp.status == 400 || resp.status == 404) && json_is_object(ans) &&
	    json_is_string(json_object_get(ans, "code"))) {
		root = json_pack("{s:[{s:I,s:O}]}", "update", "id", (json_int_t)wr->id,
		    "error", ans);
	} else {
		json_decref(ans);
		woo_answer_error(w, "POST", url, &resp, err);
		mark_all(&wr, 1, err->msg);
		goto out;
	}
	json_decref(ans);
	if (root == NULL) {
		mark_all(&wr, 1, "out of memory");
		kc_error_set(err, "out of memory");
		goto out;
	}
	read_batch_answer(root, &wr, 1);
	json_decref(root);
	rc = 0;
out:
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
		writes[k].stale = writes[k].stale_written = 0;
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
	} else if (n == 1 && writes[0].expect_sku != NULL && !writes[0].is_variation) {
		failed = write_single(w, &writes[0], err) != 0;
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
