/*
 * setup_check.h - the checks keycrm-sync-setup runs as each answer is
 * typed (sync.cgi --check-shop / --check-keycrm): is the shop's REST key
 * good and may it write, is KeyCRM's key good, and which warehouse ids
 * KeyCRM's stock list shows.  Reads only; uses no state directory.
 */
#ifndef KC_SETUP_CHECK_H
#define KC_SETUP_CHECK_H

#include <stdio.h>

#include "config.h"

/*
 * Prints one line per check to out ("shop: ok", "shop: rejected: why",
 * "keycrm: ok", "warehouses: 1 2", ...).  Returns 0 when every check asked
 * for passed, 1 otherwise.
 */
int kc_setup_check(const struct kc_config *cfg, int shop, int keycrm, FILE *out);

#endif
