/*
 * store_shop.c - see store_shop.h.
 */
#include "db.h"
#include "store_shop.h"
#include "store_sql.h"

#include <stdlib.h>
#include <string.h>


static int
fail(struct kc_store *st, struct kc_error *err)
{
	kc_error_set(err, "state database %s: %s", st->path, kc_db_errmsg(st->db));
	return -1;
}

static const char *
manage_text(enum kc_woo_manage m)
{
	return m == KC_WOO_MANAGE_YES ? "yes" : m == KC_WOO_MANAGE_PARENT ?
	    "parent" : "no";
}

static enum kc_woo_manage
manage_value(const char *s)
{
	if (s != NULL && strcmp(s, "yes") == 0)
		return KC_WOO_MANAGE_YES;
	if (s != NULL && strcmp(s, "parent") == 0)
		return KC_WOO_MANAGE_PARENT;
	return KC_WOO_MANAGE_NO;
}

/*
 * The same modified second replaces (deliveries of one second arrive in
 * the order WooCommerce sent them; each carries the product's whole
 * state); an older one does not.
 */
int
kc_store_shop_put(struct kc_store *st, const struct kc_shop_change *c,
    double now, struct kc_error *err)
{
	struct kc_db_stmt *s;
	int rc;

	/* MariaDB: no WHERE on an upsert; modified, which the test reads, last. */
	if (kc_db_prepare(st->db, KC_SQL_FOR(st,
	    "INSERT INTO shop_changes(product_id, parent_id, type, sku, manage, qty,"
	    "  modified, received_at, version, pending)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, 1)"
	    " ON CONFLICT(product_id) DO UPDATE SET parent_id = excluded.parent_id,"
	    "  type = excluded.type, sku = excluded.sku, manage = excluded.manage,"
	    "  qty = excluded.qty, modified = excluded.modified,"
	    "  received_at = excluded.received_at, version = version + 1, pending = 1"
	    " WHERE excluded.modified >= shop_changes.modified",
	    "INSERT INTO shop_changes(product_id, parent_id, type, sku, manage, qty,"
	    "  modified, received_at, version, pending)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, 1)"
	    " ON CONFLICT(product_id) DO UPDATE SET"
	    "  parent_id = IF(?7 >= modified, excluded.parent_id, parent_id),"
	    "  type = IF(?7 >= modified, excluded.type, type),"
	    "  sku = IF(?7 >= modified, excluded.sku, sku),"
	    "  manage = IF(?7 >= modified, excluded.manage, manage),"
	    "  qty = IF(?7 >= modified, excluded.qty, qty),"
	    "  received_at = IF(?7 >= modified, excluded.received_at, received_at),"
	    "  version = IF(?7 >= modified, version + 1, version),"
	    "  pending = IF(?7 >= modified, 1, pending),"
	    "  modified = IF(?7 >= modified, excluded.modified, modified)"), &s) != 0)
		return fail(st, err);
	kc_db_bind_int64(s, 1, c->p.id);
	kc_db_bind_int64(s, 2, c->p.parent_id);
	kc_db_bind_text(s, 3, c->p.type);
	kc_db_bind_text(s, 4, c->p.sku ? c->p.sku : "");
	kc_db_bind_text(s, 5, manage_text(c->p.manage));
	if (c->p.has_qty)
		kc_db_bind_int64(s, 6, c->p.qty);
	else
		kc_db_bind_null(s, 6);
	kc_db_bind_text(s, 7, c->modified);
	kc_db_bind_double(s, 8, now);
	rc = kc_db_step(s);
	kc_db_finalize(s);
	if (rc != KC_DB_DONE)
		return fail(st, err);
	return kc_db_changes(st->db) > 0;
}

void
kc_store_shop_changes_free(struct kc_shop_change *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].p.sku);
	free(c);
}

static int
read_row(struct kc_db_stmt *s, struct kc_shop_change *c)
{
	const char *t;

	memset(c, 0, sizeof(*c));
	c->p.id = kc_db_column_int64(s, 0);
	c->p.parent_id = kc_db_column_int64(s, 1);
	t = kc_db_column_text(s, 2);
	kc_strlcpy(c->p.type, t ? t : "", sizeof(c->p.type));
	t = kc_db_column_text(s, 3);
	c->p.manage = manage_value(kc_db_column_text(s, 4));
	c->p.has_qty = kc_db_column_type(s, 5) != KC_DB_NULL;
	c->p.qty = kc_db_column_int64(s, 5);
	kc_strlcpy(c->modified, kc_db_column_text(s, 6) ?
	    kc_db_column_text(s, 6) : "", sizeof(c->modified));
	c->version = kc_db_column_int64(s, 7);
	c->received_at = kc_db_column_double(s, 8);
	c->p.sku = kc_strdup(t ? t : "");
	return c->p.sku ? 0 : -1;
}

int
kc_store_shop_pending(struct kc_store *st, size_t max,
    struct kc_shop_change **out, size_t *n, struct kc_error *err)
{
	struct kc_db_stmt *s;
	struct kc_shop_change *c = NULL;
	size_t k = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (kc_db_prepare(st->db, "SELECT product_id, parent_id, type, sku, manage, qty, modified, version,"
	    "  received_at"
	    " FROM shop_changes WHERE pending = 1 ORDER BY received_at LIMIT ?1", &s) != 0)
		return fail(st, err);
	kc_db_bind_int64(s, 1, (int64_t)max);
	if (max > 0 && (c = calloc(max, sizeof(*c))) == NULL) {
		kc_db_finalize(s);
		kc_error_set(err, "out of memory");
		return -1;
	}
	while ((rc = kc_db_step(s)) == KC_DB_ROW && k < max) {
		if (read_row(s, &c[k]) != 0) {
			kc_store_shop_changes_free(c, k);
			kc_db_finalize(s);
			kc_error_set(err, "out of memory");
			return -1;
		}
		k++;
	}
	if (rc != KC_DB_DONE && rc != KC_DB_ROW) {
		fail(st, err);
		kc_db_finalize(s);
		kc_store_shop_changes_free(c, k);
		return -1;
	}
	kc_db_finalize(s);
	if (k == 0) {
		free(c);
		c = NULL;
	}
	*out = c;
	*n = k;
	return 0;
}

int
kc_store_shop_done(struct kc_store *st, const struct kc_shop_change *c,
    struct kc_error *err)
{
	struct kc_db_stmt *s;
	int rc;

	if (kc_db_prepare(st->db, "UPDATE shop_changes SET pending = 0"
	    " WHERE product_id = ?1 AND version = ?2", &s) != 0)
		return fail(st, err);
	kc_db_bind_int64(s, 1, c->p.id);
	kc_db_bind_int64(s, 2, c->version);
	rc = kc_db_step(s);
	kc_db_finalize(s);
	return rc == KC_DB_DONE ? 0 : fail(st, err);
}

long
kc_store_shop_pending_count(struct kc_store *st)
{
	struct kc_db_stmt *s;
	long n = -1;

	if (kc_db_prepare(st->db, "SELECT count(*) FROM shop_changes"
	    " WHERE pending = 1", &s) != 0)
		return -1;
	if (kc_db_step(s) == KC_DB_ROW)
		n = (long)kc_db_column_int64(s, 0);
	kc_db_finalize(s);
	return n;
}

int
kc_store_shop_sku_duplicate(struct kc_store *st, const char *sku)
{
	struct kc_db_stmt *s;
	int rc;

	if (kc_db_prepare(st->db, "SELECT 1 FROM problems WHERE kind = 'duplicate'"
	    " AND sku_key = kc_sku_key(?1)", &s) != 0)
		return -1;
	kc_db_bind_text(s, 1, sku);
	rc = kc_db_step(s);
	kc_db_finalize(s);
	return rc == KC_DB_ROW ? 1 : rc == KC_DB_DONE ? 0 : -1;
}

int
kc_store_shop_last_sync(struct kc_store *st, double *started_at)
{
	struct kc_db_stmt *s;
	int rc;

	if (kc_db_prepare(st->db, "SELECT max(started_at) FROM history"
	    " WHERE kind = 'sync'", &s) != 0)
		return -1;
	rc = kc_db_step(s);
	if (rc == KC_DB_ROW && kc_db_column_type(s, 0) != KC_DB_NULL) {
		*started_at = kc_db_column_double(s, 0);
		rc = 0;
	} else {
		rc = rc == KC_DB_ROW ? KC_STORE_ABSENT : -1;
	}
	kc_db_finalize(s);
	return rc;
}

int
kc_store_shop_drop_before(struct kc_store *st, double t, struct kc_error *err)
{
	struct kc_db_stmt *s;
	int rc;

	if (kc_db_prepare(st->db, "UPDATE shop_changes SET pending = 0"
	    " WHERE pending = 1 AND received_at < ?1", &s) != 0)
		return fail(st, err);
	kc_db_bind_double(s, 1, t);
	rc = kc_db_step(s);
	kc_db_finalize(s);
	return rc == KC_DB_DONE ? 0 : fail(st, err);
}
