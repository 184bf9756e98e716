/*
 * page_section_plan.c - the last dry run's plan: per SKU the shop's
 * quantity and what would be sent to KeyCRM, a page at a time (?plan=N),
 * and whole as CSV (?download=plan.csv).  Kept in the state database
 * (store_page.c) for the user who ran it.
 */
#include "page.h"

#include <stdio.h>
#include <string.h>

#include "html.h"
#include "store_page.h"

#define PLAN_KEEP 20000			/* rows kept: its CSV holds them all */

void
page_plan_keep(struct page *p, json_t *plan)
{
	struct kc_error err = { { 0 } };
	json_t *rows = json_array(), *rec;
	size_t n = json_array_size(plan);

	for (size_t i = 0; i < n && i < PLAN_KEEP && rows != NULL; i++)
		json_array_append(rows, json_array_get(plan, i));
	rec = json_pack("{s:s,s:f,s:I,s:o}", "user", p->user, "t", p->now,
	    "total", (json_int_t)n, "rows", rows);
	if (rec == NULL || !p->have_store || kc_store_plan_put(&p->st, rec, &err) != 0)
		kc_log(KC_LOG_WARN, "settings: cannot keep the dry run's plan: %s",
		    rec == NULL ? "out of memory" : p->have_store ? err.msg : p->store_err.msg);
	json_decref(rec);
}

/* The kept plan when it is this user's. */
static json_t *
kept(struct page *p)
{
	json_t *rec = NULL;
	const char *user;

	if (!p->have_store || kc_store_plan_get(&p->st, &rec) != 0)
		return NULL;
	user = json_string_value(json_object_get(rec, "user"));
	if (user == NULL || strcmp(user, p->user) != 0) {
		json_decref(rec);
		return NULL;
	}
	return rec;
}

static void
number_text(json_t *v, char *out, size_t outsz)
{
	if (json_is_number(v))
		snprintf(out, outsz, "%g", json_number_value(v));
	else
		kc_strlcpy(out, "", outsz);
}

/* Whether any row of the plan knows KeyCRM's quantity now. */
static int
plan_knows_keycrm(json_t *plan)
{
	size_t i;
	json_t *it;

	json_array_foreach(plan, i, it)
		if (json_is_number(json_object_get(it, "keycrm")))
			return 1;
	return 0;
}

static void
rows(struct kc_buf *b, json_t *plan, const struct page_pager *pg)
{
	int now = plan_knows_keycrm(plan);

	kc_html_f(b, "<table class=\"cards\" id=\"plan\"><thead><tr><th>%s</th>"
	    "<th class=\"num\">%s</th>", _("SKU"), _("In the shop"));
	if (now)
		kc_html_f(b, "<th class=\"num\">%s</th>", _("KeyCRM now \xe2\x86\x92 will be"));
	else
		kc_html_f(b, "<th class=\"num\">%s</th>", _("To send to KeyCRM"));
	kc_html_raw(b, "</tr></thead><tbody>");
	for (long i = pg->offset; i < pg->offset + pg->per && i < (long)json_array_size(plan); i++) {
		json_t *it = json_array_get(plan, (size_t)i);
		char shop[32], send[32], was[32];
		const char *sku = json_string_value(json_object_get(it, "sku"));
		number_text(json_object_get(it, "shop"), shop, sizeof(shop));
		number_text(json_object_get(it, "send"), send, sizeof(send));
		number_text(json_object_get(it, "keycrm"), was, sizeof(was));
		kc_html_f(b, "<tr><td data-label=\"%s\"><code>%s</code></td>"
		    "<td data-label=\"%s\" class=\"num\">%s</td>", _("SKU"), sku ? sku : "",
		    _("In the shop"), shop);
		if (now)
			kc_html_f(b, "<td data-label=\"KeyCRM\" class=\"num\">%s &rarr; %s</td></tr>",
			    was[0] ? was : "?", send);
		else
			kc_html_f(b, "<td data-label=\"%s\" class=\"num\">%s</td></tr>",
			    _("To send"), send);
	}
	kc_html_raw(b, "</tbody></table>");
}

void
page_plan_table(struct kc_buf *b, struct page *p)
{
	json_t *rec = kept(p), *plan;
	long total;
	struct page_pager pg;

	if (rec == NULL)
		return;
	plan = json_object_get(rec, "rows");
	total = (long)json_integer_value(json_object_get(rec, "total"));
	kc_html_raw(b, "<h3 id=\"plan-title\">");
	kc_html_f(b, kc_ntr("The plan: %ld SKU to send", "The plan: %ld SKUs to send",
	    (unsigned long)total), total);
	kc_html_raw(b, "</h3>");
	if (json_array_size(plan) == 0) {
		kc_html_f(b, "<p>%s</p>", _("Nothing would be sent: no shop quantity changed "
		    "since both sides last agreed. (Compare shows where the two sides differ.)"));
		json_decref(rec);
		return;
	}
	page_pager_init(&pg, (long)json_array_size(plan), PAGE_ROWS,
	    page_number(kc_request_param(p->req, "plan")));
	rows(b, plan, &pg);
	page_pager_nav(b, p, &pg, NULL, "plan", "plan-title");
	if (total > (long)json_array_size(plan)) {
		kc_html_raw(b, "<p class=\"muted\">");
		kc_html_f(b, _("And %ld more."), total - (long)json_array_size(plan));
		kc_html_raw(b, "</p>");
	}
	kc_html_f(b, "<p><a href=\"%s?download=plan.csv\">%s</a></p>", p->self,
	    _("Download the whole plan (CSV)"));
	json_decref(rec);
}

int
page_plan_csv(struct page *p, struct kc_buf *out)
{
	json_t *rec = kept(p), *it;
	size_t i;
	char n[32];

	if (rec == NULL)
		return -1;
	kc_buf_adds(out, "sku,shop,keycrm,send\r\n");
	json_array_foreach(json_object_get(rec, "rows"), i, it) {
		kc_csv_field(out, json_string_value(json_object_get(it, "sku")));
		number_text(json_object_get(it, "shop"), n, sizeof(n));
		kc_buf_addf(out, ",%s,", n);
		number_text(json_object_get(it, "keycrm"), n, sizeof(n));
		kc_buf_addf(out, "%s,", n);
		number_text(json_object_get(it, "send"), n, sizeof(n));
		kc_buf_addf(out, "%s\r\n", n);
	}
	json_decref(rec);
	return 0;
}

void
section_plan(struct kc_buf *b, struct page *p)
{
	kc_html_f(b, "<section class=\"card\" id=\"plan-section\"><h2>%s</h2>",
	    _("The last dry run"));
	page_plan_table(b, p);
	kc_html_raw(b, "</section>");
}
