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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <fcgiapp.h>

#include "apply.h"
#include "config.h"

/* Bodies up to this size are read to the end even when refused. */
#define DRAIN_MAX (16u << 20)

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

void
kc_job_apply(const struct kc_job *job)
{
	struct kc_config cfg;
	struct kc_apply_result res;
	struct kc_error err = { { 0 } };

	if (kc_config_load(&cfg, job->config_path, &err) != 0) {
		kc_log(KC_LOG_ERROR, "configuration error: %s", err.msg);
		return;
	}
	kc_apply_result_init(&res);
	/* Busy means a running applier will take these reports too. */
	if (kc_apply_run(&cfg, 0, -1, &res, &err) < 0)
		kc_log(KC_LOG_ERROR, "cannot apply the inbox: %s", err.msg);
	kc_apply_result_free(&res);
	kc_config_free(&cfg);
}

/* FastCGI transport over one FCGX_Request. */
static const char *
fcgi_getenv(void *self, const char *name)
{
	FCGX_Request *r = self;

	return FCGX_GetParam(name, r->envp);
}

static long
fcgi_read(void *self, char *buf, size_t len)
{
	FCGX_Request *r = self;
	int chunk = len > 1 << 20 ? 1 << 20 : (int)len;

	return FCGX_GetStr(buf, chunk, r->in);
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

static volatile sig_atomic_t stop_requested;

static void
on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
	kc_apply_stop = 1;
	FCGX_ShutdownPending();
}

/* No SA_RESTART: accept() must return so that the loop can end. */
static void
install_stop_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void
serve_one(const struct kc_program *prog, const struct kc_transport *io,
    struct kc_job *job)
{
	struct kc_request req;
	struct kc_error err = { { 0 } };

	memset(job, 0, sizeof(*job));
	if (kc_request_begin(&req, io, &err) != 0) {
		kc_respond_error(&req, 400, err.msg);
	} else {
		kc_strlcpy(job->config_path, kc_config_path(&req),
		    sizeof(job->config_path));
		prog->handle(&req, job);
		if (!req.responded)
			kc_respond_error(&req, 500, "no answer");
	}
	kc_request_drain(&req, DRAIN_MAX);
	kc_request_end(&req);
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
	prog->run_job(job);
	_exit(0);
}

static int
serve_fastcgi(const struct kc_program *prog)
{
	FCGX_Request fr;
	struct kc_transport io;
	struct kc_job job;
	long served = 0, max = 0;
	const char *m = getenv("KEYCRM_SYNC_MAX_REQUESTS");

	if (m != NULL)
		max = strtol(m, NULL, 10);
	if (FCGX_Init() != 0 || FCGX_InitRequest(&fr, 0, 0) != 0) {
		kc_log(KC_LOG_ERROR, "cannot start the FastCGI worker");
		return 1;
	}
	install_stop_handlers();
	io.getenv = fcgi_getenv;
	io.read = fcgi_read;
	io.write = fcgi_write;
	io.self = &fr;
	while (!stop_requested && FCGX_Accept_r(&fr) >= 0) {
		serve_one(prog, &io, &job);
		FCGX_Finish_r(&fr);
		if (job.apply && prog->run_job != NULL)
			prog->run_job(&job);
		if (max > 0 && ++served >= max)
			break;
	}
	FCGX_Free(&fr, 1);
	return 0;
}

int
kc_program_main(const struct kc_program *prog, int argc, char **argv)
{
	struct kc_transport io;
	struct kc_job job;
	int rc;

	kc_log_set_program(prog->name);
	umask(027);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		kc_log(KC_LOG_ERROR, "cannot initialise libcurl");
		return 1;
	}
	if (!FCGX_IsCGI()) {
		rc = serve_fastcgi(prog);
	} else if (getenv("REQUEST_METHOD") == NULL) {
		rc = prog->shell ? prog->shell(argc, argv) : 2;
	} else {
		kc_transport_cgi(&io);
		serve_one(prog, &io, &job);
		rc = 0;
		if (job.apply && prog->run_job != NULL) {
			close(STDOUT_FILENO);
			run_detached(prog, &job);
		}
	}
	curl_global_cleanup();
	return rc;
}
