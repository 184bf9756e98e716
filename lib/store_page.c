/*
 * store_page.c - see store_page.h.
 */
#include "store_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_JOB "page.job"

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
get_json(struct kc_store *st, const char *key, json_t **v)
{
	char *buf = malloc(KC_FLASH_MAX_BYTES);
	int rc;

	*v = NULL;
	if (buf == NULL)
		return -1;
	rc = kc_store_kv_get(st, key, buf, KC_FLASH_MAX_BYTES);
	if (rc == 0 && (*v = json_loads(buf, 0, NULL)) == NULL)
		rc = -1;
	free(buf);
	return rc;
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
