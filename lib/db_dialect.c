/*
 * db_dialect.c - see db_dialect.h.
 *
 * The statement is cut into tokens first (words, quoted text, quoted
 * names, parameters, punctuation), so that nothing inside a string is
 * ever touched, then written out again with the spellings replaced.
 */
#include "db_dialect.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum tok_kind { T_SPACE, T_WORD, T_STRING, T_NAME, T_PARAM, T_NUMBER, T_PUNCT };

struct tok {
	enum tok_kind kind;
	const char *s;
	size_t len;
};

/* What an open parenthesis began, so its ')' can close it right. */
enum paren { P_PLAIN, P_TOTAL, P_CAST, P_CONFLICT };

enum { MAX_TOKENS = 4096, MAX_DEPTH = 64 };

struct xlate {
	struct tok *t;
	int n;
	const struct kc_db_dialect *d;
	struct kc_buf out;
	struct kc_db_derived *derived;
	int nderived;
	int max_param;
	int insert_ignore;	/* ON CONFLICT DO NOTHING seen */
	int upsert_depth;	/* depth of ON DUPLICATE KEY UPDATE, or -1 */
	int oom;		/* a write to out failed: the text is short */
	int from_depth;		/* depth of the FROM list being read, or -1 */
	enum paren stack[MAX_DEPTH];
	int depth;
	struct kc_error *err;
};

static int
is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '$';
}

static size_t
quoted_len(const char *s, char q)
{
	size_t i = 1;

	for (;;) {
		if (!s[i])
			return 0;
		if (s[i] == q) {
			if (s[i + 1] != q)
				return i + 1;
			i++;	/* a doubled quote stands for itself */
		}
		i++;
	}
}

static size_t
token_len(const char *s, enum tok_kind *kind)
{
	size_t i = 0;

	if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
		while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
			i++;
		*kind = T_SPACE;
	} else if (*s == '-' && s[1] == '-') {
		while (s[i] && s[i] != '\n')
			i++;
		*kind = T_SPACE;
	} else if (*s == '\'') {
		*kind = T_STRING;
		i = quoted_len(s, '\'');
	} else if (*s == '"' || *s == '`') {
		*kind = T_NAME;
		i = quoted_len(s, *s);
	} else if (*s == '?') {
		for (i = 1; s[i] >= '0' && s[i] <= '9'; i++)
			;
		*kind = T_PARAM;
	} else if (*s >= '0' && *s <= '9') {
		while (is_word_char(s[i]) || s[i] == '.')
			i++;
		*kind = T_NUMBER;
	} else if (is_word_char(*s)) {
		while (is_word_char(s[i]))
			i++;
		*kind = T_WORD;
	} else {
		/* (strchr finds the terminating NUL too: test s[1] first.) */
		i = (s[1] != '\0' && strchr("|<>!", *s) && strchr("|=>", s[1])) ? 2 : 1;
		*kind = T_PUNCT;
	}
	return i;
}

static int
tokenize(struct xlate *x, const char *sql)
{
	x->t = calloc(MAX_TOKENS, sizeof(*x->t));
	if (!x->t) {
		kc_error_set(x->err, "out of memory");
		return -1;
	}
	while (*sql) {
		struct tok *t = &x->t[x->n];

		if (x->n == MAX_TOKENS) {
			kc_error_set(x->err, "statement too long to translate");
			return -1;
		}
		t->s = sql;
		t->len = token_len(sql, &t->kind);
		if (t->len == 0) {
			kc_error_set(x->err, "unterminated quote");
			return -1;
		}
		if (t->kind == T_PARAM && t->len > 1) {
			int num = atoi(sql + 1);

			if (num > x->max_param)
				x->max_param = num;
		}
		sql += t->len;
		x->n++;
	}
	return 0;
}

static int
is(const struct xlate *x, int i, const char *word)
{
	return i >= 0 && i < x->n && x->t[i].kind == T_WORD &&
	    strlen(word) == x->t[i].len &&
	    strncasecmp(x->t[i].s, word, x->t[i].len) == 0;
}

static int
is_punct(const struct xlate *x, int i, char c)
{
	return i >= 0 && i < x->n && x->t[i].kind == T_PUNCT &&
	    x->t[i].len == 1 && x->t[i].s[0] == c;
}

/* The next token that is not blank, or x->n. */
static int
next(const struct xlate *x, int i)
{
	for (i++; i < x->n && x->t[i].kind == T_SPACE; i++)
		;
	return i;
}

static int
prev(const struct xlate *x, int i)
{
	for (i--; i >= 0 && x->t[i].kind == T_SPACE; i--)
		;
	return i;
}

/* The ')' closing the '(' at i, or x->n. */
static int
matching(const struct xlate *x, int i)
{
	int depth = 0;

	for (; i < x->n; i++) {
		if (is_punct(x, i, '('))
			depth++;
		else if (is_punct(x, i, ')') && --depth == 0)
			return i;
	}
	return x->n;
}

static int
has_top_comma(const struct xlate *x, int open)
{
	int close = matching(x, open), depth = 0;

	for (int i = open + 1; i < close; i++) {
		if (is_punct(x, i, '('))
			depth++;
		else if (is_punct(x, i, ')'))
			depth--;
		else if (depth == 0 && is_punct(x, i, ','))
			return 1;
	}
	return 0;
}

static int
refuse(struct xlate *x, const char *why)
{
	kc_error_set(x->err, "no MariaDB spelling for %s", why);
	return -1;
}

static void
emit(struct xlate *x, const char *s)
{
	if (kc_buf_adds(&x->out, s) < 0)
		x->oom = 1;
}

static void
emit_tok(struct xlate *x, int i)
{
	if (kc_buf_add(&x->out, x->t[i].s, x->t[i].len) < 0)
		x->oom = 1;
}

/*
 * Where a name is a table's: after FROM, JOIN, INTO, UPDATE, TABLE (and IF
 * NOT EXISTS), a DDL statement's ON, a comma in a FROM list, or before the
 * dot of a qualified column.  A column of the same name elsewhere (history
 * counts keycrm_requests) keeps its name.
 */
static int
table_position(const struct xlate *x, int i)
{
	int p = prev(x, i);

	if (is_punct(x, next(x, i), '.'))
		return 1;
	if (is(x, p, "FROM") || is(x, p, "JOIN") || is(x, p, "INTO") ||
	    is(x, p, "UPDATE") || is(x, p, "TABLE") ||
	    (is(x, p, "EXISTS") && is(x, prev(x, p), "NOT")))
		return 1;
	if (is(x, p, "ON") && is(x, next(x, -1), "CREATE"))
		return 1;
	return is_punct(x, p, ',') && x->from_depth == x->depth;
}

static int
is_table(const struct xlate *x, int i)
{
	if (!x->d->tables || is_punct(x, prev(x, i), '.') ||
	    !table_position(x, i))
		return 0;
	for (const char *const *t = x->d->tables; *t; t++)
		if (is(x, i, *t))
			return 1;
	return 0;
}

/* Words that end a FROM list at its own depth. */
static int
ends_from_list(const struct xlate *x, int i)
{
	static const char *const enders[] = { "WHERE", "GROUP", "ORDER",
		"LIMIT", "HAVING", "UNION", "ON", "SET", "VALUES", "JOIN",
		"SELECT", NULL };

	for (const char *const *e = enders; *e; e++)
		if (is(x, i, *e))
			return 1;
	return 0;
}

/* A column word, quoted when MariaDB reserves it. */
static void
emit_column(struct xlate *x, int i)
{
	if (is(x, i, "key")) {
		emit(x, "\"key\"");
		return;
	}
	emit_tok(x, i);
}

static int
open_paren(struct xlate *x, enum paren kind)
{
	if (x->depth == MAX_DEPTH)
		return refuse(x, "parentheses this deep");
	x->stack[x->depth++] = kind;
	emit(x, "(");
	return 0;
}

/* ON CONFLICT (...) DO UPDATE SET | DO NOTHING, starting at "ON". */
static int
on_conflict(struct xlate *x, int *i)
{
	int j = next(x, next(x, *i));	/* past CONFLICT */

	if (is_punct(x, j, '('))
		j = next(x, matching(x, j));
	if (!is(x, j, "DO"))
		return refuse(x, "this ON CONFLICT clause");
	j = next(x, j);
	if (is(x, j, "NOTHING")) {
		*i = j;
		return 0;
	}
	if (!is(x, j, "UPDATE") || !is(x, next(x, j), "SET"))
		return refuse(x, "this ON CONFLICT clause");
	emit(x, "ON DUPLICATE KEY UPDATE");
	x->upsert_depth = x->depth;
	*i = next(x, j);
	return 0;
}

static int
sku_key_param(struct xlate *x, int *i)
{
	int open = next(x, *i), arg = next(x, open), close = next(x, arg);

	if (!is_punct(x, open, '(') || arg >= x->n ||
	    x->t[arg].kind != T_PARAM || x->t[arg].len < 2 ||
	    !is_punct(x, close, ')'))
		return refuse(x, "kc_sku_key() of anything but a parameter");
	if (x->nderived == KC_DB_MAX_DERIVED)
		return refuse(x, "so many kc_sku_key() parameters");
	/* As in SQLite, parameters count from ?1. */
	if (atoi(x->t[arg].s + 1) < 1 || atoi(x->t[arg].s + 1) > 999)
		return refuse(x, "a parameter outside ?1 to ?999");
	x->derived[x->nderived].from = atoi(x->t[arg].s + 1);
	x->derived[x->nderived].param = ++x->max_param;
	if (kc_buf_addf(&x->out, "?%d", x->max_param) < 0)
		x->oom = 1;
	x->nderived++;
	*i = close;
	return 0;
}

static const char *const refused[] = {
	"GLOB", "random", "PRAGMA", "RETURNING",
	"IIF", "typeof", "julianday", "strftime", "unixepoch", "printf",
	NULL
};

static int
word(struct xlate *x, int *i)
{
	int n = next(x, *i);

	if (x->from_depth == x->depth && ends_from_list(x, *i))
		x->from_depth = -1;
	if (is(x, *i, "FROM"))
		x->from_depth = x->depth;

	for (const char *const *r = refused; *r; r++)
		if (is(x, *i, *r))
			return refuse(x, *r);
	if (is(x, *i, "INSERT") && is(x, n, "OR")) {
		if (is(x, next(x, n), "REPLACE"))
			emit(x, "REPLACE");
		else if (is(x, next(x, n), "IGNORE"))
			emit(x, "INSERT IGNORE");
		else
			return refuse(x, "this INSERT OR");
		*i = next(x, n);
	} else if (is(x, *i, "INSERT") && x->insert_ignore) {
		emit(x, "INSERT IGNORE");
	} else if (is(x, *i, "ON") && is(x, n, "CONFLICT")) {
		return on_conflict(x, i);
	} else if (is(x, *i, "WHERE") && x->upsert_depth == x->depth) {
		return refuse(x, "an upsert with a WHERE (write it for MariaDB)");
	} else if (is(x, *i, "LIMIT") && is_punct(x, n, '-')) {
		return refuse(x, "a negative LIMIT");
	} else if (is(x, *i, "excluded") && is_punct(x, n, '.') &&
	    next(x, n) < x->n && x->t[next(x, n)].kind == T_WORD) {
		emit(x, "VALUES(");
		emit_column(x, next(x, n));
		emit(x, ")");
		*i = next(x, n);
	} else if (is(x, *i, "last_insert_rowid") && is_punct(x, n, '(') &&
	    is_punct(x, next(x, n), ')')) {
		/* Unsigned in MariaDB: signed, so that arithmetic may go below 0. */
		emit(x, "CAST(LAST_INSERT_ID() AS SIGNED)");
		*i = next(x, n);
	} else if (is(x, *i, "kc_sku_key")) {
		return sku_key_param(x, i);
	} else if (is(x, *i, "total") && is_punct(x, n, '(')) {
		emit(x, "COALESCE(SUM");
		*i = n;
		return open_paren(x, P_TOTAL);
	} else if ((is(x, *i, "MIN") || is(x, *i, "MAX")) &&
	    is_punct(x, n, '(') && has_top_comma(x, n)) {
		emit(x, is(x, *i, "MIN") ? "LEAST" : "GREATEST");
	} else if (is(x, *i, "CAST") && is_punct(x, n, '(')) {
		emit_tok(x, *i);
		*i = n;
		return open_paren(x, P_CAST);
	} else if (is(x, *i, "AS") && x->depth &&
	    x->stack[x->depth - 1] == P_CAST) {
		emit(x, "AS ");
		if (is(x, n, "REAL"))
			emit(x, "DOUBLE");
		else if (is(x, n, "INTEGER"))
			emit(x, "SIGNED");
		else if (is(x, n, "TEXT"))
			emit(x, "CHAR");
		else
			return refuse(x, "this CAST");
		*i = n;
	} else if (is(x, *i, "key") && !is(x, prev(x, *i), "PRIMARY") &&
	    !is(x, prev(x, *i), "UNIQUE") && !is(x, prev(x, *i), "FOREIGN")) {
		emit_column(x, *i);
	} else if (is_table(x, *i)) {
		emit(x, x->d->prefix ? x->d->prefix : "");
		emit_tok(x, *i);
	} else {
		emit_tok(x, *i);
	}
	return 0;
}

static int
punct(struct xlate *x, int i)
{
	if (is_punct(x, i, '('))
		return open_paren(x, P_PLAIN);
	if (is_punct(x, i, ')')) {
		if (x->depth == 0)
			return refuse(x, "an unbalanced ')'");
		if (x->upsert_depth == x->depth)
			x->upsert_depth = -1;
		if (x->from_depth == x->depth)
			x->from_depth = -1;
		emit(x, x->stack[--x->depth] == P_TOTAL ? "), 0)" : ")");
		return 0;
	}
	if (is_punct(x, i, ';'))
		x->upsert_depth = -1;
	emit_tok(x, i);
	return 0;
}

/* ON CONFLICT ... DO NOTHING anywhere makes the INSERT an INSERT IGNORE. */
static void
prescan(struct xlate *x)
{
	for (int i = 0; i < x->n; i++) {
		if (!is(x, i, "CONFLICT"))
			continue;
		int j = next(x, i);

		if (is_punct(x, j, '('))
			j = next(x, matching(x, j));
		if (is(x, j, "DO") && is(x, next(x, j), "NOTHING"))
			x->insert_ignore = 1;
	}
}

char *
kc_db_to_mysql(const char *sql, const struct kc_db_dialect *d,
    struct kc_db_derived *derived, int *nderived, struct kc_error *err)
{
	struct xlate x = { .d = d, .derived = derived, .upsert_depth = -1,
	    .from_depth = -1, .err = err };
	int rc = 0;

	*nderived = 0;
	kc_buf_init(&x.out);
	if (tokenize(&x, sql) == 0) {
		prescan(&x);
		for (int i = 0; rc == 0 && i < x.n; i++)
			rc = x.t[i].kind == T_WORD ? word(&x, &i) :
			    x.t[i].kind == T_PUNCT ? punct(&x, i) :
			    (emit_tok(&x, i), 0);
	} else {
		rc = -1;
	}
	if (rc == 0 && x.depth)
		rc = refuse(&x, "an unbalanced '('");
	/* A statement cut short could mean another one: never hand it out. */
	if (rc == 0 && x.oom) {
		kc_error_set(err, "out of memory");
		rc = -1;
	}
	free(x.t);
	if (rc < 0) {
		kc_buf_free(&x.out);
		return NULL;
	}
	*nderived = x.nderived;
	return kc_buf_detach(&x.out);
}
