/*
 * request.h - one interface over the three ways a program is run: plain
 * CGI (environment + stdin/stdout), a FastCGI worker (fcgiapp.h) and a unit
 * test (an in-memory transport).  Handlers only see struct kc_request and
 * struct kc_response, so they never know which one it is.
 */
#ifndef KC_REQUEST_H
#define KC_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "form.h"
#include "util.h"

struct kc_transport {
	/* The request's CGI variable, or NULL. */
	const char *(*getenv)(void *self, const char *name);
	/*
	 * Reads up to len bytes of the body, waiting at most timeout_ms for
	 * the first of them; 0 at its end, -1 on error, KC_READ_TIMEOUT when
	 * nothing came in time.
	 */
	long (*read)(void *self, char *buf, size_t len, int timeout_ms);
	/* Writes all of buf; 0 or -1. */
	int (*write)(void *self, const char *buf, size_t len);
	void *self;
};

#define KC_READ_TIMEOUT (-2)

/*
 * How long a body may take to arrive, from the start of the request
 * (KEYCRM_SYNC_BODY_SECONDS in the process environment; default 30 s).
 * A slow sender must not hold a worker: bodies come from the web server,
 * and under Apache's mod_proxy_fcgi or mod_cgid at the client's pace.
 */
#define KC_BODY_SECONDS_DEFAULT 30
void kc_request_set_body_seconds(long seconds);

/* A refused body is read and dropped for at most this long (see drain). */
#define KC_DRAIN_MS 1000

struct kc_request {
	struct kc_transport io;
	int64_t body_deadline_ms;	/* kc_monotonic_ms() */
	/* Filled once by kc_request_begin(). */
	const char *method;
	struct kc_form query;
	const char *remote_user;
	/* Filled by kc_request_read_body(). */
	char *body;
	size_t body_len;
	int responded;
};

/* Fills the request's fields from its transport; -1 on a bad query string. */
int kc_request_begin(struct kc_request *req, const struct kc_transport *io,
    struct kc_error *err);
void kc_request_end(struct kc_request *req);
const char *kc_request_env(const struct kc_request *req, const char *name);
const char *kc_request_param(const struct kc_request *req, const char *name);

/*
 * The body, read strictly by CONTENT_LENGTH (RFC 3875 4.1.2): digits only,
 * no sign, no overflow.  Servers send it missing (Apache mod_cgid, GET or
 * chunked), empty (nginx, GET) or "0" (mod_fcgid, GET).  Returns 0, or the
 * HTTP status to answer: 411 when required and absent, 413 over max, 400
 * when malformed or short, 408 when it has not arrived by the request's
 * body deadline.  Call it only once the request is known to be wanted
 * (method, secret): a refusal must not wait for a body.
 */
int kc_request_read_body(struct kc_request *req, size_t max, int required,
    struct kc_error *err);

/*
 * Reads and drops a body the handler did not read (up to max bytes, for
 * at most KC_DRAIN_MS), so the server is not left writing into a closed
 * pipe: Apache's mod_cgid then resets the client's connection instead of
 * sending the answer.  A body that trickles in slower than that is left
 * unread: a refused client must not hold the worker.
 */
void kc_request_drain(struct kc_request *req, size_t max);

/* Parses CONTENT_LENGTH: 1 absent/empty, 0 ok, -1 malformed, -2 over max. */
int kc_parse_content_length(const char *s, size_t max, size_t *out);

struct kc_response {
	int status;
	struct kc_buf headers;
	struct kc_buf body;
};

void kc_response_init(struct kc_response *resp, int status,
    const char *content_type);
void kc_response_free(struct kc_response *resp);
/* Adds a header; refuses values with CR, LF or other control bytes. */
int kc_response_header(struct kc_response *resp, const char *name,
    const char *value);
/* Writes status line, headers, Content-Length and body; once per request. */
int kc_response_send(struct kc_request *req, struct kc_response *resp);

/* A JSON error answer {"error": msg} with the given status. */
int kc_respond_error(struct kc_request *req, int status, const char *msg);

/* A JSON answer (not to be cached); consumes obj (a jansson json_t *). */
struct json_t;
int kc_respond_json(struct kc_request *req, int status, struct json_t *obj);

/* 405 with the Allow header, e.g. allow = "GET, POST". */
int kc_respond_method_not_allowed(struct kc_request *req, const char *allow);

const char *kc_status_reason(int status);

/*
 * Where a page is and what the site is called, from the request's CGI
 * variables: its own path (SCRIPT_NAME when it is a plain path, else
 * default_path), the prefix its sibling programs live under (the path
 * without its last segment when that is last_segment, else default_prefix),
 * https, and scheme://host[:port].  The host comes from HTTP_HOST (nginx
 * passes it without the port, so SERVER_PORT adds a port that is not the
 * scheme's default), else SERVER_NAME, else "localhost"; only host
 * characters are taken, so the origin is safe to print in a URL.
 */
struct kc_request_origin {
	char self[256];
	char prefix[256];
	char origin[512];
	int https;
};
void kc_request_locate(const struct kc_request *req, const char *default_path,
    const char *last_segment, const char *default_prefix,
    struct kc_request_origin *out);

/* Transports: plain CGI (process env, fd 0 and 1). */
void kc_transport_cgi(struct kc_transport *io);

#endif
