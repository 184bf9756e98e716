/*
 * store_db_mysql.c - db.h on MariaDB/MySQL through MariaDB Connector/C.
 *
 * Statements are server-side prepared statements.  SQLite's numbered
 * parameters (?1, ?2, a number used twice) are rewritten to the plain ? the
 * server knows, remembering which value each ? takes.  Result rows are
 * buffered on the client (mysql_stmt_store_result), so a statement may be
 * stepped while another runs, as with SQLite.  Integer columns are read as
 * 64-bit integers, float and decimal ones as doubles, the rest as text.
 *
 * The session speaks SQLite's dialect where MariaDB can: ANSI_QUOTES and
 * PIPES_AS_CONCAT, strict mode, UTC, utf8mb4.  A dropped connection is
 * reopened by the next statement outside a transaction; prepared
 * statements notice (a generation number) and prepare themselves again.
 * Inside a transaction it is an error the caller may retry whole.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <errmsg.h>

#include "db_dialect.h"
#include "db_engine.h"

#include "db_mysql.h"

/* Errors after which the same transaction may well succeed if run again. */
static int
is_retryable(unsigned code)
{
	return code == 1213 /* ER_LOCK_DEADLOCK */ ||
	    code == 1205 /* ER_LOCK_WAIT_TIMEOUT */ ||
	    code == 4031 /* idle connection closed by the server */ ||
	    code == 1927 /* ER_CONNECTION_KILLED */ ||
	    code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST ||
	    code == CR_CONNECTION_ERROR || code == CR_CONN_HOST_ERROR;
}

static int
is_connection_lost(unsigned code)
{
	return code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST ||
	    code == 4031 || code == 1927 ||
	    code == CR_CONNECTION_ERROR || code == CR_CONN_HOST_ERROR;
}

static int
fail_code(struct mysql_db *db, unsigned code, const char *reason,
    struct kc_error *err, const char *what)
{
	db->base.retryable = is_retryable(code);
	/* ER_RECORD_FILE_FULL, ER_DISK_FULL */
	db->base.disk_full = code == 1114 || code == 1021;
	if (is_connection_lost(code))
		db->lost = 1;
	kc_error_set(err, "%s: %s (%u)", what, reason, code);
	return -1;
}

static int
fail_db(struct mysql_db *db, struct kc_error *err, const char *what)
{
	return fail_code(db, mysql_errno(db->h), mysql_error(db->h), err, what);
}

int
kc_mysql_fail_stmt(struct mysql_stmt *st, struct kc_error *err, const char *what)
{
	return fail_code(mdb(st->base.db), mysql_stmt_errno(st->s),
	    mysql_stmt_error(st->s), err, what);
}

static const char ISOLATION_SQL[] =
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";

/* Settings every session starts with, so the store's SQL means one thing. */
static const char SESSION_SQL[] =
    "SET SESSION sql_mode = 'ANSI_QUOTES,PIPES_AS_CONCAT,STRICT_ALL_TABLES,"
    "NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION', time_zone = '+00:00'";

static void
set_options(MYSQL *h, const struct mysql_db *db, int tls)
{
	unsigned timeout = db->timeout_s ? db->timeout_s : 10;
	my_bool yes = 1;

	mysql_options(h, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(h, MYSQL_OPT_READ_TIMEOUT, &timeout);
	mysql_options(h, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
	mysql_options(h, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (db->ca_file && tls) {
		mysql_options(h, MYSQL_OPT_SSL_CA, db->ca_file);
		mysql_options(h, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);
	}
	if (db->require_tls) {
		mysql_options(h, MYSQL_OPT_SSL_ENFORCE, &yes);
		mysql_options(h, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);
	}
}

/*
 * Connector/C's refusal of a server that offers no TLS once TLS options are
 * set (its text; the code is the one of any TLS failure).
 */
static int
offers_no_tls(MYSQL *h)
{
	return mysql_errno(h) == CR_SSL_CONNECTION_ERROR &&
	    strstr(mysql_error(h), "server does not support") != NULL;
}

static int
real_connect(const struct mysql_db *db, MYSQL *h, int tls)
{
	set_options(h, db, tls);
	return mysql_real_connect(h, db->host, db->user, db->password,
	    db->database, db->port, db->socket,
	    CLIENT_FOUND_ROWS | CLIENT_MULTI_STATEMENTS) ? 0 : -1;
}

/*
 * ca_file (the CA bundle of every TLS connection) verifies the database's
 * certificate when the server offers TLS (SPEC section 2); a server that
 * offers none is then reached without it, unless mysql_require_tls.
 */
static int
connect_db(struct mysql_db *db, struct kc_error *err)
{
	MYSQL *h = mysql_init(NULL);
	int rc;

	if (!h) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	rc = real_connect(db, h, 1);
	if (rc != 0 && db->ca_file && !db->require_tls && offers_no_tls(h)) {
		mysql_close(h);
		if (!(h = mysql_init(NULL))) {
			kc_error_set(err, "out of memory");
			return -1;
		}
		rc = real_connect(db, h, 0);
	}
	if (rc != 0) {
		kc_error_set(err, "cannot connect to %s: %s (%u)",
		    db->socket ? db->socket : db->host ? db->host : "localhost",
		    mysql_error(h), mysql_errno(h));
		db->base.retryable = 1;
		mysql_close(h);
		return -1;
	}
	/* Each statement sees what others committed before it (SQLite's view). */
	if (mysql_real_query(h, SESSION_SQL, sizeof(SESSION_SQL) - 1) ||
	    mysql_real_query(h, ISOLATION_SQL, sizeof(ISOLATION_SQL) - 1)) {
		kc_error_set(err, "session settings: %s", mysql_error(h));
		mysql_close(h);
		return -1;
	}
	if (db->require_tls && !mysql_get_ssl_cipher(h)) {
		kc_error_set(err, "the database server offered no TLS");
		mysql_close(h);
		return -1;
	}
	db->h = h;
	db->lost = 0;
	db->generation++;
	return 0;
}

/* Connected, or reconnected when that cannot lose a transaction's work. */
static int
ensure_connected(struct mysql_db *db, struct kc_error *err)
{
	if (db->h && !db->lost)
		return 0;
	if (db->base.in_transaction) {
		db->base.retryable = 1;
		kc_error_set(err, "the connection to the database dropped "
		    "during a transaction");
		return -1;
	}
	if (db->h)
		mysql_close(db->h);
	db->h = NULL;
	return connect_db(db, err);
}

static void
free_params(struct mysql_db *db)
{
	free(db->host);
	free(db->socket);
	free(db->user);
	if (db->password) {
		explicit_bzero(db->password, strlen(db->password));
		free(db->password);
	}
	free(db->database);
	free(db->ca_file);
}

static void
mysql_db_close(struct kc_db *base)
{
	struct mysql_db *db = mdb(base);

	if (db->h)
		mysql_close(db->h);
	free_params(db);
	free(db);
}

static void *
mysql_db_handle(struct kc_db *db)
{
	return mdb(db)->h;
}

/* Reads and drops every result of a multi-statement query. */
static int
drain_results(struct mysql_db *db, struct kc_error *err)
{
	int more;

	do {
		MYSQL_RES *res = mysql_store_result(db->h);

		if (res)
			mysql_free_result(res);
		else if (mysql_field_count(db->h) != 0)
			return fail_db(db, err, "statement");
		else
			db->base.changes = (int64_t)mysql_affected_rows(db->h);
		more = mysql_next_result(db->h);
		if (more > 0)
			return fail_db(db, err, "statement");
	} while (more == 0);
	return 0;
}

static int
mysql_db_exec(struct kc_db *base, const char *sql, struct kc_error *err)
{
	struct mysql_db *db = mdb(base);

	char *translated = NULL;
	int rc;

	base->retryable = 0;
	if (db->dialect) {
		struct kc_db_derived derived[KC_DB_MAX_DERIVED];
		int nderived;

		translated = kc_db_to_mysql(sql, db->dialect, derived,
		    &nderived, err);
		if (!translated)
			return -1;
		sql = translated;
	}
	if (ensure_connected(db, err) < 0)
		rc = -1;
	else if (mysql_real_query(db->h, sql, strlen(sql)))
		rc = fail_db(db, err, "statement");
	else
		rc = drain_results(db, err);
	free(translated);
	return rc;
}

/*
 * SQLite's parameters to the server's: ?N becomes ? and takes value N; a
 * bare ? takes one more than the largest number so far, as in SQLite.
 * Quoted text and comments are copied as they are.
 */
static int
rewrite_params(struct mysql_stmt *st, const char *sql, struct kc_error *err)
{
	size_t n = strlen(sql);
	char *out = malloc(n + 1);
	int *order = malloc(sizeof(int) * (n / 1 + 1));
	size_t i = 0, o = 0;
	int marks = 0, highest = 0;

	if (!out || !order) {
		free(out);
		free(order);
		kc_error_set(err, "out of memory");
		return -1;
	}
	while (i < n) {
		char c = sql[i];

		if (c == '\'' || c == '"' || c == '`') {
			out[o++] = sql[i++];
			while (i < n && sql[i] != c)
				out[o++] = sql[i++];
			if (i < n)
				out[o++] = sql[i++];
		} else if (c == '-' && sql[i + 1] == '-') {
			while (i < n && sql[i] != '\n')
				out[o++] = sql[i++];
		} else if (c == '?') {
			long num = 0;
			size_t digits = ++i;

			while (i < n && sql[i] >= '0' && sql[i] <= '9' &&
			    num <= MAX_PARAMS)
				num = num * 10 + (sql[i++] - '0');
			if (i == digits)
				num = highest + 1;
			if (num < 1 || num > MAX_PARAMS) {
				free(out);
				free(order);
				kc_error_set(err, "prepare: parameter ?%ld "
				    "out of range", num);
				return -1;
			}
			if (num > highest)
				highest = (int)num;
			order[marks++] = (int)num;
			out[o++] = '?';
		} else {
			out[o++] = sql[i++];
		}
	}
	out[o] = '\0';
	st->sql = out;
	st->order = order;
	st->nmarks = marks;
	st->nparams = highest;
	return 0;
}

static void
drop_server_stmt(struct mysql_stmt *st)
{
	if (st->s)
		mysql_stmt_close(st->s);
	st->s = NULL;
	st->executed = 0;
}

/* The server-side statement, (re)prepared on this connection. */
int
kc_mysql_server_stmt(struct mysql_stmt *st, struct kc_error *err)
{
	struct mysql_db *db = mdb(st->base.db);

	if (ensure_connected(db, err) < 0)
		return -1;
	if (st->s && st->generation == db->generation)
		return 0;
	/* Its connection was closed, which left it client memory only. */
	drop_server_stmt(st);
	st->s = mysql_stmt_init(db->h);
	if (!st->s) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	if (mysql_stmt_prepare(st->s, st->sql, strlen(st->sql))) {
		int rc = kc_mysql_fail_stmt(st, err, "prepare");

		drop_server_stmt(st);
		return rc;
	}
	st->generation = db->generation;
	return 0;
}

/* The store's spelling as MariaDB's, when the connection has a dialect. */
static int
db_translate(struct mysql_db *db, struct mysql_stmt *st, const char **sql,
    struct kc_error *err)
{
	char *mysql;

	if (!db->dialect)
		return 0;
	mysql = kc_db_to_mysql(*sql, db->dialect, st->derived, &st->nderived,
	    err);
	if (!mysql)
		return -1;
	*sql = mysql;
	return 0;
}

static int
mysql_db_prepare(struct kc_db *base, const char *sql, struct kc_db_stmt **out,
    struct kc_error *err)
{
	struct mysql_stmt *st = calloc(1, sizeof(*st));
	const char *original = sql;
	int rc;

	base->retryable = 0;
	if (!st) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	st->base.db = base;
	if (db_translate(mdb(base), st, &sql, err) < 0) {
		free(st);
		return -1;
	}
	rc = rewrite_params(st, sql, err);
	if (sql != original)
		free((char *)sql);
	if (rc < 0) {
		free(st);
		return -1;
	}
	if (st->nparams) {
		st->params = calloc((size_t)st->nparams, sizeof(*st->params));
		if (!st->params) {
			kc_db_finalize(&st->base);
			kc_error_set(err, "out of memory");
			return -1;
		}
	}
	/* Prepared now, so a statement the server refuses fails here. */
	if (kc_mysql_server_stmt(st, err) < 0) {
		kc_db_finalize(&st->base);
		return -1;
	}
	*out = &st->base;
	return 0;
}

void
kc_mysql_free_columns(struct mysql_stmt *st)
{
	for (unsigned i = 0; i < st->ncols; i++)
		free(st->cols[i].text);
	free(st->cols);
	free(st->rbind);
	st->cols = NULL;
	st->rbind = NULL;
	st->ncols = 0;
}

static void
mysql_db_reset(struct kc_db_stmt *base)
{
	struct mysql_stmt *st = mst(base);

	if (st->executed && st->s &&
	    st->generation == mdb(base->db)->generation)
		mysql_stmt_free_result(st->s);
	st->executed = 0;
}

void
kc_mysql_clear_value(struct value *v)
{
	free(v->s);
	memset(v, 0, sizeof(*v));
}

static void
mysql_db_clear_bindings(struct kc_db_stmt *base)
{
	struct mysql_stmt *st = mst(base);

	for (int i = 0; i < st->nparams; i++)
		kc_mysql_clear_value(&st->params[i]);
}

static void
mysql_db_finalize(struct kc_db_stmt *base)
{
	struct mysql_stmt *st = mst(base);

	mysql_db_reset(base);
	drop_server_stmt(st);
	if (st->params)
		mysql_db_clear_bindings(base);
	free(st->params);
	kc_mysql_free_columns(st);
	free(st->sql);
	free(st->order);
	free(st);
}

static const struct kc_db_ops mysql_ops = {
	.close = mysql_db_close,
	.handle = mysql_db_handle,
	.exec = mysql_db_exec,
	.prepare = mysql_db_prepare,
	.finalize = mysql_db_finalize,
	.reset = mysql_db_reset,
	.clear_bindings = mysql_db_clear_bindings,
	.bind_int64 = kc_mysql_bind_int64,
	.bind_double = kc_mysql_bind_double,
	.bind_text = kc_mysql_bind_text,
	.bind_null = kc_mysql_bind_null,
	.parameter_count = kc_mysql_parameter_count,
	.step = kc_mysql_step,
	.column_type = kc_mysql_column_type,
	.column_int64 = kc_mysql_column_int64,
	.column_double = kc_mysql_column_double,
	.column_text = kc_mysql_column_text,
	.begin_sql = "START TRANSACTION",
};

static int
copy_param(char **dst, const char *src)
{
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

int
kc_db_open_mysql(struct kc_db **out, const struct kc_db_mysql_params *p,
    struct kc_error *err)
{
	struct mysql_db *db = calloc(1, sizeof(*db));

	*out = NULL;
	if (!db || copy_param(&db->host, p->host) ||
	    copy_param(&db->socket, p->socket) ||
	    copy_param(&db->user, p->user) ||
	    copy_param(&db->password, p->password) ||
	    copy_param(&db->database, p->database) ||
	    copy_param(&db->ca_file, p->ca_file)) {
		if (db) {
			free_params(db);
			free(db);
		}
		kc_error_set(err, "out of memory");
		return -1;
	}
	db->port = p->port;
	db->timeout_s = p->timeout_s;
	db->require_tls = p->require_tls;
	db->dialect = p->dialect;
	db->base.ops = &mysql_ops;
	db->base.engine = KC_DB_MYSQL;
	if (connect_db(db, err) < 0) {
		free_params(db);
		free(db);
		return -1;
	}
	*out = &db->base;
	return 0;
}
