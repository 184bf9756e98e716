/*
 * store_shop_hooks.c - see store_shop_hooks.h.
 */
#include "store_shop_hooks.h"

#include <string.h>

#include "store_sql.h"

int
kc_store_shop_hook_stats(struct kc_store *st, struct kc_shop_hook_stats *s,
    struct kc_error *err)
{
	struct kc_db_stmt *q;
	int rc;

	memset(s, 0, sizeof(*s));
	q = kc_sql_prepare(st, "SELECT count(*), coalesce(max(received_at), 0),"
	    " coalesce(sum(pending), 0) FROM shop_changes", err);
	if (q == NULL)
		return -1;
	rc = kc_db_step(q);
	if (rc == KC_DB_ROW) {
		s->products = (long)kc_db_column_int64(q, 0);
		s->last_received = kc_db_column_double(q, 1);
		s->pending = (long)kc_db_column_int64(q, 2);
		s->handled = s->products - s->pending;
	}
	kc_sql_release(st, q);
	if (rc != KC_DB_ROW)
		return kc_sql_db_error(st, err, "shop_changes");
	return 0;
}
