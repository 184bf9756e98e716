/*
 * apply.c - see apply.h.
 */
#include "apply.h"
#include "apply_known.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"
#include "sku.h"
#include "stock.h"
#include "woo.h"

#define ROUND_ROWS 500
#define LIST_CAP 1000

volatile int kc_apply_stop;

void
kc_apply_result_init(struct kc_apply_result *r)
{
	memset(r, 0, sizeof(*r));
	r->unmatched_skus = json_array();
	r->skipped_items = json_array();
	r->duplicate_skus = json_array();
	r->failed_items = json_array();
}

void
kc_apply_result_free(struct kc_apply_result *r)
{
	json_decref(r->unmatched_skus);
	json_decref(r->skipped_items);
	json_decref(r->duplicate_skus);
	json_decref(r->failed_items);
	memset(r, 0, sizeof(*r));
}

static void
list_add(json_t *list, json_t *item)
{
	if (item == NULL)
		return;
	if (json_array_size(list) < LIST_CAP)
		json_array_append(list, item);
	json_decref(item);
}

static json_t *
sku_reason(const char *sku, const char *reason)
{
	return json_pack("{s:s,s:s}", "sku", sku, "reason", reason);
}

/* What one inbox row comes to after its round. */
struct row_plan {
	long long target;
	size_t first_write, nwrites;	/* its slice of the writes array */
	size_t matches;
	int skipped;			/* matches that cannot take it */
	int superseded;			/* matches a newer report of the round sets */
	const char *skip_reason;
	int written;			/* writes that went through */
};

static int
settle_row(struct kc_store *st, const struct kc_inbox_row *row,
    struct row_plan *plan, struct kc_woo_write *writes,
    const struct kc_woo_products *found, int64_t run_id,
    struct kc_apply_result *res, struct kc_error *err)
{
	const char *sku = row->report.sku;
	double now = kc_now();
	const char *fail = NULL;

	/* Refresh what the map knows of this SKU from the fresh lookup. */
	if (kc_store_map_clear(st, sku, err) != 0)
		return -1;
	for (size_t i = 0; i < found->count; i++) {
		const struct kc_woo_product *p = &found->items[i];
		static const char *manage[] = { "no", "yes", "parent" };
		if (!kc_sku_equal(p->sku, sku))
			continue;
		if (kc_store_map_add(st, sku, p->id, p->parent_id, p->type,
		    manage[p->manage], p->qty, p->has_qty, now, err) != 0)
			return -1;
	}

	if (plan->matches == 0) {
		res->unmatched++;
		list_add(res->unmatched_skus, json_string(sku));
		if (kc_store_problem(st, sku, KC_PROBLEM_UNMATCHED,
		    "no product in the shop has this SKU", now, err) != 0)
			return -1;
		return kc_store_inbox_done(st, sku, row->seq, err);
	}
	if (kc_store_problem(st, sku, KC_PROBLEM_UNMATCHED, NULL, now, err) != 0)
		return -1;
	if (plan->matches > 1) {
		char detail[64];
		snprintf(detail, sizeof(detail), "%zu products have this SKU", plan->matches);
		list_add(res->duplicate_skus, json_string(sku));
		if (kc_store_problem(st, sku, KC_PROBLEM_DUPLICATE, detail, now, err) != 0)
			return -1;
	} else if (kc_store_problem(st, sku, KC_PROBLEM_DUPLICATE, NULL, now, err) != 0) {
		return -1;
	}
	for (size_t i = plan->first_write; i < plan->first_write + plan->nwrites; i++) {
		if (writes[i].done)
			plan->written++;
		else if (fail == NULL)
			fail = writes[i].error[0] ? writes[i].error : "not written";
	}
	if (plan->skipped > 0) {
		list_add(res->skipped_items, sku_reason(sku, plan->skip_reason));
		if (kc_store_problem(st, sku, KC_PROBLEM_SKIPPED, plan->skip_reason,
		    now, err) != 0)
			return -1;
	} else if (kc_store_problem(st, sku, KC_PROBLEM_SKIPPED, NULL, now, err) != 0) {
		return -1;
	}
	if (fail != NULL) {
		res->failed++;
		list_add(res->failed_items, sku_reason(sku, fail));
		if (kc_store_problem(st, sku, KC_PROBLEM_FAILED, fail, now, err) != 0)
			return -1;
		return kc_store_inbox_retry(st, sku, row->seq, run_id, fail, err);
	}
	if (kc_store_problem(st, sku, KC_PROBLEM_FAILED, NULL, now, err) != 0)
		return -1;
	if ((size_t)plan->superseded == plan->matches)
		return kc_store_inbox_done(st, sku, row->seq, err);	/* a newer one set it */
	if ((size_t)(plan->skipped + plan->superseded) == plan->matches) {
		res->skipped++;
		return kc_store_inbox_done(st, sku, row->seq, err);
	}
	if (plan->written > 0)
		res->applied++;
	else
		res->unchanged++;
	if (kc_store_ledger_agree(st, sku, plan->target, now, err) != 0)
		return -1;
	return kc_store_inbox_done(st, sku, row->seq, err);
}

/*
 * Marks every row of a round as tried and failed for the same reason, and
 * lists them like any other failure: the answer and the log tell one story.
 */
int
kc_apply_retry_all(struct kc_store *st, struct kc_inbox_row *rows, size_t n,
    int64_t run_id, const char *why, struct kc_apply_result *res,
    struct kc_error *err)
{
	if (kc_store_begin(st, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (kc_store_inbox_retry(st, rows[i].report.sku, rows[i].seq,
		    run_id, why, err) != 0) {
			kc_store_rollback(st);
			return -1;
		}
		res->failed++;
		list_add(res->failed_items, sku_reason(rows[i].report.sku, why));
	}
	return kc_store_commit(st, err);
}

/*
 * Whether another row of the round, newer than row i, also names sku.
 * Rows of one webhook share a seq; then the later row counts as newer.
 */
static int
newer_report_for(const struct kc_inbox_row *rows, size_t n, size_t i,
    const char *sku)
{
	for (size_t j = 0; j < n; j++)
		if (j != i && (rows[j].seq > rows[i].seq ||
		    (rows[j].seq == rows[i].seq && j > i)) &&
		    kc_sku_equal(rows[j].report.sku, sku))
			return 1;
	return 0;
}

/* One round: look up, decide, write, settle.  1: stop the run. */
static int
apply_round(const struct kc_config *cfg, struct kc_store *st,
    struct kc_woo *woo, struct kc_inbox_row *rows, size_t n, int64_t run_id,
    struct kc_apply_result *res, struct kc_error *err)
{
	struct kc_woo_products found = { 0 };
	struct kc_woo_write *writes = NULL;
	struct row_plan *plans = NULL;
	char **skus = calloc(n, sizeof(*skus));
	size_t nwrites = 0, cap = 0;
	int rc = -1, shop_failed = 0;
	struct kc_error werr = { { 0 } };

	if (cfg->woo_sku_map_seconds > 0) {
		int r = kc_apply_known(cfg, st, woo, rows, &n, run_id, res, err);

		if (r != 0 || n == 0) {
			free(skus);
			return r;
		}
	}
	plans = calloc(n, sizeof(*plans));
	if (skus == NULL || plans == NULL) {
		kc_error_set(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		skus[i] = rows[i].report.sku;
	if (kc_woo_find_skus(woo, skus, n, &found, &werr) != 0) {
		kc_strlcpy(res->error, werr.msg, sizeof(res->error));
		rc = kc_apply_retry_all(st, rows, n, run_id, werr.msg, res, err) == 0 ? 1 : -1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct row_plan *plan = &plans[i];

		plan->target = kc_stock_target(rows[i].report.in_stock,
		    rows[i].report.in_reserve, cfg->subtract_reserve);
		plan->first_write = nwrites;
		for (size_t k = 0; k < found.count; k++) {
			const struct kc_woo_product *p = &found.items[k];
			const char *reason;

			if (!kc_sku_equal(p->sku, rows[i].report.sku))
				continue;
			plan->matches++;
			/*
			 * Two spellings of one SKU ("ab-1", "AB-1") reach the same
			 * product: only the newest report may write it.
			 */
			if (newer_report_for(rows, n, i, p->sku)) {
				plan->superseded++;
				continue;
			}
			switch (kc_stock_decide(p, plan->target, cfg->manage_stock, &reason)) {
			case KC_STOCK_SKIP:
				plan->skipped++;
				plan->skip_reason = reason;
				continue;
			case KC_STOCK_UNCHANGED:
				continue;
			case KC_STOCK_WRITE:
				break;
			}
			if (nwrites == cap) {
				size_t ncap = cap ? cap * 2 : 128;
				struct kc_woo_write *nw = realloc(writes, ncap * sizeof(*nw));
				if (nw == NULL) {
					kc_error_set(err, "out of memory");
					goto out;
				}
				writes = nw;
				cap = ncap;
			}
			memset(&writes[nwrites], 0, sizeof(writes[nwrites]));
			writes[nwrites].id = p->id;
			writes[nwrites].parent_id = p->parent_id;
			writes[nwrites].is_variation = strcmp(p->type, "variation") == 0;
			writes[nwrites].qty = plan->target;
			nwrites++;
		}
		plan->nwrites = nwrites - plan->first_write;
	}
	if (kc_woo_set_stock(woo, writes, nwrites, &werr) != 0) {
		kc_strlcpy(res->error, werr.msg, sizeof(res->error));
		shop_failed = 1;
	}
	kc_crash_point("after-shop-write");
	if (kc_store_begin(st, err) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (settle_row(st, &rows[i], &plans[i], writes, &found, run_id,
		    res, err) != 0) {
			kc_store_rollback(st);
			goto out;
		}
	}
	if (kc_store_commit(st, err) != 0)
		goto out;
	rc = shop_failed;
out:
	kc_woo_products_free(&found);
	free(writes);
	free(plans);
	free(skus);
	return rc;
}

int
kc_apply_inbox(const struct kc_config *cfg, struct kc_store *st,
    int64_t run_id, int64_t deadline_ms, struct kc_apply_result *res)
{
	struct kc_woo woo;
	struct kc_error err = { { 0 } };
	double start = kc_now();
	int rc = 0;

	if (kc_woo_init(&woo, cfg, &err) != 0) {
		kc_strlcpy(res->error, err.msg, sizeof(res->error));
		res->pending = kc_store_inbox_count(st);
		return -1;
	}
	woo.http.deadline_ms = deadline_ms;
	for (;;) {
		struct kc_inbox_row *rows;
		size_t n;
		int r;

		if (kc_apply_stop) {
			kc_strlcpy(res->error, "stopped by a signal", sizeof(res->error));
			break;
		}
		if (kc_monotonic_ms() >= deadline_ms - 500) {
			kc_strlcpy(res->error, "out of time (sync_max_seconds); the rest stays queued",
			    sizeof(res->error));
			break;
		}
		if (kc_store_inbox_take(st, run_id, ROUND_ROWS, &rows, &n, &err) != 0) {
			kc_strlcpy(res->error, err.msg, sizeof(res->error));
			rc = -1;
			break;
		}
		if (n == 0) {
			free(rows);
			break;
		}
		res->taken += (long)n;
		r = apply_round(cfg, st, &woo, rows, n, run_id, res, &err);
		kc_store_inbox_rows_free(rows, n);
		kc_crash_point("after-apply-round");
		if (r < 0) {
			kc_strlcpy(res->error, err.msg, sizeof(res->error));
			rc = -1;
			break;
		}
		if (r > 0)
			break;	/* the shop failed: leave the rest for later */
	}
	res->shop_requests += woo.http.requests;
	kc_woo_cleanup(&woo);
	res->pending = kc_store_inbox_count(st);
	res->seconds += kc_now() - start;
	return rc;
}

static void
record(struct kc_store *st, const struct kc_apply_result *res, double started)
{
	struct kc_history h = { 0 };
	struct kc_error err;

	h.kind = "apply";
	h.started_at = started;
	h.finished_at = kc_now();
	h.received = res->taken;
	h.applied = res->applied;
	h.unchanged = res->unchanged;
	h.unmatched = res->unmatched;
	h.skipped = res->skipped;
	h.failed = res->failed;
	h.pending = res->pending;
	h.shop_requests = (long)res->shop_requests;
	h.error = res->error[0] ? res->error : NULL;
	if (kc_store_history_add(st, &h, &err) != 0)
		kc_log(KC_LOG_WARN, "cannot record the run: %s", err.msg);
	kc_log(res->error[0] ? KC_LOG_WARN : KC_LOG_INFO,
	    "apply: %ld items: %ld applied, %ld unchanged, %ld unmatched, "
	    "%ld skipped, %ld failed, %ld still queued; %lu shop requests in %.2f s%s%s",
	    res->taken, res->applied, res->unchanged, res->unmatched, res->skipped,
	    res->failed, res->pending, res->shop_requests, h.finished_at - started,
	    res->error[0] ? "; " : "", res->error);
}

int
kc_apply_lock(const struct kc_config *cfg, long wait_ms,
    struct kc_runlock **lock, struct kc_error *err)
{
	return kc_runlock_take(cfg, "apply", wait_ms, lock, err);
}

int
kc_apply_run(const struct kc_config *cfg, struct kc_store *given, long wait_ms,
    struct kc_runlock *held, struct kc_apply_result *res, struct kc_error *err)
{
	int64_t deadline = kc_monotonic_ms() + cfg->sync_max_seconds * 1000;
	struct kc_store own, *st = given;
	int64_t run_id;
	struct kc_runlock *lock = held;
	int rc;

	/*
	 * The lock first: most webhooks find an applier already at work and
	 * leave their reports to it, so they need not open the database.
	 */
	if (lock == NULL && (rc = kc_apply_lock(cfg, wait_ms, &lock, err)) != 0)
		return rc;
	if (st == NULL) {
		if (kc_store_open_config(&own, cfg, err) != 0) {
			kc_runlock_release(lock);
			return -1;
		}
		st = &own;
	}
	run_id = kc_store_next_run_id(st);
	if (run_id < 0) {
		kc_error_set(err, "cannot draw a run id");
		if (st == &own)
			kc_store_close(&own);
		kc_runlock_release(lock);
		return -1;
	}
	/*
	 * Reports committed while the last applier was finishing found the
	 * lock busy and left their work to it; loop until none are left.
	 */
	for (int pass = 0; pass < 100; pass++) {
		double started;

		if (pass > 0 && kc_apply_lock(cfg, 0, &lock, err) != 0)
			break;
		started = kc_now();
		kc_apply_inbox(cfg, st, run_id, deadline, res);
		record(st, res, started);
		kc_runlock_release(lock);
		if (res->error[0] || kc_apply_stop || kc_monotonic_ms() >= deadline ||
		    kc_store_inbox_untried(st, run_id) <= 0)
			break;
	}
	if (st == &own)
		kc_store_close(&own);
	return 0;
}

int
kc_apply_lock_free(const struct kc_config *cfg)
{
	struct kc_error err = { { 0 } };
	struct kc_runlock *lock;

	if (kc_apply_lock(cfg, 0, &lock, &err) != 0)
		return 0;
	kc_runlock_release(lock);
	return 1;
}
