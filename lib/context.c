/*
 * context.c - see context.h.
 */
#include "context.h"
#include "db.h"
#include "store_settings.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void
stamp_of(const char *path, struct kc_file_stamp *s)
{
	struct stat sb;

	memset(s, 0, sizeof(*s));
	if (stat(path, &sb) != 0)
		return;
	s->exists = 1;
	s->dev = sb.st_dev;
	s->ino = sb.st_ino;
	s->size = sb.st_size;
	s->mtime = sb.st_mtim;
}

static int
same_stamp(const struct kc_file_stamp *a, const struct kc_file_stamp *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	    a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void
settings_path(const char *state_dir, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/%s", state_dir, KC_SETTINGS_FILE);
}

void
kc_context_init(struct kc_context *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
}

void
kc_context_close_store(struct kc_context *ctx)
{
	if (ctx->store_open)
		kc_store_close(&ctx->st);
	ctx->store_open = 0;
}

static void
forget_config(struct kc_context *ctx)
{
	if (ctx->loaded)
		kc_config_free(&ctx->cfg);
	ctx->loaded = 0;
}

void
kc_context_free(struct kc_context *ctx)
{
	kc_context_close_store(ctx);
	forget_config(ctx);
}

/* Whether what was loaded from path is still what the files say. */
static int
still_current(struct kc_context *ctx, const char *path)
{
	struct kc_file_stamp main_now, settings_now;
	char spath[PATH_MAX];

	if (!ctx->loaded || strcmp(ctx->path, path) != 0)
		return 0;
	stamp_of(path, &main_now);
	settings_path(ctx->cfg.state_dir, spath, sizeof(spath));
	stamp_of(spath, &settings_now);
	return same_stamp(&main_now, &ctx->main_stamp) &&
	    same_stamp(&settings_now, &ctx->settings_stamp);
}

/*
 * With the state in MariaDB the page's settings are saved there, not in
 * state_dir: each request asks when they were last saved (one indexed
 * read), and a change reloads the configuration as a changed file does.
 */
static int
shared_settings_current(struct kc_context *ctx)
{
	struct kc_store *st;
	struct kc_error err;
	double saved_at = 0;
	int rc;

	if (!ctx->loaded || ctx->cfg.mysql_host == NULL)
		return 1;
	if (kc_context_store(ctx, &st, &err) != 0)
		return 0;
	rc = kc_store_settings_saved_at(st, &saved_at);
	if (rc < 0) {
		/* A dropped connection is reopened with the reload. */
		kc_context_close_store(ctx);
		return 0;
	}
	return saved_at == ctx->settings_saved_at;
}

static int
load_shared_settings(struct kc_context *ctx, struct kc_error *err)
{
	struct kc_store *st;

	if (kc_context_store(ctx, &st, err) != 0)
		return KC_CONTEXT_STORE_DOWN;
	if (kc_store_settings_saved_at(st, &ctx->settings_saved_at) < 0) {
		kc_error_set(err, "state database %s: %s", st->path, kc_db_errmsg(st->db));
		kc_context_close_store(ctx);
		return KC_CONTEXT_STORE_DOWN;
	}
	if (kc_store_settings_apply(st, &ctx->cfg, err) != 0)
		return -1;
	kc_log_set_level(ctx->cfg.log_level);
	return 0;
}

int
kc_context_config(struct kc_context *ctx, const char *path,
    const struct kc_config **cfg, struct kc_error *err)
{
	char spath[PATH_MAX];

	*cfg = NULL;
	if (still_current(ctx, path) && shared_settings_current(ctx)) {
		/* kc_config_load() sets the level for what follows; so does this. */
		kc_log_set_level(ctx->cfg.log_level);
		*cfg = &ctx->cfg;
		return 0;
	}
	forget_config(ctx);
	if (strlen(path) >= sizeof(ctx->path)) {
		kc_error_set(err, "the configuration file's path is too long");
		return -1;
	}
	/*
	 * Stamped before reading: a change made while the files are read
	 * makes the next request load them again rather than miss it.
	 */
	stamp_of(path, &ctx->main_stamp);
	if (kc_config_load(&ctx->cfg, path, err) != 0)
		return -1;
	settings_path(ctx->cfg.state_dir, spath, sizeof(spath));
	stamp_of(spath, &ctx->settings_stamp);
	kc_strlcpy(ctx->path, path, sizeof(ctx->path));
	ctx->loaded = 1;
	ctx->reloads++;
	/* The database's address may have changed with the file: reconnect. */
	if (ctx->store_open && (ctx->cfg.mysql_host != NULL ||
	    strcmp(ctx->store_dir, ctx->cfg.state_dir) != 0))
		kc_context_close_store(ctx);
	if (ctx->cfg.mysql_host != NULL) {
		int rc = load_shared_settings(ctx, err);

		if (rc != 0) {
			forget_config(ctx);
			return rc;
		}
	}
	*cfg = &ctx->cfg;
	return 0;
}

int
kc_context_store(struct kc_context *ctx, struct kc_store **st,
    struct kc_error *err)
{
	*st = NULL;
	if (!ctx->loaded) {
		kc_error_set(err, "no configuration is loaded");
		return -1;
	}
	if (ctx->store_open && kc_store_replaced(&ctx->st)) {
		kc_log(KC_LOG_WARN, "%s was removed or replaced; opening it again",
		    ctx->st.path);
		kc_context_close_store(ctx);
	}
	if (!ctx->store_open) {
		if (strlen(ctx->cfg.state_dir) >= sizeof(ctx->store_dir)) {
			kc_error_set(err, "state_dir is too long");
			return -1;
		}
		if (kc_store_open_config(&ctx->st, &ctx->cfg, err) != 0)
			return -1;
		kc_strlcpy(ctx->store_dir, ctx->cfg.state_dir, sizeof(ctx->store_dir));
		ctx->store_open = 1;
	}
	*st = &ctx->st;
	return 0;
}
