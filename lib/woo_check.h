/*
 * woo_check.h - the settings page's question to the shop, while someone
 * waits: is this REST key good, may it write, is stock management on.
 * The key is passed explicitly (a new one is checked before it is saved).
 */
#ifndef KC_WOO_CHECK_H
#define KC_WOO_CHECK_H

#include <stdint.h>

#include "config.h"

struct kc_woo_check {
	const char *state;		/* ok, not_set, unreachable, rejected, error */
	char reason[512];		/* plain text: the shop's markup dropped */
	int read_ok;
	int write_ok;			/* 1 yes, 0 no, -1 unknown */
	char write_reason[512];
	char manage_stock[8];		/* "yes", "no", "" unknown */
};

/*
 * Three questions, each answered by the shop itself: is the key good
 * (read the store's "manage stock" option), may it write (an empty batch
 * needs write permission and changes nothing), and is store-wide stock
 * management on (that option's value).  ck/cs NULL: the configured key.
 */
void kc_woo_check(const struct kc_config *cfg, const char *ck, const char *cs,
    int64_t deadline_ms, struct kc_woo_check *c);

#endif
