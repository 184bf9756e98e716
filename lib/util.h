/*
 * util.h - small helpers shared by the whole library: the error type,
 * a growable buffer, time and logging.
 *
 * One error style across the library: a function that can fail returns
 * 0 on success and -1 on failure, and writes a human-readable reason into
 * the struct kc_error its caller passed (which may be NULL).  Reasons are
 * written for the administrator and never contain secrets.
 */
#ifndef KC_UTIL_H
#define KC_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define KC_PRINTF(a, b) __attribute__((format(printf, a, b)))

struct kc_error {
	char msg[512];
};

void kc_error_set(struct kc_error *err, const char *fmt, ...) KC_PRINTF(2, 3);
void kc_error_prefix(struct kc_error *err, const char *fmt, ...) KC_PRINTF(2, 3);

/* A growable byte buffer, always NUL-terminated. */
struct kc_buf {
	char *data;
	size_t len;
	size_t cap;
};

void kc_buf_init(struct kc_buf *b);
void kc_buf_free(struct kc_buf *b);
void kc_buf_reset(struct kc_buf *b);
int kc_buf_add(struct kc_buf *b, const void *data, size_t len);
int kc_buf_adds(struct kc_buf *b, const char *s);
int kc_buf_addf(struct kc_buf *b, const char *fmt, ...) KC_PRINTF(2, 3);
int kc_buf_vaddf(struct kc_buf *b, const char *fmt, va_list ap);
/* Hands the data over to the caller (who frees it) and resets b. */
char *kc_buf_detach(struct kc_buf *b);

char *kc_strdup(const char *s);
char *kc_strndup(const char *s, size_t n);
size_t kc_strlcpy(char *dst, const char *src, size_t size);

/* Wall clock in seconds (with fraction) and a monotonic clock in ms. */
double kc_now(void);
int64_t kc_monotonic_ms(void);
void kc_sleep_ms(int64_t ms);
/* A uniformly random number in [0, bound) from the OS's random source. */
uint32_t kc_random_below(uint32_t bound);
/* Fills buf with len random bytes from the OS; 0 or -1. */
int kc_random_bytes(void *buf, size_t len);

/* Writes all of buf to fd, going on after short writes and EINTR; 0 or -1. */
int kc_write_all(int fd, const void *buf, size_t len);

/* Constant-time comparison of two secrets of possibly different lengths. */
int kc_secret_equal(const char *given, const char *expected);

/*
 * Overwrites memory that held a secret, in a way the compiler cannot drop
 * (OPENSSL_cleanse); NULL is fine.  Every wipe goes through here.
 */
void kc_wipe(void *p, size_t n);

/*
 * s made safe for a terminal or a log line, into out (always terminated,
 * cut at a whole character): control characters (C0, DEL, C1) and bytes
 * that are not UTF-8 become \xNN, so text from outside (SKUs, the shop's
 * messages) cannot move the cursor, retitle the window or forge lines.
 * Returns the length written.
 */
size_t kc_term_escape(char *out, size_t outsz, const char *s);

/* ISO 8601 UTC time "2026-11-27T01:02:03Z". */
void kc_format_time(double t, char *out, size_t outsz);

/*
 * Logging goes to stderr, which every web server puts into its error log.
 * Callers never log secrets; the level comes from the config.
 */
enum kc_log_level { KC_LOG_ERROR, KC_LOG_WARN, KC_LOG_INFO, KC_LOG_DEBUG };
void kc_log_set_level(enum kc_log_level level);
void kc_log_set_program(const char *name);
void kc_log(enum kc_log_level level, const char *fmt, ...) KC_PRINTF(2, 3);

/* Test hook: when the process environment names this point, die here. */
void kc_crash_point(const char *name);

#endif
