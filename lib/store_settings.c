/*
 * store_settings.c - the settings saved from the page, kept in the shared
 * database when the state is there (SPEC section 2), so that every web
 * server reads the same ones.  The text is settings.conf's, checked by the
 * configuration parser before it is saved and again when it is read.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "store_settings.h"
#include "store_sql.h"

#define NAME "settings.conf"

int
kc_store_settings_get(struct kc_store *st, struct kc_buf *text,
    double *saved_at)
{
	struct kc_db_stmt *s;
	int rc;

	s = kc_sql_prepare(st, "SELECT value, saved_at FROM settings "
	    "WHERE name = '" NAME "'", NULL);
	if (!s)
		return -1;
	rc = kc_db_step(s);
	if (rc == KC_DB_ROW) {
		kc_buf_reset(text);
		if (kc_buf_adds(text, kc_db_column_text(s, 0)) < 0)
			rc = -1;
		if (saved_at)
			*saved_at = kc_db_column_double(s, 1);
	}
	kc_sql_release(st, s);
	return rc == KC_DB_ROW ? 0 : rc == KC_DB_DONE ? KC_STORE_ABSENT : -1;
}

int
kc_store_settings_saved_at(struct kc_store *st, double *saved_at)
{
	struct kc_db_stmt *s;
	int rc;

	*saved_at = 0;
	s = kc_sql_prepare(st, "SELECT saved_at FROM settings "
	    "WHERE name = '" NAME "'", NULL);
	if (!s)
		return -1;
	rc = kc_db_step(s);
	if (rc == KC_DB_ROW)
		*saved_at = kc_db_column_double(s, 0);
	kc_sql_release(st, s);
	return rc == KC_DB_ROW || rc == KC_DB_DONE ? 0 : -1;
}

int
kc_store_settings_put(struct kc_store *st, const char *text, double now,
    struct kc_error *err)
{
	struct kc_db_stmt *s;

	s = kc_sql_prepare(st, "INSERT INTO settings(name, value, saved_at) "
	    "VALUES ('" NAME "', ?1, ?2) ON CONFLICT(name) DO UPDATE SET "
	    "value = excluded.value, saved_at = excluded.saved_at", err);
	if (!s)
		return -1;
	kc_db_bind_text(s, 1, text);
	kc_db_bind_double(s, 2, now);
	return kc_sql_run(st, s, "settings", err);
}

static int
hex_value(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ?
	    c - 'a' + 10 : -1;
}

static int
read_secret(struct kc_store *st, const char *key, unsigned char *out,
    size_t len)
{
	char hex[2 * 64 + 2];
	int rc = kc_store_kv_get(st, key, hex, sizeof(hex));

	if (rc != 0)
		return rc;
	if (strlen(hex) != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	kc_wipe(hex, sizeof(hex));
	return 0;
}

int
kc_store_shared_secret(struct kc_store *st, const char *name,
    unsigned char *out, size_t len, struct kc_error *err)
{
	unsigned char fresh[64];
	char key[80], hex[2 * 64 + 1];
	struct kc_db_stmt *s;
	int rc;

	if (len > sizeof(fresh)) {
		kc_error_set(err, "secret %s: too long", name);
		return -1;
	}
	snprintf(key, sizeof(key), "secret:%s", name);
	rc = read_secret(st, key, out, len);
	if (rc != KC_STORE_ABSENT)
		goto done;
	if (kc_random_bytes(fresh, len) != 0) {
		kc_error_set(err, "secret %s: no randomness", name);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", fresh[i]);
	/* Two servers may race here: the first insert wins, both read it. */
	s = kc_sql_prepare(st, "INSERT OR IGNORE INTO kv(key, value) "
	    "VALUES (?1, ?2)", err);
	if (!s)
		return -1;
	kc_db_bind_text(s, 1, key);
	kc_db_bind_text(s, 2, hex);
	kc_wipe(hex, sizeof(hex));
	kc_wipe(fresh, sizeof(fresh));
	if (kc_sql_run(st, s, "secret", err) != 0)
		return -1;
	rc = read_secret(st, key, out, len);
done:
	if (rc != 0)
		kc_error_set(err, "state database %s: secret %s cannot be read",
		    st->path, name);
	return rc == 0 ? 0 : -1;
}

int
kc_store_settings_apply(struct kc_store *st, struct kc_config *cfg,
    struct kc_error *err)
{
	struct kc_buf text;
	int rc;

	kc_buf_init(&text);
	rc = kc_store_settings_get(st, &text, NULL);
	if (rc < 0)
		kc_error_set(err, "state database %s: reading the saved settings: %s",
		    st->path, kc_db_errmsg(st->db));
	else if (rc == 0)
		rc = kc_config_parse(cfg, text.data, text.len,
		    "the settings saved in the database", 1, err);
	else
		rc = 0;
	kc_wipe(text.data, text.len);
	kc_buf_free(&text);
	return rc;
}
