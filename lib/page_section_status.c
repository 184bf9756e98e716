/*
 * page_section_status.c - the Status section: one headline (healthy,
 * needs attention, not working), the issues behind it, the last webhook
 * and runs, and the buttons that run the sync.
 */
#include "page.h"

#include <stdio.h>
#include <string.h>

#include "html.h"
#include "store_page.h"
#include "store_retention.h"

static void
configuration_issues(const struct page *p, struct issues *is)
{
	const struct kc_config *c = &p->cfg;

	if (c->woo_url == NULL || c->woo_consumer_key == NULL || c->woo_consumer_secret == NULL)
		issue(is, L_BAD, _("The shop is not configured: set woo_url, woo_consumer_key and woo_consumer_secret in %s."),
		    c->path);
	if (c->keycrm_api_key == NULL)
		issue(is, L_BAD, "%s", _("No KeyCRM API key is set: enter it under Settings."));
	if (c->webhook_secret == NULL)
		issue(is, L_BAD, "%s", _("webhook_secret is not set: the webhook refuses KeyCRM's calls (see Setup)."));
	if (c->sync_token == NULL)
		issue(is, L_WARN, "%s", _("sync_token is not set: the cron URL refuses every call, so the shop's changes never reach KeyCRM."));
	if (c->keycrm_warehouse_id == 0)
		issue(is, L_WARN, "%s", _("No KeyCRM warehouse is set: the shop's changes cannot be sent to KeyCRM; set keycrm_warehouse_id under Settings."));
}

/*
 * 1 when a run after time t talked to the side (shop: 0, KeyCRM: 1)
 * without an error: a failed check before it no longer holds.
 */
static int
since_worked(const struct kc_status *s, double t, int keycrm)
{
	for (int k = KC_RUN_APPLY; k < KC_RUN__MAX; k++) {
		const struct kc_status_run *r = &s->last[k];
		if (r->started_at > t && r->error == NULL &&
		    (keycrm ? r->keycrm_requests : r->shop_requests) > 0)
			return 1;
	}
	return 0;
}

static void
check_issues(struct page *p, const struct kc_status *s, struct issues *is)
{
	json_t *k = NULL, *w = NULL;
	const char *ks, *ws, *ms;

	kc_store_check_get(&p->st, "keycrm", &k);
	kc_store_check_get(&p->st, "woo", &w);
	ks = json_string_value(json_object_get(k, "status"));
	ws = json_string_value(json_object_get(w, "state"));
	ms = json_string_value(json_object_get(w, "manage_stock"));
	/* A success after a failed check contradicts it: the check is stale. */
	if (ks != NULL && since_worked(s, json_number_value(json_object_get(k, "t")), 1))
		ks = NULL;
	if (ws != NULL && strcmp(ws, "ok") != 0 &&
	    since_worked(s, json_number_value(json_object_get(w, "t")), 0))
		ws = NULL;
	if (ks != NULL && strcmp(ks, "rejected") == 0)
		issue(is, L_BAD, "%s", _("KeyCRM rejected the API key at the last check."));
	else if (ks != NULL && strcmp(ks, "unreachable") == 0)
		issue(is, L_WARN, "%s", _("KeyCRM could not be reached at the last check."));
	if (ws != NULL && strcmp(ws, "rejected") == 0)
		issue(is, L_BAD, "%s", _("WooCommerce rejected the API key at the last check."));
	else if (ws != NULL && strcmp(ws, "unreachable") == 0)
		issue(is, L_WARN, "%s", _("The shop could not be reached at the last check."));
	else if (ws != NULL && strcmp(ws, "ok") == 0) {
		if (json_integer_value(json_object_get(w, "write")) == 0)
			issue(is, L_BAD, "%s", _("The WooCommerce key may not write: stock cannot be set in the shop."));
		if (ms != NULL && strcmp(ms, "no") == 0)
			issue(is, L_BAD, "%s", _("Stock management is off in WooCommerce (Settings, Products, Inventory)."));
	}
	json_decref(k);
	json_decref(w);
}

/* One count of problems, with a link to its table in Problems. */
static void
problem_issue(struct issues *is, enum level level, const char *anchor,
    const char *text)
{
	struct kc_buf li;

	if (level > is->worst)
		is->worst = level;
	kc_buf_init(&li);
	kc_html_f(&li, "<li class=\"%s\">%s <a href=\"#%s\">(%s)</a></li>",
	    page_level_class[level], text, anchor, _("see Problems"));
	kc_buf_add(&is->list, li.data, li.len);
	kc_buf_free(&li);
}

static void
problem_issues(const struct kc_status *s, struct issues *is)
{
	const struct kc_status_problems *pr = s->problems;
	char text[1024], why[512];
	unsigned long n;

	if ((n = (unsigned long)pr[KC_PROBLEM_FAILED].total) > 0) {
		/* Say what happened: a refusal and a shop error are not the same. */
		why[0] = '\0';
		if (pr[KC_PROBLEM_FAILED].n > 0)
			kc_text_from_markup(pr[KC_PROBLEM_FAILED].items[0].detail, why, sizeof(why));
		if (why[0] != '\0')
			snprintf(text, sizeof(text), kc_ntr("%lu write to the shop failed; the latest: %s",
			    "%lu writes to the shop failed; the latest: %s", n), n, why);
		else
			snprintf(text, sizeof(text), kc_ntr("%lu write to the shop failed.",
			    "%lu writes to the shop failed.", n), n);
		problem_issue(is, L_WARN, "problems-failed", text);
	}
	if ((n = (unsigned long)pr[KC_PROBLEM_DUPLICATE].total) > 0) {
		snprintf(text, sizeof(text), kc_ntr("%lu SKU is on more than one product",
		    "%lu SKUs are on more than one product", n), n);
		problem_issue(is, L_WARN, "problems-duplicate", text);
	}
	if ((n = (unsigned long)pr[KC_PROBLEM_UNMATCHED].total) > 0) {
		snprintf(text, sizeof(text), kc_ntr("%lu SKU from KeyCRM matched nothing in the shop",
		    "%lu SKUs from KeyCRM matched nothing in the shop", n), n);
		problem_issue(is, L_INFO, "problems-unmatched", text);
	}
	if ((n = (unsigned long)pr[KC_PROBLEM_NOT_IN_KEYCRM].total) > 0) {
		snprintf(text, sizeof(text), kc_ntr("%lu shop SKU is not in KeyCRM",
		    "%lu shop SKUs are not in KeyCRM", n), n);
		problem_issue(is, L_INFO, "problems-not-in-keycrm", text);
	}
	if ((n = (unsigned long)pr[KC_PROBLEM_SKIPPED].total) > 0) {
		snprintf(text, sizeof(text), kc_ntr("%lu product was skipped",
		    "%lu products were skipped", n), n);
		problem_issue(is, L_INFO, "problems-skipped", text);
	}
}

static void
state_issues(const struct page *p, const struct kc_status *s, struct issues *is)
{
	const struct kc_status_run *sync = &s->last[KC_RUN_SYNC];
	char ago[64], why[512];

	if (sync->started_at <= 0) {
		issue(is, L_WARN, "%s", _("No sync run yet: add the crontab line from Setup, or press Sync now."));
	} else {
		page_format_ago(sync->started_at, p->now, ago, sizeof(ago));
		if (p->now - sync->started_at > PAGE_SYNC_OVERDUE_S)
			issue(is, L_WARN, _("Overdue: the last sync run was %s; is the cron job running?"), ago);
		if (sync->error != NULL) {
			kc_text_from_markup(sync->error, why, sizeof(why));
			issue(is, L_WARN, _("The last sync run reported: %s"), why);
		}
	}
	if (s->inbox_retried > 0) {
		kc_text_from_markup(s->inbox_error ? s->inbox_error : _("see History"), why, sizeof(why));
		issue(is, L_BAD, kc_ntr("%ld report from KeyCRM could not be written to the shop yet: %s",
		    "%ld reports from KeyCRM could not be written to the shop yet: %s",
		    (unsigned long)s->inbox_retried), s->inbox_retried, why);
	} else if (s->inbox > 0 && p->now - s->inbox_oldest > PAGE_INBOX_SLOW_S) {
		page_format_ago(s->inbox_oldest, p->now, ago, sizeof(ago));
		issue(is, L_WARN, kc_ntr("%ld report from KeyCRM has waited since %s.",
		    "%ld reports from KeyCRM have waited since %s.", (unsigned long)s->inbox),
		    s->inbox, ago);
	}
	problem_issues(s, is);
}

static void
fact_run(struct kc_buf *b, const struct page *p, const char *label,
    const struct kc_status_run *r, const char *none, const char *badge)
{
	struct kc_buf counts;
	char why[1024];

	kc_html_f(b, "<dt>%s</dt><dd>", label);
	if (r->started_at <= 0) {
		kc_html_f(b, "<span class=\"muted\">%s</span></dd>", none);
		return;
	}
	page_html_when(b, r->started_at, p->now);
	if (badge != NULL)
		kc_html_f(b, " <span class=\"badge warn\">%s</span>", badge);
	kc_buf_init(&counts);
	page_run_counts(r, &counts);
	kc_html_f(b, "<br>%s", counts.data);
	if (r->error != NULL) {
		kc_text_from_markup(r->error, why, sizeof(why));
		kc_html_f(b, "<br><span class=\"badge bad\">%s</span> %s", _("error"), why);
	}
	kc_buf_free(&counts);
	kc_html_raw(b, "</dd>");
}

/* The state's size on disk, and what keeps it from only growing. */
static void
fact_db_size(struct kc_buf *b, const struct page *p)
{
	long long bytes = kc_store_disk_bytes(p->cfg.state_dir);

	kc_html_f(b, "<dt>%s</dt><dd>", _("State database"));
	if (bytes < 0)
		kc_html_f(b, "%s", _("unknown"));
	else if (bytes < 1048576)
		kc_html_f(b, "%lld KB", (bytes + 1023) / 1024);
	else
		kc_html_f(b, "%.1f MB", (double)bytes / 1048576.0);
	kc_html_raw(b, " <span class=\"muted\">");
	kc_html_f(b, _("(history is kept %d days, problems %d days after they were last "
	    "seen, unknown SKUs %d days)"), KC_RETAIN_HISTORY_DAYS, KC_RETAIN_PROBLEM_DAYS,
	    KC_RETAIN_LEDGER_DAYS);
	kc_html_raw(b, "</span></dd>");
}

static void
facts(struct kc_buf *b, struct page *p, const struct kc_status *s)
{
	const struct kc_status_run *sync = &s->last[KC_RUN_SYNC];

	kc_html_raw(b, "<dl class=\"facts\">");
	fact_run(b, p, _("Last webhook"), &s->last[KC_RUN_WEBHOOK],
	    _("none received yet"), NULL);
	fact_run(b, p, _("Last applied to the shop"), &s->last[KC_RUN_APPLY],
	    _("not yet"), NULL);
	fact_run(b, p, _("Last sync run"), sync, _("none yet"),
	    p->now - sync->started_at > PAGE_SYNC_OVERDUE_S ? _("overdue") : NULL);
	kc_html_f(b, "<dt>%s</dt><dd>", _("Waiting for the shop"));
	if (s->inbox == 0) {
		kc_html_f(b, "%s", _("nothing (the inbox is empty)"));
	} else {
		kc_html_f(b, kc_ntr("%ld report, the oldest from ", "%ld reports, the oldest from ",
		    (unsigned long)s->inbox), s->inbox);
		page_html_when(b, s->inbox_oldest, p->now);
	}
	kc_html_raw(b, "</dd>");
	fact_db_size(b, p);
	kc_html_raw(b, "</dl>");
}

static void
collect(struct page *p, struct issues *is)
{
	kc_buf_init(&is->list);
	configuration_issues(p, is);
	if (p->have_status) {
		check_issues(p, &p->status, is);
		state_issues(p, &p->status, is);
		page_shop_hook_issues(p, is);
	} else {
		issue(is, L_BAD, _("The state database cannot be read: %s"), p->store_err.msg);
	}
}

enum level
page_health(struct page *p)
{
	struct issues is = { L_OK, { 0 } };

	collect(p, &is);
	kc_buf_free(&is.list);
	return is.worst;
}

void
section_status(struct kc_buf *b, struct page *p)
{
	const char *const headline[] = { _("Healthy"), _("Healthy"),
	    _("Needs attention"), _("Not working") };
	struct issues is = { L_OK, { 0 } };
	const struct kc_status *s = p->have_status ? &p->status : NULL;

	collect(p, &is);
	kc_html_f(b, "<section class=\"card\" id=\"status\"><h2>%s</h2>"
	    "<p class=\"health %s\"><span class=\"dot\"></span>%s</p>", _("Status"),
	    page_level_class[is.worst], headline[is.worst]);
	if (is.list.len > 0) {
		/* Escaped item by item in issue(). */
		kc_html_raw(b, "<ul class=\"issues\">");
		kc_buf_add(b, is.list.data, is.list.len);
		kc_html_raw(b, "</ul>");
	} else {
		kc_html_f(b, "<p class=\"muted\">%s</p>",
		    _("Webhooks arrive, sync runs on time, nothing failed."));
	}
	kc_buf_free(&is.list);
	if (s != NULL)
		facts(b, p, s);
	kc_html_raw(b, "<div class=\"actions\">");
	page_action_button(b, p, "sync", _("Sync now"), 1);
	page_action_button(b, p, "dry_run", _("Dry run"), 0);
	/* On a first install the card below offers the backfill, as a choice. */
	if (!p->fi_card)
		page_action_button(b, p, "backfill", _("Backfill from KeyCRM"), 0);
	kc_html_f(b, "</div><p class=\"muted\">%s</p></section>",
	    p->fi_card ? _("Sync now applies what KeyCRM sent, then sends the shop's "
	    "changes to KeyCRM. Dry run shows what a sync would send and writes nothing.") :
	    _("Sync now applies what KeyCRM sent, then sends the shop's changes to KeyCRM. "
	    "Dry run shows what a sync would send and writes nothing. Backfill sets the "
	    "shop's stock from KeyCRM's."));
}
