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
#include "decide.h"
#include "keycrm.h"
#include "lock.h"
#include "sku.h"
#include "stock.h"
#include "settings_firstinstall.h"
#include "store_problems.h"
#include "store.h"
#include "store_runstate.h"
#include "woo.h"

#define OVERLAP_SECONDS 300	/* modified_after reaches back this far */
#define APPLY_WAIT_MS 30000	/* for a running applier before the scan */
#define LIST_CAP 1000

/* A set of strings, to notice a SKU the shop shows twice. */
struct strset {
	char **slot;
	size_t cap, count;
};

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

static void
strset_free(struct strset *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->slot[i]);
	free(set->slot);
	memset(set, 0, sizeof(*set));
}

struct pending {
	char *sku;
	long long shop_qty;
	double send;
	int64_t seq;		/* ledger seq when decided; 0: no row */
	double reserve;		/* KeyCRM's reserve, recorded with the send */
	/*
	 * KeyCRM's numbers are needed but the ledger has not seen them:
	 * KC_NEED_STOCK (shop_orders_in_keycrm: send = in_stock + change) or
	 * KC_NEED_RESERVE (send = shop quantity + reserve); asked for at flush.
	 */
	int need;
	double change;
};

/* KC_NEED_* of decide.h, and one more found out when asking KeyCRM. */
enum { NEED_UNKNOWN_OFFER = KC_NEED_STOCK + 1 };

enum phase { PHASE_PRODUCTS, PHASE_VARIATIONS, PHASE_PARENTS, PHASE_DONE };
static const char *const phase_names[] = { "products", "variations", "parents", "done" };

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

static void
add_error(struct kc_sync_result *r, const char *msg)
{
	if (json_array_size(r->errors) < 20)
		json_array_append_new(r->errors, json_string(msg));
}

static int
out_of_time(struct run *run)
{
	if (kc_monotonic_ms() < run->deadline - 1000 && !kc_apply_stop)
		return 0;
	run->res->complete = 0;
	run->stop = 1;
	return 1;
}

static void
progress(struct run *run, const char *phase, long done, long total)
{
	if (run->opts->progress != NULL)
		run->opts->progress(run->opts->progress_ctx, phase, done, total);
}

/* GMT text as WooCommerce's modified_after takes it. */
static void
gmt_text(double t, char *out, size_t outsz)
{
	time_t secs = (time_t)t;
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%S", &tm);
}

/* Where this scan stands, so that a stopped run can be resumed. */
static int
save_cursor(struct run *run, struct kc_error *err)
{
	struct kc_scan_cursor c;

	if (run->opts->dry_run)
		return 0;
	memset(&c, 0, sizeof(c));
	kc_strlcpy(c.phase, phase_names[run->phase], sizeof(c.phase));
	c.page = run->page;
	c.parent = run->parent;
	c.full = run->full;
	c.started = run->started;
	kc_strlcpy(c.since, run->since, sizeof(c.since));
	return kc_store_scan_cursor_save(&run->st, &c, err);
}

/* 1 when a stopped scan was found, 0 when none, -1 when it cannot be read. */
static int
load_cursor(struct run *run)
{
	struct kc_scan_cursor c;
	int rc = kc_store_scan_cursor(&run->st, &c);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	for (int p = PHASE_PRODUCTS; p < PHASE_DONE; p++)
		if (strcmp(c.phase, phase_names[p]) == 0)
			run->phase = (enum phase)p;
	run->page = c.page;
	run->parent = c.parent;
	run->full = c.full;
	run->started = c.started > 0 ? c.started : kc_now();
	kc_strlcpy(run->since, c.since, sizeof(run->since));
	return 1;
}

static int
ensure_crm(struct run *run, struct kc_error *err)
{
	if (run->crm_ready)
		return 0;
	if (run->cfg->keycrm_warehouse_id <= 0) {
		kc_error_set(err, "keycrm_warehouse_id is not set: KeyCRM needs to know which warehouse to write");
		return -1;
	}
	if (kc_keycrm_init(&run->crm, run->cfg, &run->st, err) != 0)
		return -1;
	run->crm.http.deadline_ms = run->deadline;
	run->crm_ready = 1;
	return 0;
}

static void
clear_pending(struct run *run)
{
	for (size_t i = 0; i < run->npend; i++)
		free(run->pend[i].sku);
	run->npend = 0;
}

/*
 * Where the ledger has not seen KeyCRM's numbers for a SKU yet (nothing
 * came from its webhook), they are asked for (50 SKUs per request) before
 * sending: the value sent depends on the reserve KeyCRM holds, or, with
 * shop_orders_in_keycrm, on its in_stock.  SKUs KeyCRM has no offer for
 * are dropped here and counted as unknown.
 */
static int
resolve_keycrm_numbers(struct run *run, struct kc_keycrm_stock *items,
    struct pending **which, size_t *n, struct kc_error *err)
{
	const char *skus[KC_KEYCRM_PAGE_MAX];
	size_t idx[KC_KEYCRM_PAGE_MAX], k = 0, i, j;

	for (i = 0; i <= *n; i++) {
		if (i < *n && which[i]->need != KC_NEED_NOTHING) {
			skus[k] = which[i]->sku;
			idx[k++] = i;
		}
		if (k == KC_KEYCRM_PAGE_MAX || (i == *n && k > 0)) {
			struct kc_keycrm_offer *offers;
			size_t got;

			if (kc_keycrm_get_stocks_of(&run->crm, skus, k,
			    run->cfg->keycrm_warehouse_id, &offers, &got, err) != 0)
				return -1;
			for (j = 0; j < k; j++) {
				struct pending *p = which[idx[j]];
				const struct kc_keycrm_offer *o = NULL;

				for (size_t m = 0; m < got; m++)
					if (offers[m].sku && kc_sku_equal(offers[m].sku, p->sku))
						o = &offers[m];
				if (o == NULL) {
					p->need = NEED_UNKNOWN_OFFER;
					continue;
				}
				/* From now on KeyCRM is told in its own spelling. */
				if (strcmp(o->sku, p->sku) != 0) {
					char *spelling = kc_strdup(o->sku);
					if (spelling != NULL) {
						free(p->sku);
						items[idx[j]].sku = spelling;
						p->sku = spelling;
					}
				}
				p->reserve = o->reserve;
				if (p->need == KC_NEED_STOCK)
					p->send = o->quantity + p->change;
				else
					p->send = (double)p->shop_qty + (o->reserve > 0 ? o->reserve : 0);
				items[idx[j]].quantity = p->send;
				p->need = KC_NEED_NOTHING;
			}
			kc_keycrm_offers_free(offers, got);
			k = 0;
		}
	}
	for (i = j = 0; i < *n; i++) {
		if (which[i]->need == NEED_UNKNOWN_OFFER) {
			run->res->unknown++;
			if (json_array_size(run->res->unknown_skus) < LIST_CAP)
				json_array_append_new(run->res->unknown_skus,
				    json_string(which[i]->sku));
			kc_store_problem(&run->st, which[i]->sku, KC_PROBLEM_NOT_IN_KEYCRM,
			    "KeyCRM has no offer with this SKU", kc_now(), NULL);
			continue;
		}
		items[j] = items[i];
		which[j++] = which[i];
	}
	*n = j;
	return 0;
}

/* Sends what is pending to KeyCRM and records what it accepted. */
static int
flush(struct run *run)
{
	struct kc_keycrm_stock *items = NULL;
	struct pending **which = NULL;
	struct kc_error err = { { 0 } };
	size_t n = 0, sent = 0;
	int rc = 0;

	if (run->npend == 0)
		return 0;
	items = calloc(run->npend, sizeof(*items));
	which = calloc(run->npend, sizeof(*which));
	if (items == NULL || which == NULL) {
		add_error(run->res, "out of memory");
		rc = -1;
		goto out;
	}
	/* A webhook may have come in since the decision: it wins. */
	for (size_t i = 0; i < run->npend; i++) {
		struct kc_ledger_state ls;
		struct pending *p = &run->pend[i];

		if (kc_store_ledger_state(&run->st, p->sku, &ls) != 0) {
			add_error(run->res, "cannot read the state database before sending;"
			    " nothing was sent");
			run->stop = 1;
			run->rewind = 1;
			rc = -1;
			goto out;
		}
		if (ls.pending || (ls.known ? ls.seq : 0) != p->seq) {
			run->res->held++;
			continue;
		}
		items[n].sku = p->sku;
		items[n].quantity = p->send;
		which[n++] = p;
	}
	if (n == 0)
		goto out;
	if (ensure_crm(run, &err) != 0 ||
	    resolve_keycrm_numbers(run, items, which, &n, &err) != 0) {
		add_error(run->res, err.msg);
		run->stop = 1;
		run->rewind = 1;
		rc = -1;
		goto out;
	}
	rc = kc_keycrm_put_stocks(&run->crm, run->cfg->keycrm_warehouse_id, items,
	    n, &sent, &err);
	if (rc != 0) {
		add_error(run->res, err.msg);
		run->stop = 1;
		run->rewind = 1;
	}
	if (sent > 0 && kc_store_begin(&run->st, &err) == 0) {
		double now = kc_now();
		for (size_t i = 0; i < sent; i++) {
			if (items[i].unknown) {
				run->res->unknown++;
				if (json_array_size(run->res->unknown_skus) < LIST_CAP)
					json_array_append_new(run->res->unknown_skus,
					    json_string(items[i].sku));
				kc_store_problem(&run->st, items[i].sku, KC_PROBLEM_NOT_IN_KEYCRM,
				    "KeyCRM has no offer with this SKU", now, NULL);
				continue;
			}
			run->res->sent++;
			if (kc_store_ledger_sent(&run->st, which[i]->sku, which[i]->seq,
			    which[i]->shop_qty, which[i]->send, which[i]->reserve, now,
			    &err) != 0)
				break;
		}
		if (kc_store_commit(&run->st, &err) != 0)
			add_error(run->res, err.msg);
	} else if (sent > 0) {
		add_error(run->res, err.msg);
	}
out:
	free(items);
	free(which);
	clear_pending(run);
	return rc;
}

static int
push_pending(struct run *run, const char *sku, long long qty, double send,
    double reserve, int64_t seq, int need, double change)
{
	if (run->npend == 0) {
		run->unsent_phase = run->phase;
		run->unsent_page = run->page;
		run->unsent_parent = run->parent;
	}
	if (run->npend == run->cap) {
		size_t cap = run->cap ? run->cap * 2 : 256;
		struct pending *p = realloc(run->pend, cap * sizeof(*p));
		if (p == NULL)
			return -1;
		run->pend = p;
		run->cap = cap;
	}
	run->pend[run->npend].sku = kc_strdup(sku);
	run->pend[run->npend].shop_qty = qty;
	run->pend[run->npend].send = send;
	run->pend[run->npend].seq = seq;
	run->pend[run->npend].reserve = reserve;
	run->pend[run->npend].need = need;
	run->pend[run->npend].change = change;
	if (run->pend[run->npend].sku == NULL)
		return -1;
	run->npend++;
	return 0;
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

/*
 * The stock decrease of sku that shop orders made since both sides last
 * agreed explain (SPEC 4.2).  Orders from before the agreement are in the
 * agreed number already, whichever side brought them there.
 */
static int
explained(struct run *run, const char *sku, double agreed_at,
    struct kc_explained *out)
{
	double second = floor(agreed_at);

	if (kc_store_explained(&run->st, sku, agreed_at, out) != 0)
		return -1;
	for (size_t i = 0; i < run->ndry; i++) {
		const struct kc_woo_order_line *l = &run->dry_lines[i];

		if (strcmp(l->sku, sku) != 0 || l->created_at < second)
			continue;
		if (l->created_at >= second + 1)
			out->after += l->reduced;
		else
			out->same_second += l->reduced;
	}
	return 0;
}

/*
 * shop_orders_in_keycrm = yes: the shop's orders reach KeyCRM as orders,
 * which reserve and write off there.  Reads the orders changed since the
 * last scan and records how much stock each line took (or gave back), so
 * that a decision sends only the part of a change they do not explain.
 */
static int
read_orders(struct run *run)
{
	char since[32];
	double last_scan, last_full;
	long page = 1, total = 1;
	struct kc_error err = { { 0 } };
	int rc = kc_store_scan_times(&run->st, &last_scan, &last_full);

	/*
	 * Before the first complete scan, the orders since the first agreement
	 * (a KeyCRM webhook applied) explain what changed since.
	 */
	if (rc == 0 && last_scan <= 0)
		rc = kc_store_ledger_first_agreed(&run->st, &last_scan);
	if (rc < 0) {
		add_error(run->res, "cannot read the state database (orders' cursor)");
		run->stop = 1;
		return -1;
	}
	if (rc == KC_STORE_ABSENT)
		return 0;
	gmt_text(last_scan - OVERLAP_SECONDS, since, sizeof(since));
	for (; page <= total; page++) {
		struct kc_woo_order_line *lines;
		size_t n;

		if (out_of_time(run))
			return -1;
		if (kc_woo_list_orders(&run->woo, since, page, &lines, &n, &total, &err) != 0) {
			add_error(run->res, err.msg);
			run->stop = 1;
			return -1;
		}
		/* A line's change happened when the order was placed or last changed. */
		for (size_t i = 0; i < n; i++) {
			struct kc_woo_order_line *l = &lines[i];
			double counted, at;

			if (kc_store_order_counted(&run->st, l->line_id, &counted) != 0) {
				kc_woo_order_lines_free(lines, n);
				add_error(run->res, "cannot read the state database (order lines)");
				run->stop = 1;
				return -1;
			}
			at = counted == 0 ? l->created_at : l->modified_at;
			l->created_at = at > 0 ? at : kc_now();
			if (run->opts->dry_run)
				l->reduced -= counted;	/* kept in memory: the change */
		}
		if (run->opts->dry_run) {
			struct kc_woo_order_line *all = realloc(run->dry_lines,
			    (run->ndry + n + 1) * sizeof(*all));
			if (all != NULL) {
				memcpy(all + run->ndry, lines, n * sizeof(*lines));
				run->dry_lines = all;
				run->ndry += n;
				free(lines);
			} else {
				kc_woo_order_lines_free(lines, n);
			}
			continue;
		}
		rc = kc_store_begin(&run->st, &err);
		for (size_t i = 0; rc == 0 && i < n; i++)
			rc = kc_store_order_line(&run->st, lines[i].line_id, lines[i].sku,
			    lines[i].reduced, lines[i].created_at, &err);
		if (rc == 0)
			rc = kc_store_commit(&run->st, &err);
		else
			kc_store_rollback(&run->st);
		kc_woo_order_lines_free(lines, n);
		if (rc != 0) {
			/* Unrecorded orders would be pushed as changes: stop. */
			add_error(run->res, err.msg);
			run->stop = 1;
			return -1;
		}
		if (total < 0)
			break;
	}
	return 0;
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
	    explained(run, p->sku, ls.agreed_at, &in.orders) != 0)
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
	return push_pending(run, ls.keycrm_known && ls.sku[0] ? ls.sku : p->sku,
	    p->qty, d.send, d.reserve, ls.known ? ls.seq : 0, d.need, d.change);
read_failed:
	/* A guess here could send a stale number or lose a sale: stop. */
	add_error(run->res, "cannot read the state database; the run stopped"
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
		add_error(run->res, err.msg);
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
		add_error(run->res, err.msg);
		rc = -1;
	}
	/* A full request's worth: send it (outside the page's transaction). */
	if (rc == 0 && run->npend >= KC_KEYCRM_PUT_MAX)
		rc = flush(run);
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

		if (out_of_time(run))
			return save_cursor(run, &err) == 0 ? 0 : -1;
		count = total > 0 ? total - run->page + 1 : 1;
		if (count > run->woo.parallel)
			count = run->woo.parallel;
		if (count < 1)
			count = 1;
		memset(pages, 0, sizeof(pages));
		if ((seq_before = kc_store_change_seq(&run->st)) < 0) {
			add_error(run->res, "cannot read the state database (change counter)");
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
			add_error(run->res, err.msg);
			run->stop = 1;
			return -1;
		}
		for (k = 0; k < count; k++) {
			if (rc == 0)
				rc = decide_page(run, &pages[k], seq_before);
			kc_woo_products_free(&pages[k]);
			if (rc != 0)
				continue;
			progress(run, phase_names[run->phase], run->page, total);
			if (total < 0 || run->page >= total) {
				for (k++; k < count; k++)
					kc_woo_products_free(&pages[k]);
				return 0;
			}
			run->page++;
			if (save_cursor(run, &err) != 0) {
				add_error(run->res, err.msg);
				rc = -1;
			}
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
	save_cursor(run, &err);
}

static int
scan(struct run *run)
{
	int rc;

	if (run->phase == PHASE_PRODUCTS) {
		if (scan_listing(run, KC_WOO_LIST_PRODUCTS, 0) != 0 || run->stop)
			return -1;
		rc = kc_store_variations_per_parent(&run->st);
		if (rc < 0) {
			add_error(run->res, "cannot read the state database (variations)");
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
				add_error(run->res, "cannot read the state database (variable products)");
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
	if ((cursor = load_cursor(run)) < 0 ||
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
			gmt_text(last_scan - OVERLAP_SECONDS, run->since, sizeof(run->since));
		run->phase = PHASE_PRODUCTS;
		run->page = 1;
		run->parent = 0;
	}
	if (kc_woo_init(&run->woo, run->cfg, err) != 0)
		return -1;
	run->woo_ready = 1;
	run->woo.http.deadline_ms = run->deadline;
	if (save_cursor(run, err) != 0)
		return -1;
	if (run->cfg->shop_orders_in_keycrm &&
	    run->phase == PHASE_PRODUCTS && run->page == 1 && read_orders(run) != 0)
		return 0;
	scan(run);
	if (run->npend > 0) {
		/*
		 * Decisions made are sent even when time is up (with a short
		 * grace), so that a resumed scan need not read them again.
		 */
		if (run->crm_ready)
			run->crm.http.deadline_ms = run->deadline + 15000;
		else
			run->deadline += 15000;
		flush(run);
	}
	if (run->rewind && !run->opts->dry_run) {
		run->phase = run->unsent_phase;
		run->page = run->unsent_page;
		run->parent = run->unsent_parent;
		run->res->complete = 0;
		save_cursor(run, err);
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

/* Backfill: KeyCRM's stock list through the inbox, then applied. */
static int
run_pull(struct run *run, struct kc_error *err)
{
	struct kc_sync_result *res = run->res;
	long page = 1, last = 1;

	if (kc_keycrm_init(&run->crm, run->cfg, &run->st, err) != 0)
		return -1;
	run->crm_ready = 1;
	run->crm.http.deadline_ms = run->deadline;
	if (kc_store_pull_page(&run->st, &page) != 0)
		page = 1;
	for (;; page++) {
		struct kc_keycrm_offer *offers = NULL;
		struct kc_stock_report *reports;
		struct kc_error e = { { 0 } };
		size_t n = 0, k = 0;

		if (out_of_time(run))
			break;
		if (kc_keycrm_get_stocks(&run->crm, page, run->cfg->keycrm_warehouse_id,
		    &offers, &n, &last, &e) != 0) {
			add_error(res, e.msg);
			res->complete = 0;
			break;
		}
		reports = calloc(n ? n : 1, sizeof(*reports));
		for (size_t i = 0; reports != NULL && i < n; i++) {
			const char *why;

			if (offers[i].sku == NULL || offers[i].sku[0] == '\0')
				continue;
			why = kc_stock_report_problem(offers[i].quantity, offers[i].reserve);
			if (why != NULL) {
				res->skipped++;
				kc_store_problem(&run->st, offers[i].sku, KC_PROBLEM_SKIPPED,
				    why, kc_now(), NULL);
				continue;
			}
			reports[k].sku = offers[i].sku;
			reports[k].offer_id = offers[i].id;
			reports[k].in_stock = offers[i].quantity;
			reports[k].in_reserve = offers[i].reserve;
			k++;
		}
		if (reports == NULL ||
		    (k > 0 && kc_store_enqueue(&run->st, reports, k, kc_now(), &e) != 0)) {
			add_error(res, reports ? e.msg : "out of memory");
			free(reports);
			kc_keycrm_offers_free(offers, n);
			res->complete = 0;
			break;
		}
		res->pulled += (long)k;
		free(reports);
		kc_keycrm_offers_free(offers, n);
		progress(run, "backfill", page, last);
		kc_store_pull_page_save(&run->st, page + 1, NULL);
		if (page >= last) {
			kc_store_pull_page_save(&run->st, 0, NULL);
			kc_store_first_scan_over(&run->st, NULL);
			break;
		}
	}
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
	    left < APPLY_WAIT_MS ? left / 2 : APPLY_WAIT_MS, -1, &ares, &err);
	if (rc < 0)
		add_error(run->res, err.msg);
	else if (rc > 0)
		add_error(run->res, "the webhook applier is busy; its reports are left to it");
	else if (ares.error[0])
		add_error(run->res, ares.error);
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
	int lock_fd, rc;

	memset(&run, 0, sizeof(run));
	run.cfg = cfg;
	run.opts = opts;
	run.res = res;
	run.deadline = kc_monotonic_ms() + cfg->sync_max_seconds * 1000;
	if (kc_store_open(&run.st, cfg->state_dir, err) != 0)
		return -1;
	rc = kc_lock_take(cfg->state_dir, "sync.lock", 0, &lock_fd, err);
	if (rc != 0) {
		kc_store_close(&run.st);
		res->busy = rc > 0;
		return rc;
	}
	if (!opts->dry_run)
		apply_inbox(&run);
	rc = opts->pull ? run_pull(&run, err) : run_sync(&run, err);
	if (opts->pull && rc == 0 && !out_of_time(&run))
		apply_inbox(&run);
	if (run.woo_ready) {
		res->shop_requests += run.woo.http.requests;
		kc_woo_cleanup(&run.woo);
	}
	if (run.crm_ready) {
		res->keycrm_requests += run.crm.http.requests;
		kc_keycrm_cleanup(&run.crm);
	}
	clear_pending(&run);
	free(run.pend);
	strset_free(&run.seen);
	strset_free(&run.parents);
	kc_woo_order_lines_free(run.dry_lines, run.ndry);
	res->seconds = kc_now() - started;
	if (rc != 0)
		add_error(res, err->msg);
	if (!opts->dry_run)
		record(&run, started);
	first_install_state(&run, opts, res);
	prune_after_full_scan(&run, opts, res);
	kc_lock_release(lock_fd);
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
