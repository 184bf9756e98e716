/*
 * store_problems.h - keeping the problems list true: what a complete full
 * scan no longer sees is pruned, and the administrator may dismiss a row.
 */
#ifndef KC_STORE_PROBLEMS_H
#define KC_STORE_PROBLEMS_H

#include "store.h"

/*
 * After a complete full scan that began at scan_started: duplicates and
 * skipped products it did not record again are removed, with the SKU map's
 * rows of those duplicates (the next lookup learns them afresh).
 */
int kc_store_problems_prune_scan(struct kc_store *st, double scan_started,
    struct kc_error *err);

/* The kind named as the problems table names it ("duplicate", ...); -1 when none. */
int kc_store_problem_kind(const char *name);

/*
 * Where the shop keeps sku: product id and parent id (0 for a product of
 * its own) and, when known, its name (else ""), from the SKU map or the
 * last comparison; -1 when neither knows it.
 */
int kc_store_problem_product(struct kc_store *st, const char *sku,
    long long *product_id, long long *parent_id, char *name, size_t namesz);

#endif
