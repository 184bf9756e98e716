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
int
sync_flush(struct run *run)
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
		sync_add_error(run->res, "out of memory");
		rc = -1;
		goto out;
	}
	/* A webhook may have come in since the decision: it wins. */
	for (size_t i = 0; i < run->npend; i++) {
		struct kc_ledger_state ls;
		struct pending *p = &run->pend[i];

		if (kc_store_ledger_state(&run->st, p->sku, &ls) != 0) {
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
		items[n].sku = p->sku;
		items[n].quantity = p->send;
		which[n++] = p;
	}
	if (n == 0)
		goto out;
	if (sync_ensure_crm(run, &err) != 0 ||
	    resolve_keycrm_numbers(run, items, which, &n, &err) != 0) {
		sync_add_error(run->res, err.msg);
		run->stop = 1;
		run->rewind = 1;
		rc = -1;
		goto out;
	}
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
			sync_add_error(run->res, err.msg);
	} else if (sent > 0) {
		sync_add_error(run->res, err.msg);
	}
out:
	free(items);
	free(which);
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
