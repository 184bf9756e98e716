/*
 * sync.h - a sync run, shop -> KeyCRM (SPEC section 3 sync.cgi, section 4).
 *
 * A run applies the webhook inbox, reads the shop's stock (what changed
 * since the last scan, or everything), works out per SKU what really
 * changed against the ledger, sends that to KeyCRM in as few paced
 * requests as possible, and records the run.  Only one runs at a time.
 */
#ifndef KC_SYNC_H
#define KC_SYNC_H

#include <stdio.h>

#include <jansson.h>

#include "config.h"
#include "util.h"

struct kc_sync_options {
	int full;		/* read the whole catalogue */
	int dry_run;		/* plan only; write nothing anywhere */
	int pull;		/* backfill KeyCRM -> shop instead */
	int push_all;		/* send every managed SKU (first install) */
	/* Called now and then with done/total work; may be NULL. */
	void (*progress)(void *ctx, const char *phase, long done, long total);
	void *progress_ctx;
};

struct kc_sync_result {
	int busy;		/* another run holds the lock */
	int complete;		/* false when sync_max_seconds stopped it */
	int first_run;		/* before the first complete scan (SPEC 3, "First run") */
	long scanned;		/* shop items read */
	long changed;		/* SKUs that differ from the ledger */
	long sent;		/* SKUs KeyCRM accepted */
	long unknown;		/* SKUs KeyCRM does not know */
	long skipped;		/* no SKU, unmanaged, parent-managed ... */
	long held;		/* changed during the scan: next run decides */
	long baseline;		/* first run: never agreed, shop quantity recorded */
	long applied;		/* inbox reports applied to the shop first */
	long pulled;		/* backfill: offers read from KeyCRM */
	unsigned long shop_requests;
	unsigned long keycrm_requests;
	double seconds;
	json_t *plan;		/* dry run: [{"sku","shop","send"}] */
	json_t *errors;		/* ["..."] */
	json_t *unknown_skus;	/* ["sku", ...] */
};

void kc_sync_result_init(struct kc_sync_result *r);
void kc_sync_result_free(struct kc_sync_result *r);

/*
 * Runs one sync (or a backfill with opts->pull).  Returns 0 when it ran
 * (check result->errors and ->complete), 1 when another run is busy, -1 on
 * an error that stopped it before it began (err says why).
 */
int kc_sync_run(const struct kc_config *cfg, const struct kc_sync_options *opts,
    struct kc_sync_result *result, struct kc_error *err);

/* The run's summary as the JSON answer of sync.cgi. */
json_t *kc_sync_result_json(const struct kc_sync_result *r);

#endif
