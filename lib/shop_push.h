/*
 * shop_push.h - pushes what WooCommerce's webhooks reported (store_shop.h)
 * to KeyCRM, after the webhook's answer (SPEC section 3, "Then pushed").
 *
 * One pusher at a time (state_dir/push.lock).  It waits a few seconds
 * first, so that a burst of deliveries becomes one PUT /offers/stocks
 * (KEYCRM_SYNC_PUSH_DELAY_MS in the process environment; default 3000),
 * decides every change with the sync's own decision function
 * (decide.h), sends what must be sent and records the agreement in the
 * ledger as a sync run does.  What cannot be sent stays queued for the
 * next pusher; the cron sync reconciles everything anyway.
 *
 * Left queued, not pushed: changes before the first complete sync (its
 * baselines come first), and every change with shop_orders_in_keycrm =
 * yes (whether an order explains a sale needs the orders a sync reads).
 * A change stored before the latest sync run started is dropped unsent
 * in every mode: that run read the shop after it (or its cursor still
 * covers it), so the kept quantity may be older than what it agreed.  So
 * is a change modified in the shop before that run started, whenever it
 * arrived (WooCommerce delivers late, out of order, or not at all).
 */
#ifndef KC_SHOP_PUSH_H
#define KC_SHOP_PUSH_H

#include "config.h"
#include "store.h"
#include "worker.h"

#define KC_PUSH_DELAY_ENV "KEYCRM_SYNC_PUSH_DELAY_MS"
#define KC_PUSH_DELAY_MS_DEFAULT 3000

struct kc_push_result {
	long sent, agreed, unchanged, skipped, held, unknown, superseded, queued;
};

/*
 * Takes the push lock (without waiting: a pusher at work takes these
 * changes too), waits delay_ms, pushes.  0 done, 1 another pusher is at
 * work, -1 on error (err says why; nothing handled is lost).
 */
int kc_shop_push_run(const struct kc_config *cfg, struct kc_store *st,
    long delay_ms, struct kc_push_result *res, struct kc_error *err);

/* The job webhook.cgi runs after storing a change. */
void kc_shop_push_job(const struct kc_job *job);

#endif
