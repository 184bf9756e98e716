/*
 * stock.h - the quantity rules of SPEC section 4.1 and 4.5: what the shop
 * should hold for a KeyCRM report, and whether a shop product can take it.
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

enum kc_stock_action {
	KC_STOCK_WRITE,		/* send the target quantity */
	KC_STOCK_UNCHANGED,	/* the shop already holds it */
	KC_STOCK_SKIP,		/* cannot take a quantity; reason says why */
};

/* Decides what to do with one matched product; *reason is static text. */
enum kc_stock_action kc_stock_decide(const struct kc_woo_product *p,
    long long target, enum kc_manage_stock manage, const char **reason);

#endif
