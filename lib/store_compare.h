/*
 * store_compare.h - what a comparison of the two sides has read so far
 * (SPEC section 3 sync.cgi compare): the shop's rows, KeyCRM's rows and
 * the variable products seen, kept in the state database so that a
 * comparison stopped by sync_max_seconds goes on where it stopped.
 *
 * Rows are keyed by the SKU's normalised form (the shop's SKU identity,
 * SPEC 4.6), so that the two sides meet whatever the case.
 */
#ifndef KC_STORE_COMPARE_H
#define KC_STORE_COMPARE_H

#include "store.h"

/* Creates the tables when missing; empties them when fresh is set. */
int kc_store_compare_prepare(struct kc_store *st, int fresh,
    struct kc_error *err);
int kc_store_compare_shop_add(struct kc_store *st, const char *key,
    const char *sku, long long qty, long long product_id,
    long long parent_id, const char *name, struct kc_error *err);
int kc_store_compare_parent_add(struct kc_store *st, long long id,
    const char *sku, struct kc_error *err);
/* The next variable product's id above `after`, 0 when none. */
long long kc_store_compare_parent_next(struct kc_store *st, long long after);
/* 1 when parent id shows sku itself (its variations then have none). */
int kc_store_compare_parent_has_sku(struct kc_store *st, long long id,
    const char *sku);
int kc_store_compare_keycrm_add(struct kc_store *st, const char *key,
    const char *sku, double available, struct kc_error *err);

/*
 * A complete comparison knows every shop SKU KeyCRM has no offer for: the
 * problems list of that kind becomes exactly those.
 */
int kc_store_compare_problems(struct kc_store *st, double now,
    struct kc_error *err);

enum kc_compare_kind {
	KC_CMP_EQUAL,
	KC_CMP_DIFFERENT,
	KC_CMP_SHOP_ONLY,
	KC_CMP_KEYCRM_ONLY,
	KC_CMP__MAX
};

/* One compared SKU. */
struct kc_compare_row {
	const char *sku;		/* the shop's spelling where it has it */
	enum kc_compare_kind kind;
	int has_shop, has_keycrm;
	long long shop;			/* shop quantity */
	double keycrm;			/* KeyCRM's available quantity */
	double difference;		/* shop - what KeyCRM makes the shop hold */
	long long product_id, parent_id;
};

/*
 * Calls fn for every compared SKU, the biggest differences first, then
 * SKUs missing on one side, then equal ones.  fn returns non-zero to stop.
 * counts (may be NULL) gets the number of each kind.
 */
int kc_store_compare_rows(struct kc_store *st,
    int (*fn)(void *ctx, const struct kc_compare_row *row), void *ctx,
    long counts[KC_CMP__MAX], struct kc_error *err);

#endif
