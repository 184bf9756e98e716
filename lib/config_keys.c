/*
 * config_keys.c - the table of configuration keys: each key's name, type,
 * limits and whether it is a secret or may be saved from the page, and the
 * documentation `make docs` writes into the README, the man page and the
 * example file.  The parser (config.c) reads the table; nothing else does.
 */
#include "config.h"
#include "config_keys.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define OFF(f) offsetof(struct kc_config, f)

const struct key_spec kc_config_keys[KC_KEY__MAX] = {
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

const char *const kc_log_level_names[KC_LOG_LEVELS] = { "error", "warning", "info", "debug" };

const char *
kc_config_key_name(enum kc_key key)
{
	return key < KC_KEY__MAX ? kc_config_keys[key].name : "?";
}

int
kc_config_key_is_secret(enum kc_key key)
{
	return key < KC_KEY__MAX && kc_config_keys[key].secret;
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
	const struct key_spec *ks = &kc_config_keys[key];
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
