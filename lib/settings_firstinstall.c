/*
 * settings_firstinstall.c - see settings_firstinstall.h.
 */
#include "settings_firstinstall.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "html.h"
#include "page.h"
#include "store_compare.h"

#define BIGGEST_SHOWN 10

int
kc_fi_pending(struct kc_store *st, int first_install)
{
	char buf[256];

	if (kc_store_kv_get(st, KC_FI_CHOICE_KEY, buf, sizeof(buf)) == 0)
		return 0;
	/* An install that synced before the choice existed has nothing to choose. */
	return first_install || kc_store_kv_get(st, KC_FI_OPEN_KEY, buf, sizeof(buf)) == 0;
}

int
kc_fi_choose(struct kc_store *st, const char *choice, const char *user,
    struct kc_error *err)
{
	json_t *o = json_pack("{s:s,s:s,s:f}", "choice", choice, "by", user ? user : "",
	    "at", kc_now());
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int rc;

	json_decref(o);
	if (text == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	rc = kc_store_kv_set(st, KC_FI_CHOICE_KEY, text, err);
	free(text);
	return rc;
}

static void
button(struct kc_buf *b, const struct kc_fi_page *pg, const char *action,
    const char *label, int primary)
{
	kc_html_f(b, "<form method=\"post\" action=\"%s\"><input type=\"hidden\" "
	    "name=\"csrf\" value=\"%s\">", pg->self, pg->csrf);
	/* kc_html_f escapes its arguments: the attribute is chosen here. */
	kc_html_f(b, primary ? "<button type=\"submit\" name=\"action\" value=\"%s\" "
	    "class=\"primary\">%s</button></form>" : "<button type=\"submit\" "
	    "name=\"action\" value=\"%s\">%s</button></form>", action, label);
}

/* The comparison's summary, or NULL when none is complete. */
static json_t *
summary(struct kc_store *st)
{
	char buf[1024];

	if (kc_store_kv_get(st, "compare.summary", buf, sizeof(buf)) != 0)
		return NULL;
	return json_loads(buf, 0, NULL);
}

static long
count_of(json_t *sum, const char *key)
{
	return (long)json_integer_value(json_object_get(sum, key));
}

struct biggest {
	struct kc_buf *b;
	int shown;
};

static int
biggest_row(void *ctx, const struct kc_compare_row *row)
{
	struct biggest *bg = ctx;
	char shop[32] = "-", crm[32] = "-", diff[32] = "-";

	if (row->kind == KC_CMP_EQUAL || bg->shown >= BIGGEST_SHOWN)
		return 1;
	if (row->has_shop)
		snprintf(shop, sizeof(shop), "%lld", row->shop);
	if (row->has_keycrm)
		snprintf(crm, sizeof(crm), "%g", row->keycrm);
	if (row->kind == KC_CMP_DIFFERENT)
		snprintf(diff, sizeof(diff), "%+g", row->difference);
	else
		snprintf(diff, sizeof(diff), "%s", row->kind == KC_CMP_SHOP_ONLY ?
		    _("not in KeyCRM") : _("not in the shop"));
	kc_html_f(bg->b, "<tr><td data-label=\"SKU\"><code>%s</code></td>"
	    "<td data-label=\"%s\" class=\"num\">%s</td>"
	    "<td data-label=\"KeyCRM\" class=\"num\">%s</td>"
	    "<td data-label=\"%s\" class=\"num\">%s</td></tr>",
	    row->sku, _("Shop"), shop, crm, _("Difference"), diff);
	bg->shown++;
	return 0;
}

static void
comparison(struct kc_buf *b, struct kc_store *st, const struct kc_fi_page *pg)
{
	json_t *sum = summary(st);
	char cursor[96], when[64];
	int under_way = kc_store_kv_get(st, "compare.cursor", cursor, sizeof(cursor)) == 0;

	if (sum == NULL) {
		kc_html_f(b, "<p><strong>%s</strong> %s", _("First see how the two sides differ."),
		    _("Compare reads the shop's whole catalogue and KeyCRM's whole stock list "
		    "(KeyCRM gives 50 offers per request within its request limit) and "
		    "changes nothing."));
		if (under_way)
			kc_html_f(b, " %s", _("A comparison is under way: press Compare again to go on "
			    "where it stopped."));
		kc_html_raw(b, "</p><div class=\"actions\">");
		button(b, pg, "compare", _("Compare the shop with KeyCRM"), 1);
		kc_html_raw(b, "</div>");
		return;
	}
	page_format_when(json_real_value(json_object_get(sum, "finished_at")), when, sizeof(when));
	kc_html_raw(b, "<p id=\"compare-counts\">");
	kc_html_f(b, _("Compared at %s: <strong>%ld equal</strong>, "
	    "<strong>%ld different</strong>, <strong>%ld only in the shop</strong>, "
	    "<strong>%ld only in KeyCRM</strong>."), when, count_of(sum, "equal"),
	    count_of(sum, "different"), count_of(sum, "shop_only"),
	    count_of(sum, "keycrm_only"));
	kc_html_raw(b, "</p>");
	if (count_of(sum, "different") + count_of(sum, "shop_only") +
	    count_of(sum, "keycrm_only") > 0) {
		struct biggest bg = { b, 0 };
		struct kc_error err = { { 0 } };

		kc_html_f(b, "<table class=\"cards\" id=\"compare\"><thead><tr><th>%s</th>"
		    "<th class=\"num\">%s</th><th class=\"num\">%s</th>"
		    "<th class=\"num\">%s</th></tr></thead><tbody>", _("SKU"), _("Shop"),
		    _("KeyCRM available"), _("Difference"));
		kc_store_compare_rows(st, biggest_row, &bg, NULL, &err);
		kc_html_raw(b, "</tbody></table>");
	}
	kc_html_f(b, "<div class=\"actions\"><a href=\"%s?download=compare.csv\">%s</a>",
	    pg->self, _("Download every SKU (CSV)"));
	button(b, pg, "compare", under_way ? _("Go on comparing") : _("Compare again"), 0);
	kc_html_raw(b, "</div>");
	json_decref(sum);
}

void
kc_fi_card(struct kc_buf *b, struct kc_store *st, const struct kc_config *cfg,
    const struct kc_fi_page *pg)
{
	char wh[32];
	json_t *sum = summary(st);
	long diff = count_of(sum, "different"), shop_only = count_of(sum, "shop_only");
	long kc_only = count_of(sum, "keycrm_only");

	kc_config_value_text(cfg, KC_KEY_KEYCRM_WAREHOUSE_ID, wh, sizeof(wh));
	kc_html_f(b, "<section class=\"card\" id=\"first\"><h2>%s</h2><p>%s</p>",
	    _("First install: which side is right?"),
	    _("keycrm-sync does not know yet whether the shop or KeyCRM holds "
	    "the right quantities. Left alone, the first complete sync run records the "
	    "shop's quantities as the starting point and sends nothing, so the differences "
	    "below stay. This card stays here until you choose."));
	comparison(b, st, pg);
	kc_html_f(b, "<div class=\"grid\"><div class=\"box\"><h3>%s</h3><p>",
	    _("The shop is right: push all"));
	if (sum != NULL) {
		if (wh[0])
			kc_html_f(b, _("Sends every shop quantity to KeyCRM (warehouse %s): "), wh);
		else
			kc_html_f(b, "%s", _("Sends every shop quantity to KeyCRM: "));
		kc_html_f(b, kc_ntr("%ld different SKU takes the shop's numbers there; ",
		    "%ld different SKUs take the shop's numbers there; ", (unsigned long)diff), diff);
		kc_html_f(b, kc_ntr("%ld shop SKU KeyCRM does not have is reported, not created.",
		    "%ld shop SKUs KeyCRM does not have are reported, not created.",
		    (unsigned long)shop_only), shop_only);
	} else if (wh[0]) {
		kc_html_f(b, _("Reads the whole catalogue and sends every quantity the shop "
		    "manages to KeyCRM (warehouse %s). KeyCRM's current numbers are overwritten."), wh);
	} else {
		kc_html_f(b, "%s", _("Reads the whole catalogue and sends every quantity the shop "
		    "manages to KeyCRM. KeyCRM's current numbers are overwritten."));
	}
	kc_html_raw(b, "</p>");
	button(b, pg, "push_all", _("Push all to KeyCRM"), 0);
	kc_html_f(b, "</div><div class=\"box\"><h3>%s</h3><p>", _("KeyCRM is right: backfill"));
	if (sum != NULL) {
		kc_html_f(b, kc_ntr("Sets the shop from KeyCRM's stock: %ld different SKU takes KeyCRM's numbers; ",
		    "Sets the shop from KeyCRM's stock: %ld different SKUs take KeyCRM's numbers; ",
		    (unsigned long)diff), diff);
		kc_html_f(b, kc_ntr("%ld KeyCRM SKU the shop does not have is reported.",
		    "%ld KeyCRM SKUs the shop does not have are reported.", (unsigned long)kc_only),
		    kc_only);
		kc_html_f(b, " %s", _("If it stops at the time limit, press it again: it goes on "
		    "where it stopped."));
	} else {
		kc_html_f(b, "%s", _("Reads all stock from KeyCRM (50 offers per request, within "
		    "its rate limit) and sets the shop's quantities. If it stops at the time "
		    "limit, press it again: it goes on where it stopped."));
	}
	kc_html_raw(b, "</p>");
	button(b, pg, "backfill", _("Backfill the shop"), 0);
	kc_html_f(b, "</div><div class=\"box\"><h3>%s</h3><p>%s</p>",
	    _("Both are right as they are"),
	    _("Changes nothing now: from here on each side's changes are sent to the other."));
	button(b, pg, "first_keep", _("Keep both as they are"), 0);
	kc_html_raw(b, "</div></div></section>");
	json_decref(sum);
}

void
kc_fi_push_again(struct kc_buf *b, const struct kc_fi_page *pg)
{
	kc_html_f(b, "<details id=\"push-all\"><summary>%s</summary><p class=\"muted\">%s</p>"
	    "<form method=\"post\" action=\"%s\"><input type=\"hidden\" name=\"csrf\" "
	    "value=\"%s\"><label class=\"check\"><input type=\"checkbox\" name=\"confirm\" "
	    "value=\"yes\" required> %s</label><div class=\"actions\"><button "
	    "type=\"submit\" name=\"action\" value=\"push_all\">%s</button></div></form>"
	    "</details>", _("Push all shop quantities to KeyCRM"),
	    _("Sends every quantity the shop manages to KeyCRM, overwriting what KeyCRM "
	    "holds, including changes made there that have not reached the shop yet. The "
	    "sync runs already send every change; use this only when KeyCRM's numbers are "
	    "known to be wrong."), pg->self, pg->csrf,
	    _("Yes, overwrite KeyCRM's quantities with the shop's"), _("Push all to KeyCRM"));
}
