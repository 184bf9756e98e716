/*
 * The state store: coalescing in the inbox, settling rows without losing
 * a value that arrived meanwhile, migrations.
 */
#include "unit.h"

#include <unistd.h>

#include "store.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	return unit_make_dir(dir, sizeof(dir), "store");
}

static int
teardown(void **state)
{
	(void)state;
	return unit_remove_dir(dir);
}

static struct kc_stock_report
report(const char *sku, double in_stock, double in_reserve)
{
	struct kc_stock_report r = { (char *)sku, 0, in_stock, in_reserve };
	return r;
}

static void
newest_value_wins(void **state)
{
	struct kc_store st;
	struct kc_inbox_row *rows;
	size_t n;
	struct kc_stock_report a[] = { report("A", 5, 1), report("B", 2, 0), report("A", 7, 1) };
	struct kc_stock_report b[] = { report("B", 9, 0) };

	(void)state;
	assert_int_equal(kc_store_open(&st, dir, NULL), 0);
	assert_int_equal(kc_store_enqueue(&st, a, 3, 1.0, NULL), 0);
	assert_int_equal(kc_store_enqueue(&st, b, 1, 2.0, NULL), 0);
	assert_int_equal(kc_store_inbox_count(&st), 2);
	assert_int_equal(kc_store_inbox_take(&st, 1, 10, &rows, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_str(rows[0].report.sku, "A");
	assert_true(rows[0].report.in_stock == 7);
	assert_str(rows[1].report.sku, "B");
	assert_true(rows[1].report.in_stock == 9);
	kc_store_inbox_rows_free(rows, n);
	kc_store_close(&st);
}

static void
settling_keeps_newer_values(void **state)
{
	struct kc_store st;
	struct kc_inbox_row *rows;
	size_t n;
	struct kc_stock_report first[] = { report("S", 5, 0) };
	struct kc_stock_report second[] = { report("S", 8, 0) };

	(void)state;
	assert_int_equal(kc_store_open(&st, dir, NULL), 0);
	assert_int_equal(kc_store_enqueue(&st, first, 1, 1.0, NULL), 0);
	assert_int_equal(kc_store_inbox_take(&st, 7, 10, &rows, &n, NULL), 0);
	assert_int_equal(n, 1);
	/* A webhook replaces the value while the applier works on it... */
	assert_int_equal(kc_store_enqueue(&st, second, 1, 2.0, NULL), 0);
	/* ...so settling the old value must not remove the new one. */
	assert_int_equal(kc_store_inbox_done(&st, "S", rows[0].seq, NULL), 0);
	assert_int_equal(kc_store_inbox_count(&st), 1);
	kc_store_inbox_rows_free(rows, n);

	/* A failed try is kept but not taken again by the same run. */
	assert_int_equal(kc_store_inbox_take(&st, 7, 10, &rows, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kc_store_inbox_retry(&st, "S", rows[0].seq, 7, "shop down", NULL), 0);
	kc_store_inbox_rows_free(rows, n);
	assert_int_equal(kc_store_inbox_take(&st, 7, 10, &rows, &n, NULL), 0);
	assert_int_equal(n, 0);
	free(rows);
	assert_int_equal(kc_store_inbox_untried(&st, 7), 0);
	assert_int_equal(kc_store_inbox_untried(&st, 8), 1);
	assert_int_equal(kc_store_inbox_take(&st, 8, 10, &rows, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].attempts, 1);
	kc_store_inbox_rows_free(rows, n);
	kc_store_close(&st);
}

static void
ledger_records_both_sides(void **state)
{
	struct kc_store st;
	struct kc_stock_report r[] = { report("L", 16, 3) };
	long long agreed;
	double in_stock, in_reserve;

	(void)state;
	assert_int_equal(kc_store_open(&st, dir, NULL), 0);
	assert_int_equal(kc_store_ledger_get(&st, "L", &agreed, &in_stock, &in_reserve), -1);
	assert_int_equal(kc_store_enqueue(&st, r, 1, 1.0, NULL), 0);
	assert_int_equal(kc_store_ledger_get(&st, "L", &agreed, &in_stock, &in_reserve), 0);
	assert_int_equal(agreed, -1);
	assert_true(in_stock == 16 && in_reserve == 3);
	assert_int_equal(kc_store_ledger_agree(&st, "L", 13, 2.0, NULL), 0);
	assert_int_equal(kc_store_ledger_get(&st, "L", &agreed, &in_stock, &in_reserve), 0);
	assert_int_equal(agreed, 13);
	kc_store_close(&st);
}

static void
reopening_keeps_schema(void **state)
{
	struct kc_store st;
	struct kc_error err = { { 0 } };

	(void)state;
	assert_int_equal(kc_store_open(&st, dir, &err), 0);
	kc_store_close(&st);
	assert_int_equal(kc_store_open(&st, dir, &err), 0);
	assert_true(kc_store_next_run_id(&st) > 0);
	kc_store_close(&st);
	assert_int_equal(kc_store_open(&st, "/nonexistent/deeper/dir", &err), -1);
	assert_non_null(strstr(err.msg, "state_dir"));
}

static void
group_commit_keeps_each_webhook_whole(void **state)
{
	struct kc_store st;
	struct kc_stock_report a[] = { report("GA", 1, 0), report("GB", 2, 0) };
	struct kc_stock_report b[] = { report("GC", 3, 0) };
	struct kc_history h = { 0 };
	struct kc_accept one = { a, 2, 1.0, &h, 0, { { 0 } } };
	struct kc_accept two = { b, 1, 1.0, NULL, 0, { { 0 } } };
	struct kc_accept *const both[] = { &one, &two };

	(void)state;
	h.kind = "webhook";
	h.started_at = h.finished_at = 1.0;
	assert_int_equal(kc_store_open(&st, dir, NULL), 0);
	assert_int_equal(kc_store_accept_group(&st, both, 2, NULL), 0);
	assert_int_equal(one.rc, 0);
	assert_int_equal(two.rc, 0);
	assert_int_equal(kc_store_inbox_count(&st), 3);
	kc_store_close(&st);
}

static void
map_tells_one_product_from_several(void **state)
{
	struct kc_store st;
	struct kc_map_entry e;

	(void)state;
	assert_int_equal(kc_store_open(&st, dir, NULL), 0);
	assert_int_equal(kc_store_map_one(&st, "M-1", &e, NULL), KC_STORE_ABSENT);
	assert_int_equal(kc_store_map_add(&st, "M-1", 12, 0, "simple", "yes", 5, 1, 100.0,
	    NULL), 0);
	assert_int_equal(kc_store_map_one(&st, "m-1", &e, NULL), 0);
	assert_int_equal(e.id, 12);
	assert_int_equal(e.count, 1);
	assert_str(e.type, "simple");
	assert_str(e.manage, "yes");
	assert_true(e.confirmed_at == 100.0);
	assert_int_equal(kc_store_map_add(&st, "M-1", 13, 0, "simple", "yes", 5, 1, 100.0,
	    NULL), 0);
	assert_int_equal(kc_store_map_one(&st, "M-1", &e, NULL), 0);
	assert_int_equal(e.count, 2);
	assert_int_equal(kc_store_map_clear(&st, "m-1", NULL), 0);
	assert_int_equal(kc_store_map_one(&st, "M-1", &e, NULL), KC_STORE_ABSENT);
	kc_store_close(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(newest_value_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(settling_keeps_newer_values, setup, teardown),
		cmocka_unit_test_setup_teardown(ledger_records_both_sides, setup, teardown),
		cmocka_unit_test_setup_teardown(reopening_keeps_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(group_commit_keeps_each_webhook_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(map_tells_one_product_from_several, setup, teardown),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
