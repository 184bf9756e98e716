/*
 * apply_known.h - the applier's first step for SKUs it has seen before
 * (woo_sku_map_seconds); used by apply.c only.
 *
 * Known SKUs in one request (woo_sku_map_seconds).  WooCommerce has no
 * conditional write, so a write by product id cannot be made safe against
 * a product that kept its id but got another SKU: the answer shows that
 * only after the stock was saved.  So the map is used only within
 * woo_sku_map_seconds of the shop last showing that SKU on that product,
 * only for a SKU on exactly one top-level product (a variation written
 * through a parent it has left would be moved back to it) whose stock it
 * managed, and only for the one report of that SKU in the round.  A
 * deleted product answers an error and nothing is saved; any answer that
 * does not show the SKU on the product sends the row to a lookup.
 */
#ifndef KC_APPLY_KNOWN_H
#define KC_APPLY_KNOWN_H

#include "apply.h"
#include "woo.h"

/*
 * Writes the round's known SKUs first and moves the rows it settled out of
 * rows (*n shrinks).  0, 1 when the shop failed (stop the run), -1 on a
 * store error.
 */
int kc_apply_known(const struct kc_config *cfg, struct kc_store *st,
    struct kc_woo *woo, struct kc_inbox_row *rows, size_t *n, int64_t run_id,
    struct kc_apply_result *res, struct kc_error *err);

/* Marks every row of a round as tried and failed for the same reason. */
int kc_apply_retry_all(struct kc_store *st, struct kc_inbox_row *rows,
    size_t n, int64_t run_id, const char *why, struct kc_apply_result *res,
    struct kc_error *err);

#endif
