/*
 * i18n.h - the language of what people read: the settings page and the
 * programs' answers meant for people.
 *
 * Messages are GNU gettext catalogues (po/uk.po, compiled to .mo at build
 * time).  The language is chosen once per request (kc_i18n_select) from the
 * `language` key or the browser's Accept-Language; English is the source
 * language and the fallback.  Selection is per thread, so a worker that
 * answers several requests at once never mixes them.
 */
#ifndef KC_I18N_H
#define KC_I18N_H

/* Translate msgid into the request's language (msgid itself when none). */
const char *kc_tr(const char *msgid);
/* Plural form for n, by the catalogue's own plural rule. */
const char *kc_ntr(const char *one, const char *many, unsigned long n);

#define _(s) kc_tr(s)
/* Marks a string for extraction where it must stay untranslated until used. */
#define N_(s) (s)

/* Languages the suite speaks. */
enum kc_lang { KC_LANG_EN = 0, KC_LANG_UK = 1 };

/*
 * Choose the language for this request: forced ("en", "uk") wins; else the
 * best match of an Accept-Language header (may be NULL); else English.
 * Returns the language chosen.
 */
enum kc_lang kc_i18n_select(const char *forced, const char *accept_language);
/* The language chosen for this thread's request ("en" or "uk"). */
const char *kc_i18n_code(void);

#endif
