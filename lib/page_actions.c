/*
 * page_actions.c - the small actions: dismiss a problem, keep both sides
 * as they are on a first install.
 */
#include "page.h"

#include <string.h>

#include "settings_firstinstall.h"
#include "store_problems.h"

void
act_dismiss(struct page *p, const struct kc_form *form, struct flash *f)
{
	const char *sku = kc_form_get(form, "sku");
	int kind = kc_store_problem_kind(kc_form_get(form, "kind"));
	struct kc_error err = { { 0 } };

	if (sku == NULL || sku[0] == '\0' || kind < 0) {
		flash_say(f, L_BAD, "%s", _("Nothing was dismissed: the form did not name a problem."));
		return;
	}
	if (!p->have_store ||
	    kc_store_problem(&p->st, sku, (enum kc_problem)kind, NULL, p->now, &err) != 0) {
		const char *why = p->have_store ? err.msg : p->store_err.msg;
		flash_say(f, L_BAD, _("Nothing was dismissed: %s%s"), why, page_period(why));
		return;
	}
	flash_say(f, L_OK, _("Dismissed %s; it comes back if the problem is seen again."), sku);
}

void
act_first_keep(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_error err = { { 0 } };

	(void)form;
	if (!p->have_store || kc_fi_choose(&p->st, "keep", p->user, &err) != 0) {
		const char *why = p->have_store ? err.msg : p->store_err.msg;
		flash_say(f, L_BAD, _("The choice could not be kept: %s%s"), why, page_period(why));
	} else {
		flash_say(f, L_OK, "%s", _("Both sides are kept as they are; from now on each side's changes are sent to the other."));
	}
}
