/*
 * compare.h - how the two sides differ (SPEC section 3 sync.cgi compare):
 * the shop's whole catalogue and KeyCRM's whole stock list, read and kept
 * in the state database, compared per SKU.  Writes nothing to either side.
 *
 * Reading both sides can take longer than sync_max_seconds (KeyCRM gives
 * 50 offers per request at its request limit): a comparison stopped by the
 * time limit keeps what it read and the next call goes on from there.
 */
#ifndef KC_COMPARE_H
#define KC_COMPARE_H

#include <jansson.h>

#include "config.h"
#include "store_compare.h"
#include "util.h"

struct kc_compare_options {
	/* Called now and then with done/total pages; may be NULL. */
	void (*progress)(void *ctx, const char *phase, long done, long total);
	void *progress_ctx;
};

struct kc_compare_result {
	int busy;			/* another comparison is running */
	int complete;			/* both sides read whole */
	long counts[KC_CMP__MAX];	/* when complete */
	char phase[16];			/* "shop", "keycrm", "done" */
	long page, pages;		/* where the reading stands */
	long shop_items, keycrm_offers;	/* read by this call */
	long skipped;			/* shop items without stock of their own */
	unsigned long shop_requests, keycrm_requests;
	double seconds;
	json_t *errors;			/* ["..."] */
};

void kc_compare_result_init(struct kc_compare_result *r);
void kc_compare_result_free(struct kc_compare_result *r);

/*
 * Reads on from where the last call stopped (or from the start when the
 * last comparison was complete).  Returns 0 when it ran (see ->errors and
 * ->complete), 1 when busy, -1 when it could not start (err says why).
 */
int kc_compare_run(const struct kc_config *cfg,
    const struct kc_compare_options *opts, struct kc_compare_result *res,
    struct kc_error *err);

/* The summary as JSON; with rows, every compared SKU too. */
json_t *kc_compare_result_json(const struct kc_compare_result *r,
    struct kc_store *st, int rows);

/* The last complete comparison's rows as CSV (header first). */
int kc_compare_csv(struct kc_store *st, struct kc_buf *out,
    struct kc_error *err);


#endif
