/*
 * woo_check.c - see woo_check.h.
 */
#include "woo_check.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "html.h"
#include "woo.h"

#define MANAGE_STOCK_PATH "/wc/v3/settings/products/woocommerce_manage_stock"

/* The shop's error message as plain text (error pages come as HTML). */
static void
message(const struct kc_http_response *resp, char *out, size_t outsz)
{
	char raw[256];

	kc_woo_error_message(resp, raw, sizeof(raw));
	kc_text_from_markup(raw, out, outsz);
}

static void
check_write(struct kc_woo *w, struct kc_woo_check *c)
{
	struct kc_http_response resp;
	struct kc_error err = { { 0 } };
	char msg[256];

	kc_http_response_init(&resp);
	if (kc_woo_request(w, "POST", "/wc/v3/products/batch", "{}", &resp, &err) != 0) {
		kc_strlcpy(c->write_reason, err.msg, sizeof(c->write_reason));
	} else if (resp.status == 200) {
		c->write_ok = 1;
	} else {
		message(&resp, msg, sizeof(msg));
		c->write_ok = resp.status == 401 || resp.status == 403 ? 0 : -1;
		snprintf(c->write_reason, sizeof(c->write_reason), "HTTP %ld: %s",
		    resp.status, msg);
	}
	kc_http_response_free(&resp);
}

void
kc_woo_check(const struct kc_config *cfg, const char *ck, const char *cs,
    int64_t deadline_ms, struct kc_woo_check *c)
{
	struct kc_woo w;
	struct kc_http_response resp;
	struct kc_error err = { { 0 } };
	char msg[256];

	memset(c, 0, sizeof(*c));
	c->write_ok = -1;
	if (ck == NULL && cs == NULL) {
		ck = cfg->woo_consumer_key;
		cs = cfg->woo_consumer_secret;
	}
	if (kc_woo_init_key(&w, cfg, ck, cs, &err) != 0) {
		c->state = cfg->woo_url == NULL || ck == NULL || cs == NULL ?
		    "not_set" : "error";
		kc_strlcpy(c->reason, err.msg, sizeof(c->reason));
		return;
	}
	w.http.max_attempts = 2;
	w.http.timeout_ms = 20000;
	w.http.deadline_ms = deadline_ms;
	kc_http_response_init(&resp);
	if (kc_woo_request(&w, "GET", MANAGE_STOCK_PATH, NULL, &resp, &err) != 0) {
		c->state = "unreachable";
		kc_strlcpy(c->reason, err.msg, sizeof(c->reason));
		goto out;
	}
	message(&resp, msg, sizeof(msg));
	if (resp.status == 401 || resp.status == 403) {
		c->state = "rejected";
		snprintf(c->reason, sizeof(c->reason), "HTTP %ld: %s", resp.status, msg);
	} else if (resp.status == 200) {
		json_t *root = json_loadb(resp.body.data ? resp.body.data : "",
		    resp.body.len, 0, NULL);
		const char *v = json_string_value(json_object_get(root, "value"));
		c->state = "ok";
		c->read_ok = 1;
		if (v != NULL && (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0))
			kc_strlcpy(c->manage_stock, v, sizeof(c->manage_stock));
		json_decref(root);
	} else {
		c->state = "error";
		snprintf(c->reason, sizeof(c->reason), "GET /wp-json" MANAGE_STOCK_PATH
		    ": HTTP %ld: %s%s", resp.status, msg, resp.status == 404 ?
		    " (is WooCommerce active, and woo_url the site's address?)" : "");
	}
	if (strcmp(c->state, "ok") == 0 || strcmp(c->state, "rejected") == 0)
		check_write(&w, c);
	/* A key that may write but not read is still a key the shop knows. */
	if (strcmp(c->state, "rejected") == 0 && c->write_ok == 1)
		c->state = "ok";
out:
	kc_http_response_free(&resp);
	kc_woo_cleanup(&w);
}
