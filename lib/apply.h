/*
 * apply.h - the applier: takes what the webhook inbox holds and sets the
 * shop's stock accordingly (SPEC section 3 "Then apply", section 4.1).
 *
 * It works in rounds of a few hundred SKUs: look them up in the shop,
 * decide per product (stock.h), write what differs in batches, then settle
 * the round in one transaction.  A row leaves the inbox only when the shop
 * holds its value, or when no shop product can take it (unmatched or
 * skipped, which are recorded as problems).  Whatever fails stays for the
 * next applier, so nothing accepted is lost.  Callers hold the apply lock.
 */
#ifndef KC_APPLY_H
#define KC_APPLY_H

#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "runlock.h"
#include "store.h"

struct kc_apply_result {
	long taken;		/* inbox rows looked at */
	long applied;		/* written to the shop */
	long unchanged;		/* the shop already had the value */
	long unmatched;		/* no product has the SKU */
	long skipped;		/* products that cannot take a quantity */
	long failed;		/* kept in the inbox for the next try */
	long pending;		/* still in the inbox afterwards */
	unsigned long shop_requests;
	/* Lists for the answer (each capped): */
	json_t *unmatched_skus;		/* ["sku", ...] */
	json_t *skipped_items;		/* [{"sku","reason"}, ...] */
	json_t *duplicate_skus;		/* ["sku", ...] */
	json_t *failed_items;		/* [{"sku","reason"}, ...] */
	char error[512];		/* why the run stopped early, or "" */
	double seconds;
};

void kc_apply_result_init(struct kc_apply_result *r);
void kc_apply_result_free(struct kc_apply_result *r);

/*
 * Applies the inbox until every row was tried by run_id, the shop fails, or
 * the deadline (kc_monotonic_ms()) passes.
 */
int kc_apply_inbox(const struct kc_config *cfg, struct kc_store *st,
    int64_t run_id, int64_t deadline_ms, struct kc_apply_result *res);

/*
 * Takes the apply lock, applies, records the run in the history and the
 * log, and repeats while reports arrived that no run has tried yet.
 * st: an open store to use (a worker's), or NULL to open one here.
 * wait_ms: how long to wait for a running applier (0: leave it the work).
 * held: the apply lock when the caller already holds it (it is released
 * here), else NULL.  Returns 0 when it ran, 1 when another applier was busy,
 * -1 on error.
 */
int kc_apply_run(const struct kc_config *cfg, struct kc_store *st,
    long wait_ms, struct kc_runlock *held, struct kc_apply_result *res,
    struct kc_error *err);

/* Whether no applier holds the apply lock right now (a hint: it may change). */
int kc_apply_lock_free(const struct kc_config *cfg);

/* Takes the apply lock; see kc_runlock_take(). */
int kc_apply_lock(const struct kc_config *cfg, long wait_ms,
    struct kc_runlock **lock, struct kc_error *err);

/* Set from a signal handler: finish the current round and stop. */
extern volatile int kc_apply_stop;

#endif
