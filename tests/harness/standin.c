/*
 * standin.c: the test harness's own fixture, a stand-in for the real
 * programs (webhook.cgi, sync.cgi, settings.cgi).
 *
 * It lets tests/harness/test_servers.py check the web-server plumbing
 * (which variables arrive, whether the body arrives whole, what the server
 * hides) independently of the real programs, which are still being written.
 * Like them it works both as plain CGI and as a FastCGI worker, chosen by
 * FCGX_IsCGI().
 *
 * Answer: text/plain, one "NAME=value" line per variable that is set,
 * "!NAME" for one that is not (so empty and unset differ), then
 * "body_length=N", a line "body:" and the body exactly as received.
 *
 * Query parameters (for tests only):
 *   linger=N   after answering, leave a detached child (own session, like
 *              the real webhook's applier) named "standin-linger" that
 *              sleeps N seconds, so tests can check that stopping a server
 *              also ends such children.
 *
 * Build: cc -O1 -Wall -Wextra -o standin standin.c -lfcgi
 */
#define _GNU_SOURCE		/* prctl(PR_SET_NAME) */

#include <fcgiapp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_BODY	(16u * 1024u * 1024u)

/* Request-side I/O, filled by the CGI or the FastCGI transport. */
struct io {
	const char	*(*param)(struct io *, const char *);
	size_t		 (*read)(struct io *, char *, size_t);
	void		 (*write)(struct io *, const char *, size_t);
	FCGX_Request	*fr;
	const char	*mode;
};

static const char *
cgi_param(struct io *io, const char *name)
{
	(void)io;
	return getenv(name);
}

static size_t
cgi_read(struct io *io, char *buf, size_t len)
{
	(void)io;
	return fread(buf, 1, len, stdin);
}

static void
cgi_write(struct io *io, const char *buf, size_t len)
{
	(void)io;
	fwrite(buf, 1, len, stdout);
}

static const char *
fcgi_param(struct io *io, const char *name)
{
	return FCGX_GetParam(name, io->fr->envp);
}

static size_t
fcgi_read(struct io *io, char *buf, size_t len)
{
	int n = FCGX_GetStr(buf, (int)len, io->fr->in);

	return n > 0 ? (size_t)n : 0;
}

static void
fcgi_write(struct io *io, const char *buf, size_t len)
{
	FCGX_PutStr(buf, (int)len, io->fr->out);
}

static void
out(struct io *io, const char *fmt, ...)
{
	char	 line[4096];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	io->write(io, line, (size_t)n);
}

static void
show(struct io *io, const char *name, const char *value)
{
	if (value == NULL)
		out(io, "!%s\n", name);
	else
		out(io, "%s=%s\n", name, value);
}

/* Digits only, no sign; missing or empty means 0.  -1 on garbage. */
static long
content_length(const char *s)
{
	char	*end;
	long	 v;

	if (s == NULL || *s == '\0')
		return 0;
	if (strspn(s, "0123456789") != strlen(s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || (unsigned long)v > MAX_BODY)
		return -1;
	return v;
}

/* Value of "name=" in a query string, as a number; 0 if absent. */
static int
query_number(const char *qs, const char *name)
{
	size_t	 len = strlen(name);
	const char *p = qs;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, len) == 0 && p[len] == '=')
			return atoi(p + len + 1);
		p = strchr(p, '&');
		if (p != NULL)
			p++;
	}
	return 0;
}

/* A child in its own session that outlives the request, as the real
 * webhook's applier does under plain CGI. */
static void
linger(int seconds)
{
	pid_t	 pid;
	int	 fd;

	if (seconds <= 0)
		return;
	pid = fork();
	if (pid != 0)
		return;
	setsid();
	prctl(PR_SET_NAME, "standin-linger");
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	sleep((unsigned int)seconds);
	_exit(0);
}

static int
handle(struct io *io)
{
	static const char *names[] = {
		"REQUEST_METHOD", "QUERY_STRING", "CONTENT_LENGTH",
		"CONTENT_TYPE", "KEYCRM_SYNC_CONFIG", "REMOTE_USER",
		"HTTP_AUTHORIZATION", "HTTP_X_WEBHOOK_SECRET", "SCRIPT_NAME",
		"PATH_INFO", NULL
	};
	const char	*qs = io->param(io, "QUERY_STRING");
	long		 want = content_length(io->param(io, "CONTENT_LENGTH"));
	char		*body;
	size_t		 got = 0, n;
	int		 i;

	if (want < 0) {
		out(io, "Status: 400 Bad Request\r\n"
		    "Content-Type: text/plain\r\n\r\nbad CONTENT_LENGTH\n");
		return 0;
	}
	body = malloc((size_t)want + 1);
	if (body == NULL)
		return -1;
	while (got < (size_t)want &&
	    (n = io->read(io, body + got, (size_t)want - got)) > 0)
		got += n;

	out(io, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n");
	out(io, "standin\nmode=%s\npid=%ld\n", io->mode, (long)getpid());
	for (i = 0; names[i] != NULL; i++)
		show(io, names[i], io->param(io, names[i]));
	/* Process environment, whatever the transport: what spawn-fcgi,
	 * fcgiwrap or Apache's SetEnv gave the process itself. */
	show(io, "ENV_HARNESS_PROBE", getenv("HARNESS_PROBE"));
	out(io, "body_length=%zu\nbody:\n", got);
	io->write(io, body, got);
	free(body);
	return query_number(qs, "linger");
}

int
main(void)
{
	FCGX_Request	 fr;
	struct io	 io = { cgi_param, cgi_read, cgi_write, NULL, "cgi" };
	int		 lingering;

	if (FCGX_IsCGI()) {
		lingering = handle(&io);
		fflush(stdout);
		fclose(stdout);
		linger(lingering);
		return 0;
	}
	if (FCGX_Init() != 0 || FCGX_InitRequest(&fr, 0, 0) != 0)
		return 1;
	io = (struct io){ fcgi_param, fcgi_read, fcgi_write, &fr, "fastcgi" };
	while (FCGX_Accept_r(&fr) >= 0) {
		lingering = handle(&io);
		FCGX_Finish_r(&fr);
		linger(lingering);
	}
	return 0;
}
