/*
 * webhook.h - KeyCRM's stock webhook (SPEC section 3, webhook.cgi).
 *
 * The answer goes out as soon as the reports are durable in the inbox;
 * applying them to the shop happens afterwards (see apply.h), or before
 * answering with ?wait=1.
 */
#ifndef KC_WEBHOOK_H
#define KC_WEBHOOK_H

#include <stdio.h>

#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "request.h"
#include "store.h"
#include "worker.h"

#define KC_SKU_MAX_BYTES 200
/* How long after the request began storing its reports may be retried. */
#define KC_WEBHOOK_STORE_SECONDS 60
/* The answer lists this many rejected items and counts the rest. */
#define KC_WEBHOOK_REJECTED_LISTED 100

struct kc_webhook_body {
	int is_event;			/* an order webhook: ignored */
	size_t received;		/* items in the array */
	struct kc_stock_report *reports;	/* the usable ones */
	size_t count;
	json_t *rejected;		/* [{"index","sku","reason"}], the first
					   KC_WEBHOOK_REJECTED_LISTED */
	size_t rejected_count;		/* all of them */
};

/*
 * Parses a webhook body.  Returns -1 (answer 400, err says why) when it is
 * not JSON or neither an array nor an order event; otherwise 0, with bad
 * items counted in rejected_count (the first ones listed in rejected) and
 * the rest in reports.
 */
int kc_webhook_parse(const char *body, size_t len, struct kc_webhook_body *out,
    struct kc_error *err);
void kc_webhook_body_free(struct kc_webhook_body *b);

/* Handles one request; sets job->apply when reports were queued. */
void kc_webhook_handle(struct kc_request *req, struct kc_job *job);
/* KeyCRM's stock webhook as an endpoint of the request pipeline (worker.h). */
extern const struct kc_endpoint kc_webhook_endpoint;

/* From a shell: webhook.cgi --apply [--config FILE]; the exit status. */
int kc_webhook_shell(int argc, char **argv, FILE *out, FILE *errout);

#endif
