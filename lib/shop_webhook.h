/*
 * shop_webhook.h - WooCommerce -> KeyCRM in seconds (SPEC section 3,
 * "webhook.cgi at /keycrm/shop-webhook").
 *
 * WooCommerce's own product webhooks arrive signed with
 * shop_webhook_secret; each payload is reduced to what the push needs and
 * stored durably before the answer, because WooCommerce never resends a
 * delivery.  The push itself (shop_push.h) runs after the answer.
 */
#ifndef KC_SHOP_WEBHOOK_H
#define KC_SHOP_WEBHOOK_H

#include <stddef.h>

#include "request.h"
#include "store_shop.h"
#include "worker.h"

/* base64(HMAC-SHA256(secret, body)) equals given, compared in constant time. */
int kc_shop_signature_ok(const char *secret, const char *body, size_t len,
    const char *given);

/*
 * Reduces a wc/v3 product or variation object to *out (free out->p.sku);
 * -1 with err set when it is not one.
 */
int kc_shop_payload_reduce(const char *body, size_t len,
    struct kc_shop_change *out, struct kc_error *err);

/* Whether the request's path (SCRIPT_NAME or REQUEST_URI) ends in /shop-webhook. */
int kc_shop_webhook_path(const struct kc_request *req);

/* Handles one delivery (or ping); sets job->push when a change was stored. */
void kc_shop_webhook_handle(struct kc_request *req, struct kc_job *job);

#endif
