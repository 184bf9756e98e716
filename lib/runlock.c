/*
 * runlock.c - see runlock.h.
 */
#include "runlock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lock.h"
#include "store.h"
#include "store_lease.h"

struct kc_runlock {
	int fd;				/* SQLite: the flock'd file */
	struct kc_store st;		/* MariaDB: the lease's own connection */
	struct kc_lease lease;
	pthread_t renewer;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	int stopping;
	atomic_int lost;
};

/* Renews a third of the way through the lease, until told to stop. */
static void *
renew(void *arg)
{
	struct kc_runlock *l = arg;
	struct timespec at;

	pthread_mutex_lock(&l->mu);
	while (!l->stopping) {
		struct kc_error err;
		int rc;

		clock_gettime(CLOCK_REALTIME, &at);
		at.tv_sec += (time_t)(KC_RUNLOCK_LEASE_S / 3);
		if (pthread_cond_timedwait(&l->wake, &l->mu, &at) == 0 ||
		    l->stopping)
			continue;
		rc = kc_lease_renew(&l->st, &l->lease, &err);
		if (rc == KC_LEASE_BUSY) {
			atomic_store(&l->lost, 1);
			kc_log(KC_LOG_ERROR, "lock %s: another server took it over",
			    l->lease.name);
			break;
		}
		if (rc < 0)
			kc_log(KC_LOG_WARN, "lock %s: renewal failed: %s",
			    l->lease.name, err.msg);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

static int
take_lease(struct kc_runlock *l, const struct kc_config *cfg,
    const char *name, long wait_ms, struct kc_error *err)
{
	int64_t until = kc_monotonic_ms() + wait_ms;
	int rc;

	if (kc_store_open_config(&l->st, cfg, err) != 0)
		return -1;
	while ((rc = kc_lease_take(&l->st, &l->lease, name, KC_RUNLOCK_LEASE_S,
	    err)) == KC_LEASE_BUSY && kc_monotonic_ms() < until)
		kc_sleep_ms(100);
	if (rc != 0) {
		kc_store_close(&l->st);
		return rc;
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->wake, NULL);
	if (pthread_create(&l->renewer, NULL, renew, l) != 0) {
		kc_lease_release(&l->st, &l->lease);
		kc_store_close(&l->st);
		kc_error_set(err, "lock %s: cannot start its renewal", name);
		return -1;
	}
	return 0;
}

int
kc_runlock_take(const struct kc_config *cfg, const char *name, long wait_ms,
    struct kc_runlock **out, struct kc_error *err)
{
	struct kc_runlock *l = calloc(1, sizeof(*l));
	char file[80];
	int rc;

	*out = NULL;
	if (!l) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	l->fd = -1;
	if (cfg->mysql_host != NULL) {
		rc = take_lease(l, cfg, name, wait_ms, err);
	} else {
		snprintf(file, sizeof(file), "%s.lock", name);
		rc = kc_lock_take(cfg->state_dir, file, wait_ms, &l->fd, err);
	}
	if (rc != 0) {
		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

int
kc_runlock_lost(const struct kc_runlock *l)
{
	return l != NULL && atomic_load(&((struct kc_runlock *)l)->lost);
}

void
kc_runlock_release(struct kc_runlock *l)
{
	if (l == NULL)
		return;
	if (l->fd >= 0) {
		kc_lock_release(l->fd);
	} else {
		pthread_mutex_lock(&l->mu);
		l->stopping = 1;
		pthread_cond_signal(&l->wake);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->renewer, NULL);
		pthread_cond_destroy(&l->wake);
		pthread_mutex_destroy(&l->mu);
		kc_lease_release(&l->st, &l->lease);
		kc_store_close(&l->st);
	}
	free(l);
}
