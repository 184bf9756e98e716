/*
 * page_actions_check.c - the actions that ask both sides while the
 * administrator waits: "Check connections" and "Save settings" (a new key
 * or warehouse is checked before it is saved, SPEC 2).  The questions
 * themselves belong to the clients (keycrm_check.c, woo_check.c); the
 * answers are kept for the Connection section (store_page.c).
 */
#include "page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keycrm_check.h"
#include "settings_file.h"
#include "store_page.h"
#include "woo_check.h"
#include "store_settings.h"

static int64_t
deadline(void)
{
	return kc_monotonic_ms() + PAGE_CHECK_DEADLINE_MS;
}

static enum kc_key_status
check_keycrm(struct page *p, const char *key, struct kc_error *err)
{
	if (key == NULL || *key == '\0') {
		kc_error_set(err, "no API key is configured");
		return KC_KEY_NOT_SET;
	}
	if (!p->have_store) {
		kc_error_set(err, "%s", p->store_err.msg);
		return KC_KEY_UNREACHABLE;
	}
	return kc_keycrm_check(&p->cfg, &p->st, key, deadline(), err);
}

static void
record_keycrm_check(struct page *p, enum kc_key_status status, const char *reason)
{
	json_t *v = json_pack("{s:f,s:s,s:s}", "t", p->now,
	    "status", kc_keycrm_key_status_name(status), "reason", reason ? reason : "");

	if (v != NULL && p->have_store)
		kc_store_check_put(&p->st, "keycrm", v, NULL);
	json_decref(v);
}

static void
record_woo_check(struct page *p, const struct kc_woo_check *c)
{
	json_t *v = json_pack("{s:f,s:s,s:s,s:b,s:i,s:s,s:s}", "t", p->now,
	    "state", c->state, "reason", c->reason, "read", c->read_ok,
	    "write", c->write_ok, "write_reason", c->write_reason,
	    "manage_stock", c->manage_stock);

	if (v != NULL && p->have_store)
		kc_store_check_put(&p->st, "woo", v, NULL);
	json_decref(v);
}

static void
say_keycrm(struct flash *f, enum kc_key_status status, const char *reason)
{
	switch (status) {
	case KC_KEY_VALID:
		flash_say(f, L_OK, "%s", _("KeyCRM: the API key is valid."));
		break;
	case KC_KEY_REJECTED:
		/* reason only repeats it: "KeyCRM rejected the API key (HTTP 401)". */
		flash_say(f, L_BAD, "%s", _("KeyCRM rejected the API key."));
		break;
	case KC_KEY_UNREACHABLE:
		flash_say(f, L_WARN, _("KeyCRM could not be reached: %s%s"), reason,
		    page_period(reason));
		break;
	case KC_KEY_NOT_SET:
		flash_say(f, L_BAD, "%s", _("KeyCRM: no API key is set."));
		break;
	}
}

void
act_check(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_error err = { { 0 } };
	enum kc_key_status status;
	struct kc_woo_check c;

	(void)form;
	status = check_keycrm(p, p->cfg.keycrm_api_key, &err);
	record_keycrm_check(p, status, err.msg);
	say_keycrm(f, status, err.msg);
	kc_woo_check(&p->cfg, NULL, NULL, deadline(), &c);
	record_woo_check(p, &c);
	if (strcmp(c.state, "ok") != 0)
		flash_say(f, strcmp(c.state, "unreachable") == 0 ? L_WARN : L_BAD,
		    _("WooCommerce: %s%s"), c.reason[0] ? c.reason : c.state,
		    page_period(c.reason[0] ? c.reason : c.state));
	else if (c.write_ok != 1 || strcmp(c.manage_stock, "yes") != 0)
		flash_say(f, L_BAD, "%s", _("WooCommerce: the key works, but see Connection below."));
	else
		flash_say(f, L_OK, "%s", _("WooCommerce: the key works, may write, and stock management is on."));
}

/*
 * A new warehouse id is saved only when KeyCRM's stock list shows it, or
 * when the administrator says it is right although no stock is there yet.
 * Returns 1 when nothing may be saved (f says why).
 */
static int
warehouse_refused(struct page *p, const struct kc_form *form, const char *wh,
    const char *key, struct flash *f)
{
	char current[32];
	struct kc_buf seen;
	struct kc_error err = { { 0 } };
	int rc;

	kc_config_value_text(&p->cfg, KC_KEY_KEYCRM_WAREHOUSE_ID, current, sizeof(current));
	if (wh[0] == '\0' || strcmp(wh, current) == 0)
		return 0;
	if (key == NULL) {
		flash_say(f, L_WARN, _("Warehouse %s could not be checked with KeyCRM: no API key is set."),
		    wh);
		return 0;
	}
	kc_buf_init(&seen);
	if (!p->have_store) {
		kc_error_set(&err, "%s", p->store_err.msg);
		rc = -1;
	} else {
		rc = kc_keycrm_check_warehouse(&p->cfg, &p->st, key, strtol(wh, NULL, 10),
		    deadline(), &seen, &err);
	}
	if (rc < 0)
		flash_say(f, L_BAD, _("Nothing was saved: warehouse %s could not be checked because KeyCRM did not answer (%s). Try again later."),
		    wh, err.msg);
	else if (rc == 0 && !page_form_says_yes(form, "warehouse_unlisted"))
		flash_say(f, L_BAD, _("Nothing was saved: KeyCRM's stock list shows no warehouse %s (warehouses it shows: %s). Check the id in KeyCRM (Settings, Warehouses); if it is right but holds no stock yet, tick \"save it anyway\"."),
		    wh, seen.data ? seen.data : "none");
	else if (rc == 0)
		kc_log(KC_LOG_WARN, "settings: %s saved warehouse %s, which KeyCRM's stock list does not show",
		    p->user, wh);
	kc_buf_free(&seen);
	return rc < 0 || (rc == 0 && !page_form_says_yes(form, "warehouse_unlisted"));
}

/*
 * The shop's new REST key is saved only when the shop accepts it and lets
 * it write (SPEC 2).  Returns 1 when nothing may be saved (f says why).
 */
static int
woo_key_refused(struct page *p, const char *ck, const char *cs, struct flash *f)
{
	struct kc_woo_check c;

	kc_woo_check(&p->cfg, ck, cs, deadline(), &c);
	if (strcmp(c.state, "ok") == 0 && c.write_ok == 1) {
		record_woo_check(p, &c);
		return 0;
	}
	if (strcmp(c.state, "ok") == 0)
		flash_say(f, L_BAD, _("Nothing was saved: the shop accepted the new REST key, but it may not write (%s). Give the key Read/Write permission in WooCommerce (Settings, Advanced, REST API)."),
		    c.write_reason[0] ? c.write_reason : _("write permission unknown"));
	else if (strcmp(c.state, "rejected") == 0)
		flash_say(f, L_BAD, _("Nothing was saved: the shop rejected the new REST key (%s)."),
		    c.reason);
	else
		flash_say(f, L_BAD, _("Nothing was saved: the new REST key could not be checked because the shop did not answer (%s). Try again later."),
		    c.reason[0] ? c.reason : c.state);
	return 1;
}

/* The new KeyCRM key, checked; 1 when nothing may be saved (f says why). */
static int
keycrm_key_refused(struct page *p, const char *key, struct flash *f)
{
	struct kc_error err = { { 0 } };
	enum kc_key_status status = check_keycrm(p, key, &err);

	if (status == KC_KEY_REJECTED) {
		flash_say(f, L_BAD, "%s", _("Nothing was saved: KeyCRM rejected the new API key."));
		return 1;
	}
	if (status != KC_KEY_VALID) {
		flash_say(f, L_BAD, _("Nothing was saved: the new API key could not be checked because KeyCRM could not be reached (%s). Try again later."),
		    err.msg);
		return 1;
	}
	record_keycrm_check(p, status, "");
	return 0;
}

void
act_save(struct page *p, const struct kc_form *form, struct flash *f)
{
	char key[600], wh[64], sr[16], ms[16], ck[300], cs[300];
	const char *forget = kc_form_get(form, "forget_api_key");
	struct kc_settings_values v = { 0 };
	struct kc_buf text;
	struct kc_error err = { { 0 } };

	page_form_value(form, "keycrm_api_key", key, sizeof(key));
	page_form_value(form, "keycrm_warehouse_id", wh, sizeof(wh));
	page_form_value(form, "subtract_reserve", sr, sizeof(sr));
	page_form_value(form, "manage_stock", ms, sizeof(ms));
	page_form_value(form, "woo_consumer_key", ck, sizeof(ck));
	page_form_value(form, "woo_consumer_secret", cs, sizeof(cs));
	/* An empty key field keeps the key: secrets are never sent back. */
	if (key[0] != '\0')
		v.keycrm_api_key = key;
	else if (forget == NULL && p->cfg.source[KC_KEY_KEYCRM_API_KEY] == KC_SRC_SETTINGS)
		v.keycrm_api_key = p->cfg.keycrm_api_key;
	v.keycrm_warehouse_id = wh[0] ? wh : NULL;
	v.subtract_reserve = sr[0] ? sr : NULL;
	v.manage_stock = ms[0] ? ms : NULL;
	if (ck[0] != '\0' || cs[0] != '\0') {
		v.woo_consumer_key = ck;
		v.woo_consumer_secret = cs;
	} else if (kc_form_get(form, "forget_woo_key") == NULL &&
	    p->cfg.source[KC_KEY_WOO_CONSUMER_KEY] == KC_SRC_SETTINGS) {
		v.woo_consumer_key = p->cfg.woo_consumer_key;
		v.woo_consumer_secret = p->cfg.woo_consumer_secret;
	}

	/* Registering the shop's webhook saved its secret: keep it. */
	if (p->cfg.source[KC_KEY_SHOP_WEBHOOK_SECRET] == KC_SRC_SETTINGS)
		v.shop_webhook_secret = p->cfg.shop_webhook_secret;
	kc_buf_init(&text);
	if ((ck[0] == '\0') != (cs[0] == '\0')) {
		flash_say(f, L_BAD, "%s", _("Nothing was saved: enter both the shop's consumer key and its consumer secret."));
		goto out;
	}
	if (kc_settings_file_format(&v, p->user, &text, &err) != 0) {
		flash_say(f, L_BAD, _("Nothing was saved: %s%s"), err.msg, page_period(err.msg));
		goto out;
	}
	if (key[0] != '\0' && keycrm_key_refused(p, key, f))
		goto out;
	if (warehouse_refused(p, form, wh, key[0] ? key : p->cfg.keycrm_api_key, f))
		goto out;
	if (ck[0] != '\0' && woo_key_refused(p, ck, cs, f))
		goto out;
	/* Several servers share them through the database; one keeps a file. */
	if (p->cfg.mysql_host != NULL ?
	    (!p->have_store ||
	    kc_store_settings_put(&p->st, text.data, p->now, &err) != 0) :
	    kc_settings_file_write(p->cfg.state_dir, &v, p->user, &err) != 0) {
		if (p->cfg.mysql_host != NULL && !p->have_store)
			err = p->store_err;
		kc_log(KC_LOG_ERROR, "settings: cannot save: %s", err.msg);
		flash_say(f, L_BAD, _("Nothing was saved: %s%s"), err.msg, page_period(err.msg));
		goto out;
	}
	kc_log(KC_LOG_INFO, "settings: %s saved the settings%s", p->user,
	    key[0] ? " (with a new KeyCRM API key, checked valid)" : "");
	if (key[0] && ck[0])
		flash_say(f, L_OK, "%s", _("Settings saved; KeyCRM accepted the new API key; the shop accepted the new REST key, which may write. They apply from the next webhook or sync run."));
	else if (key[0])
		flash_say(f, L_OK, "%s", _("Settings saved; KeyCRM accepted the new API key. They apply from the next webhook or sync run."));
	else if (ck[0])
		flash_say(f, L_OK, "%s", _("Settings saved; the shop accepted the new REST key, which may write. They apply from the next webhook or sync run."));
	else
		flash_say(f, L_OK, "%s", _("Settings saved. They apply from the next webhook or sync run."));
out:
	kc_wipe(key, sizeof(key));
	kc_wipe(cs, sizeof(cs));
	kc_wipe(text.data, text.cap);
	kc_buf_free(&text);
}
