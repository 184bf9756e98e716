/*
 * store_map.c - the SKU -> product map the applier learns, and the problems found per SKU.
 * See store.h; SQL lives in the store_*.c files only.
 */
#include "store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


#include "store_sql.h"

int
kc_store_map_clear(struct kc_store *st, const char *sku, struct kc_error *err)
{
	struct kc_db_stmt *s = kc_sql_prepare(st, "DELETE FROM sku_map WHERE sku_key = kc_sku_key(?1)", err);

	if (s == NULL)
		return -1;
	kc_db_bind_text(s, 1, sku);
	return kc_sql_run(st, s, "sku map", err);
}

int
kc_store_map_add(struct kc_store *st, const char *sku, long long id,
    long long parent_id, const char *type, const char *manage_stock,
    long long qty, int has_qty, double now, struct kc_error *err)
{
	struct kc_db_stmt *s = kc_sql_prepare(st, "INSERT OR REPLACE INTO sku_map(sku,"
	    " product_id, parent_id, type, manage_stock, stock_quantity,"
	    " refreshed_at, sku_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, kc_sku_key(?1))", err);

	if (s == NULL)
		return -1;
	kc_db_bind_text(s, 1, sku);
	kc_db_bind_int64(s, 2, id);
	kc_db_bind_int64(s, 3, parent_id);
	kc_db_bind_text(s, 4, type);
	kc_db_bind_text(s, 5, manage_stock);
	if (has_qty)
		kc_db_bind_int64(s, 6, qty);
	else
		kc_db_bind_null(s, 6);
	kc_db_bind_double(s, 7, now);
	return kc_sql_run(st, s, "sku map", err);
}

int
kc_store_map_one(struct kc_store *st, const char *sku, struct kc_map_entry *out,
    struct kc_error *err)
{
	struct kc_db_stmt *s = kc_sql_prepare(st, "SELECT product_id, parent_id, type,"
	    " manage_stock, refreshed_at, (SELECT count(*) FROM sku_map"
	    " WHERE sku_key = kc_sku_key(?1)) FROM sku_map"
	    " WHERE sku_key = kc_sku_key(?1) LIMIT 1", err);
	int rc;

	if (s == NULL)
		return -1;
	kc_db_bind_text(s, 1, sku);
	memset(out, 0, sizeof(*out));
	rc = kc_db_step(s);
	if (rc == KC_DB_ROW) {
		const char *type = kc_db_column_text(s, 2);
		const char *manage = kc_db_column_text(s, 3);

		out->id = kc_db_column_int64(s, 0);
		out->parent_id = kc_db_column_int64(s, 1);
		kc_strlcpy(out->type, type ? type : "", sizeof(out->type));
		kc_strlcpy(out->manage, manage ? manage : "", sizeof(out->manage));
		out->confirmed_at = kc_db_column_double(s, 4);
		out->count = kc_db_column_int64(s, 5);
		rc = 0;
	} else if (rc == KC_DB_DONE) {
		rc = KC_STORE_ABSENT;
	} else {
		kc_sql_db_error(st, err, "sku map");
		rc = -1;
	}
	kc_sql_release(st, s);
	return rc;
}

static const char *
problem_name(enum kc_problem kind)
{
	switch (kind) {
	case KC_PROBLEM_UNMATCHED: return "unmatched";
	case KC_PROBLEM_DUPLICATE: return "duplicate";
	case KC_PROBLEM_SKIPPED: return "skipped";
	case KC_PROBLEM_FAILED: return "failed";
	case KC_PROBLEM_NOT_IN_KEYCRM: return "not_in_keycrm";
	}
	return "?";
}

int
kc_store_problem(struct kc_store *st, const char *sku, enum kc_problem kind,
    const char *detail, double now, struct kc_error *err)
{
	struct kc_db_stmt *s;

	if (detail == NULL) {
		s = kc_sql_prepare(st, "DELETE FROM problems WHERE sku_key = kc_sku_key(?1) AND kind = ?2", err);
		if (s == NULL)
			return -1;
		kc_db_bind_text(s, 1, sku);
		kc_db_bind_text(s, 2, problem_name(kind));
		return kc_sql_run(st, s, "problems", err);
	}
	s = kc_sql_prepare(st, "INSERT INTO problems(sku_key, sku, kind, detail, count,"
	    " first_seen, last_seen) VALUES (kc_sku_key(?1), ?1, ?2, ?3, 1, ?4, ?4)"
	    " ON CONFLICT(sku_key, kind) DO UPDATE SET sku = excluded.sku,"
	    " detail = excluded.detail, count = count + 1,"
	    " last_seen = excluded.last_seen", err);
	if (s == NULL)
		return -1;
	kc_db_bind_text(s, 1, sku);
	kc_db_bind_text(s, 2, problem_name(kind));
	kc_db_bind_text(s, 3, detail);
	kc_db_bind_double(s, 4, now);
	return kc_sql_run(st, s, "problems", err);
}
