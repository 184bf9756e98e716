/*
 * store_shop_hooks.c - see store_shop_hooks.h.
 */
#include "store_shop_hooks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_sql.h"

/* What the pushes since `since` sent. */
static int
read_pushes(struct kc_store *st, double since, struct kc_shop_hook_stats *s,
    struct kc_error *err)
{
	struct kc_db_stmt *q = kc_sql_prepare(st, "SELECT count(*), coalesce(sum(applied), 0)"
	    " FROM history WHERE kind = 'push' AND started_at >= ?1", err);
	int rc;

	if (q == NULL)
		return -1;
	kc_db_bind_double(q, 1, since);
	rc = kc_db_step(q);
	if (rc == KC_DB_ROW) {
		s->pushes = (long)kc_db_column_int64(q, 0);
		s->pushed = (long)kc_db_column_int64(q, 1);
	}
	kc_sql_release(st, q);
	return rc == KC_DB_ROW ? 0 : kc_sql_db_error(st, err, "history");
}

/* "YYYY-MM-DDTHH:MM:SS" (GMT, as the payload's date_modified_gmt) in seconds; -1: not one. */
static double
gmt_seconds(const char *text)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (text == NULL || (end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL ||
	    *end != '\0')
		return -1;
	return (double)timegm(&tm);
}

static int
by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The delays of the deliveries since `since`: the latest 1,000 suffice for a median. */
static int
read_delays(struct kc_store *st, double since, struct kc_shop_hook_stats *s,
    struct kc_error *err)
{
	struct kc_db_stmt *q = kc_sql_prepare(st, "SELECT received_at, modified"
	    " FROM shop_changes WHERE received_at >= ?1 ORDER BY received_at DESC"
	    " LIMIT 1000", err);
	double d[1000];
	size_t n = 0;
	int rc;

	if (q == NULL)
		return -1;
	kc_db_bind_double(q, 1, since);
	while ((rc = kc_db_step(q)) == KC_DB_ROW && n < sizeof(d) / sizeof(d[0])) {
		double at = gmt_seconds((const char *)kc_db_column_text(q, 1));
		/* A clock behind the shop's is no negative delay. */
		if (at > 0)
			d[n++] = fmax(0, kc_db_column_double(q, 0) - at);
	}
	kc_sql_release(st, q);
	if (rc != KC_DB_DONE && rc != KC_DB_ROW)
		return kc_sql_db_error(st, err, "shop_changes");
	if (n == 0)
		return 0;
	qsort(d, n, sizeof(d[0]), by_value);
	s->delays = (long)n;
	s->delay_median = n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2;
	s->delay_max = d[n - 1];
	return 0;
}

int
kc_store_shop_hook_stats(struct kc_store *st, double since,
    struct kc_shop_hook_stats *s, struct kc_error *err)
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
	return read_pushes(st, since, s, err) != 0 ? -1 : read_delays(st, since, s, err);
}
