/*
 * settings_firstinstall.c - see settings_firstinstall.h.
 */
#include "settings_firstinstall.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "html.h"
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
		    "not in KeyCRM" : "not in the shop");
	kc_html_f(bg->b, "<tr><td data-label=\"SKU\"><code>%s</code></td>"
	    "<td data-label=\"Shop\" class=\"num\">%s</td>"
	    "<td data-label=\"KeyCRM\" class=\"num\">%s</td>"
	    "<td data-label=\"Difference\" class=\"num\">%s</td></tr>",
	    row->sku, shop, crm, diff);
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
		kc_html_raw(b, "<p><strong>First see how the two sides differ.</strong> "
		    "Compare reads the shop's whole catalogue and KeyCRM's whole stock list "
		    "(KeyCRM gives 50 offers per request within its request limit) and "
		    "changes nothing.");
		if (under_way)
			kc_html_raw(b, " A comparison is under way: press Compare again to go on "
			    "where it stopped.");
		kc_html_raw(b, "</p><div class=\"actions\">");
		button(b, pg, "compare", "Compare the shop with KeyCRM", 1);
		kc_html_raw(b, "</div>");
		return;
	}
	kc_format_time(json_real_value(json_object_get(sum, "finished_at")), when, sizeof(when));
	kc_html_f(b, "<p id=\"compare-counts\">Compared at %s: <strong>%ld equal</strong>, "
	    "<strong>%ld different</strong>, <strong>%ld only in the shop</strong>, "
	    "<strong>%ld only in KeyCRM</strong>.</p>", when, count_of(sum, "equal"),
	    count_of(sum, "different"), count_of(sum, "shop_only"),
	    count_of(sum, "keycrm_only"));
	if (count_of(sum, "different") + count_of(sum, "shop_only") +
	    count_of(sum, "keycrm_only") > 0) {
		struct biggest bg = { b, 0 };
		struct kc_error err = { { 0 } };

		kc_html_raw(b, "<table class=\"cards\" id=\"compare\"><thead><tr><th>SKU</th>"
		    "<th class=\"num\">Shop</th><th class=\"num\">KeyCRM available</th>"
		    "<th class=\"num\">Difference</th></tr></thead><tbody>");
		kc_store_compare_rows(st, biggest_row, &bg, NULL, &err);
		kc_html_raw(b, "</tbody></table>");
	}
	kc_html_f(b, "<div class=\"actions\"><a href=\"%s?download=compare.csv\">"
	    "Download every SKU (CSV)</a>", pg->self);
	button(b, pg, "compare", under_way ? "Go on comparing" : "Compare again", 0);
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
	kc_html_raw(b, "<section class=\"card\" id=\"first\"><h2>First install: which side "
	    "is right?</h2><p>keycrm-sync does not know yet whether the shop or KeyCRM holds "
	    "the right quantities. Left alone, the first complete sync run records the "
	    "shop's quantities as the starting point and sends nothing, so the differences "
	    "below stay. This card stays here until you choose.</p>");
	comparison(b, st, pg);
	kc_html_raw(b, "<div class=\"grid\"><div class=\"box\"><h3>The shop is right: push all</h3>");
	if (sum != NULL)
		kc_html_f(b, "<p>Sends every shop quantity to KeyCRM%s%s%s: %ld different "
		    "%s the shop's numbers there; %ld shop %s KeyCRM does not have %s "
		    "reported, not created.</p>", wh[0] ? " (warehouse " : "", wh,
		    wh[0] ? ")" : "", diff, diff == 1 ? "SKU takes" : "SKUs take", shop_only,
		    shop_only == 1 ? "SKU" : "SKUs", shop_only == 1 ? "is" : "are");
	else
		kc_html_f(b, "<p>Reads the whole catalogue and sends every quantity the shop "
		    "manages to KeyCRM%s%s%s. KeyCRM's current numbers are overwritten.</p>",
		    wh[0] ? " (warehouse " : "", wh, wh[0] ? ")" : "");
	button(b, pg, "push_all", "Push all to KeyCRM", 0);
	kc_html_raw(b, "</div><div class=\"box\"><h3>KeyCRM is right: backfill</h3>");
	if (sum != NULL)
		kc_html_f(b, "<p>Sets the shop from KeyCRM's stock: %ld different %s KeyCRM's "
		    "numbers; %ld KeyCRM %s the shop does not have %s reported. If it stops at "
		    "the time limit, press it again: it goes on where it stopped.</p>",
		    diff, diff == 1 ? "SKU takes" : "SKUs take", kc_only,
		    kc_only == 1 ? "SKU" : "SKUs", kc_only == 1 ? "is" : "are");
	else
		kc_html_raw(b, "<p>Reads all stock from KeyCRM (50 offers per request, within "
		    "its rate limit) and sets the shop's quantities. If it stops at the time "
		    "limit, press it again: it goes on where it stopped.</p>");
	button(b, pg, "backfill", "Backfill the shop", 0);
	kc_html_raw(b, "</div><div class=\"box\"><h3>Both are right as they are</h3>"
	    "<p>Changes nothing now: from here on each side's changes are sent to the "
	    "other.</p>");
	button(b, pg, "first_keep", "Keep both as they are", 0);
	kc_html_raw(b, "</div></div></section>");
	json_decref(sum);
}

void
kc_fi_push_again(struct kc_buf *b, const struct kc_fi_page *pg)
{
	kc_html_f(b, "<details id=\"push-all\"><summary>Push all shop quantities to KeyCRM"
	    "</summary><p class=\"muted\">Sends every quantity the shop manages to KeyCRM, "
	    "overwriting what KeyCRM holds, including changes made there that have not "
	    "reached the shop yet. The sync runs already send every change; use this only "
	    "when KeyCRM's numbers are known to be wrong.</p>"
	    "<form method=\"post\" action=\"%s\"><input type=\"hidden\" name=\"csrf\" "
	    "value=\"%s\"><label class=\"check\"><input type=\"checkbox\" name=\"confirm\" "
	    "value=\"yes\" required> Yes, overwrite KeyCRM's quantities with the shop's"
	    "</label><div class=\"actions\"><button type=\"submit\" name=\"action\" "
	    "value=\"push_all\">Push all to KeyCRM</button></div></form></details>",
	    pg->self, pg->csrf);
}
