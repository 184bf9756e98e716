/*
 * store_page.h - what the settings page keeps between requests: the result
 * message of an action until the redirect shows it (flash), the last
 * connection check of each side, and the progress and result of the work
 * it runs in the background.  Kept in the store's kv table as JSON; only
 * this file knows the keys.  Reads return 0 found, KC_STORE_ABSENT or -1.
 */
#ifndef KC_STORE_PAGE_H
#define KC_STORE_PAGE_H

#include <jansson.h>

#include "store.h"

#define KC_FLASH_MAX_BYTES (512 * 1024)

/* id: 32 lowercase hex digits; rec must have "user" and "t". */
int kc_store_flash_put(struct kc_store *st, const char *id, json_t *rec,
    struct kc_error *err);
/*
 * The record of id, removed as it is read, when it is user's (another
 * user's record is left alone and reported absent).
 */
int kc_store_flash_take(struct kc_store *st, const char *id, const char *user,
    json_t **rec);

/* The last check of a side ("keycrm", "woo"). */
int kc_store_check_put(struct kc_store *st, const char *side, json_t *v,
    struct kc_error *err);
int kc_store_check_get(struct kc_store *st, const char *side, json_t **v);

/*
 * One problem row as the page pages through them; sku/detail are only
 * valid during the call.
 */
struct kc_page_problem {
	const char *sku;
	const char *detail;
	long count;
	double first_seen, last_seen;
};
/*
 * Calls fn for the problems of kind (the problems table's name: "failed",
 * "duplicate", ...) from offset, at most limit of them (limit < 0: all),
 * newest first; fn returns nonzero to stop.  Returns 0 or -1.
 */
int kc_store_problems_each(struct kc_store *st, const char *kind, long offset,
    long limit, int (*fn)(void *ctx, const struct kc_page_problem *row),
    void *ctx, struct kc_error *err);

/* The last dry run's plan, for its pages and its CSV (user-bound like a flash). */
int kc_store_plan_put(struct kc_store *st, json_t *plan, struct kc_error *err);
int kc_store_plan_get(struct kc_store *st, json_t **plan);

/* The page's background work (one at a time): progress, then result. */
int kc_store_page_job_put(struct kc_store *st, json_t *v, struct kc_error *err);
int kc_store_page_job_get(struct kc_store *st, json_t **v);

#endif
