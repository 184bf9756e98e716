/*
 * group_commit.c - see group_commit.h.
 */
#include "group_commit.h"

#include <stdlib.h>
#include <string.h>

/* Webhooks in one commit at most; the rest wait for the next. */
#define GROUP_MAX 64

struct kc_group_entry {
	struct kc_accept a;
	const char *dir;
	int done;
	struct kc_group_entry *next;
};

int
kc_group_init(struct kc_group *g, pthread_mutex_t *serial)
{
	memset(g, 0, sizeof(*g));
	g->serial = serial;
	if (pthread_mutex_init(&g->mu, NULL) != 0)
		return -1;
	if (pthread_cond_init(&g->committed, NULL) != 0) {
		pthread_mutex_destroy(&g->mu);
		return -1;
	}
	return 0;
}

void
kc_group_free(struct kc_group *g)
{
	if (g->open)
		kc_store_close(&g->st);
	g->open = 0;
	pthread_cond_destroy(&g->committed);
	pthread_mutex_destroy(&g->mu);
}

/* The group's connection to dir's database; 0 or -1. */
static int
group_store(struct kc_group *g, const char *dir, struct kc_error *err)
{
	if (g->open && strcmp(g->dir, dir) == 0 && !kc_store_replaced(&g->st))
		return 0;
	if (g->open)
		kc_store_close(&g->st);
	g->open = 0;
	if (strlen(dir) >= sizeof(g->dir)) {
		kc_error_set(err, "state_dir is too long");
		return -1;
	}
	if (kc_store_open(&g->st, dir, err) != 0)
		return -1;
	kc_strlcpy(g->dir, dir, sizeof(g->dir));
	g->open = 1;
	return 0;
}

/*
 * The leader's part, entered and left with g->mu held: every entry
 * waiting for the first one's directory, committed at once.
 */
static void
lead(struct kc_group *g)
{
	struct kc_accept *batch[GROUP_MAX];
	struct kc_group_entry *taken[GROUP_MAX], **pp = &g->head;
	const char *dir = g->head->dir;
	struct kc_error err = { { 0 } };
	size_t n = 0;
	int rc;

	g->leading = 1;
	while (*pp != NULL && n < GROUP_MAX) {
		struct kc_group_entry *e = *pp;

		if (strcmp(e->dir, dir) != 0) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		taken[n] = e;
		batch[n++] = &e->a;
	}
	pthread_mutex_unlock(&g->mu);

	rc = group_store(g, dir, &err);
	if (rc == 0)
		rc = kc_store_accept_group(&g->st, batch, n, &err);
	if (rc != 0 && g->open && strstr(err.msg, "is locked") == NULL) {
		/* Start afresh next time rather than keep a broken connection. */
		kc_store_close(&g->st);
		g->open = 0;
	}

	pthread_mutex_lock(&g->mu);
	for (size_t i = 0; i < n; i++) {
		if (rc != 0) {
			taken[i]->a.rc = -1;
			taken[i]->a.err = err;
		}
		taken[i]->done = 1;
	}
	if (rc == 0) {
		g->commits++;
		g->accepted += n;
	}
	g->leading = 0;
	pthread_cond_broadcast(&g->committed);
}

int
kc_group_accept(struct kc_group *g, const char *state_dir,
    const struct kc_stock_report *r, size_t n, double now,
    const struct kc_history *h, struct kc_error *err)
{
	struct kc_group_entry e, **pp;

	memset(&e, 0, sizeof(e));
	e.a.reports = r;
	e.a.n = n;
	e.a.now = now;
	e.a.history = h;
	e.dir = state_dir;

	pthread_mutex_unlock(g->serial);
	pthread_mutex_lock(&g->mu);
	for (pp = &g->head; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = &e;
	while (!e.done) {
		if (!g->leading)
			lead(g);
		else
			pthread_cond_wait(&g->committed, &g->mu);
	}
	pthread_mutex_unlock(&g->mu);
	pthread_mutex_lock(g->serial);
	if (e.a.rc != 0)
		*err = e.a.err;
	return e.a.rc;
}
