/*
 * sync_scan.c - reading the shop and deciding each item (SPEC 4): the listing pages,
 * the cursor that lets a stopped run resume, and the gathering of what
 * kc_sync_decide() needs.
 */
#include "sync_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "keycrm.h"
#include "sku.h"
#include "stock.h"
#include "store.h"
#include "store_runstate.h"

const char *const sync_phase_names[] = { "products", "variations", "parents", "done" };

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Adds s; returns 1 when it was already there, -1 on no memory. */
static int
strset_add(struct strset *set, const char *s)
{
	size_t i;

	if (set->count * 2 >= set->cap) {
		struct strset bigger = { NULL, set->cap ? set->cap * 2 : 1024, 0 };
		bigger.slot = calloc(bigger.cap, sizeof(char *));
		if (bigger.slot == NULL)
			return -1;
		for (i = 0; i < set->cap; i++)
			if (set->slot[i] != NULL) {
				size_t j = hash_str(set->slot[i]) & (bigger.cap - 1);
				while (bigger.slot[j] != NULL)
					j = (j + 1) & (bigger.cap - 1);
				bigger.slot[j] = set->slot[i];
			}
		free(set->slot);
		bigger.count = set->count;
		*set = bigger;
	}
	for (i = hash_str(s) & (set->cap - 1); set->slot[i] != NULL;
	    i = (i + 1) & (set->cap - 1))
		if (strcmp(set->slot[i], s) == 0)
			return 1;
	if ((set->slot[i] = kc_strdup(s)) == NULL)
		return -1;
	set->count++;
	return 0;
}

static int
strset_has(const struct strset *set, const char *s)
{
	if (set->cap == 0)
		return 0;
	for (size_t i = hash_str(s) & (set->cap - 1); set->slot[i] != NULL;
	    i = (i + 1) & (set->cap - 1))
		if (strcmp(set->slot[i], s) == 0)
			return 1;
	return 0;
}

void
sync_strset_free(struct strset *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->slot[i]);
	free(set->slot);
	memset(set, 0, sizeof(*set));
}

/* Where this scan stands, so that a stopped run can be resumed. */
int
sync_save_cursor(struct run *run, struct kc_error *err)
{
	struct kc_scan_cursor c;

	if (run->opts->dry_run)
		return 0;
	memset(&c, 0, sizeof(c));
	/*
	 * Decisions not sent yet send the resumed scan back to the page they
	 * came from: a run killed (or cut off from its database) before it
	 * sends them must not leave a cursor past them.  The run that
	 * resumes would skip them, record the scan as complete, and the next
	 * incremental scan starts after them: read, decided, never sent.
	 */
	if (run->npend > 0) {
		kc_strlcpy(c.phase, sync_phase_names[run->unsent_phase], sizeof(c.phase));
		c.page = run->unsent_page;
		c.parent = run->unsent_parent;
	} else {
		kc_strlcpy(c.phase, sync_phase_names[run->phase], sizeof(c.phase));
		c.page = run->page;
		c.parent = run->parent;
	}
	c.full = run->full;
	c.started = run->started;
	kc_strlcpy(c.since, run->since, sizeof(c.since));
	return kc_store_scan_cursor_save(&run->st, &c, err);
}

/* 1 when a stopped scan was found, 0 when none, -1 when it cannot be read. */
int
sync_load_cursor(struct run *run)
{
	struct kc_scan_cursor c;
	int rc = kc_store_scan_cursor(&run->st, &c);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	for (int p = PHASE_PRODUCTS; p < PHASE_DONE; p++)
		if (strcmp(c.phase, sync_phase_names[p]) == 0)
			run->phase = (enum phase)p;
	run->page = c.page;
	run->parent = c.parent;
	run->full = c.full;
	run->started = c.started > 0 ? c.started : kc_now();
	kc_strlcpy(run->since, c.since, sizeof(run->since));
	return 1;
}

/*
 * 1 when a variation shows its parent's SKU (WooCommerce shows the
 * parent's when a variation has none of its own), 0 when not, -1 when the
 * state could not be read.
 */
static int
shows_parent_sku(struct run *run, const struct kc_woo_product *p)
{
	char parent_sku[256], key[300];
	int rc;

	if (p->parent_id <= 0 || p->sku == NULL || p->sku[0] == '\0')
		return 0;
	snprintf(key, sizeof(key), "%lld:%s", p->parent_id, p->sku);
	if (strset_has(&run->parents, key))
		return 1;
	rc = kc_store_parent_sku(&run->st, p->parent_id, parent_sku, sizeof(parent_sku));
	if (rc < 0)
		return -1;
	return rc == 0 && strcmp(parent_sku, p->sku) == 0;
}

/* A dry run's plan row: what would be sent, and KeyCRM's number now. */
static void
plan_add(struct run *run, const struct kc_woo_product *p,
    const struct kc_ledger_state *ls, const struct kc_decision *d)
{
	json_t *item;

	if (json_array_size(run->res->plan) >= 10000)
		return;
	item = json_pack("{s:s,s:I,s:f}", "sku", p->sku, "shop", (json_int_t)p->qty,
	    "send", d->send);
	if (item == NULL)
		return;
	/* KeyCRM's available stock as the ledger last saw it. */
	if (ls->keycrm_known)
		json_object_set_new(item, "keycrm", json_real(run->cfg->subtract_reserve ?
		    ls->in_stock - ls->in_reserve : ls->in_stock));
	/* A dry run asks KeyCRM nothing: say where a number is not known. */
	if (d->need != KC_NEED_NOTHING)
		json_object_set_new(item, "plus_keycrm_reserve", json_true());
	json_array_append_new(run->res->plan, item);
}

/* Gathers what SPEC 4 needs to decide one shop item, then acts on it. */
static int
consider(struct run *run, const struct kc_woo_product *p, int64_t seq_before)
{
	struct kc_ledger_state ls;
	struct kc_decide_input in;
	struct kc_decision d;
	struct kc_error err = { { 0 } };
	int dup, parent;
	const char *why;
	char *key;

	run->res->scanned++;
	if ((parent = shows_parent_sku(run, p)) < 0)
		goto read_failed;
	why = kc_stock_skip_reason(p, KC_FROM_SHOP, run->cfg->manage_stock, parent);
	if (why != NULL) {
		run->res->skipped++;
		/* Kept per SKU for the page; a full scan prunes what it no longer sees. */
		if (!run->opts->dry_run && p->sku[0] != '\0' &&
		    strcmp(p->type, "variable") != 0 && !parent)
			kc_store_problem(&run->st, p->sku, KC_PROBLEM_SKIPPED, why, kc_now(), NULL);
		return 0;
	}
	/* SPEC 4.6: duplicates are SKUs equal under the shop's identity rule. */
	if ((key = kc_sku_key(p->sku)) == NULL)
		return -1;
	dup = strset_add(&run->seen, key);
	free(key);
	if (dup != 0) {
		run->res->skipped++;
		if (dup > 0 && !run->opts->dry_run)
			kc_store_problem(&run->st, p->sku, KC_PROBLEM_DUPLICATE,
			    "several shop products have this SKU",
			    kc_now(), NULL);
		return dup < 0 ? -1 : 0;
	}
	if (kc_store_ledger_state(&run->st, p->sku, &ls) != 0)
		goto read_failed;
	memset(&in, 0, sizeof(in));
	in.item = p;
	in.shows_parent_sku = parent;
	in.ledger = &ls;
	in.scan_seq = seq_before;
	if (run->mode.orders_in_keycrm && ls.agreed_qty >= 0 &&
	    sync_explained(run, p->sku, ls.agreed_at, &in.orders) != 0)
		goto read_failed;
	kc_sync_decide(&run->mode, &in, &d);
	switch (d.kind) {
	case KC_DECIDE_SKIP:
		run->res->skipped++;
		return 0;
	case KC_DECIDE_HOLD:
		run->res->held++;
		return 0;
	case KC_DECIDE_NOTHING:
		return 0;
	case KC_DECIDE_BASELINE:
		run->res->baseline++;
		/* fall through */
	case KC_DECIDE_AGREE:
		if (run->opts->dry_run)
			return 0;
		return kc_store_ledger_agree(&run->st, p->sku, p->qty, kc_now(), &err);
	case KC_DECIDE_SEND:
		break;
	}
	run->res->changed++;
	if (run->opts->dry_run) {
		plan_add(run, p, &ls, &d);
		return 0;
	}
	/* KeyCRM is told in its own spelling of the SKU when we know it. */
	return sync_push_pending(run, ls.keycrm_known && ls.sku[0] ? ls.sku : p->sku,
	    p->qty, d.send, d.reserve, ls.known ? ls.seq : 0, d.need, d.change);
read_failed:
	/* A guess here could send a stale number or lose a sale: stop. */
	sync_add_error(run->res, "cannot read the state database; the run stopped"
	    " before deciding what to send");
	return -1;
}

/* Decides one page of shop items; seq_before was read before asking. */
static int
decide_page(struct run *run, const struct kc_woo_products *got, int64_t seq_before)
{
	struct kc_error err = { { 0 } };
	double now = kc_now();
	int rc = 0;

	if (!run->opts->dry_run && kc_store_begin(&run->st, &err) != 0) {
		sync_add_error(run->res, err.msg);
		run->stop = 1;
		return -1;
	}
	for (size_t i = 0; i < got->count && rc == 0; i++) {
		const struct kc_woo_product *p = &got->items[i];
		if (strcmp(p->type, "variable") == 0) {
			char key[300];
			snprintf(key, sizeof(key), "%lld:%s", p->id, p->sku);
			if (strset_add(&run->parents, key) < 0)
				rc = -1;
			if (!run->opts->dry_run)
				kc_store_parent_set(&run->st, p->id, p->sku, now, NULL);
		}
		if (rc == 0)
			rc = consider(run, p, seq_before);
	}
	if (!run->opts->dry_run && kc_store_commit(&run->st, &err) != 0) {
		sync_add_error(run->res, err.msg);
		rc = -1;
	}
	/* A full request's worth: send it (outside the page's transaction). */
	if (rc == 0 && run->npend >= KC_KEYCRM_PUT_MAX)
		rc = sync_flush(run);
	if (rc != 0)
		run->stop = 1;
	return rc;
}

/*
 * Walks every page of one listing from the cursor on.  The first page
 * tells how many there are; after it, up to woo_parallel_requests pages
 * are asked for at once (the shop's PHP workers serve them in parallel)
 * and decided in order.  Returns 1 when the shop has no such route.
 */
static int
scan_listing(struct run *run, enum kc_woo_listing what, long long parent)
{
	struct kc_woo_products pages[KC_WOO_PARALLEL_MAX];
	long total = -1, count, k;
	struct kc_error err = { { 0 } };
	const char *since = run->since[0] ? run->since : NULL;

	for (;;) {
		int64_t seq_before;
		int rc;

		if (sync_out_of_time(run))
			return sync_save_cursor(run, &err) == 0 ? 0 : -1;
		count = total > 0 ? total - run->page + 1 : 1;
		if (count > run->woo.parallel)
			count = run->woo.parallel;
		if (count < 1)
			count = 1;
		memset(pages, 0, sizeof(pages));
		if ((seq_before = kc_store_change_seq(&run->st)) < 0) {
			sync_add_error(run->res, "cannot read the state database (change counter)");
			run->stop = 1;
			return -1;
		}
		rc = kc_woo_list_pages(&run->woo, what, parent, since, run->page, count,
		    pages, &total, &err);
		if (rc != 0) {
			for (k = 0; k < count; k++)
				kc_woo_products_free(&pages[k]);
			if (run->woo.no_route && what == KC_WOO_LIST_VARIATIONS)
				return 1;
			sync_add_error(run->res, err.msg);
			run->stop = 1;
			return -1;
		}
		for (k = 0; k < count; k++) {
			if (rc == 0)
				rc = decide_page(run, &pages[k], seq_before);
			kc_woo_products_free(&pages[k]);
			if (rc != 0)
				continue;
			sync_progress(run, sync_phase_names[run->phase], run->page, total);
			if (total < 0 || run->page >= total) {
				for (k++; k < count; k++)
					kc_woo_products_free(&pages[k]);
				return 0;
			}
			run->page++;
			if (sync_save_cursor(run, &err) != 0) {
				sync_add_error(run->res, err.msg);
				rc = -1;
			}
			kc_crash_point("sync-after-page");
		}
		if (rc != 0)
			return -1;
	}
}

static void
next_phase(struct run *run, enum phase phase)
{
	struct kc_error err;

	run->phase = phase;
	run->page = 1;
	run->parent = 0;
	sync_save_cursor(run, &err);
}

int
sync_scan(struct run *run)
{
	int rc;

	if (run->phase == PHASE_PRODUCTS) {
		if (scan_listing(run, KC_WOO_LIST_PRODUCTS, 0) != 0 || run->stop)
			return -1;
		rc = kc_store_variations_per_parent(&run->st);
		if (rc < 0) {
			sync_add_error(run->res, "cannot read the state database (variations)");
			run->stop = 1;
			return -1;
		}
		next_phase(run, rc ? PHASE_PARENTS : PHASE_VARIATIONS);
	}
	if (run->phase == PHASE_VARIATIONS) {
		rc = scan_listing(run, KC_WOO_LIST_VARIATIONS, 0);
		if (rc > 0) {
			/* No analytics route: read each variable product's list. */
			if (!run->opts->dry_run)
				kc_store_variations_per_parent_set(&run->st, NULL);
			next_phase(run, PHASE_PARENTS);
		} else if (rc != 0 || run->stop) {
			return -1;
		} else {
			next_phase(run, PHASE_DONE);
		}
	}
	if (run->phase == PHASE_PARENTS) {
		/* Only the variable products this scan's product pages showed. */
		if (run->parent == 0)
			run->parent = kc_store_parent_next(&run->st, 0, run->started - 1);
		while (run->parent != 0) {
			if (run->parent < 0) {
				sync_add_error(run->res, "cannot read the state database (variable products)");
				run->stop = 1;
				return -1;
			}
			if (scan_listing(run, KC_WOO_LIST_PARENT_VARIATIONS, run->parent) != 0 ||
			    run->stop)
				return -1;
			run->parent = kc_store_parent_next(&run->st, run->parent,
			    run->started - 1);
			run->page = 1;
		}
		next_phase(run, PHASE_DONE);
	}
	return 0;
}
