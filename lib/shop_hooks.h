/*
 * shop_hooks.h - registering WooCommerce's product webhook for us, as the
 * settings page and keycrm-sync-setup offer it (SPEC section 3, "shop
 * webhook"): connect (a new secret, saved like the page's other settings,
 * then the webhook created with it; older ones of ours removed), read
 * their state, re-enable them, remove them.  The shop's side is
 * woo_webhooks.h; this file adds the secret and the order of the steps,
 * so that a refusal of the shop changes nothing here.
 */
#ifndef KC_SHOP_HOOKS_H
#define KC_SHOP_HOOKS_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "store.h"
#include "woo_webhooks.h"

/* Where the page says, unless shop_webhook_url says otherwise. */
void kc_shop_hooks_url(const struct kc_config *cfg, const char *page_url,
    char *out, size_t outsz);

struct kc_shop_hooks {
	struct kc_shop_hook items[KC_SHOP_HOOKS_MAX];
	size_t n;
};

/* Ours as the shop reports them.  0, or -1 (err says why). */
int kc_shop_hooks_read(const struct kc_config *cfg, const char *url,
    int64_t deadline_ms, struct kc_shop_hooks *out, struct kc_error *err);

/*
 * A new secret saved (state_dir/settings.conf, or the database with
 * mysql_host), a new webhook created with it, then the older ones of ours
 * removed.  When the shop refuses the creation the old secret is put
 * back and nothing has changed.  0 done, 1 done but an older webhook
 * could not be removed (err says which), -1 nothing done (err says why),
 * -2 the webhook not made and the old secret not put back (err says so).
 * st may be NULL without mysql_host.
 */
int kc_shop_hooks_connect(const struct kc_config *cfg, struct kc_store *st,
    const char *url, const char *who, int64_t deadline_ms,
    struct kc_shop_hook *made, size_t *removed, struct kc_error *err);

/* PUT status active on each of ours that is not; *enabled counts them. */
int kc_shop_hooks_enable(const struct kc_config *cfg, const char *url,
    int64_t deadline_ms, size_t *enabled, struct kc_error *err);

/*
 * Removes every one of ours, then the secret the page saved.  0, or -1
 * (err says why; what was removed before stays removed).
 */
int kc_shop_hooks_remove(const struct kc_config *cfg, struct kc_store *st,
    const char *url, const char *who, int64_t deadline_ms, size_t *removed,
    struct kc_error *err);

/* When the webhook was last connected here (0: unknown). */
double kc_shop_hooks_connected_at(struct kc_store *st);

/*
 * The shell's way (sync.cgi --shop-webhook ACTION): connect, status,
 * repair (re-enable) or remove, reported on out.  Exit status: 0 done,
 * 1 failed or something needs attention, 2 bad usage.
 */
int kc_shop_hooks_shell(struct kc_config *cfg, const char *action,
    FILE *out, FILE *errout);

#endif
