/*
 * store_ledger.c - the per-SKU ledger of SPEC 4: KeyCRM's last numbers and what both sides agreed on.
 * See store.h; SQL lives in the store_*.c files only.
 */
#include "store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


#include "store_sql.h"

int
kc_store_ledger_agree(struct kc_store *st, const char *sku, long long qty,
    double now, struct kc_error *err)
{
	struct kc_db_stmt *s;
	int64_t seq = kc_sql_next_counter(st, "change_seq", err);

	if (seq < 0)
		return -1;
	s = kc_sql_prepare(st, "INSERT INTO ledger(sku_key, sku, agreed_qty, agreed_at, seq)"
	    " VALUES (kc_sku_key(?1), ?1, ?2, ?3, ?4) ON CONFLICT(sku_key) DO UPDATE SET"
	    " agreed_qty = excluded.agreed_qty, agreed_at = excluded.agreed_at,"
	    " seq = excluded.seq", err);
	if (s == NULL)
		return -1;
	kc_db_bind_text(s, 1, sku);
	kc_db_bind_int64(s, 2, qty);
	kc_db_bind_double(s, 3, now);
	kc_db_bind_int64(s, 4, seq);
	return kc_sql_run(st, s, "ledger", err);
}

int
kc_store_ledger_get(struct kc_store *st, const char *sku,
    long long *agreed_qty, double *in_stock, double *in_reserve)
{
	struct kc_db_stmt *s;
	int rc = -1;

	if ((s = kc_sql_prepare(st, "SELECT agreed_qty, keycrm_in_stock,"
	    " keycrm_in_reserve FROM ledger WHERE sku_key = kc_sku_key(?1)", NULL)) == NULL)
		return -1;
	kc_db_bind_text(s, 1, sku);
	if (kc_db_step(s) == KC_DB_ROW) {
		*agreed_qty = kc_db_column_type(s, 0) == KC_DB_NULL ? -1 :
		    kc_db_column_int64(s, 0);
		*in_stock = kc_db_column_double(s, 1);
		*in_reserve = kc_db_column_double(s, 2);
		rc = 0;
	}
	kc_sql_release(st, s);
	return rc;
}

int
kc_store_ledger_state(struct kc_store *st, const char *sku,
    struct kc_ledger_state *out)
{
	struct kc_db_stmt *s;
	int rc;

	memset(out, 0, sizeof(*out));
	out->agreed_qty = -1;
	/* The inbox may hold a report for a SKU the ledger has no row for. */
	if ((s = kc_sql_prepare(st, "SELECT l.agreed_qty, l.keycrm_in_stock,"
	    " l.keycrm_in_reserve, l.seq, l.keycrm_at IS NOT NULL, l.agreed_at,"
	    " l.sku, EXISTS (SELECT 1 FROM inbox i WHERE i.sku_key = k.key)"
	    " FROM (SELECT kc_sku_key(?1) AS key) k"
	    " LEFT JOIN ledger l ON l.sku_key = k.key", NULL)) == NULL)
		return -1;
	kc_db_bind_text(s, 1, sku);
	rc = kc_db_step(s);
	if (rc == KC_DB_ROW) {
		out->pending = (int)kc_db_column_int64(s, 7);
		if (kc_db_column_type(s, 6) != KC_DB_NULL) {
			out->known = 1;
			if (kc_db_column_type(s, 0) != KC_DB_NULL)
				out->agreed_qty = kc_db_column_int64(s, 0);
			out->in_stock = kc_db_column_double(s, 1);
			out->in_reserve = kc_db_column_double(s, 2);
			out->seq = kc_db_column_int64(s, 3);
			out->keycrm_known = (int)kc_db_column_int64(s, 4);
			out->agreed_at = kc_db_column_double(s, 5);
			kc_strlcpy(out->sku, kc_db_column_text(s, 6),
			    sizeof(out->sku));
		}
	}
	kc_sql_release(st, s);
	return rc == KC_DB_ROW ? 0 : -1;
}

int64_t
kc_store_change_seq(struct kc_store *st)
{
	struct kc_db_stmt *s;
	int64_t v = -1;

	if ((s = kc_sql_prepare(st, "SELECT value FROM counters WHERE name = 'change_seq'", NULL)) == NULL)
		return -1;
	if (kc_db_step(s) == KC_DB_ROW)
		v = kc_db_column_int64(s, 0);
	kc_sql_release(st, s);
	return v;
}

int
kc_store_ledger_sent(struct kc_store *st, const char *sku, int64_t if_seq,
    long long shop_qty, double keycrm_in_stock, double keycrm_in_reserve,
    double now, struct kc_error *err)
{
	struct kc_db_stmt *s;
	int64_t seq = kc_sql_next_counter(st, "change_seq", err);

	if (seq < 0)
		return -1;
	/* Only when nothing changed since the decision (if_seq 0: new SKU). */
	/*
	 * MariaDB's upsert has no WHERE: each column keeps its value unless
	 * seq is still ?6, and seq, which the test reads, is assigned last
	 * (MariaDB assigns left to right, each seeing the ones before).
	 */
	s = kc_sql_prepare(st, KC_SQL_FOR(st,
	    "INSERT INTO ledger(sku_key, sku, agreed_qty, agreed_at,"
	    " keycrm_in_stock, keycrm_in_reserve, keycrm_at, seq)"
	    " VALUES (kc_sku_key(?1), ?1, ?2, ?3, ?4, ?7, ?3, ?5)"
	    " ON CONFLICT(sku_key) DO UPDATE SET agreed_qty = excluded.agreed_qty,"
	    " agreed_at = excluded.agreed_at, keycrm_in_stock = excluded.keycrm_in_stock,"
	    " keycrm_in_reserve = excluded.keycrm_in_reserve,"
	    " keycrm_at = excluded.keycrm_at, seq = excluded.seq"
	    " WHERE ledger.seq = ?6",
	    "INSERT INTO ledger(sku_key, sku, agreed_qty, agreed_at,"
	    " keycrm_in_stock, keycrm_in_reserve, keycrm_at, seq)"
	    " VALUES (kc_sku_key(?1), ?1, ?2, ?3, ?4, ?7, ?3, ?5)"
	    " ON CONFLICT(sku_key) DO UPDATE SET"
	    " agreed_qty = IF(seq = ?6, excluded.agreed_qty, agreed_qty),"
	    " agreed_at = IF(seq = ?6, excluded.agreed_at, agreed_at),"
	    " keycrm_in_stock = IF(seq = ?6, excluded.keycrm_in_stock, keycrm_in_stock),"
	    " keycrm_in_reserve = IF(seq = ?6, excluded.keycrm_in_reserve, keycrm_in_reserve),"
	    " keycrm_at = IF(seq = ?6, excluded.keycrm_at, keycrm_at),"
	    " seq = IF(seq = ?6, excluded.seq, seq)"), err);
	if (s == NULL)
		return -1;
	kc_db_bind_text(s, 1, sku);
	kc_db_bind_int64(s, 2, shop_qty);
	kc_db_bind_double(s, 3, now);
	kc_db_bind_double(s, 4, keycrm_in_stock);
	kc_db_bind_int64(s, 5, seq);
	kc_db_bind_int64(s, 6, if_seq);
	kc_db_bind_double(s, 7, keycrm_in_reserve);
	return kc_sql_run(st, s, "ledger", err);
}

int
kc_store_ledger_first_agreed(struct kc_store *st, double *at)
{
	struct kc_db_stmt *s;
	int rc;

	*at = 0;
	if ((s = kc_sql_prepare(st, "SELECT min(agreed_at) FROM ledger WHERE"
	    " agreed_qty IS NOT NULL", NULL)) == NULL)
		return -1;
	rc = kc_db_step(s);
	if (rc == KC_DB_ROW && kc_db_column_type(s, 0) != KC_DB_NULL)
		*at = kc_db_column_double(s, 0);
	else if (rc == KC_DB_ROW)
		rc = KC_DB_DONE;
	kc_sql_release(st, s);
	return rc == KC_DB_ROW ? 0 : rc == KC_DB_DONE ? KC_STORE_ABSENT : -1;
}
