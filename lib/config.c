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

#include "config_keys.h"

static char **
str_field(struct kc_config *cfg, enum kc_key key)
{
	return (char **)((char *)cfg + kc_config_keys[key].offset);
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
		enum value_type t = kc_config_keys[k].type;
		if (t != T_LONG && t != T_YESNO && t != T_MANAGE && t != T_LOGLEVEL) {
			char **p = str_field(cfg, (enum kc_key)k);
			if (kc_config_keys[k].secret && *p != NULL)
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
	const struct key_spec *ks = &kc_config_keys[key];
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
			if (strcmp(v, kc_log_level_names[i]) == 0) {
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
			if (strcmp(kc_config_keys[k].name, name) == 0)
				break;
		if (k == KC_KEY__MAX) {
			if (looks_like_key_name(name))
				kc_error_set(err, "%s:%d: unknown key '%s'", origin, lineno, name);
			else
				kc_error_set(err, "%s:%d: expected 'key = value' with a key name "
				    "(the line is not shown: it may hold a secret)", origin, lineno);
			return -1;
		}
		if (settings_file && !kc_config_keys[k].page_editable) {
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
		if (kc_config_keys[k].secret && cfg->source[k] == src)
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
	const struct key_spec *ks = &kc_config_keys[key];
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
		kc_strlcpy(out, kc_log_level_names[cfg->log_level], outsz);
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
