/*
 * i18n.c: the language a request gets (Accept-Language, the `language`
 * key), and Ukrainian through the real catalogue the build compiles from
 * po/uk.po, on a machine with no Ukrainian locale installed.
 */
#include "unit.h"

#include <pthread.h>

#include "config.h"
#include "i18n.h"
#include "util.h"

#ifndef KC_TEST_LOCALEDIR
#error "the Makefile passes KC_TEST_LOCALEDIR (the build tree's catalogues)"
#endif

struct accept_case {
	const char *header;
	enum kc_lang want;
};

static const struct accept_case accept_cases[] = {
	{ NULL, KC_LANG_EN },
	{ "", KC_LANG_EN },
	{ "uk", KC_LANG_UK },
	{ "uk-UA", KC_LANG_UK },
	{ "UK-ua", KC_LANG_UK },
	{ "uk-UA,uk;q=0.9,en-US;q=0.8,en;q=0.7", KC_LANG_UK },
	{ "uk,ru;q=0.9,en;q=0.8", KC_LANG_UK },
	{ "en-US,en;q=0.9,uk;q=0.8", KC_LANG_EN },
	{ "en-US", KC_LANG_EN },
	{ "en", KC_LANG_EN },
	/* Russian is not Ukrainian: English, the source language. */
	{ "ru", KC_LANG_EN },
	{ "ru-RU,ru;q=0.9", KC_LANG_EN },
	{ "ru-RU,ru;q=0.9,en;q=0.8,uk;q=0.7", KC_LANG_EN },
	/* English not named and no "*": it is not acceptable, Ukrainian is. */
	{ "ru, uk;q=0.5", KC_LANG_UK },
	{ "en;q=0.5, uk;q=0.8", KC_LANG_UK },
	{ "uk;q=0.5, en;q=0.8", KC_LANG_EN },
	/* Equal weights: the first named wins. */
	{ "uk, en", KC_LANG_UK },
	{ "en, uk", KC_LANG_EN },
	{ "uk;q=0.7, en;q=0.700", KC_LANG_UK },
	/* "*": every language not named; English when that decides nothing. */
	{ "*", KC_LANG_EN },
	{ "de, *;q=0.5", KC_LANG_EN },
	{ "*;q=0.5, en;q=0", KC_LANG_UK },
	{ "en;q=0.1, *", KC_LANG_UK },
	{ "uk;q=0", KC_LANG_EN },
	{ "uk;q=0.000", KC_LANG_EN },
	{ "uk;q=1", KC_LANG_UK },
	{ "uk;q=1.0", KC_LANG_UK },
	{ "uk;q=1.000", KC_LANG_UK },
	{ "uk;q=0.001", KC_LANG_UK },
	{ "uk;Q=0.9", KC_LANG_UK },
	{ "uk ; q=0.9", KC_LANG_UK },
	{ "\tuk\t;\tq=0.9\t", KC_LANG_UK },
	{ ",uk,,", KC_LANG_UK },
	{ "zh-Hant-TW, uk;q=0.1", KC_LANG_UK },
	/* Malformed: the whole header is not read, so English. */
	{ "uk;q=0.5000", KC_LANG_EN },
	{ "uk;q=1.5", KC_LANG_EN },
	{ "uk;q=1.001", KC_LANG_EN },
	{ "uk;q=2", KC_LANG_EN },
	{ "uk;q=", KC_LANG_EN },
	{ "uk;q=.5", KC_LANG_EN },
	{ "uk;q=-1", KC_LANG_EN },
	{ "uk;q=0.9;q=0.8", KC_LANG_EN },
	{ "uk;level=1", KC_LANG_EN },
	{ "uk;", KC_LANG_EN },
	{ "uk_UA", KC_LANG_EN },
	{ "uk-", KC_LANG_EN },
	{ "uk--UA", KC_LANG_EN },
	{ "uk-UAUAUAUAU", KC_LANG_EN },
	{ "ukrainian", KC_LANG_EN },
	{ "uk en", KC_LANG_EN },
	{ "uk\n", KC_LANG_EN },
	{ "uk,\xd1\x83\xd0\xba", KC_LANG_EN },
	{ "*-UA", KC_LANG_EN },
	{ "1uk", KC_LANG_EN },
	{ "uk q=0.5", KC_LANG_EN },
};

static void
accept_language_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(accept_cases) / sizeof(accept_cases[0]); i++) {
		const struct accept_case *c = &accept_cases[i];
		enum kc_lang got = kc_i18n_select("auto", c->header);

		if (got != c->want)
			fail_msg("Accept-Language \"%s\": got %d, want %d",
			    c->header ? c->header : "(none)", got, c->want);
		assert_str(kc_i18n_code(), c->want == KC_LANG_UK ? "uk" : "en");
	}
}

static void
accept_language_malformed_is_an_error(void **state)
{
	enum kc_lang lang = KC_LANG_UK;

	(void)state;
	assert_int_equal(kc_i18n_parse_accept("uk;q=7", &lang), -1);
	assert_int_equal(lang, KC_LANG_UK);		/* unchanged */
	assert_int_equal(kc_i18n_parse_accept(NULL, &lang), -1);
	assert_int_equal(kc_i18n_parse_accept("en", &lang), 0);
	assert_int_equal(lang, KC_LANG_EN);
}

static void
accept_language_limits(void **state)
{
	char big[2048], many[512];
	size_t n = 0;

	(void)state;
	/* Longer than 1024 bytes: not read, although it ends with uk. */
	while (n < 1100) {
		memcpy(big + n, "de;q=0.1,", 9);
		n += 9;
	}
	kc_strlcpy(big + n, "uk", sizeof(big) - n);
	assert_int_equal(kc_i18n_select(NULL, big), KC_LANG_EN);
	/* 32 elements are read, 33 are not. */
	many[0] = '\0';
	for (int i = 0; i < 31; i++)
		strcat(many, "de;q=0.1,");
	strcat(many, "uk");
	assert_int_equal(kc_i18n_select(NULL, many), KC_LANG_UK);
	strcat(many, ",fr");
	assert_int_equal(kc_i18n_select(NULL, many), KC_LANG_EN);
}

static void
forced_language_wins(void **state)
{
	(void)state;
	assert_int_equal(kc_i18n_select("uk", "en-US,en;q=0.9"), KC_LANG_UK);
	assert_str(kc_i18n_code(), "uk");
	assert_int_equal(kc_i18n_select("uk", NULL), KC_LANG_UK);
	assert_int_equal(kc_i18n_select("en", "uk"), KC_LANG_EN);
	assert_str(kc_i18n_code(), "en");
	assert_int_equal(kc_i18n_for_request("en", "uk-UA"), KC_LANG_EN);
	assert_int_equal(kc_i18n_for_request("uk", "ru"), KC_LANG_UK);
	/* auto, empty or absent: the browser decides. */
	assert_int_equal(kc_i18n_select("auto", "uk"), KC_LANG_UK);
	assert_int_equal(kc_i18n_select("", "uk"), KC_LANG_UK);
	assert_int_equal(kc_i18n_select(NULL, "uk"), KC_LANG_UK);
	assert_int_equal(kc_i18n_select("auto", "ru"), KC_LANG_EN);
}

/* The `language` key: auto by default, en or uk, nothing else. */
static void
language_key(void **state)
{
	static const char *const good[] = { "auto", "en", "uk" };
	static const char *const bad[] = { "ru", "UK", "uk-UA", "english", "en uk" };
	struct kc_config cfg;
	struct kc_error err;
	char line[64];

	(void)state;
	kc_config_defaults(&cfg);
	assert_str(cfg.language, "auto");
	kc_config_free(&cfg);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(line, sizeof(line), "language = %s\n", good[i]);
		kc_config_defaults(&cfg);
		assert_int_equal(kc_config_parse(&cfg, line, strlen(line), "t.conf", 0, &err), 0);
		assert_str(cfg.language, good[i]);
		kc_config_free(&cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "language = %s\n", bad[i]);
		kc_config_defaults(&cfg);
		assert_int_equal(kc_config_parse(&cfg, line, strlen(line), "t.conf", 0, &err), -1);
		assert_non_null(strstr(err.msg, "must be auto, en or uk"));
		kc_config_free(&cfg);
	}
	/* The page's settings file may not set it (not page-editable). */
	kc_config_defaults(&cfg);
	assert_int_equal(kc_config_parse(&cfg, "language = uk\n", 14, "settings.conf", 1, &err), -1);
	kc_config_free(&cfg);
}

static void
catalogue_found_in_build_tree(void **state)
{
	(void)state;
	assert_non_null(kc_i18n_localedir());
	assert_str(kc_i18n_localedir(), KC_TEST_LOCALEDIR);
}

static void
ukrainian_from_the_catalogue(void **state)
{
	(void)state;
	kc_i18n_select("uk", NULL);
	assert_str(_("Sync now"), "Синхронізувати зараз");
	assert_str(_("Settings"), "Налаштування");
	/* Not in the catalogue: the English text itself. */
	assert_str(_("no such message in any catalogue"), "no such message in any catalogue");
	assert_str(_(""), "");
	kc_i18n_select("en", NULL);
	assert_str(_("Sync now"), "Sync now");
}

static void
ukrainian_plural_forms(void **state)
{
	static const struct {
		unsigned long n;
		const char *want;
	} cases[] = {
		{ 0, "0 товарів" }, { 1, "1 товар" }, { 2, "2 товари" },
		{ 4, "4 товари" }, { 5, "5 товарів" }, { 11, "11 товарів" },
		{ 12, "12 товарів" }, { 14, "14 товарів" }, { 21, "21 товар" },
		{ 22, "22 товари" }, { 25, "25 товарів" }, { 101, "101 товар" },
		{ 111, "111 товарів" }, { 1002, "1002 товари" },
	};
	char out[64];

	(void)state;
	kc_i18n_select("uk", NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(out, sizeof(out),
		    kc_ntr("%lu product", "%lu products", cases[i].n), cases[i].n);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("n=%lu: got \"%s\", want \"%s\"", cases[i].n, out, cases[i].want);
	}
	snprintf(out, sizeof(out), kc_ntr("%ld error", "%ld errors", 1), 1L);
	assert_str(out, "1 помилка");
	snprintf(out, sizeof(out), kc_ntr("%ld error", "%ld errors", 3), 3L);
	assert_str(out, "3 помилки");
	snprintf(out, sizeof(out), kc_ntr("%ld error", "%ld errors", 11), 11L);
	assert_str(out, "11 помилок");
	/* English: one and many. */
	kc_i18n_select("en", NULL);
	assert_str(kc_ntr("%lu product", "%lu products", 1), "%lu product");
	assert_str(kc_ntr("%lu product", "%lu products", 21), "%lu products");
	assert_str(kc_ntr("%lu product", "%lu products", 0), "%lu products");
}

/* Two threads, one per language, asking at once: neither sees the other's. */
#define ROUNDS 20000
static pthread_barrier_t start;

static void *
speak(void *arg)
{
	enum kc_lang lang = *(enum kc_lang *)arg;
	const char *want = lang == KC_LANG_UK ? "Синхронізувати зараз" : "Sync now";
	const char *want_n = lang == KC_LANG_UK ? "%lu товари" : "%lu products";
	long wrong = 0;

	kc_i18n_select(lang == KC_LANG_UK ? "uk" : "en", NULL);
	pthread_barrier_wait(&start);
	for (int i = 0; i < ROUNDS; i++) {
		if (strcmp(_("Sync now"), want) != 0 ||
		    strcmp(kc_ntr("%lu product", "%lu products", 3), want_n) != 0)
			wrong++;
		if (i % 1000 == 0)	/* select again mid-way, as a new request would */
			kc_i18n_select(lang == KC_LANG_UK ? "auto" : "en",
			    lang == KC_LANG_UK ? "uk" : NULL);
	}
	return (void *)wrong;
}

static void
threads_do_not_mix(void **state)
{
	enum kc_lang langs[2] = { KC_LANG_UK, KC_LANG_EN };
	pthread_t t[2];
	void *wrong[2];

	(void)state;
	assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, speak, &langs[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], &wrong[i]), 0);
	pthread_barrier_destroy(&start);
	assert_int_equal((long)wrong[0], 0);
	assert_int_equal((long)wrong[1], 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accept_language_table),
		cmocka_unit_test(accept_language_malformed_is_an_error),
		cmocka_unit_test(accept_language_limits),
		cmocka_unit_test(forced_language_wins),
		cmocka_unit_test(language_key),
		cmocka_unit_test(catalogue_found_in_build_tree),
		cmocka_unit_test(ukrainian_from_the_catalogue),
		cmocka_unit_test(ukrainian_plural_forms),
		cmocka_unit_test(threads_do_not_mix),
	};

	/* The build tree's catalogues, and no Ukrainian locale: the process
	 * is in the C locale, as the programs are; LANGUAGE must not matter. */
	setenv(KC_I18N_LOCALEDIR_ENV, KC_TEST_LOCALEDIR, 1);
	setenv("LANGUAGE", "de:fr", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
