/*
 * fuzz_dialect.c - kc_db_to_mysql(): any text as if it were one of the
 * store's statements.
 *
 * Properties: it never crashes or leaks; a refusal gives a reason and no
 * text; a translation has as many bytes inside single-quoted strings as
 * the input (text in quotes is never touched; an ON CONFLICT target aside), and its computed
 * parameters each take a number above every parameter of the input, from
 * a parameter the input has.
 */
#include <stdlib.h>
#include <string.h>

#include "db_dialect.h"
#include "fuzz.h"

FUZZ_QUIET_INIT

static const char *const tables[] = { "inbox", "ledger", "kv", "history",
	"keycrm_requests", NULL };

/* Bytes inside single-quoted strings; names in "" or `` and -- comments aside. */
static size_t
quoted_bytes(const char *s)
{
	size_t n = 0;
	char in = 0;

	for (; *s; s++) {
		if (in) {
			if (*s == in)
				in = 0;
			else if (in == '\'')
				n++;
		} else if (*s == '\'' || *s == '"' || *s == '`') {
			in = *s;
		} else if (s[0] == '-' && s[1] == '-') {
			while (s[1] && s[1] != '\n')
				s++;
		}
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct kc_db_dialect d = { "kc_", tables };
	struct kc_db_derived derived[KC_DB_MAX_DERIVED];
	struct kc_error err = { "" };
	char *sql, *out;
	int n = -1;

	if (size > 4096 || memchr(data, '\0', size) != NULL)
		return 0;
	sql = malloc(size + 1);
	if (!sql)
		return 0;
	memcpy(sql, data, size);
	sql[size] = '\0';
	out = kc_db_to_mysql(sql, &d, derived, &n, &err);
	if (out == NULL) {
		FUZZ_CHECK(err.msg[0] != '\0');
	} else {
		FUZZ_CHECK(n >= 0 && n <= KC_DB_MAX_DERIVED);
		/* (ON CONFLICT (...) DO NOTHING drops its target, strings and all.) */
		if (strcasestr(sql, "CONFLICT") == NULL)
			FUZZ_CHECK(quoted_bytes(out) == quoted_bytes(sql));
		for (int i = 0; i < n; i++) {
			FUZZ_CHECK(derived[i].from >= 1);
			FUZZ_CHECK(derived[i].param > derived[i].from);
		}
		free(out);
	}
	free(sql);
	return 0;
}
