/*
 * html.c - see html.h.
 */
#include "html.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define REPLACEMENT "\xef\xbf\xbd"	/* U+FFFD */

enum context { CTX_TEXT, CTX_ATTR };

int
kc_html_raw(struct kc_buf *b, const char *markup)
{
	return kc_buf_adds(b, markup);
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if there is none.
 */
static size_t
utf8_length(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
		unsigned char hi = c == 0xed ? 0x9f : 0xbf;
		if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
		unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;
		if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

/* Control characters (C0 but tab and newlines, DEL, C1) print as U+FFFD. */
static int
is_control(const unsigned char *s, size_t len)
{
	if (len == 1)
		return (s[0] < 0x20 && s[0] != '\t' && s[0] != '\n' &&
		    s[0] != '\r') || s[0] == 0x7f;
	return len == 2 && s[0] == 0xc2 && s[1] < 0xa0;
}

static int
escape(struct kc_buf *b, const char *str, enum context ctx)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	const unsigned char *run = s;
	int rc = 0;

	while (*s != '\0') {
		const char *ent = NULL;
		size_t len = utf8_length(s);

		if (len == 0 || is_control(s, len))
			ent = REPLACEMENT;
		else if (*s == '&')
			ent = "&amp;";
		else if (*s == '<')
			ent = "&lt;";
		else if (*s == '>')
			ent = "&gt;";
		else if (ctx == CTX_ATTR && *s == '"')
			ent = "&quot;";
		else if (ctx == CTX_ATTR && *s == '\'')
			ent = "&#39;";
		if (ent == NULL) {
			s += len;
			continue;
		}
		rc |= kc_buf_add(b, run, (size_t)(s - run));
		rc |= kc_buf_adds(b, ent);
		s += len ? len : 1;
		run = s;
	}
	rc |= kc_buf_add(b, run, (size_t)(s - run));
	return rc ? -1 : 0;
}

int
kc_html_text(struct kc_buf *b, const char *s)
{
	return escape(b, s, CTX_TEXT);
}

int
kc_html_attr(struct kc_buf *b, const char *s)
{
	return escape(b, s, CTX_ATTR);
}

int
kc_html_url_component(struct kc_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;

	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		unsigned char c = *p;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
		    c == '~') {
			rc |= kc_buf_add(b, p, 1);
		} else {
			char enc[3] = { '%', hex[c >> 4], hex[c & 15] };
			rc |= kc_buf_add(b, enc, 3);
		}
	}
	return rc ? -1 : 0;
}

/*
 * The formats below are built from the caller's, which the compiler has
 * checked through kc_html_f's format attribute.
 */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

/*
 * One conversion of kc_html_f: spec is "%" flags width precision length
 * conv, at most 31 bytes.  Numbers go through vsnprintf's own rules, so
 * the compiler's format checking of the caller holds.
 */
static int
convert(struct kc_buf *b, const char *spec, size_t speclen, va_list *ap)
{
	char one[32], conv = spec[speclen - 1];
	const char *len = spec + 1;

	if (speclen >= sizeof(one))
		return -1;
	memcpy(one, spec, speclen);
	one[speclen] = '\0';
	while (strchr("-+ #0123456789.", *len) != NULL)
		len++;
	switch (conv) {
	case '%':
		return kc_buf_add(b, "%", 1);
	case 's':
		/* Width and precision would cut through escapes: ignored. */
		return escape(b, va_arg(*ap, const char *), CTX_ATTR);
	case 'c': {
		char c[2] = { (char)va_arg(*ap, int), '\0' };
		return escape(b, c, CTX_ATTR);
	}
	case 'f':
	case 'g':
		return kc_buf_addf(b, one, va_arg(*ap, double));
	case 'd':
	case 'i':
	case 'u':
	case 'x':
		break;
	default:
		return -1;
	}
	/* Integers: h and hh are promoted to int. */
	if (strncmp(len, "ll", 2) == 0)
		return kc_buf_addf(b, one, va_arg(*ap, long long));
	if (*len == 'l')
		return kc_buf_addf(b, one, va_arg(*ap, long));
	if (*len == 'z')
		return kc_buf_addf(b, one, va_arg(*ap, size_t));
	if (*len == 'j')
		return kc_buf_addf(b, one, va_arg(*ap, intmax_t));
	return kc_buf_addf(b, one, va_arg(*ap, int));
}

int
kc_html_f(struct kc_buf *b, const char *fmt, ...)
{
	va_list ap;
	const char *p = fmt, *run = fmt;
	int rc = 0;

	va_start(ap, fmt);
	while (*p != '\0') {
		size_t n;

		if (*p != '%') {
			p++;
			continue;
		}
		rc |= kc_buf_add(b, run, (size_t)(p - run));
		n = 1 + strspn(p + 1, "-+ #0123456789.hlzj");
		if (p[n] == '\0' || strchr("%scfgdiux", p[n]) == NULL) {
			rc = -1;
			break;
		}
		rc |= convert(b, p, n + 1, &ap);
		p += n + 1;
		run = p;
	}
	rc |= kc_buf_add(b, run, (size_t)(p - run));
	va_end(ap);
	return rc ? -1 : 0;
}

static const struct {
	const char *name;
	char c;
} entities[] = {
	{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' },
	{ "&#39;", '\'' }, { "&#039;", '\'' }, { "&apos;", '\'' }, { "&nbsp;", ' ' },
};

void
kc_text_from_markup(const char *in, char *out, size_t outsz)
{
	size_t o = 0;
	int space = 0;

	if (outsz == 0)
		return;
	for (const char *s = in ? in : ""; *s != '\0' && o + 1 < outsz; ) {
		char c = *s;
		if (c == '<' && (isalpha((unsigned char)s[1]) || s[1] == '/' || s[1] == '!')) {
			const char *end = strchr(s, '>');
			if (end == NULL)
				break;
			s = end + 1;
			space = 1;
			continue;
		}
		if (c == '&') {
			size_t i;
			for (i = 0; i < sizeof(entities) / sizeof(entities[0]); i++)
				if (strncmp(s, entities[i].name, strlen(entities[i].name)) == 0)
					break;
			if (i < sizeof(entities) / sizeof(entities[0])) {
				c = entities[i].c;
				s += strlen(entities[i].name) - 1;
			}
		}
		s++;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = 1;
			continue;
		}
		if (space && o > 0 && o + 2 < outsz)
			out[o++] = ' ';
		space = 0;
		out[o++] = c;
	}
	out[o] = '\0';
}

void
kc_csv_field(struct kc_buf *out, const char *s)
{
	int formula;

	if (s == NULL)
		s = "";
	formula = s[0] != '\0' && strchr("=+-@", s[0]) != NULL;
	if (!formula && strpbrk(s, "\",\r\n") == NULL) {
		kc_buf_adds(out, s);
		return;
	}
	kc_buf_adds(out, "\"");
	if (formula)
		kc_buf_adds(out, "'");
	for (; *s != '\0'; s++) {
		kc_buf_add(out, s, 1);
		if (*s == '"')
			kc_buf_add(out, s, 1);
	}
	kc_buf_adds(out, "\"");
}
