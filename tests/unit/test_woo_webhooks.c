/*
 * Reading the shop's webhook objects (woo_webhooks.c) strictly, and the
 * secrets made for them.
 */
#include "unit.h"

#include <jansson.h>

#include "woo_webhooks.h"

/* As WooCommerce 7.8.2's v3 controller answers a webhook (links left out). */
static const char shop_answer[] =
    "{\"id\":7,\"name\":\"keycrm-sync: stock changes\",\"status\":\"disabled\","
    "\"topic\":\"product.updated\",\"resource\":\"product\",\"event\":\"updated\","
    "\"hooks\":[\"woocommerce_process_product_meta\"],"
    "\"delivery_url\":\"https://shop.example/keycrm/shop-webhook\","
    "\"date_created\":\"2026-12-04T13:00:00\",\"date_modified\":null}";

static json_t *
load(const char *text)
{
	json_t *v = json_loads(text, 0, NULL);

	assert_non_null(v);
	return v;
}

/* The answer to POST /wc/v3/webhooks recorded from a real shop (recording 30). */
static const char recorded[] =
    "{\"id\":1,\"name\":\"rw stock sink\",\"status\":\"active\",\"topic\":\""
    "product.updated\",\"resource\":\"product\",\"event\":\"updated\",\"hoo"
    "ks\":[\"woocommerce_process_product_meta\",\"woocommerce_update_produc"
    "t\",\"woocommerce_update_product_variation\"],\"delivery_url\":\"http:"
    "\\/\\/127.0.0.1:9099\\/wc-hook\",\"date_created\":\"2026-11-27T00:13:1"
    "7\",\"date_created_gmt\":\"2026-11-27T00:13:17\",\"date_modified\":nul"
    "l,\"date_modified_gmt\":null,\"_links\":{\"self\":[{\"href\":\"https:\\/"
    "\\/127.0.0.1:8443\\/wp-json\\/wc\\/v3\\/webhooks\\/1\"}],\"collection\""
    ":[{\"href\":\"https:\\/\\/127.0.0.1:8443\\/wp-json\\/wc\\/v3\\/webhook"
    "s\"}]}}";

static void
parses_the_recorded_creation(void **state)
{
	struct kc_shop_hook h;
	struct kc_error err = { { 0 } };
	json_t *v = load(recorded);

	(void)state;
	assert_int_equal(kc_woo_hook_parse(v, &h, &err), 0);
	assert_int_equal(h.id, 1);
	assert_str(h.status, "active");
	assert_str(h.name, "rw stock sink");
	assert_str(h.delivery_url, "http://127.0.0.1:9099/wc-hook");
	json_decref(v);
}

static void
parses_the_shops_answer(void **state)
{
	struct kc_shop_hook h;
	struct kc_error err = { { 0 } };
	json_t *v = load(shop_answer);

	(void)state;
	assert_int_equal(kc_woo_hook_parse(v, &h, &err), 0);
	assert_int_equal(h.id, 7);
	assert_str(h.status, "disabled");
	assert_str(h.topic, "product.updated");
	assert_str(h.name, KC_SHOP_HOOK_NAME);
	assert_str(h.delivery_url, "https://shop.example/keycrm/shop-webhook");
	json_decref(v);
}

static void
refuses_what_is_not_a_webhook(void **state)
{
	static const char *const bad[] = {
		"[]", "{\"code\":\"rest_no_route\"}",
		"{\"id\":0,\"status\":\"active\",\"topic\":\"t\",\"delivery_url\":\"u\"}",
		"{\"id\":\"7\",\"status\":\"active\",\"topic\":\"t\",\"delivery_url\":\"u\"}",
		"{\"id\":7,\"status\":\"sleeping\",\"topic\":\"t\",\"delivery_url\":\"u\"}",
		"{\"id\":7,\"status\":\"active\",\"delivery_url\":\"u\"}",
		"{\"id\":7,\"status\":\"active\",\"topic\":\"t\",\"delivery_url\":5}",
		"{\"id\":7,\"status\":\"active\",\"topic\":\"t\",\"delivery_url\":\"u\",\"name\":[]}",
		"{\"id\":7,\"status\":\"active\",\"topic\":\"t\\n\",\"delivery_url\":\"u\"}",
		"{\"id\":7,\"status\":\"active\",\"topic\":\"t\",\"delivery_url\":\"u\\u0000v\"}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kc_shop_hook h;
		struct kc_error err = { { 0 } };
		json_t *v = json_loads(bad[i], JSON_ALLOW_NUL, NULL);

		assert_non_null(v);
		assert_int_equal(kc_woo_hook_parse(v, &h, &err), -1);
		assert_true(err.msg[0] != '\0');
		json_decref(v);
	}
}

static void
a_too_long_url_is_refused_not_cut(void **state)
{
	char url[2000];
	struct kc_shop_hook h;
	struct kc_error err = { { 0 } };
	json_t *v;

	(void)state;
	memset(url, 'a', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	v = json_pack("{s:i,s:s,s:s,s:s}", "id", 3, "status", "active", "topic",
	    "product.updated", "delivery_url", url);
	assert_int_equal(kc_woo_hook_parse(v, &h, &err), -1);
	assert_non_null(strstr(err.msg, "delivery_url"));
	json_decref(v);
}

static void
secrets_are_new_hex_each_time(void **state)
{
	char a[KC_SHOP_HOOK_SECRET_LEN + 1], b[KC_SHOP_HOOK_SECRET_LEN + 1];

	(void)state;
	assert_int_equal(kc_shop_hook_new_secret(a, NULL), 0);
	assert_int_equal(kc_shop_hook_new_secret(b, NULL), 0);
	assert_int_equal(strlen(a), KC_SHOP_HOOK_SECRET_LEN);
	assert_int_equal(strspn(a, "0123456789abcdef"), KC_SHOP_HOOK_SECRET_LEN);
	assert_true(strcmp(a, b) != 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_the_recorded_creation),
		cmocka_unit_test(parses_the_shops_answer),
		cmocka_unit_test(refuses_what_is_not_a_webhook),
		cmocka_unit_test(a_too_long_url_is_refused_not_cut),
		cmocka_unit_test(secrets_are_new_hex_each_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
