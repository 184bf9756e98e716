/*
 * fuzz_http.c - small pieces of the HTTP client that see outside text:
 * kc_parse_retry_after() (a server's Retry-After), kc_http_backoff_ms(),
 * kc_url_path() (URLs in messages) and the OAuth 1.0a signer over any URL
 * (the ?sku= lookups carry SKUs from KeyCRM).
 *
 * Properties: Retry-After is -1 or a number of seconds >= 0, and the
 * back-off honours it; a path for a message never carries a query or a
 * fragment; signing succeeds or says why, is deterministic, yields a
 * 44-character base64 HMAC-SHA256, and the signed URL verifies: the
 * signature recomputed from it (as WooCommerce does) is the one appended.
 */
#include "form.h"
#include "fuzz.h"
#include "http.h"
#include "oauth.h"

FUZZ_QUIET_INIT

static void
check_signing(const char *url)
{
	struct kc_buf a, b, signed_url, again;
	struct kc_error err = { { 0 } };
	const char *sig;
	char *base, *given;

	kc_buf_init(&a);
	kc_buf_init(&b);
	if (kc_oauth_signature("GET", url, "cs_secret", &a, &err) != 0) {
		FUZZ_CHECK(fuzz_msg_ok(&err));
		kc_buf_free(&a);
		return;
	}
	FUZZ_CHECK(a.len == 44);
	FUZZ_CHECK(kc_oauth_signature("GET", url, "cs_secret", &b, &err) == 0);
	FUZZ_CHECK(strcmp(a.data, b.data) == 0);
	kc_buf_free(&a);
	kc_buf_free(&b);

	kc_buf_init(&signed_url);
	if (kc_oauth_sign_url("POST", url, "ck_key", "cs_secret", "nonce123", 1700000000L,
	    &signed_url, &err) != 0) {
		FUZZ_CHECK(fuzz_msg_ok(&err));
		kc_buf_free(&signed_url);
		return;
	}
	FUZZ_CHECK(strncmp(signed_url.data, url, strlen(url)) == 0);
	sig = strstr(signed_url.data + strlen(url), "&oauth_signature=");
	FUZZ_CHECK(sig != NULL);
	base = kc_strndup(signed_url.data, (size_t)(sig - signed_url.data));
	given = kc_percent_decode(sig + 17, strlen(sig + 17), 1);
	FUZZ_CHECK(base != NULL && given != NULL);
	kc_buf_init(&again);
	FUZZ_CHECK(kc_oauth_signature("POST", base, "cs_secret", &again, &err) == 0);
	FUZZ_CHECK(strcmp(again.data, given) == 0);
	kc_buf_free(&again);
	free(base);
	free(given);
	kc_buf_free(&signed_url);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_http h;
	char *s, path[256];
	long ra;

	s = kc_strndup((const char *)data, size);	/* up to a NUL, if any */
	FUZZ_CHECK(s != NULL);

	ra = kc_parse_retry_after(s, 1795700000.0);
	FUZZ_CHECK(ra >= -1);
	memset(&h, 0, sizeof(h));
	h.base_backoff_ms = 500;
	h.max_backoff_ms = 30000;
	for (int attempt = 1; attempt <= 6; attempt++) {
		int64_t w = kc_http_backoff_ms(&h, attempt, ra);

		FUZZ_CHECK(w >= 500 && (ra >= 0 || w <= 45000));
		if (ra >= 0)
			FUZZ_CHECK(w >= (int64_t)ra * 1000);
	}

	kc_url_path(s, path, sizeof(path));
	FUZZ_CHECK(memchr(path, '\0', sizeof(path)) != NULL);
	FUZZ_CHECK(strpbrk(path, "?#") == NULL);

	check_signing(s);
	free(s);
	return 0;
}
