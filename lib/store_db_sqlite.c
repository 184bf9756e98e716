/*
 * store_db_sqlite.c - db.h on SQLite: little more than its own API renamed.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db_engine.h"

struct sqlite_db {
	struct kc_db base;
	sqlite3 *h;
};

struct sqlite_stmt {
	struct kc_db_stmt base;
	sqlite3_stmt *s;
};

static struct sqlite_db *
sdb(struct kc_db *db)
{
	return (struct sqlite_db *)db;
}

static sqlite3_stmt *
sst(struct kc_db_stmt *st)
{
	return ((struct sqlite_stmt *)st)->s;
}

static int
fail(struct kc_db *db, struct kc_error *err, const char *what)
{
	sqlite3 *h = sdb(db)->h;
	int code = sqlite3_errcode(h);

	db->retryable = code == SQLITE_BUSY || code == SQLITE_LOCKED;
	db->disk_full = code == SQLITE_FULL;
	kc_error_set(err, "%s: %s", what, sqlite3_errmsg(h));
	return -1;
}

static void
sqlite_close(struct kc_db *db)
{
	sqlite3_close_v2(sdb(db)->h);
	free(db);
}

static void *
sqlite_handle(struct kc_db *db)
{
	return sdb(db)->h;
}

static int
sqlite_exec(struct kc_db *db, const char *sql, struct kc_error *err)
{
	db->retryable = 0;
	if (sqlite3_exec(sdb(db)->h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return fail(db, err, "statement");
	db->changes = sqlite3_changes(sdb(db)->h);
	return 0;
}

static int
sqlite_prepare(struct kc_db *db, const char *sql, struct kc_db_stmt **out,
    struct kc_error *err)
{
	struct sqlite_stmt *st = calloc(1, sizeof(*st));

	if (!st) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	db->retryable = 0;
	if (sqlite3_prepare_v2(sdb(db)->h, sql, -1, &st->s, NULL) != SQLITE_OK) {
		free(st);
		return fail(db, err, "prepare");
	}
	st->base.db = db;
	*out = &st->base;
	return 0;
}

static void
sqlite_finalize(struct kc_db_stmt *st)
{
	sqlite3_finalize(sst(st));
	free(st);
}

static void
sqlite_reset(struct kc_db_stmt *st)
{
	sqlite3_reset(sst(st));
}

static void
sqlite_clear_bindings(struct kc_db_stmt *st)
{
	sqlite3_clear_bindings(sst(st));
}

static int
bound(int rc)
{
	return rc == SQLITE_OK ? 0 : -1;
}

static int
sqlite_bind_int64(struct kc_db_stmt *st, int idx, int64_t v)
{
	return bound(sqlite3_bind_int64(sst(st), idx, v));
}

static int
sqlite_bind_double(struct kc_db_stmt *st, int idx, double v)
{
	return bound(sqlite3_bind_double(sst(st), idx, v));
}

static int
sqlite_bind_text(struct kc_db_stmt *st, int idx, const char *s)
{
	return bound(sqlite3_bind_text(sst(st), idx, s, -1, SQLITE_TRANSIENT));
}

static int
sqlite_bind_null(struct kc_db_stmt *st, int idx)
{
	return bound(sqlite3_bind_null(sst(st), idx));
}

static int
sqlite_parameter_count(struct kc_db_stmt *st)
{
	return sqlite3_bind_parameter_count(sst(st));
}

/* SQLite knows: a failed COMMIT may leave the transaction open. */
static int
sqlite_in_transaction(struct kc_db *db)
{
	return !sqlite3_get_autocommit(sdb(db)->h);
}

static int
sqlite_step(struct kc_db_stmt *st, struct kc_error *err)
{
	struct kc_db *db = st->db;
	int rc;

	db->retryable = 0;
	rc = sqlite3_step(sst(st));
	if (rc == SQLITE_ROW)
		return KC_DB_ROW;
	if (rc == SQLITE_DONE) {
		db->changes = sqlite3_changes(sdb(db)->h);
		db->last_insert_id = sqlite3_last_insert_rowid(sdb(db)->h);
		return KC_DB_DONE;
	}
	return fail(db, err, "step");
}

static enum kc_db_type
sqlite_column_type(struct kc_db_stmt *st, int col)
{
	switch (sqlite3_column_type(sst(st), col)) {
	case SQLITE_INTEGER:
		return KC_DB_INTEGER;
	case SQLITE_FLOAT:
		return KC_DB_FLOAT;
	case SQLITE_NULL:
		return KC_DB_NULL;
	default:
		return KC_DB_TEXT;
	}
}

static int64_t
sqlite_column_int64(struct kc_db_stmt *st, int col)
{
	return sqlite3_column_int64(sst(st), col);
}

static double
sqlite_column_double(struct kc_db_stmt *st, int col)
{
	return sqlite3_column_double(sst(st), col);
}

static const char *
sqlite_column_text(struct kc_db_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(sst(st), col);
}

static const struct kc_db_ops sqlite_ops = {
	.close = sqlite_close,
	.handle = sqlite_handle,
	.exec = sqlite_exec,
	.prepare = sqlite_prepare,
	.finalize = sqlite_finalize,
	.reset = sqlite_reset,
	.clear_bindings = sqlite_clear_bindings,
	.bind_int64 = sqlite_bind_int64,
	.bind_double = sqlite_bind_double,
	.bind_text = sqlite_bind_text,
	.bind_null = sqlite_bind_null,
	.parameter_count = sqlite_parameter_count,
	.in_transaction = sqlite_in_transaction,
	.step = sqlite_step,
	.column_type = sqlite_column_type,
	.column_int64 = sqlite_column_int64,
	.column_double = sqlite_column_double,
	.column_text = sqlite_column_text,
	/* The write lock now, so a transaction never fails half-way on it. */
	.begin_sql = "BEGIN IMMEDIATE",
};

int
kc_db_open_sqlite(struct kc_db **out, const char *path, int flags,
    struct kc_error *err)
{
	struct sqlite_db *db = calloc(1, sizeof(*db));

	*out = NULL;
	if (!db) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	if (!flags)
		flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
		kc_error_set(err, "%s: %s", path,
		    db->h ? sqlite3_errmsg(db->h) : "out of memory");
		sqlite3_close_v2(db->h);
		free(db);
		return -1;
	}
	db->base.ops = &sqlite_ops;
	db->base.engine = KC_DB_SQLITE;
	*out = &db->base;
	return 0;
}
