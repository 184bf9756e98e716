/*
 * Parsing KeyCRM's webhook body: what is accepted, what is rejected per
 * item, and what makes the whole body a 400.
 */
#include "unit.h"

#include "webhook.h"

static int
parse(const char *text, struct kc_webhook_body *b, struct kc_error *err)
{
	return kc_webhook_parse(text, strlen(text), b, err);
}

static void
accepts_keycrm_payload(void **state)
{
	struct kc_webhook_body b;
	const char *text = "[{\"offer_id\":130827,\"sku\":\"a001-56\",\"in_stock\":16,\"in_reserve\":3},"
	    "{\"sku\":\"m-1\",\"in_stock\":2.5,\"in_reserve\":0.5},"
	    "{\"sku\":\"no-reserve\",\"in_stock\":4}]";

	(void)state;
	assert_int_equal(parse(text, &b, NULL), 0);
	assert_int_equal(b.received, 3);
	assert_int_equal(b.count, 3);
	assert_int_equal(json_array_size(b.rejected), 0);
	assert_str(b.reports[0].sku, "a001-56");
	assert_int_equal(b.reports[0].offer_id, 130827);
	assert_true(b.reports[1].in_stock == 2.5);
	assert_true(b.reports[2].in_reserve == 0);
	kc_webhook_body_free(&b);
}

static void
rejects_bad_items_one_by_one(void **state)
{
	static const char *const reasons[] = {
		"the item is not an object", "sku is missing", "sku is not a string",
		"sku is empty", "sku is blank", "in_stock is missing",
		"in_stock is not a number", "in_reserve is not a number",
		"in_stock is not a number", "offer_id is not a positive whole number",
		"sku contains control characters", "in_stock is out of range",
	};
	struct kc_webhook_body b;
	const char *text = "[1, {\"in_stock\":1}, {\"sku\":5,\"in_stock\":1},"
	    "{\"sku\":\"\",\"in_stock\":1}, {\"sku\":\"   \",\"in_stock\":1},"
	    "{\"sku\":\"a\"}, {\"sku\":\"a\",\"in_stock\":\"16\"},"
	    "{\"sku\":\"a\",\"in_stock\":1,\"in_reserve\":null},"
	    "{\"sku\":\"a\",\"in_stock\":true}, {\"sku\":\"a\",\"in_stock\":1,\"offer_id\":\"x\"},"
	    "{\"sku\":\"a\\nb\",\"in_stock\":1}, {\"sku\":\"a\",\"in_stock\":1e13},"
	    "{\"sku\":\"good\",\"in_stock\":-0}]";

	(void)state;
	assert_int_equal(parse(text, &b, NULL), 0);
	assert_int_equal(b.received, 13);
	assert_int_equal(b.count, 1);
	assert_str(b.reports[0].sku, "good");
	assert_int_equal(json_array_size(b.rejected), 12);
	for (size_t i = 0; i < 12; i++) {
		json_t *r = json_array_get(b.rejected, i);
		assert_int_equal(json_integer_value(json_object_get(r, "index")), i);
		assert_str(json_string_value(json_object_get(r, "reason")), reasons[i]);
	}
	kc_webhook_body_free(&b);
}

static void
refuses_non_arrays(void **state)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "", "empty" },
		{ "{", "not valid JSON" },
		{ "[1,]", "not valid JSON" },
		{ "{\"sku\":\"a\"}", "not an object" },
		{ "\"x\"", "JSON array of stock items, not a string" },
		{ "42", "not a number" },
		{ "[{\"sku\":\"a\",\"sku\":\"b\",\"in_stock\":1}]", "duplicate" },
		{ "[{\"sku\":\"a\",\"in_stock\":1e309}]", "not valid JSON" },
		{ "[{\"sku\":\"a\",\"in_stock\":NaN}]", "not valid JSON" },
		/* The array is read item by item: its own syntax is checked too. */
		{ "[", "not valid JSON" },
		{ "[1 2]", "not valid JSON" },
		{ "[1,,2]", "not valid JSON" },
		{ "[1] x", "not valid JSON" },
		{ "[1][2]", "not valid JSON" },
		{ "[[1]", "not valid JSON" },
		{ "[\"a\" \"b\"]", "not valid JSON" },
	};
	struct kc_webhook_body b;
	struct kc_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (parse(cases[i].text, &b, &err) != -1)
			fail_msg("case %zu accepted", i);
		if (strstr(err.msg, cases[i].want) == NULL && !(i == 3 &&
		    strstr(err.msg, "an object") != NULL))
			fail_msg("case %zu: got \"%s\"", i, err.msg);
	}
}

/* A body of many bad items: each counted, the first 100 listed. */
static void
lists_only_the_first_rejected_items(void **state)
{
	struct kc_webhook_body b;
	struct kc_buf text;

	(void)state;
	kc_buf_init(&text);
	kc_buf_adds(&text, " [\n");
	for (int i = 0; i < 5000; i++)
		kc_buf_adds(&text, i ? ",0" : "0");
	kc_buf_adds(&text, ",{\"sku\":\"ok\",\"in_stock\":1} ] \n");
	assert_int_equal(kc_webhook_parse(text.data, text.len, &b, NULL), 0);
	assert_int_equal(b.received, 5001);
	assert_int_equal(b.rejected_count, 5000);
	assert_int_equal(json_array_size(b.rejected), KC_WEBHOOK_REJECTED_LISTED);
	assert_int_equal(json_integer_value(json_object_get(
	    json_array_get(b.rejected, 99), "index")), 99);
	assert_int_equal(b.count, 1);
	assert_str(b.reports[0].sku, "ok");
	kc_webhook_body_free(&b);
	kc_buf_free(&text);
	assert_int_equal(parse(" [ ] ", &b, NULL), 0);
	assert_int_equal(b.received, 0);
	kc_webhook_body_free(&b);
}

static void
ignores_order_events(void **state)
{
	struct kc_webhook_body b;

	(void)state;
	assert_int_equal(parse("{\"event\":\"order.change_order_status\",\"context\":{}}",
	    &b, NULL), 0);
	assert_int_equal(b.is_event, 1);
	assert_int_equal(b.count, 0);
	kc_webhook_body_free(&b);
}

static void
accepts_unicode_and_punctuation(void **state)
{
	struct kc_webhook_body b;

	(void)state;
	assert_int_equal(parse("[{\"sku\":\"RW+011 X/Y\",\"in_stock\":1},"
	    "{\"sku\":\"\\u0444\\u0443\\u0442\\u0431\\u043e\\u043b\\u043a\\u0430-%20\",\"in_stock\":2},"
	    "{\"sku\":\"<script>alert(1)</script>\",\"in_stock\":3}]", &b, NULL), 0);
	assert_int_equal(b.count, 3);
	assert_str(b.reports[0].sku, "RW+011 X/Y");
	assert_str(b.reports[1].sku, "\xd1\x84\xd1\x83\xd1\x82\xd0\xb1\xd0\xbe\xd0\xbb\xd0\xba\xd0\xb0-%20");
	kc_webhook_body_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepts_keycrm_payload),
		cmocka_unit_test(rejects_bad_items_one_by_one),
		cmocka_unit_test(refuses_non_arrays),
		cmocka_unit_test(lists_only_the_first_rejected_items),
		cmocka_unit_test(ignores_order_events),
		cmocka_unit_test(accepts_unicode_and_punctuation),
	};
	return cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
}
