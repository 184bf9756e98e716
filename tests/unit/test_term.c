/*
 * Text for a terminal: control characters and bytes that are not UTF-8
 * are escaped, everything else passes unchanged, and a cut never splits a
 * character or an escape.
 */
#include "unit.h"

#include "util.h"

static void
escapes_controls_and_bad_bytes(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "RW-SIMPLE-001", "RW-SIMPLE-001" },
		{ "a b/c+%&#<>\"'\\", "a b/c+%&#<>\"'\\" },
		{ "\xd1\x84\xd1\x83\xd1\x82 \xe2\x82\xac \xf0\x9f\x98\x80",
		  "\xd1\x84\xd1\x83\xd1\x82 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07" },
		{ "\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H" },
		{ "row\nFAKE 1 2\r", "row\\x0aFAKE 1 2\\x0d" },
		{ "del\x7f", "del\\x7f" },
		{ "c1 \xc2\x9b" "31m", "c1 \\xc2\\x9b31m" },	/* U+009B, CSI */
		{ "nbsp \xc2\xa0", "nbsp \xc2\xa0" },
		{ "bad \x9b \xff \xc0\xaf \xed\xa0\x80", "bad \\x9b \\xff \\xc0\\xaf \\xed\\xa0\\x80" },
		{ "cut \xe2\x82", "cut \\xe2\\x82" },
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = kc_term_escape(out, sizeof(out), cases[i].in);
		if (strcmp(out, cases[i].out) != 0 || n != strlen(out))
			fail_msg("case %zu: got \"%s\"", i, out);
	}
}

static void
cuts_at_whole_pieces(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(kc_term_escape(out, sizeof(out), "abcd\x1b"), 4);
	assert_str(out, "abcd");
	assert_int_equal(kc_term_escape(out, sizeof(out), "abcde\xe2\x82\xac"), 5);
	assert_str(out, "abcde");
	assert_int_equal(kc_term_escape(out, 1, "abc"), 0);
	assert_str(out, "");
	assert_int_equal(kc_term_escape(out, sizeof(out), NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escapes_controls_and_bad_bytes),
		cmocka_unit_test(cuts_at_whole_pieces),
	};
	return cmocka_run_group_tests_name("term", tests, NULL, NULL);
}
