/*
 * page_util.c - small pieces the sections share: times and durations as
 * people read them, form pieces (token, one-button forms), where a
 * configured value comes from, and form values as the actions read them.
 */
#include "page.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "html.h"
#include "page_time.h"

const char *const page_level_class[] = { "ok", "info", "warn", "bad" };

void
page_format_when(double t, char *out, size_t outsz)
{
	if (t <= 0)
		kc_strlcpy(out, _("never"), outsz);
	else
		page_tz_format(t, "%Y-%m-%d %H:%M %Z", out, outsz);
}

void
page_format_ago(double t, double now, char *out, size_t outsz)
{
	double d = now - t;

	if (t <= 0)
		kc_strlcpy(out, _("never"), outsz);
	else if (d < 60)
		kc_strlcpy(out, _("just now"), outsz);
	else if (d < 90 * 60)
		snprintf(out, outsz, _("%.0f min ago"), d / 60);
	else if (d < 48 * 3600)
		snprintf(out, outsz, _("%.0f h ago"), d / 3600);
	else
		snprintf(out, outsz, _("%.0f days ago"), d / 86400);
}

void
page_format_clock(double t, char *out, size_t outsz)
{
	page_tz_format(t, "%H:%M", out, outsz);
}

/* "5 min ago (2026-11-27 01:02 UTC)" */
void
page_html_when(struct kc_buf *b, double t, double now)
{
	char when[64], ago[64];

	page_format_when(t, when, sizeof(when));
	page_format_ago(t, now, ago, sizeof(ago));
	if (t <= 0)
		kc_html_text(b, _("never"));
	else
		kc_html_f(b, "%s <span class=\"muted\">(%s)</span>", ago, when);
}

void
page_format_duration(double s, char *out, size_t outsz)
{
	if (s < 0)
		kc_strlcpy(out, "", outsz);
	else if (s < 10)
		snprintf(out, outsz, _("%.1f s"), s);
	else if (s < 120)
		snprintf(out, outsz, _("%.0f s"), s);
	else
		snprintf(out, outsz, _("%ld min %ld s"), (long)s / 60, (long)s % 60);
}

const char *
page_period(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && strchr(".!?", s[n - 1]) != NULL ? "" : ".";
}

void
page_csrf_field(struct kc_buf *b, const struct page *p)
{
	kc_html_f(b, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", p->token);
}

void
page_action_button(struct kc_buf *b, const struct page *p, const char *action,
    const char *label, int primary)
{
	kc_html_f(b, "<form method=\"post\" action=\"%s\">", p->self);
	page_csrf_field(b, p);
	/* kc_html_f escapes its arguments: the attribute is chosen here. */
	if (primary)
		kc_html_f(b, "<button type=\"submit\" name=\"action\" value=\"%s\" "
		    "class=\"primary\">%s</button></form>", action, label);
	else
		kc_html_f(b, "<button type=\"submit\" name=\"action\" value=\"%s\">"
		    "%s</button></form>", action, label);
}

static const char *
source_name(enum kc_source src)
{
	switch (src) {
	case KC_SRC_DEFAULT: return _("default");
	case KC_SRC_FILE: return _("config file");
	case KC_SRC_SETTINGS: return _("saved from this page");
	}
	return "?";
}

void
page_source_badge(struct kc_buf *b, enum kc_source src, int unset)
{
	if (src == KC_SRC_SETTINGS)
		kc_html_raw(b, "<span class=\"src settings\">");
	else
		kc_html_raw(b, "<span class=\"src\">");
	kc_html_f(b, "%s</span>", unset ? _("not set") : source_name(src));
}

void
page_shown_value(const struct kc_config *cfg, enum kc_key key, char *out, size_t outsz)
{
	char raw[1100];

	kc_config_value_text(cfg, key, raw, sizeof(raw));
	if (kc_config_key_is_secret(key))
		kc_mask_secret(raw, out, outsz);
	else
		kc_strlcpy(out, raw, outsz);
	kc_wipe(raw, sizeof(raw));
}

const char *
page_form_value(const struct kc_form *form, const char *name, char *out, size_t outsz)
{
	const char *v = kc_form_get(form, name);
	size_t n;

	if (v == NULL)
		v = "";
	v += strspn(v, " \t\r\n");
	n = strlen(v);
	while (n > 0 && strchr(" \t\r\n", v[n - 1]) != NULL)
		n--;
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, v, n);
	out[n] = '\0';
	return out;
}

int
page_form_says_yes(const struct kc_form *form, const char *name)
{
	const char *v = kc_form_get(form, name);

	return v != NULL && strcmp(v, "yes") == 0;
}

/* One line of the status block; its text is escaped here. */
void
issue(struct issues *is, enum level level, const char *fmt, ...)
{
	struct kc_buf text;
	va_list ap;

	if (level > is->worst)
		is->worst = level;
	kc_buf_init(&text);
	va_start(ap, fmt);
	kc_buf_vaddf(&text, fmt, ap);
	va_end(ap);
	kc_html_f(&is->list, "<li class=\"%s\">%s</li>", page_level_class[level],
	    text.data ? text.data : "");
	kc_buf_free(&text);
}

void
page_pager_nav(struct kc_buf *b, const struct page *p, const struct page_pager *pg,
    const char *query, const char *param, const char *anchor)
{
	const char *amp = query && *query ? "&" : "";

	if (query == NULL)
		query = "";
	if (pg->pages <= 1)
		return;
	kc_html_raw(b, "<nav class=\"pager\">");
	if (pg->page > 1)
		kc_html_f(b, "<a href=\"%s?%s%s%s=%ld#%s\" rel=\"prev\">%s</a> ", p->self, query,
		    amp, param, pg->page - 1, anchor, _("\xe2\x80\xb9 Previous"));
	kc_html_raw(b, "<span>");
	kc_html_f(b, _("Page %ld of %ld"), pg->page, pg->pages);
	kc_html_raw(b, "</span>");
	if (pg->page < pg->pages)
		kc_html_f(b, " <a href=\"%s?%s%s%s=%ld#%s\" rel=\"next\">%s</a>", p->self, query,
		    amp, param, pg->page + 1, anchor, _("Next \xe2\x80\xba"));
	kc_html_raw(b, "</nav>");
}

