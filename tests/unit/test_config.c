/*
 * The configuration file: every key checked, every error with its line.
 */
#include "unit.h"

#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define SECRET "abcdefghijklmnopqrstuvwxyz012345"

static int
parse(const char *text, struct kc_config *cfg, struct kc_error *err)
{
	kc_config_defaults(cfg);
	return kc_config_parse(cfg, text, strlen(text), "test.conf", 0, err);
}

static void
defaults_match_spec(void **state)
{
	struct kc_config cfg;

	(void)state;
	kc_config_defaults(&cfg);
	assert_str(cfg.keycrm_api_url, "https://openapi.keycrm.app/v1");
	assert_int_equal(cfg.keycrm_requests_per_minute, 60);
	assert_str(cfg.state_dir, "/var/lib/keycrm-sync");
	assert_int_equal(cfg.subtract_reserve, 1);
	assert_int_equal(cfg.manage_stock, KC_MANAGE_SKIP);
	assert_int_equal(cfg.webhook_max_bytes, 4194304);
	assert_int_equal(cfg.sync_max_seconds, 240);
	assert_int_equal(cfg.full_scan_hours, 24);
	assert_int_equal(cfg.shop_orders_in_keycrm, 0);
	assert_null(cfg.webhook_secret);
	kc_config_free(&cfg);
}

static void
parses_a_full_file(void **state)
{
	struct kc_config cfg;
	struct kc_error err = { { 0 } };
	const char *text =
	    "# comment\n"
	    "\n"
	    "  keycrm_api_key = KEY123 \r\n"
	    "keycrm_warehouse_id=7\n"
	    "woo_url = https://shop.example/\n"
	    "woo_consumer_key = ck_1\n"
	    "woo_consumer_secret = cs_1\n"
	    "woo_connect_to = 127.0.0.1:8443\n"
	    "webhook_secret = " SECRET "\n"
	    "sync_token = " SECRET "\n"
	    "subtract_reserve = no\n"
	    "manage_stock = enable\n"
	    "sync_max_seconds = 30\n"
	    "shop_orders_in_keycrm = yes\n"
	    "log_level = debug\n";

	(void)state;
	assert_int_equal(parse(text, &cfg, &err), 0);
	assert_str(cfg.keycrm_api_key, "KEY123");
	assert_int_equal(cfg.keycrm_warehouse_id, 7);
	assert_str(cfg.woo_url, "https://shop.example");
	assert_str(cfg.woo_connect_to, "127.0.0.1:8443");
	assert_int_equal(cfg.subtract_reserve, 0);
	assert_int_equal(cfg.manage_stock, KC_MANAGE_ENABLE);
	assert_int_equal(cfg.sync_max_seconds, 30);
	assert_int_equal(cfg.shop_orders_in_keycrm, 1);
	assert_int_equal(cfg.log_level, KC_LOG_DEBUG);
	assert_int_equal(cfg.woo_parallel_requests, 2);
	assert_int_equal(cfg.source[KC_KEY_WOO_URL], KC_SRC_FILE);
	assert_int_equal(cfg.source[KC_KEY_FULL_SCAN_HOURS], KC_SRC_DEFAULT);
	kc_config_free(&cfg);
}

static void
errors_name_line_and_reason(void **state)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "a = 1\n", "test.conf:1: unknown key 'a'" },
		{ "\n\nwebhook_secret\n", "test.conf:3: expected 'key = value'" },
		{ "webhook_secret = short\n", "test.conf:1: webhook_secret must be 32 to 256" },
		{ "webhook_secret = " SECRET "&x\n", "may contain only letters" },
		{ "sync_max_seconds = 0\n", "must be between 1 and 86400" },
		{ "sync_max_seconds = -5\n", "must be a whole number" },
		{ "sync_max_seconds = 99999999999999999999\n", "between" },
		{ "subtract_reserve = true\n", "must be yes or no" },
		{ "manage_stock = always\n", "must be skip or enable" },
		{ "woo_url = ftp://x\n", "must start with https:// or http://" },
		{ "woo_url = https://x/?a=1\n", "must not contain '?'" },
		{ "woo_url = https://user:pw@x\n", "credentials" },
		{ "woo_connect_to = 127.0.0.1\n", "host:port" },
		{ "woo_connect_to = h:70000\n", "bad port" },
		{ "state_dir = relative\n", "absolute path" },
		{ "keycrm_api_key = two words\n", "without spaces" },
		{ "keycrm_warehouse_id = 1\nkeycrm_warehouse_id = 2\n", "test.conf:2: 'keycrm_warehouse_id' is already set on line 1" },
		{ "keycrm_api_key =\n", "has no value" },
		{ "log_level = loud\n", "must be error, warning, info or debug" },
		{ "woo_parallel_requests = 9\n", "between 1 and 8" },
		{ "webhok_secret = x\n", "unknown key 'webhok_secret'" },
	};
	struct kc_config cfg;
	struct kc_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(parse(cases[i].text, &cfg, &err), -1);
		if (strstr(err.msg, cases[i].want) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.msg, cases[i].want);
		kc_config_free(&cfg);
	}
}

/*
 * The shop's signing secret as WooCommerce's admin screen generates it
 * (wp_generate_password(50, true, true): letters, digits and
 * !@#$%^&*()-_ []{}<>~`+=,.;:/?|) loads, from the main file and from the
 * page's settings; double quotes keep blanks at its ends.  Other keys
 * stay strict.
 */
#define WOO_SECRET "a!@#$%^&*()-_ []{}<>~`+=,.;:/?|Z9 x=y # not a comment"

static void
takes_secrets_woocommerce_generates(void **state)
{
	struct kc_config cfg;
	struct kc_error err = { { 0 } };
	const char *plain = "shop_webhook_secret = " WOO_SECRET "\n";
	const char *quoted = "shop_webhook_secret = \"  " WOO_SECRET " \"\r\n";
	static const struct { const char *text, *want; } bad[] = {
		{ "shop_webhook_secret = short !@#\n", "must be 32 to 256" },
		{ "shop_webhook_secret = \"" SECRET "\x01\"\n", "printable ASCII" },
		{ "shop_webhook_secret = " SECRET "\xc3\xa9\n", "printable ASCII" },
		{ "shop_webhook_secret = \"  \"\n", "must be 32 to 256" },
		{ "webhook_secret = " WOO_SECRET "\n", "may contain only letters" },
		{ "sync_token = \"" SECRET "\"\n", "may contain only letters" },
		{ "keycrm_api_key = \"two words\"\n", "without spaces" },
	};

	(void)state;
	assert_int_equal(parse(plain, &cfg, &err), 0);
	assert_str(cfg.shop_webhook_secret, WOO_SECRET);
	kc_config_free(&cfg);
	assert_int_equal(parse(quoted, &cfg, &err), 0);
	assert_str(cfg.shop_webhook_secret, "  " WOO_SECRET " ");
	kc_config_free(&cfg);
	/* As the page saves it: settings.conf or the shared database. */
	kc_config_defaults(&cfg);
	assert_int_equal(kc_config_parse(&cfg, quoted, strlen(quoted), "s", 1, &err), 0);
	assert_str(cfg.shop_webhook_secret, "  " WOO_SECRET " ");
	assert_int_equal(cfg.source[KC_KEY_SHOP_WEBHOOK_SECRET], KC_SRC_SETTINGS);
	kc_config_free(&cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(parse(bad[i].text, &cfg, &err), -1);
		if (strstr(err.msg, bad[i].want) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.msg, bad[i].want);
		/* The value is never quoted back. */
		assert_null(strstr(err.msg, "!@#"));
		kc_config_free(&cfg);
	}
}

/* A secret pasted on a line of its own is never quoted back. */
static void
never_quotes_what_may_be_a_secret(void **state)
{
	static const char *const lines[] = {
		"dGhpcyBpcyBhIHNlY3JldCB0aGF0IHdhcyBwYXN0ZWQ==\n",
		"abcdefghijklmnopqrstuvwxyzabcdefghij = 1\n",	/* too long for a key */
		"Ab3_secret-Value = 2\n",
		"sk_live_0123 = 3\n",
		"webhook secret = 4\n",
	};
	struct kc_config cfg;
	struct kc_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		char name[64];

		memset(&err, 0, sizeof(err));
		assert_int_equal(parse(lines[i], &cfg, &err), -1);
		snprintf(name, sizeof(name), "%.6s", lines[i]);
		if (strstr(err.msg, name) != NULL || strstr(err.msg, "test.conf:1:") == NULL)
			fail_msg("case %zu: got \"%s\"", i, err.msg);
		kc_config_free(&cfg);
	}
}

static void
rejects_nul_and_long_lines(void **state)
{
	struct kc_config cfg;
	struct kc_error err = { { 0 } };
	char *big = malloc(5000);

	(void)state;
	kc_config_defaults(&cfg);
	assert_int_equal(kc_config_parse(&cfg, "a\0b", 3, "t", 0, &err), -1);
	assert_non_null(strstr(err.msg, "NUL"));
	memset(big, 'x', 4999);
	big[4999] = '\0';
	assert_int_equal(kc_config_parse(&cfg, big, 4999, "t", 0, &err), -1);
	assert_non_null(strstr(err.msg, "longer than"));
	free(big);
	kc_config_free(&cfg);
}

static void
settings_file_takes_page_keys_only(void **state)
{
	struct kc_config cfg;
	struct kc_error err = { { 0 } };
	const char *ok = "keycrm_api_key = NEW\nmanage_stock = enable\n";
	const char *bad = "webhook_secret = " SECRET "\n";

	(void)state;
	kc_config_defaults(&cfg);
	assert_int_equal(kc_config_parse(&cfg, ok, strlen(ok), "s", 1, &err), 0);
	assert_int_equal(cfg.source[KC_KEY_KEYCRM_API_KEY], KC_SRC_SETTINGS);
	assert_int_equal(kc_config_parse(&cfg, bad, strlen(bad), "s", 1, &err), -1);
	assert_non_null(strstr(err.msg, "only in the main configuration file"));
	kc_config_free(&cfg);
}

static void
load_checks_permissions(void **state)
{
	char dir[] = "/tmp/kc-config-XXXXXX", path[256], sdir[300];
	struct kc_config cfg;
	struct kc_error err = { { 0 } };
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/k.conf", dir);
	snprintf(sdir, sizeof(sdir), "%s/state", dir);
	f = fopen(path, "w");
	fprintf(f, "webhook_secret = %s\nstate_dir = %s\n", SECRET, sdir);
	fclose(f);
	chmod(path, 0644);
	assert_int_equal(kc_config_load(&cfg, path, &err), -1);
	assert_non_null(strstr(err.msg, "readable by everyone"));
	chmod(path, 0666);
	assert_int_equal(kc_config_load(&cfg, path, &err), -1);
	assert_non_null(strstr(err.msg, "writable by everyone"));
	chmod(path, 0660);
	assert_int_equal(kc_config_load(&cfg, path, &err), -1);
	assert_non_null(strstr(err.msg, "writable by its group"));
	/* A FIFO is refused at once rather than waited on. */
	{
		char fifo[300];
		snprintf(fifo, sizeof(fifo), "%s/fifo.conf", dir);
		assert_int_equal(mkfifo(fifo, 0640), 0);
		assert_int_equal(kc_config_load(&cfg, fifo, &err), -1);
		assert_non_null(strstr(err.msg, "not a regular file"));
		unlink(fifo);
	}
	chmod(path, 0640);
	assert_int_equal(kc_config_load(&cfg, path, &err), 0);
	assert_str(cfg.webhook_secret, SECRET);
	kc_config_free(&cfg);

	/* settings.conf overrides the main file. */
	mkdir(sdir, 0700);
	{
		char spath[400];
		snprintf(spath, sizeof(spath), "%s/settings.conf", sdir);
		f = fopen(spath, "w");
		fprintf(f, "subtract_reserve = no\n");
		fclose(f);
		chmod(spath, 0600);
		assert_int_equal(kc_config_load(&cfg, path, &err), 0);
		assert_int_equal(cfg.subtract_reserve, 0);
		assert_int_equal(cfg.source[KC_KEY_SUBTRACT_RESERVE], KC_SRC_SETTINGS);
		kc_config_free(&cfg);
		unlink(spath);
	}
	assert_int_equal(kc_config_load(&cfg, "/nonexistent/k.conf", &err), -1);
	assert_non_null(strstr(err.msg, "cannot open"));
	rmdir(sdir);
	unlink(path);
	rmdir(dir);
}

static void
masks_secrets(void **state)
{
	char out[64];

	(void)state;
	kc_mask_secret(SECRET, out, sizeof(out));
	assert_str(out, "\xe2\x80\xa6" "2345");
	kc_mask_secret("short", out, sizeof(out));
	assert_str(out, "\xe2\x80\xa6");
	kc_mask_secret(NULL, out, sizeof(out));
	assert_str(out, "");
}

/* What make docs prints: every key documented, defaults as the program has them. */
static void
documents_every_key(void **state)
{
	struct kc_key_doc d;
	int sections = 0;

	(void)state;
	for (int k = 0; k < KC_KEY__MAX; k++) {
		kc_config_key_doc((enum kc_key)k, &d);
		assert_string_equal(d.name, kc_config_key_name((enum kc_key)k));
		assert_non_null(d.help);
		assert_true(strlen(d.help) > 10);
		assert_true(d.values[0] != '\0');
		assert_int_equal(d.secret, kc_config_key_is_secret((enum kc_key)k));
		sections += d.section != NULL;
	}
	assert_int_equal(sections, 5);
	kc_config_key_doc(KC_KEY_KEYCRM_REQUESTS_PER_MINUTE, &d);
	assert_string_equal(d.default_value, "60");
	assert_string_equal(d.values, "1-600");
	kc_config_key_doc(KC_KEY_LOG_LEVEL, &d);
	assert_string_equal(d.default_value, "info");
	assert_string_equal(d.values, "error, warning, info or debug");
	kc_config_key_doc(KC_KEY_KEYCRM_WAREHOUSE_ID, &d);
	assert_string_equal(d.default_value, "");
	assert_true(d.page_editable);
	kc_config_key_doc(KC_KEY_WEBHOOK_SECRET, &d);
	assert_true(d.secret);
	assert_string_equal(d.values, "32-256 letters, digits, - . _ ~");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_match_spec),
		cmocka_unit_test(parses_a_full_file),
		cmocka_unit_test(errors_name_line_and_reason),
		cmocka_unit_test(takes_secrets_woocommerce_generates),
		cmocka_unit_test(never_quotes_what_may_be_a_secret),
		cmocka_unit_test(rejects_nul_and_long_lines),
		cmocka_unit_test(settings_file_takes_page_keys_only),
		cmocka_unit_test(load_checks_permissions),
		cmocka_unit_test(masks_secrets),
		cmocka_unit_test(documents_every_key),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
