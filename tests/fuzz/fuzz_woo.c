/*
 * fuzz_woo.c - WooCommerce answers: kc_woo_parse_products() (a lookup or
 * listing page) and kc_woo_error_message() (a WordPress error body).
 *
 * Properties: a failure says why; every product handed out (also the ones
 * kept before a failure, which the caller frees) has an id > 0, a
 * parent_id >= 0, a NUL-terminated type shorter than 16 bytes, a SKU
 * string, a known manage_stock; a SKU equals itself as the shop compares
 * them; the stock decision for it is consistent (a skip has a reason, an
 * "unchanged" only when the shop holds exactly the target); the error
 * message is NUL-terminated and at most 200 bytes.
 */
#include "fuzz.h"
#include "http.h"
#include "sku.h"
#include "stock.h"
#include "woo.h"

FUZZ_QUIET_INIT

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_woo_products out = { 0 };
	struct kc_error err = { { 0 } };
	struct kc_http_response resp;
	char msg[256];
	int rc;

	rc = kc_woo_parse_products((const char *)data, size, &out, &err);
	if (rc != 0)
		FUZZ_CHECK(fuzz_msg_ok(&err));
	FUZZ_CHECK(out.count <= out.cap);
	for (size_t i = 0; i < out.count; i++) {
		const struct kc_woo_product *p = &out.items[i];
		const char *reason;
		enum kc_stock_action a;

		FUZZ_CHECK(p->id > 0 && p->parent_id >= 0);
		FUZZ_CHECK(memchr(p->type, '\0', sizeof(p->type)) != NULL);
		FUZZ_CHECK(p->sku != NULL && kc_sku_equal(p->sku, p->sku));
		FUZZ_CHECK(p->manage == KC_WOO_MANAGE_NO || p->manage == KC_WOO_MANAGE_YES ||
		    p->manage == KC_WOO_MANAGE_PARENT);
		FUZZ_CHECK(p->has_qty == 0 || p->has_qty == 1);
		for (int m = 0; m < 2; m++) {
			long long target = (long long)(i % 7);

			a = kc_stock_decide(p, target, m ? KC_MANAGE_ENABLE : KC_MANAGE_SKIP,
			    &reason);
			FUZZ_CHECK((a == KC_STOCK_SKIP) == (reason != NULL));
			if (a == KC_STOCK_UNCHANGED)
				FUZZ_CHECK(p->has_qty && p->qty == target &&
				    p->manage == KC_WOO_MANAGE_YES);
			if (p->manage == KC_WOO_MANAGE_PARENT)
				FUZZ_CHECK(a == KC_STOCK_SKIP);
		}
	}
	kc_woo_products_free(&out);

	kc_http_response_init(&resp);
	kc_buf_add(&resp.body, data, size);
	resp.status = 500;
	kc_woo_error_message(&resp, msg, sizeof(msg));
	FUZZ_CHECK(memchr(msg, '\0', sizeof(msg)) != NULL && strlen(msg) <= 200);
	kc_http_response_free(&resp);
	return 0;
}
