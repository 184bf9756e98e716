/*
 * i18n.c - placeholder until the catalogues land: every message is English.
 */
#include "i18n.h"

static _Thread_local enum kc_lang current = KC_LANG_EN;

const char *
kc_tr(const char *msgid)
{
	return msgid;
}

const char *
kc_ntr(const char *one, const char *many, unsigned long n)
{
	return n == 1 ? one : many;
}

enum kc_lang
kc_i18n_select(const char *forced, const char *accept_language)
{
	(void)forced;
	(void)accept_language;
	current = KC_LANG_EN;
	return current;
}

const char *
kc_i18n_code(void)
{
	return current == KC_LANG_UK ? "uk" : "en";
}
