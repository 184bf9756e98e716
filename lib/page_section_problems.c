/*
 * page_section_problems.c - the Problems section (one table per kind,
 * each row with a link to the product in wp-admin and a Dismiss button),
 * and the first-install cards (settings_firstinstall.c draws them).
 */
#include "page.h"

#include <stdio.h>
#include <string.h>

#include "html.h"
#include "settings_firstinstall.h"
#include "store_page.h"
#include "store_problems.h"

/* The product's page in wp-admin (the parent's for a variation). */
static void
product_link(struct kc_buf *b, struct page *p, const char *sku)
{
	long long id, parent;
	struct kc_buf url;
	char name[256];

	if (!p->have_store || p->cfg.woo_url == NULL ||
	    kc_store_problem_product(&p->st, sku, &id, &parent, name, sizeof(name)) != 0) {
		kc_html_f(b, "<span class=\"muted\">%s</span>", _("not looked up yet"));
		return;
	}
	kc_buf_init(&url);
	kc_buf_addf(&url, "%s/wp-admin/post.php?post=%lld&action=edit", p->cfg.woo_url,
	    parent > 0 ? parent : id);
	if (name[0] == '\0')
		snprintf(name, sizeof(name), "%s", parent > 0 ? _("variation") : _("product"));
	kc_html_f(b, "<a href=\"%s\">%s</a> <span class=\"muted\">", url.data, name);
	if (parent > 0)
		kc_html_f(b, _("(variation %lld of product %lld)"), id, parent);
	else
		kc_html_f(b, _("(product %lld)"), id);
	kc_html_raw(b, "</span>");
	kc_buf_free(&url);
}

struct problem_kind {
	enum kc_problem kind;
	const char *name;		/* as the form names it */
	const char *id;			/* the anchor */
	const char *title;
	const char *why;
};

struct rows_ctx {
	struct kc_buf *b;
	struct page *p;
	const struct problem_kind *k;
};

static int
problem_row(void *ctx, const struct kc_page_problem *it)
{
	struct rows_ctx *c = ctx;
	struct kc_buf *b = c->b;
	struct page *p = c->p;
	char last[64], detail[1024];

	page_format_ago(it->last_seen, p->now, last, sizeof(last));
	kc_text_from_markup(it->detail, detail, sizeof(detail));
	kc_html_f(b, "<tr><td data-label=\"%s\"><code>%s</code></td>"
	    "<td data-label=\"%s\">", _("SKU"), it->sku, _("In the shop"));
	product_link(b, p, it->sku);
	kc_html_f(b, "</td><td data-label=\"%s\">%s</td><td data-label=\"%s\" "
	    "class=\"num\">%ld</td><td data-label=\"%s\">%s</td>"
	    "<td data-label=\"\"><form method=\"post\" action=\"%s\">",
	    _("Why"), detail, _("Times"), it->count, _("Last seen"), last, p->self);
	page_csrf_field(b, p);
	kc_html_f(b, "<input type=\"hidden\" name=\"kind\" value=\"%s\">"
	    "<input type=\"hidden\" name=\"sku\" value=\"%s\">"
	    "<button type=\"submit\" name=\"action\" value=\"dismiss\">%s</button>"
	    "</form></td></tr>", c->k->name, it->sku, _("Dismiss"));
	return 0;
}

static void
problem_table(struct kc_buf *b, struct page *p, const struct problem_kind *k)
{
	const struct kc_status_problems *pr = &p->status.problems[k->kind];
	const char *which = kc_request_param(p->req, "problems");
	struct rows_ctx ctx = { b, p, k };
	struct page_pager pg;
	struct kc_error err = { { 0 } };
	char query[64];

	page_pager_init(&pg, pr->total, PAGE_ROWS, which != NULL && strcmp(which, k->name) == 0 ?
	    page_number(kc_request_param(p->req, "page")) : 1);
	kc_html_f(b, "<details id=\"%s\"%s><summary>%s <span class=\"badge%s\">%ld</span>"
	    "</summary><p class=\"muted\">%s</p>", k->id, pr->total > 0 ? " open" : "",
	    _(k->title), pr->total > 0 ? " warn" : "", pr->total, _(k->why));
	if (pr->total == 0) {
		kc_html_f(b, "<p>%s</p></details>", _("None."));
		return;
	}
	kc_html_f(b, "<table class=\"cards\"><thead><tr><th>%s</th><th>%s</th>"
	    "<th>%s</th><th class=\"num\">%s</th><th>%s</th><th></th></tr></thead><tbody>",
	    _("SKU"), _("In the shop"), _("Why"), _("Times"), _("Last seen"));
	if (kc_store_problems_each(&p->st, k->name, pg.offset, pg.per, problem_row, &ctx,
	    &err) != 0)
		kc_html_f(b, "<tr><td class=\"err\" colspan=\"6\">%s</td></tr>", err.msg);
	kc_html_raw(b, "</tbody></table>");
	snprintf(query, sizeof(query), "problems=%s", k->name);
	page_pager_nav(b, p, &pg, query, "page", k->id);
	kc_html_f(b, "<p><a href=\"%s?download=problems-%s.csv\">%s</a></p></details>",
	    p->self, k->name, _("Download them all (CSV)"));
}

static const struct problem_kind kinds[] = {
	{ KC_PROBLEM_UNMATCHED, "unmatched", "problems-unmatched",
	  N_("In KeyCRM, not in the shop"),
	  N_("KeyCRM reported these SKUs, but no shop product has them, so their stock is not set anywhere. Add the SKU to the product in the shop, or ignore it.") },
	{ KC_PROBLEM_NOT_IN_KEYCRM, "not_in_keycrm", "problems-not-in-keycrm",
	  N_("In the shop, not in KeyCRM"),
	  N_("The shop has these SKUs, but KeyCRM has no offer with them, so their stock is not sent. Add the offer in KeyCRM with the same SKU.") },
	{ KC_PROBLEM_DUPLICATE, "duplicate", "problems-duplicate",
	  N_("Duplicated SKUs"),
	  N_("Several shop products share these SKUs. KeyCRM's quantity is written to every one of them; a sync sends KeyCRM the quantity of the first one it reads (the lowest id). Give each product its own SKU.") },
	{ KC_PROBLEM_SKIPPED, "skipped", "problems-skipped",
	  N_("Skipped products"),
	  N_("Products with a SKU that cannot take a quantity: no stock management, or stock managed by the parent product.") },
	{ KC_PROBLEM_FAILED, "failed", "problems-failed",
	  N_("Failed writes"),
	  N_("The shop refused these writes, or failed on them; they are tried again on the next run.") },
};

void
section_problems(struct kc_buf *b, struct page *p)
{
	kc_html_f(b, "<section class=\"card\" id=\"problems\"><h2>%s</h2>"
	    "<p class=\"muted\">%s</p>", _("Problems"),
	    _("A dismissed row comes back if the problem is seen again. A complete full "
	    "sync run drops duplicates and skipped products it no longer sees; a complete "
	    "comparison rebuilds the list of shop SKUs KeyCRM does not have."));
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		problem_table(b, p, &kinds[i]);
	kc_html_raw(b, "</section>");
}

void
section_first_install(struct kc_buf *b, struct page *p)
{
	struct kc_fi_page pg = { p->self, p->token, p->now };

	kc_fi_card(b, &p->st, &p->cfg, &pg);
}

void
section_push_again(struct kc_buf *b, struct page *p)
{
	struct kc_fi_page pg = { p->self, p->token, p->now };

	kc_html_f(b, "<section class=\"card\" id=\"push-again\"><h2>%s</h2>", _("Push all"));
	kc_fi_push_again(b, &pg);
	kc_html_raw(b, "</section>");
}

static int
csv_row(void *ctx, const struct kc_page_problem *it)
{
	struct kc_buf *out = ctx;
	char detail[1024], seen[64];

	kc_text_from_markup(it->detail, detail, sizeof(detail));
	kc_csv_field(out, it->sku);
	kc_buf_adds(out, ",");
	kc_csv_field(out, detail);
	kc_format_time(it->last_seen, seen, sizeof(seen));
	kc_buf_addf(out, ",%ld,%s\r\n", it->count, seen);
	return 0;
}

int
page_problems_csv(struct page *p, const char *kind, struct kc_buf *out)
{
	struct kc_error err = { { 0 } };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(kind, kinds[i].name) != 0)
			continue;
		if (!p->have_store)
			return -1;
		kc_buf_adds(out, "sku,why,times,last_seen\r\n");
		return kc_store_problems_each(&p->st, kind, 0, -1, csv_row, out, &err);
	}
	return -1;
}
