/*
 * sync_send.c - sending: what a run decided goes to KeyCRM in as few PUTs as it
 * allows, with KeyCRM's numbers asked for where the ledger lacks them, and
 * the ledger updated only where nothing changed since the decision (SPEC 4.3).
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
#include "sync_send.h"

int
sync_ensure_crm(struct run *run, struct kc_error *err)
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

void
sync_clear_pending(struct run *run)
{
	for (size_t i = 0; i < run->npend; i++)
		free(run->pend[i].v.sku);
	run->npend = 0;
}

/*
 * Where the ledger has not seen KeyCRM's numbers for a SKU yet (nothing
 * came from its webhook), they are asked for before sending: the value
 * sent depends on the reserve KeyCRM holds, or, with shop_orders_in_keycrm,
 * on its in_stock.
 */
int
kc_send_resolve(struct kc_keycrm *crm, long warehouse_id,
    struct kc_send *const *v, size_t n, struct kc_error *err)
{
	const char *skus[KC_KEYCRM_PAGE_MAX];
	size_t idx[KC_KEYCRM_PAGE_MAX], k = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && v[i]->need != KC_NEED_NOTHING && !v[i]->unknown) {
			skus[k] = v[i]->sku;
			idx[k++] = i;
		}
		if (k == KC_KEYCRM_PAGE_MAX || (i == n && k > 0)) {
			struct kc_keycrm_offer *offers;
			size_t got;

			if (kc_keycrm_get_stocks_of(crm, skus, k, warehouse_id, &offers,
			    &got, err) != 0)
				return -1;
			for (size_t j = 0; j < k; j++) {
				struct kc_send *p = v[idx[j]];
				const struct kc_keycrm_offer *o = NULL;

				for (size_t m = 0; m < got; m++)
					if (offers[m].sku && kc_sku_equal(offers[m].sku, p->sku))
						o = &offers[m];
				if (o == NULL) {
					p->unknown = 1;
					continue;
				}
				/* From now on KeyCRM is told in its own spelling. */
				if (strcmp(o->sku, p->sku) != 0) {
					char *spelling = kc_strdup(o->sku);
					if (spelling != NULL) {
						free(p->sku);
						p->sku = spelling;
					}
				}
				p->reserve = o->reserve;
				if (p->need == KC_NEED_STOCK)
					p->send = o->quantity + p->change;
				else
					p->send = (double)p->shop_qty + (o->reserve > 0 ? o->reserve : 0);
				p->need = KC_NEED_NOTHING;
			}
			kc_keycrm_offers_free(offers, got);
			k = 0;
		}
	}
	return 0;
}

/* The run's record of a SKU KeyCRM does not know. */
static void
note_unknown(struct run *run, const char *sku, double now)
{
	run->res->unknown++;
	if (json_array_size(run->res->unknown_skus) < LIST_CAP)
		json_array_append_new(run->res->unknown_skus, json_string(sku));
	kc_store_problem(&run->st, sku, KC_PROBLEM_NOT_IN_KEYCRM,
	    "KeyCRM has no offer with this SKU", now, NULL);
}

/* Sends what is pending to KeyCRM and records what it accepted. */
int
sync_flush(struct run *run)
{
	struct kc_keycrm_stock *items = NULL;
	struct pending **which = NULL;
	struct kc_send **vals = NULL;
	struct kc_error err = { { 0 } };
	size_t n = 0, m = 0, sent = 0;
	int rc = 0;

	if (run->npend == 0)
		return 0;
	items = calloc(run->npend, sizeof(*items));
	which = calloc(run->npend, sizeof(*which));
	vals = calloc(run->npend, sizeof(*vals));
	if (items == NULL || which == NULL || vals == NULL) {
		sync_add_error(run->res, "out of memory");
		rc = -1;
		goto out;
	}
	/* A webhook may have come in since the decision: it wins. */
	for (size_t i = 0; i < run->npend; i++) {
		struct kc_ledger_state ls;
		struct pending *p = &run->pend[i];

		if (kc_store_ledger_state(&run->st, p->v.sku, &ls) != 0) {
			sync_add_error(run->res, "cannot read the state database before sending;"
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
		vals[n] = &p->v;
		which[n++] = p;
	}
	if (n == 0)
		goto out;
	if (sync_ensure_crm(run, &err) != 0 ||
	    kc_send_resolve(&run->crm, run->cfg->keycrm_warehouse_id,
	    vals, n, &err) != 0) {
		sync_add_error(run->res, err.msg);
		run->stop = 1;
		run->rewind = 1;
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (which[i]->v.unknown) {
			note_unknown(run, which[i]->v.sku, kc_now());
			continue;
		}
		items[m].sku = which[i]->v.sku;
		items[m].quantity = which[i]->v.send;
		which[m++] = which[i];
	}
	n = m;
	if (n == 0)
		goto out;
	rc = kc_keycrm_put_stocks(&run->crm, run->cfg->keycrm_warehouse_id, items,
	    n, &sent, &err);
	if (rc != 0) {
		sync_add_error(run->res, err.msg);
		run->stop = 1;
		run->rewind = 1;
	}
	if (sent > 0 && kc_store_begin(&run->st, &err) == 0) {
		double now = kc_now();
		for (size_t i = 0; i < sent; i++) {
			if (items[i].unknown) {
				note_unknown(run, items[i].sku, now);
				continue;
			}
			run->res->sent++;
			if (kc_store_ledger_sent(&run->st, which[i]->v.sku, which[i]->seq,
			    which[i]->v.shop_qty, which[i]->v.send, which[i]->v.reserve, now,
			    &err) != 0)
				break;
		}
		if (kc_store_commit(&run->st, &err) != 0)
			sync_add_error(run->res, err.msg);
	} else if (sent > 0) {
		sync_add_error(run->res, err.msg);
	}
out:
	free(items);
	free(which);
	free(vals);
	sync_clear_pending(run);
	return rc;
}

int
sync_push_pending(struct run *run, const char *sku, long long qty, double send,
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
	memset(&run->pend[run->npend], 0, sizeof(run->pend[run->npend]));
	run->pend[run->npend].v.sku = kc_strdup(sku);
	run->pend[run->npend].v.shop_qty = qty;
	run->pend[run->npend].v.send = send;
	run->pend[run->npend].v.reserve = reserve;
	run->pend[run->npend].v.need = (enum kc_decide_need)need;
	run->pend[run->npend].v.change = change;
	run->pend[run->npend].seq = seq;
	if (run->pend[run->npend].v.sku == NULL)
		return -1;
	run->npend++;
	return 0;
}
