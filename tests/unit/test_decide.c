/*
 * SPEC 4.2-4.5 and 3 ("First run") for one shop item: kc_sync_decide(),
 * one row a case.
 */
#include "unit.h"

#include <math.h>

#include "decide.h"

enum { FIRST = 1, PUSH = 2, ORDERS = 4, NO_RESERVE = 8, ENABLE = 16 };
enum { PENDING = 1, DURING_SCAN = 2, KC_KNOWN = 4, PARENT_SKU = 8, NO_QTY = 16,
    UNMANAGED = 32 };

#define NONE (-1)		/* agreed: never */
#define SCAN_SEQ 100

static const struct row {
	const char *what;
	int mode, flags;
	long long shop, agreed;
	double in_stock, in_reserve;
	double after, same_second;		/* orders explain (decrease) */
	enum kc_decision_kind kind;
	double send;
	enum kc_decide_need need;
	double change;
	enum kc_same_second how;
} rows[] = {
	/* SPEC 4.5: never guessed at. */
	{ "variation showing its parent's SKU", 0, PARENT_SKU, 5, 4, 0, 0, 0, 0,
	  KC_DECIDE_SKIP, 0, 0, 0, 0 },
	{ "managed, no quantity", 0, NO_QTY, 5, 4, 0, 0, 0, 0, KC_DECIDE_SKIP, 0, 0, 0, 0 },
	{ "not managing stock, even with enable", ENABLE, UNMANAGED, 5, 4, 0, 0, 0, 0,
	  KC_DECIDE_SKIP, 0, 0, 0, 0 },
	/* SPEC 4.3: KeyCRM's newer word first. */
	{ "a report waits in the inbox", 0, PENDING | KC_KNOWN, 5, 4, 9, 0, 0, 0,
	  KC_DECIDE_HOLD, 0, 0, 0, 0 },
	{ "KeyCRM reported during the scan", 0, DURING_SCAN | KC_KNOWN, 5, 4, 9, 0, 0, 0,
	  KC_DECIDE_HOLD, 0, 0, 0, 0 },
	{ "held even on a push all", PUSH, PENDING, 5, 4, 0, 0, 0, 0, KC_DECIDE_HOLD, 0, 0, 0, 0 },
	/* SPEC 3, first run: only the never-agreed is a baseline. */
	{ "first run, never agreed", FIRST, 0, 7, NONE, 0, 0, 0, 0, KC_DECIDE_BASELINE, 0, 0, 0, 0 },
	{ "first run, never agreed, KeyCRM known", FIRST, KC_KNOWN, 7, NONE, 3, 1, 0, 0,
	  KC_DECIDE_BASELINE, 0, 0, 0, 0 },
	{ "first run, a webhook set 10, a sale made 9", FIRST, KC_KNOWN, 9, 10, 10, 0, 0, 0,
	  KC_DECIDE_SEND, 9, KC_NEED_NOTHING, 0, 0 },
	{ "first run, webhook agreed and nothing sold", FIRST, KC_KNOWN, 10, 10, 10, 0, 0, 0,
	  KC_DECIDE_NOTHING, 0, 0, 0, 0 },
	{ "first run, webhook agreed, reserve held", FIRST, KC_KNOWN, 9, 10, 12, 2, 0, 0,
	  KC_DECIDE_SEND, 11, KC_NEED_NOTHING, 0, 0 },
	/* Push all: everything managed is sent, agreed or not. */
	{ "push all, first run, never agreed", FIRST | PUSH, 0, 7, NONE, 0, 0, 0, 0,
	  KC_DECIDE_SEND, 7, KC_NEED_RESERVE, 0, 0 },
	{ "push all, already agreed", PUSH, KC_KNOWN, 7, 7, 9, 2, 0, 0,
	  KC_DECIDE_SEND, 9, KC_NEED_NOTHING, 0, 0 },
	{ "push all ignores orders", PUSH | ORDERS, KC_KNOWN, 6, 7, 9, 2, 1, 0,
	  KC_DECIDE_SEND, 8, KC_NEED_NOTHING, 0, 0 },
	/* Ordinary runs. */
	{ "unchanged", 0, KC_KNOWN, 5, 5, 7, 2, 0, 0, KC_DECIDE_NOTHING, 0, 0, 0, 0 },
	{ "new SKU after the first run", 0, 0, 4, NONE, 0, 0, 0, 0,
	  KC_DECIDE_SEND, 4, KC_NEED_RESERVE, 0, 0 },
	{ "sale, reserve unknown", 0, 0, 4, 5, 0, 0, 0, 0, KC_DECIDE_SEND, 4, KC_NEED_RESERVE, 0, 0 },
	{ "sale, reserve known", 0, KC_KNOWN, 4, 5, 8, 3, 0, 0,
	  KC_DECIDE_SEND, 7, KC_NEED_NOTHING, 0, 0 },
	{ "fractional reserve", 0, KC_KNOWN, 4, 5, 8.5, 2.5, 0, 0,
	  KC_DECIDE_SEND, 6.5, KC_NEED_NOTHING, 0, 0 },
	{ "a negative reserve is never added", 0, KC_KNOWN, 4, 5, 8, -3, 0, 0,
	  KC_DECIDE_SEND, 4, KC_NEED_NOTHING, 0, 0 },
	{ "subtract_reserve = no", NO_RESERVE, KC_KNOWN, 4, 5, 8, 3, 0, 0,
	  KC_DECIDE_SEND, 4, KC_NEED_NOTHING, 0, 0 },
	{ "subtract_reserve = no, KeyCRM unknown", NO_RESERVE, 0, 4, 5, 0, 0, 0, 0,
	  KC_DECIDE_SEND, 4, KC_NEED_NOTHING, 0, 0 },
	/* SPEC 4.2, shop_orders_in_keycrm = yes. */
	{ "orders: a sale after the agreement", ORDERS, KC_KNOWN, 4, 5, 5, 0, 1, 0,
	  KC_DECIDE_AGREE, 0, 0, 0, KC_SAME_SECOND_NONE },
	{ "orders: a sale before the agreement", ORDERS, KC_KNOWN, 4, 5, 5, 0, 0, 0,
	  KC_DECIDE_SEND, 4, KC_NEED_NOTHING, -1, KC_SAME_SECOND_NONE },
	{ "orders: a restock and a sale", ORDERS, KC_KNOWN, 8, 5, 5, 0, 1, 0,
	  KC_DECIDE_SEND, 9, KC_NEED_NOTHING, 4, KC_SAME_SECOND_NONE },
	{ "orders: sale and restock cancel out in the shop", ORDERS, KC_KNOWN, 5, 5, 5, 0, 1, 0,
	  KC_DECIDE_SEND, 6, KC_NEED_NOTHING, 1, KC_SAME_SECOND_NONE },
	{ "orders: KeyCRM's stock unknown", ORDERS, 0, 8, 5, 0, 0, 1, 0,
	  KC_DECIDE_SEND, 0, KC_NEED_STOCK, 4, KC_SAME_SECOND_NONE },
	{ "orders: nothing happened", ORDERS, KC_KNOWN, 5, 5, 5, 0, 0, 0,
	  KC_DECIDE_NOTHING, 0, 0, 0, KC_SAME_SECOND_NONE },
	/* Orders in the agreement's own second. */
	{ "same second: the sale came after", ORDERS, KC_KNOWN, 4, 5, 5, 0, 0, 1,
	  KC_DECIDE_AGREE, 0, 0, 0, KC_SAME_SECOND_AFTER },
	{ "same second: the sale was in the agreed number", ORDERS, KC_KNOWN, 5, 5, 5, 0, 0, 1,
	  KC_DECIDE_NOTHING, 0, 0, 0, KC_SAME_SECOND_BEFORE },
	{ "same second, and a later sale", ORDERS, KC_KNOWN, 3, 5, 5, 0, 1, 1,
	  KC_DECIDE_AGREE, 0, 0, 0, KC_SAME_SECOND_AFTER },
	{ "same second, before, and a later sale", ORDERS, KC_KNOWN, 4, 5, 5, 0, 1, 1,
	  KC_DECIDE_AGREE, 0, 0, 0, KC_SAME_SECOND_BEFORE },
	{ "same second, neither adds up: the reading that sends less", ORDERS, KC_KNOWN,
	  7, 5, 5, 0, 0, 1, KC_DECIDE_SEND, 7, KC_NEED_NOTHING, 2, KC_SAME_SECOND_LESS },
	{ "same second, a cancelled order gave stock back", ORDERS, KC_KNOWN, 6, 5, 5, 0, 0, -1,
	  KC_DECIDE_AGREE, 0, 0, 0, KC_SAME_SECOND_AFTER },
	{ "same second, first run with an agreement", ORDERS | FIRST, KC_KNOWN, 4, 5, 5, 0, 0, 1,
	  KC_DECIDE_AGREE, 0, 0, 0, KC_SAME_SECOND_AFTER },
};

static void
decide_row(const struct row *r, struct kc_decision *d)
{
	struct kc_decide_mode mode = {
		.first_scan = (r->mode & FIRST) != 0,
		.push_all = (r->mode & PUSH) != 0,
		.orders_in_keycrm = (r->mode & ORDERS) != 0,
		.subtract_reserve = (r->mode & NO_RESERVE) == 0,
		.manage_stock = (r->mode & ENABLE) ? KC_MANAGE_ENABLE : KC_MANAGE_SKIP,
	};
	struct kc_woo_product item;
	struct kc_ledger_state ls;
	struct kc_decide_input in;

	memset(&item, 0, sizeof(item));
	item.id = 7;
	item.parent_id = (r->flags & PARENT_SKU) ? 6 : 0;
	strcpy(item.type, (r->flags & PARENT_SKU) ? "variation" : "simple");
	item.sku = (char *)"SKU-1";
	item.manage = (r->flags & UNMANAGED) ? KC_WOO_MANAGE_NO : KC_WOO_MANAGE_YES;
	item.has_qty = (r->flags & (NO_QTY | UNMANAGED)) == 0;
	item.qty = r->shop;
	memset(&ls, 0, sizeof(ls));
	ls.known = r->agreed != NONE || (r->flags & (KC_KNOWN | DURING_SCAN)) != 0;
	ls.agreed_qty = r->agreed;
	ls.agreed_at = 1700000000.5;
	ls.keycrm_known = (r->flags & KC_KNOWN) != 0;
	ls.in_stock = r->in_stock;
	ls.in_reserve = r->in_reserve;
	ls.seq = (r->flags & DURING_SCAN) ? SCAN_SEQ + 1 : SCAN_SEQ - 1;
	ls.pending = (r->flags & PENDING) != 0;
	memset(&in, 0, sizeof(in));
	in.item = &item;
	in.shows_parent_sku = (r->flags & PARENT_SKU) != 0;
	in.ledger = &ls;
	in.scan_seq = SCAN_SEQ;
	in.orders.after = r->after;
	in.orders.same_second = r->same_second;
	kc_sync_decide(&mode, &in, d);
}

static void
every_rule_of_the_table(void **state)
{
	static const char *const kinds[] = { "skip", "hold", "nothing", "baseline",
	    "agree", "send" };

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct kc_decision d;

		decide_row(r, &d);
		if (d.kind != r->kind)
			fail_msg("%s: %s, expected %s", r->what, kinds[d.kind], kinds[r->kind]);
		if ((d.kind == KC_DECIDE_SKIP || d.kind == KC_DECIDE_HOLD) && d.reason == NULL)
			fail_msg("%s: no reason given", r->what);
		if (d.kind == KC_DECIDE_SEND && (d.need != r->need ||
		    (d.need != KC_NEED_STOCK && fabs(d.send - r->send) > 1e-9)))
			fail_msg("%s: send %g (need %d), expected %g (need %d)", r->what,
			    d.send, d.need, r->send, r->need);
		if ((r->mode & ORDERS) && !(r->mode & PUSH) && d.kind == KC_DECIDE_SEND &&
		    fabs(d.change - r->change) > 1e-9)
			fail_msg("%s: change %g, expected %g", r->what, d.change, r->change);
		if ((r->mode & ORDERS) && !(r->mode & PUSH) && d.kind != KC_DECIDE_SKIP &&
		    d.kind != KC_DECIDE_HOLD && d.same_second != r->how)
			fail_msg("%s: same-second reading %d, expected %d", r->what,
			    d.same_second, r->how);
	}
}

/* The value sent always makes KeyCRM's available stock the shop's. */
static void
sent_value_gives_the_shop_quantity(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct kc_decision d;

		if ((r->mode & (ORDERS | NO_RESERVE)) || !(r->flags & KC_KNOWN) ||
		    r->in_reserve < 0)
			continue;
		decide_row(r, &d);
		if (d.kind == KC_DECIDE_SEND &&
		    fabs(d.send - r->in_reserve - (double)r->shop) > 1e-9)
			fail_msg("%s: KeyCRM would show %g, the shop has %lld", r->what,
			    d.send - r->in_reserve, r->shop);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_rule_of_the_table),
		cmocka_unit_test(sent_value_gives_the_shop_quantity),
	};
	return cmocka_run_group_tests_name("decide", tests, NULL, NULL);
}
