/*
 * apply_known.c - see apply_known.h.
 */
#include "apply_known.h"

#include <stdlib.h>
#include <string.h>

#include "sku.h"
#include "stock.h"

static int
known_write(const struct kc_config *cfg, struct kc_store *st,
    const struct kc_inbox_row *rows, size_t n, size_t i, double now,
    struct kc_woo_write *wr, struct kc_map_entry *e, struct kc_error *err)
{
	const char *sku = rows[i].report.sku;
	int rc;

	for (size_t j = 0; j < n; j++)
		if (j != i && kc_sku_equal(rows[j].report.sku, sku))
			return 0;
	if ((rc = kc_store_map_one(st, sku, e, err)) < 0)
		return -1;
	if (rc == KC_STORE_ABSENT || e->count != 1 ||
	    e->confirmed_at < now - (double)cfg->woo_sku_map_seconds ||
	    e->confirmed_at > now + 5)
		return 0;
	if (strcmp(e->type, "simple") != 0 && strcmp(e->type, "variable") != 0)
		return 0;
	if (strcmp(e->manage, "yes") != 0 &&
	    !(strcmp(e->manage, "no") == 0 && cfg->manage_stock == KC_MANAGE_ENABLE))
		return 0;
	memset(wr, 0, sizeof(*wr));
	wr->id = e->id;
	wr->qty = kc_stock_target(rows[i].report.in_stock, rows[i].report.in_reserve,
	    cfg->subtract_reserve);
	wr->expect_sku = sku;
	return 1;
}

static int
settle_known(struct kc_store *st, const struct kc_inbox_row *row,
    const struct kc_woo_write *wr, const struct kc_map_entry *e,
    struct kc_apply_result *res, struct kc_error *err)
{
	const char *sku = row->report.sku;
	double now = kc_now();
	static const enum kc_problem gone[] = { KC_PROBLEM_UNMATCHED,
	    KC_PROBLEM_DUPLICATE, KC_PROBLEM_SKIPPED, KC_PROBLEM_FAILED };

	if (kc_store_map_clear(st, sku, err) != 0 ||
	    kc_store_map_add(st, sku, wr->id, e->parent_id, e->type, "yes",
	    wr->qty, 1, now, err) != 0)
		return -1;
	for (size_t k = 0; k < sizeof(gone) / sizeof(gone[0]); k++)
		if (kc_store_problem(st, sku, gone[k], NULL, now, err) != 0)
			return -1;
	res->applied++;
	if (kc_store_ledger_agree(st, sku, wr->qty, now, err) != 0)
		return -1;
	return kc_store_inbox_done(st, sku, row->seq, err);
}

/*
 * Writes the round's known SKUs first; moves the rows it settled out of
 * rows (*n shrinks).  1: the shop failed, stop the run.
 */
int
kc_apply_known(const struct kc_config *cfg, struct kc_store *st,
    struct kc_woo *woo, struct kc_inbox_row *rows, size_t *n, int64_t run_id,
    struct kc_apply_result *res, struct kc_error *err)
{
	struct kc_woo_write *writes = calloc(*n, sizeof(*writes));
	struct kc_map_entry *maps = calloc(*n, sizeof(*maps));
	size_t *row_of = calloc(*n, sizeof(*row_of)), m = 0, keep = 0;
	struct kc_error werr = { { 0 } };
	double now = kc_now();
	int rc = -1;

	if (writes == NULL || maps == NULL || row_of == NULL) {
		kc_error_set(err, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < *n; i++) {
		int k = known_write(cfg, st, rows, *n, i, now, &writes[m], &maps[m], err);

		if (k < 0)
			goto out;
		if (k > 0)
			row_of[m++] = i;
	}
	rc = 0;
	if (m == 0)
		goto out;
	if (kc_woo_set_stock(woo, writes, m, &werr) != 0) {
		kc_strlcpy(res->error, werr.msg, sizeof(res->error));
		rc = kc_apply_retry_all(st, rows, *n, run_id, werr.msg, res, err) == 0 ? 1 : -1;
		*n = 0;
		goto out;
	}
	kc_crash_point("after-shop-write");
	if (kc_store_begin(st, err) != 0) {
		rc = -1;
		goto out;
	}
	for (size_t k = 0; k < m; k++) {
		const struct kc_inbox_row *row = &rows[row_of[k]];

		if (writes[k].stale_written)
			kc_log(KC_LOG_WARN, "product %lld was written with the stock of SKU %s"
			    " from the SKU map, but its SKU changed within woo_sku_map_seconds: %s",
			    writes[k].id, row->report.sku, writes[k].error);
		if (writes[k].done && settle_known(st, row, &writes[k], &maps[k], res, err) != 0) {
			kc_store_rollback(st);
			rc = -1;
			goto out;
		}
	}
	if (kc_store_commit(st, err) != 0) {
		rc = -1;
		goto out;
	}
	/* The rest, stale mappings included, go the lookup way. */
	for (size_t i = 0, k = 0; i < *n; i++) {
		while (k < m && row_of[k] < i)
			k++;
		if (k < m && row_of[k] == i && writes[k].done) {
			free(rows[i].report.sku);
			rows[i].report.sku = NULL;
			continue;
		}
		rows[keep++] = rows[i];
	}
	for (size_t i = keep; i < *n; i++)
		rows[i].report.sku = NULL;	/* moved, or freed above */
	*n = keep;
out:
	free(writes);
	free(maps);
	free(row_of);
	return rc;
}
