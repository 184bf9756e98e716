/*
 * store.h - the state store: one SQLite file, state_dir/state.db.
 *
 * It holds the webhook inbox (what KeyCRM told us and the shop has not
 * taken yet), the per-SKU ledger of SPEC section 4, the SKU -> product map
 * learned from shop lookups, the problems found (SKUs that matched nothing,
 * duplicates, skipped products) and the history of webhooks and runs.
 *
 * WAL mode lets readers work while one writer commits; synchronous=FULL
 * makes a commit durable before a webhook is answered; busy_timeout
 * absorbs the short lock waits between concurrent workers.  The schema is
 * versioned (PRAGMA user_version) and migrated forward on open.
 */
#ifndef KC_STORE_H
#define KC_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "db_dialect.h"
#include "util.h"

struct kc_db;
struct kc_db_stmt;

/*
 * Reads that feed a decision tell three outcomes apart: 0 found,
 * KC_STORE_ABSENT, and -1 failed.  A failed read must stop the work that
 * needed it, never be taken for "absent".
 */
#define KC_STORE_ABSENT 1

#define KC_STORE_CACHED_MAX 64

struct kc_store {
	struct kc_db *db;
	char *path;		/* the file, or user@host/database */
	/* SQLite: the file this connection has open (kc_store_replaced). */
	dev_t dev;
	ino_t ino;
	/* MariaDB: the table prefix and names its statements are given. */
	struct kc_db_dialect dialect;
	/* Prepared statements kept for the connection's life (store.c). */
	struct {
		const char *sql;
		struct kc_db_stmt *stmt;
	} cached[KC_STORE_CACHED_MAX];
	size_t ncached;
};

/* One stock report from KeyCRM, as the inbox keeps it. */
struct kc_stock_report {
	char *sku;
	long long offer_id;		/* 0 when absent */
	double in_stock;
	double in_reserve;
};

/* An inbox row handed to the applier. */
struct kc_inbox_row {
	struct kc_stock_report report;
	int64_t seq;			/* changes when a newer value arrives */
	long attempts;
};

enum kc_problem {
	KC_PROBLEM_UNMATCHED,		/* no shop product has the SKU */
	KC_PROBLEM_DUPLICATE,		/* several shop products have it */
	KC_PROBLEM_SKIPPED,		/* matched, but cannot take a quantity */
	KC_PROBLEM_FAILED,		/* the shop refused the write */
	KC_PROBLEM_NOT_IN_KEYCRM,	/* a shop SKU KeyCRM has no offer for */
};

/* One history record: a webhook, an applier run or a sync run. */
struct kc_history {
	const char *kind;		/* "webhook", "apply", "sync" */
	double started_at;
	double finished_at;
	long received, queued, rejected;
	long applied, unchanged, unmatched, skipped, failed, pending;
	long shop_requests, keycrm_requests;
	const char *error;		/* NULL: none */
};

/* Opens (creating and migrating as needed) state_dir/state.db. */
int kc_store_open(struct kc_store *st, const char *state_dir,
    struct kc_error *err);
void kc_store_close(struct kc_store *st);
/*
 * 1 when state.db is no longer the file this connection opened (removed,
 * or replaced by a restored copy): a kept connection would go on writing
 * to a file nobody reads again, so its keeper reopens it.  0 otherwise,
 * and always 0 on MariaDB.
 */
int kc_store_replaced(const struct kc_store *st);
struct kc_config;
/* The store the configuration names: state_dir's file, or mysql_host's. */
int kc_store_open_config(struct kc_store *st, const struct kc_config *cfg,
    struct kc_error *err);

/* The schema version this build writes. */
int kc_store_schema_version(void);

/*
 * Commits reports to the inbox in one transaction: per SKU only the newest
 * value is kept, and the ledger records what KeyCRM said.  After this
 * returns 0 the reports survive a crash.
 */
int kc_store_enqueue(struct kc_store *st, const struct kc_stock_report *r,
    size_t n, double now, struct kc_error *err);
/*
 * The same, and the history row h (may be NULL) in the same transaction:
 * one commit, one fsync, for an accepted webhook.
 */
int kc_store_accept(struct kc_store *st, const struct kc_stock_report *r,
    size_t n, double now, const struct kc_history *h, struct kc_error *err);

/* One webhook's part of a group commit, and its outcome. */
struct kc_accept {
	const struct kc_stock_report *reports;
	size_t n;
	double now;
	const struct kc_history *history;	/* or NULL */
	int rc;				/* 0: stored with the commit */
	struct kc_error err;		/* why not */
};
/*
 * Several webhooks in one transaction (one fsync), each all or nothing.
 * -1 when the transaction failed: then none of them is stored.
 */
int kc_store_accept_group(struct kc_store *st, struct kc_accept *const *items,
    size_t n, struct kc_error *err);

/*
 * Up to max inbox rows not yet tried by this run, oldest first.  run_id
 * tells this run's tries apart from earlier ones.
 */
int kc_store_inbox_take(struct kc_store *st, int64_t run_id, size_t max,
    struct kc_inbox_row **rows, size_t *n, struct kc_error *err);
void kc_store_inbox_rows_free(struct kc_inbox_row *rows, size_t n);
long kc_store_inbox_count(struct kc_store *st);
/* Rows that run_id has not tried yet. */
long kc_store_inbox_untried(struct kc_store *st, int64_t run_id);

/* Starts/ends a write transaction around a batch of the calls below. */
int kc_store_begin(struct kc_store *st, struct kc_error *err);
int kc_store_commit(struct kc_store *st, struct kc_error *err);
void kc_store_rollback(struct kc_store *st);
/*
 * After a call above failed: whether the same transaction may well succeed
 * if run again (a busy SQLite file; on MariaDB a deadlock, a lock wait
 * that timed out, a connection that dropped).
 */
int kc_store_retryable(const struct kc_store *st);

/*
 * The row is settled: removes it from the inbox unless a newer value
 * replaced it meanwhile (seq differs), which then stays for the next round.
 */
int kc_store_inbox_done(struct kc_store *st, const char *sku, int64_t seq,
    struct kc_error *err);
/* The row stays; the try is counted and the reason kept. */
int kc_store_inbox_retry(struct kc_store *st, const char *sku, int64_t seq,
    int64_t run_id, const char *reason, struct kc_error *err);

/* Both sides agree that the shop holds qty for sku. */
int kc_store_ledger_agree(struct kc_store *st, const char *sku,
    long long qty, double now, struct kc_error *err);
/* -1 when unknown. */
int kc_store_ledger_get(struct kc_store *st, const char *sku,
    long long *agreed_qty, double *in_stock, double *in_reserve);

/* Replaces what the map knows of sku with the given matches. */
int kc_store_map_clear(struct kc_store *st, const char *sku,
    struct kc_error *err);
int kc_store_map_add(struct kc_store *st, const char *sku, long long id,
    long long parent_id, const char *type, const char *manage_stock,
    long long qty, int has_qty, double now, struct kc_error *err);

/* What the map knows of one SKU: its first product and how many it has. */
struct kc_map_entry {
	long long id, parent_id;
	char type[16];			/* simple, variable, variation, ... */
	char manage[8];			/* yes, no, parent */
	double confirmed_at;		/* when the shop last showed this product with it */
	long long count;		/* products the map holds for the SKU */
};
/* 0 found, KC_STORE_ABSENT, -1 failed. */
int kc_store_map_one(struct kc_store *st, const char *sku,
    struct kc_map_entry *out, struct kc_error *err);

/* Records (or, with detail NULL, clears) a problem of one SKU. */
int kc_store_problem(struct kc_store *st, const char *sku,
    enum kc_problem kind, const char *detail, double now,
    struct kc_error *err);

int kc_store_history_add(struct kc_store *st, const struct kc_history *h,
    struct kc_error *err);

/* Small named values (sync cursors and such): 0, KC_STORE_ABSENT or -1. */
int kc_store_kv_get(struct kc_store *st, const char *key, char *out,
    size_t outsz);
/* value NULL removes the key. */
int kc_store_kv_set(struct kc_store *st, const char *key, const char *value,
    struct kc_error *err);

/*
 * Takes a slot in the sliding 60-second window of KeyCRM requests.  Sets
 * *wait_ms to 0 when the request may go now (the slot is taken), or to how
 * long to wait before asking again.
 */
int kc_store_rate_take(struct kc_store *st, long per_minute, double now,
    int64_t *wait_ms, struct kc_error *err);

/* What the ledger knows of one SKU, for a sync decision. */
struct kc_ledger_state {
	int known;			/* a ledger row exists */
	long long agreed_qty;		/* -1: never agreed */
	int keycrm_known;		/* KeyCRM's numbers were seen */
	double in_stock, in_reserve;	/* KeyCRM's last numbers */
	int64_t seq;			/* change counter of the row */
	double agreed_at;		/* when both sides last agreed */
	int pending;			/* the inbox holds a report for it */
	char sku[256];			/* the ledger's spelling: KeyCRM's once it reported */
};

/* Found or not (out->known); -1 only when the read failed. */
int kc_store_ledger_state(struct kc_store *st, const char *sku,
    struct kc_ledger_state *out);
/* The current value of the change counter (every ledger change bumps it); -1 on failure. */
int64_t kc_store_change_seq(struct kc_store *st);
/*
 * KeyCRM accepted shop_qty (sent as keycrm_in_stock) for sku: records the
 * agreement, but only if the row's seq is still if_seq - a webhook that
 * arrived meanwhile wins, and the next run decides.
 */
int kc_store_ledger_sent(struct kc_store *st, const char *sku, int64_t if_seq,
    long long shop_qty, double keycrm_in_stock, double keycrm_in_reserve,
    double now, struct kc_error *err);
/* When both sides first agreed on any SKU: 0, KC_STORE_ABSENT or -1. */
int kc_store_ledger_first_agreed(struct kc_store *st, double *at);

/* Variable products' SKUs, to spot variations that show their parent's. */
int kc_store_parent_set(struct kc_store *st, long long id, const char *sku,
    double now, struct kc_error *err);
/* The next parent id above after seen since seen_since; 0 when none, -1 on failure. */
long long kc_store_parent_next(struct kc_store *st, long long after,
    double seen_since);
/* 0, KC_STORE_ABSENT or -1. */
int kc_store_parent_sku(struct kc_store *st, long long id, char *out,
    size_t outsz);

/*
 * shop_orders_in_keycrm = yes: an order line has now taken `reduced` of
 * sku's stock in all (0 once cancelled or refunded); a change since it was
 * last seen is recorded as happening in the shop at `at`.
 */
int kc_store_order_line(struct kc_store *st, long long line_id, const char *sku,
    double reduced, double at, struct kc_error *err);
/* How much of an order line was counted so far (0 for a new line); -1 on failure. */
int kc_store_order_counted(struct kc_store *st, long long line_id,
    double *counted);

/*
 * The stock decrease of a SKU that shop orders explain, measured from an
 * agreement.  Order times are whole seconds, so orders of the agreement's
 * own second cannot be placed before or after it: they are kept apart.
 */
struct kc_explained {
	double after;		/* orders of later seconds */
	double same_second;	/* orders of the agreement's second */
};
int kc_store_explained(struct kc_store *st, const char *sku, double agreed_at,
    struct kc_explained *out);

/* A new run id, unlike any earlier one (random: no commit); -1 on failure. */
int64_t kc_store_next_run_id(struct kc_store *st);

#endif
