/*
 * store_compare.c - see store_compare.h.
 *
 * The tables are created on first use rather than by a schema migration:
 * they hold only a comparison in progress (or the last one), which can be
 * read again at any time.
 */
#include "store_compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


#include "store_sql.h"

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS compare_shop(key TEXT NOT NULL, sku TEXT NOT NULL,"
	"  qty INTEGER NOT NULL, product_id INTEGER NOT NULL, parent_id INTEGER NOT NULL,"
	"  name TEXT, PRIMARY KEY (key, product_id));"
	"CREATE TABLE IF NOT EXISTS compare_keycrm(key TEXT PRIMARY KEY, sku TEXT NOT NULL,"
	"  available REAL NOT NULL);"
	"CREATE TABLE IF NOT EXISTS compare_parents(id INTEGER PRIMARY KEY, sku TEXT NOT NULL);";

static int
fail(struct kc_store *st, struct kc_error *err, const char *what)
{
	kc_error_set(err, "state database %s: %s: %s", st->path, what,
	    kc_db_errmsg(st->db));
	return -1;
}

int
kc_store_compare_prepare(struct kc_store *st, int fresh, struct kc_error *err)
{
	if (kc_sql_exec(st, SCHEMA, err) != 0)
		return -1;
	if (!fresh)
		return 0;
	if (kc_store_begin(st, err) != 0)
		return -1;
	if (kc_sql_exec(st, "DELETE FROM compare_shop;"
	    " DELETE FROM compare_keycrm; DELETE FROM compare_parents", err) != 0) {
		kc_store_rollback(st);
		return -1;
	}
	return kc_store_commit(st, err);
}

static struct kc_db_stmt *
prepare(struct kc_store *st, const char *sql, struct kc_error *err)
{
	struct kc_db_stmt *s = NULL;

	if (kc_db_prepare(st->db, sql, &s) != 0) {
		fail(st, err, "prepare");
		return NULL;
	}
	return s;
}

static int
step_done(struct kc_store *st, struct kc_db_stmt *s, const char *what,
    struct kc_error *err)
{
	int rc = kc_db_step(s);

	kc_db_finalize(s);
	return rc == KC_DB_DONE ? 0 : fail(st, err, what);
}

int
kc_store_compare_shop_add(struct kc_store *st, const char *key, const char *sku,
    long long qty, long long product_id, long long parent_id, const char *name,
    struct kc_error *err)
{
	struct kc_db_stmt *s = prepare(st, "INSERT OR REPLACE INTO compare_shop"
	    " VALUES (?, ?, ?, ?, ?, ?)", err);

	if (s == NULL)
		return -1;
	kc_db_bind_text(s, 1, key);
	kc_db_bind_text(s, 2, sku);
	kc_db_bind_int64(s, 3, qty);
	kc_db_bind_int64(s, 4, product_id);
	kc_db_bind_int64(s, 5, parent_id);
	if (name != NULL)
		kc_db_bind_text(s, 6, name);
	else
		kc_db_bind_null(s, 6);
	return step_done(st, s, "compare: a shop row", err);
}

int
kc_store_compare_parent_add(struct kc_store *st, long long id, const char *sku,
    struct kc_error *err)
{
	struct kc_db_stmt *s = prepare(st, "INSERT OR REPLACE INTO compare_parents"
	    " VALUES (?, ?)", err);

	if (s == NULL)
		return -1;
	kc_db_bind_int64(s, 1, id);
	kc_db_bind_text(s, 2, sku);
	return step_done(st, s, "compare: a variable product", err);
}

long long
kc_store_compare_parent_next(struct kc_store *st, long long after)
{
	struct kc_db_stmt *s = prepare(st, "SELECT MIN(id) FROM compare_parents WHERE id > ?",
	    NULL);
	long long id = 0;

	if (s == NULL)
		return 0;
	kc_db_bind_int64(s, 1, after);
	if (kc_db_step(s) == KC_DB_ROW)
		id = kc_db_column_int64(s, 0);
	kc_db_finalize(s);
	return id;
}

int
kc_store_compare_parent_has_sku(struct kc_store *st, long long id, const char *sku)
{
	struct kc_db_stmt *s = prepare(st, "SELECT 1 FROM compare_parents WHERE id = ? AND sku = ?",
	    NULL);
	int found = 0;

	if (s == NULL)
		return 0;
	kc_db_bind_int64(s, 1, id);
	kc_db_bind_text(s, 2, sku);
	found = kc_db_step(s) == KC_DB_ROW;
	kc_db_finalize(s);
	return found;
}

int
kc_store_compare_keycrm_add(struct kc_store *st, const char *key, const char *sku,
    double available, struct kc_error *err)
{
	/* KeyCRM sums a SKU it lists twice: so do we. */
	struct kc_db_stmt *s = prepare(st, "INSERT INTO compare_keycrm VALUES (?, ?, ?)"
	    " ON CONFLICT(key) DO UPDATE SET available = available + excluded.available", err);

	if (s == NULL)
		return -1;
	kc_db_bind_text(s, 1, key);
	kc_db_bind_text(s, 2, sku);
	kc_db_bind_double(s, 3, available);
	return step_done(st, s, "compare: a KeyCRM row", err);
}

struct rows {
	struct kc_compare_row *v;
	char **keep;			/* SKU copies, freed at the end */
	size_t n, cap;
};

static struct kc_compare_row *
rows_add(struct rows *r, const char *sku)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		struct kc_compare_row *v = realloc(r->v, cap * sizeof(*v));
		char **keep;

		if (v == NULL)
			return NULL;
		r->v = v;
		if ((keep = realloc(r->keep, cap * sizeof(*keep))) == NULL)
			return NULL;
		r->keep = keep;
		r->cap = cap;
	}
	memset(&r->v[r->n], 0, sizeof(r->v[r->n]));
	if ((r->keep[r->n] = kc_strdup(sku)) == NULL)
		return NULL;
	r->v[r->n].sku = r->keep[r->n];
	return &r->v[r->n++];
}

/* What the shop would hold if KeyCRM's number were applied (SPEC 4.1). */
static double
shop_target(double available)
{
	double t = floor(available);

	return isfinite(t) && t > 0 ? t : 0;
}

static int
by_interest(const void *a, const void *b)
{
	const struct kc_compare_row *x = a, *y = b;
	static const int order[KC_CMP__MAX] = {
		[KC_CMP_DIFFERENT] = 0, [KC_CMP_SHOP_ONLY] = 1,
		[KC_CMP_KEYCRM_ONLY] = 2, [KC_CMP_EQUAL] = 3,
	};
	double dx = fabs(x->difference), dy = fabs(y->difference);

	if (order[x->kind] != order[y->kind])
		return order[x->kind] - order[y->kind];
	if (dx != dy)
		return dx > dy ? -1 : 1;
	return strcmp(x->sku, y->sku);
}

/* Both tables in key order, merged: one row per key. */
static int
merge(struct kc_store *st, struct rows *r, struct kc_error *err)
{
	struct kc_db_stmt *shop = prepare(st, "SELECT key, sku, qty, product_id, parent_id"
	    " FROM compare_shop ORDER BY key, product_id", err);
	struct kc_db_stmt *crm = shop ? prepare(st, "SELECT key, sku, available FROM compare_keycrm"
	    " ORDER BY key", err) : NULL;
	int hs, hk, rc = 0;
	char last[1024] = "";

	if (crm == NULL) {
		kc_db_finalize(shop);
		return -1;
	}
	hs = kc_db_step(shop) == KC_DB_ROW;
	hk = kc_db_step(crm) == KC_DB_ROW;
	while (hs || hk) {
		const char *ks = hs ? kc_db_column_text(shop, 0) : NULL;
		const char *kk = hk ? kc_db_column_text(crm, 0) : NULL;
		int c = !hs ? 1 : !hk ? -1 : strcmp(ks, kk);
		struct kc_compare_row *row;

		/* Several shop products with one SKU: the first stands for them. */
		if (c <= 0 && strcmp(ks, last) == 0) {
			hs = kc_db_step(shop) == KC_DB_ROW;
			continue;
		}
		row = rows_add(r, c <= 0 ? kc_db_column_text(shop, 1) :
		    kc_db_column_text(crm, 1));
		if (row == NULL) {
			kc_error_set(err, "out of memory");
			rc = -1;
			break;
		}
		if (c <= 0) {
			kc_strlcpy(last, ks, sizeof(last));
			row->has_shop = 1;
			row->shop = kc_db_column_int64(shop, 2);
			row->product_id = kc_db_column_int64(shop, 3);
			row->parent_id = kc_db_column_int64(shop, 4);
		}
		if (c >= 0) {
			row->has_keycrm = 1;
			row->keycrm = kc_db_column_double(crm, 2);
		}
		if (row->has_shop && row->has_keycrm) {
			row->difference = (double)row->shop - shop_target(row->keycrm);
			row->kind = row->difference == 0 ? KC_CMP_EQUAL : KC_CMP_DIFFERENT;
		} else {
			row->kind = row->has_shop ? KC_CMP_SHOP_ONLY : KC_CMP_KEYCRM_ONLY;
		}
		if (c <= 0)
			hs = kc_db_step(shop) == KC_DB_ROW;
		if (c >= 0)
			hk = kc_db_step(crm) == KC_DB_ROW;
	}
	kc_db_finalize(shop);
	kc_db_finalize(crm);
	return rc;
}

int
kc_store_compare_rows(struct kc_store *st,
    int (*fn)(void *ctx, const struct kc_compare_row *row), void *ctx,
    long counts[KC_CMP__MAX], struct kc_error *err)
{
	struct rows r = { 0 };
	int rc;

	if (counts != NULL)
		memset(counts, 0, sizeof(long) * KC_CMP__MAX);
	if (kc_sql_exec(st, SCHEMA, err) != 0)
		return -1;
	rc = merge(st, &r, err);
	if (rc == 0) {
		if (r.n > 0)
			qsort(r.v, r.n, sizeof(*r.v), by_interest);
		for (size_t i = 0; i < r.n; i++)
			if (counts != NULL)
				counts[r.v[i].kind]++;
		for (size_t i = 0; fn != NULL && i < r.n; i++)
			if (fn(ctx, &r.v[i]) != 0)
				break;
	}
	for (size_t i = 0; i < r.n; i++)
		free(r.keep[i]);
	free(r.keep);
	free(r.v);
	return rc;
}

int
kc_store_compare_problems(struct kc_store *st, double now, struct kc_error *err)
{
	struct kc_db_stmt *s;
	int rc;

	if (kc_store_begin(st, err) != 0)
		return -1;
	if (kc_sql_exec(st, "DELETE FROM problems WHERE kind = 'not_in_keycrm'", err) != 0) {
		kc_store_rollback(st);
		return -1;
	}
	s = prepare(st, "INSERT OR IGNORE INTO problems(sku_key, sku, kind, detail, count,"
	    " first_seen, last_seen) SELECT key, MIN(sku), 'not_in_keycrm',"
	    " 'KeyCRM has no offer with this SKU',"
	    " 1, ?1, ?1 FROM compare_shop s WHERE NOT EXISTS (SELECT 1 FROM compare_keycrm k"
	    " WHERE k.key = s.key) GROUP BY key", err);
	if (s == NULL) {
		kc_store_rollback(st);
		return -1;
	}
	kc_db_bind_double(s, 1, now);
	rc = step_done(st, s, "compare: problems", err);
	if (rc != 0) {
		kc_store_rollback(st);
		return -1;
	}
	return kc_store_commit(st, err);
}
