/*
 * fuzz_form.c - kc_form_parse(), kc_percent_decode() and
 * kc_percent_encode(): query strings (?secret=, ?token=, ?wait=) and the
 * settings page's form bodies.
 *
 * Properties: a failure leaves the form empty and says why; a success has
 * at most KC_FORM_MAX_FIELDS fields, none with a NUL byte inside (the
 * decoded length equals what strlen sees), and encoding the fields again
 * and parsing the result gives the same fields (the round trip the OAuth
 * signature relies on); any byte string without NUL survives
 * encode -> decode unchanged, and one with a NUL is refused.
 */
#include "form.h"
#include "fuzz.h"

FUZZ_QUIET_INIT

/* Decoded length of a well-formed piece: what strlen must agree with. */
static size_t
decoded_len(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++, n++)
		if (s[i] == '%')
			i += 2;
	return n;
}

static void
roundtrip_bytes(const uint8_t *data, size_t size)
{
	struct kc_buf enc;
	char *dec;

	kc_buf_init(&enc);
	FUZZ_CHECK(kc_percent_encode(&enc, (const char *)data, size) == 0);
	FUZZ_CHECK(enc.len == 0 || strspn(enc.data, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-._~%") == enc.len);
	dec = kc_percent_decode(enc.data ? enc.data : "", enc.len, 1);
	if (memchr(data, '\0', size) != NULL) {
		FUZZ_CHECK(dec == NULL);
	} else {
		FUZZ_CHECK(dec != NULL);
		FUZZ_CHECK(strlen(dec) == size && memcmp(dec, data, size) == 0);
	}
	free(dec);
	kc_buf_free(&enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct kc_form form, again;
	struct kc_error err = { { 0 } };
	struct kc_buf enc;
	size_t i;

	roundtrip_bytes(data, size);
	if (kc_form_parse(&form, text, size, &err) != 0) {
		FUZZ_CHECK(form.count == 0);
		FUZZ_CHECK(fuzz_msg_ok(&err));
		return 0;
	}
	FUZZ_CHECK(form.count <= KC_FORM_MAX_FIELDS);
	FUZZ_CHECK(size <= KC_FORM_MAX_INPUT);
	kc_buf_init(&enc);
	for (i = 0; i < form.count; i++) {
		const char *name = form.fields[i].name, *value = form.fields[i].value;

		FUZZ_CHECK(name != NULL && value != NULL);
		/* The first field of a name is the one kc_form_get finds. */
		FUZZ_CHECK(kc_form_get(&form, name) != NULL);
		if (i > 0)
			kc_buf_adds(&enc, "&");
		kc_percent_encode(&enc, name, strlen(name));
		kc_buf_adds(&enc, "=");
		kc_percent_encode(&enc, value, strlen(value));
	}
	/* No NUL hides inside a field: count the bytes the input decodes to. */
	{
		size_t pos = 0, k = 0;

		while (pos < size) {
			const char *piece = text + pos, *amp = memchr(piece, '&', size - pos);
			size_t plen = amp ? (size_t)(amp - piece) : size - pos;
			const char *eq = memchr(piece, '=', plen);
			size_t nlen = eq ? (size_t)(eq - piece) : plen;

			pos += plen + (amp ? 1 : 0);
			if (plen == 0)
				continue;
			FUZZ_CHECK(k < form.count);
			FUZZ_CHECK(strlen(form.fields[k].name) == decoded_len(piece, nlen));
			if (eq)
				FUZZ_CHECK(strlen(form.fields[k].value) ==
				    decoded_len(eq + 1, plen - nlen - 1));
			k++;
		}
		FUZZ_CHECK(k == form.count);
	}
	if (enc.len <= KC_FORM_MAX_INPUT) {
		FUZZ_CHECK(kc_form_parse(&again, enc.data ? enc.data : "", enc.len,
		    &err) == 0);
		FUZZ_CHECK(again.count == form.count);
		for (i = 0; i < form.count; i++) {
			FUZZ_CHECK(strcmp(again.fields[i].name, form.fields[i].name) == 0);
			FUZZ_CHECK(strcmp(again.fields[i].value, form.fields[i].value) == 0);
		}
		kc_form_free(&again);
	}
	kc_buf_free(&enc);
	kc_form_free(&form);
	return 0;
}
