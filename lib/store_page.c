/*
 * store_page.c - see store_page.h.
 */
#include "db.h"
#include "store_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define KEY_JOB "page.job"
#define KEY_PLAN "page.plan"
#define PLAN_MAX_BYTES (4 * 1024 * 1024)

static int
valid_id(const char *id)
{
	return id != NULL && strlen(id) == 32 &&
	    strspn(id, "0123456789abcdef") == 32;
}

static int
put_json(struct kc_store *st, const char *key, json_t *v, struct kc_error *err)
{
	char *text = json_dumps(v, JSON_COMPACT);
	int rc;

	if (text == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	rc = kc_store_kv_set(st, key, text, err);
	free(text);
	return rc;
}

static int
get_json_max(struct kc_store *st, const char *key, json_t **v, size_t max)
{
	char *buf = malloc(max);
	int rc;

	*v = NULL;
	if (buf == NULL)
		return -1;
	rc = kc_store_kv_get(st, key, buf, max);
	if (rc == 0 && (*v = json_loads(buf, 0, NULL)) == NULL)
		rc = -1;
	free(buf);
	return rc;
}

static int
get_json(struct kc_store *st, const char *key, json_t **v)
{
	return get_json_max(st, key, v, KC_FLASH_MAX_BYTES);
}

int
kc_store_flash_put(struct kc_store *st, const char *id, json_t *rec,
    struct kc_error *err)
{
	char key[64];

	if (!valid_id(id)) {
		kc_error_set(err, "bad message id");
		return -1;
	}
	snprintf(key, sizeof(key), "flash:%s", id);
	return put_json(st, key, rec, err);
}

int
kc_store_flash_take(struct kc_store *st, const char *id, const char *user,
    json_t **rec)
{
	char key[64];
	const char *owner;
	int rc;

	*rec = NULL;
	if (!valid_id(id))
		return KC_STORE_ABSENT;
	snprintf(key, sizeof(key), "flash:%s", id);
	rc = get_json(st, key, rec);
	if (rc != 0)
		return rc;
	owner = json_string_value(json_object_get(*rec, "user"));
	if (owner == NULL || user == NULL || strcmp(owner, user) != 0) {
		json_decref(*rec);
		*rec = NULL;
		return KC_STORE_ABSENT;
	}
	kc_store_kv_set(st, key, NULL, NULL);
	return 0;
}

int
kc_store_check_put(struct kc_store *st, const char *side, json_t *v,
    struct kc_error *err)
{
	char key[64];

	snprintf(key, sizeof(key), "check:%s", side);
	return put_json(st, key, v, err);
}

int
kc_store_check_get(struct kc_store *st, const char *side, json_t **v)
{
	char key[64];

	snprintf(key, sizeof(key), "check:%s", side);
	return get_json(st, key, v);
}

int
kc_store_page_job_put(struct kc_store *st, json_t *v, struct kc_error *err)
{
	return put_json(st, KEY_JOB, v, err);
}

int
kc_store_page_job_get(struct kc_store *st, json_t **v)
{
	return get_json(st, KEY_JOB, v);
}

int
kc_store_plan_put(struct kc_store *st, json_t *plan, struct kc_error *err)
{
	return put_json(st, KEY_PLAN, plan, err);
}

int
kc_store_plan_get(struct kc_store *st, json_t **plan)
{
	return get_json_max(st, KEY_PLAN, plan, PLAN_MAX_BYTES);
}

int
kc_store_problems_each(struct kc_store *st, const char *kind, long offset,
    long limit, int (*fn)(void *ctx, const struct kc_page_problem *row),
    void *ctx, struct kc_error *err)
{
	struct kc_db_stmt *s;
	int rc;

	if (kc_db_prepare(st->db, "SELECT sku, detail, count, first_seen,"
	    " last_seen FROM problems WHERE kind = ?1 ORDER BY last_seen DESC, sku"
	    " LIMIT ?2 OFFSET ?3", &s) != 0) {
		kc_error_set(err, "state database %s: %s", st->path, kc_db_errmsg(st->db));
		return -1;
	}
	kc_db_bind_text(s, 1, kind);
	kc_db_bind_int64(s, 2, limit);
	kc_db_bind_int64(s, 3, offset < 0 ? 0 : offset);
	while ((rc = kc_db_step(s)) == KC_DB_ROW) {
		struct kc_page_problem row = {
			kc_db_column_text(s, 0),
			kc_db_column_text(s, 1),
			(long)kc_db_column_int64(s, 2),
			kc_db_column_double(s, 3), kc_db_column_double(s, 4),
		};
		if (row.sku == NULL)
			row.sku = "";
		if (fn(ctx, &row) != 0) {
			rc = KC_DB_DONE;
			break;
		}
	}
	if (rc != KC_DB_DONE)
		kc_error_set(err, "state database %s: %s", st->path, kc_db_errmsg(st->db));
	kc_db_finalize(s);
	return rc == KC_DB_DONE ? 0 : -1;
}
