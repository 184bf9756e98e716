/*
 * http.h - the HTTP client both API clients share, on libcurl.
 *
 * TLS is always verified (optionally against ca_file), redirects are never
 * followed (they would carry credentials elsewhere), answers are capped in
 * size, and every attempt is bounded by a timeout and by the caller's
 * overall deadline.  Transient failures - connection errors, timeouts, 429
 * and 5xx - are retried with exponential backoff and jitter, honouring
 * Retry-After.  Error messages name the service, the method and the path,
 * never the query string or any credential.
 */
#ifndef KC_HTTP_H
#define KC_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct curl_slist;

struct kc_http {
	void *curl;			/* CURL *, reused for keep-alive */
	const char *service;		/* "WooCommerce", "KeyCRM" */
	char *ca_file;
	char *connect_to;		/* CURLOPT_CONNECT_TO entry, or NULL */
	long connect_timeout_ms;
	long timeout_ms;		/* per attempt */
	size_t max_response_bytes;
	int max_attempts;
	int64_t deadline_ms;		/* kc_monotonic_ms() limit; 0: none */
	unsigned long requests;		/* attempts made, for the figures */
	int64_t base_backoff_ms;
	int64_t max_backoff_ms;
};

struct kc_http_response {
	long status;
	struct kc_buf body;
	long wp_total;			/* X-WP-Total, -1 if absent */
	long wp_total_pages;		/* X-WP-TotalPages, -1 if absent */
	long retry_after_s;		/* Retry-After, -1 if absent */
};

/*
 * Called before every attempt so that each one can carry fresh
 * credentials (an OAuth nonce is good for one request only).  It writes the
 * URL to use into url_out and may append header lines to *headers.
 */
typedef int (*kc_http_authorize_fn)(void *ctx, const char *method,
    const char *url, struct kc_buf *url_out, struct curl_slist **headers,
    struct kc_error *err);

struct kc_http_request {
	const char *method;
	const char *url;
	const char *body;		/* NULL: none */
	size_t body_len;
	const char *content_type;
	kc_http_authorize_fn authorize;
	void *auth_ctx;
	int retry;			/* 0: one attempt only */
};

int kc_http_init(struct kc_http *h, const char *service, const char *ca_file,
    const char *connect_to, struct kc_error *err);
void kc_http_cleanup(struct kc_http *h);
/* At exit: libcurl's global state, if kc_http_init() ever started it. */
void kc_http_global_cleanup(void);

void kc_http_response_init(struct kc_http_response *r);
void kc_http_response_free(struct kc_http_response *r);

/*
 * Performs the request.  Returns 0 when an answer arrived (whatever its
 * status, after retries for the retryable ones) and -1 when none did; err
 * then says why.
 */
int kc_http_perform(struct kc_http *h, const struct kc_http_request *req,
    struct kc_http_response *resp, struct kc_error *err);

/*
 * Several requests at once (curl multi), one attempt each, request i on
 * handle hs[i] (each keeps its own connection alive).  ok[i] is 1 when an
 * answer arrived; anything else - and any status worth retrying - is for
 * the caller to redo with kc_http_perform(), which retries.
 */
int kc_http_perform_parallel(struct kc_http **hs,
    const struct kc_http_request *reqs, struct kc_http_response *resps,
    int *ok, size_t n);

/*
 * The same for n requests over nh handles: each handle takes the next
 * request as soon as its last one is answered (a pool, not waves), so a
 * long request does not hold the short ones behind it.
 */
int kc_http_perform_pool(struct kc_http **hs, size_t nh,
    const struct kc_http_request *reqs, struct kc_http_response *resps,
    int *ok, size_t n);

/* The path part of a URL, for messages (no query, no credentials). */
void kc_url_path(const char *url, char *out, size_t outsz);

/* Parses a Retry-After value: seconds or an HTTP date; -1 if invalid. */
long kc_parse_retry_after(const char *v, double now);

/* Backoff before attempt n (1-based) given an optional Retry-After. */
int64_t kc_http_backoff_ms(const struct kc_http *h, int attempt,
    long retry_after_s);

#endif
