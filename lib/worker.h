/*
 * worker.h - the main loop every program shares.
 *
 * One binary runs as plain CGI (one request, then exit), as a FastCGI
 * worker (a loop over FCGX_Accept_r until SIGTERM or max requests), or from
 * a shell.  A handler may leave a job to do after its answer is complete:
 * a FastCGI worker does it before accepting the next request; a plain CGI
 * process hands it to a detached child, because Apache's mod_cgid kills the
 * script itself once the answer is sent.
 *
 * FastCGI settings come from the process environment only:
 * KEYCRM_SYNC_MAX_REQUESTS (a worker exits after that many requests) and
 * KEYCRM_SYNC_WORKERS (N >= 2: the process is a small supervisor that forks
 * N workers on the same socket, replaces those that end and passes
 * SIGTERM/SIGINT on; see supervise() in worker.c) and KEYCRM_SYNC_THREADS
 * (requests each worker serves at once, default 4: KeyCRM's webhooks then
 * share commits; see worker_fcgi.c).
 */
#ifndef KC_WORKER_H
#define KC_WORKER_H

#include <limits.h>

#include "context.h"
#include "group_commit.h"
#include "request.h"

struct kc_job {
	/* What the process keeps across requests (context.h); never NULL. */
	struct kc_context *ctx;
	/*
	 * A threaded FastCGI worker's group commit (group_commit.h); NULL:
	 * the request commits on its own.
	 */
	struct kc_group *group;
	char config_path[PATH_MAX];
	int apply;			/* apply the inbox after answering */
	int retain;			/* then see whether retention is due */
	int push;			/* push the shop's changes to KeyCRM (shop_push.h) */
};

/*
 * One way into a program: which requests it takes, then the steps every
 * request goes through once, in this order, before handle sees it - the
 * method (405 with Allow), the configuration the worker keeps (500, the
 * details in the log), the shared secret when the endpoint has one (503
 * when it is not configured, 403 when the request does not carry it).
 */
struct kc_endpoint {
	/* Whether the request is for this endpoint; NULL: any. */
	int (*matches)(const struct kc_request *req);
	const char *allow;		/* "POST", "GET, POST" */
	/* The secret the request must carry, from the configuration; NULL: none. */
	const char *(*secret)(const struct kc_config *cfg);
	const char *secret_param;	/* ?NAME=... */
	const char *secret_header;	/* or this header, as its CGI variable */
	const char *not_set_up;		/* the 503's words when the secret is not set */
	const char *refused;		/* the log line for a wrong or missing one */
	void (*handle)(struct kc_request *req, const struct kc_config *cfg,
	    struct kc_job *job);
	/* Instead of all the above: a handler that does its own checks. */
	void (*handle_raw)(struct kc_request *req, struct kc_job *job);
};

struct kc_program {
	const char *name;
	/* The endpoints, tried in order; the first that matches serves. */
	const struct kc_endpoint *const *endpoints;
	size_t n_endpoints;
	/* Without endpoints: one handler that does its own checks. */
	void (*handle)(struct kc_request *req, struct kc_job *job);
	void (*run_job)(const struct kc_job *job);
	/* From a shell (no REQUEST_METHOD); returns the exit status. */
	int (*shell)(int argc, char **argv);
};

/* Serves one request through prog's endpoints (or its handler). */
void kc_program_serve(const struct kc_program *prog, struct kc_request *req,
    struct kc_job *job);

int kc_program_main(const struct kc_program *prog, int argc, char **argv);

/*
 * The first steps of a handler: the method (405 with Allow when it is not
 * one of allow, e.g. "POST" or "GET, POST"), then the configuration the
 * worker keeps (500 when it cannot be loaded; the details go to the log).
 * NULL when the request has been answered here.
 */
const struct kc_config *kc_request_config(struct kc_request *req,
    struct kc_job *job, const char *allow);

/* The config file path a request names (or the process's, or default). */
const char *kc_config_path(const struct kc_request *req);

/* The job that applies the inbox (webhook.cgi and sync.cgi share it). */
void kc_job_apply(const struct kc_job *job);
/* Retention of the state (store_retention.h), when it is due. */
void kc_job_retain(const struct kc_job *job);

#endif
