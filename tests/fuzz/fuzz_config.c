/*
 * fuzz_config.c - kc_config_parse(), the configuration file (SPEC 2), as
 * the main file and as state_dir/settings.conf.
 *
 * Properties: a failure names the origin and never repeats the value of a
 * secret key; a success leaves only values the programs can use as they
 * are: secrets of 32..256 URL-safe characters, the API key and the
 * WooCommerce key without spaces or control characters (they go into
 * HTTP headers and URLs), URLs starting with http:// or https:// without
 * '?', '#', '@' or a trailing '/', an absolute state_dir, every number in
 * its range; settings.conf sets only the four keys the page may change;
 * masking shows at most the last four characters of a secret.
 */
#include "config.h"
#include "fuzz.h"

FUZZ_QUIET_INIT

#define ORIGIN "fuzz.conf"

static const char *const secret_keys[] = {
	"keycrm_api_key", "woo_consumer_secret", "webhook_secret", "sync_token",
};

static int
url_safe(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~", *s)))
			return 0;
	return 1;
}

static void
check_secret32(const char *v)
{
	if (v == NULL)
		return;
	FUZZ_CHECK(strlen(v) >= 32 && strlen(v) <= 256 && url_safe(v));
}

static void
check_text(const char *v)
{
	if (v == NULL)
		return;
	FUZZ_CHECK(*v != '\0' && strlen(v) <= 512);
	for (; *v; v++)
		FUZZ_CHECK((unsigned char)*v > 0x20 && *v != 0x7f);
}

static void
check_url(const char *v)
{
	size_t n;

	if (v == NULL)
		return;
	FUZZ_CHECK(strncmp(v, "https://", 8) == 0 || strncmp(v, "http://", 7) == 0);
	FUZZ_CHECK(strpbrk(v, "?#@ ") == NULL && fuzz_no_controls(v));
	n = strlen(v);
	FUZZ_CHECK(n > 0 && v[n - 1] != '/');
}

static int
trim_len(const char *s, size_t n, const char **out)
{
	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	*out = s;
	return (int)n;
}

/*
 * The value of a secret key given on some line must not show in the error
 * message.  A value can equal text of the message by chance ("127.0.0.1:443"
 * is in an example, and other lines may hold the same text), so the
 * value's letters and digits are replaced by a letter the input does not
 * contain and the input parsed again: a leak shows the marked value, a
 * coincidence not.
 */
static void
check_no_secret_in(const char *msg, const char *text, size_t len, int settings_file)
{
	size_t pos = 0;

	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		const char *eq = memchr(line, '=', n), *name, *value;
		int nlen, vlen;

		pos += n + (nl ? 1 : 0);
		if (eq == NULL)
			continue;
		nlen = trim_len(line, (size_t)(eq - line), &name);
		vlen = trim_len(eq + 1, n - (size_t)(eq + 1 - line), &value);
		if (vlen < 8 || memchr(value, '\0', (size_t)vlen) != NULL)
			continue;
		for (size_t k = 0; k < sizeof(secret_keys) / sizeof(*secret_keys); k++) {
			struct kc_config cfg;
			struct kc_error err2 = { { 0 } };
			char v[4100], *copy, mark;
			size_t off = (size_t)(value - text);

			if ((size_t)nlen != strlen(secret_keys[k]) ||
			    memcmp(name, secret_keys[k], (size_t)nlen) != 0 ||
			    (size_t)vlen >= sizeof(v))
				continue;
			memcpy(v, value, (size_t)vlen);
			v[vlen] = '\0';
			if (strstr(msg, v) == NULL)
				continue;
			mark = 0;
			for (const char *c = "QZXJqzxjKV"; *c && !mark; c++)
				if (memchr(text, *c, len) == NULL)
					mark = *c;
			if (mark == 0)
				continue;
			copy = malloc(len);
			FUZZ_CHECK(copy != NULL);
			memcpy(copy, text, len);
			for (int i = 0; i < vlen; i++)
				if ((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
				    (v[i] >= '0' && v[i] <= '9'))
					copy[off + (size_t)i] = v[i] = mark;
			kc_config_defaults(&cfg);
			kc_config_parse(&cfg, copy, len, ORIGIN, settings_file, &err2);
			kc_config_free(&cfg);
			free(copy);
			FUZZ_CHECK(strstr(err2.msg, v) == NULL);
		}
	}
}

static void
one(const char *text, size_t len, int settings_file)
{
	struct kc_config cfg;
	struct kc_error err = { { 0 } };
	char out[1100];

	kc_config_defaults(&cfg);
	if (kc_config_parse(&cfg, text, len, ORIGIN, settings_file, &err) != 0) {
		FUZZ_CHECK(fuzz_msg_ok(&err));
		FUZZ_CHECK(strncmp(err.msg, ORIGIN, strlen(ORIGIN)) == 0);
		check_no_secret_in(err.msg, text, len, settings_file);
		kc_config_free(&cfg);
		return;
	}
	check_secret32(cfg.webhook_secret);
	check_secret32(cfg.sync_token);
	check_text(cfg.keycrm_api_key);
	check_text(cfg.woo_consumer_key);
	check_text(cfg.woo_consumer_secret);
	check_url(cfg.keycrm_api_url);
	check_url(cfg.woo_url);
	FUZZ_CHECK(cfg.state_dir != NULL && cfg.state_dir[0] == '/');
	FUZZ_CHECK(cfg.ca_file == NULL || cfg.ca_file[0] == '/');
	FUZZ_CHECK(cfg.woo_connect_to == NULL || strchr(cfg.woo_connect_to, ':'));
	FUZZ_CHECK(cfg.keycrm_warehouse_id >= 0 && cfg.keycrm_warehouse_id <= 2147483647L);
	FUZZ_CHECK(cfg.keycrm_requests_per_minute >= 1 && cfg.keycrm_requests_per_minute <= 600);
	FUZZ_CHECK(cfg.woo_parallel_requests >= 1 && cfg.woo_parallel_requests <= 8);
	FUZZ_CHECK(cfg.webhook_max_bytes >= 1024 && cfg.webhook_max_bytes <= 268435456L);
	FUZZ_CHECK(cfg.sync_max_seconds >= 1 && cfg.sync_max_seconds <= 86400);
	FUZZ_CHECK(cfg.full_scan_hours >= 1 && cfg.full_scan_hours <= 8760);
	FUZZ_CHECK(cfg.subtract_reserve == 0 || cfg.subtract_reserve == 1);
	FUZZ_CHECK(cfg.shop_orders_in_keycrm == 0 || cfg.shop_orders_in_keycrm == 1);
	FUZZ_CHECK(cfg.log_level >= KC_LOG_ERROR && cfg.log_level <= KC_LOG_DEBUG);
	FUZZ_CHECK(cfg.language != NULL && (strcmp(cfg.language, "auto") == 0 ||
	    strcmp(cfg.language, "en") == 0 || strcmp(cfg.language, "uk") == 0));
	for (int k = 0; k < KC_KEY__MAX; k++) {
		enum kc_key key = (enum kc_key)k;

		if (settings_file && cfg.source[k] == KC_SRC_SETTINGS)
			FUZZ_CHECK(key == KC_KEY_KEYCRM_API_KEY ||
			    key == KC_KEY_KEYCRM_WAREHOUSE_ID ||
			    key == KC_KEY_SUBTRACT_RESERVE || key == KC_KEY_MANAGE_STOCK ||
			    key == KC_KEY_WOO_CONSUMER_KEY ||
			    key == KC_KEY_WOO_CONSUMER_SECRET ||
			    key == KC_KEY_SHOP_WEBHOOK_SECRET);
		kc_config_value_text(&cfg, key, out, sizeof(out));
		if (kc_config_key_is_secret(key) && out[0] != '\0') {
			char masked[64];
			size_t n = strlen(out);

			kc_mask_secret(out, masked, sizeof(masked));
			/* "…" (3 bytes) and at most the last 4 characters. */
			FUZZ_CHECK(strlen(masked) <= 3 + 4);
			if (n >= 8)
				FUZZ_CHECK(strstr(masked, out) == NULL);
		}
	}
	kc_config_free(&cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one((const char *)data, size, 0);
	one((const char *)data, size, 1);
	return 0;
}
