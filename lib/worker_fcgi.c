/*
 * worker_fcgi.c - the FastCGI side of the main loop: libfcgi as the
 * request's transport, and the worker's threads.
 *
 * With KEYCRM_SYNC_THREADS = N > 1 a worker serves N requests at once so
 * that KeyCRM's webhooks in flight share one commit (group_commit.h).
 * Everything a request does runs under one serial lock, exactly as in a
 * single-threaded worker, except a webhook's wait for its commit: the
 * threads only overlap there.  Each thread keeps its own context (its
 * configuration and store connection), as a separate worker would.  The
 * jobs that follow an answer (applying the inbox, pushing the shop's
 * changes to KeyCRM, retention) run outside the lock like another
 * worker's would (their locks and the store keep them apart).  N = 1 is
 * the plain single loop.
 */
#include "worker_fcgi.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <fastcgi.h>		/* FCGI_LISTENSOCK_FILENO: the listening socket is fd 0 */
#include <fcgiapp.h>

#include "http.h"

/* FastCGI transport over one FCGX_Request. */
static const char *
fcgi_getenv(void *self, const char *name)
{
	FCGX_Request *r = self;

	return FCGX_GetParam(name, r->envp);
}

/* A receive timeout on the request's connection; 0: none. */
static void
set_read_timeout(FCGX_Request *r, int timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	if (r->ipcFd >= 0)
		(void)setsockopt(r->ipcFd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/*
 * FCGX_GetStr() returns only once it has len bytes or the stream ends, so
 * it is asked for what libfcgi already holds, or for one byte, which makes
 * it read from the connection once: each read() then gives up after the
 * socket's receive timeout (libfcgi takes that error as the end of the
 * stream), and a sender that trickles cannot stretch one call.
 */
static long
fcgi_read(void *self, char *buf, size_t len, int timeout_ms)
{
	FCGX_Request *r = self;
	long held = (long)(r->in->stop - r->in->rdNext);
	int chunk, n;

	if (r->in->isClosed)
		return FCGX_GetError(r->in) == 0 ? 0 : -1;
	chunk = held > 0 ? (int)(held < (long)len ? held : (long)len) : 1;
	if (held <= 0)
		set_read_timeout(r, timeout_ms > 0 ? timeout_ms : 1);
	n = FCGX_GetStr(buf, chunk, r->in);
	if (n == 0 && r->in->isClosed) {
		int e = FCGX_GetError(r->in);
		if (e == EAGAIN || e == EWOULDBLOCK)
			return KC_READ_TIMEOUT;
		return e == 0 ? 0 : -1;
	}
	return n;
}

static int
fcgi_write(void *self, const char *buf, size_t len)
{
	FCGX_Request *r = self;

	while (len > 0) {
		int chunk = len > 1 << 20 ? 1 << 20 : (int)len;
		if (FCGX_PutStr(buf, chunk, r->out) != chunk)
			return -1;
		buf += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

static void
fcgi_transport(struct kc_transport *io, FCGX_Request *fr)
{
	io->getenv = fcgi_getenv;
	io->read = fcgi_read;
	io->write = fcgi_write;
	io->self = fr;
}

/* The single loop (KEYCRM_SYNC_THREADS = 1). */
static int
serve_single(const struct kc_program *prog, long max)
{
	FCGX_Request fr;
	struct kc_transport io;
	struct kc_context ctx;
	struct kc_job job;
	long served = 0;
	int rc = 0;

	if (FCGX_InitRequest(&fr, FCGI_LISTENSOCK_FILENO, 0) != 0) {
		kc_log(KC_LOG_ERROR, "cannot start the FastCGI worker");
		return 1;
	}
	fcgi_transport(&io, &fr);
	kc_context_init(&ctx);
	while (!kc_worker_stopping()) {
		int r = FCGX_Accept_r(&fr);

		if (r < 0) {
			if (!kc_worker_stopping()) {
				kc_log(KC_LOG_ERROR, "cannot accept FastCGI connections: %s",
				    r > -4096 ? strerror(-r) : "libfcgi error");
				rc = 1;
			}
			break;
		}
		kc_worker_serve_one(prog, &io, &ctx, NULL, &job);
		set_read_timeout(&fr, 0);
		FCGX_Finish_r(&fr);
		kc_worker_run_jobs(prog, &job);
		if (max > 0 && ++served >= max)
			break;
	}
	FCGX_Free(&fr, 1);
	kc_context_free(&ctx);
	return rc;
}

/* What the threads of one worker share. */
struct pool {
	const struct kc_program *prog;
	long max, served;
	int live, failed;
	pthread_mutex_t accept_mu;	/* one thread in accept() at a time */
	pthread_mutex_t serial;		/* everything but a commit wait */
	pthread_mutex_t count_mu;
	struct kc_group group;
	/* The thread in accept(), to be woken when the worker stops. */
	pthread_t acceptor;
	volatile sig_atomic_t accepting;
};

/*
 * The jobs after an answer (applying, pushing, retention) run outside the
 * serial lock, as a separate worker would run them: the apply and push
 * locks keep them apart, each thread has its own store connection, and
 * the KeyCRM request window is the store's.  A pusher waits a few seconds
 * and then for the window: the other threads go on answering meanwhile.
 */
static void
thread_jobs(struct pool *p, struct kc_job *job)
{
	if (job->apply || job->push || job->retain)
		kc_worker_run_jobs(p->prog, job);
}

static void *
serve_thread(void *arg)
{
	struct pool *p = arg;
	FCGX_Request fr;
	struct kc_transport io;
	struct kc_context ctx;
	struct kc_job job;

	if (FCGX_InitRequest(&fr, FCGI_LISTENSOCK_FILENO, 0) != 0) {
		kc_log(KC_LOG_ERROR, "cannot start a FastCGI worker thread");
		pthread_mutex_lock(&p->count_mu);
		p->failed = 1;
		p->live--;
		pthread_mutex_unlock(&p->count_mu);
		kc_worker_stop();
		return NULL;
	}
	fcgi_transport(&io, &fr);
	kc_context_init(&ctx);
	while (!kc_worker_stopping()) {
		int r = -1, enough = 0;

		pthread_mutex_lock(&p->accept_mu);
		if (!kc_worker_stopping()) {
			p->acceptor = pthread_self();
			p->accepting = 1;
			r = FCGX_Accept_r(&fr);
			p->accepting = 0;
		}
		pthread_mutex_unlock(&p->accept_mu);
		if (r < 0) {
			if (!kc_worker_stopping()) {
				kc_log(KC_LOG_ERROR, "cannot accept FastCGI connections: %s",
				    r > -4096 ? strerror(-r) : "libfcgi error");
				pthread_mutex_lock(&p->count_mu);
				p->failed = 1;
				pthread_mutex_unlock(&p->count_mu);
				kc_worker_stop();
			}
			break;
		}
		pthread_mutex_lock(&p->serial);
		kc_worker_serve_one(p->prog, &io, &ctx, &p->group, &job);
		set_read_timeout(&fr, 0);
		FCGX_Finish_r(&fr);
		pthread_mutex_unlock(&p->serial);
		thread_jobs(p, &job);
		pthread_mutex_lock(&p->count_mu);
		enough = p->max > 0 && ++p->served >= p->max;
		pthread_mutex_unlock(&p->count_mu);
		if (enough)
			kc_worker_stop();
	}
	FCGX_Free(&fr, 1);
	kc_context_free(&ctx);
	pthread_mutex_lock(&p->count_mu);
	p->live--;
	pthread_mutex_unlock(&p->count_mu);
	return NULL;
}

/* SIGUSR2 only interrupts the accept() of the thread it is sent to. */
static void
on_wake(int sig)
{
	(void)sig;
}

/*
 * Waits for the threads; once the worker is stopping, the one blocked in
 * accept() is woken with SIGUSR2 (no SA_RESTART: accept() returns).  A
 * thread about to call accept() finds the listening descriptor pointed at
 * /dev/null by the handler and returns at once.
 */
static void
wait_threads(struct pool *p)
{
	for (;;) {
		struct timespec ts = { 0, 50 * 1000000L };
		int live;

		pthread_mutex_lock(&p->count_mu);
		live = p->live;
		pthread_mutex_unlock(&p->count_mu);
		if (live == 0)
			return;
		if (kc_worker_stopping() && p->accepting)
			pthread_kill(p->acceptor, SIGUSR2);
		nanosleep(&ts, NULL);
	}
}

static int
serve_threads(const struct kc_program *prog, long max, int n)
{
	struct pool p;
	pthread_t tid[KC_WORKER_THREADS_MAX];
	struct kc_http warm;
	struct kc_error err = { { 0 } };
	int started = 0, rc;

	/* libcurl's global start is not for threads racing to it: once, now. */
	if (kc_http_init(&warm, "WooCommerce", NULL, NULL, &err) != 0) {
		kc_log(KC_LOG_ERROR, "cannot start the FastCGI worker: %s", err.msg);
		return 1;
	}
	kc_http_cleanup(&warm);
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_wake;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR2, &sa, NULL);
	}
	memset(&p, 0, sizeof(p));
	p.prog = prog;
	p.max = max;
	pthread_mutex_init(&p.accept_mu, NULL);
	pthread_mutex_init(&p.serial, NULL);
	pthread_mutex_init(&p.count_mu, NULL);
	if (kc_group_init(&p.group, &p.serial) != 0) {
		kc_log(KC_LOG_ERROR, "cannot start the FastCGI worker");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		pthread_mutex_lock(&p.count_mu);
		p.live++;
		pthread_mutex_unlock(&p.count_mu);
		if ((rc = pthread_create(&tid[i], NULL, serve_thread, &p)) != 0) {
			kc_log(KC_LOG_ERROR, "cannot start a worker thread: %s", strerror(rc));
			pthread_mutex_lock(&p.count_mu);
			p.live--;
			pthread_mutex_unlock(&p.count_mu);
			break;
		}
		started++;
	}
	if (started == 0)
		p.failed = 1;
	wait_threads(&p);
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	if (p.group.commits > 0)
		kc_log(KC_LOG_INFO, "worker: %lu webhooks in %lu commits",
		    p.group.accepted, p.group.commits);
	kc_group_free(&p.group);
	pthread_mutex_destroy(&p.accept_mu);
	pthread_mutex_destroy(&p.serial);
	pthread_mutex_destroy(&p.count_mu);
	return p.failed;
}

int
kc_worker_serve_fastcgi(const struct kc_program *prog, long max, int threads)
{
	kc_crash_point("worker-start");
	if (FCGX_Init() != 0) {
		kc_log(KC_LOG_ERROR, "cannot start the FastCGI worker");
		return 1;
	}
	kc_worker_install_stop_handlers();
	return threads > 1 ? serve_threads(prog, max, threads) : serve_single(prog, max);
}
