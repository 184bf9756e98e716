/*
 * sync_pull.c - the backfill, KeyCRM -> shop: KeyCRM's stock list through the inbox,
 * page by page, resuming where the last call stopped.
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

/* Backfill: KeyCRM's stock list through the inbox, then applied. */
int
sync_run_pull(struct run *run, struct kc_error *err)
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

		if (sync_out_of_time(run))
			break;
		if (kc_keycrm_get_stocks(&run->crm, page, run->cfg->keycrm_warehouse_id,
		    &offers, &n, &last, &e) != 0) {
			sync_add_error(res, e.msg);
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
			sync_add_error(res, reports ? e.msg : "out of memory");
			free(reports);
			kc_keycrm_offers_free(offers, n);
			res->complete = 0;
			break;
		}
		res->pulled += (long)k;
		free(reports);
		kc_keycrm_offers_free(offers, n);
		sync_progress(run, "backfill", page, last);
		kc_store_pull_page_save(&run->st, page + 1, NULL);
		if (page >= last) {
			kc_store_pull_page_save(&run->st, 0, NULL);
			kc_store_first_scan_over(&run->st, NULL);
			break;
		}
	}
	return 0;
}
