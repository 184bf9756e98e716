/*
 * page_section_history.c - the History section (webhooks, runs of the
 * applier, sync runs and backfills, newest first) and the Configuration
 * section (every key, where its value comes from, secrets masked).
 */
#include "page.h"

#include <string.h>

#include "html.h"
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
	};
	const struct { const struct count *c; size_t n; } kinds[KC_RUN__MAX] = {
		[KC_RUN_WEBHOOK] = { webhook, sizeof(webhook) / sizeof(webhook[0]) },
		[KC_RUN_APPLY] = { apply, sizeof(apply) / sizeof(apply[0]) },
		[KC_RUN_SYNC] = { sync, sizeof(sync) / sizeof(sync[0]) },
		[KC_RUN_PULL] = { pull, sizeof(pull) / sizeof(pull[0]) },
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

void
section_history(struct kc_buf *b, struct page *p)
{
	const char *const what[KC_RUN__MAX] = {
		[KC_RUN_WEBHOOK] = _("Webhook"), [KC_RUN_APPLY] = _("Applied to shop"),
		[KC_RUN_SYNC] = _("Sync run"), [KC_RUN_PULL] = _("Backfill"),
	};
	const struct kc_status *s = &p->status;
	char took[64], why[1024];
	struct kc_buf counts;

	kc_html_f(b, "<section class=\"card\" id=\"history\"><h2>%s</h2>", _("History"));
	if (s->nhistory == 0) {
		kc_html_f(b, "<p>%s</p></section>", _("Nothing has happened yet."));
		return;
	}
	kc_buf_init(&counts);
	kc_html_f(b, "<table class=\"cards\"><thead><tr><th>%s</th><th>%s</th>"
	    "<th class=\"num\">%s</th><th>%s</th></tr></thead><tbody>",
	    _("When"), _("What"), _("Took"), _("Result"));
	for (size_t i = 0; i < s->nhistory; i++) {
		const struct kc_status_run *r = &s->history[i];
		page_format_duration(r->finished_at > 0 ? r->finished_at - r->started_at : -1,
		    took, sizeof(took));
		kc_buf_reset(&counts);
		page_run_counts(r, &counts);
		kc_html_f(b, "<tr><td data-label=\"%s\">", _("When"));
		page_html_when(b, r->started_at, p->now);
		kc_html_f(b, "</td><td data-label=\"%s\">%s</td>"
		    "<td data-label=\"%s\" class=\"num\">%s</td><td data-label=\"%s\">%s",
		    _("What"), what[r->kind], _("Took"), took, _("Result"), counts.data);
		if (r->error != NULL) {
			kc_text_from_markup(r->error, why, sizeof(why));
			kc_html_f(b, "<br><span class=\"badge bad\">%s</span> %s", _("error"), why);
		}
		kc_html_raw(b, "</td></tr>");
	}
	kc_html_raw(b, "</tbody></table></section>");
	kc_buf_free(&counts);
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
