/*
 * The comparison's rows (compare.h, store_compare.h): the two sides meet
 * whatever the SKU's case and trailing blanks, a duplicated shop SKU is one
 * row, the kinds and differences are what SPEC 4.1 makes of KeyCRM's
 * number, the biggest differences come first, and the CSV quotes what a
 * spreadsheet would otherwise misread.
 */
#include "unit.h"

#include "compare.h"
#include "sku.h"
#include "store.h"
#include "store_compare.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	return unit_make_dir(dir, sizeof(dir), "compare");
}

static int
teardown(void **state)
{
	(void)state;
	return unit_remove_dir(dir);
}

static void
shop(struct kc_store *st, const char *sku, long long qty, long long id)
{
	char *key = kc_sku_key(sku);

	assert_non_null(key);
	assert_int_equal(kc_store_compare_shop_add(st, key, sku, qty, id, 0, NULL, NULL), 0);
	free(key);
}

static void
keycrm(struct kc_store *st, const char *sku, double available)
{
	char *key = kc_sku_key(sku);

	assert_non_null(key);
	assert_int_equal(kc_store_compare_keycrm_add(st, key, sku, available, NULL), 0);
	free(key);
}

struct seen {
	char sku[8][32];
	int kind[8];
	double diff[8];
	int n;
};

static int
collect(void *ctx, const struct kc_compare_row *row)
{
	struct seen *s = ctx;

	assert_true(s->n < 8);
	snprintf(s->sku[s->n], sizeof(s->sku[0]), "%s", row->sku);
	s->kind[s->n] = row->kind;
	s->diff[s->n] = row->difference;
	s->n++;
	return 0;
}

static void
rows_meet_by_the_shops_sku_identity(void **state)
{
	struct kc_store st;
	struct seen s = { 0 };
	long counts[KC_CMP__MAX];

	(void)state;
	assert_int_equal(kc_store_open(&st, dir, NULL), 0);
	assert_int_equal(kc_store_compare_prepare(&st, 1, NULL), 0);
	shop(&st, "Tee-S", 4, 10);
	keycrm(&st, "tee-s  ", 4.7);		/* floor: the shop would hold 4 */
	shop(&st, "MUG", 1, 20);
	shop(&st, "mug", 9, 21);		/* a duplicate: the first stands */
	keycrm(&st, "MUG", 6);
	shop(&st, "ONLY-SHOP", 3, 30);
	keycrm(&st, "ONLY-CRM", -2);
	shop(&st, "BIG", 50, 40);
	keycrm(&st, "BIG", 10);
	assert_int_equal(kc_store_compare_rows(&st, collect, &s, counts, NULL), 0);
	assert_int_equal(s.n, 5);
	assert_int_equal(counts[KC_CMP_EQUAL], 1);
	assert_int_equal(counts[KC_CMP_DIFFERENT], 2);
	assert_int_equal(counts[KC_CMP_SHOP_ONLY], 1);
	assert_int_equal(counts[KC_CMP_KEYCRM_ONLY], 1);
	assert_str(s.sku[0], "BIG");
	assert_true(s.diff[0] == 40);
	assert_str(s.sku[1], "MUG");
	assert_true(s.diff[1] == -5);
	assert_str(s.sku[2], "ONLY-SHOP");
	assert_str(s.sku[3], "ONLY-CRM");
	assert_str(s.sku[4], "Tee-S");
	assert_int_equal(s.kind[4], KC_CMP_EQUAL);
	kc_store_close(&st);
}

static void
csv_quotes_and_defuses(void **state)
{
	struct kc_store st;
	struct kc_buf out;

	(void)state;
	assert_int_equal(kc_store_open(&st, dir, NULL), 0);
	assert_int_equal(kc_store_compare_prepare(&st, 1, NULL), 0);
	shop(&st, "=HYPERLINK(\"x\")", 1, 5);
	shop(&st, "a,b", 2, 6);
	kc_buf_init(&out);
	assert_int_equal(kc_compare_csv(&st, &out, NULL), 0);
	assert_non_null(strstr(out.data,
	    "sku,status,shop,keycrm_available,difference,shop_product_id,shop_parent_id\r\n"));
	assert_non_null(strstr(out.data, "\"'=HYPERLINK(\"\"x\"\")\",only_in_shop,1,,,5,0\r\n"));
	assert_non_null(strstr(out.data, "\"a,b\",only_in_shop,2,,,6,0\r\n"));
	kc_buf_free(&out);
	kc_store_close(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(rows_meet_by_the_shops_sku_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(csv_quotes_and_defuses, setup, teardown),
	};
	return cmocka_run_group_tests_name("compare", tests, NULL, NULL);
}
