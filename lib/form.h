/*
 * form.h - strict parsing of application/x-www-form-urlencoded text:
 * query strings and HTML form bodies.
 */
#ifndef KC_FORM_H
#define KC_FORM_H

#include <stddef.h>

#include "util.h"

#define KC_FORM_MAX_FIELDS 64
#define KC_FORM_MAX_INPUT 65536

struct kc_form_field {
	char *name;
	char *value;
};

struct kc_form {
	struct kc_form_field fields[KC_FORM_MAX_FIELDS];
	size_t count;
};

/*
 * Parses "a=1&b=x%20y" into decoded fields.  '+' means a space.  Rejects
 * bad percent escapes, NUL bytes, more than KC_FORM_MAX_FIELDS fields and
 * input longer than KC_FORM_MAX_INPUT.  Empty pieces ("a=1&&b=2") are
 * skipped; a name without '=' gets the empty value.  On failure the form is
 * left empty.
 */
int kc_form_parse(struct kc_form *form, const char *text, size_t len,
    struct kc_error *err);
void kc_form_free(struct kc_form *form);

/* The first value of name, or NULL. */
const char *kc_form_get(const struct kc_form *form, const char *name);

/* Decodes %XX and '+' (when plus_is_space) into a new string; NULL if bad. */
char *kc_percent_decode(const char *s, size_t len, int plus_is_space);

/*
 * RFC 3986 encoding: everything but ALPHA / DIGIT / "-" / "." / "_" / "~"
 * becomes %XX.  This is what OAuth 1.0a and WordPress's rawurlencode() use,
 * and it never leaves a '+' that PHP would read as a space.
 */
int kc_percent_encode(struct kc_buf *out, const char *s, size_t len);

#endif
