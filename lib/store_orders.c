/*
 * store_orders.c - the shop's variable products and, with shop_orders_in_keycrm, its order lines.
 * See store.h; SQL lives in the store_*.c files only.
 */
#include "store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


#include "store_sql.h"

int
kc_store_parent_set(struct kc_store *st, long long id, const char *sku,
    double now, struct kc_error *err)
{
	struct kc_db_stmt *s = kc_sql_prepare(st, "INSERT OR REPLACE INTO shop_parents(id, sku,"
	    " seen_at) VALUES (?1, ?2, ?3)", err);

	if (s == NULL)
		return -1;
	kc_db_bind_int64(s, 1, id);
	kc_db_bind_text(s, 2, sku);
	kc_db_bind_double(s, 3, now);
	return kc_sql_run(st, s, "shop parents", err);
}

long long
kc_store_parent_next(struct kc_store *st, long long after, double seen_since)
{
	struct kc_db_stmt *s;
	long long id = -1;

	if ((s = kc_sql_prepare(st, "SELECT min(id) FROM shop_parents WHERE"
	    " id > ?1 AND seen_at >= ?2", NULL)) == NULL)
		return -1;
	kc_db_bind_int64(s, 1, after);
	kc_db_bind_double(s, 2, seen_since);
	if (kc_db_step(s) == KC_DB_ROW)
		id = kc_db_column_type(s, 0) == KC_DB_NULL ? 0 :
		    kc_db_column_int64(s, 0);
	kc_sql_release(st, s);
	return id;
}

int
kc_store_parent_sku(struct kc_store *st, long long id, char *out, size_t outsz)
{
	struct kc_db_stmt *s;
	int rc;

	if ((s = kc_sql_prepare(st, "SELECT sku FROM shop_parents WHERE id = ?1", NULL)) == NULL)
		return -1;
	kc_db_bind_int64(s, 1, id);
	rc = kc_db_step(s);
	if (rc == KC_DB_ROW)
		kc_strlcpy(out, kc_db_column_text(s, 0), outsz);
	kc_sql_release(st, s);
	return rc == KC_DB_ROW ? 0 : rc == KC_DB_DONE ? KC_STORE_ABSENT : -1;
}

int
kc_store_order_line(struct kc_store *st, long long line_id, const char *sku,
    double reduced, double at, struct kc_error *err)
{
	struct kc_db_stmt *s;
	double counted;

	if (kc_store_order_counted(st, line_id, &counted) != 0)
		return kc_sql_db_error(st, err, "order lines");
	if (reduced == counted)
		return 0;
	s = kc_sql_prepare(st, "INSERT OR REPLACE INTO order_lines(line_id, sku, counted)"
	    " VALUES (?1, ?2, ?3)", err);
	if (s == NULL)
		return -1;
	kc_db_bind_int64(s, 1, line_id);
	kc_db_bind_text(s, 2, sku);
	kc_db_bind_double(s, 3, reduced);
	if (kc_sql_run(st, s, "order lines", err) != 0)
		return -1;
	s = kc_sql_prepare(st, "INSERT INTO order_events(sku, delta, at) VALUES (?1, ?2, ?3)", err);
	if (s == NULL)
		return -1;
	kc_db_bind_text(s, 1, sku);
	kc_db_bind_double(s, 2, reduced - counted);
	kc_db_bind_double(s, 3, at);
	if (kc_sql_run(st, s, "order events", err) != 0)
		return -1;
	/* A month back is far more than any scan overlaps. */
	s = kc_sql_prepare(st, "DELETE FROM order_events WHERE at < ?1", err);
	if (s == NULL)
		return -1;
	kc_db_bind_double(s, 1, at - 31 * 86400.0);
	return kc_sql_run(st, s, "order events", err);
}

int
kc_store_explained(struct kc_store *st, const char *sku, double agreed_at,
    struct kc_explained *out)
{
	struct kc_db_stmt *s;
	double second = floor(agreed_at);
	int rc;

	memset(out, 0, sizeof(*out));
	/* Order times are whole seconds: the agreement's own second is unsure. */
	if ((s = kc_sql_prepare(st, "SELECT total(CASE WHEN at >= ?3 THEN delta END),"
	    " total(CASE WHEN at < ?3 THEN delta END) FROM order_events"
	    " WHERE sku = ?1 AND at >= ?2", NULL)) == NULL)
		return -1;
	kc_db_bind_text(s, 1, sku);
	kc_db_bind_double(s, 2, second);
	kc_db_bind_double(s, 3, second + 1);
	rc = kc_db_step(s);
	if (rc == KC_DB_ROW) {
		out->after = kc_db_column_double(s, 0);
		out->same_second = kc_db_column_double(s, 1);
	}
	kc_sql_release(st, s);
	return rc == KC_DB_ROW ? 0 : -1;
}

int
kc_store_order_counted(struct kc_store *st, long long line_id, double *counted)
{
	struct kc_db_stmt *s;
	int rc;

	*counted = 0;
	if ((s = kc_sql_prepare(st, "SELECT counted FROM order_lines WHERE line_id = ?1", NULL)) == NULL)
		return -1;
	kc_db_bind_int64(s, 1, line_id);
	rc = kc_db_step(s);
	if (rc == KC_DB_ROW)
		*counted = kc_db_column_double(s, 0);
	kc_sql_release(st, s);
	return rc == KC_DB_ROW || rc == KC_DB_DONE ? 0 : -1;
}
