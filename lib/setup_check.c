/*
 * setup_check.c - see setup_check.h.
 */
#include "setup_check.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "keycrm.h"
#include "woo.h"

#define CHECK_DEADLINE_MS 30000
#define WAREHOUSE_PAGES 10
#define WAREHOUSES_MAX 64

/* The key must read the shop's settings and may write (an empty batch). */
static int
check_shop(const struct kc_config *cfg, FILE *out)
{
	struct kc_woo w;
	struct kc_http_response resp;
	struct kc_error err = { { 0 } };
	char msg[256];
	int rc = 1;

	if (kc_woo_init(&w, cfg, &err) != 0) {
		fprintf(out, "shop: error: %s\n", err.msg);
		return 1;
	}
	w.http.max_attempts = 2;
	w.http.deadline_ms = kc_monotonic_ms() + CHECK_DEADLINE_MS;
	kc_http_response_init(&resp);
	if (kc_woo_request(&w, "GET", "/wc/v3/settings/products/woocommerce_manage_stock",
	    NULL, &resp, &err) != 0) {
		fprintf(out, "shop: unreachable: %s\n", err.msg);
		goto out;
	}
	kc_woo_error_message(&resp, msg, sizeof(msg));
	if (resp.status == 401 || resp.status == 403) {
		fprintf(out, "shop: rejected: HTTP %ld: %s\n", resp.status, msg);
		goto out;
	}
	if (resp.status != 200) {
		fprintf(out, "shop: error: HTTP %ld: %s%s\n", resp.status, msg,
		    resp.status == 404 ? " (is WooCommerce active, and the URL the site's address?)" : "");
		goto out;
	}
	kc_http_response_free(&resp);
	kc_http_response_init(&resp);
	if (kc_woo_request(&w, "POST", "/wc/v3/products/batch", "{}", &resp, &err) != 0) {
		fprintf(out, "shop: unreachable: %s\n", err.msg);
		goto out;
	}
	if (resp.status != 200) {
		kc_woo_error_message(&resp, msg, sizeof(msg));
		fprintf(out, "shop: read-only: HTTP %ld: %s (the key needs Read/Write permission)\n",
		    resp.status, msg);
		goto out;
	}
	fprintf(out, "shop: ok\n");
	rc = 0;
out:
	kc_http_response_free(&resp);
	kc_woo_cleanup(&w);
	return rc;
}

static int
check_keycrm(const struct kc_config *cfg, FILE *out)
{
	struct kc_keycrm k;
	struct kc_error err = { { 0 } };
	long ids[WAREHOUSES_MAX];
	size_t n = 0;
	int complete = 0, rc = 1;

	/* No state store: the request window is this process's own. */
	if (kc_keycrm_init(&k, cfg, NULL, &err) != 0) {
		fprintf(out, "keycrm: error: %s\n", err.msg);
		return 1;
	}
	k.http.max_attempts = 2;
	k.http.deadline_ms = kc_monotonic_ms() + CHECK_DEADLINE_MS;
	switch (kc_keycrm_check_key(&k, &err)) {
	case KC_KEY_VALID:
		fprintf(out, "keycrm: ok\n");
		rc = 0;
		break;
	case KC_KEY_REJECTED:
		fprintf(out, "keycrm: rejected: %s\n", err.msg);
		break;
	case KC_KEY_UNREACHABLE:
		fprintf(out, "keycrm: unreachable: %s\n", err.msg);
		break;
	case KC_KEY_NOT_SET:
		fprintf(out, "keycrm: not set\n");
		break;
	}
	if (rc == 0) {
		if (kc_keycrm_warehouse_ids(&k, WAREHOUSE_PAGES, ids, WAREHOUSES_MAX, &n,
		    &complete, &err) != 0) {
			fprintf(out, "warehouses: unknown: %s\n", err.msg);
		} else {
			fprintf(out, "warehouses:");
			for (size_t i = 0; i < n; i++)
				fprintf(out, " %ld", ids[i]);
			fprintf(out, "%s\n", complete ? "" : " (from the first pages of the stock list)");
		}
	}
	kc_keycrm_cleanup(&k);
	return rc;
}

int
kc_setup_check(const struct kc_config *cfg, int shop, int keycrm, FILE *out)
{
	int rc = 0;

	if (shop)
		rc |= check_shop(cfg, out);
	if (keycrm)
		rc |= check_keycrm(cfg, out);
	return rc;
}
