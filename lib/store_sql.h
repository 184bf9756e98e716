/*
 * store_sql.h - what the store's files share, and nothing outside them
 * uses: the cached statements of store.c and one error style.
 */
#ifndef KC_STORE_SQL_H
#define KC_STORE_SQL_H

#include <stdint.h>


#include "db.h"
#include "store.h"

/*
 * The statement for this engine, where MariaDB needs its own spelling
 * (db_dialect.h translates the rest); both must be string literals.
 */
#define KC_SQL_FOR(st, sqlite_sql, mysql_sql) \
	(kc_db_engine((st)->db) == KC_DB_MYSQL ? (mysql_sql) : (sqlite_sql))

/* A cached statement for a string literal (reset, bindings cleared). */
struct kc_db_stmt *kc_sql_prepare(struct kc_store *st, const char *sql,
    struct kc_error *err);
/* Done with it: reset when cached, finalized when not. */
void kc_sql_release(struct kc_store *st, struct kc_db_stmt *s);
/* Steps a statement that returns no rows, then releases it. */
int kc_sql_run(struct kc_store *st, struct kc_db_stmt *s, const char *what,
    struct kc_error *err);
/* err = "state database PATH: what: SQLite's reason"; returns -1. */
int kc_sql_db_error(struct kc_store *st, struct kc_error *err, const char *what);
int kc_sql_exec(struct kc_store *st, const char *sql, struct kc_error *err);
/* The counter's next value, inside the caller's transaction; -1 on failure. */
int64_t kc_sql_next_counter(struct kc_store *st, const char *name,
    struct kc_error *err);

#endif
