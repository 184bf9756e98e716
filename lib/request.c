/*
 * request.c - see request.h.
 */
#include "request.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "i18n.h"

static const char *
cgi_getenv(void *self, const char *name)
{
	(void)self;
	return getenv(name);
}

static long body_seconds = KC_BODY_SECONDS_DEFAULT;

void
kc_request_set_body_seconds(long seconds)
{
	body_seconds = seconds;
}

static long
cgi_read(void *self, char *buf, size_t len, int timeout_ms)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	ssize_t n;
	int r;

	(void)self;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return KC_READ_TIMEOUT;
	if (r < 0)
		return -1;
	do
		n = read(STDIN_FILENO, buf, len);
	while (n < 0 && errno == EINTR);
	return (long)n;
}

static int
cgi_write(void *self, const char *buf, size_t len)
{
	(void)self;
	return kc_write_all(STDOUT_FILENO, buf, len);
}

void
kc_transport_cgi(struct kc_transport *io)
{
	io->getenv = cgi_getenv;
	io->read = cgi_read;
	io->write = cgi_write;
	io->self = NULL;
}

int
kc_request_begin(struct kc_request *req, const struct kc_transport *io,
    struct kc_error *err)
{
	const char *qs;

	memset(req, 0, sizeof(*req));
	req->io = *io;
	req->body_deadline_ms = kc_monotonic_ms() + (int64_t)body_seconds * 1000;
	req->method = kc_request_env(req, "REQUEST_METHOD");
	if (req->method == NULL)
		req->method = "GET";
	req->remote_user = kc_request_env(req, "REMOTE_USER");
	if (req->remote_user != NULL && req->remote_user[0] == '\0')
		req->remote_user = NULL;
	qs = kc_request_env(req, "QUERY_STRING");
	if (qs != NULL && kc_form_parse(&req->query, qs, strlen(qs), err) != 0) {
		kc_error_prefix(err, "query string");
		return -1;
	}
	return 0;
}

void
kc_request_end(struct kc_request *req)
{
	kc_form_free(&req->query);
	/* A form may have carried a key. */
	kc_wipe(req->body, req->body_len);
	free(req->body);
	req->body = NULL;
	req->body_len = 0;
}

const char *
kc_request_env(const struct kc_request *req, const char *name)
{
	return req->io.getenv(req->io.self, name);
}

const char *
kc_request_param(const struct kc_request *req, const char *name)
{
	return kc_form_get(&req->query, name);
}

int
kc_parse_content_length(const char *s, size_t max, size_t *out)
{
	uintmax_t v = 0;
	const char *p;

	*out = 0;
	if (s == NULL || *s == '\0')
		return 1;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (v > (UINTMAX_MAX - 9) / 10)
			return -2;
		v = v * 10 + (uintmax_t)(*p - '0');
	}
	if (v > max)
		return -2;
	*out = (size_t)v;
	return 0;
}

/* One read that gives up at deadline (kc_monotonic_ms()). */
static long
read_until(struct kc_request *req, char *buf, size_t len, int64_t deadline)
{
	int64_t left = deadline - kc_monotonic_ms();

	if (left <= 0)
		return KC_READ_TIMEOUT;
	return req->io.read(req->io.self, buf, len,
	    left > 3600000 ? 3600000 : (int)left);
}

int
kc_request_read_body(struct kc_request *req, size_t max, int required,
    struct kc_error *err)
{
	const char *cl = kc_request_env(req, "CONTENT_LENGTH");
	size_t want, got = 0;
	int rc;

	rc = kc_parse_content_length(cl, max, &want);
	if (rc == 1 && required) {
		kc_error_set(err, _("the request has no Content-Length"));
		return 411;
	}
	if (rc == -1) {
		kc_error_set(err, _("malformed Content-Length"));
		return 400;
	}
	if (rc == -2) {
		kc_error_set(err, _("the body is larger than %zu bytes"), max);
		return 413;
	}
	req->body = malloc(want + 1);
	if (req->body == NULL) {
		kc_error_set(err, _("out of memory for a %zu-byte body"), want);
		return 500;
	}
	while (got < want) {
		long n = read_until(req, req->body + got, want - got,
		    req->body_deadline_ms);
		if (n == KC_READ_TIMEOUT) {
			req->body[got] = '\0';
			req->body_len = got;
			kc_error_set(err, _("the body did not arrive in time (%zu of %zu bytes)"),
			    got, want);
			return 408;
		}
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	req->body[got] = '\0';
	req->body_len = got;
	if (got != want) {
		kc_error_set(err, _("the body ended after %zu of %zu bytes"), got, want);
		return 400;
	}
	return 0;
}

void
kc_request_drain(struct kc_request *req, size_t max)
{
	const char *cl = kc_request_env(req, "CONTENT_LENGTH");
	char buf[16384];
	size_t want, got = 0;
	int64_t deadline = kc_monotonic_ms() + KC_DRAIN_MS;
	int rc;

	if (req->body != NULL)
		return;
	if (deadline > req->body_deadline_ms)
		deadline = req->body_deadline_ms;
	rc = kc_parse_content_length(cl, max, &want);
	if (rc == -1 || rc == -2)
		return;		/* too much to drain: the server's limit applies */
	if (rc == 1)
		want = max;	/* chunked under mod_cgid: read to the end */
	while (got < want) {
		size_t n = want - got < sizeof(buf) ? want - got : sizeof(buf);
		long r = read_until(req, buf, n, deadline);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
}

const char *
kc_status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

void
kc_response_init(struct kc_response *resp, int status, const char *content_type)
{
	resp->status = status;
	kc_buf_init(&resp->headers);
	kc_buf_init(&resp->body);
	if (content_type != NULL)
		kc_response_header(resp, "Content-Type", content_type);
}

void
kc_response_free(struct kc_response *resp)
{
	kc_buf_free(&resp->headers);
	kc_buf_free(&resp->body);
}

int
kc_response_header(struct kc_response *resp, const char *name,
    const char *value)
{
	const char *p;

	for (p = value; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -1;
	for (p = name; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == ':' || *p == 0x7f)
			return -1;
	return kc_buf_addf(&resp->headers, "%s: %s\r\n", name, value);
}

int
kc_response_send(struct kc_request *req, struct kc_response *resp)
{
	struct kc_buf head;
	int rc;

	if (req->responded)
		return -1;
	req->responded = 1;
	kc_buf_init(&head);
	if (kc_buf_addf(&head, "Status: %d %s\r\n", resp->status,
	    kc_status_reason(resp->status)) != 0 ||
	    kc_buf_add(&head, resp->headers.data ? resp->headers.data : "",
	    resp->headers.len) != 0 ||
	    kc_buf_addf(&head, "Content-Length: %zu\r\n\r\n", resp->body.len) != 0 ||
	    kc_buf_add(&head, resp->body.data ? resp->body.data : "",
	    resp->body.len) != 0) {
		kc_buf_free(&head);
		return -1;
	}
	/* A HEAD answer has the headers of a GET but no body. */
	if (strcmp(req->method, "HEAD") == 0)
		head.len -= resp->body.len;
	rc = req->io.write(req->io.self, head.data, head.len);
	kc_buf_free(&head);
	return rc;
}

int
kc_respond_error(struct kc_request *req, int status, const char *msg)
{
	struct kc_response resp;
	json_t *obj;
	char *text;
	int rc;

	kc_response_init(&resp, status, "application/json");
	obj = json_pack("{s:s}", "error", msg);
	if (obj == NULL)	/* msg was not UTF-8: say something generic */
		obj = json_pack("{s:s}", "error", kc_status_reason(status));
	text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	kc_buf_adds(&resp.body, text ? text : "{}");
	kc_buf_adds(&resp.body, "\n");
	free(text);
	json_decref(obj);
	rc = kc_response_send(req, &resp);
	kc_response_free(&resp);
	return rc;
}

int
kc_respond_json(struct kc_request *req, int status, json_t *obj)
{
	struct kc_response resp;
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	int rc;

	kc_response_init(&resp, status, "application/json");
	kc_response_header(&resp, "Cache-Control", "no-store");
	kc_buf_adds(&resp.body, text ? text : "{}");
	kc_buf_adds(&resp.body, "\n");
	rc = kc_response_send(req, &resp);
	kc_response_free(&resp);
	free(text);
	json_decref(obj);
	return rc;
}

int
kc_respond_method_not_allowed(struct kc_request *req, const char *allow)
{
	struct kc_response resp;
	json_t *obj;
	char *text = NULL;
	int rc;

	kc_response_init(&resp, 405, "application/json");
	kc_response_header(&resp, "Allow", allow);
	obj = json_pack("{s:s}", "error", "");
	if (obj != NULL) {
		char msg[96];

		/* TRANSLATORS: %s is a list of HTTP methods, such as "GET, POST". */
		snprintf(msg, sizeof(msg), _("use %s"), allow);
		json_object_set_new(obj, "error", json_string(msg));
		text = json_dumps(obj, JSON_COMPACT);
	}
	kc_buf_adds(&resp.body, text ? text : "{}");
	kc_buf_adds(&resp.body, "\n");
	free(text);
	json_decref(obj);
	rc = kc_response_send(req, &resp);
	kc_response_free(&resp);
	return rc;
}

/* --- where the request came to ------------------------------------------- */

static int
safe_path(const char *s)
{
	if (s == NULL || s[0] != '/' || strlen(s) >= 200 || strstr(s, "//") != NULL)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("/-._~", *s) != NULL))
			return 0;
	return 1;
}

static int
safe_host(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 255)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("-.:[]", *s) != NULL))
			return 0;
	return 1;
}

void
kc_request_locate(const struct kc_request *req, const char *default_path,
    const char *last_segment, const char *default_prefix,
    struct kc_request_origin *out)
{
	const char *script = kc_request_env(req, "SCRIPT_NAME");
	const char *https = kc_request_env(req, "HTTPS");
	const char *scheme = kc_request_env(req, "REQUEST_SCHEME");
	const char *host = kc_request_env(req, "HTTP_HOST");
	const char *port = kc_request_env(req, "SERVER_PORT");
	const char *bracket;
	size_t n, seg = strlen(last_segment);

	memset(out, 0, sizeof(*out));
	kc_strlcpy(out->self, safe_path(script) ? script : default_path, sizeof(out->self));
	n = strlen(out->self);
	if (n > seg && strcmp(out->self + n - seg, last_segment) == 0) {
		kc_strlcpy(out->prefix, out->self, sizeof(out->prefix));
		out->prefix[n - seg] = '\0';
	} else {
		kc_strlcpy(out->prefix, default_prefix, sizeof(out->prefix));
	}
	out->https = (https != NULL && (strcasecmp(https, "on") == 0 ||
	    strcmp(https, "1") == 0)) || (scheme != NULL &&
	    strcasecmp(scheme, "https") == 0);
	if (!safe_host(host))
		host = kc_request_env(req, "SERVER_NAME");
	if (!safe_host(host))
		host = "localhost";
	snprintf(out->origin, sizeof(out->origin), "%s://%s",
	    out->https ? "https" : "http", host);
	bracket = strrchr(host, ']');
	if (strchr(bracket ? bracket : host, ':') == NULL && port != NULL &&
	    strspn(port, "0123456789") == strlen(port) && *port != '\0' &&
	    strcmp(port, out->https ? "443" : "80") != 0) {
		n = strlen(out->origin);
		snprintf(out->origin + n, sizeof(out->origin) - n, ":%s", port);
	}
}
