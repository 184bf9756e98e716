/*
 * page_section_connection.c - the Connection section: what the last
 * check of each side found (kept by page_actions_check.c), and the button
 * that checks again.
 */
#include "page.h"

#include <string.h>

#include "html.h"
#include "store_page.h"

static void
box_keycrm(struct kc_buf *b, struct page *p, json_t *k)
{
	const char *st = json_string_value(json_object_get(k, "status"));
	const char *reason = json_string_value(json_object_get(k, "reason"));
	const char *cls = st == NULL ? "" : strcmp(st, "valid") == 0 ? " ok" :
	    strcmp(st, "unreachable") == 0 ? " warn" : " bad";

	kc_html_f(b, "<div class=\"box%s\"><h3>KeyCRM</h3><ul class=\"ticks\">", cls);
	if (st == NULL)
		kc_html_f(b, "<li class=\"none\">%s</li>", _("Not checked yet"));
	else if (strcmp(st, "valid") == 0)
		kc_html_f(b, "<li class=\"ok\">%s</li>", _("API key valid"));
	else if (strcmp(st, "rejected") == 0)
		kc_html_f(b, "<li class=\"bad\">%s: %s</li>", _("API key rejected"),
		    reason ? reason : "");
	else if (strcmp(st, "unreachable") == 0)
		kc_html_f(b, "<li class=\"warn\">%s: %s</li>", _("Unreachable"),
		    reason ? reason : "");
	else
		kc_html_f(b, "<li class=\"bad\">%s</li>", _("No API key is set"));
	kc_html_f(b, "</ul><p class=\"muted\">%s</p></div>", p->cfg.keycrm_api_url);
}

static void
box_woo_ok(struct kc_buf *b, json_t *w)
{
	const char *wr = json_string_value(json_object_get(w, "write_reason"));
	const char *ms = json_string_value(json_object_get(w, "manage_stock"));
	int write = (int)json_integer_value(json_object_get(w, "write"));
	char why[512];

	if (json_is_true(json_object_get(w, "read")))
		kc_html_f(b, "<li class=\"ok\">%s</li>", _("API key valid"));
	else
		kc_html_f(b, "<li class=\"warn\">%s</li>", _("API key valid, but it may not read"));
	kc_text_from_markup(wr, why, sizeof(why));
	if (write == 1)
		kc_html_f(b, "<li class=\"ok\">%s</li>", _("Write permission"));
	else
		kc_html_f(b, "<li class=\"%s\">%s: %s</li>", write == 0 ? "bad" : "warn",
		    write == 0 ? _("No write permission (make the key Read/Write)") :
		    _("Write permission unknown"), why);
	if (ms != NULL && strcmp(ms, "yes") == 0)
		kc_html_f(b, "<li class=\"ok\">%s</li>", _("Stock management on"));
	else if (ms != NULL && strcmp(ms, "no") == 0)
		kc_html_f(b, "<li class=\"bad\">%s</li>", _("Stock management is off: turn on "
		    "WooCommerce, Settings, Products, Inventory, Manage stock"));
	else
		kc_html_f(b, "<li class=\"warn\">%s</li>", _("Stock management: unknown"));
}

static void
box_woo(struct kc_buf *b, struct page *p, json_t *w)
{
	const char *st = json_string_value(json_object_get(w, "state"));
	const char *ms = json_string_value(json_object_get(w, "manage_stock"));
	int write = (int)json_integer_value(json_object_get(w, "write"));
	const char *cls = "";
	char why[512];

	kc_text_from_markup(json_string_value(json_object_get(w, "reason")), why, sizeof(why));
	if (st != NULL) {
		if (strcmp(st, "ok") != 0)
			cls = strcmp(st, "unreachable") == 0 ? " warn" : " bad";
		else
			cls = write == 1 && ms != NULL && strcmp(ms, "yes") == 0 ? " ok" : " bad";
	}
	kc_html_f(b, "<div class=\"box%s\"><h3>WooCommerce</h3><ul class=\"ticks\">", cls);
	if (st == NULL)
		kc_html_f(b, "<li class=\"none\">%s</li>", _("Not checked yet"));
	else if (strcmp(st, "not_set") == 0)
		kc_html_f(b, "<li class=\"bad\">%s</li>", _("Not configured (woo_url, "
		    "woo_consumer_key, woo_consumer_secret)"));
	else if (strcmp(st, "unreachable") == 0)
		kc_html_f(b, "<li class=\"warn\">%s: %s</li>", _("Unreachable"), why);
	else if (strcmp(st, "rejected") == 0 || strcmp(st, "error") == 0)
		kc_html_f(b, "<li class=\"bad\">%s: %s</li>", strcmp(st, "rejected") == 0 ?
		    _("API key rejected") : _("Error"), why);
	else
		box_woo_ok(b, w);
	kc_html_f(b, "</ul><p class=\"muted\">%s</p></div>",
	    p->cfg.woo_url ? p->cfg.woo_url : _("woo_url is not set"));
}

void
section_connection(struct kc_buf *b, struct page *p)
{
	json_t *k = NULL, *w = NULL;
	double t, tw;

	if (p->have_store) {
		kc_store_check_get(&p->st, "keycrm", &k);
		kc_store_check_get(&p->st, "woo", &w);
	}
	t = json_number_value(json_object_get(k, "t"));
	tw = json_number_value(json_object_get(w, "t"));
	kc_html_f(b, "<section class=\"card\" id=\"connection\"><h2>%s</h2>", _("Connection"));
	if (tw < t)
		t = tw;
	if (t > 0) {
		kc_html_f(b, "<p class=\"muted\">%s ", _("Last checked"));
		page_html_when(b, t, p->now);
		kc_html_raw(b, ".</p>");
	}
	kc_html_raw(b, "<div class=\"grid\">");
	box_keycrm(b, p, k);
	box_woo(b, p, w);
	kc_html_raw(b, "</div><div class=\"actions\">");
	page_action_button(b, p, "check", _("Check connections"), 0);
	kc_html_raw(b, "</div></section>");
	json_decref(k);
	json_decref(w);
}
