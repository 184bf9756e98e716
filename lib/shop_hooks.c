/*
 * shop_hooks.c - see shop_hooks.h.
 */
#include "shop_hooks.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "i18n.h"
#include "settings_file.h"
#include "store_page.h"
#include "store_settings.h"

#define SHELL_DEADLINE_MS 60000

void
kc_shop_hooks_url(const struct kc_config *cfg, const char *page_url, char *out,
    size_t outsz)
{
	if (cfg->shop_webhook_url != NULL)
		kc_strlcpy(out, cfg->shop_webhook_url, outsz);
	else if (page_url != NULL)
		kc_strlcpy(out, page_url, outsz);
	else
		snprintf(out, outsz, "%s/keycrm/shop-webhook", cfg->woo_url ? cfg->woo_url : "");
}

static int
open_shop(const struct kc_config *cfg, int64_t deadline_ms, struct kc_woo *w,
    struct kc_error *err)
{
	if (kc_woo_init(w, cfg, err) != 0)
		return -1;
	w->http.max_attempts = 2;
	w->http.timeout_ms = 20000;
	w->http.deadline_ms = deadline_ms;
	return 0;
}

/* The page's saved settings again, with secret (NULL: without one). */
static int
save_secret(const struct kc_config *cfg, struct kc_store *st, const char *secret,
    const char *who, struct kc_error *err)
{
	static const enum kc_key kept[] = { KC_KEY_KEYCRM_API_KEY,
	    KC_KEY_KEYCRM_WAREHOUSE_ID, KC_KEY_SUBTRACT_RESERVE, KC_KEY_MANAGE_STOCK,
	    KC_KEY_WOO_CONSUMER_KEY, KC_KEY_WOO_CONSUMER_SECRET };
	char values[6][1024];
	const char **field[6];
	struct kc_settings_values v = { 0 };
	struct kc_buf text;
	int rc;

	field[0] = &v.keycrm_api_key;
	field[1] = &v.keycrm_warehouse_id;
	field[2] = &v.subtract_reserve;
	field[3] = &v.manage_stock;
	field[4] = &v.woo_consumer_key;
	field[5] = &v.woo_consumer_secret;
	for (size_t i = 0; i < 6; i++) {
		if (cfg->source[kept[i]] != KC_SRC_SETTINGS)
			continue;
		kc_config_value_text(cfg, kept[i], values[i], sizeof(values[i]));
		*field[i] = values[i];
	}
	v.shop_webhook_secret = secret;
	if (cfg->mysql_host == NULL) {
		rc = kc_settings_file_write(cfg->state_dir, &v, who, err);
	} else if (st == NULL) {
		kc_error_set(err, "the state database is not open");
		rc = -1;
	} else {
		kc_buf_init(&text);
		rc = kc_settings_file_format(&v, who, &text, err);
		if (rc == 0)
			rc = kc_store_settings_put(st, text.data, kc_now(), err);
		kc_wipe(text.data, text.cap);
		kc_buf_free(&text);
	}
	kc_wipe(values, sizeof(values));
	if (rc != 0)
		kc_error_prefix(err, "cannot save shop_webhook_secret: ");
	return rc;
}

static void
note_connected(struct kc_store *st, double t)
{
	json_t *v;

	if (st == NULL)
		return;
	v = t > 0 ? json_pack("{s:f}", "t", t) : json_null();
	if (v != NULL)
		kc_store_check_put(st, "shop_webhook", v, NULL);
	json_decref(v);
}

double
kc_shop_hooks_connected_at(struct kc_store *st)
{
	json_t *v = NULL;
	double t = 0;

	if (st != NULL && kc_store_check_get(st, "shop_webhook", &v) == 0)
		t = json_number_value(json_object_get(v, "t"));
	json_decref(v);
	return t;
}

int
kc_shop_hooks_read(const struct kc_config *cfg, const char *url,
    int64_t deadline_ms, struct kc_shop_hooks *out, struct kc_error *err)
{
	struct kc_woo w;
	int rc;

	out->n = 0;
	if (open_shop(cfg, deadline_ms, &w, err) != 0)
		return -1;
	rc = kc_woo_hooks_ours(&w, url, out->items, &out->n, err);
	kc_woo_cleanup(&w);
	return rc;
}

int
kc_shop_hooks_connect(const struct kc_config *cfg, struct kc_store *st,
    const char *url, const char *who, int64_t deadline_ms,
    struct kc_shop_hook *made, size_t *removed, struct kc_error *err)
{
	struct kc_shop_hooks old;
	struct kc_woo w;
	char secret[KC_SHOP_HOOK_SECRET_LEN + 1];
	const char *previous = cfg->source[KC_KEY_SHOP_WEBHOOK_SECRET] == KC_SRC_SETTINGS ?
	    cfg->shop_webhook_secret : NULL;
	int rc = -1;

	*removed = 0;
	if (open_shop(cfg, deadline_ms, &w, err) != 0)
		return -1;
	/* Asked first: a shop that refuses us refuses before anything changed. */
	if (kc_woo_hooks_ours(&w, url, old.items, &old.n, err) != 0 ||
	    kc_shop_hook_new_secret(secret, err) != 0)
		goto out;
	/* Saved before the creation: its ping must find the secret set. */
	if (save_secret(cfg, st, secret, who, err) != 0)
		goto out;
	if (kc_woo_hook_create(&w, url, secret, made, err) != 0) {
		struct kc_error e2 = { { 0 } };
		if (save_secret(cfg, st, previous, who, &e2) != 0) {
			char first[sizeof(err->msg)];
			kc_log(KC_LOG_ERROR, "shop webhook: %s", e2.msg);
			kc_strlcpy(first, err->msg, sizeof(first));
			kc_error_set(err, "%.400s; and the new shop_webhook_secret stays saved (%.400s)",
			    first, e2.msg);
			rc = -2;
		}
		goto out;
	}
	note_connected(st, kc_now());
	kc_log(KC_LOG_INFO, "shop webhook: %s created webhook %lld to %s", who,
	    made->id, url);
	rc = 0;
	for (size_t i = 0; i < old.n; i++) {
		struct kc_error e2 = { { 0 } };
		if (kc_woo_hook_delete(&w, old.items[i].id, &e2) >= 0) {
			(*removed)++;
		} else if (rc == 0) {
			kc_error_set(err, "webhook %lld (the old one) is still in the shop: %s",
			    old.items[i].id, e2.msg);
			rc = 1;
		}
	}
out:
	kc_wipe(secret, sizeof(secret));
	kc_woo_cleanup(&w);
	return rc;
}

int
kc_shop_hooks_enable(const struct kc_config *cfg, const char *url,
    int64_t deadline_ms, size_t *enabled, struct kc_error *err)
{
	struct kc_shop_hooks ours;
	struct kc_woo w;
	int rc = -1;

	*enabled = 0;
	if (open_shop(cfg, deadline_ms, &w, err) != 0)
		return -1;
	if (kc_woo_hooks_ours(&w, url, ours.items, &ours.n, err) != 0)
		goto out;
	if (ours.n == 0) {
		kc_error_set(err, "the shop has no webhook of ours to re-enable; connect it again");
		goto out;
	}
	rc = 0;
	for (size_t i = 0; i < ours.n && rc == 0; i++) {
		struct kc_shop_hook h;
		if (strcmp(ours.items[i].status, "active") == 0)
			continue;
		if (kc_woo_hook_set_status(&w, ours.items[i].id, "active", &h, err) != 0)
			rc = -1;
		else if (strcmp(h.status, "active") != 0) {
			kc_error_set(err, "the shop left webhook %lld %s", h.id, h.status);
			rc = -1;
		} else
			(*enabled)++;
	}
out:
	kc_woo_cleanup(&w);
	return rc;
}

int
kc_shop_hooks_remove(const struct kc_config *cfg, struct kc_store *st,
    const char *url, const char *who, int64_t deadline_ms, size_t *removed,
    struct kc_error *err)
{
	struct kc_shop_hooks ours;
	struct kc_woo w;
	int rc = -1;

	*removed = 0;
	if (open_shop(cfg, deadline_ms, &w, err) != 0)
		return -1;
	if (kc_woo_hooks_ours(&w, url, ours.items, &ours.n, err) != 0)
		goto out;
	for (size_t i = 0; i < ours.n; i++) {
		if (kc_woo_hook_delete(&w, ours.items[i].id, err) < 0)
			goto out;
		(*removed)++;
	}
	/* Nothing signs with it any more. */
	if (cfg->source[KC_KEY_SHOP_WEBHOOK_SECRET] == KC_SRC_SETTINGS &&
	    save_secret(cfg, st, NULL, who, err) != 0)
		goto out;
	note_connected(st, 0);
	kc_log(KC_LOG_INFO, "shop webhook: %s removed %zu webhook(s) to %s", who,
	    *removed, url);
	rc = 0;
out:
	kc_woo_cleanup(&w);
	return rc;
}

/* --- the shell ----------------------------------------------------------- */

static void
print_hooks(FILE *out, const struct kc_shop_hooks *h, const char *url)
{
	if (h->n == 0)
		fprintf(out, _("No webhook of ours in the shop (delivery URL %s).\n"), url);
	for (size_t i = 0; i < h->n; i++)
		fprintf(out, _("webhook %lld: %s, %s, delivers to %s\n"), h->items[i].id,
		    h->items[i].status, h->items[i].topic, h->items[i].delivery_url);
}

int
kc_shop_hooks_shell(struct kc_config *cfg, const char *action, FILE *out,
    FILE *errout)
{
	struct kc_store st;
	struct kc_shop_hooks h;
	struct kc_shop_hook made;
	struct kc_error err = { { 0 } };
	char url[1100];
	const char *who = "keycrm-sync-setup";
	int64_t deadline = kc_monotonic_ms() + SHELL_DEADLINE_MS;
	int have_store, rc = -1;
	size_t n = 0;

	if (strcmp(action, "connect") != 0 && strcmp(action, "status") != 0 &&
	    strcmp(action, "repair") != 0 && strcmp(action, "remove") != 0) {
		fprintf(errout, "%s", _("--shop-webhook takes connect, status, repair or remove\n"));
		return 2;
	}
	if (cfg->woo_url == NULL || cfg->woo_consumer_key == NULL) {
		fprintf(errout, "%s", _("The shop is not configured (woo_url, woo_consumer_key, woo_consumer_secret).\n"));
		return 1;
	}
	have_store = kc_store_open_config(&st, cfg, &err) == 0;
	/* Several servers: the page's settings are the database's. */
	if (cfg->mysql_host != NULL && (!have_store ||
	    kc_store_settings_apply(&st, cfg, &err) != 0)) {
		fprintf(errout, "%s\n", err.msg);
		if (have_store)
			kc_store_close(&st);
		return 1;
	}
	kc_shop_hooks_url(cfg, NULL, url, sizeof(url));
	if (strcmp(action, "status") == 0) {
		if ((rc = kc_shop_hooks_read(cfg, url, deadline, &h, &err)) == 0) {
			print_hooks(out, &h, url);
			for (size_t i = 0; i < h.n; i++)
				if (strcmp(h.items[i].status, "active") != 0)
					rc = 1;
			if (h.n == 0)
				rc = 1;
		}
	} else if (strcmp(action, "connect") == 0) {
		rc = kc_shop_hooks_connect(cfg, have_store ? &st : NULL, url, who,
		    deadline, &made, &n, &err);
		if (rc >= 0)
			fprintf(out, _("Created webhook %lld (%s) to %s; its new secret is saved as shop_webhook_secret.\n"),
			    made.id, made.status, url);
		if (rc == 1)
			fprintf(out, "%s\n", err.msg);
	} else if (strcmp(action, "repair") == 0) {
		if ((rc = kc_shop_hooks_enable(cfg, url, deadline, &n, &err)) == 0)
			fprintf(out, kc_ntr("Re-enabled %zu webhook. WooCommerce keeps its failure count: one more failed delivery disables it again (connect makes a fresh one).\n",
			    "Re-enabled %zu webhooks. WooCommerce keeps its failure count: one more failed delivery disables them again (connect makes fresh ones).\n",
			    (unsigned long)n), n);
	} else {
		if ((rc = kc_shop_hooks_remove(cfg, have_store ? &st : NULL, url, who,
		    deadline, &n, &err)) == 0)
			fprintf(out, kc_ntr("Removed %zu webhook from the shop.\n",
			    "Removed %zu webhooks from the shop.\n", (unsigned long)n), n);
	}
	if (rc < 0)
		fprintf(errout, "%s\n", err.msg);
	if (have_store)
		kc_store_close(&st);
	return rc != 0;
}
