/*
 * store_runstate.h - where the sync stands between calls, by name and type.
 *
 * A sync run stopped by sync_max_seconds resumes from its cursor; the
 * next run reads only what changed since the last scan began; the first
 * complete scan ends the first run (SPEC 3); a backfill resumes from its
 * page.  Kept in the store's kv table, but no caller names a key: every
 * read tells found, absent (KC_STORE_ABSENT) and failed (-1) apart.
 */
#ifndef KC_STORE_RUNSTATE_H
#define KC_STORE_RUNSTATE_H

#include "store.h"

struct kc_scan_cursor {
	char phase[16];		/* "products", "variations", "parents" */
	long page;
	long long parent;	/* "parents": the variable product being read */
	int full;		/* reading the whole catalogue */
	double started;		/* when this scan began */
	char since[32];		/* modified_after, "" for the whole catalogue */
};

int kc_store_scan_cursor(struct kc_store *st, struct kc_scan_cursor *c);
/* c NULL: the scan is over. */
int kc_store_scan_cursor_save(struct kc_store *st, const struct kc_scan_cursor *c,
    struct kc_error *err);

/* When the last complete scan, and the last complete full one, began; 0: never. */
int kc_store_scan_times(struct kc_store *st, double *last_started,
    double *last_full);
int kc_store_scan_finished(struct kc_store *st, double started, int full,
    struct kc_error *err);

/* 1 until the first complete scan (or backfill), 0 after; -1 failed. */
int kc_store_first_scan_pending(struct kc_store *st);
int kc_store_first_scan_over(struct kc_store *st, struct kc_error *err);

/* The shop has no variations listing: read each variable product's. 1/0/-1. */
int kc_store_variations_per_parent(struct kc_store *st);
int kc_store_variations_per_parent_set(struct kc_store *st, struct kc_error *err);

/* The backfill's next page; KC_STORE_ABSENT when none is under way. */
int kc_store_pull_page(struct kc_store *st, long *page);
/* page 0: the backfill is over. */
int kc_store_pull_page_save(struct kc_store *st, long page, struct kc_error *err);

/* The settings page's result messages older than `before` are dropped. */
int kc_store_flash_purge(struct kc_store *st, double before, struct kc_error *err);

#endif
