/*
 * store_status.h - what the settings page shows of the state database: the
 * inbox, the last webhook and runs, the history, the problems found, and
 * whether this is a first install.  Reads only; every string returned is
 * a copy the caller frees with kc_status_free().
 */
#ifndef KC_STORE_STATUS_H
#define KC_STORE_STATUS_H

#include <stddef.h>

#include "store.h"
#include "util.h"

enum kc_status_kind {
	KC_RUN_WEBHOOK,
	KC_RUN_APPLY,
	KC_RUN_SYNC,
	KC_RUN_PULL,			/* a backfill KeyCRM -> shop */
	KC_RUN_PUSH,			/* the shop's webhooks' changes -> KeyCRM */
	KC_RUN__MAX
};

/*
 * One history record (store.h struct kc_history, as read back).  What the
 * counts mean depends on the kind: sync.c records a sync run's figures in
 * the same columns (see the settings page's labels).
 */
struct kc_status_run {
	enum kc_status_kind kind;
	double started_at;		/* 0: there is none */
	double finished_at;		/* 0: not recorded */
	long received, queued, rejected;
	long applied, unchanged, unmatched, skipped, failed, pending;
	long shop_requests, keycrm_requests;
	char *error;			/* NULL: none */
};

struct kc_status_problem {
	char *sku;
	char *detail;
	long count;			/* times seen */
	double first_seen, last_seen;
};

struct kc_status_problems {
	long total;			/* SKUs with this problem */
	struct kc_status_problem *items;	/* the most recent ones */
	size_t n;
};

#define KC_STATUS_PROBLEM_KINDS 5

struct kc_status {
	long inbox;			/* reports waiting for the shop */
	long inbox_retried;		/* of which tried and failed before */
	double inbox_oldest;		/* when the oldest arrived; 0: none */
	char *inbox_error;		/* the latest failure's reason */
	int first_install;		/* the first complete scan is still to come */
	struct kc_status_run last[KC_RUN__MAX];	/* latest of each kind */
	struct kc_status_run *history;	/* newest first */
	size_t nhistory;
	struct kc_status_problems problems[KC_STATUS_PROBLEM_KINDS]; /* by kc_problem */
};

/*
 * Reads up to history_max history records and problems_max problems of
 * each kind.  On failure s is left freed and err says why.
 */
int kc_status_read(struct kc_store *st, size_t history_max,
    size_t problems_max, struct kc_status *s, struct kc_error *err);
void kc_status_free(struct kc_status *s);

/* Which history rows a page of History shows. */
enum kc_history_filter {
	KC_HISTORY_ALL,
	KC_HISTORY_SYNC,		/* sync runs and backfills */
	KC_HISTORY_WEBHOOK,		/* webhooks, the applier's and the pusher's runs */
	KC_HISTORY_ERRORS,		/* any row that reports an error */
};
/*
 * The rows of filter, newest first, from offset, at most limit; *total is
 * how many match in all.  Free *runs with kc_status_runs_free().
 */
int kc_status_history(struct kc_store *st, enum kc_history_filter filter,
    long offset, long limit, struct kc_status_run **runs, size_t *n,
    long *total, struct kc_error *err);
void kc_status_runs_free(struct kc_status_run *runs, size_t n);

/* One hour of history (for the page's chart). */
struct kc_status_hour {
	long long hour;			/* unix time / 3600 */
	long runs;			/* sync runs, backfills, applier runs */
	long webhooks;
	long items;			/* received by webhooks, applied, sent to KeyCRM */
	long errors;			/* rows that report an error */
};
/* The hours since `since` that have any history, oldest first. */
int kc_status_hours(struct kc_store *st, double since,
    struct kc_status_hour **hours, size_t *n, struct kc_error *err);

/* "webhook", "apply", "sync", "pull". */
const char *kc_status_kind_name(enum kc_status_kind kind);

#endif
