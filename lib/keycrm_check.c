/*
 * keycrm_check.c - see keycrm_check.h.
 */
#include "keycrm_check.h"

#include "config.h"

#define WAREHOUSES_MAX 64

static const char *const status_names[] = {
	[KC_KEY_VALID] = "valid",
	[KC_KEY_REJECTED] = "rejected",
	[KC_KEY_UNREACHABLE] = "unreachable",
	[KC_KEY_NOT_SET] = "not_set",
};

const char *
kc_keycrm_key_status_name(enum kc_key_status status)
{
	return status_names[status];
}

/* A client for key with a bounded number of tries. */
static int
client(struct kc_keycrm *k, const struct kc_config *cfg, struct kc_store *st,
    const char *key, int64_t deadline_ms, struct kc_error *err)
{
	if (kc_keycrm_init_key(k, cfg, key, st, err) != 0)
		return -1;
	k->http.max_attempts = 2;
	k->http.deadline_ms = deadline_ms;
	return 0;
}

enum kc_key_status
kc_keycrm_check(const struct kc_config *cfg, struct kc_store *st,
    const char *key, int64_t deadline_ms, struct kc_error *err)
{
	struct kc_keycrm k;
	enum kc_key_status status;

	if (key == NULL || *key == '\0') {
		kc_error_set(err, "no API key is configured");
		return KC_KEY_NOT_SET;
	}
	if (client(&k, cfg, st, key, deadline_ms, err) != 0)
		return KC_KEY_UNREACHABLE;
	status = kc_keycrm_check_key(&k, err);
	kc_keycrm_cleanup(&k);
	return status;
}

int
kc_keycrm_check_warehouse(const struct kc_config *cfg, struct kc_store *st,
    const char *key, long id, int64_t deadline_ms, struct kc_buf *seen,
    struct kc_error *err)
{
	struct kc_keycrm k;
	long ids[WAREHOUSES_MAX];
	size_t n = 0;
	int complete = 0, rc;

	if (client(&k, cfg, st, key, deadline_ms, err) != 0)
		return -1;
	rc = kc_keycrm_warehouse_ids(&k, KC_KEYCRM_CHECK_WAREHOUSE_PAGES, ids,
	    WAREHOUSES_MAX, &n, &complete, err);
	kc_keycrm_cleanup(&k);
	if (rc != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (ids[i] == id)
			return 1;
		kc_buf_addf(seen, "%s%ld", i ? ", " : "", ids[i]);
	}
	if (n == 0)
		kc_buf_adds(seen, "none");
	if (!complete)
		kc_buf_addf(seen, " (in its first %d offers)",
		    KC_KEYCRM_CHECK_WAREHOUSE_PAGES * KC_KEYCRM_PAGE_MAX);
	return 0;
}
