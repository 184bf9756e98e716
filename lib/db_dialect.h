/*
 * db_dialect.h - the store's SQL, written for SQLite, as MariaDB runs it.
 *
 * The store writes each statement once.  Most of SQLite's dialect is
 * MariaDB's too once the session speaks ANSI_QUOTES and PIPES_AS_CONCAT
 * (store_db_mysql.c); the rest is a short list of spellings translated here,
 * token by token, so that a reader of the store sees the statement that
 * runs on both engines:
 *
 *   table names                     the configured prefix (mysql_table_prefix)
 *   INSERT OR REPLACE / OR IGNORE   REPLACE / INSERT IGNORE
 *   ON CONFLICT(...) DO UPDATE SET  ON DUPLICATE KEY UPDATE
 *   ON CONFLICT(...) DO NOTHING     INSERT IGNORE
 *   excluded.col                    VALUES(col)
 *   total(x)                        COALESCE(SUM(x), 0)
 *   MIN(a, b) / MAX(a, b)           LEAST(a, b) / GREATEST(a, b)
 *   CAST(x AS REAL/INTEGER/TEXT)    CAST(x AS DOUBLE/SIGNED/CHAR)
 *   key (a column)                  "key" (reserved in MariaDB)
 *   last_insert_rowid()             CAST(LAST_INSERT_ID() AS SIGNED)
 *   kc_sku_key(?N)                  a parameter the driver computes from ?N
 *
 * What has no faithful spelling is refused with a reason, never guessed:
 * a conditional upsert (DO UPDATE ... WHERE), UPDATE ... RETURNING, GLOB,
 * random(), PRAGMA.  The store writes those twice.
 */
#ifndef KC_DB_DIALECT_H
#define KC_DB_DIALECT_H

#include "util.h"

enum { KC_DB_MAX_DERIVED = 8 };

/* What the driver must add: parameter `param` = kc_sku_key(parameter `from`). */
struct kc_db_derived {
	int param;
	int from;
};

struct kc_db_dialect {
	const char *prefix;		/* put before every table name; "" none */
	const char *const *tables;	/* the store's tables, NULL-terminated */
};

/*
 * The MariaDB spelling of sql (malloc'd), its parameters still numbered
 * (?N); derived[0..*nderived) lists the parameters the driver computes.
 * NULL and a reason when the statement has no faithful translation.
 */
char *kc_db_to_mysql(const char *sql, const struct kc_db_dialect *d,
    struct kc_db_derived *derived, int *nderived, struct kc_error *err);

#endif
