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

/*
 * Translate msgid into the request's language (msgid itself when none).
 * format_arg: printf-like callers keep their format checks (-Wformat=2)
 * through _("... %s ..."), and msgfmt --check keeps the translations'
 * directives the same as the msgid's.
 */
const char *kc_tr(const char *msgid) __attribute__((format_arg(1)));
/* Plural form for n, by the catalogue's own plural rule. */
const char *kc_ntr(const char *one, const char *many, unsigned long n)
    __attribute__((format_arg(1))) __attribute__((format_arg(2)));

#define _(s) kc_tr(s)
/* Marks a string for extraction where it must stay untranslated until used. */
#define N_(s) (s)

/* Languages the suite speaks. */
enum kc_lang { KC_LANG_EN = 0, KC_LANG_UK = 1 };

/*
 * Choose the language for this request: forced ("en", "uk") wins; else the
 * best match of an Accept-Language header (may be NULL); else English.
 * Returns the language chosen.  Call it at the start of every request: a
 * FastCGI worker's thread otherwise keeps the previous request's choice.
 * Ukrainian without its catalogue is English (the log says why, once).
 */
enum kc_lang kc_i18n_select(const char *forced, const char *accept_language);
/* The language chosen for this thread's request ("en" or "uk"). */
const char *kc_i18n_code(void);

/*
 * The same as kc_i18n_select, named for the request layer: the `language`
 * configuration key's value ("auto", "en", "uk") and the request's
 * HTTP_ACCEPT_LANGUAGE (may be NULL).
 */
enum kc_lang kc_i18n_for_request(const char *language_key_value,
    const char *accept_language);

/*
 * From a shell: the `language` key's value when it names one, else the
 * locale of the environment (LC_ALL, LC_MESSAGES, LANG): Ukrainian for
 * "uk" and "uk_UA...", English for anything else, "C" included.
 */
enum kc_lang kc_i18n_for_shell(const char *language_key_value);

/*
 * Finds the catalogues and sets LC_MESSAGES to C.UTF-8 (and drops LANGUAGE
 * from the environment), once per process; kc_i18n_select calls it, but a
 * program that starts threads should call it before it does (setlocale and
 * unsetenv are not safe while other threads run).
 */
void kc_i18n_init(void);
/* The directory the Ukrainian catalogue was found in, or NULL when none. */
const char *kc_i18n_localedir(void);

/*
 * Reads an Accept-Language header strictly (RFC 9110 12.5.4: ranges,
 * q-values, "*"; at most 1024 bytes and 32 elements).  Returns 0 and the
 * preferred language in *out (English unless Ukrainian is preferred to it),
 * or -1 when the header is malformed or too long (*out unchanged).
 */
int kc_i18n_parse_accept(const char *header, enum kc_lang *out);
/* 1 and *out when value forces a language ("en", "uk"); 0 for "auto". */
int kc_i18n_forced(const char *value, enum kc_lang *out);

/* Where the catalogues are looked for first (see i18n.c for the order). */
#define KC_I18N_LOCALEDIR_ENV "KEYCRM_SYNC_LOCALEDIR"
/* The text domain's stem (one domain per language: keycrm-sync-uk) and the
 * locale directory name the catalogues are installed under. */
#define KC_I18N_DOMAIN "keycrm-sync"
#define KC_I18N_LOCALE "C.UTF-8"

#endif
