/*
 * db.h - one way for the store to speak SQL, to SQLite or to MariaDB/MySQL.
 *
 * The store keeps its logic once and its SQL in one dialect-neutral form
 * wherever the two engines agree; this layer hides how each engine runs a
 * statement.  It follows SQLite's model, which the store was written
 * against: prepare, bind by number (?1, ?2 ... or plain ?), step through
 * the rows, read columns, reset.  On MariaDB the numbered parameters are
 * rewritten to plain ones and the rows are buffered client-side.
 *
 * Calls on a connection fail as SQLite's do: -1, and kc_db_errmsg() says
 * why (opening one fills a struct kc_error, util.h, as the library's other
 * calls do); kc_db_retryable() tells a caller whether the
 * whole transaction may be tried again (a deadlock, a lock wait that timed
 * out, a busy SQLite file, a MariaDB connection that dropped: the next
 * statement reconnects).  Reasons never carry the password.
 */
#ifndef KC_DB_H
#define KC_DB_H

#include <stdint.h>

#include "util.h"

struct kc_db_dialect;

struct kc_db;
struct kc_db_stmt;

enum kc_db_engine { KC_DB_SQLITE, KC_DB_MYSQL };

/* What kc_db_step returns besides -1. */
enum { KC_DB_DONE = 0, KC_DB_ROW = 1 };

/* A column's value type, as SQLite names them. */
enum kc_db_type { KC_DB_NULL, KC_DB_INTEGER, KC_DB_FLOAT, KC_DB_TEXT };

/* Where a MariaDB/MySQL server is and how to reach it. */
struct kc_db_mysql_params {
	const char *host;	/* "localhost" means the Unix socket */
	unsigned port;		/* 0: 3306 */
	const char *socket;	/* NULL: the client library's default */
	const char *user;
	const char *password;	/* never written to a reason */
	const char *database;
	const char *ca_file;	/* verify the server's certificate with it */
	int require_tls;	/* refuse a server that does not offer TLS */
	unsigned timeout_s;	/* connect, read and write; 0: 10 s */
	/* The store's SQLite spellings translated (db_dialect.h); NULL: none. */
	const struct kc_db_dialect *dialect;
};

/* A SQLite file; flags as sqlite3_open_v2's (0: read-write, create). */
int kc_db_open_sqlite(struct kc_db **db, const char *path, int flags,
    struct kc_error *err);
int kc_db_open_mysql(struct kc_db **db, const struct kc_db_mysql_params *p,
    struct kc_error *err);
void kc_db_close(struct kc_db *db);

enum kc_db_engine kc_db_engine(const struct kc_db *db);
/* The engine's own handle (sqlite3 * or MYSQL *), for what only it does. */
void *kc_db_handle(struct kc_db *db);

/* One or more statements that return no rows. */
int kc_db_exec(struct kc_db *db, const char *sql);

/* Transactions; begin takes the write lock at once on SQLite. */
int kc_db_begin(struct kc_db *db);
int kc_db_commit(struct kc_db *db);
/* Never fails from the caller's point of view: a failed rollback is logged. */
void kc_db_rollback(struct kc_db *db);
int kc_db_in_transaction(const struct kc_db *db);

/* Whether the last call failed because the disk is full. */
int kc_db_disk_full(const struct kc_db *db);
/* Why the connection's last call failed. */
const char *kc_db_errmsg(const struct kc_db *db);
/* Whether the last failure may succeed if the transaction is run again. */
int kc_db_retryable(const struct kc_db *db);

int kc_db_prepare(struct kc_db *db, const char *sql, struct kc_db_stmt **st);
void kc_db_finalize(struct kc_db_stmt *st);
/* Ready to run again: rows dropped, bindings kept (as sqlite3_reset). */
void kc_db_reset(struct kc_db_stmt *st);
void kc_db_clear_bindings(struct kc_db_stmt *st);

/* The highest parameter number the statement uses. */
int kc_db_bind_parameter_count(struct kc_db_stmt *st);
/* Parameters count from 1; text is copied. */
int kc_db_bind_int64(struct kc_db_stmt *st, int idx, int64_t v);
int kc_db_bind_double(struct kc_db_stmt *st, int idx, double v);
int kc_db_bind_text(struct kc_db_stmt *st, int idx, const char *s);
int kc_db_bind_null(struct kc_db_stmt *st, int idx);

/* KC_DB_ROW, KC_DB_DONE or -1 (kc_db_errmsg says why). */
int kc_db_step(struct kc_db_stmt *st);

/* Columns count from 0, valid until the next step or reset. */
enum kc_db_type kc_db_column_type(struct kc_db_stmt *st, int col);
int64_t kc_db_column_int64(struct kc_db_stmt *st, int col);
double kc_db_column_double(struct kc_db_stmt *st, int col);
/* NULL for a NULL value; otherwise NUL-terminated text. */
const char *kc_db_column_text(struct kc_db_stmt *st, int col);

/* Rows the last statement changed (matched, for an UPDATE). */
int64_t kc_db_changes(struct kc_db *db);
int64_t kc_db_last_insert_id(struct kc_db *db);

#endif
