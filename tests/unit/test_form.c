/*
 * Query strings, form bodies and CONTENT_LENGTH: the first untrusted input
 * every program reads.
 */
#include "unit.h"

#include "form.h"
#include "request.h"

static void
decodes_fields(void **state)
{
	struct kc_form f;
	const char *q = "secret=a%2Bb+c&wait=1&&flag&x=%7E";

	(void)state;
	assert_int_equal(kc_form_parse(&f, q, strlen(q), NULL), 0);
	assert_int_equal(f.count, 4);
	assert_str(kc_form_get(&f, "secret"), "a+b c");
	assert_str(kc_form_get(&f, "wait"), "1");
	assert_str(kc_form_get(&f, "flag"), "");
	assert_str(kc_form_get(&f, "x"), "~");
	assert_null(kc_form_get(&f, "missing"));
	kc_form_free(&f);
}

static void
rejects_bad_escapes(void **state)
{
	const char *bad[] = { "a=%", "a=%4", "a=%zz", "a=%00", "%=1", "a=b%2" };
	struct kc_form f;
	struct kc_error err = { { 0 } };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(kc_form_parse(&f, bad[i], strlen(bad[i]), &err), -1);
		assert_int_equal(f.count, 0);
	}
	assert_non_null(strstr(err.msg, "malformed"));
}

static void
limits_fields_and_size(void **state)
{
	struct kc_buf b;
	struct kc_form f;
	struct kc_error err = { { 0 } };
	char *big;

	(void)state;
	kc_buf_init(&b);
	for (int i = 0; i <= KC_FORM_MAX_FIELDS; i++)
		kc_buf_addf(&b, "k%d=v&", i);
	assert_int_equal(kc_form_parse(&f, b.data, b.len, &err), -1);
	assert_non_null(strstr(err.msg, "too many"));
	kc_buf_free(&b);

	big = malloc(KC_FORM_MAX_INPUT + 2);
	memset(big, 'a', KC_FORM_MAX_INPUT + 1);
	big[KC_FORM_MAX_INPUT + 1] = '\0';
	assert_int_equal(kc_form_parse(&f, big, strlen(big), &err), -1);
	assert_non_null(strstr(err.msg, "too long"));
	free(big);
}

static void
encodes_rfc3986(void **state)
{
	struct kc_buf b;

	(void)state;
	kc_buf_init(&b);
	kc_percent_encode(&b, "RW+011 X/Y~-._,", 15);
	assert_str(b.data, "RW%2B011%20X%2FY~-._%2C");
	kc_buf_free(&b);
}

static void
content_length_strict(void **state)
{
	size_t n;

	(void)state;
	assert_int_equal(kc_parse_content_length(NULL, 100, &n), 1);
	assert_int_equal(kc_parse_content_length("", 100, &n), 1);
	assert_int_equal(kc_parse_content_length("0", 100, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(kc_parse_content_length("100", 100, &n), 0);
	assert_int_equal(n, 100);
	assert_int_equal(kc_parse_content_length("101", 100, &n), -2);
	assert_int_equal(kc_parse_content_length("99999999999999999999999", 100, &n), -2);
	assert_int_equal(kc_parse_content_length("-1", 100, &n), -1);
	assert_int_equal(kc_parse_content_length("+5", 100, &n), -1);
	assert_int_equal(kc_parse_content_length(" 5", 100, &n), -1);
	assert_int_equal(kc_parse_content_length("5 ", 100, &n), -1);
	assert_int_equal(kc_parse_content_length("0x10", 100, &n), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decodes_fields),
		cmocka_unit_test(rejects_bad_escapes),
		cmocka_unit_test(limits_fields_and_size),
		cmocka_unit_test(encodes_rfc3986),
		cmocka_unit_test(content_length_strict),
	};
	return cmocka_run_group_tests_name("form", tests, NULL, NULL);
}
