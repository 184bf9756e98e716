/*
 * sync_send.h - a value decided for KeyCRM (SPEC 4.2) and KeyCRM's numbers
 * it may still need, shared by the sync run (sync_send.c) and the shop
 * webhook's pusher (shop_push.c).
 */
#ifndef KC_SYNC_SEND_H
#define KC_SYNC_SEND_H

#include <stddef.h>

#include "decide.h"
#include "keycrm.h"
#include "util.h"

struct kc_send {
	char *sku;		/* owned; KeyCRM's own spelling once it was asked */
	long long shop_qty;	/* the shop's quantity the value stands for */
	double send;		/* KeyCRM's in_stock to send */
	double reserve;		/* KeyCRM's reserve the value was built on */
	/*
	 * KeyCRM's numbers are needed but the ledger has not seen them:
	 * KC_NEED_STOCK (shop_orders_in_keycrm: send = in_stock + change) or
	 * KC_NEED_RESERVE (send = shop quantity + reserve).
	 */
	enum kc_decide_need need;
	double change;
	int unknown;		/* KeyCRM has no offer with the SKU */
};

/*
 * Asks KeyCRM (50 SKUs per request) for the numbers of every value whose
 * need is not KC_NEED_NOTHING, and completes it: send and reserve set,
 * need KC_NEED_NOTHING, sku in KeyCRM's spelling; or unknown set when
 * KeyCRM has no offer with the SKU.  0, or -1 (err says why; values not
 * reached keep their need).
 */
int kc_send_resolve(struct kc_keycrm *crm, long warehouse_id,
    struct kc_send *const *v, size_t n, struct kc_error *err);

#endif
