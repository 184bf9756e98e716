/*
 * store_db.c - the engine-neutral half of db.h: dispatch, and transactions.
 */
#include "db.h"

#include "db_engine.h"

void
kc_db_close(struct kc_db *db)
{
	if (db)
		db->ops->close(db);
}

enum kc_db_engine
kc_db_engine(const struct kc_db *db)
{
	return db->engine;
}

void *
kc_db_handle(struct kc_db *db)
{
	return db->ops->handle(db);
}

int
kc_db_exec(struct kc_db *db, const char *sql)
{
	return db->ops->exec(db, sql, &db->last);
}

int
kc_db_begin(struct kc_db *db)
{
	if (db->ops->exec(db, db->ops->begin_sql, &db->last) < 0)
		return -1;
	db->in_transaction = 1;
	return 0;
}

int
kc_db_commit(struct kc_db *db)
{
	int rc = db->ops->exec(db, "COMMIT", &db->last);

	/*
	 * A failed COMMIT leaves SQLite's transaction open (a busy reader)
	 * but ends MariaDB's; rolling back makes both the same: over.
	 */
	if (rc < 0) {
		struct kc_error why = db->last;
		int retryable = db->retryable;

		kc_db_rollback(db);
		db->retryable = retryable;
		db->last = why;
		return -1;
	}
	db->in_transaction = 0;
	return 0;
}

/*
 * Keeps what kc_db_retryable() says of the failure that made the caller
 * roll back: the ROLLBACK itself succeeding says nothing about it.
 */
void
kc_db_rollback(struct kc_db *db)
{
	struct kc_error err;
	int retryable = db->retryable;

	if (!kc_db_in_transaction(db))
		return;
	if (db->ops->exec(db, "ROLLBACK", &err) < 0)
		kc_log(KC_LOG_WARN, "state database: rollback: %s", err.msg);
	db->in_transaction = 0;
	db->retryable = retryable;
}

int
kc_db_in_transaction(const struct kc_db *db)
{
	if (db->ops->in_transaction)
		return db->ops->in_transaction((struct kc_db *)db);
	return db->in_transaction;
}

int
kc_db_disk_full(const struct kc_db *db)
{
	return db->disk_full;
}

const char *
kc_db_errmsg(const struct kc_db *db)
{
	return db->last.msg;
}

int
kc_db_retryable(const struct kc_db *db)
{
	return db->retryable;
}

int
kc_db_prepare(struct kc_db *db, const char *sql, struct kc_db_stmt **st)
{
	*st = NULL;
	return db->ops->prepare(db, sql, st, &db->last);
}

void
kc_db_finalize(struct kc_db_stmt *st)
{
	if (st)
		st->db->ops->finalize(st);
}

void
kc_db_reset(struct kc_db_stmt *st)
{
	st->db->ops->reset(st);
}

void
kc_db_clear_bindings(struct kc_db_stmt *st)
{
	st->db->ops->clear_bindings(st);
}

int
kc_db_bind_parameter_count(struct kc_db_stmt *st)
{
	return st->db->ops->parameter_count(st);
}

int
kc_db_bind_int64(struct kc_db_stmt *st, int idx, int64_t v)
{
	return st->db->ops->bind_int64(st, idx, v);
}

int
kc_db_bind_double(struct kc_db_stmt *st, int idx, double v)
{
	return st->db->ops->bind_double(st, idx, v);
}

int
kc_db_bind_text(struct kc_db_stmt *st, int idx, const char *s)
{
	if (!s)
		return st->db->ops->bind_null(st, idx);
	return st->db->ops->bind_text(st, idx, s);
}

int
kc_db_bind_null(struct kc_db_stmt *st, int idx)
{
	return st->db->ops->bind_null(st, idx);
}

int
kc_db_step(struct kc_db_stmt *st)
{
	return st->db->ops->step(st, &st->db->last);
}

enum kc_db_type
kc_db_column_type(struct kc_db_stmt *st, int col)
{
	return st->db->ops->column_type(st, col);
}

int64_t
kc_db_column_int64(struct kc_db_stmt *st, int col)
{
	return st->db->ops->column_int64(st, col);
}

double
kc_db_column_double(struct kc_db_stmt *st, int col)
{
	return st->db->ops->column_double(st, col);
}

const char *
kc_db_column_text(struct kc_db_stmt *st, int col)
{
	return st->db->ops->column_text(st, col);
}

int64_t
kc_db_changes(struct kc_db *db)
{
	return db->changes;
}

int64_t
kc_db_last_insert_id(struct kc_db *db)
{
	return db->last_insert_id;
}
