/*
 * decide.c - see decide.h.
 */
#include "decide.h"

#include <math.h>
#include <string.h>

#include "stock.h"

/* Quantities are whole in the shop; anything closer than this is equal. */
#define EPSILON 1e-9

static int
is_zero(double v)
{
	return fabs(v) < EPSILON;
}

/*
 * SPEC 4.2 with shop_orders_in_keycrm: the part of the shop's change since
 * the agreement that its orders do not explain (a restock, a correction).
 * Orders of the agreement's own second may lie on either side of it; the
 * reading under which the numbers add up (nothing unexplained) is the one
 * that happened.  When neither does (an order and a restock in the same
 * window), the reading that sends less is taken: a wrong guess then leaves
 * KeyCRM short, never selling stock the shop does not have, and the next
 * full reconciliation by the administrator (compare, push all) repairs it.
 */
static double
unexplained_change(const struct kc_decide_input *in, long long agreed,
    enum kc_same_second *how)
{
	double change = (double)(in->item->qty - agreed);
	double before = change + in->orders.after;
	double after = before + in->orders.same_second;

	if (is_zero(in->orders.same_second)) {
		*how = KC_SAME_SECOND_NONE;
		return before;
	}
	if (is_zero(after)) {
		*how = KC_SAME_SECOND_AFTER;
		return after;
	}
	if (is_zero(before)) {
		*how = KC_SAME_SECOND_BEFORE;
		return before;
	}
	*how = KC_SAME_SECOND_LESS;
	return after < before ? after : before;
}

/* KeyCRM's available stock must come out as the shop's quantity. */
static void
send_shop_quantity(const struct kc_decide_mode *mode,
    const struct kc_ledger_state *ls, long long qty, struct kc_decision *out)
{
	out->kind = KC_DECIDE_SEND;
	out->send = (double)qty;
	if (!mode->subtract_reserve)
		return;
	if (!ls->keycrm_known) {
		out->need = KC_NEED_RESERVE;
		return;
	}
	/* A negative reserve is refused on the way in; never add one. */
	if (isfinite(ls->in_reserve) && ls->in_reserve > 0) {
		out->reserve = ls->in_reserve;
		out->send += ls->in_reserve;
	}
}

void
kc_sync_decide(const struct kc_decide_mode *mode,
    const struct kc_decide_input *in, struct kc_decision *out)
{
	const struct kc_ledger_state *ls = in->ledger;
	long long qty = in->item->qty;

	memset(out, 0, sizeof(*out));
	out->reason = kc_stock_skip_reason(in->item, KC_FROM_SHOP,
	    mode->manage_stock, in->shows_parent_sku);
	if (out->reason != NULL) {
		out->kind = KC_DECIDE_SKIP;
		return;
	}
	/* SPEC 4.3: KeyCRM's newer word is applied first; the next run decides. */
	if (ls->pending) {
		out->kind = KC_DECIDE_HOLD;
		out->reason = "a KeyCRM report for it waits to be applied";
		return;
	}
	if (ls->known && ls->seq > in->scan_seq) {
		out->kind = KC_DECIDE_HOLD;
		out->reason = "KeyCRM reported it while the shop was read";
		return;
	}
	/* SPEC 3, "First run": only what was never agreed is a baseline. */
	if (ls->agreed_qty < 0 && mode->first_scan && !mode->push_all) {
		out->kind = KC_DECIDE_BASELINE;
		return;
	}
	if (mode->push_all || ls->agreed_qty < 0) {
		send_shop_quantity(mode, ls, qty, out);
		return;
	}
	if (mode->orders_in_keycrm) {
		double change = unexplained_change(in, ls->agreed_qty, &out->same_second);

		if (is_zero(change)) {
			out->kind = qty == ls->agreed_qty ? KC_DECIDE_NOTHING : KC_DECIDE_AGREE;
			return;
		}
		out->kind = KC_DECIDE_SEND;
		out->change = change;
		if (!ls->keycrm_known) {
			out->need = KC_NEED_STOCK;
			return;
		}
		out->reserve = ls->in_reserve;
		out->send = ls->in_stock + change;
		return;
	}
	if (qty == ls->agreed_qty) {
		out->kind = KC_DECIDE_NOTHING;
		return;
	}
	send_shop_quantity(mode, ls, qty, out);
}
