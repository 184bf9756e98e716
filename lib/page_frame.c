/*
 * page_frame.c - the answer around every page of the settings program:
 * security headers (CSP with the stylesheet's build-time hash), the
 * document head, the top bar, the footer; short message pages, redirects,
 * and the pages shown before the settings can be (no login, broken
 * configuration).
 */
#include "page.h"

#include <stdio.h>
#include <string.h>

#include "html.h"

/* Generated from lib/page.css by tools/embed-css.c (see the Makefile). */
extern const char kc_page_css[], kc_page_css_csp[];
extern const char kc_page_js[], kc_page_js_csp[];

/*
 * Every answer of the page, errors included: no script but page.js (which
 * only refreshes the progress of background work, from this page), nothing
 * loaded from anywhere else, forms post only here, never framed, never
 * cached, never leaking the URL through a Referer.
 */
void
page_security_headers(struct kc_response *resp)
{
	char csp[640];

	snprintf(csp, sizeof(csp), "default-src 'none'; style-src %s; "
	    "script-src %s; connect-src 'self'; img-src 'none'; form-action 'self'; "
	    "frame-ancestors 'none'; base-uri 'none'", kc_page_css_csp, kc_page_js_csp);
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
	if (user != NULL) {
		kc_html_raw(b, "<span class=\"user\">");
		kc_html_f(b, _("Signed in as %s"), user);
		kc_html_raw(b, "</span>");
	}
	kc_html_raw(b, "</div></header>");
}

void
page_send_html(struct kc_request *req, int status, const char *title,
    const char *user, const struct kc_buf *content)
{
	page_send_html_script(req, status, title, user, content, 0);
}

void
page_send_html_script(struct kc_request *req, int status, const char *title,
    const char *user, const struct kc_buf *content, int script)
{
	struct kc_response resp;

	kc_response_init(&resp, status, "text/html; charset=utf-8");
	page_security_headers(&resp);
	kc_html_f(&resp.body, "<!DOCTYPE html>\n<html lang=\"%s\"><head>"
	    "<meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	    "<meta name=\"robots\" content=\"noindex, nofollow\">"
	    "<title>%s - keycrm-sync</title><style>", kc_i18n_code(), title);
	kc_html_raw(&resp.body, kc_page_css);
	kc_html_raw(&resp.body, "</style></head>\n<body>");
	page_bar(&resp.body, user);
	kc_html_raw(&resp.body, "<main class=\"wrap\">");
	kc_buf_add(&resp.body, content->data ? content->data : "", content->len);
	kc_html_f(&resp.body, "</main><footer>%s</footer>",
	    _("keycrm-sync: WooCommerce \xe2\x87\x84 KeyCRM stock"));
	if (script) {
		kc_html_raw(&resp.body, "<script>");
		kc_html_raw(&resp.body, kc_page_js);
		kc_html_raw(&resp.body, "</script>");
	}
	kc_html_raw(&resp.body, "</body></html>\n");
	kc_response_send(req, &resp);
	kc_response_free(&resp);
}

void
page_send_message(struct page *p, int status, const char *title, const char *text)
{
	struct kc_buf b;

	kc_buf_init(&b);
	kc_html_f(&b, "<h1>%s</h1><div class=\"card\"><p>%s</p>"
	    "<p><a href=\"%s\">%s</a></p></div>",
	    title, text, p->self, _("Back to the settings page"));
	page_send_html(p->req, status, title, p->user, &b);
	kc_buf_free(&b);
}

void
page_send_redirect(struct page *p, const char *query)
{
	struct kc_response resp;
	struct kc_buf loc;

	kc_buf_init(&loc);
	kc_buf_adds(&loc, p->self);
	if (query != NULL)
		kc_buf_addf(&loc, "?%s", query);
	kc_response_init(&resp, 303, "text/html; charset=utf-8");
	page_security_headers(&resp);
	kc_response_header(&resp, "Location", loc.data);
	kc_html_f(&resp.body, "<!DOCTYPE html>\n<title>%s</title>"
	    "<p><a href=\"%s\">%s</a></p>\n", _("Done"), loc.data, _("Continue"));
	kc_response_send(p->req, &resp);
	kc_response_free(&resp);
	kc_buf_free(&loc);
}

void
page_send_method_not_allowed(struct kc_request *req)
{
	struct kc_response resp;

	kc_response_init(&resp, 405, "text/plain; charset=utf-8");
	page_security_headers(&resp);
	kc_response_header(&resp, "Allow", "GET, HEAD, POST");
	kc_buf_adds(&resp.body, "use GET or POST\n");
	kc_response_send(req, &resp);
	kc_response_free(&resp);
}

/*
 * Without REMOTE_USER the web server did not authenticate anyone, so the
 * page shows nothing of the installation, only how to protect it.
 */
void
page_send_unprotected(struct kc_request *req)
{
	struct kc_buf b;

	kc_buf_init(&b);
	kc_html_f(&b, "<h1>%s</h1><div class=\"card\"><p>%s</p><h3>%s</h3><p>%s</p>",
	    _("This page needs a login"),
	    _("The settings page shows the shop's and KeyCRM's connection details, so it "
	    "only works behind the web server's login. The web server did not say who you "
	    "are (there is no REMOTE_USER), so nothing is shown."),
	    _("Protect it with HTTP Basic auth, as the example configs do"),
	    _("Create a password file:"));
	kc_html_raw(&b, "<pre><code>htpasswd -cB /etc/keycrm-sync/htpasswd admin\n"
	    "chown root:www-data /etc/keycrm-sync/htpasswd\n"
	    "chmod 0640 /etc/keycrm-sync/htpasswd</code></pre>");
	kc_html_raw(&b, _("<p>nginx (<code>nginx-example.conf</code>), in <code>location = /keycrm/settings</code>:</p>"));
	kc_html_raw(&b, "<pre><code>auth_basic \"keycrm-sync settings\";\n"
	    "auth_basic_user_file /etc/keycrm-sync/htpasswd;\n"
	    "set $keycrm_settings_user $remote_user;\n"
	    "fastcgi_param REMOTE_USER $keycrm_settings_user;\n"
	    "include fastcgi_params;</code></pre>");
	kc_html_raw(&b, _("<p>nginx takes the user name from any <code>Authorization</code> header, "
	    "checked or not: without <code>auth_basic</code> anyone could claim a name. "
	    "Passing REMOTE_USER from a variable that only the login lines define makes "
	    "nginx refuse to start if they are removed.</p>"));
	kc_html_raw(&b, _("<p>Apache (<code>apache-example.conf</code>), in <code>&lt;Files \"settings.cgi\"&gt;</code>:</p>"));
	kc_html_raw(&b, "<pre><code>AuthType Basic\nAuthName \"keycrm-sync settings\"\n"
	    "AuthBasicProvider file\nAuthUserFile /etc/keycrm-sync/htpasswd\n"
	    "Require valid-user</code></pre>");
	kc_html_f(&b, "<p>%s</p></div>",
	    _("Serve the site over HTTPS: Basic auth sends the password with every request."));
	page_send_html(req, 403, _("Login required"), NULL, &b);
	kc_buf_free(&b);
}

/* The configuration is broken: the administrator sees why (SPEC 2). */
void
page_send_config_error(struct kc_request *req, const char *user, const char *path,
    const char *why)
{
	struct kc_buf b;

	kc_buf_init(&b);
	kc_html_f(&b, "<h1>%s</h1><div class=\"notice bad\"><p>%s</p></div>"
	    "<div class=\"card\"><p>", _("Configuration error"), why);
	kc_html_f(&b, _("The programs refuse to run until this is fixed: "
	    "webhooks are answered 500 and sync runs do not start. Edit %s (or the "
	    "settings file the message names) and reload this page."), path);
	kc_html_raw(&b, "</p></div>");
	page_send_html(req, 500, _("Configuration error"), user, &b);
	kc_buf_free(&b);
}
