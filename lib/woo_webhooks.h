/*
 * woo_webhooks.h - the shop's own webhooks through its REST API
 * (/wc/v3/webhooks; reference/woocommerce-webhooks.md section 1): the
 * ones that deliver product changes to our /shop-webhook, found, created,
 * read, re-enabled and removed.
 *
 * Ours are the product.updated webhooks that deliver to our URL or carry
 * our name (a webhook made before the site's address changed is still
 * ours).  The REST object shows the status (active, paused, disabled)
 * but neither the secret nor the failure count.  Every answer is parsed
 * strictly: a field missing or of the wrong kind is an error that says
 * which, never a guess.
 */
#ifndef KC_WOO_WEBHOOKS_H
#define KC_WOO_WEBHOOKS_H

#include <stddef.h>

#include <jansson.h>

#include "woo.h"

#define KC_SHOP_HOOK_NAME "keycrm-sync: stock changes"
#define KC_SHOP_HOOK_TOPIC "product.updated"
/* 32 random bytes as hex: URL-safe, as shop_webhook_secret must be. */
#define KC_SHOP_HOOK_SECRET_LEN 64
/* More of ours than this is not something we made. */
#define KC_SHOP_HOOKS_MAX 20

struct kc_shop_hook {
	long long id;
	char name[256];
	char status[16];		/* active, paused or disabled */
	char topic[64];
	char delivery_url[1024];
};

/*
 * Ours among the shop's webhooks (read page by page), at most
 * KC_SHOP_HOOKS_MAX, oldest first.  0, or -1 (err says why).
 */
int kc_woo_hooks_ours(struct kc_woo *w, const char *url,
    struct kc_shop_hook *out, size_t *n, struct kc_error *err);

/* POST /wc/v3/webhooks: product.updated to url, signed with secret. */
int kc_woo_hook_create(struct kc_woo *w, const char *url, const char *secret,
    struct kc_shop_hook *out, struct kc_error *err);

/* PUT {"status": status}; out gets the webhook as the shop answers it. */
int kc_woo_hook_set_status(struct kc_woo *w, long long id, const char *status,
    struct kc_shop_hook *out, struct kc_error *err);

/* DELETE ?force=true (webhooks have no trash).  A webhook already gone is 1. */
int kc_woo_hook_delete(struct kc_woo *w, long long id, struct kc_error *err);

/* One webhook object of the REST API, strictly; for tests and fuzzing. */
int kc_woo_hook_parse(const json_t *v, struct kc_shop_hook *out,
    struct kc_error *err);

/* A new secret: KC_SHOP_HOOK_SECRET_LEN hex digits from RAND_bytes. */
int kc_shop_hook_new_secret(char out[KC_SHOP_HOOK_SECRET_LEN + 1],
    struct kc_error *err);

#endif
