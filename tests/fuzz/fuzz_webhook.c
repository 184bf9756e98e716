/*
 * fuzz_webhook.c - kc_webhook_parse(), KeyCRM's webhook body (SPEC 3).
 *
 * Properties: -1 comes with a message; otherwise every item is either a
 * report or a rejection (count + rejected == received), rejections are in
 * index order with a reason, every report has a SKU the outgoing requests
 * can carry (1..200 bytes, no control characters, not blank) and finite
 * counts within KC_STOCK_MAX_ABS, its stock target is between 0 and
 * 2 * KC_STOCK_MAX_ABS, and the answer built from it serialises.
 */
#include <math.h>

#include <jansson.h>

#include "fuzz.h"
#include "stock.h"
#include "webhook.h"

FUZZ_QUIET_INIT

static void
check_target(double in_stock, double in_reserve, int subtract)
{
	long long t = kc_stock_target(in_stock, in_reserve, subtract);
	double v = subtract ? in_stock - in_reserve : in_stock;

	FUZZ_CHECK(t >= 0 && (double)t <= 2 * KC_STOCK_MAX_ABS);
	if (v <= 0)
		FUZZ_CHECK(t == 0);
	else
		FUZZ_CHECK((double)t <= v + 1e-3 && (double)t > v - 1.001);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_webhook_body b;
	struct kc_error err = { { 0 } };
	json_int_t last = -1;
	size_t i;
	json_t *e, *ans;
	char *text;

	if (kc_webhook_parse((const char *)data, size, &b, &err) != 0) {
		FUZZ_CHECK(fuzz_msg_ok(&err));
		FUZZ_CHECK(b.reports == NULL && b.rejected == NULL && b.count == 0);
		return 0;
	}
	if (b.is_event) {
		FUZZ_CHECK(b.count == 0 && b.reports == NULL);
		kc_webhook_body_free(&b);
		return 0;
	}
	FUZZ_CHECK(json_is_array(b.rejected));
	FUZZ_CHECK(b.count + json_array_size(b.rejected) == b.received);
	for (i = 0; i < b.count; i++) {
		const struct kc_stock_report *r = &b.reports[i];
		size_t len;

		FUZZ_CHECK(r->sku != NULL);
		len = strlen(r->sku);
		FUZZ_CHECK(len >= 1 && len <= KC_SKU_MAX_BYTES);
		FUZZ_CHECK(fuzz_no_controls(r->sku));
		FUZZ_CHECK(strspn(r->sku, " ") != len);
		FUZZ_CHECK(isfinite(r->in_stock) && fabs(r->in_stock) <= KC_STOCK_MAX_ABS);
		FUZZ_CHECK(isfinite(r->in_reserve) && fabs(r->in_reserve) <= KC_STOCK_MAX_ABS);
		FUZZ_CHECK(r->offer_id >= 0);
		check_target(r->in_stock, r->in_reserve, 1);
		check_target(r->in_stock, r->in_reserve, 0);
	}
	json_array_foreach(b.rejected, i, e) {
		json_t *idx = json_object_get(e, "index");
		json_t *sku = json_object_get(e, "sku");

		FUZZ_CHECK(json_is_integer(idx));
		FUZZ_CHECK(json_integer_value(idx) > last);
		FUZZ_CHECK((size_t)json_integer_value(idx) < b.received);
		last = json_integer_value(idx);
		FUZZ_CHECK(json_is_string(json_object_get(e, "reason")));
		FUZZ_CHECK(json_is_string(sku) || json_is_null(sku));
	}
	/* What webhook.c answers with. */
	ans = json_pack("{s:I,s:I,s:O}", "received", (json_int_t)b.received,
	    "queued", (json_int_t)b.count, "rejected", b.rejected);
	FUZZ_CHECK(ans != NULL);
	text = json_dumps(ans, JSON_COMPACT);
	FUZZ_CHECK(text != NULL);
	free(text);
	json_decref(ans);
	kc_webhook_body_free(&b);
	return 0;
}
