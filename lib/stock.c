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

enum kc_stock_action
kc_stock_decide(const struct kc_woo_product *p, long long target,
    enum kc_manage_stock manage, const char **reason)
{
	*reason = NULL;
	if (strcmp(p->type, "grouped") == 0 || strcmp(p->type, "external") == 0) {
		*reason = "grouped and external products have no stock of their own";
		return KC_STOCK_SKIP;
	}
	/* Even with manage_stock = enable: the parent's stock is not ours. */
	if (p->manage == KC_WOO_MANAGE_PARENT) {
		*reason = "the variation's stock is managed by its parent product";
		return KC_STOCK_SKIP;
	}
	if (p->manage == KC_WOO_MANAGE_NO) {
		if (manage == KC_MANAGE_SKIP) {
			*reason = "the product does not manage stock (manage_stock = skip)";
			return KC_STOCK_SKIP;
		}
		return KC_STOCK_WRITE;
	}
	if (p->has_qty && p->qty == target)
		return KC_STOCK_UNCHANGED;
	return KC_STOCK_WRITE;
}
