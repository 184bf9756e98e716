/*
 * decide.h - SPEC section 4.2-4.5 for one shop item in a sync run: send
 * it to KeyCRM, record it, hold it, or leave it, and why.
 *
 * A pure function: everything it needs is passed in, and it reads no
 * store, asks no server and prints nothing, so that every rule can be
 * tested from a table (tests/unit/test_decide.c).  The sync run gathers
 * the inputs and acts on the decision; a dry run acts by reporting it.
 */
#ifndef KC_DECIDE_H
#define KC_DECIDE_H

#include <stdint.h>

#include "config.h"
#include "store.h"
#include "woo.h"

/* What the run is asked to do. */
struct kc_decide_mode {
	int first_scan;		/* no complete scan yet (SPEC 3, "First run") */
	int push_all;		/* send every managed SKU */
	int orders_in_keycrm;	/* shop_orders_in_keycrm = yes */
	int subtract_reserve;
	enum kc_manage_stock manage_stock;
};

/* One shop item and what is known of it. */
struct kc_decide_input {
	const struct kc_woo_product *item;
	int shows_parent_sku;		/* a variation without a SKU of its own */
	const struct kc_ledger_state *ledger;
	int64_t scan_seq;		/* the ledger's change counter before the page was read */
	struct kc_explained orders;	/* orders mode: what the shop's orders explain */
};

enum kc_decision_kind {
	KC_DECIDE_SKIP,		/* no quantity of its own: reason */
	KC_DECIDE_HOLD,		/* KeyCRM reported meanwhile: the next run decides */
	KC_DECIDE_NOTHING,	/* both sides agree already */
	KC_DECIDE_BASELINE,	/* first run, never agreed: record the shop's quantity */
	KC_DECIDE_AGREE,	/* orders explain the change; KeyCRM books them itself */
	KC_DECIDE_SEND,		/* send: see send and need */
};

/* KeyCRM's numbers the value sent depends on, when the ledger lacks them. */
enum kc_decide_need {
	KC_NEED_NOTHING,
	KC_NEED_RESERVE,	/* send = shop quantity + KeyCRM's reserve */
	KC_NEED_STOCK,		/* send = KeyCRM's in_stock + change */
};

/* How the orders of the agreement's own second were read (orders mode). */
enum kc_same_second {
	KC_SAME_SECOND_NONE,	/* there were none */
	KC_SAME_SECOND_AFTER,	/* after the agreement: that reading adds up */
	KC_SAME_SECOND_BEFORE,	/* already in the agreed quantity: that one adds up */
	KC_SAME_SECOND_LESS,	/* neither adds up: the reading that sends less */
};

struct kc_decision {
	enum kc_decision_kind kind;
	const char *reason;		/* SKIP and HOLD: static text */
	double send;			/* SEND: KeyCRM's in_stock to send */
	enum kc_decide_need need;
	double change;			/* KC_NEED_STOCK: the part of the change to add */
	double reserve;			/* KeyCRM's reserve the value was built on */
	enum kc_same_second same_second;
};

void kc_sync_decide(const struct kc_decide_mode *mode,
    const struct kc_decide_input *in, struct kc_decision *out);

#endif
