/*
 * stock.c - see stock.h.
 */
#include "stock.h"

#include <math.h>
#include <string.h>

long long
kc_stock_target(double in_stock, double in_reserve, int subtract_reserve)
{
	double v = subtract_reserve ? in_stock - in_reserve : in_stock;

	if (!isfinite(v) || v <= 0)
		return 0;
	/*
	 * 1.4 - 0.4 is 0.9999999999999999 in binary floating point; KeyCRM's
	 * counts have a few decimals at most, so the difference is rounded to
	 * a millionth before it is floored.
	 */
	v = floor(round(v * 1e6) / 1e6);
	if (v > 2 * KC_STOCK_MAX_ABS)
		v = 2 * KC_STOCK_MAX_ABS;
	return (long long)v;
}

const char *
kc_stock_report_problem(double in_stock, double in_reserve)
{
	(void)in_stock;
	if (in_reserve < 0)
		return "in_reserve is negative: it would raise the shop's stock";
	return NULL;
}

const char *
kc_stock_skip_reason(const struct kc_woo_product *p,
    enum kc_stock_direction dir, enum kc_manage_stock manage,
    int shows_parent_sku)
{
	if (p->sku == NULL || p->sku[0] == '\0' || shows_parent_sku)
		return "the product has no SKU of its own";
	if (strcmp(p->type, "grouped") == 0 || strcmp(p->type, "external") == 0)
		return "grouped and external products have no stock of their own";
	/* Even with manage_stock = enable: the parent's stock is not ours. */
	if (p->manage == KC_WOO_MANAGE_PARENT)
		return "the variation's stock is managed by its parent product";
	if (p->manage == KC_WOO_MANAGE_NO) {
		if (dir == KC_FROM_SHOP)
			return "the product does not manage stock";
		if (manage == KC_MANAGE_SKIP)
			return "the product does not manage stock (manage_stock = skip)";
		return NULL;
	}
	if (dir == KC_FROM_SHOP && !p->has_qty)
		return "the product manages stock but has no quantity";
	return NULL;
}

enum kc_stock_action
kc_stock_decide(const struct kc_woo_product *p, long long target,
    enum kc_manage_stock manage, const char **reason)
{
	*reason = kc_stock_skip_reason(p, KC_TO_SHOP, manage, 0);
	if (*reason != NULL)
		return KC_STOCK_SKIP;
	if (p->manage != KC_WOO_MANAGE_NO && p->has_qty && p->qty == target)
		return KC_STOCK_UNCHANGED;
	return KC_STOCK_WRITE;
}
