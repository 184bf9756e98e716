/*
 * store_problems.c - see store_problems.h.
 */
#include "db.h"
#include "store_problems.h"

#include <string.h>


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
	int rc = 0;

	if (kc_store_begin(st, NULL) != 0)
		goto fail;
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]) && rc == 0; i++) {
		struct kc_db_stmt *s;

		if (kc_db_prepare(st->db, sql[i], &s) != 0) {
			rc = -1;
			break;
		}
		kc_db_bind_double(s, 1, scan_started);
		if (kc_db_step(s) != KC_DB_DONE)
			rc = -1;
		kc_db_finalize(s);
	}
	if (rc == 0 && kc_db_commit(st->db) == 0)
		return 0;
fail:
	kc_error_set(err, "state database %s: pruning problems: %s", st->path,
	    kc_db_errmsg(st->db));
	kc_db_rollback(st->db);
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
		struct kc_db_stmt *s;

		if (kc_db_prepare(st->db, sql[i], &s) != 0)
			continue;	/* no comparison has run yet */
		kc_db_bind_text(s, 1, sku);
		if (kc_db_step(s) == KC_DB_ROW) {
			*product_id = kc_db_column_int64(s, 0);
			*parent_id = kc_db_column_int64(s, 1);
			if (kc_db_column_text(s, 2) != NULL && namesz > 0)
				kc_strlcpy(name, kc_db_column_text(s, 2), namesz);
			rc = 0;
		}
		kc_db_finalize(s);
	}
	return rc;
}
