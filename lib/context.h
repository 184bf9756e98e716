/*
 * context.h - what a worker keeps from one request to the next.
 *
 * A FastCGI worker serves thousands of requests; parsing the
 * configuration and opening the state database for each cost more than
 * the webhook's own work.  The context keeps the parsed configuration and
 * the store connection (with its prepared statements) and checks, on
 * every request, that neither the configuration file nor the settings the
 * page saved (state_dir/settings.conf) has changed: device, inode, size
 * and modification time.  A change of any is a reload before the request
 * is served, so a rotated secret is never checked against the old one.
 * As plain CGI the context lives for one request: the same code, paid once.
 */
#ifndef KC_CONTEXT_H
#define KC_CONTEXT_H

#include <limits.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "store.h"

/* What tells a file's version apart. */
struct kc_file_stamp {
	int exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct kc_context {
	char path[PATH_MAX];		/* the configuration file loaded */
	int loaded;
	struct kc_config cfg;
	struct kc_file_stamp main_stamp, settings_stamp;
	int store_open;
	struct kc_store st;
	char store_dir[PATH_MAX];	/* the state_dir st was opened in */
	double settings_saved_at;	/* MariaDB: of the settings laid over cfg */
	unsigned long reloads;		/* for the tests and the figures */
};

void kc_context_init(struct kc_context *ctx);
/* Closes the store and wipes the configuration. */
void kc_context_free(struct kc_context *ctx);

/*
 * The configuration in path, loaded again when it or its settings.conf
 * changed since the last call.  -1 when it cannot be loaded (err says why);
 * KC_CONTEXT_STORE_DOWN when the file is fine but the settings saved in
 * the shared database cannot be read (the database is down: a request
 * waits for it, 503, rather than run without them).  Then nothing is kept.
 */
#define KC_CONTEXT_STORE_DOWN (-2)
int kc_context_config(struct kc_context *ctx, const char *path,
    const struct kc_config **cfg, struct kc_error *err);

/* The store of the configuration last loaded, opened on first use. */
int kc_context_store(struct kc_context *ctx, struct kc_store **st,
    struct kc_error *err);

/* Closes the store (before a fork: a connection must not cross one). */
void kc_context_close_store(struct kc_context *ctx);

#endif
