/*
 * store_once.h - things that may happen once: a key recorded in the state
 * the first time it is used, so that any worker on any server sees a
 * second use.  Keys are forgotten after keep_s seconds (they must not be
 * usable longer than that anyway, e.g. a form token's lifetime).
 */
#ifndef KC_STORE_ONCE_H
#define KC_STORE_ONCE_H

#include "store.h"

/* 1: first use, now recorded; 0: used before; -1: error (treat as used). */
int kc_store_use_once(struct kc_store *st, const char *key, double now,
    double keep_s, struct kc_error *err);

#endif
