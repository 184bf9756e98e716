/*
 * sku.c - see sku.h.  Unicode case folding is libunistring's, not a
 * table of our own.
 */
#include "sku.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

#include "util.h"

/* Length of s without its trailing blanks (spaces and tabs). */
static size_t
trimmed_len(const char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return n;
}

char *
kc_sku_key(const char *sku)
{
	size_t n = trimmed_len(sku), len = 0;
	uint8_t *folded;
	char *key;

	folded = u8_check((const uint8_t *)sku, n) != NULL ? NULL :
	    u8_casefold((const uint8_t *)sku, n, NULL, UNINORM_NFC, NULL, &len);
	if (folded == NULL) {
		/* Not UTF-8 (or no memory): the bytes themselves are the key. */
		key = malloc(n + 1);
		if (key != NULL) {
			memcpy(key, sku, n);
			key[n] = '\0';
		}
		return key;
	}
	key = malloc(len + 1);
	if (key != NULL) {
		memcpy(key, folded, len);
		key[len] = '\0';
	}
	free(folded);
	return key;
}

int
kc_sku_equal(const char *a, const char *b)
{
	char *ka, *kb;
	int same;

	/* The common case needs no folding at all. */
	if (strcmp(a, b) == 0)
		return 1;
	ka = kc_sku_key(a);
	kb = kc_sku_key(b);
	same = ka != NULL && kb != NULL && strcmp(ka, kb) == 0;
	free(ka);
	free(kb);
	return same;
}
