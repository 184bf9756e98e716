/*
 * worker.c - see worker.h.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <fastcgi.h>		/* FCGI_LISTENSOCK_FILENO: the listening socket is fd 0 */
#include <fcgiapp.h>

#include "apply.h"
#include "worker_fcgi.h"
#include "config.h"
#include "http.h"
#include "i18n.h"

/* Bodies up to this size are read to the end even when refused. */
#define DRAIN_MAX (16u << 20)

/* KEYCRM_SYNC_WORKERS: at most this many workers under one supervisor. */
#define MAX_WORKERS 64
/* A failed worker is replaced at once while the budget lasts (one per
 * worker), then at this pace: a crash loop costs a fork a second, no more. */
#define RESTART_INTERVAL_MS 1000

const char *
kc_config_path(const struct kc_request *req)
{
	const char *p = req ? kc_request_env(req, KC_CONFIG_ENV) : NULL;

	if (p == NULL || *p == '\0')
		p = getenv(KC_CONFIG_ENV);
	if (p == NULL || *p == '\0')
		p = KC_CONFIG_DEFAULT_PATH;
	return p;
}

/* Whether method is one of the comma-separated names in allow. */
static int
method_allowed(const char *method, const char *allow)
{
	size_t n = strlen(method);

	for (const char *p = allow; *p != '\0'; p += strspn(p, ", ")) {
		size_t len = strcspn(p, ", ");
		if (len == n && strncmp(p, method, n) == 0)
			return 1;
		p += len;
	}
	return 0;
}

const struct kc_config *
kc_request_config(struct kc_request *req, struct kc_job *job, const char *allow)
{
	const struct kc_config *cfg;
	struct kc_error err = { { 0 } };
	int rc;

	if (!method_allowed(req->method, allow)) {
		kc_respond_method_not_allowed(req, allow);
		return NULL;
	}
	rc = kc_context_config(job->ctx, job->config_path, &cfg, &err);
	if (rc == KC_CONTEXT_STORE_DOWN) {
		kc_log(KC_LOG_ERROR, "%s", err.msg);
		kc_respond_error(req, 503, _("the state database cannot be reached right now; "
		    "nothing was changed, please try again"));
		return NULL;
	}
	if (rc != 0) {
		kc_log(KC_LOG_ERROR, "configuration error: %s", err.msg);
		kc_respond_error(req, 500,
		    _("configuration error; the details are in the web server's error log"));
		return NULL;
	}
	/* Now the configuration can name a language: the `language` key wins. */
	kc_i18n_for_request(cfg->language, kc_request_env(req, "HTTP_ACCEPT_LANGUAGE"));
	return cfg;
}

/* What a handler left to do once its answer is complete. */
void
kc_worker_run_jobs(const struct kc_program *prog, const struct kc_job *job)
{
	if ((job->apply || job->push) && prog->run_job != NULL)
		prog->run_job(job);
	if (job->apply || job->retain)
		kc_job_retain(job);
}

static volatile sig_atomic_t stop_requested;
static int devnull_fd = -1;

/*
 * libfcgi checks its shutdown flag and then calls accept(): a signal that
 * lands between the two would leave an idle worker waiting for one more
 * connection (under systemd, until the stop timeout kills it).  Pointing
 * the listening descriptor at /dev/null makes that accept() fail at once;
 * the number stays taken, so no file opened later can become "fd 0".  The
 * listening socket itself stays open in the other workers and the server.
 */
static void
on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
	kc_apply_stop = 1;
	FCGX_ShutdownPending();
	if (devnull_fd >= 0)
		(void)dup2(devnull_fd, FCGI_LISTENSOCK_FILENO);
}

int
kc_worker_stopping(void)
{
	return stop_requested;
}

void
kc_worker_stop(void)
{
	/* As the handler does, but an applier at work may finish. */
	stop_requested = 1;
	FCGX_ShutdownPending();
	if (devnull_fd >= 0)
		(void)dup2(devnull_fd, FCGI_LISTENSOCK_FILENO);
}

/* No SA_RESTART: accept() must return so that the loop can end. */
void
kc_worker_install_stop_handlers(void)
{
	struct sigaction sa;

	if (devnull_fd < 0)
		devnull_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void
kc_worker_serve_one(const struct kc_program *prog, const struct kc_transport *io,
    struct kc_context *ctx, struct kc_group *group, struct kc_job *job)
{
	struct kc_request req;
	struct kc_error err = { { 0 } };

	memset(job, 0, sizeof(*job));
	job->ctx = ctx;
	job->group = group;
	/* A worker's thread keeps its last choice: every request makes its own. */
	kc_i18n_select(NULL, NULL);
	if (kc_request_begin(&req, io, &err) != 0) {
		kc_respond_error(&req, 400, err.msg);
	} else {
		/* The browser's choice, until the configuration is read. */
		kc_i18n_select(NULL, kc_request_env(&req, "HTTP_ACCEPT_LANGUAGE"));
		kc_strlcpy(job->config_path, kc_config_path(&req),
		    sizeof(job->config_path));
		kc_program_serve(prog, &req, job);
		if (!req.responded)
			kc_respond_error(&req, 500, "no answer");
	}
	kc_request_drain(&req, DRAIN_MAX);
	kc_request_end(&req);
}

/*
 * The request's variables stay with the request: QUERY_STRING holds
 * ?secret=, HTTP_X_WEBHOOK_SECRET the header form, and a process that
 * lives on should not carry them (its environment is readable in /proc by
 * the same user for as long as it runs).  Only the program's own
 * settings and PATH are kept; the job names its configuration file.
 */
static void
keep_own_environment(void)
{
	extern char **environ;
	size_t n = 0;

	/* /proc/PID/environ shows the block the process started with, not
	 * environ: what goes is overwritten there. */
	for (char **e = environ; *e != NULL; e++) {
		if (strncmp(*e, "KEYCRM_SYNC_", 12) == 0 || strncmp(*e, "PATH=", 5) == 0 ||
		    strncmp(*e, "TZ=", 3) == 0)
			environ[n++] = *e;
		else
			kc_wipe(*e, strlen(*e));
	}
	environ[n] = NULL;
}

/*
 * Plain CGI: an applier at work takes the reports just stored too (it
 * loops until no untried report is left), so a process is forked only
 * when the apply lock is free.
 */
static int
job_worth_a_process(struct kc_context *ctx, const struct kc_job *job)
{
	const struct kc_config *cfg;
	struct kc_error err = { { 0 } };

	if (kc_context_config(ctx, job->config_path, &cfg, &err) != 0)
		return 1;	/* the child says why */
	return kc_apply_lock_free(cfg);
}

/*
 * Plain CGI: the answer is complete once this process exits, so the job
 * goes to a grandchild in its own session with no descriptor shared with
 * the server; the middle child exits at once so nothing is left a zombie.
 */
static void
run_detached(const struct kc_program *prog, const struct kc_job *job)
{
	pid_t pid = fork();

	if (pid < 0) {
		kc_log(KC_LOG_WARN, "cannot fork the applier (%s); the reports stay queued",
		    strerror(errno));
		return;
	}
	if (pid > 0) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return;
	}
	if (setsid() < 0 || fork() != 0)
		_exit(0);
	keep_own_environment();
	{
		struct rlimit rl;
		int fd = open("/dev/null", O_RDWR);
		int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 65536 ?
		    (int)rl.rlim_cur : 1024;

		for (int i = 0; i < 3; i++)
			if (fd >= 0 && fd != i)
				dup2(fd, i);
		for (int i = 3; i < max; i++)
			close(i);
	}
	kc_worker_run_jobs(prog, job);
	_exit(0);
}

/*
 * A whole number from the process environment (never from a request), or
 * def when unset; -1 (and a log line) when it is not one in [min, max]: a
 * worker refuses to start rather than guess.
 */
static long
env_number(const char *name, long min, long max, long def)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (v == NULL || *v == '\0')
		return def;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || strspn(v, "0123456789") != strlen(v) ||
	    n < min || n > max) {
		kc_log(KC_LOG_ERROR, "%s must be a whole number from %ld to %ld",
		    name, min, max);
		return -1;
	}
	return n;
}

/*
 * The pre-fork supervisor (KEYCRM_SYNC_WORKERS=N, N >= 2).
 *
 * Why: systemd or spawn-fcgi start one process per socket, and a webhook
 * worker goes on applying the inbox after its answer (up to
 * sync_max_seconds), so a single process would leave KeyCRM's next
 * webhook waiting.  Here the process started on the socket forks N
 * workers that all accept on fd 0 (the kernel hands each connection to one
 * of them), replaces a worker that ends (after KEYCRM_SYNC_MAX_REQUESTS, or
 * a crash), passes SIGTERM/SIGINT on and exits once they all have.
 *
 * Signals are blocked and taken with sigtimedwait(), so there is no
 * handler and no race between "a worker ended" and "wait for the next
 * event".  Workers are plain fork()s without exec: a new binary takes
 * effect when the service is restarted.
 */

/* In a new worker: its own signal handling, then the caller's mask back. */
static void
become_worker(const sigset_t *mask, pid_t supervisor)
{
#ifdef PR_SET_PDEATHSIG
	/* If the supervisor is killed outright, its workers stop too rather
	 * than serve on unsupervised. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == 0 && getppid() != supervisor)
		_exit(0);
#else
	(void)supervisor;
#endif
	kc_worker_install_stop_handlers();
	sigprocmask(SIG_SETMASK, mask, NULL);
}

static void
log_worker_end(pid_t pid, int status)
{
	if (WIFSIGNALED(status))
		kc_log(KC_LOG_WARN, "worker %ld was killed by signal %d; replacing it",
		    (long)pid, WTERMSIG(status));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		kc_log(KC_LOG_WARN, "worker %ld exited with status %d; replacing it",
		    (long)pid, WEXITSTATUS(status));
}

/*
 * Returns -1 in a forked worker, which then goes on to serve; in the
 * supervisor it returns only once every worker has ended, with the
 * process's exit status.
 */
static int
supervise(int n)
{
	pid_t pid[MAX_WORKERS] = { 0 };
	int failed[MAX_WORKERS] = { 0 };	/* this slot's worker failed */
	pid_t self = getpid();
	sigset_t events, mask;
	long budget = n;			/* failed workers replaced at once */
	int64_t earned = kc_monotonic_ms();	/* when budget last grew */
	int live = 0, stopping = 0, warned = 0;

	sigemptyset(&events);
	sigaddset(&events, SIGCHLD);
	sigaddset(&events, SIGTERM);
	sigaddset(&events, SIGINT);
	sigprocmask(SIG_BLOCK, &events, &mask);
	/* An inherited SIG_IGN would have the kernel reap workers unseen. */
	signal(SIGCHLD, SIG_DFL);
	kc_log(KC_LOG_INFO, "supervisor: starting %d workers", n);

	for (;;) {
		struct timespec ts, *timeout = NULL;
		int64_t now;
		int status, sig;
		pid_t p;

		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			for (int i = 0; i < n; i++) {
				if (pid[i] != p)
					continue;
				pid[i] = 0;
				live--;
				failed[i] = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
				if (!stopping)
					log_worker_end(p, status);
			}
		}
		if (stopping) {
			if (live == 0) {
				kc_log(KC_LOG_INFO, "supervisor: all workers have stopped");
				return 0;
			}
		} else {
			/* The budget grows back by one per interval, up to n. */
			now = kc_monotonic_ms();
			if (budget >= n || now - earned >= RESTART_INTERVAL_MS) {
				if (budget < n)
					budget++;
				earned = now;
			}
			for (int i = 0; i < n; i++) {
				if (pid[i] != 0)
					continue;
				/* A worker that ended well (served its share of
				 * requests) is replaced at once; a failed one
				 * only while the budget lasts. */
				if (failed[i]) {
					if (budget == 0) {
						if (!warned)
							kc_log(KC_LOG_WARN, "supervisor: workers keep failing; replacing one a second");
						warned = 1;
						continue;
					}
					budget--;
				}
				p = fork();
				if (p == 0) {
					become_worker(&mask, self);
					return -1;
				}
				if (p < 0) {
					kc_log(KC_LOG_ERROR, "supervisor: cannot fork a worker: %s",
					    strerror(errno));
					failed[i] = 1;
					continue;
				}
				pid[i] = p;
				failed[i] = 0;
				live++;
			}
			if (budget == n)
				warned = 0;
			if (live < n) {
				int64_t wait = RESTART_INTERVAL_MS - (now - earned);

				if (wait < 1)
					wait = 1;
				ts.tv_sec = (time_t)(wait / 1000);
				ts.tv_nsec = (long)(wait % 1000) * 1000000L;
				timeout = &ts;
			}
		}
		sig = timeout ? sigtimedwait(&events, NULL, timeout) : sigwaitinfo(&events, NULL);
		if (sig == SIGTERM || sig == SIGINT) {
			if (!stopping)
				kc_log(KC_LOG_INFO, "supervisor: stopping %d workers", live);
			stopping = 1;
			for (int i = 0; i < n; i++)
				if (pid[i] != 0)
					kill(pid[i], sig);
		}
	}
}

/*
 * The programs hold every secret in memory (the configuration, the keys
 * in request headers): a core dump would write them to disk, readable by
 * whoever collects dumps.  No core file, and not dumpable, which also
 * keeps other processes of the same user from reading this one's memory
 * through /proc or ptrace.
 */
static void
no_core_dumps(void)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		kc_log(KC_LOG_WARN, "cannot turn core dumps off: %s", strerror(errno));
#ifdef PR_SET_DUMPABLE
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		kc_log(KC_LOG_WARN, "cannot mark the process not dumpable: %s",
		    strerror(errno));
#endif
}

int
kc_program_main(const struct kc_program *prog, int argc, char **argv)
{
	struct kc_transport io;
	struct kc_context ctx;
	struct kc_job job;
	long max = 0, threads = 1;
	int fastcgi, rc;

	kc_log_set_program(prog->name);
	umask(027);
	no_core_dumps();
	{
		long secs = env_number("KEYCRM_SYNC_BODY_SECONDS", 1, 3600,
		    KC_BODY_SECONDS_DEFAULT);
		if (secs < 0)
			return 2;
		kc_request_set_body_seconds(secs);
	}
	fastcgi = !FCGX_IsCGI();
	if (fastcgi) {
		long n = env_number("KEYCRM_SYNC_WORKERS", 1, MAX_WORKERS, 1);

		max = env_number("KEYCRM_SYNC_MAX_REQUESTS", 0, 1000000000L, 0);
		threads = env_number("KEYCRM_SYNC_THREADS", 1, KC_WORKER_THREADS_MAX,
		    KC_WORKER_THREADS_DEFAULT);
		if (n < 0 || max < 0 || threads < 0)
			return 2;
		/* The supervisor stays small: no libcurl, no request. */
		if (n > 1 && (rc = supervise((int)n)) >= 0)
			return rc;
	}
	if (fastcgi) {
		rc = kc_worker_serve_fastcgi(prog, max, (int)threads);
	} else if (getenv("REQUEST_METHOD") == NULL) {
		rc = prog->shell ? prog->shell(argc, argv) : 2;
	} else {
		kc_context_init(&ctx);
		kc_transport_cgi(&io);
		kc_worker_serve_one(prog, &io, &ctx, NULL, &job);
		rc = 0;
		/* A connection must not cross a fork: the child opens its own. */
		kc_context_close_store(&ctx);
		if (job.apply && !job_worth_a_process(&ctx, &job))
			job.apply = 0;
		if (((job.apply || job.push) && prog->run_job != NULL) || job.retain) {
			close(STDOUT_FILENO);
			run_detached(prog, &job);
		}
		kc_context_free(&ctx);
	}
	kc_http_global_cleanup();
	return rc;
}
