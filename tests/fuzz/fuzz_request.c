/*
 * fuzz_request.c - the request reader over an in-memory transport:
 * kc_request_begin() (QUERY_STRING), kc_parse_content_length(),
 * kc_request_read_body() (body delivered in odd chunks, sometimes with a
 * read error), kc_request_drain(), and the answer writer with a header
 * value taken from the input (kc_response_header, kc_response_send,
 * kc_respond_error).
 *
 * The limit is one the programs use or smaller (webhook_max_bytes is at
 * most 256 MiB and the body buffer is allocated up front, so a fuzzer
 * asking for it would only measure malloc).
 *
 * Input layout: flags byte, max byte, then '\n'-separated CONTENT_LENGTH
 * ("~" = absent), QUERY_STRING, a header value, and the rest is the body.
 *
 * Properties: CONTENT_LENGTH is read exactly as RFC 3875 says (digits
 * only; compared with a reference parser); the status is 411/400/413/0 as
 * request.h promises; a 0 means the whole declared body was read and is
 * NUL-terminated; the answer is one well-formed CGI header block (no
 * header line the handler did not write: no CR/LF injection), with a
 * Content-Length equal to the body's length.
 */
#include <limits.h>

#include "fuzz.h"
#include "request.h"

FUZZ_QUIET_INIT

struct fake {
	const char *cl, *qs, *method;
	const char *body;
	size_t len, pos;
	size_t chunk;
	int fail;		/* return -1 once half the body was read */
	struct kc_buf out;
};

static const char *
fake_getenv(void *self, const char *name)
{
	struct fake *f = self;

	if (strcmp(name, "CONTENT_LENGTH") == 0)
		return f->cl;
	if (strcmp(name, "QUERY_STRING") == 0)
		return f->qs;
	if (strcmp(name, "REQUEST_METHOD") == 0)
		return f->method;
	return NULL;
}

static long
fake_read(void *self, char *buf, size_t len, int timeout_ms)
{
	struct fake *f = self;
	size_t n = f->len - f->pos;

	(void)timeout_ms;		/* in memory: never waits */
	if (f->fail && f->pos >= f->len / 2 && f->pos < f->len)
		return -1;
	if (n > len)
		n = len;
	if (n > f->chunk)
		n = f->chunk;
	memcpy(buf, f->body + f->pos, n);
	f->pos += n;
	return (long)n;
}

static int
fake_write(void *self, const char *buf, size_t len)
{
	struct fake *f = self;

	return kc_buf_add(&f->out, buf, len);
}

/* Whether the fake transport hands over want bytes before an error or EOF. */
static int
delivers(const struct fake *f, size_t want)
{
	size_t pos = 0;

	while (pos < want) {
		size_t n = f->len - pos;

		if (f->fail && pos >= f->len / 2 && pos < f->len)
			return 0;
		if (n > want - pos)
			n = want - pos;
		if (n > f->chunk)
			n = f->chunk;
		if (n == 0)
			return 0;
		pos += n;
	}
	return 1;
}

/* RFC 3875 4.1.2 as request.h states it: 1 absent, -1 bad, -2 over max. */
static int
ref_content_length(const char *s, size_t max, size_t *out)
{
	unsigned __int128 v = 0;

	*out = 0;
	if (s == NULL || *s == '\0')
		return 1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned)(*p - '0');
		if (v > (unsigned __int128)SIZE_MAX)
			v = (unsigned __int128)SIZE_MAX + 1;	/* saturate */
	}
	if (v > max)
		return -2;
	*out = (size_t)v;
	return 0;
}

/* The digits CONTENT_LENGTH starts with already exceed max. */
static int
leading_digits_over(const char *s, size_t max)
{
	unsigned __int128 v = 0;

	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return 1;
	}
	return 0;
}

/* Checks one CGI answer: a status line, Name: value lines, a blank line. */
static void
check_answer(const struct kc_buf *out, int head)
{
	const char *p = out->data, *end, *body;
	size_t declared = (size_t)-1;
	int lines = 0;

	FUZZ_CHECK(p != NULL);
	end = strstr(p, "\r\n\r\n");
	FUZZ_CHECK(end != NULL);
	body = end + 4;
	FUZZ_CHECK(strncmp(p, "Status: ", 8) == 0);
	while (p < end + 2) {
		const char *eol = strstr(p, "\r\n"), *colon;

		FUZZ_CHECK(eol != NULL && eol <= end);
		colon = memchr(p, ':', (size_t)(eol - p));
		FUZZ_CHECK(colon != NULL && colon > p);
		for (const char *c = p; c < colon; c++)
			FUZZ_CHECK((unsigned char)*c > 0x20 && *c != 0x7f);
		for (const char *c = colon + 1; c < eol; c++)
			FUZZ_CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
		if ((size_t)(colon - p) == 14 && strncmp(p, "Content-Length", 14) == 0)
			declared = strtoul(colon + 1, NULL, 10);
		lines++;
		p = eol + 2;
	}
	FUZZ_CHECK(lines >= 2);
	FUZZ_CHECK(declared != (size_t)-1);
	if (!head)
		FUZZ_CHECK(declared == out->len - (size_t)(body - out->data));
	else
		FUZZ_CHECK(body == out->data + out->len);
}

static const char *
take_line(const char **p, const char *end, char *buf, size_t bufsz, int *found)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);

	*found = nl != NULL;
	if (n >= bufsz)
		n = bufsz - 1;
	memcpy(buf, *p, n);
	buf[n] = '\0';
	*p = nl ? nl + 1 : end;
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "POST", "GET", "HEAD", "PUT" };
	static const size_t chunks[] = { 1, 2, 3, 7, 64, 4096, 1 << 20, 5 };
	static char cl[256], qs[70000], hv[512];
	const char *p = (const char *)data, *end = p + size;
	struct fake f;
	struct kc_transport io;
	struct kc_request req;
	struct kc_response resp;
	struct kc_error err = { { 0 } };
	size_t max, want;
	int required, ref, status, nl, has_hv;

	if (size < 2)
		return 0;
	memset(&f, 0, sizeof(f));
	required = data[0] & 1;
	f.method = methods[(data[0] >> 1) & 3];
	f.fail = (data[0] >> 3) & 1;
	f.chunk = chunks[(data[0] >> 4) & 7];
	switch (data[1] % 5) {
	case 0: max = data[1]; break;
	case 1: max = 1024; break;
	case 2: max = 4194304; break;
	case 3: max = 65536; break;
	default: max = 0; break;
	}
	p += 2;
	take_line(&p, end, cl, sizeof(cl), &nl);
	f.cl = strcmp(cl, "~") == 0 ? NULL : cl;
	take_line(&p, end, qs, sizeof(qs), &nl);
	f.qs = qs;
	take_line(&p, end, hv, sizeof(hv), &has_hv);
	f.body = p;
	f.len = (size_t)(end - p);
	kc_buf_init(&f.out);
	io.getenv = fake_getenv;
	io.read = fake_read;
	io.write = fake_write;
	io.self = &f;

	ref = ref_content_length(f.cl, max, &want);
	{
		size_t got = 12345;
		int rc = kc_parse_content_length(f.cl, max, &got);

		/*
		 * "99999999999999999999x" is both malformed and too large; the
		 * library stops at the overflow and says 413, which refuses it
		 * all the same.
		 */
		if (ref == -1 && rc == -2)
			FUZZ_CHECK(leading_digits_over(f.cl, max));
		else
			FUZZ_CHECK(rc == ref);
		ref = rc;
		FUZZ_CHECK(got == want || rc < 0);
	}
	if (kc_request_begin(&req, &io, &err) != 0) {
		FUZZ_CHECK(fuzz_msg_ok(&err));
		kc_respond_error(&req, 400, err.msg);
		check_answer(&f.out, strcmp(f.method, "HEAD") == 0);
		kc_request_end(&req);
		kc_buf_free(&f.out);
		return 0;
	}
	FUZZ_CHECK(strcmp(req.method, f.method) == 0);
	status = kc_request_read_body(&req, max, required, &err);
	switch (ref) {
	case 1:
		FUZZ_CHECK(status == (required ? 411 : 0));
		break;
	case -1:
		FUZZ_CHECK(status == 400);
		break;
	case -2:
		FUZZ_CHECK(status == 413);
		break;
	default:
		if (delivers(&f, want)) {
			FUZZ_CHECK(status == 0);
			FUZZ_CHECK(req.body_len == want);
			FUZZ_CHECK(memcmp(req.body, f.body, want) == 0);
		} else {
			FUZZ_CHECK(status == 400);
		}
		break;
	}
	if (status == 0) {
		FUZZ_CHECK(req.body != NULL && req.body[req.body_len] == '\0');
	} else {
		FUZZ_CHECK(fuzz_msg_ok(&err));
	}
	kc_request_drain(&req, max < 65536 ? max : 65536);

	kc_response_init(&resp, status ? status : 200, "application/json");
	if (has_hv && kc_response_header(&resp, "X-Fuzz", hv) == 0)
		FUZZ_CHECK(fuzz_no_controls(hv));
	/* A header name from the input must not smuggle a line either. */
	if (kc_response_header(&resp, qs[0] ? qs : "X", "v") == 0)
		FUZZ_CHECK(strpbrk(qs[0] ? qs : "X", ": \r\n\t") == NULL &&
		    fuzz_no_controls(qs));
	kc_buf_add(&resp.body, f.body, f.len);
	FUZZ_CHECK(kc_response_send(&req, &resp) == 0);
	/* Once per request. */
	FUZZ_CHECK(kc_response_send(&req, &resp) == -1);
	kc_response_free(&resp);
	check_answer(&f.out, strcmp(f.method, "HEAD") == 0);

	kc_request_end(&req);
	kc_buf_free(&f.out);
	return 0;
}
