/*
 * keycrm_check.h - questions the settings page asks KeyCRM while someone
 * waits for the answer: is this key good, does this warehouse exist.  The
 * key is passed explicitly (a new one is checked before it is saved);
 * retries are bounded by deadline_ms (kc_monotonic_ms()).
 */
#ifndef KC_KEYCRM_CHECK_H
#define KC_KEYCRM_CHECK_H

#include "keycrm.h"

/* Whether key is good; err says why when not valid. */
enum kc_key_status kc_keycrm_check(const struct kc_config *cfg,
    struct kc_store *st, const char *key, int64_t deadline_ms,
    struct kc_error *err);

/* "valid", "rejected", "unreachable", "not_set". */
const char *kc_keycrm_key_status_name(enum kc_key_status status);

#define KC_KEYCRM_CHECK_WAREHOUSE_PAGES 10	/* of the stock list */

/*
 * Whether KeyCRM knows warehouse id (SPEC 2: checked before it is saved).
 * KeyCRM lists no warehouses, so their ids are read from its stock list.
 * Returns 1 found, 0 not found (seen says which ids were, "none" when
 * none), -1 when KeyCRM could not tell (err says why).
 */
int kc_keycrm_check_warehouse(const struct kc_config *cfg, struct kc_store *st,
    const char *key, long id, int64_t deadline_ms, struct kc_buf *seen,
    struct kc_error *err);

#endif
