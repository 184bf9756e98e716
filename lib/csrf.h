/*
 * csrf.h - tokens that tie a form of the settings page to the user who
 * was shown it, so that another site cannot make an administrator's
 * browser post to the page.
 *
 * A token is HMAC-SHA256 over the user name and a coarse time slot, keyed
 * with a random key that is made once and kept in state_dir (mode 0600).
 * Nothing per form is stored: any worker can check any token, and a token
 * stays good for one to two slots (the current one and the one before).
 */
#ifndef KC_CSRF_H
#define KC_CSRF_H

#include <stdint.h>

#include "util.h"

#define KC_CSRF_KEY_FILE "csrf.key"
#define KC_CSRF_KEY_BYTES 32
#define KC_CSRF_SLOT_SECONDS 3600
#define KC_CSRF_TOKEN_LEN 64		/* hex characters */

struct kc_csrf {
	unsigned char key[KC_CSRF_KEY_BYTES];
};

/*
 * Reads state_dir/csrf.key, creating it first when absent.  It appears
 * whole or not at all (written to a temporary file, then linked into
 * place), and when two processes race to create it both end up with the
 * one that won.  Refuses a key file that others may read.
 */
int kc_csrf_init(struct kc_csrf *c, const char *state_dir,
    struct kc_error *err);
struct kc_store;
/*
 * The key kept in the shared database instead (state in MariaDB): a form
 * shown by one web server is posted to whichever the balancer picks.
 */
int kc_csrf_init_store(struct kc_csrf *c, struct kc_store *st,
    struct kc_error *err);
/* Wipes the key from memory. */
void kc_csrf_clear(struct kc_csrf *c);

/* The token for user at time now (seconds since the epoch). */
void kc_csrf_token(const struct kc_csrf *c, const char *user, int64_t now,
    char out[KC_CSRF_TOKEN_LEN + 1]);

/*
 * 1 when given is user's token of now's slot or of the one before, else
 * 0.  The comparison takes the same time wherever the tokens differ.
 */
int kc_csrf_check(const struct kc_csrf *c, const char *user,
    const char *given, int64_t now);

#endif
