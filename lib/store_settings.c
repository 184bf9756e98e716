/*
 * store_settings.c - the settings saved from the page, kept in the shared
 * database when the state is there (SPEC section 2), so that every web
 * server reads the same ones.  The text is settings.conf's, checked by the
 * configuration parser before it is saved and again when it is read.
 */
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
