/*
 * config.c - see config.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE_BYTES 65536
#define MAX_LINE_BYTES 4096
/* Unknown names longer than this are not quoted (the longest key has 26). */
#define KEY_NAME_MAX 32

enum value_type {
	T_TEXT,		/* printable, no spaces */
	T_SECRET32,	/* URL-safe, at least 32 characters */
	T_SIGNING,	/* printable ASCII, spaces too, at least 32 characters */
	T_URL,
	T_HOSTPORT,
	T_PATH,
	T_LONG,
	T_YESNO,
	T_MANAGE,
	T_LOGLEVEL,
	T_LANGUAGE,	/* auto, en or uk; kept as text */
	T_DBHOST,	/* host, host:port or a socket's absolute path */
	T_PREFIX	/* [a-z0-9_], at most 32 */
};

struct key_spec {
	const char *name;
	enum value_type type;
	size_t offset;
	long min, max;		/* T_LONG */
	int secret;
	int page_editable;	/* may come from settings.conf */
	/* The documentation (README, man page, example file: make docs). */
	const char *section;	/* a heading that starts here, or NULL */
	const char *example;	/* a sample value for a key without a default */
	const char *help;
};

#define OFF(f) offsetof(struct kc_config, f)

static const struct key_spec keys[KC_KEY__MAX] = {
	[KC_KEY_KEYCRM_API_KEY] = { "keycrm_api_key", T_TEXT, OFF(keycrm_api_key), 0, 0, 1, 1,
	    "KeyCRM", NULL,
	    "KeyCRM API key (KeyCRM: Settings -> General -> API key), sent as a Bearer token. Required." },
	[KC_KEY_KEYCRM_API_URL] = { "keycrm_api_url", T_URL, OFF(keycrm_api_url), 0, 0, 0, 0,
	    NULL, NULL,
	    "KeyCRM API base URL; change it only for tests." },
	[KC_KEY_KEYCRM_WAREHOUSE_ID] = { "keycrm_warehouse_id", T_LONG, OFF(keycrm_warehouse_id), 1, 2147483647L, 0, 1,
	    NULL, NULL,
	    "Warehouse (a number) that sync writes to; the KeyCRM stock webhook must watch the same one. Required." },
	[KC_KEY_KEYCRM_REQUESTS_PER_MINUTE] = { "keycrm_requests_per_minute", T_LONG, OFF(keycrm_requests_per_minute), 1, 600, 0, 0,
	    NULL, NULL,
	    "KeyCRM's documented request limit per minute; sync never goes over it." },
	[KC_KEY_WOO_URL] = { "woo_url", T_URL, OFF(woo_url), 0, 0, 0, 0,
	    "WooCommerce", "https://shop.example",
	    "The shop's site URL (not the admin URL). Required." },
	[KC_KEY_WOO_CONSUMER_KEY] = { "woo_consumer_key", T_TEXT, OFF(woo_consumer_key), 0, 0, 0, 1,
	    NULL, NULL,
	    "WooCommerce REST API consumer key (ck_...) with Read/Write permission (WooCommerce -> Settings -> Advanced -> REST API). Required." },
	[KC_KEY_WOO_CONSUMER_SECRET] = { "woo_consumer_secret", T_TEXT, OFF(woo_consumer_secret), 0, 0, 1, 1,
	    NULL, NULL,
	    "The consumer secret (cs_...) of that key. Required." },
	[KC_KEY_WOO_CONNECT_TO] = { "woo_connect_to", T_HOSTPORT, OFF(woo_connect_to), 0, 0, 0, 0,
	    NULL, "127.0.0.1:443",
	    "Where to reach the site instead of what its name resolves to, keeping the name for TLS (curl's CONNECT_TO). Optional." },
	[KC_KEY_WOO_PARALLEL_REQUESTS] = { "woo_parallel_requests", T_LONG, OFF(woo_parallel_requests), 1, 8, 0, 0,
	    NULL, NULL,
	    "How many listing pages sync reads from the shop at once." },
	[KC_KEY_CA_FILE] = { "ca_file", T_PATH, OFF(ca_file), 0, 0, 0, 0,
	    NULL, "/etc/ssl/certs/ca-certificates.crt",
	    "CA bundle for TLS (default: the system's store), e.g. for a private CA. TLS verification is never turned off." },
	[KC_KEY_WEBHOOK_SECRET] = { "webhook_secret", T_SECRET32, OFF(webhook_secret), 0, 0, 1, 0,
	    "The two URLs", NULL,
	    "The secret KeyCRM sends as ?secret= on the webhook URL. Without it the webhook answers 503." },
	[KC_KEY_SYNC_TOKEN] = { "sync_token", T_SECRET32, OFF(sync_token), 0, 0, 1, 0,
	    NULL, NULL,
	    "The token of the sync URL that cron calls (?token=). Without it the sync URL answers 503." },
	[KC_KEY_STATE_DIR] = { "state_dir", T_PATH, OFF(state_dir), 0, 0, 0, 0,
	    "Behaviour", NULL,
	    "SQLite state, the settings page's settings.conf and the run lock; writable by www-data only." },
	[KC_KEY_SUBTRACT_RESERVE] = { "subtract_reserve", T_YESNO, OFF(subtract_reserve), 0, 0, 0, 1,
	    NULL, NULL,
	    "Shop stock = KeyCRM in_stock - in_reserve (yes) or in_stock alone (no)." },
	[KC_KEY_MANAGE_STOCK] = { "manage_stock", T_MANAGE, OFF(manage_stock), 0, 0, 0, 1,
	    NULL, NULL,
	    "Products that do not manage stock in the shop: skip them, or enable stock management on them." },
	[KC_KEY_WEBHOOK_MAX_BYTES] = { "webhook_max_bytes", T_LONG, OFF(webhook_max_bytes), 1024, 268435456L, 0, 0,
	    NULL, NULL,
	    "Larger webhook bodies are refused with 413 (bytes; keep the web server's limit the same)." },
	[KC_KEY_SYNC_MAX_SECONDS] = { "sync_max_seconds", T_LONG, OFF(sync_max_seconds), 1, 86400, 0, 0,
	    NULL, NULL,
	    "A sync run (or applying the inbox) stops cleanly after this many seconds and resumes next time." },
	[KC_KEY_FULL_SCAN_HOURS] = { "full_scan_hours", T_LONG, OFF(full_scan_hours), 1, 8760, 0, 0,
	    NULL, NULL,
	    "Every this many hours a sync reads the whole catalogue instead of what changed." },
	[KC_KEY_SHOP_ORDERS_IN_KEYCRM] = { "shop_orders_in_keycrm", T_YESNO, OFF(shop_orders_in_keycrm), 0, 0, 0, 0,
	    NULL, NULL,
	    "yes when the shop's orders are also imported into KeyCRM, so sales are not counted twice." },
	[KC_KEY_LOG_LEVEL] = { "log_level", T_LOGLEVEL, OFF(log_level), 0, 0, 0, 0,
	    NULL, NULL,
	    "What the programs log: error, warning, info (also one line per webhook and per run) or debug." },
	[KC_KEY_SHOP_WEBHOOK_SECRET] = { "shop_webhook_secret", T_SIGNING, OFF(shop_webhook_secret), 0, 0, 1, 1,
	    NULL, NULL,
	    "The secret WooCommerce signs its product webhooks with (delivered to /keycrm/shop-webhook). Without it that URL answers 503. Spaces and punctuation are allowed, as WooCommerce generates them; write it between double quotes when it begins or ends with a space." },
	[KC_KEY_SHOP_WEBHOOK_URL] = { "shop_webhook_url", T_URL, OFF(shop_webhook_url), 0, 0, 0, 0,
	    NULL, "https://shop.example/keycrm/shop-webhook",
	    "Where WooCommerce delivers its product webhooks, when the shop must reach us at another address than the one the settings page is opened at (a proxy, another host name). Unset: the settings page's own address with /shop-webhook, or woo_url + /keycrm/shop-webhook from a shell. Optional." },
	[KC_KEY_LANGUAGE] = { "language", T_LANGUAGE, OFF(language), 0, 0, 0, 0,
	    NULL, NULL,
	    "Language of the settings page and of the answers meant for people: auto (from the browser's Accept-Language: Ukrainian when it prefers it, else English), en or uk." },
	[KC_KEY_WOO_SKU_MAP_SECONDS] = { "woo_sku_map_seconds", T_LONG, OFF(woo_sku_map_seconds), 0, 86400, 0, 0,
	    NULL, NULL,
	    "For this many seconds after the shop last showed a SKU on one product, stock for it is written without a lookup first (one request instead of two). WooCommerce cannot make a write conditional: a product given another SKU within that time gets the old SKU's stock once (it is then reported). 0: always look up." },
	[KC_KEY_TIMEZONE] = { "timezone", T_TEXT, OFF(timezone), 0, 0, 0, 0,
	    NULL, NULL,
	    "The time zone the settings page shows times in, a tz database name such as Europe/Kyiv." },
	[KC_KEY_MYSQL_HOST] = { "mysql_host", T_DBHOST, OFF(mysql_host), 0, 0, 0, 0,
	    "Several web servers", "/run/mysqld/mysqld.sock",
	    "Set it to keep the state in MariaDB/MySQL instead of SQLite, for a shop served by several web servers: host, host:port or the server's socket path. Every server then shares the inbox, the ledger, the locks and KeyCRM's request limit. Optional." },
	[KC_KEY_MYSQL_DATABASE] = { "mysql_database", T_TEXT, OFF(mysql_database), 0, 0, 0, 0,
	    NULL, "wordpress",
	    "The database that holds the tables (the shop's own WordPress database will do). Required with mysql_host." },
	[KC_KEY_MYSQL_USER] = { "mysql_user", T_TEXT, OFF(mysql_user), 0, 0, 0, 0,
	    NULL, "keycrm_sync",
	    "The account the programs use; it needs SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX and DROP on that database only. Required with mysql_host." },
	[KC_KEY_MYSQL_PASSWORD] = { "mysql_password", T_TEXT, OFF(mysql_password), 0, 0, 1, 0,
	    NULL, NULL,
	    "That account's password (none for socket authentication)." },
	[KC_KEY_MYSQL_TABLE_PREFIX] = { "mysql_table_prefix", T_PREFIX, OFF(mysql_table_prefix), 0, 0, 0, 0,
	    NULL, NULL,
	    "Put before the name of every table the programs create, so they never meet WordPress's." },
	[KC_KEY_MYSQL_REQUIRE_TLS] = { "mysql_require_tls", T_YESNO, OFF(mysql_require_tls), 0, 0, 0, 0,
	    NULL, NULL,
	    "yes: talk to the database over TLS only, verifying the server's certificate (against ca_file when set), and refuse a server that offers none. Without it, a server that offers TLS is used over TLS only when ca_file is set. Use it whenever the database is on another machine." },
};

static const char *const log_level_names[] = { "error", "warning", "info", "debug" };

const char *
kc_config_key_name(enum kc_key key)
{
	return key < KC_KEY__MAX ? keys[key].name : "?";
}

int
kc_config_key_is_secret(enum kc_key key)
{
	return key < KC_KEY__MAX && keys[key].secret;
}

/* What a value may be, in words, from its type. */
static void
values_text(const struct key_spec *ks, char *out, size_t outsz)
{
	switch (ks->type) {
	case T_TEXT:
		kc_strlcpy(out, "text without spaces", outsz);
		break;
	case T_SECRET32:
		kc_strlcpy(out, "32-256 letters, digits, - . _ ~", outsz);
		break;
	case T_SIGNING:
		kc_strlcpy(out, "32-256 printable ASCII characters", outsz);
		break;
	case T_URL:
		kc_strlcpy(out, "https:// or http:// URL", outsz);
		break;
	case T_HOSTPORT:
		kc_strlcpy(out, "host:port", outsz);
		break;
	case T_PATH:
		kc_strlcpy(out, "absolute path", outsz);
		break;
	case T_LONG:
		snprintf(out, outsz, "%ld-%ld", ks->min, ks->max);
		break;
	case T_YESNO:
		kc_strlcpy(out, "yes or no", outsz);
		break;
	case T_MANAGE:
		kc_strlcpy(out, "skip or enable", outsz);
		break;
	case T_LOGLEVEL:
		kc_strlcpy(out, "error, warning, info or debug", outsz);
		break;
	case T_LANGUAGE:
		kc_strlcpy(out, "auto, en or uk", outsz);
		break;
	case T_DBHOST:
		kc_strlcpy(out, "host, host:port or socket path", outsz);
		break;
	case T_PREFIX:
		kc_strlcpy(out, "a-z, 0-9 and _, at most 32", outsz);
		break;
	}
}

void
kc_config_key_doc(enum kc_key key, struct kc_key_doc *doc)
{
	const struct key_spec *ks = &keys[key];
	struct kc_config cfg;

	memset(doc, 0, sizeof(*doc));
	doc->name = ks->name;
	doc->section = ks->section;
	doc->help = ks->help;
	doc->example = ks->example;
	doc->secret = ks->secret;
	doc->page_editable = ks->page_editable;
	values_text(ks, doc->values, sizeof(doc->values));
	kc_config_defaults(&cfg);
	kc_config_value_text(&cfg, key, doc->default_value, sizeof(doc->default_value));
	kc_config_free(&cfg);
}

static char **
str_field(struct kc_config *cfg, enum kc_key key)
{
	return (char **)((char *)cfg + keys[key].offset);
}

void
kc_config_defaults(struct kc_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->keycrm_api_url = kc_strdup("https://openapi.keycrm.app/v1");
	cfg->keycrm_requests_per_minute = 60;
	cfg->woo_parallel_requests = 2;
	cfg->state_dir = kc_strdup("/var/lib/keycrm-sync");
	cfg->subtract_reserve = 1;
	cfg->manage_stock = KC_MANAGE_SKIP;
	cfg->webhook_max_bytes = 4194304;
	cfg->sync_max_seconds = 240;
	cfg->full_scan_hours = 24;
	cfg->shop_orders_in_keycrm = 0;
	cfg->log_level = KC_LOG_INFO;
	cfg->language = kc_strdup("auto");
	cfg->timezone = kc_strdup("UTC");
	cfg->mysql_table_prefix = kc_strdup("keycrm_sync_");
}

void
kc_config_free(struct kc_config *cfg)
{
	for (int k = 0; k < KC_KEY__MAX; k++) {
		enum value_type t = keys[k].type;
		if (t != T_LONG && t != T_YESNO && t != T_MANAGE && t != T_LOGLEVEL) {
			char **p = str_field(cfg, (enum kc_key)k);
			if (keys[k].secret && *p != NULL)
				kc_wipe(*p, strlen(*p));
			free(*p);
			*p = NULL;
		}
	}
	free(cfg->path);
	cfg->path = NULL;
}

static int
is_url_safe(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

static int
all_printable_nospace(const char *v)
{
	for (; *v != '\0'; v++)
		if ((unsigned char)*v <= 0x20 || (unsigned char)*v == 0x7f)
			return 0;
	return 1;
}

static int
check_url(const char *v, struct kc_error *err)
{
	const char *host;

	if (strncmp(v, "https://", 8) == 0)
		host = v + 8;
	else if (strncmp(v, "http://", 7) == 0)
		host = v + 7;
	else {
		kc_error_set(err, "must start with https:// or http://");
		return -1;
	}
	if (!all_printable_nospace(v) || strlen(v) > 1024) {
		kc_error_set(err, "must be a URL without spaces");
		return -1;
	}
	if (*host == '\0' || *host == '/') {
		kc_error_set(err, "has no host name");
		return -1;
	}
	if (strpbrk(v, "?#") != NULL) {
		kc_error_set(err, "must not contain '?' or '#'");
		return -1;
	}
	if (strchr(host, '@') != NULL) {
		kc_error_set(err, "must not contain credentials; use the key settings");
		return -1;
	}
	return 0;
}

static int
check_hostport(const char *v, struct kc_error *err)
{
	const char *colon = strrchr(v, ':');
	char *end;
	long port;

	if (colon == NULL || colon == v || !all_printable_nospace(v)) {
		kc_error_set(err, "must be host:port, for example 127.0.0.1:443");
		return -1;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || colon[1] == '\0' || port < 1 ||
	    port > 65535) {
		kc_error_set(err, "has a bad port (1-65535)");
		return -1;
	}
	return 0;
}

/* host, host:port, [v6]:port or the absolute path of a socket. */
static int
check_dbhost(const char *v, struct kc_error *err)
{
	const char *colon = strrchr(v, ':');

	if (!all_printable_nospace(v) || strlen(v) > 255) {
		kc_error_set(err, "must be a host name, host:port or a socket path, without spaces");
		return -1;
	}
	if (v[0] == '/')
		return 0;
	if (v[0] == '\0' || v[0] == ':') {
		kc_error_set(err, "has no host name");
		return -1;
	}
	if (colon == NULL || (v[0] == '[' && colon[-1] != ']'))
		return 0;
	return check_hostport(v, err);
}

static int
parse_long(const char *v, long min, long max, long *out, struct kc_error *err)
{
	char *end;
	long n;

	if (*v == '\0' || strspn(v, "0123456789") != strlen(v)) {
		kc_error_set(err, "must be a whole number");
		return -1;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || n < min || n > max) {
		kc_error_set(err, "must be between %ld and %ld", min, max);
		return -1;
	}
	*out = n;
	return 0;
}

/* Checks and stores one value; err gets the reason without the key name. */
static int
set_value(struct kc_config *cfg, enum kc_key key, const char *v,
    struct kc_error *err)
{
	const struct key_spec *ks = &keys[key];
	char **sp;
	size_t len = strlen(v);

	switch (ks->type) {
	case T_TEXT:
		if (!all_printable_nospace(v) || len > 512) {
			kc_error_set(err, "must be printable text without spaces (at most 512 characters)");
			return -1;
		}
		break;
	case T_SECRET32:
		if (len < 32 || len > 256) {
			kc_error_set(err, "must be 32 to 256 characters long (it is %zu)", len);
			return -1;
		}
		for (const char *p = v; *p; p++)
			if (!is_url_safe((unsigned char)*p)) {
				kc_error_set(err, "may contain only letters, digits and - . _ ~ (it goes into a URL)");
				return -1;
			}
		break;
	case T_SIGNING:
		/*
		 * WooCommerce's own secrets (wp_generate_password(50, true,
		 * true)) hold spaces and punctuation, and never '"': a value
		 * between double quotes is what lies between them, so that
		 * blanks at either end survive the line's trimming.
		 */
		if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
			v++;
			len -= 2;
		}
		if (len < 32 || len > 256) {
			kc_error_set(err, "must be 32 to 256 characters long (it is %zu)", len);
			return -1;
		}
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e) {
				kc_error_set(err, "may contain only printable ASCII characters"
				    " (letters, digits, punctuation and spaces)");
				return -1;
			}
		break;
	case T_URL:
		if (check_url(v, err) != 0)
			return -1;
		break;
	case T_HOSTPORT:
		if (check_hostport(v, err) != 0)
			return -1;
		break;
	case T_DBHOST:
		if (check_dbhost(v, err) != 0)
			return -1;
		break;
	case T_PREFIX:
		if (len > 32 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_") != len) {
			kc_error_set(err, "may contain only a-z, 0-9 and _ (at most 32)");
			return -1;
		}
		break;
	case T_PATH:
		if (v[0] != '/' || len > 1024 || strchr(v, '\n') != NULL) {
			kc_error_set(err, "must be an absolute path");
			return -1;
		}
		break;
	case T_LONG:
		return parse_long(v, ks->min, ks->max,
		    (long *)((char *)cfg + ks->offset), err);
	case T_YESNO:
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
			kc_error_set(err, "must be yes or no");
			return -1;
		}
		*(int *)((char *)cfg + ks->offset) = strcmp(v, "yes") == 0;
		return 0;
	case T_MANAGE:
		if (strcmp(v, "skip") == 0)
			cfg->manage_stock = KC_MANAGE_SKIP;
		else if (strcmp(v, "enable") == 0)
			cfg->manage_stock = KC_MANAGE_ENABLE;
		else {
			kc_error_set(err, "must be skip or enable");
			return -1;
		}
		return 0;
	case T_LOGLEVEL:
		for (int i = 0; i <= KC_LOG_DEBUG; i++)
			if (strcmp(v, log_level_names[i]) == 0) {
				cfg->log_level = (enum kc_log_level)i;
				return 0;
			}
		kc_error_set(err, "must be error, warning, info or debug");
		return -1;
	case T_LANGUAGE:
		if (strcmp(v, "auto") != 0 && strcmp(v, "en") != 0 && strcmp(v, "uk") != 0) {
			kc_error_set(err, "must be auto, en or uk");
			return -1;
		}
		break;
	}
	sp = str_field(cfg, key);
	if (ks->secret && *sp != NULL)
		kc_wipe(*sp, strlen(*sp));
	free(*sp);
	*sp = kc_strndup(v, len);
	if (*sp == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	/* URLs are joined with paths later; one form only. */
	if (ks->type == T_URL || ks->type == T_PATH) {
		size_t n = strlen(*sp);
		while (n > 1 && (*sp)[n - 1] == '/')
			(*sp)[--n] = '\0';
	}
	return 0;
}

/*
 * Whether an unknown name may be quoted in an error: it looks like a
 * mistyped key (lower-case letters and '_', short), not like a secret
 * pasted on a line of its own ("abc...==" splits at its '=').
 */
static int
looks_like_key_name(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= KEY_NAME_MAX && strspn(name, "abcdefghijklmnopqrstuvwxyz_") == n;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int
parse_lines(struct kc_config *cfg, const char *text, size_t len,
    const char *origin, int settings_file, char *line, struct kc_error *err)
{
	int seen_line[KC_KEY__MAX] = { 0 };
	size_t pos = 0;
	int lineno = 0;

	if (len > MAX_FILE_BYTES) {
		kc_error_set(err, "%s: larger than %d bytes", origin, MAX_FILE_BYTES);
		return -1;
	}
	if (memchr(text, '\0', len) != NULL) {
		kc_error_set(err, "%s: contains a NUL byte (not a text file?)", origin);
		return -1;
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *s, *eq, *name, *value;
		struct kc_error why;
		int k;

		lineno++;
		if (n > MAX_LINE_BYTES) {
			kc_error_set(err, "%s:%d: line longer than %d bytes", origin,
			    lineno, MAX_LINE_BYTES);
			return -1;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl ? 1 : 0);
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL) {
			kc_error_set(err, "%s:%d: expected 'key = value'", origin, lineno);
			return -1;
		}
		*eq = '\0';
		name = trim(s);
		value = trim(eq + 1);
		for (k = 0; k < KC_KEY__MAX; k++)
			if (strcmp(keys[k].name, name) == 0)
				break;
		if (k == KC_KEY__MAX) {
			if (looks_like_key_name(name))
				kc_error_set(err, "%s:%d: unknown key '%s'", origin, lineno, name);
			else
				kc_error_set(err, "%s:%d: expected 'key = value' with a key name "
				    "(the line is not shown: it may hold a secret)", origin, lineno);
			return -1;
		}
		if (settings_file && !keys[k].page_editable) {
			kc_error_set(err, "%s:%d: '%s' cannot be set here, only in the main configuration file",
			    origin, lineno, name);
			return -1;
		}
		if (seen_line[k]) {
			kc_error_set(err, "%s:%d: '%s' is already set on line %d",
			    origin, lineno, name, seen_line[k]);
			return -1;
		}
		seen_line[k] = lineno;
		if (*value == '\0') {
			kc_error_set(err, "%s:%d: '%s' has no value (remove the line to use the default)",
			    origin, lineno, name);
			return -1;
		}
		if (set_value(cfg, (enum kc_key)k, value, &why) != 0) {
			kc_error_set(err, "%s:%d: %s %s", origin, lineno, name, why.msg);
			return -1;
		}
		cfg->source[k] = settings_file ? KC_SRC_SETTINGS : KC_SRC_FILE;
	}
	return 0;
}

int
kc_config_parse(struct kc_config *cfg, const char *text, size_t len,
    const char *origin, int settings_file, struct kc_error *err)
{
	char line[MAX_LINE_BYTES + 2];
	int rc = parse_lines(cfg, text, len, origin, settings_file, line, err);

	kc_wipe(line, sizeof(line));	/* the last line read may be a secret */
	return rc;
}

/* Reads a whole small file; *missing is set when it does not exist. */
static char *
read_file(const char *path, size_t *len, struct stat *st, int *missing,
    struct kc_error *err)
{
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd;

	*missing = 0;
	/* O_NONBLOCK: a FIFO in its place must not hang the program in open();
	 * it is refused below as not a regular file. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		/* Say what is wrong with it first, when that can be seen. */
		if (e == EACCES && stat(path, st) == 0 && !S_ISREG(st->st_mode)) {
			kc_error_set(err, "%s: not a regular file", path);
			return NULL;
		}
		*missing = e == ENOENT;
		kc_error_set(err, "%s: cannot open: %s", path, strerror(e));
		return NULL;
	}
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		kc_error_set(err, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if (st->st_size > MAX_FILE_BYTES) {
		kc_error_set(err, "%s: larger than %d bytes", path, MAX_FILE_BYTES);
		close(fd);
		return NULL;
	}
	buf = malloc((size_t)st->st_size + 1);
	if (buf == NULL) {
		kc_error_set(err, "%s: out of memory", path);
		close(fd);
		return NULL;
	}
	while (got < (size_t)st->st_size &&
	    (n = read(fd, buf + got, (size_t)st->st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

static int
holds_secret(const struct kc_config *cfg, enum kc_source src)
{
	for (int k = 0; k < KC_KEY__MAX; k++)
		if (keys[k].secret && cfg->source[k] == src)
			return 1;
	return 0;
}

/*
 * A file that holds secrets must not be readable by everyone, and no
 * configuration may be writable by anyone but its owner: whoever can
 * write it can point the programs anywhere.
 */
static int
check_mode(const struct kc_config *cfg, const char *path,
    const struct stat *st, enum kc_source src, struct kc_error *err)
{
	if (st->st_mode & S_IWOTH) {
		kc_error_set(err, "%s: is writable by everyone; run chmod o-w on it", path);
		return -1;
	}
	/* The group is the web server's: a hole in it must not be able to
	 * rewrite where the secrets are sent. */
	if (st->st_mode & S_IWGRP) {
		kc_error_set(err, "%s: is writable by its group; run chmod g-w on it", path);
		return -1;
	}
	if ((st->st_mode & S_IROTH) && holds_secret(cfg, src)) {
		kc_error_set(err, "%s: holds secrets but is readable by everyone; run chmod 640 (owner root, group of the web server)",
		    path);
		return -1;
	}
	return 0;
}

int
kc_config_load(struct kc_config *cfg, const char *path, struct kc_error *err)
{
	struct stat st;
	char *text, *spath = NULL;
	size_t len;
	int missing;

	kc_config_defaults(cfg);
	cfg->path = kc_strdup(path);
	text = read_file(path, &len, &st, &missing, err);
	if (text == NULL)
		goto fail;
	if (kc_config_parse(cfg, text, len, path, 0, err) != 0 ||
	    check_mode(cfg, path, &st, KC_SRC_FILE, err) != 0) {
		kc_wipe(text, len);
		free(text);
		goto fail;
	}
	kc_wipe(text, len);
	free(text);

	if (asprintf(&spath, "%s/%s", cfg->state_dir, KC_SETTINGS_FILE) < 0) {
		spath = NULL;
		kc_error_set(err, "out of memory");
		goto fail;
	}
	/* The state directory is the web server's: nothing there is followed. */
	if (lstat(spath, &st) == 0 && S_ISLNK(st.st_mode)) {
		kc_error_set(err, "%s is a symbolic link; it is not followed (remove it)", spath);
		goto fail;
	}
	text = read_file(spath, &len, &st, &missing, err);
	if (text == NULL && !missing) {
		/* Name what is wrong: the directory, not a file that may not exist. */
		if (access(cfg->state_dir, X_OK) != 0)
			kc_error_set(err, "state_dir %s cannot be entered by this user (%s): it must belong to the web server's user (chown -R www-data: %s), and the programs run as that user",
			    cfg->state_dir, strerror(errno), cfg->state_dir);
		goto fail;
	}
	if (text != NULL) {
		if (kc_config_parse(cfg, text, len, spath, 1, err) != 0 ||
		    check_mode(cfg, spath, &st, KC_SRC_SETTINGS, err) != 0) {
			kc_wipe(text, len);
			free(text);
			goto fail;
		}
		kc_wipe(text, len);
		free(text);
	}
	free(spath);
	/* Applies from here on, to this request and what follows it. */
	kc_log_set_level(cfg->log_level);
	if (cfg->ca_file != NULL && access(cfg->ca_file, R_OK) != 0) {
		kc_error_set(err, "%s: ca_file %s cannot be read: %s", path,
		    cfg->ca_file, strerror(errno));
		kc_config_free(cfg);
		return -1;
	}
	if (cfg->mysql_host != NULL &&
	    (cfg->mysql_database == NULL || cfg->mysql_user == NULL)) {
		kc_error_set(err, "%s: mysql_host is set, so mysql_database and mysql_user must be set too",
		    path);
		kc_config_free(cfg);
		return -1;
	}
	return 0;
fail:
	free(spath);
	kc_config_free(cfg);
	return -1;
}

void
kc_config_value_text(const struct kc_config *cfg, enum kc_key key, char *out,
    size_t outsz)
{
	const struct key_spec *ks = &keys[key];
	const char *base = (const char *)cfg + ks->offset;

	switch (ks->type) {
	case T_LONG: {
		long v = *(const long *)base;
		if (v == 0 && key == KC_KEY_KEYCRM_WAREHOUSE_ID)
			kc_strlcpy(out, "", outsz);
		else
			snprintf(out, outsz, "%ld", v);
		break;
	}
	case T_YESNO:
		kc_strlcpy(out, *(const int *)base ? "yes" : "no", outsz);
		break;
	case T_MANAGE:
		kc_strlcpy(out, cfg->manage_stock == KC_MANAGE_ENABLE ? "enable" : "skip", outsz);
		break;
	case T_LOGLEVEL:
		kc_strlcpy(out, log_level_names[cfg->log_level], outsz);
		break;
	default: {
		const char *s = *(char *const *)base;
		kc_strlcpy(out, s ? s : "", outsz);
	}
	}
}

void
kc_mask_secret(const char *secret, char *out, size_t outsz)
{
	size_t len = secret ? strlen(secret) : 0;

	if (len == 0) {
		kc_strlcpy(out, "", outsz);
		return;
	}
	/* Short secrets show nothing: four characters would be most of one. */
	snprintf(out, outsz, "\xe2\x80\xa6%s", len >= 16 ? secret + len - 4 : "");
}
