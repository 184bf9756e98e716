/*
 * db_engine.h - what an engine behind db.h provides; nothing outside
 * store_db*.c includes it.
 */
#ifndef KC_DB_ENGINE_H
#define KC_DB_ENGINE_H

#include "db.h"

struct kc_db_ops {
	void (*close)(struct kc_db *db);
	void *(*handle)(struct kc_db *db);
	int (*exec)(struct kc_db *db, const char *sql, struct kc_error *err);
	int (*prepare)(struct kc_db *db, const char *sql,
	    struct kc_db_stmt **st, struct kc_error *err);
	void (*finalize)(struct kc_db_stmt *st);
	void (*reset)(struct kc_db_stmt *st);
	void (*clear_bindings)(struct kc_db_stmt *st);
	int (*bind_int64)(struct kc_db_stmt *st, int idx, int64_t v);
	int (*bind_double)(struct kc_db_stmt *st, int idx, double v);
	int (*bind_text)(struct kc_db_stmt *st, int idx, const char *s);
	int (*bind_null)(struct kc_db_stmt *st, int idx);
	int (*parameter_count)(struct kc_db_stmt *st);
	/* Whether the engine has a transaction open (NULL: trust the flag). */
	int (*in_transaction)(struct kc_db *db);
	int (*step)(struct kc_db_stmt *st, struct kc_error *err);
	enum kc_db_type (*column_type)(struct kc_db_stmt *st, int col);
	int64_t (*column_int64)(struct kc_db_stmt *st, int col);
	double (*column_double)(struct kc_db_stmt *st, int col);
	const char *(*column_text)(struct kc_db_stmt *st, int col);
	const char *begin_sql;
};

/* The head of every engine's connection and statement structs. */
struct kc_db {
	const struct kc_db_ops *ops;
	enum kc_db_engine engine;
	int in_transaction;
	int retryable;		/* set by the engine on each failure */
	int disk_full;		/* likewise: no space left for the write */
	int64_t changes;
	int64_t last_insert_id;
	struct kc_error last;	/* why the last call failed */
};

struct kc_db_stmt {
	struct kc_db *db;
};

#endif
