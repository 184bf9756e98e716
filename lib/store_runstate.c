/*
 * store_runstate.c - see store_runstate.h.  The only place that knows
 * the kv keys of the sync's run state.
 */
#include "db.h"
#include "store_runstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define KEY_CURSOR	"scan.cursor"
#define KEY_STARTED	"scan.started"
#define KEY_SINCE	"scan.since"
#define KEY_LAST	"scan.last_started"
#define KEY_LAST_FULL	"scan.last_full"
#define KEY_FIRST_OVER	"baseline.done"
#define KEY_VARIATIONS	"woo.variations"
#define KEY_PULL_PAGE	"pull.page"

static int
get_double(struct kc_store *st, const char *key, double *out)
{
	char buf[64];
	int rc = kc_store_kv_get(st, key, buf, sizeof(buf));

	*out = rc == 0 ? strtod(buf, NULL) : 0;
	return rc;
}

static int
put_double(struct kc_store *st, const char *key, double v, struct kc_error *err)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.3f", v);
	return kc_store_kv_set(st, key, buf, err);
}

int
kc_store_scan_cursor(struct kc_store *st, struct kc_scan_cursor *c)
{
	char buf[96];
	int rc;

	memset(c, 0, sizeof(*c));
	rc = kc_store_kv_get(st, KEY_CURSOR, buf, sizeof(buf));
	if (rc != 0)
		return rc;
	/* A cursor this build cannot read is no cursor: the scan starts over. */
	if (sscanf(buf, "%15s %ld %lld %d", c->phase, &c->page, &c->parent,
	    &c->full) != 4 || c->page < 1)
		return KC_STORE_ABSENT;
	if ((rc = get_double(st, KEY_STARTED, &c->started)) < 0)
		return -1;
	rc = kc_store_kv_get(st, KEY_SINCE, c->since, sizeof(c->since));
	if (rc < 0)
		return -1;
	if (rc == KC_STORE_ABSENT)
		c->since[0] = '\0';
	return 0;
}

int
kc_store_scan_cursor_save(struct kc_store *st, const struct kc_scan_cursor *c,
    struct kc_error *err)
{
	char buf[96];

	if (c == NULL)
		return kc_store_kv_set(st, KEY_CURSOR, NULL, err);
	snprintf(buf, sizeof(buf), "%s %ld %lld %d", c->phase, c->page, c->parent,
	    c->full);
	if (kc_store_kv_set(st, KEY_CURSOR, buf, err) != 0 ||
	    put_double(st, KEY_STARTED, c->started, err) != 0 ||
	    kc_store_kv_set(st, KEY_SINCE, c->since, err) != 0)
		return -1;
	return 0;
}

int
kc_store_scan_times(struct kc_store *st, double *last_started, double *last_full)
{
	if (get_double(st, KEY_LAST, last_started) < 0 ||
	    get_double(st, KEY_LAST_FULL, last_full) < 0)
		return -1;
	return 0;
}

int
kc_store_scan_finished(struct kc_store *st, double started, int full,
    struct kc_error *err)
{
	if (kc_store_kv_set(st, KEY_CURSOR, NULL, err) != 0 ||
	    put_double(st, KEY_LAST, started, err) != 0 ||
	    (full && put_double(st, KEY_LAST_FULL, started, err) != 0))
		return -1;
	return 0;
}

int
kc_store_first_scan_pending(struct kc_store *st)
{
	char flag[8];
	int rc = kc_store_kv_get(st, KEY_FIRST_OVER, flag, sizeof(flag));

	return rc < 0 ? -1 : rc == KC_STORE_ABSENT;
}

int
kc_store_first_scan_over(struct kc_store *st, struct kc_error *err)
{
	return kc_store_kv_set(st, KEY_FIRST_OVER, "1", err);
}

int
kc_store_variations_per_parent(struct kc_store *st)
{
	char mode[32];
	int rc = kc_store_kv_get(st, KEY_VARIATIONS, mode, sizeof(mode));

	return rc < 0 ? -1 : rc == 0 && strcmp(mode, "per_parent") == 0;
}

int
kc_store_variations_per_parent_set(struct kc_store *st, struct kc_error *err)
{
	return kc_store_kv_set(st, KEY_VARIATIONS, "per_parent", err);
}

int
kc_store_pull_page(struct kc_store *st, long *page)
{
	char buf[32];
	int rc = kc_store_kv_get(st, KEY_PULL_PAGE, buf, sizeof(buf));

	*page = rc == 0 ? strtol(buf, NULL, 10) : 0;
	if (rc == 0 && *page < 1)
		return KC_STORE_ABSENT;
	return rc;
}

int
kc_store_pull_page_save(struct kc_store *st, long page, struct kc_error *err)
{
	char buf[32];

	if (page <= 0)
		return kc_store_kv_set(st, KEY_PULL_PAGE, NULL, err);
	snprintf(buf, sizeof(buf), "%ld", page);
	return kc_store_kv_set(st, KEY_PULL_PAGE, buf, err);
}

int
kc_store_flash_purge(struct kc_store *st, double before, struct kc_error *err)
{
	struct kc_db_stmt *s;
	int rc;

	if (kc_db_prepare(st->db, "DELETE FROM kv WHERE key LIKE 'flash:%'"
	    " AND coalesce(json_extract(value, '$.t'), 0) < ?1", &s) != 0) {
		kc_error_set(err, "state database %s: %s", st->path, kc_db_errmsg(st->db));
		return -1;
	}
	kc_db_bind_double(s, 1, before);
	rc = kc_db_step(s);
	kc_db_finalize(s);
	if (rc != KC_DB_DONE) {
		kc_error_set(err, "state database %s: %s", st->path, kc_db_errmsg(st->db));
		return -1;
	}
	return 0;
}
