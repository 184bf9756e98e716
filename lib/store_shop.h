/*
 * store_shop.h - what WooCommerce's product webhooks reported, kept until
 * a pusher has handled it (SPEC section 3, "shop webhook").
 *
 * One row per shop product or variation: the latest state reported, its
 * modified time, and whether it still waits for a pusher.  Rows stay after
 * they are handled, so a late, older delivery is recognised as older and
 * moves nothing backwards.
 */
#ifndef KC_STORE_SHOP_H
#define KC_STORE_SHOP_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "woo.h"

/* A product webhook's payload, reduced to what the push needs. */
struct kc_shop_change {
	struct kc_woo_product p;	/* id, parent_id, type, sku, manage, qty */
	char modified[20];		/* date_modified_gmt, YYYY-MM-DDTHH:MM:SS */
	int64_t version;		/* as read by kc_store_shop_pending */
	double received_at;		/* when it was stored (kc_now()) */
};

/*
 * Stores a change durably unless the product's stored one is newer;
 * 1 when stored, 0 when an older payload was ignored, -1 on failure.
 */
int kc_store_shop_put(struct kc_store *st, const struct kc_shop_change *c,
    double now, struct kc_error *err);

/* Up to max changes waiting for a pusher, oldest first; free with _free. */
int kc_store_shop_pending(struct kc_store *st, size_t max,
    struct kc_shop_change **out, size_t *n, struct kc_error *err);
void kc_store_shop_changes_free(struct kc_shop_change *c, size_t n);

/* Marks a change handled, unless a newer one came in since it was read. */
int kc_store_shop_done(struct kc_store *st, const struct kc_shop_change *c,
    struct kc_error *err);

/*
 * 1 when the last sync found several shop products with sku (SPEC 4.6:
 * then no single quantity is the shop's), 0 when not, -1 on failure.
 */
int kc_store_shop_sku_duplicate(struct kc_store *st, const char *sku);

/*
 * When the latest recorded sync run started (0, KC_STORE_ABSENT or -1):
 * it read the shop after any change stored before then, or its cursor
 * still covers what it did not read.
 */
int kc_store_shop_last_sync(struct kc_store *st, double *started_at);

/* Takes off the queue every change stored before t (see above); 0 or -1. */
int kc_store_shop_drop_before(struct kc_store *st, double t,
    struct kc_error *err);

/* How many changes wait; -1 on failure. */
long kc_store_shop_pending_count(struct kc_store *st);

#endif
