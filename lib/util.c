/*
 * util.c - see util.h.
 */
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

void
kc_error_set(struct kc_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

void
kc_error_prefix(struct kc_error *err, const char *fmt, ...)
{
	char prefix[256], old[sizeof(err->msg)];
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
}

void
kc_buf_init(struct kc_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
kc_buf_free(struct kc_buf *b)
{
	free(b->data);
	kc_buf_init(b);
}

void
kc_buf_reset(struct kc_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

static int
buf_grow(struct kc_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX - b->len - 1)
		return -1;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
kc_buf_add(struct kc_buf *b, const void *data, size_t len)
{
	if (buf_grow(b, len) != 0)
		return -1;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
kc_buf_adds(struct kc_buf *b, const char *s)
{
	return kc_buf_add(b, s, strlen(s));
}

int
kc_buf_vaddf(struct kc_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || buf_grow(b, (size_t)n) != 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
kc_buf_addf(struct kc_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = kc_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

char *
kc_buf_detach(struct kc_buf *b)
{
	char *p = b->data;

	if (p == NULL)
		p = kc_strdup("");
	kc_buf_init(b);
	return p;
}

char *
kc_strdup(const char *s)
{
	return kc_strndup(s, strlen(s));
}

char *
kc_strndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

size_t
kc_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

double
kc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t
kc_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
kc_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
kc_random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

uint32_t
kc_random_below(uint32_t bound)
{
	uint32_t r;

	if (bound <= 1)
		return 0;
	/* Rejection sampling keeps the distribution uniform. */
	for (;;) {
		if (kc_random_bytes(&r, sizeof(r)) != 0)
			return 0;
		if (r < UINT32_MAX - UINT32_MAX % bound)
			return r % bound;
	}
}

int
kc_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Hashing both sides first makes the comparison independent of where the
 * strings differ and of their lengths, so neither leaks through timing.
 */
void
kc_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

/* Length of the valid UTF-8 sequence at p (1 for ASCII), 0 if none. */
static size_t
utf8_seq_len(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;	/* overlong */
		if (p[0] == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		if (p[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

size_t
kc_term_escape(char *out, size_t outsz, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t o = 0;

	if (outsz == 0)
		return 0;
	while (*p != '\0') {
		size_t n = utf8_seq_len(p);
		char esc[5];
		const char *piece = (const char *)p;
		size_t plen = n;

		/* C0 and DEL; C1 (U+0080..U+009F, "\xc2\x80".."\xc2\x9f"). */
		if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f)) ||
		    (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
			snprintf(esc, sizeof(esc), "\\x%02x", *p);
			piece = esc;
			plen = 4;
			n = 1;
		}
		if (o + plen >= outsz)
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		p += n;
	}
	out[o] = '\0';
	return o;
}

int
kc_secret_equal(const char *given, const char *expected)
{
	unsigned char h1[EVP_MAX_MD_SIZE], h2[EVP_MAX_MD_SIZE];
	unsigned int l1 = 0, l2 = 0;

	if (given == NULL || expected == NULL || expected[0] == '\0')
		return 0;
	if (!EVP_Digest(given, strlen(given), h1, &l1, EVP_sha256(), NULL) ||
	    !EVP_Digest(expected, strlen(expected), h2, &l2, EVP_sha256(), NULL))
		return 0;
	return l1 == l2 && CRYPTO_memcmp(h1, h2, l1) == 0;
}

void
kc_format_time(double t, char *out, size_t outsz)
{
	time_t secs = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&secs, &tm) == NULL) {
		kc_strlcpy(out, "", outsz);
		return;
	}
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static enum kc_log_level log_level = KC_LOG_INFO;
static const char *log_program = "keycrm-sync";

void
kc_log_set_level(enum kc_log_level level)
{
	log_level = level;
}

void
kc_log_set_program(const char *name)
{
	log_program = name;
}

void
kc_log(enum kc_log_level level, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	char msg[2048], line[2048];
	va_list ap;
	int n;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "%s[%ld]: %s: ", log_program,
	    (long)getpid(), names[level]);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Log lines are read on terminals, and their text may come from outside. */
	n += (int)kc_term_escape(line + n, sizeof(line) - (size_t)n, msg);
	/* One write per line, so lines from concurrent workers never mix. */
	if (n < (int)sizeof(line) - 1)
		line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

/*
 * Tests prove crash safety by killing the process at named points.  The
 * knob is read from the process environment only (never from a request),
 * so nothing a client sends can trigger it.
 */
void
kc_crash_point(const char *name)
{
	const char *want = getenv("KEYCRM_SYNC_CRASH_AT");

	if (want != NULL && strcmp(want, name) == 0)
		raise(SIGKILL);
}
