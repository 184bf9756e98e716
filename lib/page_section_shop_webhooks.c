/*
 * page_section_shop_webhooks.c - the Shop webhooks section: WooCommerce's
 * own product webhook that tells us of each stock change in the shop
 * (SPEC section 3, "shop webhook"), its state as WooCommerce reports it,
 * what arrived through it, and the buttons that connect, repair and
 * remove it (page_actions_shop.c).  Also what the Status section says of
 * it.
 */
#include "page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "store_shop_hooks.h"

/* The page asks the shop while someone waits: briefly. */
#define SHOP_HOOKS_READ_MS 8000
/* WooCommerce sends when its queue runs (about a minute on a default shop). */
#define SHOP_HOOKS_GRACE_S 180.0

static int
shop_configured(const struct page *p)
{
	return p->cfg.woo_url != NULL && p->cfg.woo_consumer_key != NULL &&
	    p->cfg.woo_consumer_secret != NULL;
}

void
page_shop_hooks_url(const struct page *p, char *out, size_t outsz)
{
	char own[1100];

	snprintf(own, sizeof(own), "%s%s/shop-webhook", p->where.origin, p->where.prefix);
	kc_shop_hooks_url(&p->cfg, own, out, outsz);
}

void
page_shop_hooks(struct page *p)
{
	char url[1100];

	if (p->shop_hooks_state != 0)
		return;
	/* Not in use until a secret is set: the page asks the shop nothing. */
	if (!shop_configured(p) || p->cfg.shop_webhook_secret == NULL) {
		p->shop_hooks_state = 2;
		return;
	}
	p->shop_hooks = calloc(1, sizeof(*p->shop_hooks));
	if (p->shop_hooks == NULL) {
		kc_error_set(&p->shop_hooks_err, "out of memory");
		p->shop_hooks_state = -1;
		return;
	}
	page_shop_hooks_url(p, url, sizeof(url));
	p->shop_hooks_state = kc_shop_hooks_read(&p->cfg, url,
	    kc_monotonic_ms() + SHOP_HOOKS_READ_MS, p->shop_hooks,
	    &p->shop_hooks_err) == 0 ? 1 : -1;
}

void
page_shop_hooks_free(struct page *p)
{
	free(p->shop_hooks);
	p->shop_hooks = NULL;
}

/* When the sync run before the last one started (0: none). */
static double
previous_sync(struct page *p)
{
	struct kc_status_run *runs = NULL;
	struct kc_error err = { { 0 } };
	size_t n = 0;
	long total = 0;
	double t = 0;

	if (kc_status_history(&p->st, KC_HISTORY_SYNC, 1, 1, &runs, &n, &total, &err) == 0 &&
	    n == 1)
		t = runs[0].started_at;
	kc_status_runs_free(runs, n);
	return t;
}

/*
 * The last sync run found changes in the shop, yet no shop webhook
 * arrived since the run before it (or since the webhook was connected):
 * the shop changed and WooCommerce did not tell us.
 */
static void
unreported_issue(struct page *p, struct issues *is)
{
	const struct kc_status_run *sync = &p->status.last[KC_RUN_SYNC];
	struct kc_shop_hook_stats stats;
	struct kc_error err = { { 0 } };
	double connected, since;
	char ago[64];

	if (!p->have_status || !p->have_store || p->status.first_install ||
	    sync->started_at <= 0 || sync->queued <= 0 || sync->error != NULL ||
	    p->now < sync->started_at + SHOP_HOOKS_GRACE_S)
		return;
	connected = kc_shop_hooks_connected_at(&p->st);
	if (connected <= 0 || sync->started_at <= connected)
		return;
	since = previous_sync(p);
	if (since < connected)
		since = connected;
	if (kc_store_shop_hook_stats(&p->st, since, &stats, &err) != 0 ||
	    stats.last_received >= since)
		return;
	page_format_ago(since, p->now, ago, sizeof(ago));
	issue(is, L_WARN, kc_ntr("The last sync run found %ld change in the shop that no shop webhook reported: nothing has arrived from WooCommerce since %s. Check the webhook under Shop webhooks and that the shop's job queue runs (see README).",
	    "The last sync run found %ld changes in the shop that no shop webhook reported: nothing has arrived from WooCommerce since %s. Check the webhook under Shop webhooks and that the shop's job queue runs (see README).",
	    (unsigned long)sync->queued), sync->queued, ago);
}

void
page_shop_hook_issues(struct page *p, struct issues *is)
{
	char why[512];

	page_shop_hooks(p);
	if (p->shop_hooks_state == 2)
		return;
	if (p->shop_hooks_state < 0) {
		kc_text_from_markup(p->shop_hooks_err.msg, why, sizeof(why));
		issue(is, L_INFO, _("The shop's webhooks could not be read: %s%s"), why,
		    page_period(why));
	} else if (p->shop_hooks->n == 0) {
		issue(is, L_WARN, "%s", _("The shop has no webhook telling us of its stock changes: they reach KeyCRM only with the next sync. Connect it again under Shop webhooks."));
	}
	for (size_t i = 0; p->shop_hooks_state == 1 && i < p->shop_hooks->n; i++) {
		const struct kc_shop_hook *h = &p->shop_hooks->items[i];
		if (strcmp(h->status, "disabled") == 0)
			issue(is, L_WARN, _("WooCommerce has disabled the shop's webhook %lld after failed deliveries: the shop's changes reach KeyCRM only with the next sync. Repair it under Shop webhooks."),
			    h->id);
		else if (strcmp(h->status, "paused") == 0)
			issue(is, L_WARN, _("The shop's webhook %lld is paused in WooCommerce: the shop's changes reach KeyCRM only with the next sync. Repair it under Shop webhooks."),
			    h->id);
	}
	unreported_issue(p, is);
}

static void
hook_row(struct kc_buf *b, const struct kc_shop_hook *h, const char *url)
{
	const char *cls = strcmp(h->status, "active") == 0 ? "ok" :
	    strcmp(h->status, "paused") == 0 ? "warn" : "bad";
	const char *label = strcmp(h->status, "active") == 0 ? _("active") :
	    strcmp(h->status, "paused") == 0 ? _("paused") :
	    _("disabled after failed deliveries");

	kc_html_f(b, "<li class=\"%s\">", cls);
	kc_html_f(b, _("Webhook %lld"), h->id);
	kc_html_f(b, " <span class=\"badge %s\" data-hook-status=\"%s\">%s</span> "
	    "<span class=\"muted\">%s</span>", cls, h->status, label, h->name);
	if (strcmp(h->delivery_url, url) != 0) {
		kc_html_raw(b, "<br>");
		kc_html_f(b, _("It delivers to %s, not to this site's address: recreate it."),
		    h->delivery_url);
	}
	kc_html_raw(b, "</li>");
}

/*
 * How late WooCommerce's deliveries arrive (SPEC 3): the shop's own job
 * queue decides, so the owner sees whether making it prompt is needed.
 */
static void
delays(struct kc_buf *b, const struct kc_shop_hook_stats *s)
{
	char median[64], most[64];

	if (s->delays == 0)
		return;
	page_format_duration(s->delay_median, median, sizeof(median));
	page_format_duration(s->delay_max, most, sizeof(most));
	kc_html_f(b, "<dt>%s</dt><dd data-delay-median=\"%.0f\">", _("From the change in the "
	    "shop to its arrival here, last 24 h"), s->delay_median);
	kc_html_f(b, kc_ntr("%s typically, %s at most (%ld delivery)",
	    "%s typically, %s at most (%ld deliveries)", (unsigned long)s->delays),
	    median, most, s->delays);
	if (s->delay_median > 30)
		kc_html_f(b, "<br><span class=\"muted\">%s</span>", _("WooCommerce sends when "
		    "its job queue runs: a per-minute cron for wp-cron.php, or the mu-plugin in "
		    "contrib/, makes that prompt (see the README)."));
	kc_html_raw(b, "</dd>");
}

static void
facts(struct kc_buf *b, struct page *p, const char *url)
{
	struct kc_shop_hook_stats s;
	struct kc_error err = { { 0 } };
	char masked[64];

	kc_html_f(b, "<dl class=\"facts\"><dt>%s</dt><dd><code>%s</code></dd>",
	    _("Delivery URL"), url);
	kc_mask_secret(p->cfg.shop_webhook_secret, masked, sizeof(masked));
	kc_html_f(b, "<dt>%s</dt><dd>", _("Secret"));
	if (p->cfg.shop_webhook_secret != NULL)
		kc_html_f(b, "<code>%s</code> ", masked);
	page_source_badge(b, p->cfg.source[KC_KEY_SHOP_WEBHOOK_SECRET],
	    p->cfg.shop_webhook_secret == NULL);
	kc_html_f(b, "</dd><dt>%s</dt><dd>", _("Last notified us"));
	if (!p->have_store ||
	    kc_store_shop_hook_stats(&p->st, p->now - 86400, &s, &err) != 0) {
		kc_html_f(b, "%s</dd>", _("unknown (the state database cannot be read)"));
	} else if (s.last_received <= 0) {
		kc_html_f(b, "<span class=\"muted\">%s</span></dd>", _("never"));
	} else {
		page_html_when(b, s.last_received, p->now);
		kc_html_f(b, "</dd><dt>%s</dt><dd>", _("Reported"));
		kc_html_f(b, kc_ntr("%ld product or variation: ", "%ld products and variations: ",
		    (unsigned long)s.products), s.products);
		kc_html_f(b, kc_ntr("%ld handled by the push to KeyCRM, ",
		    "%ld handled by the push to KeyCRM, ", (unsigned long)s.handled), s.handled);
		kc_html_f(b, kc_ntr("%ld waiting", "%ld waiting", (unsigned long)s.pending),
		    s.pending);
		kc_html_f(b, "</dd><dt>%s</dt><dd data-pushed=\"%ld\">", _("Pushed to KeyCRM, last 24 h"),
		    s.pushed);
		kc_html_f(b, kc_ntr("%ld value", "%ld values", (unsigned long)s.pushed), s.pushed);
		kc_html_raw(b, " ");
		kc_html_f(b, kc_ntr("in %ld push", "in %ld pushes", (unsigned long)s.pushes),
		    s.pushes);
		kc_html_raw(b, "</dd>");
		delays(b, &s);
	}
	kc_html_raw(b, "</dl>");
}

void
section_shop_webhooks(struct kc_buf *b, struct page *p)
{
	char url[1100];
	int broken = 0;

	kc_html_f(b, "<section class=\"card\" id=\"shop-webhooks\"><h2>%s</h2><p>%s</p>",
	    _("Shop webhooks"), _("WooCommerce can tell us itself of every stock change "
	    "in the shop (a sale, a restock) through its own webhook, so that the change "
	    "reaches KeyCRM in seconds instead of at the next sync. The sync stays the "
	    "safety net."));
	if (!shop_configured(p)) {
		kc_html_f(b, "<p class=\"muted\">%s</p></section>",
		    _("Set the shop's address and REST key first."));
		return;
	}
	page_shop_hooks_url(p, url, sizeof(url));
	page_shop_hooks(p);
	kc_html_raw(b, "<ul class=\"ticks\" id=\"shop-hooks\">");
	if (p->shop_hooks_state == 2) {
		kc_html_f(b, "<li class=\"none\">%s</li>", _("Not connected"));
	} else if (p->shop_hooks_state < 0) {
		char why[512];
		kc_text_from_markup(p->shop_hooks_err.msg, why, sizeof(why));
		kc_html_f(b, "<li class=\"warn\">%s: %s</li>",
		    _("The shop's webhooks could not be read"), why);
	} else if (p->shop_hooks->n == 0) {
		kc_html_f(b, "<li class=\"bad\">%s</li>",
		    _("The shop has no webhook of ours (removed in WooCommerce?)"));
	} else {
		for (size_t i = 0; i < p->shop_hooks->n; i++) {
			hook_row(b, &p->shop_hooks->items[i], url);
			if (strcmp(p->shop_hooks->items[i].status, "active") != 0)
				broken = 1;
		}
	}
	kc_html_raw(b, "</ul>");
	facts(b, p, url);
	kc_html_raw(b, "<div class=\"actions\">");
	if (p->shop_hooks_state == 1 && p->shop_hooks->n > 0) {
		if (broken)
			page_action_button(b, p, "shop_enable", _("Re-enable"), 1);
		page_action_button(b, p, "shop_recreate", _("Recreate with a new secret"), !broken);
		page_action_button(b, p, "shop_remove", _("Remove"), 0);
	} else {
		page_action_button(b, p, "shop_connect", _("Connect the shop's webhooks"), 1);
		if (p->shop_hooks_state != 2)
			page_action_button(b, p, "shop_remove", _("Remove"), 0);
	}
	kc_html_f(b, "</div><p class=\"muted\">%s</p></section>",
	    _("Connecting creates the webhook in WooCommerce (topic product.updated) with a "
	    "new secret, saved here as shop_webhook_secret. WooCommerce never resends a "
	    "failed delivery and disables the webhook after 7 failures in a row; re-enabling "
	    "keeps its count of failures, so one more failure disables it again, while "
	    "recreating starts afresh. WooCommerce sends when its job queue runs: see the "
	    "README for making that prompt."));
}
