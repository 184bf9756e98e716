/*
 * page_section_setup.c - the Setup section: the webhook URL KeyCRM must
 * call and the crontab line, with their secrets masked; and the one-use
 * form that shows them whole, once, on an answer nobody keeps.
 */
#include "page.h"

#include <stdio.h>
#include <string.h>

#include "html.h"
#include "store_once.h"

#define SHOW_NONCE_BYTES 16

/* The URL KeyCRM must call; secret NULL or masked as the caller wants. */
void
page_webhook_url(const struct page *p, const char *secret, int encode, struct kc_buf *out)
{
	kc_buf_addf(out, "%s%s/webhook?secret=", p->where.origin, p->where.prefix);
	if (encode)
		kc_html_url_component(out, secret);
	else
		kc_buf_adds(out, secret);
}

static void
sync_url(const struct page *p, const char *token, int encode, struct kc_buf *out)
{
	kc_buf_addf(out, "%s%s/sync?token=", p->where.origin, p->where.prefix);
	if (encode)
		kc_html_url_component(out, token);
	else
		kc_buf_adds(out, token);
}

void
page_cron_line(const struct page *p, const char *token, int encode, struct kc_buf *out)
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

/* What the one-use token is bound to; 0 when it does not fit (then no form). */
static int
show_subject(const struct page *p, const char *nonce, char *who, size_t whosz)
{
	int n = snprintf(who, whosz, "%s\x1fshow\x1f%s", p->user, nonce);

	return n > 0 && (size_t)n < whosz;
}

void
page_show_button(struct kc_buf *b, const struct page *p)
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
	page_csrf_field(b, p);
	kc_html_f(b, "<input type=\"hidden\" name=\"nonce\" value=\"%s\">"
	    "<input type=\"hidden\" name=\"once\" value=\"%s\">"
	    "<button type=\"submit\" name=\"action\" value=\"show\">%s"
	    "</button></form>", nonce, once, _("Show the full URLs"));
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
void
act_show(struct page *p, const struct kc_form *form)
{
	struct kc_buf b, u;

	if (!show_allowed(p, form)) {
		kc_log(KC_LOG_WARN, "settings: refused to show the secrets to %s again "
		    "(a used or foreign form)", p->user);
		page_send_message(p, 403, _("Already shown"),
		    _("This button shows the secrets once. Reload the settings page and press "
		    "it again."));
		return;
	}
	kc_buf_init(&b);
	kc_buf_init(&u);
	kc_html_f(&b, "<h1>%s</h1><div class=\"notice warn\"><p>%s</p></div><div class=\"card\">",
	    _("Webhook URL and cron line"),
	    _("These contain the secrets whole. This answer is not stored by the "
	    "browser; copy what you need, then go back."));
	if (p->cfg.webhook_secret != NULL) {
		page_webhook_url(p, p->cfg.webhook_secret, 1, &u);
		kc_html_f(&b, "<h3>%s</h3><pre><code>%s</code></pre>",
		    _("Webhook URL for KeyCRM"), u.data);
		kc_buf_reset(&u);
	} else {
		kc_html_f(&b, "<p>%s</p>", _("webhook_secret is not set, so there is no webhook URL yet."));
	}
	if (p->cfg.sync_token != NULL) {
		page_cron_line(p, p->cfg.sync_token, 1, &u);
		kc_html_f(&b, "<h3>%s</h3><pre><code>%s</code></pre>", _("Crontab line"), u.data);
	} else {
		kc_html_f(&b, "<p>%s</p>", _("sync_token is not set, so there is no cron line yet."));
	}
	kc_html_f(&b, "<p><a href=\"%s\">%s</a></p></div>", p->self,
	    _("Back to the settings page"));
	kc_log(KC_LOG_INFO, "settings: %s was shown the webhook URL and cron line", p->user);
	page_send_html(p->req, 200, _("Webhook URL and cron line"), p->user, &b);
	kc_wipe(u.data, u.cap);
	kc_wipe(b.data, b.cap);
	kc_buf_free(&u);
	kc_buf_free(&b);
}

void
section_setup(struct kc_buf *b, struct page *p)
{
	char masked[64], wh[32];
	struct kc_buf u;

	kc_buf_init(&u);
	kc_config_value_text(&p->cfg, KC_KEY_KEYCRM_WAREHOUSE_ID, wh, sizeof(wh));
	/* Once everything works, setup is only a reference: folded away. */
	if (p->healthy)
		kc_html_f(b, "<section class=\"card\" id=\"setup\"><details class=\"fold\">"
		    "<summary><h2>%s</h2></summary><h3>%s</h3>", _("Setup"),
		    _("1. Webhook in KeyCRM"));
	else
		kc_html_f(b, "<section class=\"card\" id=\"setup\"><h2>%s</h2><h3>%s</h3>",
		    _("Setup"), _("1. Webhook in KeyCRM"));
	if (p->cfg.webhook_secret != NULL) {
		kc_mask_secret(p->cfg.webhook_secret, masked, sizeof(masked));
		page_webhook_url(p, masked, 0, &u);
		kc_html_f(b, "<p>%s</p><pre><code>%s</code></pre>",
		    _("In KeyCRM, add a stock webhook that posts to:"), u.data);
		kc_buf_reset(&u);
	} else {
		kc_html_f(b, "<p><span class=\"badge bad\">%s</span> ", _("not set"));
		kc_html_f(b, _("webhook_secret is missing from %s. Add a line <code>webhook_secret = </code> "
		    "followed by at least 32 random letters and digits, then reload this page."),
		    p->cfg.path);
		kc_html_raw(b, "</p>");
	}
	kc_html_raw(b, "<p>");
	if (wh[0] != '\0')
		kc_html_f(b, _("The webhook must watch warehouse <strong>%s</strong>, the one "
		    "keycrm_warehouse_id names: the sync writes the shop's stock there, and "
		    "KeyCRM reports that warehouse's changes back."), wh);
	else
		kc_html_f(b, "%s", _("The webhook must watch the same warehouse that "
		    "keycrm_warehouse_id names; set it under Settings first."));
	kc_html_f(b, "</p><h3>%s</h3>", _("2. Crontab line"));
	if (p->cfg.sync_token != NULL) {
		kc_mask_secret(p->cfg.sync_token, masked, sizeof(masked));
		page_cron_line(p, masked, 0, &u);
		kc_html_f(b, "<p>%s</p><pre><code>%s</code></pre>",
		    _("Run a sync every 15 minutes (for example in www-data's crontab):"), u.data);
	} else {
		kc_html_f(b, "<p><span class=\"badge bad\">%s</span> ", _("not set"));
		kc_html_f(b, _("sync_token is missing from %s. Add a line <code>sync_token = </code> "
		    "followed by at least 32 random letters and digits, then reload this page."),
		    p->cfg.path);
		kc_html_raw(b, "</p>");
	}
	if (p->cfg.webhook_secret != NULL || p->cfg.sync_token != NULL) {
		kc_html_f(b, "<p class=\"muted\">%s</p><div class=\"actions\">",
		    _("The secrets are shown masked. Show them whole to copy the lines "
		    "(once, on a page the browser does not keep):"));
		page_show_button(b, p);
		kc_html_raw(b, "</div>");
	}
	kc_html_raw(b, p->healthy ? "</details></section>" : "</section>");
	kc_buf_free(&u);
}
