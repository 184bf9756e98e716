/*
 * keycrm_put.c - PUT /offers/stocks (SPEC 3, step 4): as few requests as the
 * 10,000-item limit allows, paced by the shared window; on a 422 the items
 * its body names are dropped as unknown to KeyCRM, or, if it names none,
 * the batch is split to find them.
 */
#include "keycrm.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "keycrm_client.h"

/* "stocks.N" or "stocks.N.field" -> N; -1 for anything else. */
static int
stocks_index(const char *key, size_t *out)
{
	const char *p;
	size_t n = 0;

	if (strncmp(key, "stocks.", 7) != 0)
		return -1;
	p = key + 7;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		size_t d = (size_t)(*p - '0');

		if (n > (SIZE_MAX - d) / 10)
			return -1;	/* no item of ours has such an index */
		n = n * 10 + d;
	}
	if (*p != '\0' && *p != '.')
		return -1;
	*out = n;
	return 0;
}

size_t
kc_keycrm_422_items(const char *json, size_t len, size_t *idx, size_t max)
{
	json_t *root, *errors, *v;
	const char *key;
	size_t count = 0;

	if (json == NULL || idx == NULL || max == 0)
		return 0;
	root = json_loadb(json, len, 0, NULL);
	errors = json_is_object(root) ? json_object_get(root, "errors") : NULL;
	if (!json_is_object(errors)) {
		json_decref(root);
		return 0;
	}
	json_object_foreach(errors, key, v) {
		size_t n, at;

		if (stocks_index(key, &n) != 0)
			continue;
		/* Sorted and unique; when full, the smallest are kept. */
		for (at = 0; at < count && idx[at] < n; at++)
			;
		if (at < count && idx[at] == n)
			continue;
		if (at == max)
			continue;
		if (count == max)
			count--;
		memmove(idx + at + 1, idx + at, (count - at) * sizeof(*idx));
		idx[at] = n;
		count++;
	}
	json_decref(root);
	return count;
}

/*
 * A 422 about warehouse_id is no item's fault: nothing will ever go
 * through until the configuration changes.  Copies the reason.
 */
static int
warehouse_refused(const struct kc_http_response *resp, char *out, size_t outsz)
{
	json_t *root = json_loadb(resp->body.data ? resp->body.data : "",
	    resp->body.len, 0, NULL);
	json_t *errors = json_is_object(root) ? json_object_get(root, "errors") : NULL;
	json_t *v = json_is_object(errors) ? json_object_get(errors, "warehouse_id") : NULL;
	const char *msg;
	int found = v != NULL;

	if (found) {
		msg = json_string_value(json_is_array(v) ? json_array_get(v, 0) : v);
		keycrm_clean_text(msg ? msg : "no reason given", out, outsz);
	}
	json_decref(root);
	return found;
}

struct put {
	struct kc_keycrm *k;
	long warehouse_id;
	struct kc_keycrm_stock *items;
	unsigned char *settled;		/* accepted or unknown */
	size_t *named;			/* scratch for kc_keycrm_422_items */
};

/* Whole numbers go as integers: "5", not "5.0". */
static json_t *
quantity_json(double q)
{
	if (q == floor(q) && fabs(q) < 9007199254740992.0)
		return json_integer((json_int_t)q);
	return json_real(q);
}

static char *
put_body(const struct put *p, const size_t *set, size_t n)
{
	json_t *stocks = json_array(), *root;
	char *text;

	root = json_pack("{s:I,s:o}", "warehouse_id", (json_int_t)p->warehouse_id,
	    "stocks", stocks);
	if (root == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct kc_keycrm_stock *s = &p->items[set[i]];

		if (json_array_append_new(stocks, json_pack("{s:s,s:o}", "sku",
		    s->sku, "quantity", quantity_json(s->quantity))) != 0) {
			json_decref(root);
			return NULL;
		}
	}
	/* 15 digits: float noise such as 0.30000000000000004 stays home. */
	text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(root);
	return text;
}

static void
settle(struct put *p, const size_t *set, size_t n, int unknown)
{
	for (size_t i = 0; i < n; i++) {
		p->settled[set[i]] = 1;
		if (unknown)
			p->items[set[i]].unknown = 1;
	}
}

/*
 * Sends the items set names (indexes into p->items, ascending) until each
 * is accepted or refused by name.  Items KeyCRM names are dropped and the
 * rest sent again; a 422 that names none is split in halves, left half
 * first, so that what is settled always grows from the front.
 */
static int
put_set(struct put *p, size_t *set, size_t n, struct kc_error *err)
{
	struct kc_keycrm *k = p->k;

	while (n > 0) {
		struct kc_http_response resp;
		char *url = NULL, *body = NULL, why[MSG_MAX + 8];
		size_t m, kept;

		body = put_body(p, set, n);
		if (body == NULL || asprintf(&url, "%s/offers/stocks", k->base) < 0) {
			free(body);
			kc_error_set(err, "out of memory");
			return -1;
		}
		kc_http_response_init(&resp);
		if (keycrm_perform(k, "PUT", url, body, &resp, err) != 0) {
			kc_http_response_free(&resp);
			free(url);
			free(body);
			return -1;
		}
		free(url);
		free(body);
		if (resp.status >= 200 && resp.status < 300) {
			json_t *root = json_loadb(resp.body.data ? resp.body.data : "",
			    resp.body.len, 0, NULL);
			int refused = json_is_object(root) &&
			    json_is_false(json_object_get(root, "status"));
			/*
			 * A proxy's or maintenance page's 200 is no acceptance: only
			 * KeyCRM's JSON is, or the values would be taken as agreed.
			 */
			int not_keycrm = !json_is_object(root);
			long status = resp.status;

			json_decref(root);
			kc_http_response_free(&resp);
			if (refused || not_keycrm) {
				kc_error_set(err, refused ?
				    "KeyCRM PUT /offers/stocks: HTTP %ld but the answer says \"status\": false" :
				    "KeyCRM PUT /offers/stocks: HTTP %ld but the answer is not KeyCRM's JSON (is keycrm_api_url right?); nothing is taken as sent",
				    status);
				return -1;
			}
			settle(p, set, n, 0);
			return 0;
		}
		if (resp.status != 422) {
			keycrm_answer_error(k, "PUT", "/offers/stocks", &resp, err);
			kc_http_response_free(&resp);
			return -1;
		}
		if (warehouse_refused(&resp, why, sizeof(why))) {
			kc_error_set(err, "KeyCRM refused warehouse_id %ld: %s",
			    p->warehouse_id, why);
			kc_http_response_free(&resp);
			return -1;
		}
		m = kc_keycrm_422_items(resp.body.data, resp.body.len, p->named, n);
		kc_http_response_free(&resp);
		/* Indexes are positions in what we sent; others mean nothing. */
		while (m > 0 && p->named[m - 1] >= n)
			m--;
		if (m == 0) {
			size_t half = n / 2;

			if (n == 1) {
				settle(p, set, 1, 1);
				return 0;
			}
			kc_log(KC_LOG_DEBUG, "KeyCRM refused %zu items without naming any; splitting them",
			    n);
			if (put_set(p, set, half, err) != 0)
				return -1;
			set += half;
			n -= half;
			continue;
		}
		kept = 0;
		for (size_t i = 0, j = 0; i < n; i++) {
			if (j < m && p->named[j] == i) {
				settle(p, set + i, 1, 1);
				j++;
			} else {
				set[kept++] = set[i];
			}
		}
		kc_log(KC_LOG_DEBUG, "KeyCRM refused %zu items by name; sending the other %zu",
		    m, kept);
		n = kept;
	}
	return 0;
}

/* What cannot be put in a request KeyCRM would refuse by name anyway. */
static int
sendable(const struct kc_keycrm_stock *s)
{
	json_t *v;

	if (s->sku == NULL || *s->sku == '\0' || !isfinite(s->quantity) ||
	    fabs(s->quantity) > QTY_MAX)
		return 0;
	/* jansson takes UTF-8 only. */
	v = json_string(s->sku);
	json_decref(v);
	return v != NULL;
}

int
kc_keycrm_put_stocks(struct kc_keycrm *k, long warehouse_id,
    struct kc_keycrm_stock *items, size_t n, size_t *sent,
    struct kc_error *err)
{
	struct put p;
	size_t *set, start = 0;
	int rc = 0;

	*sent = 0;
	for (size_t i = 0; i < n; i++)
		items[i].unknown = 0;
	if (n == 0)
		return 0;
	if (warehouse_id <= 0) {
		kc_error_set(err, "the KeyCRM warehouse is not set (keycrm_warehouse_id)");
		return -1;
	}
	memset(&p, 0, sizeof(p));
	p.k = k;
	p.warehouse_id = warehouse_id;
	p.items = items;
	p.settled = calloc(n, 1);
	set = calloc(n < KC_KEYCRM_PUT_MAX ? n : KC_KEYCRM_PUT_MAX, sizeof(*set));
	p.named = calloc(n < KC_KEYCRM_PUT_MAX ? n : KC_KEYCRM_PUT_MAX, sizeof(*set));
	if (p.settled == NULL || set == NULL || p.named == NULL) {
		free(p.settled);
		free(set);
		free(p.named);
		kc_error_set(err, "out of memory");
		return -1;
	}
	while (start < n && rc == 0) {
		size_t end = n - start > KC_KEYCRM_PUT_MAX ? start + KC_KEYCRM_PUT_MAX : n;
		size_t m = 0;

		for (size_t i = start; i < end; i++) {
			if (sendable(&items[i])) {
				set[m++] = i;
			} else {
				items[i].unknown = 1;
				p.settled[i] = 1;
			}
		}
		rc = put_set(&p, set, m, err);
		start = end;
	}
	while (*sent < n && p.settled[*sent])
		(*sent)++;
	/* Past *sent nothing counts as done, refusals included. */
	for (size_t i = *sent; i < n; i++)
		items[i].unknown = 0;
	free(p.settled);
	free(set);
	free(p.named);
	return rc;
}
