/*
 * Reading KeyCRM answers: the item indexes of a Laravel 422, and pages of
 * GET /offers/stocks (totals and one warehouse's numbers).
 */
#include "unit.h"

#include "keycrm.h"

static size_t
items_of(const char *json, size_t *idx, size_t max)
{
	return kc_keycrm_422_items(json, strlen(json), idx, max);
}

static void
reads_named_items(void **state)
{
	size_t idx[8];

	(void)state;
	/* As the fake (and Laravel's validator) words it. */
	assert_int_equal(items_of("{\"message\":\"The given data was invalid.\","
	    "\"errors\":{\"stocks.17.sku\":[\"The selected stocks.17.sku is invalid.\"],"
	    "\"stocks.3.sku\":[\"The selected stocks.3.sku is invalid.\"]}}", idx, 8), 2);
	assert_int_equal(idx[0], 3);
	assert_int_equal(idx[1], 17);
	/* Any field of an item names it, once; the item itself too. */
	assert_int_equal(items_of("{\"errors\":{\"stocks.4.quantity\":[\"x\"],"
	    "\"stocks.4.sku\":[\"y\"],\"stocks.0\":[\"z\"],\"stocks.2.id\":[\"w\"]}}",
	    idx, 8), 3);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], 2);
	assert_int_equal(idx[2], 4);
	/* Not items. */
	assert_int_equal(items_of("{\"errors\":{\"warehouse_id\":[\"The selected warehouse id is invalid.\"],"
	    "\"stocks\":[\"The stocks field is required.\"],\"stocks.\":[\"a\"],"
	    "\"stocks.x.sku\":[\"b\"],\"stocks.-1.sku\":[\"c\"],\"stocks.5x\":[\"d\"],"
	    "\"stock.1.sku\":[\"e\"],\"xstocks.1.sku\":[\"f\"]}}", idx, 8), 0);
	/* An index beyond size_t is no item of ours. */
	assert_int_equal(items_of("{\"errors\":{\"stocks.99999999999999999999999.sku\":[\"a\"],"
	    "\"stocks.1.sku\":[\"b\"]}}", idx, 8), 1);
	assert_int_equal(idx[0], 1);
}

static void
keeps_the_smallest_when_full(void **state)
{
	size_t idx[2];

	(void)state;
	assert_int_equal(items_of("{\"errors\":{\"stocks.9.sku\":[\"a\"],\"stocks.5.sku\":[\"b\"],"
	    "\"stocks.7.sku\":[\"c\"],\"stocks.1.sku\":[\"d\"],\"stocks.5.quantity\":[\"e\"]}}",
	    idx, 2), 2);
	assert_int_equal(idx[0], 1);
	assert_int_equal(idx[1], 5);
	assert_int_equal(items_of("{\"errors\":{\"stocks.1.sku\":[]}}",
	    idx, 0), 0);
}

static void
names_nothing_in_garbage(void **state)
{
	static const char *const bodies[] = {
		"", "<html>422</html>", "{\"message\":\"The given data was invalid.\"}",
		"{\"errors\":[\"stocks.1.sku\"]}", "{\"errors\":\"stocks.1.sku\"}",
		"[{\"errors\":{\"stocks.1.sku\":[\"a\"]}}]", "{\"errors\":{\"stocks.1.sku\":",
		"null", "{\"message\":\"The selected stocks.3.sku is invalid.\"}",
	};
	size_t idx[4];

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		if (items_of(bodies[i], idx, 4) != 0)
			fail_msg("case %zu named items", i);
	assert_int_equal(kc_keycrm_422_items(NULL, 0, idx, 4), 0);
}

/* A page as the fake (a Laravel paginator) answers with filter[details]. */
static const char page[] =
    "{\"current_page\":2,\"data\":["
    "{\"id\":1001,\"sku\":\"RW-SIMPLE-001\",\"price\":10,\"purchased_price\":5,\"quantity\":13,\"reserve\":1,"
    "\"warehouse\":[{\"id\":1,\"name\":\"\\u041e\\u0441\",\"quantity\":10,\"reserve\":0},"
    "{\"id\":2,\"name\":\"\\u0421\\u043a\",\"quantity\":3,\"reserve\":1}]},"
    "{\"id\":1099,\"sku\":\"KC-ONLY-001\",\"quantity\":2.5,\"reserve\":0.5,"
    "\"warehouse\":[{\"id\":1,\"name\":\"a\",\"quantity\":2.5,\"reserve\":0.5}]},"
    "{\"id\":1100,\"sku\":null,\"quantity\":null,\"reserve\":null,\"warehouse\":[]},"
    "{\"id\":1101,\"sku\":\"S\",\"quantity\":\"7.000\",\"reserve\":\"1\",\"warehouse\":[]}],"
    "\"first_page_url\":\"http:\\/\\/127.0.0.1\\/v1\\/offers\\/stocks?page=1\",\"from\":51,"
    "\"last_page\":3,\"last_page_url\":\"http:\\/\\/127.0.0.1\\/v1\\/offers\\/stocks?page=3\","
    "\"next_page_url\":\"http:\\/\\/127.0.0.1\\/v1\\/offers\\/stocks?page=3\",\"path\":\"x\","
    "\"per_page\":50,\"prev_page_url\":null,\"to\":54,\"total\":104}";

static void
parses_totals(void **state)
{
	struct kc_keycrm_offer *o;
	size_t n;
	long last;

	(void)state;
	assert_int_equal(kc_keycrm_parse_stocks(page, strlen(page), 0, &o, &n, &last, NULL), 0);
	assert_int_equal(n, 4);
	assert_int_equal(last, 3);
	assert_int_equal(o[0].id, 1001);
	assert_str(o[0].sku, "RW-SIMPLE-001");
	assert_true(o[0].quantity == 13 && o[0].reserve == 1);
	assert_true(o[1].quantity == 2.5 && o[1].reserve == 0.5);
	/* No SKU: kept, with an empty one, for the caller to skip. */
	assert_str(o[2].sku, "");
	assert_true(o[2].quantity == 0 && o[2].reserve == 0);
	assert_true(o[3].quantity == 7 && o[3].reserve == 1);
	kc_keycrm_offers_free(o, n);
}

static void
parses_one_warehouse(void **state)
{
	struct kc_keycrm_offer *o;
	size_t n;
	long last;

	(void)state;
	assert_int_equal(kc_keycrm_parse_stocks(page, strlen(page), 2, &o, &n, &last, NULL), 0);
	assert_int_equal(n, 4);
	assert_true(o[0].quantity == 3 && o[0].reserve == 1);
	/* Not in that warehouse: nothing there. */
	assert_true(o[1].quantity == 0 && o[1].reserve == 0);
	assert_true(o[3].quantity == 0 && o[3].reserve == 0);
	kc_keycrm_offers_free(o, n);
	assert_int_equal(kc_keycrm_parse_stocks(page, strlen(page), 1, &o, &n, &last, NULL), 0);
	assert_true(o[0].quantity == 10 && o[0].reserve == 0);
	assert_true(o[1].quantity == 2.5 && o[1].reserve == 0.5);
	kc_keycrm_offers_free(o, n);
}

static void
counts_pages_without_last_page(void **state)
{
	static const struct {
		const char *json;
		long last;
	} cases[] = {
		{ "{\"data\":[],\"total\":101,\"per_page\":50}", 3 },
		{ "{\"data\":[],\"total\":100,\"per_page\":50}", 2 },
		{ "{\"data\":[],\"total\":0,\"per_page\":50}", 1 },
		{ "{\"data\":[],\"current_page\":4,\"next_page_url\":null}", 4 },
		{ "{\"data\":[],\"current_page\":4,\"next_page_url\":\"x?page=5\"}", 5 },
		{ "{\"data\":[],\"last_page\":7,\"total\":1,\"per_page\":50}", 7 },
	};
	struct kc_keycrm_offer *o;
	size_t n;
	long last;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (kc_keycrm_parse_stocks(cases[i].json, strlen(cases[i].json), 0,
		    &o, &n, &last, NULL) != 0)
			fail_msg("case %zu refused", i);
		assert_int_equal(n, 0);
		assert_int_equal(last, cases[i].last);
		kc_keycrm_offers_free(o, n);
	}
}

static void
refuses_bad_shapes(void **state)
{
	static const char *const bad[] = {
		"", "<html>", "[]", "{\"data\":{},\"last_page\":1}", "{\"last_page\":1}",
		"{\"data\":[1],\"last_page\":1}",
		"{\"data\":[{\"sku\":\"a\"}],\"last_page\":1}",
		"{\"data\":[{\"id\":0,\"sku\":\"a\"}],\"last_page\":1}",
		"{\"data\":[{\"id\":\"5\",\"sku\":\"a\"}],\"last_page\":1}",
		"{\"data\":[{\"id\":5,\"sku\":7}],\"last_page\":1}",
		"{\"data\":[{\"id\":5,\"sku\":\"a\",\"quantity\":\"lots\"}],\"last_page\":1}",
		"{\"data\":[{\"id\":5,\"sku\":\"a\",\"quantity\":true}],\"last_page\":1}",
		"{\"data\":[{\"id\":5,\"sku\":\"a\",\"reserve\":[]}],\"last_page\":1}",
		"{\"data\":[{\"id\":5,\"sku\":\"a\",\"quantity\":1e300}],\"last_page\":1}",
		"{\"data\":[{\"id\":5,\"sku\":\"a\",\"quantity\":\"0x10\"}],\"last_page\":1}",
		"{\"data\":[{\"id\":5,\"sku\":\"a\",\"quantity\":\"nan\"}],\"last_page\":1}",
		"{\"data\":[{\"id\":5,\"sku\":\"a\",\"quantity\":\" 5\"}],\"last_page\":1}",
		"{\"data\":[],\"last_page\":0}", "{\"data\":[],\"last_page\":\"3\"}",
		"{\"data\":[],\"last_page\":99999999999}",
		"{\"data\":[]}", "{\"data\":[],\"total\":5,\"per_page\":0}",
		"{\"data\":[],\"data\":[],\"last_page\":1}",
		/* A good item after a bad one changes nothing. */
		"{\"data\":[{\"id\":5,\"sku\":\"a\"},{\"id\":-5,\"sku\":\"b\"}],\"last_page\":1}",
	};
	struct kc_keycrm_offer *o = (void *)1;
	struct kc_error err;
	size_t n = 99;
	long last = 99;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.msg[0] = '\0';
		if (kc_keycrm_parse_stocks(bad[i], strlen(bad[i]), 0, &o, &n, &last, &err) != -1)
			fail_msg("case %zu accepted", i);
		assert_null(o);
		assert_int_equal(n, 0);
		assert_true(err.msg[0] != '\0');
	}
}

static void
refuses_bad_warehouse_breakdown(void **state)
{
	static const char *const bad[] = {
		/* Asked for, not given: reading it as zero would empty a shop. */
		"{\"data\":[{\"id\":5,\"sku\":\"a\",\"quantity\":3}],\"last_page\":1}",
		"{\"data\":[{\"id\":5,\"sku\":\"a\",\"warehouse\":null}],\"last_page\":1}",
		"{\"data\":[{\"id\":5,\"sku\":\"a\",\"warehouse\":{\"id\":1}}],\"last_page\":1}",
		"{\"data\":[{\"id\":5,\"sku\":\"a\",\"warehouse\":[1]}],\"last_page\":1}",
		"{\"data\":[{\"id\":5,\"sku\":\"a\",\"warehouse\":[{\"id\":\"1\"}]}],\"last_page\":1}",
		"{\"data\":[{\"id\":5,\"sku\":\"a\",\"warehouse\":[{\"id\":1,\"quantity\":\"x\"}]}],\"last_page\":1}",
	};
	struct kc_keycrm_offer *o;
	size_t n;
	long last;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (kc_keycrm_parse_stocks(bad[i], strlen(bad[i]), 1, &o, &n, &last, NULL) != -1)
			fail_msg("case %zu accepted", i);
	}
	/* Without details the totals are all that counts. */
	assert_int_equal(kc_keycrm_parse_stocks(bad[0], strlen(bad[0]), 0, &o, &n, &last, NULL), 0);
	assert_true(o[0].quantity == 3);
	kc_keycrm_offers_free(o, n);
}

static void
ignores_overlong_skus(void **state)
{
	char json[600], sku[260];
	struct kc_keycrm_offer *o;
	size_t n;
	long last;

	(void)state;
	kc_log_set_level(KC_LOG_ERROR);	/* the warning is expected */
	memset(sku, 'A', 201);
	sku[201] = '\0';
	snprintf(json, sizeof(json), "{\"data\":[{\"id\":5,\"sku\":\"%s\",\"quantity\":1},"
	    "{\"id\":6,\"sku\":\"%.200s\",\"quantity\":1}],\"last_page\":1}", sku, sku);
	assert_int_equal(kc_keycrm_parse_stocks(json, strlen(json), 0, &o, &n, &last, NULL), 0);
	assert_int_equal(n, 2);
	assert_str(o[0].sku, "");
	assert_int_equal(strlen(o[1].sku), 200);
	kc_keycrm_offers_free(o, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_named_items),
		cmocka_unit_test(keeps_the_smallest_when_full),
		cmocka_unit_test(names_nothing_in_garbage),
		cmocka_unit_test(parses_totals),
		cmocka_unit_test(parses_one_warehouse),
		cmocka_unit_test(counts_pages_without_last_page),
		cmocka_unit_test(refuses_bad_shapes),
		cmocka_unit_test(refuses_bad_warehouse_breakdown),
		cmocka_unit_test(ignores_overlong_skus),
	};
	return cmocka_run_group_tests_name("keycrm", tests, NULL, NULL);
}
