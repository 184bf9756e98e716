/*
 * fuzz_keycrm.c - KeyCRM answers: kc_keycrm_parse_stocks() (a page of
 * GET /offers/stocks, with and without a warehouse breakdown) and
 * kc_keycrm_422_items() (the item indexes a Laravel 422 names).
 *
 * The first input byte picks the warehouse id (0: totals, 1, 2, or a large
 * one); the rest is the answer.
 *
 * Properties: a failure hands out nothing (offers NULL, n 0, last_page 0)
 * and says why; a success has at most 1000 offers, each with an id > 0, a
 * SKU of at most 200 bytes, finite counts within 1e12, and a last_page in
 * 1..1000000.  The 422 reader returns at most max indexes, strictly
 * ascending, and with a smaller max exactly the smallest of them.
 */
#include <math.h>

#include "fuzz.h"
#include "keycrm.h"

FUZZ_QUIET_INIT

#define MAX_IDX 64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long warehouses[] = { 0, 1, 2, 2147483647L };
	struct kc_keycrm_offer *offers = (void *)1;
	struct kc_error err = { { 0 } };
	size_t n = 99, idx[MAX_IDX], small[MAX_IDX], got, got_small, max_small;
	long last = -5, wh;
	const char *json;

	if (size < 1)
		return 0;
	wh = warehouses[data[0] & 3];
	max_small = (data[0] >> 2) % 8 + 1;
	json = (const char *)data + 1;
	size--;

	if (kc_keycrm_parse_stocks(json, size, wh, &offers, &n, &last, &err) != 0) {
		FUZZ_CHECK(fuzz_msg_ok(&err));
		FUZZ_CHECK(offers == NULL && n == 0 && last == 0);
	} else {
		FUZZ_CHECK(n <= 1000 && (n == 0 || offers != NULL));
		FUZZ_CHECK(last >= 1 && last <= 1000000L);
		for (size_t i = 0; i < n; i++) {
			FUZZ_CHECK(offers[i].id > 0);
			FUZZ_CHECK(offers[i].sku != NULL && strlen(offers[i].sku) <= 200);
			FUZZ_CHECK(isfinite(offers[i].quantity) && fabs(offers[i].quantity) <= 1e12);
			FUZZ_CHECK(isfinite(offers[i].reserve) && fabs(offers[i].reserve) <= 1e12);
		}
		kc_keycrm_offers_free(offers, n);
	}

	got = kc_keycrm_422_items(json, size, idx, MAX_IDX);
	FUZZ_CHECK(got <= MAX_IDX);
	for (size_t i = 1; i < got; i++)
		FUZZ_CHECK(idx[i - 1] < idx[i]);
	got_small = kc_keycrm_422_items(json, size, small, max_small);
	FUZZ_CHECK(got_small <= max_small);
	if (got < MAX_IDX) {
		/* Nothing was dropped from the big one: the small one is its prefix. */
		FUZZ_CHECK(got_small == (got < max_small ? got : max_small));
		FUZZ_CHECK(memcmp(small, idx, got_small * sizeof(*idx)) == 0);
	}
	FUZZ_CHECK(kc_keycrm_422_items(json, size, idx, 0) == 0);
	return 0;
}
