/*
 * store_shop_hooks.h - what the settings page tells of WooCommerce's
 * product webhooks from the state: when the shop last notified us, how
 * many products it reported, and how many of those still wait for a
 * pusher.  Reads only.
 */
#ifndef KC_STORE_SHOP_HOOKS_H
#define KC_STORE_SHOP_HOOKS_H

#include "store.h"

struct kc_shop_hook_stats {
	double last_received;		/* 0: nothing received yet */
	long products;			/* products and variations ever reported */
	long handled;			/* ... whose latest report a pusher has handled */
	long pending;			/* ... whose latest report still waits */
	/* Since the `since` given: */
	long pushed;			/* values the pushes sent to KeyCRM */
	long pushes;			/* pushes that sent or failed */
	long delays;			/* deliveries whose delay is known */
	double delay_median, delay_max;	/* change in the shop -> arrival, seconds */
};

/*
 * 0, or -1 when the state cannot be read (err says why).  The pushes and
 * the delays count from since on; a delay is the time from the change's
 * modified time in WooCommerce's payload to its arrival here, as the
 * latest delivery of each product shows it.
 */
int kc_store_shop_hook_stats(struct kc_store *st, double since,
    struct kc_shop_hook_stats *s, struct kc_error *err);

#endif
