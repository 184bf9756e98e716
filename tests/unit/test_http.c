/*
 * The HTTP client's pure parts: Retry-After, backoff, and the URL shown
 * in messages (which must never carry a query string).
 */
#include "unit.h"

#include "http.h"

static void
parses_retry_after(void **state)
{
	(void)state;
	assert_int_equal(kc_parse_retry_after("30", 0), 30);
	assert_int_equal(kc_parse_retry_after(" 7\r\n", 0), 7);
	assert_int_equal(kc_parse_retry_after("abc", 0), -1);
	assert_int_equal(kc_parse_retry_after("5x", 0), -1);
	assert_int_equal(kc_parse_retry_after("99999999999999999999", 0), 86400);
	/* Fri, 27 Nov 2026 00:00:10 GMT is 1795737610. */
	assert_int_equal(kc_parse_retry_after("Fri, 27 Nov 2026 00:00:10 GMT", 1795737600), 10);
	assert_int_equal(kc_parse_retry_after("Fri, 27 Nov 2026 00:00:10 GMT", 1795737700), 0);
}

static void
backoff_grows_and_honours_retry_after(void **state)
{
	struct kc_http h;

	(void)state;
	memset(&h, 0, sizeof(h));
	h.base_backoff_ms = 500;
	h.max_backoff_ms = 30000;
	for (int i = 0; i < 50; i++) {
		int64_t a = kc_http_backoff_ms(&h, 1, -1), c = kc_http_backoff_ms(&h, 3, -1);
		assert_in_range(a, 500, 750);
		assert_in_range(c, 2000, 3000);
		assert_in_range(kc_http_backoff_ms(&h, 20, -1), 30000, 45000);
		assert_in_range(kc_http_backoff_ms(&h, 1, 10), 10000, 10100);
	}
}

static void
url_path_drops_query(void **state)
{
	char out[128];

	(void)state;
	kc_url_path("http://h:1/wp-json/wc/v3/products?oauth_signature=x", out, sizeof(out));
	assert_str(out, "/wp-json/wc/v3/products");
	kc_url_path("https://h", out, sizeof(out));
	assert_str(out, "/");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_retry_after),
		cmocka_unit_test(backoff_grows_and_honours_retry_after),
		cmocka_unit_test(url_path_drops_query),
	};
	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
