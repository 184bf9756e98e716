/*
 * settings_page.c - see settings_page.h.
 *
 * The page is built into a buffer by one function per section; every
 * value from outside goes through html.h's escapers (kc_html_f escapes
 * its %s arguments).  Actions are small functions that return a result
 * message (struct flash) which is kept in the state database for the
 * redirect that follows.
 */
#include "settings_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "compare.h"
#include "config.h"
#include "csrf.h"
#include "html.h"
#include "keycrm.h"
#include "settings_file.h"
#include "settings_firstinstall.h"
#include "store_status.h"
#include "store.h"
#include "store_once.h"
#include "store_retention.h"
#include "store_runstate.h"
#include "store_problems.h"
#include "sync.h"
#include "woo.h"

#define BODY_MAX 65536			/* the example configs allow 64k */
#define HISTORY_ROWS 30
#define PROBLEM_ROWS 100
#define PLAN_KEEP 500			/* dry-run rows kept for the page */
#define PLAN_SHOW 500
#define FLASH_MAX_BYTES (512 * 1024)
#define FLASH_TTL_S 3600.0
#define SYNC_OVERDUE_S (2 * 3600.0)
#define INBOX_SLOW_S (15 * 60.0)
#define CHECK_DEADLINE_MS 30000
#define DEFAULT_PATH "/keycrm/settings"
#define DEFAULT_PREFIX "/keycrm"

/*
 * The one stylesheet.  It is sent inline and allowed by its hash in the
 * Content-Security-Policy, so the page needs no second request and no
 * 'unsafe-inline'.  Narrow screens get one column and tables as cards.
 */
static const char STYLE[] =
"*{box-sizing:border-box}"
"html{-webkit-text-size-adjust:100%}"
"body{margin:0;background:#f0f0f1;color:#1d2327;font:15px/1.5 -apple-system,"
"BlinkMacSystemFont,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif}"
"a{color:#2271b1}"
".bar{background:#1d2327;color:#f0f0f1}"
".wrap{max-width:64rem;margin:0 auto}"
".bar .wrap{display:flex;flex-wrap:wrap;justify-content:space-between;"
"align-items:baseline;gap:.2rem 1rem;padding:.65rem 1rem}"
".brand{font-weight:600;font-size:1.05rem}"
".user{color:#c3c4c7;font-size:.88rem}"
"main.wrap{padding:1rem}"
"h1{font-size:1.45rem;font-weight:400;margin:.4rem 0 1rem}"
".card{background:#fff;border:1px solid #c3c4c7;border-radius:4px;"
"box-shadow:0 1px 1px rgba(0,0,0,.04);padding:1rem 1.25rem;margin:0 0 1.25rem}"
".card>h2{font-size:1.15rem;margin:0 0 .75rem;padding-bottom:.5rem;"
"border-bottom:1px solid #dcdcde}"
"h3{font-size:1rem;margin:1rem 0 .4rem}"
"p{margin:.45rem 0}"
".muted{color:#646970;font-size:.9rem}"
"code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
"font-size:.86em;background:#f6f7f7;border:1px solid #dcdcde;border-radius:3px;"
"padding:.05em .3em;overflow-wrap:anywhere;word-break:break-word}"
"pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:.4rem 0}"
"pre code{display:block;padding:.55rem .75rem}"
".notice{background:#fff;border:1px solid #c3c4c7;border-left:4px solid #72aee6;"
"padding:.55rem .9rem;margin:0 0 1rem;box-shadow:0 1px 1px rgba(0,0,0,.04)}"
".notice.ok{border-left-color:#00a32a}"
".notice.warn{border-left-color:#dba617}"
".notice.bad{border-left-color:#d63638}"
".notice p{margin:.2rem 0}"
".health{display:flex;align-items:center;gap:.6rem;font-size:1.15rem;"
"font-weight:600;margin:.1rem 0 .5rem}"
".dot{width:.95rem;height:.95rem;border-radius:50%;flex:none;background:#00a32a}"
".health.warn .dot{background:#dba617}"
".health.bad .dot{background:#d63638}"
"ul.issues{margin:.2rem 0 1rem;padding-left:1.3rem}"
"ul.issues li{margin:.2rem 0}"
"ul.issues li.bad::marker{color:#d63638}"
"ul.issues li.warn::marker{color:#dba617}"
"ul.issues li.info::marker{color:#72aee6}"
"dl.facts{display:grid;grid-template-columns:minmax(8rem,max-content) 1fr;"
"gap:.35rem 1.2rem;margin:0 0 .5rem}"
"dl.facts dt{font-weight:600;color:#50575e}"
"dl.facts dd{margin:0;overflow-wrap:anywhere}"
".badge{display:inline-block;font-size:.72rem;font-weight:700;"
"text-transform:uppercase;letter-spacing:.03em;padding:.1em .5em;"
"border-radius:3px;background:#dcdcde;color:#1d2327;vertical-align:.1em;"
"margin-left:.3rem}"
".badge.ok{background:#edfaef;color:#00702a}"
".badge.warn{background:#fcf9e8;color:#7a5f00}"
".badge.bad{background:#fcf0f1;color:#b32d2e}"
".actions{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.75rem 0 .25rem}"
".actions form{margin:0}"
"button{font:inherit;font-size:.92rem;line-height:1.2;min-height:2.4rem;"
"padding:.45rem .95rem;border-radius:3px;border:1px solid #2271b1;"
"background:#f6f7f7;color:#2271b1;cursor:pointer}"
"button.primary{background:#2271b1;color:#fff}"
"button:hover{background:#f0f0f1;border-color:#0a4b78;color:#0a4b78}"
"button.primary:hover{background:#135e96;color:#fff}"
"button:focus-visible,input:focus-visible,select:focus-visible,a:focus-visible"
"{outline:2px solid #2271b1;outline-offset:2px}"
".grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(16rem,1fr));gap:1rem}"
".box{border:1px solid #dcdcde;border-top:4px solid #dcdcde;border-radius:4px;"
"padding:.7rem 1rem}"
".box.ok{border-top-color:#00a32a}"
".box.warn{border-top-color:#dba617}"
".box.bad{border-top-color:#d63638}"
".box h3{margin:0 0 .4rem}"
".box form{margin-top:.6rem}"
"ul.ticks{list-style:none;margin:.3rem 0;padding:0}"
"ul.ticks li{padding-left:1.5rem;position:relative;margin:.25rem 0;overflow-wrap:anywhere}"
"ul.ticks li::before{position:absolute;left:0;font-weight:700}"
"ul.ticks li.ok::before{content:\"\\2713\";color:#00a32a}"
"ul.ticks li.bad::before{content:\"\\2717\";color:#d63638}"
"ul.ticks li.warn::before{content:\"!\";color:#b8860b;left:.3rem}"
"ul.ticks li.none::before{content:\"\\2013\";color:#8c8f94}"
".field{margin:0 0 1.1rem}"
".field label{display:block;font-weight:600;margin-bottom:.25rem}"
".field input[type=text],.field input[type=password],.field select{font:inherit;"
"width:100%;max-width:28rem;padding:.4rem .55rem;border:1px solid #8c8f94;"
"border-radius:3px;background:#fff;color:#1d2327;min-height:2.4rem}"
".field .hint{color:#646970;font-size:.86rem;margin:.3rem 0 0}"
".field .check{font-weight:400;display:flex;gap:.4rem;align-items:center;margin-top:.4rem}"
".src{font-weight:400;font-size:.8rem;color:#50575e;background:#f0f0f1;"
"border-radius:3px;padding:.05em .45em;margin-left:.4rem;white-space:nowrap}"
".src.settings{background:#e5f0fa;color:#0a4b78}"
"table{width:100%;border-collapse:collapse;font-size:.9rem;margin:.4rem 0 1rem}"
"th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #dcdcde;"
"vertical-align:top;overflow-wrap:anywhere}"
"th{background:#f6f7f7;font-weight:600;white-space:nowrap}"
"td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}"
"td.err{color:#b32d2e}"
"details{margin:.4rem 0}"
"summary{cursor:pointer;font-weight:600;padding:.3rem 0}"
"footer{color:#646970;font-size:.82rem;text-align:center;padding:0 1rem 1.5rem}"
"@media (min-width:641px){#plan{width:auto;min-width:60%}}"
"@media (max-width:640px){"
"main.wrap{padding:.6rem}"
".card{padding:.8rem .85rem}"
"dl.facts{grid-template-columns:1fr;gap:0}"
"dl.facts dd{margin-bottom:.5rem}"
"table.cards thead{display:none}"
"table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:100%}"
"table.cards tr{border:1px solid #dcdcde;border-radius:4px;margin:0 0 .6rem;padding:.3rem 0}"
"table.cards td{border:0;padding:.2rem .7rem .2rem 6.6rem;position:relative;"
"text-align:left;min-height:1.7rem}"
"table.cards td::before{content:attr(data-label);position:absolute;left:.7rem;"
"top:.38rem;width:5.6rem;font-size:.7rem;font-weight:700;color:#646970;"
"text-transform:uppercase;letter-spacing:.03em;line-height:1.2}"
".actions button{flex:1 1 auto}"
"}";

enum level { L_OK, L_INFO, L_WARN, L_BAD };

static const char *const level_class[] = { "ok", "info", "warn", "bad" };

/* An action's result, shown once on the page after the redirect. */
struct flash {
	enum level level;
	struct kc_buf text;		/* plain text, escaped when shown */
	json_t *plan;			/* dry run: [{"sku","shop","send"}] */
	long plan_total;
};

struct page {
	struct kc_request *req;
	const char *user;
	struct kc_config cfg;
	struct kc_store st;
	int have_store;
	struct kc_error store_err;
	struct kc_csrf csrf;
	int have_csrf;
	struct kc_error csrf_err;
	char token[KC_CSRF_TOKEN_LEN + 1];
	char self[256];			/* this page's path */
	char prefix[256];		/* where webhook and sync live */
	char origin[512];		/* scheme://host[:port] */
	int https;
	double now;
};

/* --- responses ---------------------------------------------------------- */

static void
style_source(char *out, size_t outsz)
{
	unsigned char md[EVP_MAX_MD_SIZE], b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	unsigned int n = 0;

	if (!EVP_Digest(STYLE, strlen(STYLE), md, &n, EVP_sha256(), NULL))
		n = 0;
	EVP_EncodeBlock(b64, md, (int)n);
	snprintf(out, outsz, "'sha256-%s'", (const char *)b64);
}

/*
 * Every answer of the page, errors included: no scripts, nothing loaded
 * from anywhere, forms post only here, never framed, never cached, never
 * leaking the URL through a Referer.
 */
static void
security_headers(struct kc_response *resp)
{
	char style[128], csp[512];

	style_source(style, sizeof(style));
	snprintf(csp, sizeof(csp), "default-src 'none'; style-src %s; "
	    "img-src 'none'; form-action 'self'; frame-ancestors 'none'; "
	    "base-uri 'none'", style);
	kc_response_header(resp, "Content-Security-Policy", csp);
	kc_response_header(resp, "X-Frame-Options", "DENY");
	kc_response_header(resp, "Cache-Control", "no-store");
	kc_response_header(resp, "Referrer-Policy", "no-referrer");
	kc_response_header(resp, "X-Content-Type-Options", "nosniff");
}

/* The top bar; user is NULL on pages shown before anyone is known. */
static void
page_bar(struct kc_buf *b, const char *user)
{
	kc_html_raw(b, "<header class=\"bar\"><div class=\"wrap\">"
	    "<span class=\"brand\">keycrm-sync</span>");
	if (user != NULL)
		kc_html_f(b, "<span class=\"user\">Signed in as %s</span>", user);
	kc_html_raw(b, "</div></header>");
}

static void
send_html(struct kc_request *req, int status, const char *title,
    const char *user, const struct kc_buf *content)
{
	struct kc_response resp;

	kc_response_init(&resp, status, "text/html; charset=utf-8");
	security_headers(&resp);
	kc_html_f(&resp.body, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	    "<meta name=\"robots\" content=\"noindex, nofollow\">"
	    "<title>%s - keycrm-sync</title><style>", title);
	kc_html_raw(&resp.body, STYLE);
	kc_html_raw(&resp.body, "</style></head>\n<body>");
	page_bar(&resp.body, user);
	kc_html_raw(&resp.body, "<main class=\"wrap\">");
	kc_buf_add(&resp.body, content->data ? content->data : "", content->len);
	kc_html_raw(&resp.body, "</main><footer>keycrm-sync: WooCommerce "
	    "&#8644; KeyCRM stock</footer></body></html>\n");
	kc_response_send(req, &resp);
	kc_response_free(&resp);
}

/* A short page: a heading, a message (plain text) and a link back. */
static void
send_message(struct page *p, int status, const char *title, const char *text)
{
	struct kc_buf b;

	kc_buf_init(&b);
	kc_html_f(&b, "<h1>%s</h1><div class=\"card\"><p>%s</p>"
	    "<p><a href=\"%s\">Back to the settings page</a></p></div>",
	    title, text, p->self);
	send_html(p->req, status, title, p->user, &b);
	kc_buf_free(&b);
}

static void
send_redirect(struct page *p, const char *query)
{
	struct kc_response resp;
	struct kc_buf loc;

	kc_buf_init(&loc);
	kc_buf_adds(&loc, p->self);
	if (query != NULL)
		kc_buf_addf(&loc, "?%s", query);
	kc_response_init(&resp, 303, "text/html; charset=utf-8");
	security_headers(&resp);
	kc_response_header(&resp, "Location", loc.data);
	kc_html_f(&resp.body, "<!DOCTYPE html>\n<title>Done</title>"
	    "<p><a href=\"%s\">Continue</a></p>\n", loc.data);
	kc_response_send(p->req, &resp);
	kc_response_free(&resp);
	kc_buf_free(&loc);
}

/* --- the request's own URL ---------------------------------------------- */

static int
safe_path(const char *s)
{
	if (s == NULL || s[0] != '/' || strlen(s) >= 200 || strstr(s, "//") != NULL)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("/-._~", *s) != NULL))
			return 0;
	return 1;
}

static int
safe_host(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 255)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("-.:[]", *s) != NULL))
			return 0;
	return 1;
}

/*
 * Where this page is and what the site is called, from the request:
 * the webhook URL and the cron line are built from them.  The host comes
 * from HTTP_HOST (nginx passes it without the port, so SERVER_PORT adds a
 * port that is not the scheme's default), else SERVER_NAME.
 */
static void
locate(struct page *p)
{
	const char *script = kc_request_env(p->req, "SCRIPT_NAME");
	const char *https = kc_request_env(p->req, "HTTPS");
	const char *scheme = kc_request_env(p->req, "REQUEST_SCHEME");
	const char *host = kc_request_env(p->req, "HTTP_HOST");
	const char *port = kc_request_env(p->req, "SERVER_PORT");
	const char *bracket;
	size_t n;

	kc_strlcpy(p->self, safe_path(script) ? script : DEFAULT_PATH, sizeof(p->self));
	n = strlen(p->self);
	if (n > 9 && strcmp(p->self + n - 9, "/settings") == 0) {
		kc_strlcpy(p->prefix, p->self, sizeof(p->prefix));
		p->prefix[n - 9] = '\0';
	} else {
		kc_strlcpy(p->prefix, DEFAULT_PREFIX, sizeof(p->prefix));
	}
	p->https = (https != NULL && (strcasecmp(https, "on") == 0 ||
	    strcmp(https, "1") == 0)) || (scheme != NULL &&
	    strcasecmp(scheme, "https") == 0);
	if (!safe_host(host))
		host = kc_request_env(p->req, "SERVER_NAME");
	if (!safe_host(host))
		host = "localhost";
	snprintf(p->origin, sizeof(p->origin), "%s://%s", p->https ? "https" : "http", host);
	bracket = strrchr(host, ']');
	if (strchr(bracket ? bracket : host, ':') == NULL && port != NULL &&
	    strspn(port, "0123456789") == strlen(port) && *port != '\0' &&
	    strcmp(port, p->https ? "443" : "80") != 0) {
		n = strlen(p->origin);
		snprintf(p->origin + n, sizeof(p->origin) - n, ":%s", port);
	}
}

/* --- small formatting helpers ------------------------------------------- */

static void
format_when(double t, char *out, size_t outsz)
{
	time_t secs = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&secs, &tm) == NULL) {
		kc_strlcpy(out, "never", outsz);
		return;
	}
	strftime(out, outsz, "%Y-%m-%d %H:%M UTC", &tm);
}

static void
format_ago(double t, double now, char *out, size_t outsz)
{
	double d = now - t;

	if (t <= 0)
		kc_strlcpy(out, "never", outsz);
	else if (d < 60)
		kc_strlcpy(out, "just now", outsz);
	else if (d < 90 * 60)
		snprintf(out, outsz, "%.0f min ago", d / 60);
	else if (d < 48 * 3600)
		snprintf(out, outsz, "%.0f h ago", d / 3600);
	else
		snprintf(out, outsz, "%.0f days ago", d / 86400);
}

/* "2026-11-27 01:02 UTC (5 min ago)" */
static void
html_when(struct kc_buf *b, double t, double now)
{
	char when[64], ago[64];

	format_when(t, when, sizeof(when));
	format_ago(t, now, ago, sizeof(ago));
	if (t <= 0)
		kc_html_raw(b, "never");
	else
		kc_html_f(b, "%s <span class=\"muted\">(%s)</span>", ago, when);
}

static void
format_duration(double s, char *out, size_t outsz)
{
	if (s < 0)
		kc_strlcpy(out, "", outsz);
	else if (s < 10)
		snprintf(out, outsz, "%.1f s", s);
	else if (s < 120)
		snprintf(out, outsz, "%.0f s", s);
	else
		snprintf(out, outsz, "%ld min %ld s", (long)s / 60, (long)s % 60);
}

static const char *
plural(long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static void
csrf_field(struct kc_buf *b, const struct page *p)
{
	kc_html_f(b, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", p->token);
}

/* A form with one button that posts action. */
static void
action_button(struct kc_buf *b, const struct page *p, const char *action,
    const char *label, int primary)
{
	kc_html_f(b, "<form method=\"post\" action=\"%s\">", p->self);
	csrf_field(b, p);
	/* kc_html_f escapes its arguments: the attribute is chosen here. */
	kc_html_f(b, primary ? "<button type=\"submit\" name=\"action\" value=\"%s\" "
	    "class=\"primary\">%s</button></form>" : "<button type=\"submit\" "
	    "name=\"action\" value=\"%s\">%s</button></form>", action, label);
}

static const char *
source_name(enum kc_source src)
{
	switch (src) {
	case KC_SRC_DEFAULT: return "default";
	case KC_SRC_FILE: return "config file";
	case KC_SRC_SETTINGS: return "saved from this page";
	}
	return "?";
}

/* Where a value comes from; "not set" for a key without a default. */
static void
source_badge(struct kc_buf *b, enum kc_source src, int unset)
{
	kc_html_f(b, "<span class=\"src%s\">%s</span>",
	    src == KC_SRC_SETTINGS ? " settings" : "", unset ? "not set" :
	    source_name(src));
}

/* A configured value as the page may show it: secrets masked. */
static void
shown_value(const struct kc_config *cfg, enum kc_key key, char *out, size_t outsz)
{
	char raw[1100];

	kc_config_value_text(cfg, key, raw, sizeof(raw));
	if (kc_config_key_is_secret(key))
		kc_mask_secret(raw, out, outsz);
	else
		kc_strlcpy(out, raw, outsz);
	kc_wipe(raw, sizeof(raw));
}

/* --- state shared between requests (kv) --------------------------------- */

static json_t *
kv_json(struct page *p, const char *key)
{
	char *buf;
	json_t *v = NULL;

	if (!p->have_store || (buf = malloc(FLASH_MAX_BYTES)) == NULL)
		return NULL;
	if (kc_store_kv_get(&p->st, key, buf, FLASH_MAX_BYTES) == 0)
		v = json_loads(buf, 0, NULL);
	free(buf);
	return v;
}

static int
kv_put_json(struct page *p, const char *key, json_t *v, struct kc_error *err)
{
	char *text;
	int rc;

	if (!p->have_store) {
		kc_error_set(err, "%s", p->store_err.msg);
		return -1;
	}
	text = json_dumps(v, JSON_COMPACT);
	if (text == NULL) {
		kc_error_set(err, "out of memory");
		return -1;
	}
	rc = kc_store_kv_set(&p->st, key, text, err);
	free(text);
	return rc;
}

/*
 * Result messages nobody came back for (a closed tab) are dropped after
 * an hour, so the table never grows.
 */
static void
flash_purge(struct page *p)
{
	kc_store_flash_purge(&p->st, p->now - FLASH_TTL_S, NULL);
}

static int
valid_flash_id(const char *id)
{
	return id != NULL && strlen(id) == 32 &&
	    strspn(id, "0123456789abcdef") == 32;
}

/* Keeps f for the page; writes the query of the redirect into query. */
static void
flash_store(struct page *p, const struct flash *f, char *query, size_t qsz)
{
	unsigned char rnd[16];
	char id[33], key[64];
	struct kc_error err = { { 0 } };
	json_t *rec;

	kc_strlcpy(query, "m=lost", qsz);
	if (!p->have_store || kc_random_bytes(rnd, sizeof(rnd)) != 0)
		return;
	for (int i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	snprintf(key, sizeof(key), "flash:%s", id);
	rec = json_pack("{s:s,s:f,s:s,s:s?}", "user", p->user, "t", p->now,
	    "level", level_class[f->level], "text", f->text.data);
	if (rec == NULL)
		return;
	if (f->plan != NULL) {
		json_object_set(rec, "plan", f->plan);
		json_object_set_new(rec, "plan_total", json_integer(f->plan_total));
	}
	flash_purge(p);
	if (kv_put_json(p, key, rec, &err) == 0)
		snprintf(query, qsz, "m=%s", id);
	else
		kc_log(KC_LOG_WARN, "settings: cannot keep the result message: %s", err.msg);
	json_decref(rec);
}

/* The message for ?m=id, taken (read once) when it is this user's. */
static json_t *
flash_take(struct page *p, const char *id)
{
	char key[64];
	json_t *rec;

	if (!valid_flash_id(id))
		return NULL;
	snprintf(key, sizeof(key), "flash:%s", id);
	rec = kv_json(p, key);
	if (rec == NULL)
		return NULL;
	if (!json_is_string(json_object_get(rec, "user")) ||
	    strcmp(json_string_value(json_object_get(rec, "user")), p->user) != 0) {
		json_decref(rec);
		return NULL;
	}
	kc_store_kv_set(&p->st, key, NULL, NULL);
	return rec;
}

static void
flash_init(struct flash *f)
{
	memset(f, 0, sizeof(*f));
	kc_buf_init(&f->text);
}

static void
flash_free(struct flash *f)
{
	kc_buf_free(&f->text);
	json_decref(f->plan);
}

static void
flash_say(struct flash *f, enum level level, const char *fmt, ...) KC_PRINTF(3, 4);

/* Adds a sentence; the worst level said wins. */
static void
flash_say(struct flash *f, enum level level, const char *fmt, ...)
{
	va_list ap;

	if (level > f->level)
		f->level = level;
	if (f->text.len > 0)
		kc_buf_adds(&f->text, " ");
	va_start(ap, fmt);
	kc_buf_vaddf(&f->text, fmt, ap);
	va_end(ap);
}

/* --- connection checks --------------------------------------------------- */

static const char *const key_status_names[] = {
	[KC_KEY_VALID] = "valid",
	[KC_KEY_REJECTED] = "rejected",
	[KC_KEY_UNREACHABLE] = "unreachable",
	[KC_KEY_NOT_SET] = "not_set",
};

/*
 * Asks KeyCRM whether key (NULL: the configured one) is good.  The page
 * waits for the answer, so retries are bounded by CHECK_DEADLINE_MS.
 */
static enum kc_key_status
check_keycrm(struct page *p, const char *key, struct kc_error *err)
{
	struct kc_config *cfg = &p->cfg;
	struct kc_keycrm k;
	enum kc_key_status status;
	char *saved = cfg->keycrm_api_key;

	if (key == NULL)
		key = cfg->keycrm_api_key;
	if (key == NULL) {
		kc_error_set(err, "no API key is configured");
		return KC_KEY_NOT_SET;
	}
	if (!p->have_store) {
		kc_error_set(err, "%s", p->store_err.msg);
		return KC_KEY_UNREACHABLE;
	}
	/* The client takes the key from the configuration it is given. */
	cfg->keycrm_api_key = (char *)key;
	if (kc_keycrm_init(&k, cfg, &p->st, err) != 0) {
		cfg->keycrm_api_key = saved;
		return KC_KEY_UNREACHABLE;
	}
	cfg->keycrm_api_key = saved;
	k.http.max_attempts = 2;
	k.http.deadline_ms = kc_monotonic_ms() + CHECK_DEADLINE_MS;
	status = kc_keycrm_check_key(&k, err);
	kc_keycrm_cleanup(&k);
	return status;
}

#define WAREHOUSE_PAGES 10		/* of KeyCRM's stock list, to find warehouse ids */
#define WAREHOUSES_MAX 64

/*
 * Whether KeyCRM knows warehouse id (SPEC 2: checked before it is saved).
 * KeyCRM lists no warehouses, so their ids are read from its stock list.
 * Returns 1 found, 0 not found (seen says which ids were), -1 when KeyCRM
 * could not tell (err says why).
 */
static int
check_warehouse(struct page *p, const char *key, long id, struct kc_buf *seen,
    struct kc_error *err)
{
	struct kc_config *cfg = &p->cfg;
	struct kc_keycrm k;
	long ids[WAREHOUSES_MAX];
	size_t n = 0;
	int complete = 0, rc;
	char *saved = cfg->keycrm_api_key;

	if (!p->have_store) {
		kc_error_set(err, "%s", p->store_err.msg);
		return -1;
	}
	cfg->keycrm_api_key = (char *)key;
	rc = kc_keycrm_init(&k, cfg, &p->st, err);
	cfg->keycrm_api_key = saved;
	if (rc != 0)
		return -1;
	k.http.max_attempts = 2;
	k.http.deadline_ms = kc_monotonic_ms() + CHECK_DEADLINE_MS;
	rc = kc_keycrm_warehouse_ids(&k, WAREHOUSE_PAGES, ids, WAREHOUSES_MAX, &n,
	    &complete, err);
	kc_keycrm_cleanup(&k);
	if (rc != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (ids[i] == id)
			return 1;
		kc_buf_addf(seen, "%s%ld", i ? ", " : "", ids[i]);
	}
	if (n == 0)
		kc_buf_adds(seen, "none");
	if (!complete)
		kc_buf_addf(seen, " (in its first %d offers)", WAREHOUSE_PAGES * KC_KEYCRM_PAGE_MAX);
	return 0;
}

static void
record_keycrm_check(struct page *p, enum kc_key_status status, const char *reason)
{
	json_t *v = json_pack("{s:f,s:s,s:s}", "t", p->now,
	    "status", key_status_names[status], "reason", reason ? reason : "");

	if (v != NULL)
		kv_put_json(p, "check:keycrm", v, NULL);
	json_decref(v);
}

/* What the WooCommerce check found; kept in kv "check:woo". */
struct woo_check {
	const char *state;		/* ok, not_set, unreachable, rejected, error */
	char reason[512];
	int read_ok;
	int write_ok;			/* 1 yes, 0 no, -1 unknown */
	char write_reason[512];
	char manage_stock[8];		/* "yes", "no", "" unknown */
};

/*
 * Three questions, each answered by the shop itself: is the key good
 * (read the store's "manage stock" option), may it write (an empty batch
 * needs write permission and changes nothing), and is store-wide stock
 * management on (that option's value).
 */
static void
check_woo(struct page *p, struct woo_check *c)
{
	struct kc_woo w;
	struct kc_http_response resp;
	struct kc_error err = { { 0 } };
	char msg[256];

	memset(c, 0, sizeof(*c));
	c->write_ok = -1;
	if (kc_woo_init(&w, &p->cfg, &err) != 0) {
		c->state = p->cfg.woo_url == NULL || p->cfg.woo_consumer_key == NULL ||
		    p->cfg.woo_consumer_secret == NULL ? "not_set" : "error";
		kc_strlcpy(c->reason, err.msg, sizeof(c->reason));
		return;
	}
	w.http.max_attempts = 2;
	w.http.timeout_ms = 20000;
	w.http.deadline_ms = kc_monotonic_ms() + CHECK_DEADLINE_MS;
	kc_http_response_init(&resp);
	if (kc_woo_request(&w, "GET", "/wc/v3/settings/products/woocommerce_manage_stock",
	    NULL, &resp, &err) != 0) {
		c->state = "unreachable";
		kc_strlcpy(c->reason, err.msg, sizeof(c->reason));
		goto out;
	}
	kc_woo_error_message(&resp, msg, sizeof(msg));
	if (resp.status == 401 || resp.status == 403) {
		c->state = "rejected";
		snprintf(c->reason, sizeof(c->reason), "HTTP %ld: %s", resp.status, msg);
	} else if (resp.status == 200) {
		json_t *root = json_loadb(resp.body.data ? resp.body.data : "",
		    resp.body.len, 0, NULL);
		const char *v = json_string_value(json_object_get(root, "value"));
		c->state = "ok";
		c->read_ok = 1;
		if (v != NULL && (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0))
			kc_strlcpy(c->manage_stock, v, sizeof(c->manage_stock));
		json_decref(root);
	} else {
		c->state = "error";
		snprintf(c->reason, sizeof(c->reason), "GET /wp-json/wc/v3/settings/products/woocommerce_manage_stock: HTTP %ld: %s%s",
		    resp.status, msg, resp.status == 404 ?
		    " (is WooCommerce active, and woo_url the site's address?)" : "");
	}
	kc_http_response_free(&resp);
	kc_http_response_init(&resp);
	if (strcmp(c->state, "ok") != 0 && strcmp(c->state, "rejected") != 0)
		goto out;
	if (kc_woo_request(&w, "POST", "/wc/v3/products/batch", "{}", &resp, &err) != 0) {
		kc_strlcpy(c->write_reason, err.msg, sizeof(c->write_reason));
	} else if (resp.status == 200) {
		c->write_ok = 1;
	} else {
		kc_woo_error_message(&resp, msg, sizeof(msg));
		c->write_ok = resp.status == 401 || resp.status == 403 ? 0 : -1;
		snprintf(c->write_reason, sizeof(c->write_reason), "HTTP %ld: %s",
		    resp.status, msg);
	}
	/* A key that may write but not read is still a key the shop knows. */
	if (strcmp(c->state, "rejected") == 0 && c->write_ok == 1)
		c->state = "ok";
out:
	kc_http_response_free(&resp);
	kc_woo_cleanup(&w);
}

static void
record_woo_check(struct page *p, const struct woo_check *c)
{
	json_t *v = json_pack("{s:f,s:s,s:s,s:b,s:i,s:s,s:s}", "t", p->now,
	    "state", c->state, "reason", c->reason, "read", c->read_ok,
	    "write", c->write_ok, "write_reason", c->write_reason,
	    "manage_stock", c->manage_stock);

	if (v != NULL)
		kv_put_json(p, "check:woo", v, NULL);
	json_decref(v);
}

/* --- actions ------------------------------------------------------------- */

static void
say_keycrm(struct flash *f, enum kc_key_status status, const char *reason)
{
	switch (status) {
	case KC_KEY_VALID:
		flash_say(f, L_OK, "KeyCRM: the API key is valid.");
		break;
	case KC_KEY_REJECTED:
		flash_say(f, L_BAD, "KeyCRM rejected the API key (%s).", reason);
		break;
	case KC_KEY_UNREACHABLE:
		flash_say(f, L_WARN, "KeyCRM could not be reached: %s.", reason);
		break;
	case KC_KEY_NOT_SET:
		flash_say(f, L_BAD, "KeyCRM: no API key is set.");
		break;
	}
}

static void
act_check(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_error err = { { 0 } };
	enum kc_key_status status;
	struct woo_check c;

	(void)form;
	status = check_keycrm(p, NULL, &err);
	record_keycrm_check(p, status, err.msg);
	say_keycrm(f, status, err.msg);
	check_woo(p, &c);
	record_woo_check(p, &c);
	if (strcmp(c.state, "ok") != 0)
		flash_say(f, strcmp(c.state, "unreachable") == 0 ? L_WARN : L_BAD,
		    "WooCommerce: %s.", c.reason[0] ? c.reason : c.state);
	else if (c.write_ok != 1 || strcmp(c.manage_stock, "yes") != 0)
		flash_say(f, L_BAD, "WooCommerce: the key works, but see Connection below.");
	else
		flash_say(f, L_OK, "WooCommerce: the key works, may write, and stock management is on.");
}

/* A form value without surrounding blanks, in out (which holds outsz). */
static const char *
form_value(const struct kc_form *form, const char *name, char *out, size_t outsz)
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

static int
form_says_yes(const struct kc_form *form, const char *name)
{
	const char *v = kc_form_get(form, name);

	return v != NULL && strcmp(v, "yes") == 0;
}

/*
 * A new warehouse id is saved only when KeyCRM's stock list shows it, or
 * when the administrator says it is right although no stock is there yet.
 * Returns 1 when nothing may be saved (f says why).
 */
static int
warehouse_refused(struct page *p, const struct kc_form *form, const char *wh,
    const char *key, struct flash *f)
{
	char current[32];
	struct kc_buf seen;
	struct kc_error err = { { 0 } };
	int rc;

	kc_config_value_text(&p->cfg, KC_KEY_KEYCRM_WAREHOUSE_ID, current, sizeof(current));
	if (wh[0] == '\0' || strcmp(wh, current) == 0)
		return 0;
	if (key == NULL) {
		flash_say(f, L_WARN, "Warehouse %s could not be checked with KeyCRM: no API key is set.",
		    wh);
		return 0;
	}
	kc_buf_init(&seen);
	rc = check_warehouse(p, key, strtol(wh, NULL, 10), &seen, &err);
	if (rc < 0)
		flash_say(f, L_BAD, "Nothing was saved: warehouse %s could not be checked because KeyCRM did not answer (%s). Try again later.",
		    wh, err.msg);
	else if (rc == 0 && !form_says_yes(form, "warehouse_unlisted"))
		flash_say(f, L_BAD, "Nothing was saved: KeyCRM's stock list shows no warehouse %s (warehouses it shows: %s). Check the id in KeyCRM (Settings, Warehouses); if it is right but holds no stock yet, tick \"save it anyway\".",
		    wh, seen.data ? seen.data : "none");
	else if (rc == 0)
		kc_log(KC_LOG_WARN, "settings: %s saved warehouse %s, which KeyCRM's stock list does not show",
		    p->user, wh);
	kc_buf_free(&seen);
	return rc < 0 || (rc == 0 && !form_says_yes(form, "warehouse_unlisted"));
}

/*
 * The shop's new REST key is saved only when the shop accepts it and lets
 * it write (SPEC 2).  Returns 1 when nothing may be saved (f says why).
 */
static int
woo_key_refused(struct page *p, const char *ck, const char *cs, struct flash *f)
{
	struct woo_check c;
	char *saved_key = p->cfg.woo_consumer_key, *saved_secret = p->cfg.woo_consumer_secret;

	p->cfg.woo_consumer_key = (char *)ck;
	p->cfg.woo_consumer_secret = (char *)cs;
	check_woo(p, &c);
	p->cfg.woo_consumer_key = saved_key;
	p->cfg.woo_consumer_secret = saved_secret;
	if (strcmp(c.state, "ok") == 0 && c.write_ok == 1) {
		record_woo_check(p, &c);
		return 0;
	}
	if (strcmp(c.state, "ok") == 0)
		flash_say(f, L_BAD, "Nothing was saved: the shop accepted the new REST key, but it may not write (%s). Give the key Read/Write permission in WooCommerce (Settings, Advanced, REST API).",
		    c.write_reason[0] ? c.write_reason : "write permission unknown");
	else if (strcmp(c.state, "rejected") == 0)
		flash_say(f, L_BAD, "Nothing was saved: the shop rejected the new REST key (%s).",
		    c.reason);
	else
		flash_say(f, L_BAD, "Nothing was saved: the new REST key could not be checked because the shop did not answer (%s). Try again later.",
		    c.reason[0] ? c.reason : c.state);
	return 1;
}

static void
act_save(struct page *p, const struct kc_form *form, struct flash *f)
{
	char key[600], wh[64], sr[16], ms[16], ck[300], cs[300];
	const char *forget = kc_form_get(form, "forget_api_key");
	struct kc_settings_values v = { 0 };
	struct kc_buf text;
	struct kc_error err = { { 0 } };
	enum kc_key_status status;

	form_value(form, "keycrm_api_key", key, sizeof(key));
	form_value(form, "keycrm_warehouse_id", wh, sizeof(wh));
	form_value(form, "subtract_reserve", sr, sizeof(sr));
	form_value(form, "manage_stock", ms, sizeof(ms));
	form_value(form, "woo_consumer_key", ck, sizeof(ck));
	form_value(form, "woo_consumer_secret", cs, sizeof(cs));
	/* An empty key field keeps the key: secrets are never sent back. */
	if (key[0] != '\0')
		v.keycrm_api_key = key;
	else if (forget == NULL && p->cfg.source[KC_KEY_KEYCRM_API_KEY] == KC_SRC_SETTINGS)
		v.keycrm_api_key = p->cfg.keycrm_api_key;
	v.keycrm_warehouse_id = wh[0] ? wh : NULL;
	v.subtract_reserve = sr[0] ? sr : NULL;
	v.manage_stock = ms[0] ? ms : NULL;
	if (ck[0] != '\0' || cs[0] != '\0') {
		v.woo_consumer_key = ck;
		v.woo_consumer_secret = cs;
	} else if (kc_form_get(form, "forget_woo_key") == NULL &&
	    p->cfg.source[KC_KEY_WOO_CONSUMER_KEY] == KC_SRC_SETTINGS) {
		v.woo_consumer_key = p->cfg.woo_consumer_key;
		v.woo_consumer_secret = p->cfg.woo_consumer_secret;
	}

	kc_buf_init(&text);
	if ((ck[0] == '\0') != (cs[0] == '\0')) {
		flash_say(f, L_BAD, "Nothing was saved: enter both the shop's consumer key and its consumer secret.");
		goto out;
	}
	if (kc_settings_file_format(&v, p->user, &text, &err) != 0) {
		flash_say(f, L_BAD, "Nothing was saved: %s.", err.msg);
		goto out;
	}
	if (key[0] != '\0') {
		status = check_keycrm(p, key, &err);
		if (status == KC_KEY_REJECTED) {
			flash_say(f, L_BAD, "Nothing was saved: KeyCRM rejected the new API key (%s).",
			    err.msg);
			goto out;
		}
		if (status != KC_KEY_VALID) {
			flash_say(f, L_BAD, "Nothing was saved: the new API key could not be checked because KeyCRM could not be reached (%s). Try again later.",
			    err.msg);
			goto out;
		}
		record_keycrm_check(p, status, "");
	}
	if (warehouse_refused(p, form, wh, key[0] ? key : p->cfg.keycrm_api_key, f))
		goto out;
	if (ck[0] != '\0' && woo_key_refused(p, ck, cs, f))
		goto out;
	if (kc_settings_file_write(p->cfg.state_dir, &v, p->user, &err) != 0) {
		kc_log(KC_LOG_ERROR, "settings: cannot save: %s", err.msg);
		flash_say(f, L_BAD, "Nothing was saved: %s.", err.msg);
		goto out;
	}
	kc_log(KC_LOG_INFO, "settings: %s saved the settings%s", p->user,
	    key[0] ? " (with a new KeyCRM API key, checked valid)" : "");
	flash_say(f, L_OK, "Settings saved%s%s. They apply from the next webhook or sync run.",
	    key[0] ? "; KeyCRM accepted the new API key" : "",
	    ck[0] ? "; the shop accepted the new REST key, which may write" : "");
out:
	kc_wipe(key, sizeof(key));
	kc_wipe(cs, sizeof(cs));
	kc_wipe(text.data, text.cap);
	kc_buf_free(&text);
}

static void
say_errors(struct flash *f, const struct kc_sync_result *r)
{
	size_t i;
	json_t *e;

	json_array_foreach(r->errors, i, e) {
		if (i >= 5) {
			flash_say(f, L_BAD, "(%zu more errors are in the web server's error log.)",
			    json_array_size(r->errors) - i);
			break;
		}
		if (json_is_string(e))
			flash_say(f, L_BAD, "%s", json_string_value(e));
	}
}

/*
 * Runs a sync (or a backfill) now.  Returns 0 when it ran; the caller says
 * what it did.
 */
static int
run_sync(struct page *p, const struct kc_sync_options *opts,
    struct kc_sync_result *r, const char *what, struct flash *f)
{
	struct kc_error err = { { 0 } };
	int rc = kc_sync_run(&p->cfg, opts, r, &err);

	if (rc == 1 || r->busy) {
		flash_say(f, L_WARN, "Another sync run is in progress; %s was not started. Try again when it is done.",
		    what);
		return -1;
	}
	if (rc != 0) {
		flash_say(f, L_BAD, "The %s could not start: %s.", what, err.msg);
		return -1;
	}
	kc_log(KC_LOG_INFO, "settings: %s ran a %s", p->user, what);
	return 0;
}

static void
say_incomplete(struct flash *f, const struct kc_sync_result *r, const char *again)
{
	if (!r->complete)
		flash_say(f, L_WARN, "It stopped after sync_max_seconds (%.0f s) before the end; %s",
		    r->seconds, again);
}

static void
act_sync(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_sync_options opts = { 0 };
	struct kc_sync_result r;

	(void)form;
	kc_sync_result_init(&r);
	if (run_sync(p, &opts, &r, "sync run", f) == 0) {
		flash_say(f, L_OK, "Sync run done in %.1f s: %ld shop %s read, %ld changed, %ld sent to KeyCRM.",
		    r.seconds, r.scanned, plural(r.scanned, "item", "items"),
		    r.changed, r.sent);
		if (r.applied > 0)
			flash_say(f, L_OK, "%ld %s from KeyCRM applied to the shop first.",
			    r.applied, plural(r.applied, "report", "reports"));
		if (r.unknown > 0)
			flash_say(f, L_WARN, "%ld %s not known to KeyCRM.", r.unknown,
			    plural(r.unknown, "SKU is", "SKUs are"));
		if (r.held > 0)
			flash_say(f, L_OK, "%ld changed during the run and %s left for the next one.",
			    r.held, plural(r.held, "is", "are"));
		if (r.first_run)
			flash_say(f, L_INFO, "This was the first run: it recorded the shop's quantities as the starting point and sent nothing.");
		say_incomplete(f, &r, "the next run goes on from there.");
		say_errors(f, &r);
	}
	kc_sync_result_free(&r);
}

static void
act_dry_run(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_sync_options opts = { 0 };
	struct kc_sync_result r;

	(void)form;
	opts.dry_run = 1;
	kc_sync_result_init(&r);
	if (run_sync(p, &opts, &r, "dry run", f) == 0) {
		size_t n = json_array_size(r.plan);
		flash_say(f, L_OK, "Dry run done in %.1f s: %ld shop %s read; %zu %s would be sent to KeyCRM. Nothing was written anywhere.",
		    r.seconds, r.scanned, plural(r.scanned, "item", "items"), n,
		    plural((long)n, "SKU", "SKUs"));
		f->plan_total = (long)n;
		f->plan = json_array();
		for (size_t i = 0; i < n && i < PLAN_KEEP && f->plan != NULL; i++)
			json_array_append(f->plan, json_array_get(r.plan, i));
		say_incomplete(f, &r, "the plan covers what was read until then.");
		say_errors(f, &r);
	}
	kc_sync_result_free(&r);
}

/* A push all or backfill that went through makes the first-install choice. */
static void
record_choice(struct page *p, const struct kc_sync_result *r, const char *choice)
{
	if (p->have_store && r->complete && json_array_size(r->errors) == 0)
		kc_fi_choose(&p->st, choice, p->user, NULL);
}

static void
act_backfill(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_sync_options opts = { 0 };
	struct kc_sync_result r;

	(void)form;
	opts.pull = 1;
	kc_sync_result_init(&r);
	if (run_sync(p, &opts, &r, "backfill", f) == 0) {
		flash_say(f, L_OK, "Backfill from KeyCRM done in %.1f s: %ld %s read from KeyCRM, %ld applied to the shop.",
		    r.seconds, r.pulled, plural(r.pulled, "offer", "offers"), r.applied);
		say_incomplete(f, &r, "press Backfill again to go on where it stopped.");
		say_errors(f, &r);
		record_choice(p, &r, "backfill");
	}
	kc_sync_result_free(&r);
}

static void
act_compare(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_compare_options opts = { 0 };
	struct kc_compare_result r;
	struct kc_error err = { { 0 } };
	int rc;

	(void)form;
	kc_compare_result_init(&r);
	rc = kc_compare_run(&p->cfg, &opts, &r, &err);
	if (rc > 0)
		flash_say(f, L_WARN, "A comparison is already running; try again when it is done.");
	else if (rc < 0)
		flash_say(f, L_BAD, "The comparison could not start: %s.", err.msg);
	else if (r.complete)
		flash_say(f, L_OK, "Compared in %.1f s: %ld equal, %ld different, %ld only in the shop, %ld only in KeyCRM.",
		    r.seconds, r.counts[KC_CMP_EQUAL], r.counts[KC_CMP_DIFFERENT],
		    r.counts[KC_CMP_SHOP_ONLY], r.counts[KC_CMP_KEYCRM_ONLY]);
	else if (json_array_size(r.errors) == 0)
		flash_say(f, L_INFO, "Comparing: %s page %ld of %ld read when the time limit (sync_max_seconds) or KeyCRM's request limit stopped it. Press Compare again to go on where it stopped.",
		    strcmp(r.phase, "keycrm") == 0 ? "KeyCRM" : "shop", r.page, r.pages);
	if (rc == 0)
		say_errors(f, &(struct kc_sync_result){ .errors = r.errors });
	kc_compare_result_free(&r);
}

static void
act_dismiss(struct page *p, const struct kc_form *form, struct flash *f)
{
	const char *sku = kc_form_get(form, "sku");
	int kind = kc_store_problem_kind(kc_form_get(form, "kind"));
	struct kc_error err = { { 0 } };

	if (sku == NULL || sku[0] == '\0' || kind < 0) {
		flash_say(f, L_BAD, "Nothing was dismissed: the form did not name a problem.");
		return;
	}
	if (!p->have_store ||
	    kc_store_problem(&p->st, sku, (enum kc_problem)kind, NULL, p->now, &err) != 0) {
		flash_say(f, L_BAD, "Nothing was dismissed: %s.",
		    p->have_store ? err.msg : p->store_err.msg);
		return;
	}
	flash_say(f, L_OK, "Dismissed %s; it comes back if the problem is seen again.", sku);
}

static void
act_first_keep(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_error err = { { 0 } };

	(void)form;
	if (!p->have_store || kc_fi_choose(&p->st, "keep", p->user, &err) != 0)
		flash_say(f, L_BAD, "The choice could not be kept: %s.",
		    p->have_store ? err.msg : p->store_err.msg);
	else
		flash_say(f, L_OK, "Both sides are kept as they are; from now on each side's changes are sent to the other.");
}

static int
is_first_install(struct page *p)
{
	struct kc_status s;
	int first;

	if (!p->have_store || kc_status_read(&p->st, 0, 0, &s, NULL) != 0)
		return 0;
	first = kc_fi_pending(&p->st, s.first_install);
	kc_status_free(&s);
	return first;
}

static void
act_push_all(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_sync_options opts = { 0 };
	struct kc_sync_result r;

	/* Afterwards it overwrites what KeyCRM changed meanwhile: confirmed. */
	if (!is_first_install(p) && !form_says_yes(form, "confirm")) {
		flash_say(f, L_WARN, "Push all overwrites KeyCRM's quantities with the shop's; tick the confirmation to do it. Nothing was done.");
		return;
	}
	opts.push_all = 1;
	opts.full = 1;
	kc_sync_result_init(&r);
	if (run_sync(p, &opts, &r, "push of all shop quantities", f) == 0) {
		flash_say(f, L_OK, "Push all done in %.1f s: %ld shop %s read, %ld sent to KeyCRM.",
		    r.seconds, r.scanned, plural(r.scanned, "item", "items"), r.sent);
		if (r.unknown > 0)
			flash_say(f, L_WARN, "%ld %s not known to KeyCRM.", r.unknown,
			    plural(r.unknown, "SKU is", "SKUs are"));
		say_incomplete(f, &r, "the next sync run goes on from there.");
		say_errors(f, &r);
		record_choice(p, &r, "push_all");
	}
	kc_sync_result_free(&r);
}

/* --- the setup URLs ------------------------------------------------------ */

/* The URL KeyCRM must call; secret NULL or masked as the caller wants. */
static void
webhook_url(const struct page *p, const char *secret, int encode, struct kc_buf *out)
{
	kc_buf_addf(out, "%s%s/webhook?secret=", p->origin, p->prefix);
	if (encode)
		kc_html_url_component(out, secret);
	else
		kc_buf_adds(out, secret);
}

static void
sync_url(const struct page *p, const char *token, int encode, struct kc_buf *out)
{
	kc_buf_addf(out, "%s%s/sync?token=", p->origin, p->prefix);
	if (encode)
		kc_html_url_component(out, token);
	else
		kc_buf_adds(out, token);
}

static void
cron_line(const struct page *p, const char *token, int encode, struct kc_buf *out)
{
	kc_buf_adds(out, "*/15 * * * * wget -qO- '");
	sync_url(p, token, encode, out);
	kc_buf_adds(out, "' >/dev/null");
}

/*
 * The "show" form works once: besides the page's token it carries a random
 * nonce and a token bound to the user and that nonce, and the nonce is
 * recorded in the state when used.  A copy of the form (a proxy, the
 * browser's history) cannot reveal the secrets a second time.
 */
#define SHOW_NONCE_BYTES 16

/* What the one-use token is bound to; 0 when it does not fit (then no form). */
static int
show_subject(const struct page *p, const char *nonce, char *who, size_t whosz)
{
	int n = snprintf(who, whosz, "%s\x1fshow\x1f%s", p->user, nonce);

	return n > 0 && (size_t)n < whosz;
}

static void
show_button(struct kc_buf *b, const struct page *p)
{
	unsigned char raw[SHOW_NONCE_BYTES];
	char nonce[2 * SHOW_NONCE_BYTES + 1], once[KC_CSRF_TOKEN_LEN + 1], who[1024];

	if (kc_random_bytes(raw, sizeof(raw)) != 0)
		return;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(nonce + 2 * i, 3, "%02x", raw[i]);
	if (!show_subject(p, nonce, who, sizeof(who)))
		return;
	kc_csrf_token(&p->csrf, who, (int64_t)p->now, once);
	kc_html_f(b, "<form method=\"post\" action=\"%s\">", p->self);
	csrf_field(b, p);
	kc_html_f(b, "<input type=\"hidden\" name=\"nonce\" value=\"%s\">"
	    "<input type=\"hidden\" name=\"once\" value=\"%s\">"
	    "<button type=\"submit\" name=\"action\" value=\"show\">Show the full URLs"
	    "</button></form>", nonce, once);
}

/* 1 when the form is this user's and its nonce was not used yet. */
static int
show_allowed(struct page *p, const struct kc_form *form)
{
	const char *nonce = kc_form_get(form, "nonce");
	char who[1024];
	struct kc_error err = { { 0 } };
	int rc;

	if (nonce == NULL || strlen(nonce) != 2 * SHOW_NONCE_BYTES ||
	    strspn(nonce, "0123456789abcdef") != 2 * SHOW_NONCE_BYTES || !p->have_store)
		return 0;
	if (!show_subject(p, nonce, who, sizeof(who)) ||
	    !kc_csrf_check(&p->csrf, who, kc_form_get(form, "once"), (int64_t)p->now))
		return 0;
	rc = kc_store_use_once(&p->st, nonce, p->now, 2.0 * KC_CSRF_SLOT_SECONDS + 60, &err);
	if (rc < 0)
		kc_log(KC_LOG_WARN, "settings: %s", err.msg);
	return rc == 1;
}

/* The whole secrets, once, on an answer nobody keeps (no-store). */
static void
act_show(struct page *p, const struct kc_form *form)
{
	struct kc_buf b, u;

	if (!show_allowed(p, form)) {
		kc_log(KC_LOG_WARN, "settings: refused to show the secrets to %s again "
		    "(a used or foreign form)", p->user);
		send_message(p, 403, "Already shown",
		    "This button shows the secrets once. Reload the settings page and press "
		    "it again.");
		return;
	}
	kc_buf_init(&b);
	kc_buf_init(&u);
	kc_html_raw(&b, "<h1>Webhook URL and cron line</h1><div class=\"notice warn\">"
	    "<p>These contain the secrets whole. This answer is not stored by the "
	    "browser; copy what you need, then go back.</p></div><div class=\"card\">");
	if (p->cfg.webhook_secret != NULL) {
		webhook_url(p, p->cfg.webhook_secret, 1, &u);
		kc_html_f(&b, "<h3>Webhook URL for KeyCRM</h3><pre><code>%s</code></pre>", u.data);
		kc_buf_reset(&u);
	} else {
		kc_html_raw(&b, "<p>webhook_secret is not set, so there is no webhook URL yet.</p>");
	}
	if (p->cfg.sync_token != NULL) {
		cron_line(p, p->cfg.sync_token, 1, &u);
		kc_html_f(&b, "<h3>Crontab line</h3><pre><code>%s</code></pre>", u.data);
	} else {
		kc_html_raw(&b, "<p>sync_token is not set, so there is no cron line yet.</p>");
	}
	kc_html_f(&b, "<p><a href=\"%s\">Back to the settings page</a></p></div>", p->self);
	kc_log(KC_LOG_INFO, "settings: %s was shown the webhook URL and cron line", p->user);
	send_html(p->req, 200, "Webhook URL and cron line", p->user, &b);
	kc_wipe(u.data, u.cap);
	kc_wipe(b.data, b.cap);
	kc_buf_free(&u);
	kc_buf_free(&b);
}

/* --- page sections ------------------------------------------------------- */

struct issues {
	enum level worst;
	struct kc_buf list;		/* <li> items */
};

static void issue(struct issues *is, enum level level, const char *fmt, ...)
    KC_PRINTF(3, 4);

/* One line of the status block; its text is escaped here. */
static void
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
	kc_html_f(&is->list, "<li class=\"%s\">%s</li>", level_class[level],
	    text.data ? text.data : "");
	kc_buf_free(&text);
}

static void
configuration_issues(const struct page *p, struct issues *is)
{
	const struct kc_config *c = &p->cfg;

	if (c->woo_url == NULL || c->woo_consumer_key == NULL || c->woo_consumer_secret == NULL)
		issue(is, L_BAD, "The shop is not configured: set woo_url, woo_consumer_key and woo_consumer_secret in %s.",
		    c->path);
	if (c->keycrm_api_key == NULL)
		issue(is, L_BAD, "No KeyCRM API key is set: enter it under Settings.");
	if (c->webhook_secret == NULL)
		issue(is, L_BAD, "webhook_secret is not set: the webhook refuses KeyCRM's calls (see Setup).");
	if (c->sync_token == NULL)
		issue(is, L_WARN, "sync_token is not set: the cron URL refuses every call, so the shop's changes never reach KeyCRM.");
	if (c->keycrm_warehouse_id == 0)
		issue(is, L_WARN, "No KeyCRM warehouse is set: the shop's changes cannot be sent to KeyCRM; set keycrm_warehouse_id under Settings.");
}

/*
 * 1 when a run after time t talked to the side (shop: 0, KeyCRM: 1)
 * without an error: a failed check before it no longer holds.
 */
static int
since_worked(const struct kc_status *s, double t, int keycrm)
{
	for (int k = KC_RUN_APPLY; k < KC_RUN__MAX; k++) {
		const struct kc_status_run *r = &s->last[k];
		if (r->started_at > t && r->error == NULL &&
		    (keycrm ? r->keycrm_requests : r->shop_requests) > 0)
			return 1;
	}
	return 0;
}

static void
check_issues(struct page *p, const struct kc_status *s, struct issues *is)
{
	json_t *k = kv_json(p, "check:keycrm"), *w = kv_json(p, "check:woo");
	const char *ks = json_string_value(json_object_get(k, "status"));
	const char *ws = json_string_value(json_object_get(w, "state"));

	/* A success after a failed check contradicts it: the check is stale. */
	if (ks != NULL && since_worked(s, json_number_value(json_object_get(k, "t")), 1))
		ks = NULL;
	if (ws != NULL && strcmp(ws, "ok") != 0 &&
	    since_worked(s, json_number_value(json_object_get(w, "t")), 0))
		ws = NULL;
	const char *ms = json_string_value(json_object_get(w, "manage_stock"));

	if (ks != NULL && strcmp(ks, "rejected") == 0)
		issue(is, L_BAD, "KeyCRM rejected the API key at the last check.");
	else if (ks != NULL && strcmp(ks, "unreachable") == 0)
		issue(is, L_WARN, "KeyCRM could not be reached at the last check.");
	if (ws != NULL && strcmp(ws, "rejected") == 0)
		issue(is, L_BAD, "WooCommerce rejected the API key at the last check.");
	else if (ws != NULL && strcmp(ws, "unreachable") == 0)
		issue(is, L_WARN, "The shop could not be reached at the last check.");
	else if (ws != NULL && strcmp(ws, "ok") == 0) {
		if (json_integer_value(json_object_get(w, "write")) == 0)
			issue(is, L_BAD, "The WooCommerce key may not write: stock cannot be set in the shop.");
		if (ms != NULL && strcmp(ms, "no") == 0)
			issue(is, L_BAD, "Stock management is off in WooCommerce (Settings, Products, Inventory).");
	}
	json_decref(k);
	json_decref(w);
}

static void
state_issues(const struct page *p, const struct kc_status *s, struct issues *is)
{
	const struct kc_status_run *sync = &s->last[KC_RUN_SYNC];
	char ago[64];

	if (sync->started_at <= 0) {
		issue(is, L_WARN, "No sync run yet: add the crontab line from Setup, or press Sync now.");
	} else {
		format_ago(sync->started_at, p->now, ago, sizeof(ago));
		if (p->now - sync->started_at > SYNC_OVERDUE_S)
			issue(is, L_WARN, "Overdue: the last sync run was %s; is the cron job running?", ago);
		if (sync->error != NULL)
			issue(is, L_WARN, "The last sync run reported: %s", sync->error);
	}
	if (s->inbox_retried > 0)
		issue(is, L_BAD, "%ld %s from KeyCRM could not be written to the shop yet: %s",
		    s->inbox_retried, plural(s->inbox_retried, "report", "reports"),
		    s->inbox_error ? s->inbox_error : "see History");
	else if (s->inbox > 0 && p->now - s->inbox_oldest > INBOX_SLOW_S) {
		format_ago(s->inbox_oldest, p->now, ago, sizeof(ago));
		issue(is, L_WARN, "%ld %s from KeyCRM %s waited since %s.", s->inbox,
		    plural(s->inbox, "report", "reports"), plural(s->inbox, "has", "have"), ago);
	}
	if (s->problems[KC_PROBLEM_FAILED].total > 0)
		issue(is, L_WARN, "The shop refused %ld %s (see Problems).",
		    s->problems[KC_PROBLEM_FAILED].total,
		    plural(s->problems[KC_PROBLEM_FAILED].total, "write", "writes"));
	if (s->problems[KC_PROBLEM_DUPLICATE].total > 0)
		issue(is, L_WARN, "%ld %s on more than one product (see Problems).",
		    s->problems[KC_PROBLEM_DUPLICATE].total,
		    plural(s->problems[KC_PROBLEM_DUPLICATE].total, "SKU is", "SKUs are"));
	if (s->problems[KC_PROBLEM_UNMATCHED].total > 0)
		issue(is, L_INFO, "%ld %s from KeyCRM matched nothing in the shop (see Problems).",
		    s->problems[KC_PROBLEM_UNMATCHED].total,
		    plural(s->problems[KC_PROBLEM_UNMATCHED].total, "SKU", "SKUs"));
	if (s->problems[KC_PROBLEM_NOT_IN_KEYCRM].total > 0)
		issue(is, L_INFO, "%ld shop %s not in KeyCRM (see Problems).",
		    s->problems[KC_PROBLEM_NOT_IN_KEYCRM].total,
		    plural(s->problems[KC_PROBLEM_NOT_IN_KEYCRM].total, "SKU is", "SKUs are"));
	if (s->problems[KC_PROBLEM_SKIPPED].total > 0)
		issue(is, L_INFO, "%ld %s skipped (see Problems).",
		    s->problems[KC_PROBLEM_SKIPPED].total,
		    plural(s->problems[KC_PROBLEM_SKIPPED].total, "product was", "products were"));
}

/*
 * "12 received, 12 queued" from the counts that are not zero.  A sync run
 * or a backfill keeps its own figures in the history's columns (sync.c
 * record()), so each kind has its own labels.
 */
struct count {
	long n;
	const char *what;
};

static void
run_counts(const struct kc_status_run *r, struct kc_buf *out)
{
	const struct count webhook[] = {
		{ r->received, "received" }, { r->queued, "queued" },
		{ r->rejected, "rejected" },
	}, apply[] = {
		{ r->applied, "applied" }, { r->unchanged, "unchanged" },
		{ r->unmatched, "unmatched" }, { r->skipped, "skipped" },
		{ r->failed, "failed" }, { r->pending, "still queued" },
	}, sync[] = {
		{ r->received, "read from the shop" }, { r->queued, "changed" },
		{ r->applied, "sent to KeyCRM" }, { r->unmatched, "unknown to KeyCRM" },
		{ r->skipped, "without stock of their own" },
		{ r->pending, "left for the next run" },
		{ r->failed, "errors" },
	}, pull[] = {
		{ r->received, "read from KeyCRM" }, { r->failed, "errors" },
	};
	const struct { const struct count *c; size_t n; } kinds[KC_RUN__MAX] = {
		[KC_RUN_WEBHOOK] = { webhook, sizeof(webhook) / sizeof(webhook[0]) },
		[KC_RUN_APPLY] = { apply, sizeof(apply) / sizeof(apply[0]) },
		[KC_RUN_SYNC] = { sync, sizeof(sync) / sizeof(sync[0]) },
		[KC_RUN_PULL] = { pull, sizeof(pull) / sizeof(pull[0]) },
	};
	const struct count *c = kinds[r->kind].c;
	int any = 0;

	for (size_t i = 0; i < kinds[r->kind].n; i++) {
		if (c[i].n == 0)
			continue;
		kc_buf_addf(out, "%s%ld %s", any ? ", " : "", c[i].n, c[i].what);
		any = 1;
	}
	if (r->shop_requests > 0)
		kc_buf_addf(out, "%s%ld shop %s", any ? "; " : "", r->shop_requests,
		    plural(r->shop_requests, "request", "requests"));
	if (r->keycrm_requests > 0)
		kc_buf_addf(out, "%s%ld KeyCRM %s", any || r->shop_requests ? ", " : "",
		    r->keycrm_requests, plural(r->keycrm_requests, "request", "requests"));
	if (!any && r->shop_requests + r->keycrm_requests == 0)
		kc_buf_adds(out, "nothing to do");
}

static void
fact_run(struct kc_buf *b, const struct page *p, const char *label,
    const struct kc_status_run *r, const char *none, const char *badge)
{
	struct kc_buf counts;

	kc_html_f(b, "<dt>%s</dt><dd>", label);
	if (r->started_at <= 0) {
		kc_html_f(b, "<span class=\"muted\">%s</span></dd>", none);
		return;
	}
	html_when(b, r->started_at, p->now);
	if (badge != NULL)
		kc_html_f(b, " <span class=\"badge warn\">%s</span>", badge);
	kc_buf_init(&counts);
	run_counts(r, &counts);
	kc_html_f(b, "<br>%s", counts.data);
	if (r->error != NULL)
		kc_html_f(b, "<br><span class=\"badge bad\">error</span> %s", r->error);
	kc_buf_free(&counts);
	kc_html_raw(b, "</dd>");
}

/* The state's size on disk, and what keeps it from only growing. */
static void
fact_db_size(struct kc_buf *b, const struct page *p)
{
	long long bytes = kc_store_disk_bytes(p->cfg.state_dir);

	kc_html_raw(b, "<dt>State database</dt><dd>");
	if (bytes < 0)
		kc_html_raw(b, "unknown");
	else if (bytes < 1048576)
		kc_html_f(b, "%lld KB", (bytes + 1023) / 1024);
	else
		kc_html_f(b, "%.1f MB", (double)bytes / 1048576.0);
	kc_html_f(b, " <span class=\"muted\">(history is kept %d days, problems %d days "
	    "after they were last seen, unknown SKUs %d days)</span></dd>",
	    KC_RETAIN_HISTORY_DAYS, KC_RETAIN_PROBLEM_DAYS, KC_RETAIN_LEDGER_DAYS);
}

static void
section_status(struct kc_buf *b, struct page *p, const struct kc_status *s)
{
	static const char *const headline[] = { "Healthy", "Healthy",
	    "Needs attention", "Not working" };
	struct issues is = { L_OK, { 0 } };
	const struct kc_status_run *sync = s ? &s->last[KC_RUN_SYNC] : NULL;

	kc_buf_init(&is.list);
	configuration_issues(p, &is);
	if (s != NULL) {
		check_issues(p, s, &is);
		state_issues(p, s, &is);
	} else {
		issue(&is, L_BAD, "The state database cannot be read: %s", p->store_err.msg);
	}
	kc_html_f(b, "<section class=\"card\" id=\"status\"><h2>Status</h2>"
	    "<p class=\"health %s\"><span class=\"dot\"></span>%s</p>",
	    level_class[is.worst], headline[is.worst]);
	if (is.list.len > 0) {
		/* Escaped item by item in issue(). */
		kc_html_raw(b, "<ul class=\"issues\">");
		kc_buf_add(b, is.list.data, is.list.len);
		kc_html_raw(b, "</ul>");
	} else {
		kc_html_raw(b, "<p class=\"muted\">Webhooks arrive, sync runs on time, nothing failed.</p>");
	}
	kc_buf_free(&is.list);
	if (s != NULL) {
		kc_html_raw(b, "<dl class=\"facts\">");
		fact_run(b, p, "Last webhook", &s->last[KC_RUN_WEBHOOK],
		    "none received yet", NULL);
		fact_run(b, p, "Last applied to the shop", &s->last[KC_RUN_APPLY],
		    "not yet", NULL);
		fact_run(b, p, "Last sync run", sync, "none yet",
		    p->now - sync->started_at > SYNC_OVERDUE_S ? "overdue" : NULL);
		kc_html_raw(b, "<dt>Waiting for the shop</dt><dd>");
		if (s->inbox == 0)
			kc_html_raw(b, "nothing (the inbox is empty)");
		else {
			kc_html_f(b, "%ld %s, the oldest from ", s->inbox,
			    plural(s->inbox, "report", "reports"));
			html_when(b, s->inbox_oldest, p->now);
		}
		kc_html_raw(b, "</dd>");
		fact_db_size(b, p);
		kc_html_raw(b, "</dl>");
	}
	kc_html_raw(b, "<div class=\"actions\">");
	action_button(b, p, "sync", "Sync now", 1);
	action_button(b, p, "dry_run", "Dry run", 0);
	action_button(b, p, "backfill", "Backfill from KeyCRM", 0);
	kc_html_raw(b, "</div><p class=\"muted\">Sync now applies what KeyCRM sent, then "
	    "sends the shop's changes to KeyCRM. Dry run shows what a sync would send and "
	    "writes nothing. Backfill sets the shop's stock from KeyCRM's.</p></section>");
}

static void
section_first_install(struct kc_buf *b, struct page *p)
{
	struct kc_fi_page pg = { p->self, p->token, p->now };

	kc_fi_card(b, &p->st, &p->cfg, &pg);
}

static void
section_push_again(struct kc_buf *b, struct page *p)
{
	struct kc_fi_page pg = { p->self, p->token, p->now };

	kc_html_raw(b, "<section class=\"card\" id=\"push-again\"><h2>Push all</h2>");
	kc_fi_push_again(b, &pg);
	kc_html_raw(b, "</section>");
}

static void
connection_box_keycrm(struct kc_buf *b, struct page *p, json_t *k)
{
	const char *st = json_string_value(json_object_get(k, "status"));
	const char *reason = json_string_value(json_object_get(k, "reason"));
	const char *cls = st == NULL ? "" : strcmp(st, "valid") == 0 ? " ok" :
	    strcmp(st, "unreachable") == 0 ? " warn" : " bad";

	kc_html_f(b, "<div class=\"box%s\"><h3>KeyCRM</h3><ul class=\"ticks\">", cls);
	if (st == NULL)
		kc_html_raw(b, "<li class=\"none\">Not checked yet</li>");
	else if (strcmp(st, "valid") == 0)
		kc_html_raw(b, "<li class=\"ok\">API key valid</li>");
	else if (strcmp(st, "rejected") == 0)
		kc_html_f(b, "<li class=\"bad\">API key rejected: %s</li>", reason ? reason : "");
	else if (strcmp(st, "unreachable") == 0)
		kc_html_f(b, "<li class=\"warn\">Unreachable: %s</li>", reason ? reason : "");
	else
		kc_html_raw(b, "<li class=\"bad\">No API key is set</li>");
	kc_html_f(b, "</ul><p class=\"muted\">%s</p></div>", p->cfg.keycrm_api_url);
}

static void
connection_box_woo(struct kc_buf *b, struct page *p, json_t *w)
{
	const char *st = json_string_value(json_object_get(w, "state"));
	const char *reason = json_string_value(json_object_get(w, "reason"));
	const char *wr = json_string_value(json_object_get(w, "write_reason"));
	const char *ms = json_string_value(json_object_get(w, "manage_stock"));
	int write = (int)json_integer_value(json_object_get(w, "write"));
	int read = json_is_true(json_object_get(w, "read"));
	const char *cls = "";

	if (st != NULL) {
		if (strcmp(st, "ok") != 0)
			cls = strcmp(st, "unreachable") == 0 ? " warn" : " bad";
		else
			cls = write == 1 && ms != NULL && strcmp(ms, "yes") == 0 ? " ok" : " bad";
	}
	kc_html_f(b, "<div class=\"box%s\"><h3>WooCommerce</h3><ul class=\"ticks\">", cls);
	if (st == NULL) {
		kc_html_raw(b, "<li class=\"none\">Not checked yet</li>");
	} else if (strcmp(st, "not_set") == 0) {
		kc_html_raw(b, "<li class=\"bad\">Not configured (woo_url, woo_consumer_key, woo_consumer_secret)</li>");
	} else if (strcmp(st, "unreachable") == 0) {
		kc_html_f(b, "<li class=\"warn\">Unreachable: %s</li>", reason ? reason : "");
	} else if (strcmp(st, "rejected") == 0 || strcmp(st, "error") == 0) {
		kc_html_f(b, "<li class=\"bad\">%s: %s</li>", strcmp(st, "rejected") == 0 ?
		    "API key rejected" : "Error", reason ? reason : "");
	} else {
		kc_html_raw(b, read ? "<li class=\"ok\">API key valid</li>" :
		    "<li class=\"warn\">API key valid, but it may not read</li>");
		if (write == 1)
			kc_html_raw(b, "<li class=\"ok\">Write permission</li>");
		else
			kc_html_f(b, "<li class=\"%s\">%s: %s</li>", write == 0 ? "bad" : "warn",
			    write == 0 ? "No write permission (make the key Read/Write)" :
			    "Write permission unknown", wr ? wr : "");
		if (ms != NULL && strcmp(ms, "yes") == 0)
			kc_html_raw(b, "<li class=\"ok\">Stock management on</li>");
		else if (ms != NULL && strcmp(ms, "no") == 0)
			kc_html_raw(b, "<li class=\"bad\">Stock management is off: turn on "
			    "WooCommerce, Settings, Products, Inventory, Manage stock</li>");
		else
			kc_html_raw(b, "<li class=\"warn\">Stock management: unknown</li>");
	}
	kc_html_f(b, "</ul><p class=\"muted\">%s</p></div>",
	    p->cfg.woo_url ? p->cfg.woo_url : "woo_url is not set");
}

static void
section_connection(struct kc_buf *b, struct page *p)
{
	json_t *k = kv_json(p, "check:keycrm"), *w = kv_json(p, "check:woo");
	double t = json_number_value(json_object_get(k, "t"));
	double tw = json_number_value(json_object_get(w, "t"));

	kc_html_raw(b, "<section class=\"card\" id=\"connection\"><h2>Connection</h2>");
	if (tw < t)
		t = tw;
	if (t > 0) {
		kc_html_raw(b, "<p class=\"muted\">Last checked ");
		html_when(b, t, p->now);
		kc_html_raw(b, ".</p>");
	}
	kc_html_raw(b, "<div class=\"grid\">");
	connection_box_keycrm(b, p, k);
	connection_box_woo(b, p, w);
	kc_html_raw(b, "</div><div class=\"actions\">");
	action_button(b, p, "check", "Check connections", 0);
	kc_html_raw(b, "</div></section>");
	json_decref(k);
	json_decref(w);
}

static void
section_setup(struct kc_buf *b, struct page *p)
{
	char masked[64], wh[32];
	struct kc_buf u;

	kc_buf_init(&u);
	kc_config_value_text(&p->cfg, KC_KEY_KEYCRM_WAREHOUSE_ID, wh, sizeof(wh));
	kc_html_raw(b, "<section class=\"card\" id=\"setup\"><h2>Setup</h2>"
	    "<h3>1. Webhook in KeyCRM</h3>");
	if (p->cfg.webhook_secret != NULL) {
		kc_mask_secret(p->cfg.webhook_secret, masked, sizeof(masked));
		webhook_url(p, masked, 0, &u);
		kc_html_f(b, "<p>In KeyCRM, add a stock webhook that posts to:</p>"
		    "<pre><code>%s</code></pre>", u.data);
		kc_buf_reset(&u);
	} else {
		kc_html_f(b, "<p><span class=\"badge bad\">not set</span> webhook_secret is "
		    "missing from %s. Add a line <code>webhook_secret = </code> followed by at "
		    "least 32 random letters and digits, then reload this page.</p>", p->cfg.path);
	}
	if (wh[0] != '\0')
		kc_html_f(b, "<p>The webhook must watch warehouse <strong>%s</strong>, the one "
		    "keycrm_warehouse_id names: the sync writes the shop's stock there, and "
		    "KeyCRM reports that warehouse's changes back.</p>", wh);
	else
		kc_html_raw(b, "<p>The webhook must watch the same warehouse that "
		    "keycrm_warehouse_id names; set it under Settings first.</p>");
	kc_html_raw(b, "<h3>2. Crontab line</h3>");
	if (p->cfg.sync_token != NULL) {
		kc_mask_secret(p->cfg.sync_token, masked, sizeof(masked));
		cron_line(p, masked, 0, &u);
		kc_html_f(b, "<p>Run a sync every 15 minutes (for example in www-data's "
		    "crontab):</p><pre><code>%s</code></pre>", u.data);
	} else {
		kc_html_f(b, "<p><span class=\"badge bad\">not set</span> sync_token is missing "
		    "from %s. Add a line <code>sync_token = </code> followed by at least 32 "
		    "random letters and digits, then reload this page.</p>", p->cfg.path);
	}
	if (p->cfg.webhook_secret != NULL || p->cfg.sync_token != NULL) {
		kc_html_raw(b, "<p class=\"muted\">The secrets are shown masked. Show them whole "
		    "to copy the lines (once, on a page the browser does not keep):</p>"
		    "<div class=\"actions\">");
		show_button(b, p);
		kc_html_raw(b, "</div>");
	}
	kc_html_raw(b, "</section>");
	kc_buf_free(&u);
}

static void
select_field(struct kc_buf *b, const struct page *p, enum kc_key key,
    const char *label, const char *const *options, const char *const *labels,
    const char *hint)
{
	const char *name = kc_config_key_name(key);
	char cur[64];
	int here = p->cfg.source[key] == KC_SRC_SETTINGS;

	kc_config_value_text(&p->cfg, key, cur, sizeof(cur));
	kc_html_f(b, "<div class=\"field\"><label for=\"%s\">%s", name, label);
	source_badge(b, p->cfg.source[key], 0);
	kc_html_f(b, "</label><select id=\"%s\" name=\"%s\">", name, name);
	/* "Not set here" leaves the key to the configuration file. */
	kc_html_f(b, "<option value=\"\"%s>As in the configuration file (%s)</option>",
	    here ? "" : " selected", here ? "default" : cur);
	for (int i = 0; options[i] != NULL; i++)
		kc_html_f(b, "<option value=\"%s\"%s>%s</option>", options[i],
		    here && strcmp(cur, options[i]) == 0 ? " selected" : "", labels[i]);
	kc_html_f(b, "</select><p class=\"hint\">%s</p></div>", hint);
}

/* The shop's REST key: replaceable here, so a revoked key needs no SSH. */
static void
section_settings_woo_key(struct kc_buf *b, const struct page *p)
{
	const enum kc_source src = p->cfg.source[KC_KEY_WOO_CONSUMER_KEY];
	char masked[64];

	kc_mask_secret(p->cfg.woo_consumer_secret, masked, sizeof(masked));
	kc_html_raw(b, "<div class=\"field\"><label for=\"woo_consumer_key\">"
	    "WooCommerce REST key");
	source_badge(b, src, p->cfg.woo_consumer_key == NULL);
	kc_html_f(b, "</label><input type=\"text\" id=\"woo_consumer_key\" "
	    "name=\"woo_consumer_key\" value=\"\" autocomplete=\"off\" spellcheck=\"false\" "
	    "placeholder=\"ck_...\"><input type=\"password\" id=\"woo_consumer_secret\" "
	    "name=\"woo_consumer_secret\" value=\"\" autocomplete=\"new-password\" "
	    "spellcheck=\"false\" placeholder=\"cs_...\" aria-label=\"Consumer secret\">"
	    "<p class=\"hint\">");
	if (p->cfg.woo_consumer_key != NULL)
		kc_html_f(b, "Current key: <code>%s</code>, secret %s. Leave both empty to "
		    "keep it.", p->cfg.woo_consumer_key, masked[0] ? masked : "not set");
	else
		kc_html_raw(b, "No key is set.");
	kc_html_raw(b, " A new key (Read/Write, from WooCommerce, Settings, Advanced, REST "
	    "API) is checked with the shop before it is saved.</p>");
	if (src == KC_SRC_SETTINGS)
		kc_html_raw(b, "<label class=\"check\"><input type=\"checkbox\" "
		    "name=\"forget_woo_key\" value=\"1\"> Remove the key saved here "
		    "(use the configuration file's)</label>");
	kc_html_raw(b, "</div>");
}

static void
section_settings(struct kc_buf *b, const struct page *p)
{
	static const char *const yesno[] = { "yes", "no", NULL };
	static const char *const yesno_l[] = { "yes: shop stock = in stock - reserve",
	    "no: shop stock = in stock", NULL };
	static const char *const manage[] = { "skip", "enable", NULL };
	static const char *const manage_l[] = { "skip them",
	    "enable stock management on them", NULL };
	const enum kc_source ksrc = p->cfg.source[KC_KEY_KEYCRM_API_KEY];
	const enum kc_source wsrc = p->cfg.source[KC_KEY_KEYCRM_WAREHOUSE_ID];
	char masked[64], wh[32];

	kc_mask_secret(p->cfg.keycrm_api_key, masked, sizeof(masked));
	kc_config_value_text(&p->cfg, KC_KEY_KEYCRM_WAREHOUSE_ID, wh, sizeof(wh));
	kc_html_f(b, "<section class=\"card\" id=\"settings\"><h2>Settings</h2>"
	    "<p class=\"muted\">Saved to %s/" KC_SETTINGS_FILE ", which overrides these "
	    "keys of %s. Each shows where its value comes from.</p>"
	    "<form method=\"post\" action=\"%s\" autocomplete=\"off\">",
	    p->cfg.state_dir, p->cfg.path, p->self);
	csrf_field(b, p);
	kc_html_raw(b, "<input type=\"hidden\" name=\"action\" value=\"save\">"
	    "<div class=\"field\"><label for=\"keycrm_api_key\">KeyCRM API key");
	source_badge(b, ksrc, masked[0] == '\0');
	kc_html_f(b, "</label><input type=\"password\" id=\"keycrm_api_key\" "
	    "name=\"keycrm_api_key\" value=\"\" autocomplete=\"new-password\" "
	    "spellcheck=\"false\" placeholder=\"%s\"><p class=\"hint\">%s%s%s "
	    "A new key is checked with KeyCRM before it is saved.</p>",
	    masked[0] ? "leave empty to keep the current key" : "paste the key from KeyCRM",
	    masked[0] ? "Current key: " : "No key is set.", masked,
	    masked[0] ? ". Leave the field empty to keep it." : "");
	if (ksrc == KC_SRC_SETTINGS)
		kc_html_raw(b, "<label class=\"check\"><input type=\"checkbox\" "
		    "name=\"forget_api_key\" value=\"1\"> Remove the key saved here "
		    "(use the configuration file's)</label>");
	kc_html_raw(b, "</div><div class=\"field\"><label for=\"keycrm_warehouse_id\">"
	    "KeyCRM warehouse id");
	source_badge(b, wsrc, wh[0] == '\0');
	kc_html_f(b, "</label><input type=\"text\" id=\"keycrm_warehouse_id\" "
	    "name=\"keycrm_warehouse_id\" inputmode=\"numeric\" value=\"%s\" "
	    "placeholder=\"%s\"><p class=\"hint\">The warehouse the shop's stock is written "
	    "to (KeyCRM, Settings, Warehouses: the number in its address). Empty: as in "
	    "the configuration file%s%s%s. A new id is checked against KeyCRM's stock "
	    "list before it is saved.</p><label class=\"check\"><input type=\"checkbox\" "
	    "name=\"warehouse_unlisted\" value=\"yes\"> The id is right although KeyCRM's "
	    "stock list does not show it yet: save it anyway</label></div>",
	    wsrc == KC_SRC_SETTINGS ? wh : "", wsrc == KC_SRC_SETTINGS || !wh[0] ?
	    "" : wh, wsrc != KC_SRC_SETTINGS && wh[0] ? " (" : "",
	    wsrc != KC_SRC_SETTINGS ? wh : "", wsrc != KC_SRC_SETTINGS && wh[0] ? ")" : "");
	section_settings_woo_key(b, p);
	select_field(b, p, KC_KEY_SUBTRACT_RESERVE, "Subtract KeyCRM's reserve",
	    yesno, yesno_l, "Whether goods reserved in KeyCRM count as sold in the shop.");
	select_field(b, p, KC_KEY_MANAGE_STOCK, "Products that do not manage stock",
	    manage, manage_l, "What to do with shop products whose stock is not managed.");
	kc_html_raw(b, "<div class=\"actions\"><button type=\"submit\" class=\"primary\">"
	    "Save settings</button></div></form></section>");
}

/* The product's page in wp-admin (the parent's for a variation). */
static void
product_link(struct kc_buf *b, struct page *p, const char *sku)
{
	long long id, parent;
	struct kc_buf url;
	char name[256];

	if (!p->have_store || p->cfg.woo_url == NULL ||
	    kc_store_problem_product(&p->st, sku, &id, &parent, name, sizeof(name)) != 0) {
		kc_html_raw(b, "<span class=\"muted\">not looked up yet</span>");
		return;
	}
	kc_buf_init(&url);
	kc_buf_addf(&url, "%s/wp-admin/post.php?post=%lld&action=edit", p->cfg.woo_url,
	    parent > 0 ? parent : id);
	if (name[0] == '\0')
		snprintf(name, sizeof(name), "%s", parent > 0 ? "variation" : "product");
	kc_html_f(b, "<a href=\"%s\">%s</a> ", url.data, name);
	if (parent > 0)
		kc_html_f(b, "<span class=\"muted\">(variation %lld of product %lld)</span>",
		    id, parent);
	else
		kc_html_f(b, "<span class=\"muted\">(product %lld)</span>", id);
	kc_buf_free(&url);
}

static void
problem_table(struct kc_buf *b, struct page *p, const struct kc_status_problems *pr,
    const char *kind, const char *id, const char *title, const char *why)
{
	char last[64];

	kc_html_f(b, "<details id=\"%s\"%s><summary>%s <span class=\"badge%s\">%ld</span>"
	    "</summary><p class=\"muted\">%s</p>", id, pr->total > 0 ? " open" : "", title,
	    pr->total > 0 ? " warn" : "", pr->total, why);
	if (pr->total == 0) {
		kc_html_raw(b, "<p>None.</p></details>");
		return;
	}
	kc_html_raw(b, "<table class=\"cards\"><thead><tr><th>SKU</th><th>In the shop</th>"
	    "<th>Why</th><th class=\"num\">Times</th><th>Last seen</th><th></th></tr></thead><tbody>");
	for (size_t i = 0; i < pr->n; i++) {
		const struct kc_status_problem *it = &pr->items[i];
		format_ago(it->last_seen, p->now, last, sizeof(last));
		kc_html_f(b, "<tr><td data-label=\"SKU\"><code>%s</code></td>"
		    "<td data-label=\"In the shop\">", it->sku ? it->sku : "");
		product_link(b, p, it->sku ? it->sku : "");
		kc_html_f(b, "</td><td data-label=\"Why\">%s</td><td data-label=\"Times\" "
		    "class=\"num\">%ld</td><td data-label=\"Last seen\">%s</td>"
		    "<td data-label=\"\"><form method=\"post\" action=\"%s\">"
		    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
		    "<input type=\"hidden\" name=\"kind\" value=\"%s\">"
		    "<input type=\"hidden\" name=\"sku\" value=\"%s\">"
		    "<button type=\"submit\" name=\"action\" value=\"dismiss\">Dismiss</button>"
		    "</form></td></tr>", it->detail ? it->detail : "", it->count, last, p->self,
		    p->token, kind, it->sku ? it->sku : "");
	}
	kc_html_raw(b, "</tbody></table>");
	if (pr->total > (long)pr->n)
		kc_html_f(b, "<p class=\"muted\">And %ld more.</p>", pr->total - (long)pr->n);
	kc_html_raw(b, "</details>");
}

static void
section_problems(struct kc_buf *b, struct page *p, const struct kc_status *s)
{
	kc_html_raw(b, "<section class=\"card\" id=\"problems\"><h2>Problems</h2>"
	    "<p class=\"muted\">A dismissed row comes back if the problem is seen again. "
	    "A complete full sync run drops duplicates and skipped products it no longer "
	    "sees; a complete comparison rebuilds the list of shop SKUs KeyCRM does not have.</p>");
	problem_table(b, p, &s->problems[KC_PROBLEM_UNMATCHED], "unmatched", "problems-unmatched",
	    "In KeyCRM, not in the shop",
	    "KeyCRM reported these SKUs, but no shop product has them, so their stock is not set anywhere. Add the SKU to the product in the shop, or ignore it.");
	problem_table(b, p, &s->problems[KC_PROBLEM_NOT_IN_KEYCRM], "not_in_keycrm",
	    "problems-not-in-keycrm", "In the shop, not in KeyCRM",
	    "The shop has these SKUs, but KeyCRM has no offer with them, so their stock is not sent. Add the offer in KeyCRM with the same SKU.");
	problem_table(b, p, &s->problems[KC_PROBLEM_DUPLICATE], "duplicate", "problems-duplicate",
	    "Duplicated SKUs",
	    "Several shop products share these SKUs. KeyCRM's quantity is written to every one of them; a sync sends KeyCRM the quantity of the first one it reads (the lowest id). Give each product its own SKU.");
	problem_table(b, p, &s->problems[KC_PROBLEM_SKIPPED], "skipped", "problems-skipped",
	    "Skipped products",
	    "Products with a SKU that cannot take a quantity: no stock management, or stock managed by the parent product.");
	problem_table(b, p, &s->problems[KC_PROBLEM_FAILED], "failed", "problems-failed",
	    "Failed writes",
	    "The shop refused these writes; they are tried again on the next run.");
	kc_html_raw(b, "</section>");
}

static void
section_history(struct kc_buf *b, const struct page *p, const struct kc_status *s)
{
	static const char *const what[KC_RUN__MAX] = {
		[KC_RUN_WEBHOOK] = "Webhook", [KC_RUN_APPLY] = "Applied to shop",
		[KC_RUN_SYNC] = "Sync run", [KC_RUN_PULL] = "Backfill",
	};
	char took[64];
	struct kc_buf counts;

	kc_html_raw(b, "<section class=\"card\" id=\"history\"><h2>History</h2>");
	if (s->nhistory == 0) {
		kc_html_raw(b, "<p>Nothing has happened yet.</p></section>");
		return;
	}
	kc_buf_init(&counts);
	kc_html_raw(b, "<table class=\"cards\"><thead><tr><th>When</th><th>What</th>"
	    "<th class=\"num\">Took</th><th>Result</th></tr></thead><tbody>");
	for (size_t i = 0; i < s->nhistory; i++) {
		const struct kc_status_run *r = &s->history[i];
		format_duration(r->finished_at > 0 ? r->finished_at - r->started_at : -1,
		    took, sizeof(took));
		kc_buf_reset(&counts);
		run_counts(r, &counts);
		kc_html_raw(b, "<tr><td data-label=\"When\">");
		html_when(b, r->started_at, p->now);
		kc_html_f(b, "</td><td data-label=\"What\">%s</td>"
		    "<td data-label=\"Took\" class=\"num\">%s</td><td data-label=\"Result\">%s",
		    what[r->kind], took, counts.data);
		if (r->error != NULL)
			kc_html_f(b, "<br><span class=\"badge bad\">error</span> %s", r->error);
		kc_html_raw(b, "</td></tr>");
	}
	kc_html_raw(b, "</tbody></table></section>");
	kc_buf_free(&counts);
}

static void
section_configuration(struct kc_buf *b, const struct page *p)
{
	char v[1100];

	kc_html_f(b, "<section class=\"card\" id=\"configuration\"><h2>Configuration</h2>"
	    "<details><summary>All keys</summary><p class=\"muted\">From %s and, for the "
	    "keys above, " KC_SETTINGS_FILE ". Secrets are masked.</p>"
	    "<table class=\"cards\"><thead><tr><th>Key</th><th>Value</th><th>From</th>"
	    "</tr></thead><tbody>", p->cfg.path);
	for (int k = 0; k < KC_KEY__MAX; k++) {
		shown_value(&p->cfg, (enum kc_key)k, v, sizeof(v));
		kc_html_f(b, "<tr><td data-label=\"Key\"><code>%s</code></td>"
		    "<td data-label=\"Value\">%s</td><td data-label=\"From\">",
		    kc_config_key_name((enum kc_key)k), v[0] ? v : "(not set)");
		source_badge(b, p->cfg.source[k], v[0] == '\0');
		kc_html_raw(b, "</td></tr>");
	}
	kc_wipe(v, sizeof(v));
	kc_html_raw(b, "</tbody></table></details></section>");
}

static void
number_text(json_t *v, char *out, size_t outsz)
{
	if (json_is_number(v))
		snprintf(out, outsz, "%g", json_number_value(v));
	else
		kc_strlcpy(out, "", outsz);
}

/* Whether any row of the plan knows KeyCRM's quantity now. */
static int
plan_knows_keycrm(json_t *plan)
{
	size_t i;
	json_t *it;

	json_array_foreach(plan, i, it)
		if (json_is_number(json_object_get(it, "keycrm")))
			return 1;
	return 0;
}

static void
plan_table(struct kc_buf *b, json_t *plan, long total)
{
	size_t i;
	json_t *it;
	int now = plan_knows_keycrm(plan);

	kc_html_f(b, "<h3>The plan: %ld %s to send</h3>", total,
	    plural(total, "SKU", "SKUs"));
	if (json_array_size(plan) == 0) {
		kc_html_raw(b, "<p>Nothing would be sent: no shop quantity changed since both "
		    "sides last agreed. (Compare shows where the two sides differ.)</p>");
		return;
	}
	kc_html_raw(b, "<table class=\"cards\" id=\"plan\"><thead><tr><th>SKU</th>"
	    "<th class=\"num\">In the shop</th>");
	if (now)
		kc_html_raw(b, "<th class=\"num\">KeyCRM now &rarr; will be</th>");
	else
		kc_html_raw(b, "<th class=\"num\">To send to KeyCRM</th>");
	kc_html_raw(b, "</tr></thead><tbody>");
	json_array_foreach(plan, i, it) {
		char shop[32], send[32], was[32];
		json_t *sv = json_object_get(it, "shop"), *dv = json_object_get(it, "send");
		if (i >= PLAN_SHOW)
			break;
		number_text(sv, shop, sizeof(shop));
		number_text(dv, send, sizeof(send));
		number_text(json_object_get(it, "keycrm"), was, sizeof(was));
		kc_html_f(b, "<tr><td data-label=\"SKU\"><code>%s</code></td>"
		    "<td data-label=\"In the shop\" class=\"num\">%s</td>",
		    json_string_value(json_object_get(it, "sku")) ?
		    json_string_value(json_object_get(it, "sku")) : "", shop);
		if (now)
			kc_html_f(b, "<td data-label=\"KeyCRM\" class=\"num\">%s &rarr; %s</td></tr>",
			    was[0] ? was : "?", send);
		else
			kc_html_f(b, "<td data-label=\"To send\" class=\"num\">%s</td></tr>", send);
	}
	kc_html_raw(b, "</tbody></table>");
	if (total > (long)i)
		kc_html_f(b, "<p class=\"muted\">And %ld more.</p>", total - (long)i);
}

static void
show_flash(struct kc_buf *b, struct page *p, const char *id)
{
	json_t *rec;
	const char *level, *text;

	if (id != NULL && strcmp(id, "lost") == 0) {
		kc_html_raw(b, "<div class=\"notice warn\" role=\"status\"><p>Done, but the "
		    "result could not be kept to show here; the web server's error log has "
		    "it.</p></div>");
		return;
	}
	rec = flash_take(p, id);
	if (rec == NULL)
		return;
	level = json_string_value(json_object_get(rec, "level"));
	text = json_string_value(json_object_get(rec, "text"));
	kc_html_f(b, "<div class=\"notice %s\" role=\"status\" id=\"result\"><p>%s</p>",
	    level && strspn(level, "abcdefghijklmnopqrstuvwxyz") == strlen(level) ?
	    level : "info", text ? text : "");
	if (json_is_array(json_object_get(rec, "plan")))
		plan_table(b, json_object_get(rec, "plan"),
		    (long)json_integer_value(json_object_get(rec, "plan_total")));
	kc_html_raw(b, "</div>");
	json_decref(rec);
}

static void
render(struct page *p)
{
	struct kc_status s;
	int have_status = 0, pending = 0;
	struct kc_buf b;

	kc_buf_init(&b);
	if (p->have_store && kc_status_read(&p->st, HISTORY_ROWS, PROBLEM_ROWS, &s,
	    &p->store_err) == 0)
		have_status = 1;
	kc_html_raw(&b, "<h1>KeyCRM stock sync</h1>");
	if (!p->https)
		kc_html_raw(&b, "<div class=\"notice warn\"><p>This page is served over plain "
		    "HTTP: HTTP Basic auth sends your password readable on the network. "
		    "Serve the site over HTTPS.</p></div>");
	if (!p->have_csrf)
		kc_html_f(&b, "<div class=\"notice bad\"><p>The page's forms cannot work: %s</p></div>",
		    p->csrf_err.msg);
	show_flash(&b, p, kc_request_param(p->req, "m"));
	section_status(&b, p, have_status ? &s : NULL);
	/* The choice means something once both sides can be reached. */
	pending = have_status && kc_fi_pending(&p->st, s.first_install);
	if (pending && p->cfg.woo_url != NULL && p->cfg.keycrm_api_key != NULL)
		section_first_install(&b, p);
	section_connection(&b, p);
	section_setup(&b, p);
	section_settings(&b, p);
	if (have_status) {
		section_problems(&b, p, &s);
		if (!pending)
			section_push_again(&b, p);
		section_history(&b, p, &s);
		kc_status_free(&s);
	}
	section_configuration(&b, p);
	send_html(p->req, 200, "Settings", p->user, &b);
	kc_buf_free(&b);
}

/* --- requests ------------------------------------------------------------ */

static const struct action {
	const char *name;
	void (*run)(struct page *, const struct kc_form *, struct flash *);
} actions[] = {
	{ "check", act_check },
	{ "save", act_save },
	{ "sync", act_sync },
	{ "dry_run", act_dry_run },
	{ "backfill", act_backfill },
	{ "push_all", act_push_all },
	{ "compare", act_compare },
	{ "first_keep", act_first_keep },
	{ "dismiss", act_dismiss },
};

static void
handle_post(struct page *p)
{
	struct kc_form form = { 0 };
	struct kc_error err = { { 0 } };
	const char *ctype = kc_request_env(p->req, "CONTENT_TYPE");
	const char *name;
	char query[64];
	int status;

	status = kc_request_read_body(p->req, BODY_MAX, 1, &err);
	if (status != 0) {
		send_message(p, status, "Bad request", err.msg);
		return;
	}
	if (ctype == NULL || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0 ||
	    kc_form_parse(&form, p->req->body, p->req->body_len, &err) != 0) {
		kc_form_free(&form);
		send_message(p, 400, "Bad request", "The form could not be read. Reload the page and try again.");
		return;
	}
	if (!p->have_csrf) {
		kc_form_free(&form);
		send_message(p, 500, "Forms are not available", p->csrf_err.msg);
		return;
	}
	if (!kc_csrf_check(&p->csrf, p->user, kc_form_get(&form, "csrf"), (int64_t)p->now)) {
		kc_log(KC_LOG_WARN, "settings: refused a form from %s without a valid token",
		    p->user);
		send_message(p, 403, "Form expired or not from this page",
		    "The form did not carry this page's token: it was open for too long, or "
		    "it came from another site. Nothing was changed. Reload the page and try again.");
		kc_form_free(&form);
		return;
	}
	name = kc_form_get(&form, "action");
	if (name != NULL && strcmp(name, "show") == 0) {
		act_show(p, &form);
		kc_form_free(&form);
		return;
	}
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		struct flash f;
		if (name == NULL || strcmp(name, actions[i].name) != 0)
			continue;
		flash_init(&f);
		actions[i].run(p, &form, &f);
		kc_log(KC_LOG_INFO, "settings: %s: %s: %s", p->user, name,
		    f.text.data ? f.text.data : "");
		flash_store(p, &f, query, sizeof(query));
		flash_free(&f);
		kc_form_free(&form);
		send_redirect(p, query);
		return;
	}
	kc_form_free(&form);
	send_message(p, 400, "Bad request", "The page does not know that action.");
}

/*
 * Without REMOTE_USER the web server did not authenticate anyone, so the
 * page shows nothing of the installation, only how to protect it.
 */
static void
send_unprotected(struct kc_request *req)
{
	struct kc_buf b;

	kc_buf_init(&b);
	kc_html_raw(&b, "<h1>This page needs a login</h1><div class=\"card\">"
	    "<p>The settings page shows the shop's and KeyCRM's connection details, so it "
	    "only works behind the web server's login. The web server did not say who you "
	    "are (there is no REMOTE_USER), so nothing is shown.</p>"
	    "<h3>Protect it with HTTP Basic auth, as the example configs do</h3>"
	    "<p>Create a password file:</p><pre><code>htpasswd -cB /etc/keycrm-sync/htpasswd admin\n"
	    "chown root:www-data /etc/keycrm-sync/htpasswd\n"
	    "chmod 0640 /etc/keycrm-sync/htpasswd</code></pre>"
	    "<p>nginx (<code>nginx-example.conf</code>), in <code>location = /keycrm/settings</code>:</p>"
	    "<pre><code>auth_basic \"keycrm-sync settings\";\n"
	    "auth_basic_user_file /etc/keycrm-sync/htpasswd;\n"
	    "set $keycrm_settings_user $remote_user;\n"
	    "fastcgi_param REMOTE_USER $keycrm_settings_user;\n"
	    "include fastcgi_params;</code></pre>"
	    "<p>nginx takes the user name from any <code>Authorization</code> header, "
	    "checked or not: without <code>auth_basic</code> anyone could claim a name. "
	    "Passing REMOTE_USER from a variable that only the login lines define makes "
	    "nginx refuse to start if they are removed.</p>"
	    "<p>Apache (<code>apache-example.conf</code>), in <code>&lt;Files \"settings.cgi\"&gt;</code>:</p>"
	    "<pre><code>AuthType Basic\nAuthName \"keycrm-sync settings\"\n"
	    "AuthBasicProvider file\nAuthUserFile /etc/keycrm-sync/htpasswd\n"
	    "Require valid-user</code></pre>"
	    "<p>Serve the site over HTTPS: Basic auth sends the password with every request.</p>"
	    "</div>");
	send_html(req, 403, "Login required", NULL, &b);
	kc_buf_free(&b);
}

/* The configuration is broken: the administrator sees why (SPEC 2). */
static void
send_config_error(struct kc_request *req, const char *user, const char *path,
    const char *why)
{
	struct kc_buf b;

	kc_buf_init(&b);
	kc_html_f(&b, "<h1>Configuration error</h1><div class=\"notice bad\"><p>%s</p></div>"
	    "<div class=\"card\"><p>The programs refuse to run until this is fixed: "
	    "webhooks are answered 500 and sync runs do not start. Edit %s (or the "
	    "settings file the message names) and reload this page.</p></div>", why, path);
	send_html(req, 500, "Configuration error", user, &b);
	kc_buf_free(&b);
}

/* ?download=compare.csv: the last comparison's rows. */
static void
send_download(struct page *p)
{
	struct kc_response resp;
	struct kc_error err = { { 0 } };

	if (strcmp(kc_request_param(p->req, "download"), "compare.csv") != 0) {
		send_message(p, 404, "Not found", "There is no such download.");
		return;
	}
	if (!p->have_store) {
		send_message(p, 500, "State database", p->store_err.msg);
		return;
	}
	kc_response_init(&resp, 200, "text/csv; charset=utf-8");
	security_headers(&resp);
	kc_response_header(&resp, "Content-Disposition",
	    "attachment; filename=\"keycrm-sync-compare.csv\"");
	if (kc_compare_csv(&p->st, &resp.body, &err) != 0)
		send_message(p, 500, "The comparison cannot be read", err.msg);
	else
		kc_response_send(p->req, &resp);
	kc_response_free(&resp);
}

static int
is_method(const struct kc_request *req, const char *m)
{
	return strcmp(req->method, m) == 0;
}

void
kc_settings_handle(struct kc_request *req, struct kc_job *job)
{
	struct page p;
	struct kc_error err = { { 0 } };

	if (!is_method(req, "GET") && !is_method(req, "HEAD") && !is_method(req, "POST")) {
		struct kc_response resp;
		kc_response_init(&resp, 405, "text/plain; charset=utf-8");
		security_headers(&resp);
		kc_response_header(&resp, "Allow", "GET, HEAD, POST");
		kc_buf_adds(&resp.body, "use GET or POST\n");
		kc_response_send(req, &resp);
		kc_response_free(&resp);
		return;
	}
	if (req->remote_user == NULL) {
		send_unprotected(req);
		return;
	}
	memset(&p, 0, sizeof(p));
	p.req = req;
	p.user = req->remote_user;
	p.now = kc_now();
	locate(&p);
	if (kc_config_load(&p.cfg, job->config_path, &err) != 0) {
		kc_log(KC_LOG_ERROR, "configuration error: %s", err.msg);
		send_config_error(req, p.user, job->config_path, err.msg);
		return;
	}
	p.have_store = kc_store_open(&p.st, p.cfg.state_dir, &p.store_err) == 0;
	p.have_csrf = kc_csrf_init(&p.csrf, p.cfg.state_dir, &p.csrf_err) == 0;
	if (p.have_csrf)
		kc_csrf_token(&p.csrf, p.user, (int64_t)p.now, p.token);
	if (is_method(req, "POST"))
		handle_post(&p);
	else if (kc_request_param(req, "download") != NULL)
		send_download(&p);
	else
		render(&p);
	kc_csrf_clear(&p.csrf);
	if (p.have_store)
		kc_store_close(&p.st);
	kc_config_free(&p.cfg);
}
