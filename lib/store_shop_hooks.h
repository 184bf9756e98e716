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
};

/* 0, or -1 when the state cannot be read (err says why). */
int kc_store_shop_hook_stats(struct kc_store *st, struct kc_shop_hook_stats *s,
    struct kc_error *err);

#endif
