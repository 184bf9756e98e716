/*
 * woo_client.h - what the WooCommerce client's files share (woo.c,
 * woo_lookup.c, woo_write.c); nothing outside them uses it.
 */
#ifndef KC_WOO_CLIENT_H
#define KC_WOO_CLIENT_H

#include "http.h"
#include "woo.h"

#define LOOKUP_URL_BUDGET 4000	/* encoded SKU bytes per lookup URL */
#define MAX_PAGES 1000
#define PRODUCT_FIELDS "id,type,parent_id,sku,manage_stock,stock_quantity,name"

/* kc_http_authorize_fn: Basic auth over https, OAuth 1.0a over plain http. */
int woo_authorize(void *ctx, const char *method, const char *url,
    struct kc_buf *out, struct curl_slist **headers, struct kc_error *err);
/* err = the shop's refusal in words; notes a rejected key. Returns -1. */
int woo_answer_error(struct kc_woo *w, const char *method, const char *url,
    const struct kc_http_response *resp, struct kc_error *err);
int woo_products_push(struct kc_woo_products *p, const struct kc_woo_product *item);

#endif
