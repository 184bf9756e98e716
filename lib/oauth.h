/*
 * oauth.h - OAuth 1.0a one-legged request signing, as WooCommerce checks
 * it over plain http:// (where it ignores HTTP Basic and query-string keys).
 *
 * The base string is METHOD & enc(URL without query) & enc(sorted
 * "k=v" pairs of every query parameter plus the oauth_* ones); the key is
 * the consumer secret followed by '&'; HMAC-SHA256, base64.  The JSON body
 * is not signed.  Every request needs a fresh nonce.
 */
#ifndef KC_OAUTH_H
#define KC_OAUTH_H

#include "util.h"

/*
 * Appends the oauth_* parameters and the signature to url's query string
 * and writes the result to out.  nonce and timestamp are for tests; pass
 * NULL and 0 to get fresh ones.
 */
int kc_oauth_sign_url(const char *method, const char *url,
    const char *consumer_key, const char *consumer_secret, const char *nonce,
    long timestamp, struct kc_buf *out, struct kc_error *err);

/* The signature alone, base64; for tests. */
int kc_oauth_signature(const char *method, const char *url_with_oauth_params,
    const char *consumer_secret, struct kc_buf *out, struct kc_error *err);

/* Standard base64 of len bytes into out. */
int kc_base64(const unsigned char *data, size_t len, struct kc_buf *out);

#endif
