/*
 * store_db_mysql_rows.c - a MariaDB statement's side of db.h: the values bound
 * to it, running it, and its rows read column by column as SQLite reads
 * them (see store_db_mysql.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_mysql.h"
#include "sku.h"

static struct value *
param(struct kc_db_stmt *base, int idx)
{
	struct mysql_stmt *st = mst(base);

	if (idx < 1 || idx > st->nparams)
		return NULL;
	kc_mysql_clear_value(&st->params[idx - 1]);
	return &st->params[idx - 1];
}

int
kc_mysql_bind_int64(struct kc_db_stmt *st, int idx, int64_t v)
{
	struct value *p = param(st, idx);

	if (!p)
		return -1;
	p->type = KC_DB_INTEGER;
	p->i = v;
	return 0;
}

int
kc_mysql_bind_double(struct kc_db_stmt *st, int idx, double v)
{
	struct value *p = param(st, idx);

	if (!p)
		return -1;
	p->type = KC_DB_FLOAT;
	p->d = v;
	return 0;
}

int
kc_mysql_bind_text(struct kc_db_stmt *st, int idx, const char *s)
{
	struct value *p = param(st, idx);

	if (!p || !(p->s = strdup(s)))
		return -1;
	p->type = KC_DB_TEXT;
	p->len = strlen(s);
	return 0;
}

int
kc_mysql_bind_null(struct kc_db_stmt *st, int idx)
{
	return param(st, idx) ? 0 : -1;
}

int
kc_mysql_parameter_count(struct kc_db_stmt *st)
{
	return mst(st)->nparams - mst(st)->nderived;
}

static void
bind_value(MYSQL_BIND *b, struct value *v)
{
	static my_bool is_null = 1;

	memset(b, 0, sizeof(*b));
	switch (v->type) {
	case KC_DB_INTEGER:
		b->buffer_type = MYSQL_TYPE_LONGLONG;
		b->buffer = &v->i;
		break;
	case KC_DB_FLOAT:
		b->buffer_type = MYSQL_TYPE_DOUBLE;
		b->buffer = &v->d;
		break;
	case KC_DB_TEXT:
		b->buffer_type = MYSQL_TYPE_STRING;
		b->buffer = v->s;
		b->buffer_length = v->len;
		b->length = &v->len;
		break;
	case KC_DB_NULL:
		b->buffer_type = MYSQL_TYPE_NULL;
		b->is_null = &is_null;
		break;
	}
}

/* kc_sku_key(?N): the key computed here, as SQLite's function would. */
static int
fill_derived(struct mysql_stmt *st, struct kc_error *err)
{
	for (int k = 0; k < st->nderived; k++) {
		struct value *from = &st->params[st->derived[k].from - 1];
		struct value *to = &st->params[st->derived[k].param - 1];

		kc_mysql_clear_value(to);
		if (from->type != KC_DB_TEXT)
			continue;	/* NULL, as kc_sku_key(NULL) is */
		to->s = kc_sku_key(from->s);
		if (!to->s) {
			kc_error_set(err, "out of memory");
			return -1;
		}
		to->type = KC_DB_TEXT;
		to->len = strlen(to->s);
	}
	return 0;
}

static int
execute(struct mysql_stmt *st, struct kc_error *err)
{
	MYSQL_BIND *b = NULL;
	int rc = 0;

	if (fill_derived(st, err) < 0)
		return -1;

	if (st->nmarks) {
		b = calloc((size_t)st->nmarks, sizeof(*b));
		if (!b) {
			kc_error_set(err, "out of memory");
			return -1;
		}
		for (int k = 0; k < st->nmarks; k++)
			bind_value(&b[k], &st->params[st->order[k] - 1]);
		if (mysql_stmt_bind_param(st->s, b))
			rc = kc_mysql_fail_stmt(st, err, "bind");
	}
	if (rc == 0 && mysql_stmt_execute(st->s))
		rc = kc_mysql_fail_stmt(st, err, "execute");
	free(b);
	return rc;
}

static enum kc_db_type
column_kind(enum enum_field_types t)
{
	switch (t) {
	case MYSQL_TYPE_TINY:
	case MYSQL_TYPE_SHORT:
	case MYSQL_TYPE_LONG:
	case MYSQL_TYPE_INT24:
	case MYSQL_TYPE_LONGLONG:
	case MYSQL_TYPE_YEAR:
		return KC_DB_INTEGER;
	case MYSQL_TYPE_FLOAT:
	case MYSQL_TYPE_DOUBLE:
	case MYSQL_TYPE_DECIMAL:
	case MYSQL_TYPE_NEWDECIMAL:
		return KC_DB_FLOAT;
	default:
		return KC_DB_TEXT;
	}
}

static void
bind_column(MYSQL_BIND *b, struct column *c)
{
	memset(b, 0, sizeof(*b));
	b->is_null = &c->is_null;
	b->error = &c->error;
	b->length = &c->len;
	switch (c->kind) {
	case KC_DB_INTEGER:
		b->buffer_type = MYSQL_TYPE_LONGLONG;
		b->buffer = &c->i;
		break;
	case KC_DB_FLOAT:
		b->buffer_type = MYSQL_TYPE_DOUBLE;
		b->buffer = &c->d;
		break;
	default:
		b->buffer_type = MYSQL_TYPE_STRING;
		b->buffer = c->text;
		/* One byte kept for the terminating NUL. */
		b->buffer_length = c->cap - 1;
		break;
	}
}

/* Buffers the rows and binds one buffer per column. */
static int
prepare_rows(struct mysql_stmt *st, struct kc_error *err)
{
	MYSQL_RES *meta;
	MYSQL_FIELD *f;

	kc_mysql_free_columns(st);
	if (mysql_stmt_store_result(st->s))
		return kc_mysql_fail_stmt(st, err, "read rows");
	meta = mysql_stmt_result_metadata(st->s);
	if (!meta)
		return kc_mysql_fail_stmt(st, err, "read rows");
	st->ncols = mysql_num_fields(meta);
	f = mysql_fetch_fields(meta);
	st->cols = calloc(st->ncols, sizeof(*st->cols));
	st->rbind = calloc(st->ncols, sizeof(*st->rbind));
	for (unsigned i = 0; st->cols && st->rbind && i < st->ncols; i++) {
		struct column *c = &st->cols[i];

		c->kind = column_kind(f[i].type);
		if (c->kind == KC_DB_TEXT) {
			c->cap = TEXT_START;
			if (!(c->text = malloc(c->cap)))
				break;
		}
		bind_column(&st->rbind[i], c);
	}
	mysql_free_result(meta);
	for (unsigned i = 0; i < st->ncols; i++) {
		if (!st->cols || !st->rbind ||
		    (st->cols[i].kind == KC_DB_TEXT && !st->cols[i].text)) {
			kc_error_set(err, "out of memory");
			return -1;
		}
	}
	if (mysql_stmt_bind_result(st->s, st->rbind))
		return kc_mysql_fail_stmt(st, err, "read rows");
	return 0;
}

/* A text value longer than its buffer: grow it and read the column again. */
static int
fetch_long_text(struct mysql_stmt *st, unsigned i, struct kc_error *err)
{
	struct column *c = &st->cols[i];
	char *grown = realloc(c->text, c->len + 1);

	if (!grown) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	c->text = grown;
	c->cap = c->len + 1;
	bind_column(&st->rbind[i], c);
	if (mysql_stmt_fetch_column(st->s, &st->rbind[i], i, 0))
		return kc_mysql_fail_stmt(st, err, "read a long value");
	/* Later rows fetch into the grown buffer. */
	return mysql_stmt_bind_result(st->s, st->rbind) ?
	    kc_mysql_fail_stmt(st, err, "read rows") : 0;
}

static int
fetch_row(struct mysql_stmt *st, struct kc_error *err)
{
	int rc = mysql_stmt_fetch(st->s);

	if (rc == MYSQL_NO_DATA)
		return KC_DB_DONE;
	if (rc == 1)
		return kc_mysql_fail_stmt(st, err, "read rows");
	for (unsigned i = 0; i < st->ncols; i++) {
		struct column *c = &st->cols[i];

		if (c->kind != KC_DB_TEXT || c->is_null)
			continue;
		if (c->len >= c->cap && fetch_long_text(st, i, err) < 0)
			return -1;
		c->text[c->len] = '\0';
	}
	return KC_DB_ROW;
}

int
kc_mysql_step(struct kc_db_stmt *base, struct kc_error *err)
{
	struct mysql_stmt *st = mst(base);
	struct kc_db *db = base->db;

	db->retryable = 0;
	if (!st->executed) {
		if (kc_mysql_server_stmt(st, err) < 0 || execute(st, err) < 0)
			return -1;
		st->executed = 1;
		if (mysql_stmt_field_count(st->s) == 0) {
			db->changes = (int64_t)mysql_stmt_affected_rows(st->s);
			db->last_insert_id = (int64_t)mysql_stmt_insert_id(st->s);
			kc_mysql_free_columns(st);
			return KC_DB_DONE;
		}
		if (prepare_rows(st, err) < 0)
			return -1;
	}
	if (!st->ncols)
		return KC_DB_DONE;
	return fetch_row(st, err);
}

static struct column *
column(struct kc_db_stmt *base, int col)
{
	struct mysql_stmt *st = mst(base);

	if (col < 0 || (unsigned)col >= st->ncols)
		return NULL;
	return &st->cols[col];
}

enum kc_db_type
kc_mysql_column_type(struct kc_db_stmt *st, int col)
{
	struct column *c = column(st, col);

	return !c || c->is_null ? KC_DB_NULL : c->kind;
}

int64_t
kc_mysql_column_int64(struct kc_db_stmt *st, int col)
{
	struct column *c = column(st, col);

	if (!c || c->is_null)
		return 0;
	if (c->kind == KC_DB_INTEGER)
		return c->i;
	if (c->kind == KC_DB_FLOAT)
		return (int64_t)c->d;
	return strtoll(c->text, NULL, 10);
}

double
kc_mysql_column_double(struct kc_db_stmt *st, int col)
{
	struct column *c = column(st, col);

	if (!c || c->is_null)
		return 0;
	if (c->kind == KC_DB_INTEGER)
		return (double)c->i;
	if (c->kind == KC_DB_FLOAT)
		return c->d;
	return strtod(c->text, NULL);
}

const char *
kc_mysql_column_text(struct kc_db_stmt *st, int col)
{
	struct column *c = column(st, col);

	if (!c || c->is_null)
		return NULL;
	if (c->kind == KC_DB_INTEGER)
		snprintf(c->num, sizeof(c->num), "%lld", (long long)c->i);
	else if (c->kind == KC_DB_FLOAT)
		snprintf(c->num, sizeof(c->num), "%.17g", c->d);
	else
		return c->text;
	return c->num;
}
