/*
 * Retention: old history, problems not seen for long and ledger rows of
 * SKUs neither side has had go; pending work, agreed SKUs and recent rows
 * stay; it runs at most once a day.
 */
#include "unit.h"

#include <sqlite3.h>
#include <unistd.h>

#include "db.h"
#include "store_retention.h"

#define DAY 86400.0
#define T 1.7e9

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	return unit_make_dir(dir, sizeof(dir), "retention");
}

static int
teardown(void **state)
{
	(void)state;
	return unit_remove_dir(dir);
}

/* A KeyCRM report at `at`, taken from the inbox (settled) unless pending. */
static void
reported(struct kc_store *st, const char *sku, double at, int pending)
{
	struct kc_stock_report r = { (char *)sku, 0, 3, 0 };
	struct kc_inbox_row *rows;
	size_t n;

	assert_int_equal(kc_store_enqueue(st, &r, 1, at, NULL), 0);
	if (pending)
		return;
	assert_int_equal(kc_store_inbox_take(st, (int64_t)at, 100, &rows, &n, NULL), 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].report.sku, sku) == 0)
			assert_int_equal(kc_store_inbox_done(st, sku, rows[i].seq, NULL), 0);
	kc_store_inbox_rows_free(rows, n);
}

static long
count(struct kc_store *st, const char *sql)
{
	sqlite3_stmt *s;
	long n = -1;

	assert_int_equal(sqlite3_prepare_v2(kc_db_handle(st->db), sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static int
known(struct kc_store *st, const char *sku)
{
	long long q;
	double a, b;

	return kc_store_ledger_get(st, sku, &q, &a, &b) == 0;
}

static void
drops_what_nobody_has_had_and_keeps_pending_work(void **state)
{
	struct kc_store st;
	struct kc_retention_result res;
	struct kc_history h = { 0 };

	(void)state;
	assert_int_equal(kc_store_open(&st, dir, NULL), 0);
	reported(&st, "OLD-UNKNOWN", T - 100 * DAY, 0);
	reported(&st, "OLD-PENDING", T - 100 * DAY, 1);
	reported(&st, "OLD-AGREED", T - 100 * DAY, 0);
	assert_int_equal(kc_store_ledger_agree(&st, "OLD-AGREED", 3, T - 100 * DAY, NULL), 0);
	reported(&st, "RECENT", T - DAY, 0);
	assert_int_equal(kc_store_problem(&st, "OLD-UNKNOWN", KC_PROBLEM_UNMATCHED, "x",
	    T - 40 * DAY, NULL), 0);
	assert_int_equal(kc_store_problem(&st, "RECENT", KC_PROBLEM_UNMATCHED, "x",
	    T - DAY, NULL), 0);
	h.kind = "sync";
	assert_int_equal(kc_store_begin(&st, NULL), 0);
	h.started_at = T - 100 * DAY;
	assert_int_equal(kc_store_history_add(&st, &h, NULL), 0);
	for (int i = 0; i < 10; i++) {
		h.started_at = T - DAY + i;
		assert_int_equal(kc_store_history_add(&st, &h, NULL), 0);
	}
	assert_int_equal(kc_store_commit(&st, NULL), 0);

	assert_int_equal(kc_store_retention(&st, T, 0, &res, NULL), 1);
	assert_int_equal(res.ledger, 1);
	assert_false(known(&st, "OLD-UNKNOWN"));
	assert_true(known(&st, "OLD-PENDING"));
	assert_true(known(&st, "OLD-AGREED"));
	assert_true(known(&st, "RECENT"));
	assert_int_equal(kc_store_inbox_count(&st), 1);
	assert_int_equal(res.problems, 1);
	assert_int_equal(count(&st, "SELECT count(*) FROM problems"), 1);
	assert_int_equal(res.history, 1);
	assert_int_equal(count(&st, "SELECT count(*) FROM history"), 10);
	assert_int_equal(count(&st, "SELECT min(started_at) FROM history"), (long)(T - DAY));
	/* Once a day at most, unless forced. */
	assert_int_equal(kc_store_retention(&st, T + 3600, 0, &res, NULL), 0);
	assert_int_equal(kc_store_retention(&st, T + DAY + 1, 0, &res, NULL), 1);
	assert_int_equal(kc_store_retention(&st, T + DAY + 2, 1, &res, NULL), 1);
	kc_store_close(&st);
	assert_true(kc_store_disk_bytes(dir) > 0);
	assert_true(kc_store_disk_bytes("/nonexistent") < 0);
}

/* A state that shrank by most of its rows gives the space back. */
static void
compacts_a_mostly_empty_file(void **state)
{
	struct kc_store st;
	struct kc_retention_result res;
	struct kc_stock_report *r = calloc(20000, sizeof(*r));
	char (*names)[32] = calloc(20000, 32);
	long long before;

	(void)state;
	assert_int_equal(kc_store_open(&st, dir, NULL), 0);
	for (int i = 0; i < 20000; i++) {
		snprintf(names[i], 32, "UNKNOWN-%06d-PADDING-PADDING", i);
		r[i].sku = names[i];
		r[i].in_stock = 1;
	}
	assert_int_equal(kc_store_enqueue(&st, r, 20000, T - 200 * DAY, NULL), 0);
	assert_int_equal(sqlite3_exec(kc_db_handle(st.db), "DELETE FROM inbox", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_exec(kc_db_handle(st.db), "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	before = kc_store_disk_bytes(dir);
	assert_int_equal(kc_store_retention(&st, T, 1, &res, NULL), 1);
	assert_true(res.ledger >= 20000);
	assert_int_equal(res.vacuumed, 1);
	kc_store_close(&st);
	assert_true(kc_store_disk_bytes(dir) * 2 < before);
	free(r);
	free(names);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(drops_what_nobody_has_had_and_keeps_pending_work,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(compacts_a_mostly_empty_file, setup, teardown),
	};
	return cmocka_run_group_tests_name("retention", tests, NULL, NULL);
}
