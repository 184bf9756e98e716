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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(target_floors_and_clamps),
		cmocka_unit_test(decides_per_product),
	};
	return cmocka_run_group_tests_name("stock", tests, NULL, NULL);
}
