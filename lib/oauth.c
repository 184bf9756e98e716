/*
 * oauth.c - see oauth.h.
 */
#include "oauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "form.h"

int
kc_base64(const unsigned char *data, size_t len, struct kc_buf *out)
{
	size_t need = 4 * ((len + 2) / 3) + 1;
	unsigned char *tmp = malloc(need);
	int n, rc;

	if (tmp == NULL)
		return -1;
	n = EVP_EncodeBlock(tmp, data, (int)len);
	rc = n < 0 ? -1 : kc_buf_add(out, tmp, (size_t)n);
	free(tmp);
	return rc;
}

static int
cmp_field(const void *a, const void *b)
{
	const struct kc_form_field *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

int
kc_oauth_signature(const char *method, const char *url,
    const char *consumer_secret, struct kc_buf *out, struct kc_error *err)
{
	const char *q = strchr(url, '?');
	size_t base_len = q ? (size_t)(q - url) : strlen(url);
	struct kc_form form;
	struct kc_buf params, text;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char *key = NULL;
	size_t i, j;
	int rc = -1;

	kc_buf_init(&params);
	kc_buf_init(&text);
	if (kc_form_parse(&form, q ? q + 1 : "", q ? strlen(q + 1) : 0, err) != 0)
		return -1;
	/* The signature itself is not signed. */
	for (i = j = 0; i < form.count; i++) {
		if (strcmp(form.fields[i].name, "oauth_signature") == 0) {
			free(form.fields[i].name);
			free(form.fields[i].value);
			continue;
		}
		form.fields[j++] = form.fields[i];
	}
	form.count = j;
	qsort(form.fields, form.count, sizeof(form.fields[0]), cmp_field);
	for (i = 0; i < form.count; i++) {
		if (i > 0)
			kc_buf_adds(&params, "&");
		kc_percent_encode(&params, form.fields[i].name, strlen(form.fields[i].name));
		kc_buf_adds(&params, "=");
		kc_percent_encode(&params, form.fields[i].value, strlen(form.fields[i].value));
	}
	kc_buf_adds(&text, method);
	kc_buf_adds(&text, "&");
	kc_percent_encode(&text, url, base_len);
	kc_buf_adds(&text, "&");
	kc_percent_encode(&text, params.data ? params.data : "", params.len);
	if (text.data == NULL)
		goto out;

	if ((key = malloc(strlen(consumer_secret) + 2)) == NULL)
		goto out;
	sprintf(key, "%s&", consumer_secret);
	if (HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)text.data,
	    text.len, mac, &mac_len) == NULL) {
		kc_error_set(err, "cannot compute the OAuth signature");
		goto out;
	}
	rc = kc_base64(mac, mac_len, out);
out:
	if (rc != 0 && err != NULL && err->msg[0] == '\0')
		kc_error_set(err, "out of memory while signing");
	if (key != NULL)
		kc_wipe(key, strlen(key));	/* the consumer secret */
	free(key);
	kc_form_free(&form);
	kc_buf_free(&params);
	kc_buf_free(&text);
	return rc;
}

int
kc_oauth_sign_url(const char *method, const char *url,
    const char *consumer_key, const char *consumer_secret, const char *nonce,
    long timestamp, struct kc_buf *out, struct kc_error *err)
{
	unsigned char raw[16];
	char fresh[33];
	struct kc_buf signed_url, sig;
	int rc = -1;

	if (nonce == NULL) {
		if (kc_random_bytes(raw, sizeof(raw)) != 0) {
			kc_error_set(err, "no random numbers for the OAuth nonce");
			return -1;
		}
		for (size_t i = 0; i < sizeof(raw); i++)
			sprintf(fresh + 2 * i, "%02x", raw[i]);
		nonce = fresh;
	}
	if (timestamp == 0)
		timestamp = (long)time(NULL);

	kc_buf_init(&signed_url);
	kc_buf_init(&sig);
	kc_buf_adds(&signed_url, url);
	kc_buf_adds(&signed_url, strchr(url, '?') ? "&" : "?");
	kc_buf_adds(&signed_url, "oauth_consumer_key=");
	kc_percent_encode(&signed_url, consumer_key, strlen(consumer_key));
	kc_buf_addf(&signed_url, "&oauth_nonce=%s&oauth_signature_method=HMAC-SHA256"
	    "&oauth_timestamp=%ld", nonce, timestamp);
	if (signed_url.data == NULL ||
	    kc_oauth_signature(method, signed_url.data, consumer_secret, &sig, err) != 0)
		goto out;
	kc_buf_adds(&signed_url, "&oauth_signature=");
	kc_percent_encode(&signed_url, sig.data, sig.len);
	kc_buf_add(out, signed_url.data, signed_url.len);
	rc = 0;
out:
	kc_buf_free(&signed_url);
	kc_buf_free(&sig);
	return rc;
}
