/*
 * db_mysql.h - what the two halves of db.h's MariaDB engine share: the
 * connection (store_db_mysql.c) and a statement's values and rows
 * (store_db_mysql_rows.c).  Nothing else includes it.
 */
#ifndef KC_DB_MYSQL_H
#define KC_DB_MYSQL_H

#include <mysql.h>

#include "db_dialect.h"
#include "db_engine.h"

enum { MAX_PARAMS = 999, TEXT_START = 64 };

struct mysql_db {
	struct kc_db base;
	MYSQL *h;		/* NULL while not connected */
	int lost;		/* the connection dropped: reopen before use */
	unsigned generation;	/* one more at every (re)connection */
	char *host, *socket, *user, *password, *database, *ca_file;
	unsigned port, timeout_s;
	int require_tls;
	const struct kc_db_dialect *dialect;
};

struct value {
	enum kc_db_type type;
	int64_t i;
	double d;
	char *s;
	unsigned long len;
};

struct column {
	enum kc_db_type kind;	/* how the column is read */
	my_bool is_null, error;
	unsigned long len;
	int64_t i;
	double d;
	char *text;
	unsigned long cap;
	char num[32];		/* a number asked for as text */
};

struct mysql_stmt {
	struct kc_db_stmt base;
	char *sql;		/* with plain ? only */
	int *order;		/* order[k]: the number the k-th ? takes */
	int nmarks, nparams;
	struct value *params;	/* by number - 1 */
	struct kc_db_derived derived[KC_DB_MAX_DERIVED];
	int nderived;		/* parameters computed from others */
	MYSQL_STMT *s;
	unsigned generation;
	int executed;
	unsigned ncols;
	struct column *cols;
	MYSQL_BIND *rbind;
};

static inline struct mysql_db *
mdb(struct kc_db *db)
{
	return (struct mysql_db *)db;
}

static inline struct mysql_stmt *
mst(struct kc_db_stmt *st)
{
	return (struct mysql_stmt *)st;
}

/* store_db_mysql.c */
int kc_mysql_fail_stmt(struct mysql_stmt *st, struct kc_error *err, const char *what);
int kc_mysql_server_stmt(struct mysql_stmt *st, struct kc_error *err);
void kc_mysql_clear_value(struct value *v);
void kc_mysql_free_columns(struct mysql_stmt *st);

/* store_db_mysql_rows.c */
int kc_mysql_bind_int64(struct kc_db_stmt *st, int idx, int64_t v);
int kc_mysql_bind_double(struct kc_db_stmt *st, int idx, double v);
int kc_mysql_bind_text(struct kc_db_stmt *st, int idx, const char *s);
int kc_mysql_bind_null(struct kc_db_stmt *st, int idx);
int kc_mysql_parameter_count(struct kc_db_stmt *st);
int kc_mysql_step(struct kc_db_stmt *base, struct kc_error *err);
enum kc_db_type kc_mysql_column_type(struct kc_db_stmt *st, int col);
int64_t kc_mysql_column_int64(struct kc_db_stmt *st, int col);
double kc_mysql_column_double(struct kc_db_stmt *st, int col);
const char *kc_mysql_column_text(struct kc_db_stmt *st, int col);

#endif
