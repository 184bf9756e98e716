/*
 * WooCommerce's product webhooks (SPEC 3, "shop webhook"): the signature
 * check, the payload reduced to what the push needs, and the store that
 * never lets an older payload replace a newer one.
 */
#include "unit.h"

#include "shop_webhook.h"
#include "store_shop.h"

/* Signatures computed independently: base64(HMAC-SHA256(secret, body)). */
static const struct {
	const char *secret, *body, *given;
	int ok;
} signatures[] = {
	{ "s3cret", "{\"id\":1}", "Y92rNNpYOOODVF6ckLQPdKTj2qvF3ZqNSaUYda1LJBg=", 1 },
	{ "another-secret-of-some-length", "{\"id\":23,\"sku\":\"RW-TEE-M\"}",
	  "94/MPa/0xt2vNc1f3lUz/0NkSenTi+1MUBEeqFLgO/g=", 1 },
	{ "k", "", "i7mQxAp9YcuXWXqUISUCW+UKyL63RDbjc1uYiTp/ZiA=", 1 },
	/* The wrong secret, a changed body, a cut or longer signature. */
	{ "s3cret!", "{\"id\":1}", "Y92rNNpYOOODVF6ckLQPdKTj2qvF3ZqNSaUYda1LJBg=", 0 },
	{ "s3cret", "{\"id\":2}", "Y92rNNpYOOODVF6ckLQPdKTj2qvF3ZqNSaUYda1LJBg=", 0 },
	{ "s3cret", "{\"id\":1}", "Y92rNNpYOOODVF6ckLQPdKTj2qvF3ZqNSaUYda1LJBg", 0 },
	{ "s3cret", "{\"id\":1}", "Y92rNNpYOOODVF6ckLQPdKTj2qvF3ZqNSaUYda1LJBg==", 0 },
	{ "s3cret", "{\"id\":1}", "y92rNNpYOOODVF6ckLQPdKTj2qvF3ZqNSaUYda1LJBg=", 0 },
	{ "s3cret", "{\"id\":1}", "", 0 },
	{ "s3cret", "{\"id\":1}", NULL, 0 },
	{ NULL, "{\"id\":1}", "Y92rNNpYOOODVF6ckLQPdKTj2qvF3ZqNSaUYda1LJBg=", 0 },
};

static void
signature_follows_the_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(signatures) / sizeof(signatures[0]); i++) {
		int ok = kc_shop_signature_ok(signatures[i].secret, signatures[i].body,
		    strlen(signatures[i].body), signatures[i].given);
		if (ok != signatures[i].ok)
			fail_msg("case %zu: %d, expected %d", i, ok, signatures[i].ok);
	}
}

#define MOD "\"date_modified_gmt\":\"2026-12-04T13:37:55\""

static const struct {
	const char *body;
	int ok;
	long long id, parent;
	const char *type, *sku;
	enum kc_woo_manage manage;
	int has_qty;
	long long qty;
} payloads[] = {
	{ "{\"id\":23,\"parent_id\":21,\"type\":\"variation\",\"sku\":\"RW-TEE-M\","
	  "\"manage_stock\":true,\"stock_quantity\":72," MOD ",\"name\":\"x\",\"price\":\"1\"}",
	  1, 23, 21, "variation", "RW-TEE-M", KC_WOO_MANAGE_YES, 1, 72 },
	{ "{\"id\":29,\"parent_id\":0,\"type\":\"simple\",\"sku\":\"A\","
	  "\"manage_stock\":false,\"stock_quantity\":null," MOD "}",
	  1, 29, 0, "simple", "A", KC_WOO_MANAGE_NO, 0, 0 },
	{ "{\"id\":24,\"parent_id\":21,\"type\":\"variation\",\"sku\":\"\","
	  "\"manage_stock\":\"parent\",\"stock_quantity\":-3," MOD "}",
	  1, 24, 21, "variation", "", KC_WOO_MANAGE_PARENT, 1, -3 },
	{ "{\"id\":30,\"type\":\"variable\",\"manage_stock\":false," MOD "}",
	  1, 30, 0, "variable", "", KC_WOO_MANAGE_NO, 0, 0 },
	/* Not a product, or not one that can be trusted. */
	{ "webhook_id=3", 0, 0, 0, NULL, NULL, 0, 0, 0 },
	{ "[]", 0, 0, 0, NULL, NULL, 0, 0, 0 },
	{ "{\"id\":0,\"type\":\"simple\"," MOD "}", 0, 0, 0, NULL, NULL, 0, 0, 0 },
	{ "{\"id\":\"7\",\"type\":\"simple\"," MOD "}", 0, 0, 0, NULL, NULL, 0, 0, 0 },
	{ "{\"id\":7,\"type\":\"simple\",\"stock_quantity\":1.5," MOD "}", 0, 0, 0, NULL, NULL, 0, 0, 0 },
	{ "{\"id\":7,\"type\":\"simple\",\"manage_stock\":\"yes\"," MOD "}", 0, 0, 0, NULL, NULL, 0, 0, 0 },
	{ "{\"id\":7,\"type\":\"simple\",\"sku\":5," MOD "}", 0, 0, 0, NULL, NULL, 0, 0, 0 },
	{ "{\"id\":7,\"type\":\"simple\"}", 0, 0, 0, NULL, NULL, 0, 0, 0 },
	{ "{\"id\":7,\"type\":\"simple\",\"date_modified_gmt\":\"2026-12-04 13:37:55\"}",
	  0, 0, 0, NULL, NULL, 0, 0, 0 },
	{ "{\"id\":7,\"type\":\"simple\",\"date_modified_gmt\":null}", 0, 0, 0, NULL, NULL, 0, 0, 0 },
	{ "{\"id\":7,\"id\":8,\"type\":\"simple\"," MOD "}", 0, 0, 0, NULL, NULL, 0, 0, 0 },
};

static void
reduce_follows_the_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		struct kc_shop_change c;
		struct kc_error err = { { 0 } };
		int rc = kc_shop_payload_reduce(payloads[i].body, strlen(payloads[i].body),
		    &c, &err);

		if (!payloads[i].ok) {
			if (rc == 0)
				fail_msg("case %zu: accepted", i);
			assert_true(err.msg[0] != '\0');
			continue;
		}
		if (rc != 0)
			fail_msg("case %zu: %s", i, err.msg);
		assert_int_equal(c.p.id, payloads[i].id);
		assert_int_equal(c.p.parent_id, payloads[i].parent);
		assert_str(c.p.type, payloads[i].type);
		assert_str(c.p.sku, payloads[i].sku);
		assert_int_equal(c.p.manage, payloads[i].manage);
		assert_int_equal(c.p.has_qty, payloads[i].has_qty);
		assert_int_equal(c.p.qty, payloads[i].qty);
		assert_str(c.modified, "2026-12-04T13:37:55");
		free(c.p.sku);
	}
}

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	return unit_make_dir(dir, sizeof(dir), "shop");
}

static int
teardown(void **state)
{
	(void)state;
	return unit_remove_dir(dir);
}

static void
change(struct kc_shop_change *c, long long qty, const char *modified)
{
	memset(c, 0, sizeof(*c));
	c->p.id = 12;
	strcpy(c->p.type, "simple");
	c->p.sku = (char *)"RW-SIMPLE-003";
	c->p.manage = KC_WOO_MANAGE_YES;
	c->p.has_qty = 1;
	c->p.qty = qty;
	strcpy(c->modified, modified);
}

static void
older_never_replaces_newer(void **state)
{
	struct kc_store st;
	struct kc_error err = { { 0 } };
	struct kc_shop_change c, *got;
	size_t n;

	(void)state;
	assert_int_equal(kc_store_open(&st, dir, &err), 0);
	change(&c, 20, "2026-12-04T13:37:55");
	assert_int_equal(kc_store_shop_put(&st, &c, 1.0, &err), 1);
	/* Late and older: ignored. */
	change(&c, 24, "2026-12-04T13:37:54");
	assert_int_equal(kc_store_shop_put(&st, &c, 2.0, &err), 0);
	assert_int_equal(kc_store_shop_pending(&st, 10, &got, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].p.qty, 20);
	/* Handled: off the queue, and still older changes are ignored. */
	assert_int_equal(kc_store_shop_done(&st, &got[0], &err), 0);
	assert_int_equal(kc_store_shop_pending_count(&st), 0);
	assert_int_equal(kc_store_shop_put(&st, &c, 3.0, &err), 0);
	assert_int_equal(kc_store_shop_pending_count(&st), 0);
	kc_store_shop_changes_free(got, n);
	/* A newer one while a pusher holds the old: done does not drop it. */
	change(&c, 18, "2026-12-04T13:38:10");
	assert_int_equal(kc_store_shop_put(&st, &c, 4.0, &err), 1);
	assert_int_equal(kc_store_shop_pending(&st, 10, &got, &n, &err), 0);
	change(&c, 17, "2026-12-04T13:38:11");
	assert_int_equal(kc_store_shop_put(&st, &c, 5.0, &err), 1);
	assert_int_equal(kc_store_shop_done(&st, &got[0], &err), 0);
	kc_store_shop_changes_free(got, n);
	assert_int_equal(kc_store_shop_pending(&st, 10, &got, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].p.qty, 17);
	kc_store_shop_changes_free(got, n);
	kc_store_close(&st);
}

static void
duplicate_skus_are_seen(void **state)
{
	struct kc_store st;
	struct kc_error err = { { 0 } };

	(void)state;
	assert_int_equal(kc_store_open(&st, dir, &err), 0);
	assert_int_equal(kc_store_shop_sku_duplicate(&st, "RW-DUP"), 0);
	assert_int_equal(kc_store_problem(&st, "RW-DUP", KC_PROBLEM_DUPLICATE,
	    "several shop products have this SKU", 1.0, &err), 0);
	/* The same identity key: case and trailing blanks (SPEC 4.6). */
	assert_int_equal(kc_store_shop_sku_duplicate(&st, "rw-dup "), 1);
	assert_int_equal(kc_store_shop_sku_duplicate(&st, "RW-DUP-2"), 0);
	kc_store_close(&st);
}

static void
a_sync_run_supersedes_older_changes(void **state)
{
	struct kc_store st;
	struct kc_error err = { { 0 } };
	struct kc_history h = { 0 };
	struct kc_shop_change c;
	double at = -1;

	(void)state;
	assert_int_equal(kc_store_open(&st, dir, &err), 0);
	assert_int_equal(kc_store_shop_last_sync(&st, &at), KC_STORE_ABSENT);
	h.kind = "apply";
	h.started_at = 50.0;
	assert_int_equal(kc_store_history_add(&st, &h, &err), 0);
	assert_int_equal(kc_store_shop_last_sync(&st, &at), KC_STORE_ABSENT);
	h.kind = "sync";
	h.started_at = 100.0;
	assert_int_equal(kc_store_history_add(&st, &h, &err), 0);
	assert_int_equal(kc_store_shop_last_sync(&st, &at), 0);
	assert_true(at == 100.0);
	change(&c, 20, "2026-12-04T13:37:55");
	assert_int_equal(kc_store_shop_put(&st, &c, 99.0, &err), 1);
	c.p.id = 13;
	assert_int_equal(kc_store_shop_put(&st, &c, 101.0, &err), 1);
	assert_int_equal(kc_store_shop_drop_before(&st, at, &err), 0);
	assert_int_equal(kc_store_shop_pending_count(&st), 1);
	kc_store_close(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(signature_follows_the_table),
		cmocka_unit_test(reduce_follows_the_table),
		cmocka_unit_test_setup_teardown(older_never_replaces_newer, setup, teardown),
		cmocka_unit_test_setup_teardown(duplicate_skus_are_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(a_sync_run_supersedes_older_changes, setup, teardown),
	};

	return cmocka_run_group_tests_name("shop_webhook", tests, NULL, NULL);
}
