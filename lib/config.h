/*
 * config.h - the configuration file of SPEC section 2.
 *
 * "key = value" lines and "#" comment lines.  Every key is known, every
 * value is checked, and any problem is reported with the file, the line
 * and the reason; a program with a bad configuration refuses to run rather
 * than guess.  state_dir/settings.conf, written by the settings page, may
 * override the keys an administrator can change there.
 */
#ifndef KC_CONFIG_H
#define KC_CONFIG_H

#include <stddef.h>

#include "util.h"

#define KC_CONFIG_DEFAULT_PATH "/etc/keycrm-sync/keycrm-sync.conf"
#define KC_CONFIG_ENV "KEYCRM_SYNC_CONFIG"
#define KC_SETTINGS_FILE "settings.conf"

enum kc_manage_stock { KC_MANAGE_SKIP, KC_MANAGE_ENABLE };

/* Where a value came from, for the settings page. */
enum kc_source { KC_SRC_DEFAULT, KC_SRC_FILE, KC_SRC_SETTINGS };

enum kc_key {
	KC_KEY_KEYCRM_API_KEY,
	KC_KEY_KEYCRM_API_URL,
	KC_KEY_KEYCRM_WAREHOUSE_ID,
	KC_KEY_KEYCRM_REQUESTS_PER_MINUTE,
	KC_KEY_WOO_URL,
	KC_KEY_WOO_CONSUMER_KEY,
	KC_KEY_WOO_CONSUMER_SECRET,
	KC_KEY_WOO_CONNECT_TO,
	KC_KEY_WOO_PARALLEL_REQUESTS,
	KC_KEY_CA_FILE,
	KC_KEY_WEBHOOK_SECRET,
	KC_KEY_SYNC_TOKEN,
	KC_KEY_STATE_DIR,
	KC_KEY_SUBTRACT_RESERVE,
	KC_KEY_MANAGE_STOCK,
	KC_KEY_WEBHOOK_MAX_BYTES,
	KC_KEY_SYNC_MAX_SECONDS,
	KC_KEY_FULL_SCAN_HOURS,
	KC_KEY_SHOP_ORDERS_IN_KEYCRM,
	KC_KEY_LOG_LEVEL,
	KC_KEY_SHOP_WEBHOOK_SECRET,
	KC_KEY_SHOP_WEBHOOK_URL,
	KC_KEY_LANGUAGE,
	KC_KEY_WOO_SKU_MAP_SECONDS,
	KC_KEY_TIMEZONE,
	KC_KEY_MYSQL_HOST,
	KC_KEY_MYSQL_DATABASE,
	KC_KEY_MYSQL_USER,
	KC_KEY_MYSQL_PASSWORD,
	KC_KEY_MYSQL_TABLE_PREFIX,
	KC_KEY_MYSQL_REQUIRE_TLS,
	KC_KEY__MAX
};

struct kc_config {
	char *path;
	char *keycrm_api_key;
	char *keycrm_api_url;
	long keycrm_warehouse_id;		/* 0: not set */
	long keycrm_requests_per_minute;
	char *woo_url;				/* without a trailing '/' */
	char *woo_consumer_key;
	char *woo_consumer_secret;
	char *woo_connect_to;
	long woo_parallel_requests;		/* listing pages read at once */
	char *ca_file;
	char *webhook_secret;
	char *sync_token;
	char *state_dir;
	int subtract_reserve;
	enum kc_manage_stock manage_stock;
	long webhook_max_bytes;
	long sync_max_seconds;
	long full_scan_hours;
	int shop_orders_in_keycrm;
	enum kc_log_level log_level;		/* what kc_log() writes */
	char *shop_webhook_secret;		/* WooCommerce signs its webhooks with it */
	char *language;				/* "auto", "en" or "uk" (kc_i18n_select) */
	long woo_sku_map_seconds;		/* trust a confirmed SKU -> product this long */
	char *timezone;				/* the settings page's times: a tz database name */
	char *mysql_host;			/* set: the state is in MariaDB/MySQL */
	char *mysql_database;
	char *mysql_user;
	char *mysql_password;
	char *mysql_table_prefix;
	int mysql_require_tls;
	char *shop_webhook_url;			/* where WooCommerce delivers; NULL: the page's own */

	enum kc_source source[KC_KEY__MAX];
};

/*
 * Loads path (and state_dir/settings.conf when present).  On failure cfg is
 * left freed and err says "file:line: what is wrong".
 */
int kc_config_load(struct kc_config *cfg, const char *path,
    struct kc_error *err);
void kc_config_free(struct kc_config *cfg);

/* Parses config text; for tests and fuzzing.  origin names it in errors. */
int kc_config_parse(struct kc_config *cfg, const char *text, size_t len,
    const char *origin, int settings_file, struct kc_error *err);
void kc_config_defaults(struct kc_config *cfg);

const char *kc_config_key_name(enum kc_key key);
int kc_config_key_is_secret(enum kc_key key);
/* What the documentation says about a key; make docs writes the key tables of
 * README.md, the man page and the example file from it. */
struct kc_key_doc {
	const char *name;
	const char *section;		/* a heading that starts here, or NULL */
	const char *help;		/* sentences */
	const char *example;		/* a sample value when there is no default, or NULL */
	char values[64];		/* what a value may be, e.g. "1-600", "yes or no" */
	char default_value[128];	/* "" when there is none */
	int secret;
	int page_editable;		/* the settings page may change it */
};
void kc_config_key_doc(enum kc_key key, struct kc_key_doc *doc);

/* The value of a key as text (secrets whole: mask before showing). */
void kc_config_value_text(const struct kc_config *cfg, enum kc_key key,
    char *out, size_t outsz);

/* "…" followed by at most the last 4 characters; "" when unset. */
void kc_mask_secret(const char *secret, char *out, size_t outsz);

#endif
