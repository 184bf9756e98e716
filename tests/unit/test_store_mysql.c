/*
 * test_store_mysql.c - the store on MariaDB: its schema made once and
 * found again, leases between two holders, the store's own statements.
 *
 * Runs when KC_TEST_MYSQL_SOCKET names a server
 * (tests/integration/test_db.py starts one); skipped otherwise.
 */
#include "unit.h"

#include <unistd.h>

#include "config.h"
#include "db.h"
#include "runlock.h"
#include "store.h"
#include "store_lease.h"
#include "store_mysql.h"
#include "store_settings.h"
#include "store_sql.h"

static struct kc_store_mysql
where(const char *prefix)
{
	struct kc_store_mysql p = {
		.host = getenv("KC_TEST_MYSQL_SOCKET"),
		.database = getenv("KC_TEST_MYSQL_DATABASE"),
		.user = getenv("KC_TEST_MYSQL_USER"),
		.password = getenv("KC_TEST_MYSQL_PASSWORD"),
		.table_prefix = prefix,
	};
	return p;
}

static void
open_store(struct kc_store *st, const char *prefix)
{
	struct kc_store_mysql p = where(prefix);
	struct kc_error err = { "" };

	if (!p.host)
		skip();
	if (kc_store_open_mysql(st, &p, &err) != 0)
		fail_msg("open: %s", err.msg);
}

/* Tables made under the prefix, at the SQLite schema's version; again: no-op. */
static void
test_schema(void **state)
{
	struct kc_store a, b;
	struct kc_db_stmt *s;
	int tables = 0;

	(void)state;
	open_store(&a, "kc_schema_");
	assert_int_equal(kc_db_prepare(a.db, "SELECT COUNT(*) FROM "
	    "information_schema.tables WHERE table_schema = DATABASE() AND "
	    "table_name LIKE 'kc\\\\_schema\\\\_%'", &s), 0);
	assert_int_equal(kc_db_step(s), KC_DB_ROW);
	tables = (int)kc_db_column_int64(s, 0);
	kc_db_finalize(s);
	assert_int_equal(tables, 18);
	assert_int_equal(kc_db_prepare(a.db, "SELECT version FROM schema_version",
	    &s), 0);
	assert_int_equal(kc_db_step(s), KC_DB_ROW);
	assert_int_equal(kc_db_column_int64(s, 0), KC_STORE_MYSQL_VERSION);
	kc_db_finalize(s);
	open_store(&b, "kc_schema_");
	kc_store_close(&b);
	kc_store_close(&a);
}

static void
test_leases(void **state)
{
	struct kc_store a, b;
	struct kc_lease la, lb;
	struct kc_error err;

	(void)state;
	open_store(&a, "kc_lease_");
	open_store(&b, "kc_lease_");
	assert_int_equal(kc_lease_busy(&b, "apply"), 0);
	assert_int_equal(kc_lease_take(&a, &la, "apply", 30, &err), 0);
	assert_int_equal(kc_lease_busy(&b, "apply"), 1);
	assert_int_equal(kc_lease_busy(&b, "sync"), 0);
	assert_int_equal(kc_lease_take(&b, &lb, "apply", 30, &err),
	    KC_LEASE_BUSY);
	assert_int_equal(kc_lease_renew(&a, &la, &err), 0);
	/* Another name is another lease. */
	assert_int_equal(kc_lease_take(&b, &lb, "sync", 30, &err), 0);
	kc_lease_release(&b, &lb);
	kc_lease_release(&a, &la);
	assert_int_equal(kc_lease_take(&b, &lb, "apply", 0.2, &err), 0);
	/* b stops renewing (as a dead server would): a takes over... */
	usleep(300000);
	assert_int_equal(kc_lease_busy(&a, "apply"), 0);
	assert_int_equal(kc_lease_take(&a, &la, "apply", 30, &err), 0);
	/* ...and b learns it has lost the lease at its next renewal. */
	assert_int_equal(kc_lease_renew(&b, &lb, &err), KC_LEASE_BUSY);
	kc_lease_release(&b, &lb);	/* not its own any more: no effect */
	assert_int_equal(kc_lease_take(&b, &lb, "apply", 30, &err),
	    KC_LEASE_BUSY);
	kc_lease_release(&a, &la);
	kc_store_close(&a);
	kc_store_close(&b);
}

/* The store's key-value reads and writes, through the dialect. */
static void
test_kv(void **state)
{
	struct kc_store st;
	struct kc_error err;
	char out[64];

	(void)state;
	open_store(&st, "kc_kv_");
	assert_int_equal(kc_store_kv_set(&st, "scan.cursor", "42", &err), 0);
	assert_int_equal(kc_store_kv_set(&st, "scan.cursor", "43", &err), 0);
	assert_int_equal(kc_store_kv_get(&st, "scan.cursor", out, sizeof(out)), 0);
	assert_str(out, "43");
	assert_int_equal(kc_store_kv_set(&st, "scan.cursor", NULL, &err), 0);
	assert_int_equal(kc_store_kv_get(&st, "scan.cursor", out, sizeof(out)),
	    KC_STORE_ABSENT);
	kc_store_close(&st);
}

/* The run lock of a configuration that names the database is a lease. */
static void
test_runlock(void **state)
{
	struct kc_store_mysql p = where("kc_runlock_");
	struct kc_config cfg;
	struct kc_runlock *a, *b;
	struct kc_error err = { "" };

	(void)state;
	if (!p.host)
		skip();
	kc_config_defaults(&cfg);
	cfg.mysql_host = strdup(p.host);
	cfg.mysql_database = strdup(p.database);
	cfg.mysql_user = strdup(p.user);
	cfg.mysql_password = strdup(p.password);
	free(cfg.mysql_table_prefix);
	cfg.mysql_table_prefix = strdup(p.table_prefix);
	if (kc_runlock_take(&cfg, "sync", 0, &a, &err) != 0)
		fail_msg("take: %s", err.msg);
	assert_int_equal(kc_runlock_take(&cfg, "sync", 300, &b, &err), 1);
	assert_false(kc_runlock_lost(a));
	kc_runlock_release(a);
	assert_int_equal(kc_runlock_take(&cfg, "sync", 0, &b, &err), 0);
	kc_runlock_release(b);
	kc_config_free(&cfg);
}

/* Settings saved in the database are laid over the file's, checked again. */
static void
test_settings(void **state)
{
	struct kc_store st;
	struct kc_config cfg;
	struct kc_error err = { "" };

	(void)state;
	open_store(&st, "kc_settings_");
	kc_config_defaults(&cfg);
	assert_int_equal(kc_store_settings_apply(&st, &cfg, &err), 0);
	assert_int_equal(cfg.subtract_reserve, 1);
	assert_int_equal(kc_store_settings_put(&st, "subtract_reserve = no\n"
	    "keycrm_warehouse_id = 7\n", 1000, &err), 0);
	assert_int_equal(kc_store_settings_apply(&st, &cfg, &err), 0);
	assert_int_equal(cfg.subtract_reserve, 0);
	assert_int_equal(cfg.keycrm_warehouse_id, 7);
	/* A key the page may not set is refused, naming where it came from. */
	assert_int_equal(kc_store_settings_put(&st, "webhook_secret = "
	    "0123456789abcdef0123456789abcdef\n", 1001, &err), 0);
	assert_int_equal(kc_store_settings_apply(&st, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "database"));
	kc_config_free(&cfg);
	kc_store_close(&st);
}

/* One CSRF key for every server, made once. */
static void
test_shared_secret(void **state)
{
	struct kc_store a, b;
	unsigned char ka[32], kb[32], zero[32] = { 0 };
	struct kc_error err;

	(void)state;
	open_store(&a, "kc_secret_");
	open_store(&b, "kc_secret_");
	assert_int_equal(kc_store_shared_secret(&a, "csrf", ka, sizeof(ka), &err), 0);
	assert_int_equal(kc_store_shared_secret(&b, "csrf", kb, sizeof(kb), &err), 0);
	assert_memory_equal(ka, kb, sizeof(ka));
	assert_memory_not_equal(ka, zero, sizeof(ka));
	/* Another name, another secret. */
	assert_int_equal(kc_store_shared_secret(&b, "other", kb, sizeof(kb), &err), 0);
	assert_memory_not_equal(ka, kb, sizeof(ka));
	kc_store_close(&a);
	kc_store_close(&b);
}

/* The change counter counts on MariaDB too (no UPDATE ... RETURNING there). */
static void
test_counter(void **state)
{
	struct kc_store st;
	struct kc_error err;
	int64_t a, b;

	(void)state;
	open_store(&st, "kc_counter_");
	a = kc_sql_next_counter(&st, "change_seq", &err);
	b = kc_sql_next_counter(&st, "change_seq", &err);
	assert_true(a >= 1);
	assert_int_equal(b, a + 1);
	assert_int_equal(kc_sql_next_counter(&st, "no_such_counter", &err), -1);
	kc_store_close(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema),
		cmocka_unit_test(test_leases),
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_runlock),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_shared_secret),
		cmocka_unit_test(test_counter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
