/*
 * store_problems.c - see store_problems.h.
 */
#include "store_problems.h"

#include <string.h>

#include <sqlite3.h>

int
kc_store_problems_prune_scan(struct kc_store *st, double scan_started,
    struct kc_error *err)
{
	static const char *const sql[] = {
		"DELETE FROM sku_map WHERE sku_key IN (SELECT sku_key FROM problems"
		" WHERE kind = 'duplicate' AND last_seen < ?1)",
		"DELETE FROM problems WHERE kind IN ('duplicate', 'skipped')"
		" AND last_seen < ?1",
	};
	char *msg = NULL;
	int rc = 0;

	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]) && rc == 0; i++) {
		sqlite3_stmt *s;

		if (sqlite3_prepare_v2(st->db, sql[i], -1, &s, NULL) != SQLITE_OK) {
			rc = -1;
			break;
		}
		sqlite3_bind_double(s, 1, scan_started);
		if (sqlite3_step(s) != SQLITE_DONE)
			rc = -1;
		sqlite3_finalize(s);
	}
	if (rc == 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, &msg) == SQLITE_OK)
		return 0;
fail:
	kc_error_set(err, "state database %s: pruning problems: %s", st->path,
	    msg ? msg : sqlite3_errmsg(st->db));
	sqlite3_free(msg);
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int
kc_store_problem_kind(const char *name)
{
	static const char *const names[] = {
		[KC_PROBLEM_UNMATCHED] = "unmatched", [KC_PROBLEM_DUPLICATE] = "duplicate",
		[KC_PROBLEM_SKIPPED] = "skipped", [KC_PROBLEM_FAILED] = "failed",
		[KC_PROBLEM_NOT_IN_KEYCRM] = "not_in_keycrm",
	};

	for (size_t i = 0; name != NULL && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return (int)i;
	return -1;
}

int
kc_store_problem_product(struct kc_store *st, const char *sku,
    long long *product_id, long long *parent_id, char *name, size_t namesz)
{
	/* The shop's lookups first, else what the last comparison read. */
	static const char *const sql[] = {
		"SELECT s.product_id, s.parent_id, (SELECT name FROM compare_shop c"
		" WHERE c.product_id = s.product_id) FROM sku_map s"
		" WHERE s.sku_key = kc_sku_key(?1) ORDER BY product_id LIMIT 1",
		"SELECT product_id, parent_id, name FROM compare_shop WHERE key = kc_sku_key(?1)"
		" ORDER BY product_id LIMIT 1",
	};
	int rc = -1;

	if (namesz > 0)
		name[0] = '\0';

	for (size_t i = 0; rc != 0 && i < sizeof(sql) / sizeof(sql[0]); i++) {
		sqlite3_stmt *s;

		if (sqlite3_prepare_v2(st->db, sql[i], -1, &s, NULL) != SQLITE_OK)
			continue;	/* no comparison has run yet */
		sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW) {
			*product_id = sqlite3_column_int64(s, 0);
			*parent_id = sqlite3_column_int64(s, 1);
			if (sqlite3_column_text(s, 2) != NULL && namesz > 0)
				kc_strlcpy(name, (const char *)sqlite3_column_text(s, 2), namesz);
			rc = 0;
		}
		sqlite3_finalize(s);
	}
	return rc;
}
