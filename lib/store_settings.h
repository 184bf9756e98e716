/*
 * store_settings.h - the page's saved settings in the shared database.
 */
#ifndef KC_STORE_SETTINGS_H
#define KC_STORE_SETTINGS_H

#include "store.h"

struct kc_config;

/* settings.conf's text as saved: 0, KC_STORE_ABSENT or -1. */
int kc_store_settings_get(struct kc_store *st, struct kc_buf *text,
    double *saved_at);
/* When they were last saved (0 never): 0, or -1 when it cannot be read. */
int kc_store_settings_saved_at(struct kc_store *st, double *saved_at);
/* Replaces it (the caller has checked it with the configuration parser). */
int kc_store_settings_put(struct kc_store *st, const char *text, double now,
    struct kc_error *err);
/* Lays the saved settings over cfg, as settings.conf is laid over the file. */
int kc_store_settings_apply(struct kc_store *st, struct kc_config *cfg,
    struct kc_error *err);

/*
 * A random secret of len bytes (len <= 64) shared by every server: made by
 * the first to ask, kept in the database.  0 with out filled, or -1.
 */
int kc_store_shared_secret(struct kc_store *st, const char *name,
    unsigned char *out, size_t len, struct kc_error *err);

#endif
