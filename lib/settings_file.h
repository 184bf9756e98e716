/*
 * settings_file.h - state_dir/settings.conf, the keys an
 * administrator saves from the settings page (SPEC section 2).  It
 * overrides the main configuration file key by key.
 *
 * The file is replaced atomically: the new text goes to a temporary file
 * in the same directory, is flushed to disk, renamed over the old one and
 * the directory flushed too, so a reader sees the old file or the new one,
 * never half of one, even across a crash.  What is written is first parsed
 * with the configuration parser itself, so the page can never save a file
 * that would stop the programs from starting.
 */
#ifndef KC_SETTINGS_FILE_H
#define KC_SETTINGS_FILE_H

#include "util.h"

/* The values to write; NULL leaves a key out (the main file's applies). */
struct kc_settings_values {
	const char *keycrm_api_key;
	const char *keycrm_warehouse_id;
	const char *subtract_reserve;
	const char *manage_stock;
	const char *woo_consumer_key;	/* the shop's REST key, both or neither */
	const char *woo_consumer_secret;
	const char *shop_webhook_secret;	/* made when the shop's webhook is registered */
};

/*
 * The file's text for v, checked as kc_config_load() will check it.
 * Returns -1 when a value is not acceptable; err then names the key and
 * says why, without the value (it may be a secret).  who, when not NULL,
 * is named in the file's header comment.
 */
int kc_settings_file_format(const struct kc_settings_values *v,
    const char *who, struct kc_buf *out, struct kc_error *err);

/* Checks v and replaces state_dir/settings.conf (mode 0600) with it. */
int kc_settings_file_write(const char *state_dir,
    const struct kc_settings_values *v, const char *who,
    struct kc_error *err);

#endif
