/*
 * The quantity rules of SPEC 4.1 and 4.5.
 */
#include "unit.h"

#include "stock.h"

static void
target_floors_and_clamps(void **state)
{
	(void)state;
	assert_int_equal(kc_stock_target(16, 3, 1), 13);
	assert_int_equal(kc_stock_target(16, 3, 0), 16);
	assert_int_equal(kc_stock_target(16.9, 3.2, 1), 13);	/* floor(13.7) */
	assert_int_equal(kc_stock_target(2.5, 0, 1), 2);
	assert_int_equal(kc_stock_target(3, 5, 1), 0);		/* never below 0 */
	assert_int_equal(kc_stock_target(-4, 0, 0), 0);
	assert_int_equal(kc_stock_target(0.999, 0, 1), 0);
	assert_int_equal(kc_stock_target(-0.0, 0, 1), 0);
	/* Differences that binary floating point gets just below a whole. */
	assert_int_equal(kc_stock_target(1.4, 0.4, 1), 1);
	assert_int_equal(kc_stock_target(2.3, 0.3, 1), 2);
	assert_int_equal(kc_stock_target(10.3, 8.3, 1), 2);
	assert_int_equal(kc_stock_target(0.9999, 0, 1), 0);
}

static struct kc_woo_product
product(const char *type, enum kc_woo_manage manage, int has_qty, long long qty)
{
	struct kc_woo_product p;

	memset(&p, 0, sizeof(p));
	p.id = 10;
	p.sku = (char *)"S-1";
	strcpy(p.type, type);
	p.manage = manage;
	p.has_qty = has_qty;
	p.qty = qty;
	return p;
}

static void
decides_per_product(void **state)
{
	const char *why;
	struct kc_woo_product p;

	(void)state;
	p = product("simple", KC_WOO_MANAGE_YES, 1, 5);
	assert_int_equal(kc_stock_decide(&p, 7, KC_MANAGE_SKIP, &why), KC_STOCK_WRITE);
	assert_int_equal(kc_stock_decide(&p, 5, KC_MANAGE_SKIP, &why), KC_STOCK_UNCHANGED);

	p = product("simple", KC_WOO_MANAGE_NO, 0, 0);
	assert_int_equal(kc_stock_decide(&p, 5, KC_MANAGE_SKIP, &why), KC_STOCK_SKIP);
	assert_non_null(strstr(why, "does not manage stock"));
	assert_int_equal(kc_stock_decide(&p, 5, KC_MANAGE_ENABLE, &why), KC_STOCK_WRITE);

	/* Parent-managed variations are skipped even with enable. */
	p = product("variation", KC_WOO_MANAGE_PARENT, 1, 50);
	assert_int_equal(kc_stock_decide(&p, 5, KC_MANAGE_ENABLE, &why), KC_STOCK_SKIP);
	assert_non_null(strstr(why, "parent"));

	p = product("grouped", KC_WOO_MANAGE_NO, 0, 0);
	assert_int_equal(kc_stock_decide(&p, 5, KC_MANAGE_ENABLE, &why), KC_STOCK_SKIP);

	/* A managed product showing null stock still gets the write. */
	p = product("variation", KC_WOO_MANAGE_YES, 0, 0);
	assert_int_equal(kc_stock_decide(&p, 0, KC_MANAGE_SKIP, &why), KC_STOCK_WRITE);
}

/* SPEC 4.5 in both directions, and 4.7: one table. */
static void
skip_reasons_by_direction(void **state)
{
	static const struct {
		const char *type, *sku;
		enum kc_woo_manage manage;
		int has_qty, shows_parent;
		enum kc_manage_stock mode;
		const char *to_shop, *from_shop;	/* substring of the reason, NULL: none */
	} t[] = {
		{ "simple", "S", KC_WOO_MANAGE_YES, 1, 0, KC_MANAGE_SKIP, NULL, NULL },
		{ "variation", "S", KC_WOO_MANAGE_YES, 1, 0, KC_MANAGE_SKIP, NULL, NULL },
		{ "simple", "", KC_WOO_MANAGE_YES, 1, 0, KC_MANAGE_SKIP, "no SKU", "no SKU" },
		{ "variation", "P", KC_WOO_MANAGE_YES, 1, 1, KC_MANAGE_SKIP, "no SKU", "no SKU" },
		{ "grouped", "S", KC_WOO_MANAGE_NO, 0, 0, KC_MANAGE_ENABLE, "grouped", "grouped" },
		{ "external", "S", KC_WOO_MANAGE_NO, 0, 0, KC_MANAGE_SKIP, "grouped", "grouped" },
		{ "variation", "S", KC_WOO_MANAGE_PARENT, 1, 0, KC_MANAGE_ENABLE, "parent", "parent" },
		{ "simple", "S", KC_WOO_MANAGE_NO, 0, 0, KC_MANAGE_SKIP, "manage_stock = skip",
		  "does not manage stock" },
		/* enable: it can take a quantity, but has none to send. */
		{ "simple", "S", KC_WOO_MANAGE_NO, 0, 0, KC_MANAGE_ENABLE, NULL,
		  "does not manage stock" },
		{ "simple", "S", KC_WOO_MANAGE_YES, 0, 0, KC_MANAGE_SKIP, NULL, "no quantity" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct kc_woo_product p = product(t[i].type, t[i].manage, t[i].has_qty, 3);
		const char *to, *from;

		p.sku = (char *)t[i].sku;
		to = kc_stock_skip_reason(&p, KC_TO_SHOP, t[i].mode, t[i].shows_parent);
		from = kc_stock_skip_reason(&p, KC_FROM_SHOP, t[i].mode, t[i].shows_parent);
		if ((to == NULL) != (t[i].to_shop == NULL) ||
		    (to != NULL && strstr(to, t[i].to_shop) == NULL))
			fail_msg("row %zu to the shop: %s", i, to ? to : "(none)");
		if ((from == NULL) != (t[i].from_shop == NULL) ||
		    (from != NULL && strstr(from, t[i].from_shop) == NULL))
			fail_msg("row %zu from the shop: %s", i, from ? from : "(none)");
	}
}

static void
negative_reserve_is_refused(void **state)
{
	(void)state;
	assert_non_null(kc_stock_report_problem(5, -100));
	assert_non_null(strstr(kc_stock_report_problem(5, -0.5), "negative"));
	assert_null(kc_stock_report_problem(5, 0));
	assert_null(kc_stock_report_problem(-3, 1));	/* oversold: valid, gives 0 */
	assert_int_equal(kc_stock_target(-3, 1, 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(target_floors_and_clamps),
		cmocka_unit_test(decides_per_product),
		cmocka_unit_test(skip_reasons_by_direction),
		cmocka_unit_test(negative_reserve_is_refused),
	};
	return cmocka_run_group_tests_name("stock", tests, NULL, NULL);
}
