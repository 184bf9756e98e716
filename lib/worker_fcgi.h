/*
 * worker_fcgi.h - what worker.c and worker_fcgi.c share; nothing else
 * uses it.
 */
#ifndef KC_WORKER_FCGI_H
#define KC_WORKER_FCGI_H

#include "worker.h"

/* KEYCRM_SYNC_THREADS: requests one FastCGI worker serves at once. */
#define KC_WORKER_THREADS_DEFAULT 4
#define KC_WORKER_THREADS_MAX 64

/* One request: read, handled by prog, answered; job says what is left. */
void kc_worker_serve_one(const struct kc_program *prog,
    const struct kc_transport *io, struct kc_context *ctx,
    struct kc_group *group, struct kc_job *job);
/* What a handler left to do once its answer is complete. */
void kc_worker_run_jobs(const struct kc_program *prog, const struct kc_job *job);

/* SIGTERM, SIGINT, SIGUSR1: stop after the request at hand. */
void kc_worker_install_stop_handlers(void);
int kc_worker_stopping(void);
/* From inside (max requests served, a thread failed); appliers may finish. */
void kc_worker_stop(void);

/*
 * The FastCGI worker: threads (KEYCRM_SYNC_THREADS) each accepting and
 * serving requests.  Returns 0 when it was asked to stop or has served max
 * requests (0: no limit), 1 when it cannot go on; the supervisor replaces
 * the first kind at once and paces the second.
 */
int kc_worker_serve_fastcgi(const struct kc_program *prog, long max, int threads);

#endif
