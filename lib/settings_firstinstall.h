/*
 * settings_firstinstall.h - the settings page's first-install choice
 * (SPEC section 3, "First run"): which side is right, decided with the
 * comparison's numbers in front of the administrator.
 *
 * The choice is kept in the state database ("first_install.choice"); the
 * card stays until it is made, whatever sync runs happen meanwhile (they
 * end the first run's baseline, not the choice).
 */
#ifndef KC_SETTINGS_FIRSTINSTALL_H
#define KC_SETTINGS_FIRSTINSTALL_H

#include "config.h"
#include "store.h"
#include "util.h"

#define KC_FI_OPEN_KEY "first_install.open"
#define KC_FI_CHOICE_KEY "first_install.choice"

/* What the card needs to post forms back to the page. */
struct kc_fi_page {
	const char *self;		/* the page's path */
	const char *csrf;		/* the form token */
	double now;
};

/* 1 while the choice is still to be made on a first install. */
int kc_fi_pending(struct kc_store *st, int first_install);

/* Records the choice ("push_all", "backfill", "keep") and who made it. */
int kc_fi_choose(struct kc_store *st, const char *choice, const char *user,
    struct kc_error *err);

/* The card: the comparison's counts and biggest differences, the choice. */
void kc_fi_card(struct kc_buf *b, struct kc_store *st,
    const struct kc_config *cfg, const struct kc_fi_page *pg);

/* After the choice: push all again, behind a confirmation. */
void kc_fi_push_again(struct kc_buf *b, const struct kc_fi_page *pg);

#endif
