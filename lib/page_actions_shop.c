/*
 * page_actions_shop.c - the Shop webhooks section's buttons: connect (or
 * recreate with a new secret), re-enable, remove.  The work is
 * shop_hooks.c's; a refusal of the shop changes nothing and says why.
 */
#include "page.h"

#include <string.h>

#define SHOP_ACTION_MS 45000

static int
refused(struct page *p, struct flash *f)
{
	if (p->cfg.woo_url == NULL || p->cfg.woo_consumer_key == NULL ||
	    p->cfg.woo_consumer_secret == NULL) {
		flash_say(f, L_BAD, "%s", _("Nothing was changed: the shop's address and REST key are not set."));
		return 1;
	}
	if (p->cfg.mysql_host != NULL && !p->have_store) {
		flash_say(f, L_BAD, _("Nothing was changed: %s%s"), p->store_err.msg,
		    page_period(p->store_err.msg));
		return 1;
	}
	return 0;
}

void
act_shop_connect(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_shop_hook made;
	struct kc_error err = { { 0 } };
	char url[1100];
	size_t removed = 0;
	int rc;

	(void)form;
	if (refused(p, f))
		return;
	page_shop_hooks_url(p, url, sizeof(url));
	rc = kc_shop_hooks_connect(&p->cfg, p->have_store ? &p->st : NULL, url, p->user,
	    kc_monotonic_ms() + SHOP_ACTION_MS, &made, &removed, &err);
	if (rc == -2) {
		flash_say(f, L_BAD, "%s%s", err.msg, page_period(err.msg));
		return;
	}
	if (rc < 0) {
		flash_say(f, L_BAD, _("Nothing was changed: %s%s"), err.msg, page_period(err.msg));
		return;
	}
	flash_say(f, L_OK, _("WooCommerce created webhook %lld (%s), delivering the shop's stock changes to %s, with a new secret saved as shop_webhook_secret."),
	    made.id, made.status, url);
	if (removed > 0)
		flash_say(f, L_OK, kc_ntr("%zu old webhook was removed.",
		    "%zu old webhooks were removed.", (unsigned long)removed), removed);
	if (rc > 0)
		flash_say(f, L_WARN, "%s%s", err.msg, page_period(err.msg));
}

void
act_shop_enable(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_error err = { { 0 } };
	char url[1100];
	size_t n = 0;

	(void)form;
	if (refused(p, f))
		return;
	page_shop_hooks_url(p, url, sizeof(url));
	if (kc_shop_hooks_enable(&p->cfg, url, kc_monotonic_ms() + SHOP_ACTION_MS, &n,
	    &err) != 0) {
		flash_say(f, L_BAD, _("The webhook was not re-enabled: %s%s"), err.msg,
		    page_period(err.msg));
		return;
	}
	if (n == 0)
		flash_say(f, L_OK, "%s", _("The shop's webhook was already active."));
	else
		flash_say(f, L_OK, "%s", _("The shop's webhook is active again. WooCommerce keeps its count of failures: one more failed delivery disables it again. Recreate it to start afresh."));
}

void
act_shop_remove(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_error err = { { 0 } };
	char url[1100];
	size_t n = 0;

	(void)form;
	if (refused(p, f))
		return;
	page_shop_hooks_url(p, url, sizeof(url));
	if (kc_shop_hooks_remove(&p->cfg, p->have_store ? &p->st : NULL, url, p->user,
	    kc_monotonic_ms() + SHOP_ACTION_MS, &n, &err) != 0) {
		if (n > 0)
			flash_say(f, L_BAD, _("Only part was removed: %s%s"), err.msg,
			    page_period(err.msg));
		else
			flash_say(f, L_BAD, _("Nothing was changed: %s%s"), err.msg,
			    page_period(err.msg));
		return;
	}
	flash_say(f, L_OK, kc_ntr("Removed %zu webhook from the shop; the shop's changes reach KeyCRM with the sync.",
	    "Removed %zu webhooks from the shop; the shop's changes reach KeyCRM with the sync.",
	    (unsigned long)n), n);
}
