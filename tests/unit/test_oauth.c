/*
 * OAuth 1.0a signing against real WooCommerce 7.8.2 answers: the recorded
 * requests 25 (GET) and 25c (PUT) were accepted by the shop, so signing the
 * same URL with the same nonce and timestamp must give the same signature.
 * The key belongs to a throwaway local test install, kept for this purpose.
 */
#include "unit.h"

#include "oauth.h"

#define CK "ck_e2a7462c817186690896e5b31b56c1457b4e18b5"
#define CS "cs_0128287fe76db141316f910a944a8a4e77db39e0"
#define FIELDS "_fields=id%2Ctype%2Cparent_id%2Csku%2Cmanage_stock%2Cstock_quantity%2Cstock_status"

static void
signs_recorded_get(void **state)
{
	struct kc_buf out;

	(void)state;
	kc_buf_init(&out);
	assert_int_equal(kc_oauth_sign_url("GET",
	    "http://127.0.0.1:8080/wp-json/wc/v3/products?per_page=2&" FIELDS,
	    CK, CS, "59ce4dfa72338ffa162788e4699934a4", 1795738176, &out, NULL), 0);
	assert_non_null(strstr(out.data,
	    "&oauth_signature=5d6IRgfwgG1XOnDsy6qMrTgrVHQSK6GDmofWRAYNGN4%3D"));
	assert_non_null(strstr(out.data, "oauth_signature_method=HMAC-SHA256"));
	kc_buf_free(&out);
}

static void
signs_recorded_put(void **state)
{
	struct kc_buf out;

	(void)state;
	kc_buf_init(&out);
	assert_int_equal(kc_oauth_sign_url("PUT",
	    "http://127.0.0.1:8080/wp-json/wc/v3/products/14?" FIELDS,
	    CK, CS, "50b091aea65164caa3813ad02bd3c11d", 1795738176, &out, NULL), 0);
	assert_non_null(strstr(out.data,
	    "&oauth_signature=M2K%2BTtM3%2F1JYQEDUu%2FU5zH%2FhypWzs%2Fo62FKIU2srEb4%3D"));
	kc_buf_free(&out);
}

static void
wrong_secret_differs(void **state)
{
	struct kc_buf out;

	(void)state;
	kc_buf_init(&out);
	kc_oauth_sign_url("GET", "http://127.0.0.1:8080/wp-json/wc/v3/products?per_page=2&" FIELDS,
	    CK, "cs_wrong", "59ce4dfa72338ffa162788e4699934a4", 1795738176, &out, NULL);
	assert_null(strstr(out.data, "5d6IRgfwgG1XOnDsy6qMrTgrVHQSK6GDmofWRAYNGN4"));
	kc_buf_free(&out);
}

static void
fresh_nonces_differ(void **state)
{
	struct kc_buf a, b;
	const char *url = "http://shop.example/wp-json/wc/v3/products";

	(void)state;
	kc_buf_init(&a);
	kc_buf_init(&b);
	kc_oauth_sign_url("GET", url, CK, CS, NULL, 0, &a, NULL);
	kc_oauth_sign_url("GET", url, CK, CS, NULL, 0, &b, NULL);
	assert_string_not_equal(a.data, b.data);
	assert_non_null(strstr(a.data, "?oauth_consumer_key=" CK));
	kc_buf_free(&a);
	kc_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(signs_recorded_get),
		cmocka_unit_test(signs_recorded_put),
		cmocka_unit_test(wrong_secret_differs),
		cmocka_unit_test(fresh_nonces_differ),
	};
	return cmocka_run_group_tests_name("oauth", tests, NULL, NULL);
}
