/*
 * html.h - writing HTML into a buffer, with one escaper per context (as
 * cgit's html.c does): element text, a double-quoted attribute value, and
 * a URL component.  Everything that comes from outside - SKUs, product
 * names, error messages of either API, configuration values - goes through
 * one of them; only literal markup written in this program goes in raw.
 *
 * Every escaper also repairs its input: bytes that are not UTF-8 and
 * control characters become U+FFFD, so what is printed is always valid
 * text whatever the shop or KeyCRM sent.
 */
#ifndef KC_HTML_H
#define KC_HTML_H

#include <stddef.h>

#include "util.h"

/* Literal markup of this program, never text from outside. */
int kc_html_raw(struct kc_buf *b, const char *markup);

/* Text inside an element: & < > become entities. */
int kc_html_text(struct kc_buf *b, const char *s);

/* The value of a double-quoted attribute: & < > " ' become entities. */
int kc_html_attr(struct kc_buf *b, const char *s);

/*
 * One CSV field (RFC 4180), quoted when it needs to be; NULL is empty.
 * A leading = + - or @ is quoted behind a ' so that a spreadsheet shows
 * it instead of running it as a formula.
 */
void kc_csv_field(struct kc_buf *out, const char *s);

/*
 * A URL component (a query value or a path segment): everything but
 * ALPHA / DIGIT / - . _ ~ is %XX-encoded, so the result is safe inside an
 * attribute and cannot end the component early.
 */
int kc_html_url_component(struct kc_buf *b, const char *s);

/*
 * printf into markup, where every %s argument is escaped as an attribute
 * value (which is also correct as element text) and numbers are printed as
 * they are.  The format itself is literal markup.  Conversions: %s, %c,
 * %d %i %u %x with the h, l, ll, z, j length modifiers, %f %g, %%, each
 * with flags, width and precision (digits only: no '*').  Returns -1 on an
 * unsupported conversion.
 */
int kc_html_f(struct kc_buf *b, const char *fmt, ...) KC_PRINTF(2, 3);

/*
 * Text from outside that may be markup (WordPress puts HTML in the message
 * of its error answers: "<p>There has been a critical error...</p>") as
 * plain text: tags dropped (a '<' not followed by a letter, '/' or '!'
 * stays), the common entities decoded, runs of blanks made one space,
 * trimmed.  Cut to fit outsz; the result still needs escaping to be shown.
 */
void kc_text_from_markup(const char *in, char *out, size_t outsz);

#endif
