/*
 * settings_file.c - see settings_file.h.
 */
#include "settings_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

/* A value must be one line of visible text: it becomes "key = value". */
static int
one_line(const char *v)
{
	if (*v == ' ' || *v == '\t')
		return 0;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return *v == '\0' || (v[strlen(v) - 1] != ' ' && v[strlen(v) - 1] != '\t');
}

/* Drops the parser's "origin:line: " from a message meant for the page. */
static void
strip_origin(struct kc_error *err, const char *origin)
{
	size_t olen = strlen(origin);
	char *p;

	if (err == NULL || strncmp(err->msg, origin, olen) != 0 ||
	    err->msg[olen] != ':')
		return;
	p = err->msg + olen + 1;
	p += strspn(p, "0123456789");
	if (strncmp(p, ": ", 2) == 0)
		memmove(err->msg, p + 2, strlen(p + 2) + 1);
}

int
kc_settings_file_format(const struct kc_settings_values *v, const char *who,
    struct kc_buf *out, struct kc_error *err)
{
	const struct {
		enum kc_key key;
		const char *value;
	} lines[] = {
		{ KC_KEY_KEYCRM_API_KEY, v->keycrm_api_key },
		{ KC_KEY_KEYCRM_WAREHOUSE_ID, v->keycrm_warehouse_id },
		{ KC_KEY_SUBTRACT_RESERVE, v->subtract_reserve },
		{ KC_KEY_MANAGE_STOCK, v->manage_stock },
		{ KC_KEY_WOO_CONSUMER_KEY, v->woo_consumer_key },
		{ KC_KEY_WOO_CONSUMER_SECRET, v->woo_consumer_secret },
		{ KC_KEY_SHOP_WEBHOOK_SECRET, v->shop_webhook_secret },
	};
	struct kc_config check;
	char when[32];
	int rc = 0;

	kc_format_time(kc_now(), when, sizeof(when));
	rc |= kc_buf_addf(out, "# Saved from the keycrm-sync settings page on %s", when);
	if (who != NULL) {
		/* The user name is the web server's; keep it on the comment line. */
		rc |= kc_buf_adds(out, " by ");
		for (const unsigned char *p = (const unsigned char *)who; *p; p++)
			rc |= kc_buf_add(out, *p < 0x20 || *p == 0x7f ? "?" : (const char *)p, 1);
	}
	rc |= kc_buf_adds(out, ".\n# It overrides these keys of the main configuration file;"
	    " remove a line to use the main file's value.\n");
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const char *name = kc_config_key_name(lines[i].key);
		if (lines[i].value == NULL)
			continue;
		if (!one_line(lines[i].value)) {
			kc_error_set(err, "%s must be one line of text without spaces around it",
			    name);
			return -1;
		}
		rc |= kc_buf_addf(out, "%s = %s\n", name, lines[i].value);
	}
	if (rc != 0) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	kc_config_defaults(&check);
	rc = kc_config_parse(&check, out->data, out->len, KC_SETTINGS_FILE, 1, err);
	kc_config_free(&check);
	if (rc != 0)
		strip_origin(err, KC_SETTINGS_FILE);
	return rc;
}

/* Writes text to a new temporary file in dir; its name goes to *tmp. */
static int
write_temp(const char *dir, const struct kc_buf *text, char **tmp,
    struct kc_error *err)
{
	int fd;

	if (asprintf(tmp, "%s/.%s.XXXXXX", dir, KC_SETTINGS_FILE) < 0) {
		*tmp = NULL;
		kc_error_set(err, "out of memory");
		return -1;
	}
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		kc_error_set(err, "cannot create a file in %s: %s", dir, strerror(errno));
		free(*tmp);
		*tmp = NULL;
		return -1;
	}
	if (fchmod(fd, 0600) != 0 || kc_write_all(fd, text->data, text->len) != 0 ||
	    fsync(fd) != 0) {
		kc_error_set(err, "cannot write %s: %s", *tmp, strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd) != 0) {
		kc_error_set(err, "cannot write %s: %s", *tmp, strerror(errno));
		return -1;
	}
	return 0;
}

int
kc_settings_file_write(const char *state_dir, const struct kc_settings_values *v,
    const char *who, struct kc_error *err)
{
	struct kc_buf text;
	char *tmp = NULL, *path = NULL;
	int dfd, rc = -1;

	kc_buf_init(&text);
	if (kc_settings_file_format(v, who, &text, err) != 0)
		goto out;
	if (asprintf(&path, "%s/%s", state_dir, KC_SETTINGS_FILE) < 0) {
		path = NULL;
		kc_error_set(err, "out of memory");
		goto out;
	}
	if (write_temp(state_dir, &text, &tmp, err) != 0)
		goto out;
	kc_crash_point("settings-before-rename");
	if (rename(tmp, path) != 0) {
		kc_error_set(err, "cannot replace %s: %s", path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	/* The rename itself is durable only once the directory is. */
	dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		kc_error_set(err, "%s: cannot flush the directory: %s", state_dir,
		    strerror(errno));
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	close(dfd);
	rc = 0;
out:
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(path);
	/* The text may hold the API key. */
	kc_wipe(text.data, text.cap);
	kc_buf_free(&text);
	return rc;
}
