/*
 * stock.h - the quantity rules of SPEC section 4.1, 4.5 and 4.7: what the
 * shop should hold for a KeyCRM report, which reports are refused, and
 * which shop products have a quantity of their own to take or to send.
 */
#ifndef KC_STOCK_H
#define KC_STOCK_H

#include "config.h"
#include "woo.h"

/* Counts beyond this are refused as input: no shop holds 10^12 of a thing. */
#define KC_STOCK_MAX_ABS 1e12

/*
 * floor(in_stock - in_reserve), or floor(in_stock) without reserve
 * subtraction; never below 0.
 */
long long kc_stock_target(double in_stock, double in_reserve,
    int subtract_reserve);

/*
 * Why KeyCRM's numbers for one item cannot be applied (SPEC 4.7), or NULL.
 * A negative reserve would raise the shop's stock above KeyCRM's; a
 * negative in_stock (oversold) is valid and gives 0.
 */
const char *kc_stock_report_problem(double in_stock, double in_reserve);

/* Which way a quantity goes: the skip rules differ in one point. */
enum kc_stock_direction {
	KC_TO_SHOP,		/* KeyCRM's value written to the product */
	KC_FROM_SHOP,		/* the product's quantity sent to KeyCRM */
};

/*
 * SPEC 4.5: why a shop product has no quantity of its own for this
 * direction, or NULL.  With manage_stock = enable a product that does not
 * manage stock can still take a quantity (writing it turns management on),
 * but it has none to send.  shows_parent_sku: a variation that shows its
 * parent's SKU (it has none of its own); only the caller can know.
 */
const char *kc_stock_skip_reason(const struct kc_woo_product *p,
    enum kc_stock_direction dir, enum kc_manage_stock manage,
    int shows_parent_sku);

enum kc_stock_action {
	KC_STOCK_WRITE,		/* send the target quantity */
	KC_STOCK_UNCHANGED,	/* the shop already holds it */
	KC_STOCK_SKIP,		/* cannot take a quantity; reason says why */
};

/* Decides what to do with one matched product; *reason is static text. */
enum kc_stock_action kc_stock_decide(const struct kc_woo_product *p,
    long long target, enum kc_manage_stock manage, const char **reason);

#endif
