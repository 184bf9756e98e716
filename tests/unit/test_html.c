/*
 * html.c: one escaper per context, and a printf that escapes its strings.
 */
#include "unit.h"

#include "html.h"

typedef int (*escaper)(struct kc_buf *, const char *);

static void
check(escaper f, const char *in, const char *want)
{
	struct kc_buf b;

	kc_buf_init(&b);
	assert_int_equal(f(&b, in), 0);
	if (strcmp(b.data ? b.data : "", want) != 0)
		fail_msg("\"%s\" gave \"%s\", want \"%s\"", in, b.data ? b.data : "", want);
	kc_buf_free(&b);
}

static void
text_escapes_markup(void **state)
{
	(void)state;
	check(kc_html_text, "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;");
	check(kc_html_text, "a & b", "a &amp; b");
	check(kc_html_text, "&amp;", "&amp;amp;");
	/* Quotes are harmless in text. */
	check(kc_html_text, "say \"hi\" 'there'", "say \"hi\" 'there'");
	check(kc_html_text, "", "");
	check(kc_html_text, NULL, "");
}

static void
attr_escapes_quotes_too(void **state)
{
	(void)state;
	check(kc_html_attr, "\"><img src=x onerror=alert(1)>",
	    "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
	check(kc_html_attr, "it's", "it&#39;s");
	check(kc_html_attr, "a&b<c>d", "a&amp;b&lt;c&gt;d");
}

static void
url_component_encodes_all_but_unreserved(void **state)
{
	(void)state;
	check(kc_html_url_component, "AZaz09-._~", "AZaz09-._~");
	check(kc_html_url_component, "a b&c=d/e?f#g+h", "a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh");
	check(kc_html_url_component, "\"'<>", "%22%27%3C%3E");
	check(kc_html_url_component, "\xc3\xa9", "%C3%A9");
}

static void
bad_utf8_and_controls_become_replacement(void **state)
{
	(void)state;
	/* Valid multibyte text passes: Cyrillic, a 4-byte emoji. */
	check(kc_html_text, "\xd0\xa1\xd0\xba\xd0\xbb\xd0\xb0\xd0\xb4", "\xd0\xa1\xd0\xba\xd0\xbb\xd0\xb0\xd0\xb4");
	check(kc_html_text, "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");
	/* A lone continuation byte, a truncated sequence, an overlong '<'. */
	check(kc_html_text, "a\x80z", "a\xef\xbf\xbdz");
	check(kc_html_text, "a\xe2\x82", "a\xef\xbf\xbd\xef\xbf\xbd");
	check(kc_html_text, "\xc0\xbc", "\xef\xbf\xbd\xef\xbf\xbd");
	/* A UTF-16 surrogate and a code point above U+10FFFF. */
	check(kc_html_text, "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	check(kc_html_text, "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	/* Controls (but tab and newlines), DEL and C1. */
	check(kc_html_attr, "a\x01\x1b[31mb\tc\nd\x7f", "a\xef\xbf\xbd\xef\xbf\xbd[31mb\tc\nd\xef\xbf\xbd");
	check(kc_html_text, "\xc2\x85x\xc2\xa0", "\xef\xbf\xbdx\xc2\xa0");
}

static void
printf_escapes_strings_not_numbers(void **state)
{
	const char *volatile none = NULL;
	struct kc_buf b;

	(void)state;
	kc_buf_init(&b);
	assert_int_equal(kc_html_f(&b, "<td title=\"%s\">%s</td><td>%d %ld %lld %zu %u %x %%"
	    " %.1f %5s|%c</td>", "\"x\"", "<b>", -3, 40L, 5000000000LL, (size_t)7, 8u,
	    255u, 2.25, "ab", '<'), 0);
	assert_str(b.data, "<td title=\"&quot;x&quot;\">&lt;b&gt;</td><td>-3 40 "
	    "5000000000 7 8 ff % 2.2 ab|&lt;</td>");
	kc_buf_reset(&b);
	assert_int_equal(kc_html_f(&b, "%s and %s", none, "x"), 0);
	assert_str(b.data, " and x");
	kc_buf_free(&b);
}

/* The formats below are wrong on purpose. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

static void
printf_refuses_what_it_does_not_know(void **state)
{
	struct kc_buf b;
	char fmt[8] = "a %n b";

	(void)state;
	kc_buf_init(&b);
	assert_int_equal(kc_html_f(&b, fmt, 1), -1);
	strcpy(fmt, "%");
	assert_int_equal(kc_html_f(&b, fmt, 1), -1);
	kc_buf_free(&b);
}

static void
plain(const char *in, size_t outsz, const char *want)
{
	char out[256];

	assert_true(outsz <= sizeof(out));
	kc_text_from_markup(in, out, outsz);
	if (strcmp(out, want) != 0)
		fail_msg("\"%s\" gave \"%s\", want \"%s\"", in, out, want);
}

static void
markup_of_error_pages_becomes_plain_text(void **state)
{
	(void)state;
	/* WordPress's answer to a fatal error, as WooCommerce passes it on. */
	plain("<p>There has been a critical error on this website.</p><p><a "
	    "href=\"https://wordpress.org/documentation/article/faq-troubleshooting/\">"
	    "Learn more about troubleshooting WordPress.</a></p>", 256,
	    "There has been a critical error on this website. Learn more about "
	    "troubleshooting WordPress.");
	plain("Sorry, you cannot list resources.", 256, "Sorry, you cannot list resources.");
	plain("a&amp;b &lt;c&gt; &quot;d&quot; &#039;e&#39;", 256, "a&b <c> \"d\" 'e'");
	/* A '<' that starts no tag is text. */
	plain("qty < 5 and 3<4", 256, "qty < 5 and 3<4");
	plain("  lots \n\t of   space  ", 256, "lots of space");
	plain("<br/>x<!-- c -->y", 256, "x y");
	/* An unclosed tag drops the rest; the result always fits. */
	plain("ok <p class=", 256, "ok");
	plain("abcdefghij", 5, "abcd");
	plain(NULL, 8, "");
}

/* CSV cells: quoted only when needed, quotes doubled, formulas disarmed. */
static void
csv_fields(void **state)
{
	static const struct { const char *in, *out; } rows[] = {
		{ "RW-1", "RW-1" }, { NULL, "" }, { "a,b", "\"a,b\"" },
		{ "say \"hi\"", "\"say \"\"hi\"\"\"" }, { "two\nlines", "\"two\nlines\"" },
		{ "=SUM(A1)", "\"'=SUM(A1)\"" }, { "-5", "\"'-5\"" }, { "@x", "\"'@x\"" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct kc_buf b;

		kc_buf_init(&b);
		kc_csv_field(&b, rows[i].in);
		assert_string_equal(b.data ? b.data : "", rows[i].out);
		kc_buf_free(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(csv_fields),
		cmocka_unit_test(text_escapes_markup),
		cmocka_unit_test(attr_escapes_quotes_too),
		cmocka_unit_test(url_component_encodes_all_but_unreserved),
		cmocka_unit_test(bad_utf8_and_controls_become_replacement),
		cmocka_unit_test(printf_escapes_strings_not_numbers),
		cmocka_unit_test(printf_refuses_what_it_does_not_know),
		cmocka_unit_test(markup_of_error_pages_becomes_plain_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
