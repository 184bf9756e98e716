/*
 * config_keys.h - the table of configuration keys (config_keys.c), private
 * to the configuration: config.c parses by it, config_keys.c documents it.
 */
#ifndef KC_CONFIG_KEYS_H
#define KC_CONFIG_KEYS_H

#include <stddef.h>

#include "config.h"

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

#define KC_LOG_LEVELS 4

extern const struct key_spec kc_config_keys[KC_KEY__MAX];
/* log_level's values, by enum kc_log_level (error, warning, info, debug). */
extern const char *const kc_log_level_names[KC_LOG_LEVELS];

#endif
