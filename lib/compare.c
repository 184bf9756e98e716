/*
 * compare.c - see compare.h.
 *
 * The shop is read first (products, then variations, as a full sync scan
 * reads them), then KeyCRM's stock list page by page; every page read is
 * committed with the cursor, so the next call needs none of it again.
 * Only stock the shop manages per product counts: what a sync would send.
 */
#include "compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "html.h"
#include "keycrm.h"
#include "runlock.h"
#include "sku.h"
#include "store.h"
#include "woo.h"

#define ROWS_MAX 100000		/* rows in one JSON answer */

enum listing { L_PRODUCTS, L_VARIATIONS, L_PARENTS, L_KEYCRM, L_DONE };
static const char *const listing_names[] = { "products", "variations", "parents",
    "keycrm", "done" };

struct cmp {
	const struct kc_config *cfg;
	const struct kc_compare_options *opts;
	struct kc_compare_result *res;
	struct kc_store st;
	struct kc_woo woo;
	struct kc_keycrm crm;
	int woo_ready, crm_ready;
	int64_t deadline;
	enum listing at;
	long page;
	long long parent;
	int stop;
};

void
kc_compare_result_init(struct kc_compare_result *r)
{
	memset(r, 0, sizeof(*r));
	r->errors = json_array();
}

void
kc_compare_result_free(struct kc_compare_result *r)
{
	json_decref(r->errors);
	memset(r, 0, sizeof(*r));
}

static void
add_error(struct cmp *c, const char *msg)
{
	if (json_array_size(c->res->errors) < 20)
		json_array_append_new(c->res->errors, json_string(msg));
	c->stop = 1;
}

static int
out_of_time(struct cmp *c)
{
	if (kc_monotonic_ms() < c->deadline - 1000 && !kc_apply_stop)
		return 0;
	c->stop = 1;
	return 1;
}

static void
progress(struct cmp *c, const char *phase, long done, long total)
{
	kc_strlcpy(c->res->phase, phase, sizeof(c->res->phase));
	c->res->page = done;
	c->res->pages = total;
	if (c->opts->progress != NULL)
		c->opts->progress(c->opts->progress_ctx, phase, done, total);
}

static int
save_cursor(struct cmp *c, struct kc_error *err)
{
	char buf[96];

	snprintf(buf, sizeof(buf), "%s %ld %lld", listing_names[c->at], c->page, c->parent);
	return kc_store_kv_set(&c->st, "compare.cursor", buf, err);
}

/* 1 when a comparison was under way, 0 to start afresh. */
static int
load_cursor(struct cmp *c)
{
	char buf[96], name[16];

	if (kc_store_kv_get(&c->st, "compare.cursor", buf, sizeof(buf)) != 0 ||
	    sscanf(buf, "%15s %ld %lld", name, &c->page, &c->parent) != 3 || c->page < 1)
		return 0;
	for (int i = L_PRODUCTS; i <= L_DONE; i++)
		if (strcmp(name, listing_names[i]) == 0) {
			c->at = (enum listing)i;
			return 1;
		}
	return 0;
}

/* Whether the shop item has a quantity of its own that a sync would send. */
static int
countable(struct cmp *c, const struct kc_woo_product *p)
{
	if (p->sku[0] == '\0' || strcmp(p->type, "variable") == 0 ||
	    strcmp(p->type, "grouped") == 0 || strcmp(p->type, "external") == 0 ||
	    p->manage != KC_WOO_MANAGE_YES || !p->has_qty)
		return 0;
	/* A variation without a SKU of its own shows its parent's. */
	if (p->parent_id > 0 && kc_store_compare_parent_has_sku(&c->st, p->parent_id, p->sku))
		return 0;
	return 1;
}

static int
keep_page(struct cmp *c, const struct kc_woo_products *page, struct kc_error *err)
{
	for (size_t i = 0; i < page->count; i++) {
		const struct kc_woo_product *p = &page->items[i];
		char *key;
		int rc = 0;

		c->res->shop_items++;
		if (strcmp(p->type, "variable") == 0 &&
		    kc_store_compare_parent_add(&c->st, p->id, p->sku, err) != 0)
			return -1;
		if (!countable(c, p)) {
			c->res->skipped++;
			continue;
		}
		if ((key = kc_sku_key(p->sku)) == NULL) {
			kc_error_set(err, "out of memory");
			return -1;
		}
		rc = kc_store_compare_shop_add(&c->st, key, p->sku, p->qty, p->id,
		    p->parent_id, p->name[0] ? p->name : NULL, err);
		free(key);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/*
 * Reads one shop listing from the cursor on, a few pages at once.
 * Returns 0 when it was read to the end, 1 when the shop has no such
 * route, -1 when stopped (out of time or an error).
 */
static int
read_listing(struct cmp *c, enum kc_woo_listing what, long long parent)
{
	struct kc_woo_products pages[KC_WOO_PARALLEL_MAX];
	struct kc_error err = { { 0 } };
	long total = -1, count, k;

	for (;;) {
		int rc;

		if (out_of_time(c))
			return -1;
		count = total > 0 ? total - c->page + 1 : 1;
		if (count > c->woo.parallel)
			count = c->woo.parallel;
		if (count < 1)
			count = 1;
		memset(pages, 0, sizeof(pages));
		rc = kc_woo_list_pages(&c->woo, what, parent, NULL, c->page, count, pages,
		    &total, &err);
		if (rc != 0) {
			for (k = 0; k < count; k++)
				kc_woo_products_free(&pages[k]);
			if (c->woo.no_route && what == KC_WOO_LIST_VARIATIONS)
				return 1;
			add_error(c, err.msg);
			return -1;
		}
		for (k = 0; k < count; k++) {
			if (rc == 0 && kc_store_begin(&c->st, &err) == 0) {
				if (keep_page(c, &pages[k], &err) != 0) {
					kc_store_rollback(&c->st);
					rc = -1;
				} else {
					c->page++;
					if (save_cursor(c, &err) != 0 ||
					    kc_store_commit(&c->st, &err) != 0)
						rc = -1;
				}
			} else if (rc == 0) {
				rc = -1;
			}
			kc_woo_products_free(&pages[k]);
			if (rc != 0)
				continue;
			progress(c, "shop", c->page - 1, total);
			if (total < 0 || c->page > total) {
				for (k++; k < count; k++)
					kc_woo_products_free(&pages[k]);
				return 0;
			}
		}
		if (rc != 0) {
			add_error(c, err.msg);
			return -1;
		}
	}
}

static void
next(struct cmp *c, enum listing at)
{
	struct kc_error err = { { 0 } };

	c->at = at;
	c->page = 1;
	c->parent = 0;
	if (save_cursor(c, &err) != 0)
		add_error(c, err.msg);
}

static int
read_shop(struct cmp *c)
{
	int rc;

	if (c->at == L_PRODUCTS) {
		if (read_listing(c, KC_WOO_LIST_PRODUCTS, 0) != 0)
			return -1;
		next(c, L_VARIATIONS);
	}
	if (c->at == L_VARIATIONS) {
		rc = read_listing(c, KC_WOO_LIST_VARIATIONS, 0);
		if (rc < 0)
			return -1;
		/* No analytics route: each variable product's own list. */
		next(c, rc > 0 ? L_PARENTS : L_KEYCRM);
	}
	if (c->at == L_PARENTS) {
		if (c->parent == 0)
			c->parent = kc_store_compare_parent_next(&c->st, 0);
		while (c->parent > 0) {
			if (read_listing(c, KC_WOO_LIST_PARENT_VARIATIONS, c->parent) != 0)
				return -1;
			c->parent = kc_store_compare_parent_next(&c->st, c->parent);
			c->page = 1;
		}
		next(c, L_KEYCRM);
	}
	return c->stop ? -1 : 0;
}

/* What KeyCRM makes available to the shop (SPEC 4.1, before flooring). */
static double
available(const struct kc_config *cfg, const struct kc_keycrm_offer *o)
{
	return cfg->subtract_reserve ? o->quantity - o->reserve : o->quantity;
}

static int
keep_offers(struct cmp *c, const struct kc_keycrm_offer *offers, size_t n,
    struct kc_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char *key;
		int rc;

		c->res->keycrm_offers++;
		if (offers[i].sku == NULL || offers[i].sku[0] == '\0')
			continue;
		if ((key = kc_sku_key(offers[i].sku)) == NULL) {
			kc_error_set(err, "out of memory");
			return -1;
		}
		rc = kc_store_compare_keycrm_add(&c->st, key, offers[i].sku,
		    available(c->cfg, &offers[i]), err);
		free(key);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static int
read_keycrm(struct cmp *c, struct kc_error *err)
{
	long last = 1;

	if (kc_keycrm_init(&c->crm, c->cfg, &c->st, err) != 0)
		return -1;
	c->crm_ready = 1;
	c->crm.http.deadline_ms = c->deadline;
	for (;;) {
		struct kc_keycrm_offer *offers = NULL;
		struct kc_error e = { { 0 } };
		size_t n = 0;
		int rc;

		if (out_of_time(c))
			return 0;
		if (kc_keycrm_get_stocks(&c->crm, c->page, c->cfg->keycrm_warehouse_id,
		    &offers, &n, &last, &e) != 0) {
			/* Waiting for the request limit would pass the deadline. */
			if (c->crm.paced_out)
				c->stop = 1;
			else
				add_error(c, e.msg);
			return 0;
		}
		rc = kc_store_begin(&c->st, &e);
		if (rc == 0 && keep_offers(c, offers, n, &e) != 0) {
			kc_store_rollback(&c->st);
			rc = -1;
		} else if (rc == 0) {
			c->page++;
			if (c->page > last)
				c->at = L_DONE;
			if (save_cursor(c, &e) != 0 || kc_store_commit(&c->st, &e) != 0)
				rc = -1;
		}
		kc_keycrm_offers_free(offers, n);
		if (rc != 0) {
			add_error(c, e.msg);
			return 0;
		}
		progress(c, "keycrm", c->page - 1, last);
		if (c->at == L_DONE)
			return 0;
	}
}

static int
begin(struct cmp *c, struct kc_error *err)
{
	int resume = load_cursor(c) && c->at != L_DONE;

	if (!resume) {
		c->at = L_PRODUCTS;
		c->page = 1;
		c->parent = 0;
	}
	if (kc_store_compare_prepare(&c->st, !resume, err) != 0 || save_cursor(c, err) != 0)
		return -1;
	if (kc_woo_init(&c->woo, c->cfg, err) != 0)
		return -1;
	c->woo_ready = 1;
	c->woo.http.deadline_ms = c->deadline;
	return 0;
}

/* A complete comparison's counts, for the settings page. */
static void
record(struct cmp *c)
{
	struct kc_error err = { { 0 } };
	json_t *o;
	char *text;

	if (kc_store_compare_rows(&c->st, NULL, NULL, c->res->counts, &err) != 0 ||
	    kc_store_compare_problems(&c->st, kc_now(), &err) != 0) {
		add_error(c, err.msg);
		return;
	}
	o = json_pack("{s:f,s:I,s:I,s:I,s:I}", "finished_at", kc_now(),
	    "equal", (json_int_t)c->res->counts[KC_CMP_EQUAL],
	    "different", (json_int_t)c->res->counts[KC_CMP_DIFFERENT],
	    "shop_only", (json_int_t)c->res->counts[KC_CMP_SHOP_ONLY],
	    "keycrm_only", (json_int_t)c->res->counts[KC_CMP_KEYCRM_ONLY]);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (text == NULL || kc_store_kv_set(&c->st, "compare.summary", text, &err) != 0 ||
	    kc_store_kv_set(&c->st, "compare.cursor", NULL, &err) != 0)
		add_error(c, text ? err.msg : "out of memory");
	free(text);
	json_decref(o);
}

int
kc_compare_run(const struct kc_config *cfg, const struct kc_compare_options *opts,
    struct kc_compare_result *res, struct kc_error *err)
{
	struct cmp c;
	double started = kc_now();
	struct kc_runlock *lock;
	int rc;

	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	c.opts = opts;
	c.res = res;
	c.deadline = kc_monotonic_ms() + cfg->sync_max_seconds * 1000;
	if (kc_store_open_config(&c.st, cfg, err) != 0)
		return -1;
	rc = kc_runlock_take(cfg, "compare", 0, &lock, err);
	if (rc != 0) {
		kc_store_close(&c.st);
		res->busy = rc > 0;
		return rc;
	}
	rc = begin(&c, err);
	if (rc == 0 && c.at < L_KEYCRM)
		read_shop(&c);
	if (rc == 0 && c.at == L_KEYCRM && !c.stop && read_keycrm(&c, err) != 0)
		rc = -1;
	res->complete = rc == 0 && c.at == L_DONE && json_array_size(res->errors) == 0;
	if (res->complete)
		record(&c);
	kc_strlcpy(res->phase, c.at == L_DONE ? "done" : c.at == L_KEYCRM ? "keycrm" : "shop",
	    sizeof(res->phase));
	if (c.woo_ready) {
		res->shop_requests = c.woo.http.requests;
		kc_woo_cleanup(&c.woo);
	}
	if (c.crm_ready) {
		res->keycrm_requests = c.crm.http.requests;
		kc_keycrm_cleanup(&c.crm);
	}
	res->seconds = kc_now() - started;
	kc_runlock_release(lock);
	kc_store_close(&c.st);
	if (rc != 0)
		return -1;
	if (json_array_size(res->errors) > 0)
		kc_log(KC_LOG_ERROR, "compare: failed: %s (%lu shop and %lu KeyCRM requests in %.2f s)",
		    json_string_value(json_array_get(res->errors, 0)), res->shop_requests,
		    res->keycrm_requests, res->seconds);
	else
		kc_log(KC_LOG_INFO, "compare: %s; %ld shop items and %ld KeyCRM offers read,"
		    " %lu shop and %lu KeyCRM requests in %.2f s", res->complete ?
		    "complete" : "stopped by sync_max_seconds, the next call resumes",
		    res->shop_items, res->keycrm_offers, res->shop_requests,
		    res->keycrm_requests, res->seconds);
	return 0;
}

static const char *const kind_names[KC_CMP__MAX] = {
	[KC_CMP_EQUAL] = "equal", [KC_CMP_DIFFERENT] = "different",
	[KC_CMP_SHOP_ONLY] = "only_in_shop", [KC_CMP_KEYCRM_ONLY] = "only_in_keycrm",
};

static int
row_json(void *ctx, const struct kc_compare_row *row)
{
	json_t *rows = ctx, *o;

	if (json_array_size(rows) >= ROWS_MAX)
		return 1;
	o = json_pack("{s:s,s:s}", "sku", row->sku, "status", kind_names[row->kind]);
	if (o == NULL)
		return 1;
	json_object_set_new(o, "shop", row->has_shop ? json_integer(row->shop) : json_null());
	json_object_set_new(o, "keycrm", row->has_keycrm ? json_real(row->keycrm) : json_null());
	json_object_set_new(o, "difference", row->has_shop && row->has_keycrm ?
	    json_real(row->difference) : json_null());
	json_array_append_new(rows, o);
	return 0;
}

json_t *
kc_compare_result_json(const struct kc_compare_result *r, struct kc_store *st,
    int rows)
{
	json_t *o = json_pack("{s:s,s:b,s:{s:s,s:I,s:I},s:I,s:I,s:I,s:I,s:I,s:f,s:O}",
	    "status", json_array_size(r->errors) ? "error" : "ok",
	    "complete", r->complete,
	    "progress", "phase", r->phase, "page", (json_int_t)r->page,
	    "pages", (json_int_t)r->pages,
	    "shop_items", (json_int_t)r->shop_items,
	    "keycrm_offers", (json_int_t)r->keycrm_offers,
	    "skipped", (json_int_t)r->skipped,
	    "shop_requests", (json_int_t)r->shop_requests,
	    "keycrm_requests", (json_int_t)r->keycrm_requests,
	    "seconds", round(r->seconds * 1000) / 1000, "errors", r->errors);
	json_t *list;
	struct kc_error err = { { 0 } };

	if (o == NULL || !r->complete)
		return o;
	json_object_set_new(o, "counts", json_pack("{s:I,s:I,s:I,s:I}",
	    "equal", (json_int_t)r->counts[KC_CMP_EQUAL],
	    "different", (json_int_t)r->counts[KC_CMP_DIFFERENT],
	    "only_in_shop", (json_int_t)r->counts[KC_CMP_SHOP_ONLY],
	    "only_in_keycrm", (json_int_t)r->counts[KC_CMP_KEYCRM_ONLY]));
	if (rows && st != NULL && (list = json_array()) != NULL) {
		if (kc_store_compare_rows(st, row_json, list, NULL, &err) != 0)
			json_array_append_new(json_object_get(o, "errors"), json_string(err.msg));
		json_object_set_new(o, "rows", list);
	}
	return o;
}


static void
csv_number(struct kc_buf *out, int has, double v)
{
	if (has)
		kc_buf_addf(out, ",%.15g", v);
	else
		kc_buf_adds(out, ",");
}

static int
row_csv(void *ctx, const struct kc_compare_row *row)
{
	struct kc_buf *out = ctx;

	kc_csv_field(out, row->sku);
	kc_buf_addf(out, ",%s", kind_names[row->kind]);
	csv_number(out, row->has_shop, (double)row->shop);
	csv_number(out, row->has_keycrm, row->keycrm);
	csv_number(out, row->has_shop && row->has_keycrm, row->difference);
	if (row->product_id > 0)
		kc_buf_addf(out, ",%lld,%lld", row->product_id, row->parent_id);
	else
		kc_buf_adds(out, ",,");
	kc_buf_adds(out, "\r\n");
	return 0;
}

int
kc_compare_csv(struct kc_store *st, struct kc_buf *out, struct kc_error *err)
{
	kc_buf_adds(out, "sku,status,shop,keycrm_available,difference,shop_product_id,shop_parent_id\r\n");
	return kc_store_compare_rows(st, row_csv, out, NULL, err);
}
