/*
 * sync_orders.c - shop_orders_in_keycrm = yes (SPEC 4.2): the shop's orders, read and
 * recorded, explain the part of a change KeyCRM books from the order itself.
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

/*
 * The stock decrease of sku that shop orders made since both sides last
 * agreed explain (SPEC 4.2).  Orders from before the agreement are in the
 * agreed number already, whichever side brought them there.
 */
int
sync_explained(struct run *run, const char *sku, double agreed_at,
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
int
sync_read_orders(struct run *run)
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
		sync_add_error(run->res, "cannot read the state database (orders' cursor)");
		run->stop = 1;
		return -1;
	}
	if (rc == KC_STORE_ABSENT)
		return 0;
	sync_gmt_text(last_scan - OVERLAP_SECONDS, since, sizeof(since));
	for (; page <= total; page++) {
		struct kc_woo_order_line *lines;
		size_t n;

		if (sync_out_of_time(run))
			return -1;
		if (kc_woo_list_orders(&run->woo, since, page, &lines, &n, &total, &err) != 0) {
			sync_add_error(run->res, err.msg);
			run->stop = 1;
			return -1;
		}
		/* A line's change happened when the order was placed or last changed. */
		for (size_t i = 0; i < n; i++) {
			struct kc_woo_order_line *l = &lines[i];
			double counted, at;

			if (kc_store_order_counted(&run->st, l->line_id, &counted) != 0) {
				kc_woo_order_lines_free(lines, n);
				sync_add_error(run->res, "cannot read the state database (order lines)");
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
			sync_add_error(run->res, err.msg);
			run->stop = 1;
			return -1;
		}
		if (total < 0)
			break;
	}
	return 0;
}
