/*
 * sync.c - see sync.h.
 *
 * The shop is read page by page and every page is decided at once, so a
 * run stopped by sync_max_seconds has lost nothing: its cursor (phase and
 * page) is kept in the store and the next call carries on from there.
 *
 * The lost-update rule (SPEC 4.3) is checked twice: a SKU whose ledger
 * changed after its page was requested is held, and again just before
 * sending, since a webhook may arrive between the two; the ledger is then
 * only updated if it still has not changed.
 */
#include "sync.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply.h"
#include "runlock.h"
#include "settings_firstinstall.h"
#include "store_problems.h"
#include "store_runstate.h"
#include "sync_run.h"

void
kc_sync_result_init(struct kc_sync_result *r)
{
	memset(r, 0, sizeof(*r));
	r->complete = 1;
	r->plan = json_array();
	r->errors = json_array();
	r->unknown_skus = json_array();
}

void
kc_sync_result_free(struct kc_sync_result *r)
{
	json_decref(r->plan);
	json_decref(r->errors);
	json_decref(r->unknown_skus);
	memset(r, 0, sizeof(*r));
}

void
sync_add_error(struct kc_sync_result *r, const char *msg)
{
	if (json_array_size(r->errors) < 20)
		json_array_append_new(r->errors, json_string(msg));
}

int
sync_out_of_time(struct run *run)
{
	if (kc_monotonic_ms() < run->deadline - 1000 && !kc_apply_stop)
		return 0;
	run->res->complete = 0;
	run->stop = 1;
	return 1;
}

void
sync_progress(struct run *run, const char *phase, long done, long total)
{
	if (run->opts->progress != NULL)
		run->opts->progress(run->opts->progress_ctx, phase, done, total);
}

/* GMT text as WooCommerce's modified_after takes it. */
void
sync_gmt_text(double t, char *out, size_t outsz)
{
	time_t secs = (time_t)t;
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%S", &tm);
}

static int
run_sync(struct run *run, struct kc_error *err)
{
	struct kc_sync_result *res = run->res;
	double last_full, last_scan;
	int first, cursor;

	first = kc_store_first_scan_pending(&run->st);
	if (first < 0) {
		/* Taking a failed read for a first run would bury unsent changes. */
		kc_error_set(err, "cannot read the state database (%s): the run did not start",
		    run->st.path);
		return -1;
	}
	run->mode.first_scan = first;
	run->mode.push_all = run->opts->push_all;
	run->mode.orders_in_keycrm = run->cfg->shop_orders_in_keycrm;
	run->mode.subtract_reserve = run->cfg->subtract_reserve;
	run->mode.manage_stock = run->cfg->manage_stock;
	res->first_run = run->mode.first_scan && !run->opts->push_all;
	/* A first run may only record baselines: KeyCRM is then not needed. */
	if (!res->first_run && !run->opts->dry_run && run->cfg->keycrm_warehouse_id <= 0) {
		kc_error_set(err, "keycrm_warehouse_id is not set: KeyCRM needs to know which warehouse to write");
		return -1;
	}
	if ((cursor = sync_load_cursor(run)) < 0 ||
	    kc_store_scan_times(&run->st, &last_scan, &last_full) != 0) {
		kc_error_set(err, "cannot read the state database (%s): the run did not start",
		    run->st.path);
		return -1;
	}
	if (!cursor || run->opts->full || run->opts->push_all) {
		run->started = kc_now();
		run->full = run->opts->full || run->opts->push_all || run->mode.first_scan ||
		    last_full <= 0 || last_scan <= 0 ||
		    run->started - last_full >= run->cfg->full_scan_hours * 3600.0;
		run->since[0] = '\0';
		if (!run->full)
			sync_gmt_text(last_scan - OVERLAP_SECONDS, run->since, sizeof(run->since));
		run->phase = PHASE_PRODUCTS;
		run->page = 1;
		run->parent = 0;
	}
	if (kc_woo_init(&run->woo, run->cfg, err) != 0)
		return -1;
	run->woo_ready = 1;
	run->woo.http.deadline_ms = run->deadline;
	if (sync_save_cursor(run, err) != 0)
		return -1;
	if (run->cfg->shop_orders_in_keycrm &&
	    run->phase == PHASE_PRODUCTS && run->page == 1 && sync_read_orders(run) != 0)
		return 0;
	sync_scan(run);
	if (run->npend > 0) {
		/*
		 * Decisions made are sent even when time is up (with a short
		 * grace), so that a resumed scan need not read them again.
		 */
		if (run->crm_ready)
			run->crm.http.deadline_ms = run->deadline + 15000;
		else
			run->deadline += 15000;
		/* Sent: a resumed scan need not read their pages again. */
		if (sync_flush(run) == 0 && !run->rewind && run->phase != PHASE_DONE &&
		    !run->opts->dry_run)
			sync_save_cursor(run, err);
	}
	if (run->rewind && !run->opts->dry_run) {
		run->phase = run->unsent_phase;
		run->page = run->unsent_page;
		run->parent = run->unsent_parent;
		run->res->complete = 0;
		sync_save_cursor(run, err);
	}
	if (run->phase == PHASE_DONE && !run->stop && !run->opts->dry_run) {
		kc_store_scan_finished(&run->st, run->started, run->full, NULL);
		if (run->mode.first_scan)
			kc_store_first_scan_over(&run->st, NULL);
	}
	if (run->phase != PHASE_DONE)
		res->complete = 0;
	return 0;
}

static void
apply_inbox(struct run *run)
{
	struct kc_apply_result ares;
	struct kc_error err = { { 0 } };
	int64_t left = run->deadline - kc_monotonic_ms();
	int rc;

	kc_apply_result_init(&ares);
	rc = kc_apply_run(run->cfg, &run->st,
	    left < APPLY_WAIT_MS ? left / 2 : APPLY_WAIT_MS, NULL, &ares, &err);
	if (rc < 0)
		sync_add_error(run->res, err.msg);
	else if (rc > 0)
		sync_add_error(run->res, "the webhook applier is busy; its reports are left to it");
	else if (ares.error[0])
		sync_add_error(run->res, ares.error);
	run->res->applied += ares.applied;
	run->res->shop_requests += ares.shop_requests;
	kc_apply_result_free(&ares);
}

static void
record(struct run *run, double started)
{
	struct kc_sync_result *res = run->res;
	struct kc_history h = { 0 };
	struct kc_error err;

	h.kind = run->opts->pull ? "pull" : "sync";
	h.started_at = started;
	h.finished_at = kc_now();
	h.received = run->opts->pull ? res->pulled : res->scanned;
	h.queued = res->changed;
	h.applied = res->sent;
	h.unmatched = res->unknown;
	h.skipped = res->skipped;
	h.pending = res->held;
	h.failed = (long)json_array_size(res->errors);
	h.shop_requests = (long)res->shop_requests;
	h.keycrm_requests = (long)res->keycrm_requests;
	h.error = json_array_size(res->errors) ?
	    json_string_value(json_array_get(res->errors, 0)) : NULL;
	if (kc_store_history_add(&run->st, &h, &err) != 0)
		kc_log(KC_LOG_WARN, "cannot record the run: %s", err.msg);
}

/*
 * The settings page offers the first-install choice until it is made
 * (SPEC 3 "First run"): a first run opens it, and a complete push all or
 * backfill, from the page, the URL or a shell, makes it.
 */
static void
first_install_state(struct run *run, const struct kc_sync_options *opts,
    const struct kc_sync_result *res)
{
	char buf[8];

	if (opts->dry_run)
		return;
	if (res->first_run &&
	    kc_store_kv_get(&run->st, KC_FI_OPEN_KEY, buf, sizeof(buf)) != 0)
		kc_store_kv_set(&run->st, KC_FI_OPEN_KEY, "1", NULL);
	if ((opts->push_all || opts->pull) && res->complete &&
	    json_array_size(res->errors) == 0)
		kc_fi_choose(&run->st, opts->pull ? "backfill" : "push_all", NULL, NULL);
}

/*
 * A complete full scan saw the whole catalogue: duplicates and skipped
 * products it did not see again are gone (deleted, fixed), and so is what
 * the SKU map kept of those duplicates.
 */
static void
prune_after_full_scan(struct run *run, const struct kc_sync_options *opts,
    const struct kc_sync_result *res)
{
	struct kc_error err = { { 0 } };

	if (opts->dry_run || opts->pull || !run->full || run->phase != PHASE_DONE ||
	    run->stop || !res->complete || json_array_size(res->errors) > 0)
		return;
	if (kc_store_problems_prune_scan(&run->st, run->started, &err) != 0)
		kc_log(KC_LOG_WARN, "sync: cannot prune the problems list: %s", err.msg);
}

/*
 * The run's log line.  A run an error stopped says the error's text and
 * never that sync_max_seconds stopped it (SPEC section 3).
 */
static void
log_run(const struct kc_sync_options *opts, const struct kc_sync_result *res)
{
	struct kc_buf why;
	size_t nerr = json_array_size(res->errors);

	kc_buf_init(&why);
	if (nerr > 0) {
		kc_buf_addf(&why, "; failed: %s", json_string_value(json_array_get(res->errors, 0)));
		if (nerr > 1)
			kc_buf_addf(&why, " (and %zu more %s)", nerr - 1,
			    nerr > 2 ? "errors" : "error");
	} else if (!res->complete) {
		kc_buf_adds(&why, "; stopped by sync_max_seconds, the next call resumes");
	}
	kc_log(nerr ? KC_LOG_ERROR : KC_LOG_INFO,
	    "%s: %ld scanned, %ld changed, %ld sent, %ld unknown to KeyCRM, %ld skipped,"
	    " %ld held, %ld applied from the inbox; %lu shop and %lu KeyCRM requests"
	    " in %.2f s%s", opts->pull ? "backfill" : opts->dry_run ? "dry run" : "sync",
	    res->scanned, res->changed, res->sent, res->unknown, res->skipped, res->held,
	    res->applied, res->shop_requests, res->keycrm_requests, res->seconds,
	    why.data ? why.data : "");
	kc_buf_free(&why);
}

int
kc_sync_run(const struct kc_config *cfg, const struct kc_sync_options *opts,
    struct kc_sync_result *res, struct kc_error *err)
{
	struct run run;
	double started = kc_now();
	struct kc_runlock *lock;
	int rc;

	memset(&run, 0, sizeof(run));
	run.cfg = cfg;
	run.opts = opts;
	run.res = res;
	run.deadline = kc_monotonic_ms() + cfg->sync_max_seconds * 1000;
	if (kc_store_open_config(&run.st, cfg, err) != 0)
		return -1;
	rc = kc_runlock_take(cfg, "sync", 0, &lock, err);
	if (rc != 0) {
		kc_store_close(&run.st);
		res->busy = rc > 0;
		return rc;
	}
	if (!opts->dry_run)
		apply_inbox(&run);
	rc = opts->pull ? sync_run_pull(&run, err) : run_sync(&run, err);
	if (opts->pull && rc == 0 && !sync_out_of_time(&run))
		apply_inbox(&run);
	if (run.woo_ready) {
		res->shop_requests += run.woo.http.requests;
		kc_woo_cleanup(&run.woo);
	}
	if (run.crm_ready) {
		res->keycrm_requests += run.crm.http.requests;
		kc_keycrm_cleanup(&run.crm);
	}
	sync_clear_pending(&run);
	free(run.pend);
	sync_strset_free(&run.seen);
	sync_strset_free(&run.parents);
	kc_woo_order_lines_free(run.dry_lines, run.ndry);
	res->seconds = kc_now() - started;
	if (rc != 0)
		sync_add_error(res, err->msg);
	if (!opts->dry_run)
		record(&run, started);
	first_install_state(&run, opts, res);
	prune_after_full_scan(&run, opts, res);
	kc_runlock_release(lock);
	kc_store_close(&run.st);
	log_run(opts, res);
	return 0;
}

json_t *
kc_sync_result_json(const struct kc_sync_result *r)
{
	json_t *o = json_pack("{s:s,s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:O,s:O}",
	    "status", json_array_size(r->errors) ? "error" : "ok",
	    "complete", r->complete, "first_run", r->first_run,
	    "scanned", (json_int_t)r->scanned, "changed", (json_int_t)r->changed,
	    "sent", (json_int_t)r->sent, "unknown", (json_int_t)r->unknown,
	    "skipped", (json_int_t)r->skipped, "held", (json_int_t)r->held,
	    "applied", (json_int_t)r->applied,
	    "shop_requests", (json_int_t)r->shop_requests,
	    "keycrm_requests", (json_int_t)r->keycrm_requests,
	    "seconds", round(r->seconds * 1000) / 1000,
	    "errors", r->errors, "unknown_skus", r->unknown_skus);

	if (o != NULL && r->first_run)
		json_object_set_new(o, "baseline", json_integer(r->baseline));
	if (o != NULL && r->pulled > 0)
		json_object_set_new(o, "pulled", json_integer(r->pulled));
	return o;
}
