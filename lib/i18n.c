/*
 * i18n.c - see i18n.h.
 *
 * glibc's own gettext, without depending on a Ukrainian locale being
 * installed (shop servers often have none but C.UTF-8): each language is its
 * own text domain ("keycrm-sync-uk"), whose catalogue lives at
 * <localedir>/C.UTF-8/LC_MESSAGES/keycrm-sync-uk.mo.  LC_MESSAGES is set once
 * to C.UTF-8 (built into glibc since 2.35; gettext looks up nothing for "C"
 * or "POSIX" only), so dgettext() finds that file whatever locales the
 * machine has, and the request's language is the domain asked, a per-thread
 * choice.  Output is UTF-8 whatever LC_CTYPE is (bind_textdomain_codeset).
 * English is the source language: its messages are the msgids themselves.
 *
 * The catalogue directory is the first of these that holds the catalogue:
 *   1. $KEYCRM_SYNC_LOCALEDIR (tests, unusual layouts);
 *   2. <directory of the program>/locale (the build tree: make puts the
 *      catalogues in $(BINDIR)/locale);
 *   3. <directory of the program>/../../share/locale (installed:
 *      PREFIX/lib/keycrm-sync/x.cgi and PREFIX/share/locale, also under a
 *      DESTDIR staging root);
 *   4. KC_LOCALEDIR, compiled in (PREFIX/share/locale at build time).
 * Without any, Ukrainian falls back to English (and the log says why, once).
 */
#include "i18n.h"

#include <libintl.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#ifndef KC_LOCALEDIR
#define KC_LOCALEDIR "/usr/local/share/locale"
#endif

#define DOMAIN_UK KC_I18N_DOMAIN "-uk"
#define CATALOGUE_UK "/" KC_I18N_LOCALE "/LC_MESSAGES/" DOMAIN_UK ".mo"

/* Accept-Language limits: a longer header, or one with more elements, is
 * not read (the page is then English). */
#define ACCEPT_MAX_BYTES 1024
#define ACCEPT_MAX_ITEMS 32

static _Thread_local enum kc_lang current = KC_LANG_EN;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_once_t warn_once = PTHREAD_ONCE_INIT;
static char localedir[PATH_MAX];
static int have_uk;			/* the Ukrainian catalogue was found */

static int
catalogue_in(const char *dir)
{
	char path[PATH_MAX];
	int n;

	if (dir == NULL || dir[0] != '/')
		return 0;
	n = snprintf(path, sizeof(path), "%s%s", dir, CATALOGUE_UK);
	if (n < 0 || (size_t)n >= sizeof(path) || access(path, R_OK) != 0)
		return 0;
	return kc_strlcpy(localedir, dir, sizeof(localedir)) < sizeof(localedir);
}

/* The directory of the running program, or "" (then only 1 and 4 apply). */
static void
program_dir(char *out, size_t outsz)
{
	ssize_t n = readlink("/proc/self/exe", out, outsz - 1);
	char *slash;

	if (n <= 0 || (size_t)n >= outsz - 1) {
		out[0] = '\0';
		return;
	}
	out[n] = '\0';
	slash = strrchr(out, '/');
	if (slash == NULL || slash == out)
		out[0] = '\0';
	else
		*slash = '\0';
}

static int
find_localedir(void)
{
	char exedir[PATH_MAX], dir[PATH_MAX + 32];
	const char *env = getenv(KC_I18N_LOCALEDIR_ENV);

	if (env != NULL && env[0] != '\0')
		return catalogue_in(env);
	program_dir(exedir, sizeof(exedir));
	if (exedir[0] != '\0') {
		snprintf(dir, sizeof(dir), "%s/locale", exedir);
		if (catalogue_in(dir))
			return 1;
		snprintf(dir, sizeof(dir), "%s/../../share/locale", exedir);
		if (catalogue_in(dir))
			return 1;
	}
	return catalogue_in(KC_LOCALEDIR);
}

static const char *why_english;	/* why Ukrainian is not available */

static void
init(void)
{
	/*
	 * LANGUAGE (a GNU extension) would override the locale for every
	 * domain: a worker started from an administrator's shell with
	 * LANGUAGE=uk would otherwise look for uk/LC_MESSAGES/... and answer
	 * in English.  The request's language is chosen by the domain.
	 */
	unsetenv("LANGUAGE");
	if (setlocale(LC_MESSAGES, KC_I18N_LOCALE) == NULL)
		why_english = "the C library has no " KC_I18N_LOCALE " locale";
	else if (!find_localedir())
		why_english = "no " DOMAIN_UK ".mo found (set " KC_I18N_LOCALEDIR_ENV
		    " to the directory that holds " KC_I18N_LOCALE "/LC_MESSAGES/)";
	else if (bindtextdomain(DOMAIN_UK, localedir) == NULL ||
	    bind_textdomain_codeset(DOMAIN_UK, "UTF-8") == NULL)
		why_english = "cannot bind the text domain " DOMAIN_UK;
	else {
		char *real = realpath(localedir, NULL);

		if (real != NULL) {
			kc_strlcpy(localedir, real, sizeof(localedir));
			free(real);
			bindtextdomain(DOMAIN_UK, localedir);
		}
		have_uk = 1;
	}
}

/* Said once per process, when a request asks for Ukrainian in vain. */
static void
warn_english(void)
{
	kc_log(KC_LOG_WARN, "i18n: Ukrainian was asked for, answering in English: %s",
	    why_english ? why_english : "no catalogue");
}

void
kc_i18n_init(void)
{
	pthread_once(&init_once, init);
}

const char *
kc_i18n_localedir(void)
{
	kc_i18n_init();
	return have_uk ? localedir : NULL;
}

const char *
kc_tr(const char *msgid)
{
	if (current != KC_LANG_UK || msgid == NULL || msgid[0] == '\0')
		return msgid;
	return dgettext(DOMAIN_UK, msgid);
}

const char *
kc_ntr(const char *one, const char *many, unsigned long n)
{
	if (current != KC_LANG_UK)
		return n == 1 ? one : many;
	return dngettext(DOMAIN_UK, one, many, n);
}

/* --- Accept-Language (RFC 9110 12.5.4), read strictly --- */

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static const char *
skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/*
 * qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), as
 * thousandths; the end of it in *end.  -1 when malformed.
 */
static int
parse_qvalue(const char *p, const char **end)
{
	int q, scale = 100;

	if (*p != '0' && *p != '1')
		return -1;
	q = (*p++ - '0') * 1000;
	if (*p == '.') {
		p++;
		for (int i = 0; i < 3 && is_digit((unsigned char)*p); i++, p++) {
			q += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (q > 1000 || is_digit((unsigned char)*p))
		return -1;
	*end = p;
	return q;
}

/*
 * The language a range names, by its primary subtag: "uk", "uk-UA" -> uk;
 * "en", "en-US" -> en; "*" -> -2; any other language -> -1.  The range is
 * language-range = 1*8ALPHA *( "-" 1*8alphanum ) / "*"; *end is set after
 * it.  -3 when malformed.
 */
static int
parse_range(const char *p, const char **end)
{
	const char *start = p;
	size_t n;
	int lang;

	if (*p == '*') {
		*end = p + 1;
		return -2;
	}
	while (is_alpha((unsigned char)*p))
		p++;
	n = (size_t)(p - start);
	if (n < 1 || n > 8)
		return -3;
	if (n == 2 && (start[0] | 0x20) == 'u' && (start[1] | 0x20) == 'k')
		lang = KC_LANG_UK;
	else if (n == 2 && (start[0] | 0x20) == 'e' && (start[1] | 0x20) == 'n')
		lang = KC_LANG_EN;
	else
		lang = -1;
	while (*p == '-') {
		const char *sub = ++p;
		while (is_alpha((unsigned char)*p) || is_digit((unsigned char)*p))
			p++;
		if (p == sub || p - sub > 8)
			return -3;
	}
	*end = p;
	return lang;
}

int
kc_i18n_parse_accept(const char *header, enum kc_lang *out)
{
	/* Best weight per language (-1: not named), and where it came first. */
	int q[2] = { -1, -1 }, first[2] = { 0, 0 }, star = -1;
	const char *p = header;
	int items = 0, pos = 0;

	if (header == NULL || strlen(header) > ACCEPT_MAX_BYTES)
		return -1;
	for (;;) {
		const char *e;
		int lang, w = 1000;

		p = skip_ows(p);
		if (*p == ',') {		/* empty list elements are allowed */
			p++;
			continue;
		}
		if (*p == '\0')
			break;
		if (++items > ACCEPT_MAX_ITEMS)
			return -1;
		lang = parse_range(p, &e);
		if (lang == -3)
			return -1;
		p = skip_ows(e);
		if (*p == ';') {
			p = skip_ows(p + 1);
			if ((*p != 'q' && *p != 'Q') || p[1] != '=')
				return -1;
			w = parse_qvalue(p + 2, &e);
			if (w < 0)
				return -1;
			p = skip_ows(e);
		}
		if (*p != ',' && *p != '\0')
			return -1;
		pos++;
		if (lang == -2) {
			if (w > star)
				star = w;
		} else if (lang >= 0 && w > q[lang]) {
			if (q[lang] < 0)
				first[lang] = pos;
			q[lang] = w;
		}
	}
	/* "*" stands for every language not named. */
	for (int l = 0; l < 2; l++)
		if (q[l] < 0 && star >= 0) {
			q[l] = star;
			first[l] = INT_MAX;	/* after any named one */
		}
	if (q[KC_LANG_UK] > 0 && (q[KC_LANG_UK] > q[KC_LANG_EN] ||
	    (q[KC_LANG_UK] == q[KC_LANG_EN] && first[KC_LANG_UK] < first[KC_LANG_EN])))
		*out = KC_LANG_UK;
	else
		*out = KC_LANG_EN;
	return 0;
}

int
kc_i18n_forced(const char *value, enum kc_lang *out)
{
	if (value == NULL)
		return 0;
	if (strcmp(value, "en") == 0) {
		*out = KC_LANG_EN;
		return 1;
	}
	if (strcmp(value, "uk") == 0) {
		*out = KC_LANG_UK;
		return 1;
	}
	return 0;			/* "auto", empty or unknown */
}

enum kc_lang
kc_i18n_select(const char *forced, const char *accept_language)
{
	enum kc_lang lang = KC_LANG_EN;

	kc_i18n_init();
	if (!kc_i18n_forced(forced, &lang) &&
	    (accept_language == NULL || kc_i18n_parse_accept(accept_language, &lang) != 0))
		lang = KC_LANG_EN;
	if (lang == KC_LANG_UK && !have_uk) {
		pthread_once(&warn_once, warn_english);
		lang = KC_LANG_EN;
	}
	current = lang;
	return current;
}

enum kc_lang
kc_i18n_for_request(const char *language_key_value, const char *accept_language)
{
	return kc_i18n_select(language_key_value, accept_language);
}

/* POSIX's order: LC_ALL, then LC_MESSAGES, then LANG; "uk" or "uk_UA..." is Ukrainian. */
static int
shell_wants_ukrainian(void)
{
	static const char *const names[] = { "LC_ALL", "LC_MESSAGES", "LANG" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = getenv(names[i]);

		if (v != NULL && v[0] != '\0')
			return strncmp(v, "uk", 2) == 0 && (v[2] == '\0' || v[2] == '_' ||
			    v[2] == '.' || v[2] == '@');
	}
	return 0;
}

enum kc_lang
kc_i18n_for_shell(const char *language_key_value)
{
	enum kc_lang lang;

	if (kc_i18n_forced(language_key_value, &lang))
		return kc_i18n_select(language_key_value, NULL);
	return kc_i18n_select(shell_wants_ukrainian() ? "uk" : "en", NULL);
}

const char *
kc_i18n_code(void)
{
	return current == KC_LANG_UK ? "uk" : "en";
}
