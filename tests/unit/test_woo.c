/*
 * Reading WooCommerce answers, using bodies recorded from a real shop.
 */
#include "unit.h"

#include "woo.h"

/* 05b-sku-mixed-simple-and-variations.http and 12e (manage "parent"). */
static const char recorded[] =
    "[{\"id\":26,\"type\":\"variation\",\"parent_id\":25,\"sku\":\"RW-MUG-RED\",\"manage_stock\":true,\"stock_quantity\":4,\"stock_status\":\"instock\"},"
    "{\"id\":10,\"type\":\"simple\",\"parent_id\":0,\"sku\":\"RW-SIMPLE-001\",\"manage_stock\":true,\"stock_quantity\":10,\"stock_status\":\"instock\",\"_links\":{\"self\":[{\"href\":\"x\"}]}},"
    "{\"id\":28,\"type\":\"variation\",\"parent_id\":25,\"sku\":\"RW-MUG\",\"manage_stock\":\"parent\",\"stock_quantity\":50},"
    "{\"id\":15,\"type\":\"simple\",\"parent_id\":0,\"sku\":\"RW-SIMPLE-006\",\"manage_stock\":false,\"stock_quantity\":null}]";

static void
parses_recorded_lookup(void **state)
{
	struct kc_woo_products p = { 0 };

	(void)state;
	assert_int_equal(kc_woo_parse_products(recorded, strlen(recorded), &p, NULL), 0);
	assert_int_equal(p.count, 4);
	assert_int_equal(p.items[0].id, 26);
	assert_int_equal(p.items[0].parent_id, 25);
	assert_str(p.items[0].type, "variation");
	assert_int_equal(p.items[0].manage, KC_WOO_MANAGE_YES);
	assert_int_equal(p.items[0].qty, 4);
	assert_int_equal(p.items[2].manage, KC_WOO_MANAGE_PARENT);
	assert_int_equal(p.items[3].manage, KC_WOO_MANAGE_NO);
	assert_int_equal(p.items[3].has_qty, 0);
	kc_woo_products_free(&p);
}

static void
refuses_malformed_answers(void **state)
{
	static const char *const bad[] = {
		"{\"code\":\"x\"}", "[1]", "[{\"type\":\"simple\"}]",
		"[{\"id\":-1,\"type\":\"simple\"}]", "[{\"id\":1}]",
		"[{\"id\":1,\"type\":\"simple\",\"manage_stock\":\"yes\"}]",
		"[{\"id\":1,\"type\":\"simple\",\"stock_quantity\":\"5\"}]",
		"[{\"id\":1,\"type\":\"simple\",\"sku\":7}]", "<html>",
	};
	struct kc_woo_products p = { 0 };
	struct kc_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (kc_woo_parse_products(bad[i], strlen(bad[i]), &p, &err) != -1)
			fail_msg("case %zu accepted", i);
		kc_woo_products_free(&p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_recorded_lookup),
		cmocka_unit_test(refuses_malformed_answers),
	};
	return cmocka_run_group_tests_name("woo", tests, NULL, NULL);
}
