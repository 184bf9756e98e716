/*
 * mysql-statements - checks that MariaDB accepts each statement of the
 * store as the dialect translates it (tests/integration/test_db.py feeds
 * it every statement found in lib/store*.c).
 *
 * Reads statements separated by NUL bytes on stdin; opens the store on the
 * MariaDB named by KC_TEST_MYSQL_* (creating its tables), prepares each
 * statement on it and prints one line per statement:
 * "ok", "refused: why" or "error: why", then the statement's first line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store.h"
#include "store_mysql.h"

static void
check(struct kc_store *st, const char *sql)
{
	struct kc_db_stmt *s;
	size_t first = strcspn(sql, "\n");

	/* Several statements in one go are run, as kc_sql_exec runs them. */
	if (strstr(sql, "; ") ? kc_db_exec(st->db, sql) == 0 :
	    kc_db_prepare(st->db, sql, &s) == 0) {
		if (!strstr(sql, "; "))
			kc_db_finalize(s);
		printf("ok\t%.*s\n", (int)first, sql);
	} else {
		const char *why = kc_db_errmsg(st->db);

		printf("%s\t%s\t%.*s\n", strstr(why, "no MariaDB spelling") ?
		    "refused" : "error", why, (int)first, sql);
	}
}

int
main(void)
{
	struct kc_store_mysql p = {
		.host = getenv("KC_TEST_MYSQL_SOCKET"),
		.database = getenv("KC_TEST_MYSQL_DATABASE"),
		.user = getenv("KC_TEST_MYSQL_USER"),
		.password = getenv("KC_TEST_MYSQL_PASSWORD"),
		.table_prefix = "kc_statements_",
	};
	struct kc_store st;
	struct kc_error err;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!p.host) {
		fprintf(stderr, "mysql-statements: KC_TEST_MYSQL_SOCKET is not set\n");
		return 2;
	}
	if (kc_store_open_mysql(&st, &p, &err) != 0) {
		fprintf(stderr, "mysql-statements: %s\n", err.msg);
		return 2;
	}
	while ((n = getdelim(&buf, &cap, '\0', stdin)) > 0) {
		if (buf[n - 1] == '\0')
			n--;
		buf[n] = '\0';
		if (n > 0)
			check(&st, buf);
	}
	free(buf);
	kc_store_close(&st);
	return 0;
}
