/*
 * store_retention.h - what the state forgets, so that it does not only grow.
 *
 * Without it every SKU KeyCRM ever reported stays in the ledger and every
 * problem and history record stays for good (100,000 unknown SKUs left
 * 100,000 rows in each).  Now and then (at most once a day, after an
 * applier or sync run) the store drops:
 *   - history older than KC_RETAIN_HISTORY_DAYS, and beyond the newest
 *     KC_RETAIN_HISTORY_ROWS records;
 *   - problems not seen for KC_RETAIN_PROBLEM_DAYS;
 *   - ledger rows of SKUs neither side has had for KC_RETAIN_LEDGER_DAYS:
 *     never agreed with the shop (the shop never had them as far as the
 *     state knows), no KeyCRM report and no shop lookup since, and no
 *     report waiting in the inbox - a row with pending work is never
 *     dropped.  A SKU the shop once had keeps its row: the state cannot
 *     tell "unchanged" from "gone" without the sync's full scan.
 * and gives the freed space back (VACUUM) when a quarter of the file is
 * free.
 */
#ifndef KC_STORE_RETENTION_H
#define KC_STORE_RETENTION_H

#include "store.h"

#define KC_RETAIN_HISTORY_DAYS 90
/* As many as kc_store_history_add() keeps anyway. */
#define KC_RETAIN_HISTORY_ROWS 2000
#define KC_RETAIN_PROBLEM_DAYS 30
#define KC_RETAIN_LEDGER_DAYS 90
/* How often retention runs at most. */
#define KC_RETENTION_EVERY_S 86400.0

struct kc_retention_result {
	long history, problems, ledger;	/* rows dropped */
	int vacuumed;
};

/*
 * Applies retention if it has not run for KC_RETENTION_EVERY_S (always
 * when force).  Returns 1 when it ran, 0 when it was not due, -1 on error
 * (then nothing was dropped).
 */
int kc_store_retention(struct kc_store *st, double now, int force,
    struct kc_retention_result *res, struct kc_error *err);

/* Bytes the state takes on disk (state.db and its WAL); -1 if unknown. */
long long kc_store_disk_bytes(const char *state_dir);

/* Retention after a run, logged; never fails the caller. */
struct kc_config;
void kc_store_retention_after_run(const struct kc_config *cfg);
/* The log line of a kc_store_retention() that returned rc. */
void kc_store_retention_log(int rc, const struct kc_retention_result *res,
    const struct kc_error *err);

#endif
