/*
 * fuzz_webhook.c - kc_webhook_parse(), KeyCRM's webhook body (SPEC 3).
 *
 * Properties: -1 comes with a message; the array is read item by item, yet
 * it accepts exactly what jansson accepts whole (below jansson's nesting
 * limit, and without NUL bytes: jansson reads "[8\0 ]" whole as [8], the
 * item reader refuses it); every item is either a report or a rejection (count +
 * rejected_count == received), at most KC_WEBHOOK_REJECTED_LISTED
 * rejections are listed, in index order with a reason, every report has a SKU the outgoing requests
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

/* Fewer opening brackets than jansson's depth limit and no NUL byte:
 * whole-body parsing and item-by-item parsing must then agree. */
static int
shallow(const uint8_t *data, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\0')
			return 0;
		n += data[i] == '[' || data[i] == '{';
	}
	return n < 1000;
}

/* 1: jansson reads the whole body as an array or an order event. */
static int
jansson_accepts(const uint8_t *data, size_t size)
{
	json_t *root = json_loadb((const char *)data, size,
	    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	int ok = json_is_array(root) ||
	    (json_is_object(root) && json_object_get(root, "event") != NULL);

	json_decref(root);
	return ok;
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
		FUZZ_CHECK(!shallow(data, size) || size == 0 || !jansson_accepts(data, size));
		return 0;
	}
	FUZZ_CHECK(!shallow(data, size) || jansson_accepts(data, size));
	if (b.is_event) {
		FUZZ_CHECK(b.count == 0 && b.reports == NULL);
		kc_webhook_body_free(&b);
		return 0;
	}
	FUZZ_CHECK(json_is_array(b.rejected));
	FUZZ_CHECK(b.count + b.rejected_count == b.received);
	FUZZ_CHECK(json_array_size(b.rejected) == (b.rejected_count < KC_WEBHOOK_REJECTED_LISTED ?
	    b.rejected_count : KC_WEBHOOK_REJECTED_LISTED));
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
