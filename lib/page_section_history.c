/*
 * page_section_history.c - the History section (webhooks, runs of the
 * applier, sync runs and backfills, newest first) and the Configuration
 * section (every key, where its value comes from, secrets masked).
 */
#include "page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "page_chart.h"
#include "settings_file.h"

/*
 * "12 received, 12 queued" from the counts that are not zero.  A sync run
 * or a backfill keeps its own figures in the history's columns (sync.c
 * record()), so each kind has its own labels.
 */
struct count {
	long n;
	const char *one, *many;
};

void
page_run_counts(const struct kc_status_run *r, struct kc_buf *out)
{
	const struct count webhook[] = {
		{ r->received, N_("received"), N_("received") },
		{ r->queued, N_("queued"), N_("queued") },
		{ r->rejected, N_("rejected"), N_("rejected") },
	}, apply[] = {
		{ r->applied, N_("applied"), N_("applied") },
		{ r->unchanged, N_("unchanged"), N_("unchanged") },
		{ r->unmatched, N_("unmatched"), N_("unmatched") },
		{ r->skipped, N_("skipped"), N_("skipped") },
		{ r->failed, N_("failed"), N_("failed") },
		{ r->pending, N_("still queued"), N_("still queued") },
	}, sync[] = {
		{ r->received, N_("read from the shop"), N_("read from the shop") },
		{ r->queued, N_("changed"), N_("changed") },
		{ r->applied, N_("sent to KeyCRM"), N_("sent to KeyCRM") },
		{ r->unmatched, N_("unknown to KeyCRM"), N_("unknown to KeyCRM") },
		{ r->skipped, N_("without stock of their own"), N_("without stock of their own") },
		{ r->pending, N_("left for the next run"), N_("left for the next run") },
		{ r->failed, N_("error"), N_("errors") },
	}, pull[] = {
		{ r->received, N_("read from KeyCRM"), N_("read from KeyCRM") },
		{ r->failed, N_("error"), N_("errors") },
	}, push[] = {
		{ r->received, N_("change from the shop's webhook"),
		    N_("changes from the shop's webhook") },
		{ r->applied, N_("sent to KeyCRM"), N_("sent to KeyCRM") },
		{ r->unmatched, N_("unknown to KeyCRM"), N_("unknown to KeyCRM") },
		{ r->pending, N_("still queued"), N_("still queued") },
	};
	const struct { const struct count *c; size_t n; } kinds[KC_RUN__MAX] = {
		[KC_RUN_WEBHOOK] = { webhook, sizeof(webhook) / sizeof(webhook[0]) },
		[KC_RUN_APPLY] = { apply, sizeof(apply) / sizeof(apply[0]) },
		[KC_RUN_SYNC] = { sync, sizeof(sync) / sizeof(sync[0]) },
		[KC_RUN_PULL] = { pull, sizeof(pull) / sizeof(pull[0]) },
		[KC_RUN_PUSH] = { push, sizeof(push) / sizeof(push[0]) },
	};
	const struct count *c = kinds[r->kind].c;
	int any = 0;

	for (size_t i = 0; i < kinds[r->kind].n; i++) {
		if (c[i].n == 0)
			continue;
		if (any)
			kc_buf_adds(out, ", ");
		kc_buf_addf(out, "%ld %s", c[i].n, kc_ntr(c[i].one, c[i].many,
		    (unsigned long)c[i].n));
		any = 1;
	}
	if (r->shop_requests > 0) {
		if (any)
			kc_buf_adds(out, "; ");
		kc_buf_addf(out, kc_ntr("%ld shop request", "%ld shop requests",
		    (unsigned long)r->shop_requests), r->shop_requests);
	}
	if (r->keycrm_requests > 0) {
		if (any || r->shop_requests)
			kc_buf_adds(out, ", ");
		kc_buf_addf(out, kc_ntr("%ld KeyCRM request", "%ld KeyCRM requests",
		    (unsigned long)r->keycrm_requests), r->keycrm_requests);
	}
	if (!any && r->shop_requests + r->keycrm_requests == 0)
		kc_buf_adds(out, _("nothing to do"));
}

static const struct filter {
	enum kc_history_filter filter;
	const char *name;		/* ?history=NAME */
	const char *label;
} filters[] = {
	{ KC_HISTORY_ALL, "all", N_("Everything") },
	{ KC_HISTORY_SYNC, "sync", N_("Sync runs") },
	{ KC_HISTORY_WEBHOOK, "webhook", N_("Webhooks") },
	{ KC_HISTORY_ERRORS, "errors", N_("Errors") },
};

static const struct filter *
chosen_filter(const struct page *p)
{
	const char *name = kc_request_param(p->req, "history");

	for (size_t i = 0; name != NULL && i < sizeof(filters) / sizeof(filters[0]); i++)
		if (strcmp(name, filters[i].name) == 0)
			return &filters[i];
	return &filters[0];
}

static void
chart(struct kc_buf *b, struct page *p)
{
	struct kc_status_hour *hours = NULL;
	struct page_chart c;
	struct kc_error err = { { 0 } };
	size_t n = 0;
	long long now_hour = (long long)(p->now / 3600);

	if (kc_status_hours(&p->st, (double)(now_hour - PAGE_CHART_HOURS + 1) * 3600, &hours,
	    &n, &err) != 0) {
		kc_html_f(b, "<p class=\"muted\">%s</p>", err.msg);
		return;
	}
	page_chart_fill(&c, now_hour, hours, n);
	free(hours);
	kc_html_raw(b, "<figure class=\"chart\">");
	page_chart_svg(b, &c);
	kc_html_f(b, "<figcaption><span class=\"key bar\"></span>%s "
	    "<span class=\"key run\"></span>%s <span class=\"key err\"></span>%s"
	    "</figcaption></figure>", _("items moved per hour"),
	    _("hours with runs or webhooks"), _("hours with errors"));
}

static void
filter_links(struct kc_buf *b, const struct page *p, const struct filter *cur)
{
	kc_html_f(b, "<nav class=\"filters\" aria-label=\"%s\">", _("Show"));
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		if (&filters[i] == cur)
			kc_html_f(b, "<strong aria-current=\"page\">%s</strong> ", _(filters[i].label));
		else
			kc_html_f(b, "<a href=\"%s?history=%s#history\">%s</a> ", p->self,
			    filters[i].name, _(filters[i].label));
	}
	kc_html_raw(b, "</nav>");
}

static void
row(struct kc_buf *b, struct page *p, const struct kc_status_run *r, struct kc_buf *counts)
{
	const char *const what[KC_RUN__MAX] = {
		[KC_RUN_WEBHOOK] = _("Webhook"), [KC_RUN_APPLY] = _("Applied to shop"),
		[KC_RUN_SYNC] = _("Sync run"), [KC_RUN_PULL] = _("Backfill"),
		[KC_RUN_PUSH] = _("Shop changes pushed"),
	};
	char took[64], why[1024];

	page_format_duration(r->finished_at > 0 ? r->finished_at - r->started_at : -1,
	    took, sizeof(took));
	kc_buf_reset(counts);
	page_run_counts(r, counts);
	kc_html_f(b, "<tr><td data-label=\"%s\">", _("When"));
	page_html_when(b, r->started_at, p->now);
	kc_html_f(b, "</td><td data-label=\"%s\">%s</td>"
	    "<td data-label=\"%s\" class=\"num\">%s</td><td data-label=\"%s\">%s",
	    _("What"), what[r->kind], _("Took"), took, _("Result"), counts->data);
	if (r->error != NULL) {
		kc_text_from_markup(r->error, why, sizeof(why));
		kc_html_f(b, "<br><span class=\"badge bad\">%s</span> %s", _("error"), why);
	}
	kc_html_raw(b, "</td></tr>");
}

void
section_history(struct kc_buf *b, struct page *p)
{
	const struct filter *f = chosen_filter(p);
	struct kc_status_run *runs = NULL;
	struct kc_error err = { { 0 } };
	struct kc_buf counts;
	struct page_pager pg;
	size_t n = 0;
	long total = 0, requested = page_number(kc_request_param(p->req, "hpage"));
	char query[32];

	kc_html_f(b, "<section class=\"card\" id=\"history\"><h2>%s</h2>", _("History"));
	chart(b, p);
	filter_links(b, p, f);
	/* The page asked for, clamped to the pages there are. */
	if (kc_status_history(&p->st, f->filter, 0, 1, &runs, &n, &total, &err) == 0) {
		kc_status_runs_free(runs, n);
		page_pager_init(&pg, total, PAGE_HISTORY_ROWS, requested);
		if (kc_status_history(&p->st, f->filter, pg.offset, pg.per, &runs, &n, &total,
		    &err) != 0)
			n = 0;
	}
	if (err.msg[0] != '\0') {
		kc_html_f(b, "<p class=\"muted\">%s</p></section>", err.msg);
		return;
	}
	if (n == 0) {
		kc_html_f(b, "<p>%s</p></section>", f->filter == KC_HISTORY_ALL ?
		    _("Nothing has happened yet.") : _("Nothing of this kind."));
		kc_status_runs_free(runs, n);
		return;
	}
	kc_buf_init(&counts);
	kc_html_f(b, "<table class=\"cards\" id=\"history-table\"><thead><tr><th>%s</th>"
	    "<th>%s</th><th class=\"num\">%s</th><th>%s</th></tr></thead><tbody>",
	    _("When"), _("What"), _("Took"), _("Result"));
	for (size_t i = 0; i < n; i++)
		row(b, p, &runs[i], &counts);
	kc_html_raw(b, "</tbody></table>");
	snprintf(query, sizeof(query), "history=%s", f->name);
	page_pager_nav(b, p, &pg, query, "hpage", "history");
	kc_html_raw(b, "</section>");
	kc_buf_free(&counts);
	kc_status_runs_free(runs, n);
}

void
section_configuration(struct kc_buf *b, struct page *p)
{
	char v[1100];

	/* Folded whole once everything works; its table is folded always. */
	if (p->healthy)
		kc_html_f(b, "<section class=\"card\" id=\"configuration\"><details class=\"fold\">"
		    "<summary><h2>%s</h2></summary><details><summary>%s</summary>"
		    "<p class=\"muted\">", _("Configuration"), _("All keys"));
	else
		kc_html_f(b, "<section class=\"card\" id=\"configuration\"><h2>%s</h2>"
		    "<details><summary>%s</summary><p class=\"muted\">", _("Configuration"),
		    _("All keys"));
	kc_html_f(b, _("From %s and, for the keys above, %s. Secrets are masked."),
	    p->cfg.path, KC_SETTINGS_FILE);
	kc_html_f(b, "</p><table class=\"cards\"><thead><tr><th>%s</th><th>%s</th><th>%s</th>"
	    "</tr></thead><tbody>", _("Key"), _("Value"), _("From"));
	for (int k = 0; k < KC_KEY__MAX; k++) {
		page_shown_value(&p->cfg, (enum kc_key)k, v, sizeof(v));
		kc_html_f(b, "<tr><td data-label=\"%s\"><code>%s</code></td>"
		    "<td data-label=\"%s\">%s</td><td data-label=\"%s\">", _("Key"),
		    kc_config_key_name((enum kc_key)k), _("Value"), v[0] ? v : _("(not set)"),
		    _("From"));
		page_source_badge(b, p->cfg.source[k], v[0] == '\0');
		kc_html_raw(b, "</td></tr>");
	}
	kc_wipe(v, sizeof(v));
	kc_html_raw(b, p->healthy ? "</tbody></table></details></details></section>" :
	    "</tbody></table></details></section>");
}
