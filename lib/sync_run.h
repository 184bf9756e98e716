/*
 * sync_run.h - what the files of a sync run share (sync.c, sync_scan.c,
 * sync_send.c, sync_orders.c, sync_pull.c); nothing outside them uses it.
 */
#ifndef KC_SYNC_RUN_H
#define KC_SYNC_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "decide.h"
#include "keycrm.h"
#include "store.h"
#include "sync.h"
#include "sync_send.h"
#include "woo.h"

#define OVERLAP_SECONDS 300	/* modified_after reaches back this far */
#define APPLY_WAIT_MS 30000	/* for a running applier before the scan */
#define LIST_CAP 1000

/* A set of strings, to notice a SKU the shop shows twice. */
struct strset {
	char **slot;
	size_t cap, count;
};

/* A value decided, and the ledger's seq it was decided on. */
struct pending {
	struct kc_send v;
	int64_t seq;		/* ledger seq when decided; 0: no row */
};

enum phase { PHASE_PRODUCTS, PHASE_VARIATIONS, PHASE_PARENTS, PHASE_DONE };
extern const char *const sync_phase_names[];

struct run {
	const struct kc_config *cfg;
	const struct kc_sync_options *opts;
	struct kc_sync_result *res;
	struct kc_store st;
	struct kc_woo woo;
	struct kc_keycrm crm;
	int woo_ready, crm_ready;
	int64_t deadline;
	struct kc_decide_mode mode;
	int full;
	double started;		/* when this scan began (kept across calls) */
	char since[32];		/* modified_after, "" for the whole catalogue */
	enum phase phase;
	long page;
	long long parent;	/* PHASE_PARENTS: the parent being read */
	struct pending *pend;
	size_t npend, cap;
	struct strset seen;
	struct strset parents;	/* "id:sku" of variable products seen */
	/* Where the first decision not yet sent was made, to go back to. */
	enum phase unsent_phase;
	long unsent_page;
	long long unsent_parent;
	int rewind;		/* a send failed: resume from there */
	/* Dry run with shop_orders_in_keycrm: explanations kept in memory. */
	struct kc_woo_order_line *dry_lines;
	size_t ndry;
	int stop;		/* out of time, or a side failed */
};

void sync_add_error(struct kc_sync_result *r, const char *msg);
int sync_out_of_time(struct run *run);
void sync_progress(struct run *run, const char *phase, long done,
    long total);
void sync_gmt_text(double t, char *out, size_t outsz);
int sync_ensure_crm(struct run *run, struct kc_error *err);
void sync_clear_pending(struct run *run);
int sync_flush(struct run *run);
int sync_push_pending(struct run *run, const char *sku, long long qty,
    double send, double reserve, int64_t seq, int need, double change);
int sync_explained(struct run *run, const char *sku, double agreed_at,
    struct kc_explained *out);
int sync_read_orders(struct run *run);
void sync_strset_free(struct strset *set);
int sync_save_cursor(struct run *run, struct kc_error *err);
int sync_load_cursor(struct run *run);
int sync_scan(struct run *run);
int sync_run_pull(struct run *run, struct kc_error *err);

#endif
