/*
 * page_section_plan.c - the dry run's plan, shown in its result notice:
 * per SKU the shop's quantity and what would be sent to KeyCRM.
 */
#include "page.h"

#include <stdio.h>

#include "html.h"

#define PLAN_SHOW 500

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

void
page_plan_table(struct kc_buf *b, json_t *plan, long total)
{
	size_t i;
	json_t *it;
	int now = plan_knows_keycrm(plan);

	kc_html_raw(b, "<h3>");
	kc_html_f(b, kc_ntr("The plan: %ld SKU to send", "The plan: %ld SKUs to send",
	    (unsigned long)total), total);
	kc_html_raw(b, "</h3>");
	if (json_array_size(plan) == 0) {
		kc_html_f(b, "<p>%s</p>", _("Nothing would be sent: no shop quantity changed "
		    "since both sides last agreed. (Compare shows where the two sides differ.)"));
		return;
	}
	kc_html_f(b, "<table class=\"cards\" id=\"plan\"><thead><tr><th>%s</th>"
	    "<th class=\"num\">%s</th>", _("SKU"), _("In the shop"));
	if (now)
		kc_html_f(b, "<th class=\"num\">%s</th>", _("KeyCRM now \xe2\x86\x92 will be"));
	else
		kc_html_f(b, "<th class=\"num\">%s</th>", _("To send to KeyCRM"));
	kc_html_raw(b, "</tr></thead><tbody>");
	json_array_foreach(plan, i, it) {
		char shop[32], send[32], was[32];
		const char *sku = json_string_value(json_object_get(it, "sku"));
		if (i >= PLAN_SHOW)
			break;
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
	if (total > (long)i) {
		kc_html_raw(b, "<p class=\"muted\">");
		kc_html_f(b, _("And %ld more."), total - (long)i);
		kc_html_raw(b, "</p>");
	}
}
