/*
 * form.c - see form.h.
 */
#include "form.h"

#include <stdlib.h>
#include <string.h>

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
kc_percent_decode(const char *s, size_t len, int plus_is_space)
{
	char *out = malloc(len + 1);
	size_t i, o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len || (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0) {
				free(out);
				return NULL;
			}
			c = hi * 16 + lo;
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		if (c == '\0') {
			free(out);
			return NULL;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

int
kc_percent_encode(struct kc_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			if (kc_buf_add(out, &c, 1) != 0)
				return -1;
		} else {
			char esc[3] = { '%', hex[c >> 4], hex[c & 15] };
			if (kc_buf_add(out, esc, 3) != 0)
				return -1;
		}
	}
	return 0;
}

void
kc_form_free(struct kc_form *form)
{
	size_t i;

	for (i = 0; i < form->count; i++) {
		free(form->fields[i].name);
		/* Values include ?secret=, ?token= and the page's key fields. */
		if (form->fields[i].value != NULL)
			kc_wipe(form->fields[i].value, strlen(form->fields[i].value));
		free(form->fields[i].value);
	}
	form->count = 0;
}

int
kc_form_parse(struct kc_form *form, const char *text, size_t len,
    struct kc_error *err)
{
	size_t pos = 0;

	form->count = 0;
	if (text == NULL || len == 0)
		return 0;
	if (len > KC_FORM_MAX_INPUT) {
		kc_error_set(err, "parameters too long (%zu bytes, at most %d)",
		    len, KC_FORM_MAX_INPUT);
		return -1;
	}
	while (pos < len) {
		const char *piece = text + pos, *amp, *eq;
		size_t plen;
		char *name, *value;

		amp = memchr(piece, '&', len - pos);
		plen = amp ? (size_t)(amp - piece) : len - pos;
		pos += plen + (amp ? 1 : 0);
		if (plen == 0)
			continue;
		if (form->count == KC_FORM_MAX_FIELDS) {
			kc_error_set(err, "too many parameters (at most %d)",
			    KC_FORM_MAX_FIELDS);
			goto fail;
		}
		eq = memchr(piece, '=', plen);
		name = kc_percent_decode(piece, eq ? (size_t)(eq - piece) : plen, 1);
		value = eq ? kc_percent_decode(eq + 1, plen - (size_t)(eq - piece) - 1, 1)
			   : kc_strdup("");
		if (name == NULL || value == NULL) {
			free(name);
			free(value);
			kc_error_set(err, "malformed parameter encoding");
			goto fail;
		}
		form->fields[form->count].name = name;
		form->fields[form->count].value = value;
		form->count++;
	}
	return 0;
fail:
	kc_form_free(form);
	return -1;
}

const char *
kc_form_get(const struct kc_form *form, const char *name)
{
	size_t i;

	for (i = 0; i < form->count; i++)
		if (strcmp(form->fields[i].name, name) == 0)
			return form->fields[i].value;
	return NULL;
}
