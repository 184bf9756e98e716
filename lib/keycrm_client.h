/*
 * keycrm_client.h - what the KeyCRM client's files share (keycrm.c,
 * keycrm_put.c); nothing outside them uses it.
 */
#ifndef KC_KEYCRM_CLIENT_H
#define KC_KEYCRM_CLIENT_H

#include <stddef.h>

#include "http.h"
#include "keycrm.h"

#define QTY_MAX 1e12		/* beyond this a count is nonsense */
#define MSG_MAX 200		/* bytes of KeyCRM's message kept in errors */

/* One request with the key, retried on transient failures; 0 when answered. */
int keycrm_perform(struct kc_keycrm *k, const char *method, const char *url,
    const char *body, struct kc_http_response *resp, struct kc_error *err);
/*
 * s with control characters blanked, cut to MSG_MAX bytes (and outsz) on a
 * character boundary.
 */
void keycrm_clean_text(const char *s, char *out, size_t outsz);
/* err = KeyCRM's refusal in words (never the key); returns -1. */
int keycrm_answer_error(struct kc_keycrm *k, const char *method,
    const char *path, const struct kc_http_response *resp, struct kc_error *err);

#endif
