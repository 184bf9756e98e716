/*
 * settings_page.c - see settings_page.h.  The dispatcher: who may see the
 * page, which action a POST names (one table), which sections a GET shows
 * (one list).  Everything else is in the page_*.c files (page.h says
 * which holds what).
 */
#include "settings_page.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "compare.h"
#include "html.h"
#include "page.h"
#include "page_time.h"
#include "settings_firstinstall.h"
#include "store_settings.h"

#define DEFAULT_PATH "/keycrm/settings"
#define DEFAULT_PREFIX "/keycrm"

/* --- actions ------------------------------------------------------------- */

/*
 * label: long work, run in the background under that name (page_jobs.c);
 * refused: a check made before it starts.
 */
static const struct action {
	const char *name;
	page_action_fn *run;
	const char *label;
	int (*refused)(struct page *, const struct kc_form *, struct flash *);
} actions[] = {
	{ "check", act_check, NULL, NULL },
	{ "save", act_save, NULL, NULL },
	{ "sync", act_sync, N_("Sync now"), NULL },
	{ "dry_run", act_dry_run, NULL, NULL },
	{ "backfill", act_backfill, N_("Backfill from KeyCRM"), NULL },
	{ "push_all", act_push_all, N_("Push all"), page_push_all_refused },
	{ "compare", act_compare, N_("Compare"), NULL },
	{ "first_keep", act_first_keep, NULL, NULL },
	{ "dismiss", act_dismiss, NULL, NULL },
	{ "shop_connect", act_shop_connect, NULL, NULL },
	{ "shop_recreate", act_shop_connect, NULL, NULL },
	{ "shop_enable", act_shop_enable, NULL, NULL },
	{ "shop_remove", act_shop_remove, NULL, NULL },
};

/* --- sections ------------------------------------------------------------ */

static int
always(const struct page *p)
{
	(void)p;
	return 1;
}

static int
with_status(const struct page *p)
{
	return p->have_status;
}

/* The choice means something once both sides can be reached. */
static int
first_install(const struct page *p)
{
	return p->fi_card;
}

static int
after_first_install(const struct page *p)
{
	return p->have_status && !p->fi_pending;
}

/* ?plan=N: a page of the last dry run's plan. */
static int
plan_asked(const struct page *p)
{
	return kc_request_param(p->req, "plan") != NULL;
}

/*
 * In the order a configured shop shows them: what is wrong first, then
 * what happened, then what rarely changes.  Until both sides are set up,
 * the sections marked setup come right after Status.
 */
static const struct section {
	const char *id;
	page_section_fn *render;
	int (*shown)(const struct page *);
	int setup;			/* first while the shop is not configured */
} sections[] = {
	{ "job", section_job, always, 0 },
	{ "status", section_status, always, 0 },
	{ "plan", section_plan, plan_asked, 0 },
	{ "first-install", section_first_install, first_install, 0 },
	{ "problems", section_problems, with_status, 0 },
	{ "connection", section_connection, always, 1 },
	{ "shop-webhooks", section_shop_webhooks, always, 0 },
	{ "history", section_history, with_status, 0 },
	{ "push-again", section_push_again, after_first_install, 0 },
	{ "settings", section_settings, always, 1 },
	{ "setup", section_setup, always, 1 },
	{ "configuration", section_configuration, always, 0 },
};

#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

static void
render_sections(struct kc_buf *b, struct page *p)
{
	int done[NSECTIONS] = { 0 };

	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < NSECTIONS; i++) {
			/* Pass 0: job, Status; 1: setup while unconfigured; 2: the rest. */
			if (done[i] || (pass == 0 && i > 1) ||
			    (pass == 1 && (p->configured || !sections[i].setup)))
				continue;
			done[i] = 1;
			if (sections[i].shown(p))
				sections[i].render(b, p);
		}
	}
}

/* --- downloads: ?download=NAME ------------------------------------------- */

static int
download_compare(struct page *p, const char *arg, struct kc_buf *out)
{
	struct kc_error err = { { 0 } };

	(void)arg;
	return p->have_store ? kc_compare_csv(&p->st, out, &err) : -1;
}

static int
download_plan(struct page *p, const char *arg, struct kc_buf *out)
{
	(void)arg;
	return page_plan_csv(p, out);
}

static const struct download {
	const char *prefix;		/* the name, or its start before arg */
	const char *file;		/* offered to the browser */
	int (*write)(struct page *, const char *arg, struct kc_buf *);
} downloads[] = {
	{ "compare.csv", "keycrm-sync-compare.csv", download_compare },
	{ "plan.csv", "keycrm-sync-plan.csv", download_plan },
	{ "problems-", "keycrm-sync-problems.csv", page_problems_csv },
};

/* What every request needs to know of the state: is a first install pending. */
static void
read_first_install(struct page *p, size_t history, size_t problems)
{
	if (p->have_store && kc_status_read(&p->st, history, problems, &p->status,
	    &p->store_err) == 0)
		p->have_status = 1;
	p->fi_pending = p->have_status && kc_fi_pending(&p->st, p->status.first_install);
	p->fi_card = p->fi_pending && p->cfg.woo_url != NULL &&
	    p->cfg.keycrm_api_key != NULL;
}

static void
render(struct page *p)
{
	struct kc_buf b;

	kc_buf_init(&b);
	read_first_install(p, 0, PAGE_PROBLEM_ROWS);
	kc_html_f(&b, "<h1>%s</h1>", _("KeyCRM stock sync"));
	if (!p->where.https)
		kc_html_f(&b, "<div class=\"notice warn\"><p>%s</p></div>",
		    _("This page is served over plain HTTP: HTTP Basic auth sends your "
		    "password readable on the network. Serve the site over HTTPS."));
	if (!p->have_csrf) {
		kc_html_raw(&b, "<div class=\"notice bad\"><p>");
		kc_html_f(&b, _("The page's forms cannot work: %s"), p->csrf_err.msg);
		kc_html_raw(&b, "</p></div>");
	}
	if (!p->tz_ok) {
		kc_html_raw(&b, "<div class=\"notice warn\"><p>");
		kc_html_f(&b, _("The time zone %s (the timezone key) is not known here: times are shown in UTC."),
		    p->cfg.timezone ? p->cfg.timezone : "");
		kc_html_raw(&b, "</p></div>");
	}
	flash_show(&b, p, kc_request_param(p->req, "m"));
	p->configured = p->cfg.woo_url != NULL && p->cfg.woo_consumer_key != NULL &&
	    p->cfg.keycrm_api_key != NULL && p->cfg.webhook_secret != NULL &&
	    p->cfg.sync_token != NULL && p->cfg.keycrm_warehouse_id != 0;
	p->healthy = p->configured && page_health(p) <= L_INFO;
	render_sections(&b, p);
	page_send_html_script(p->req, 200, _("Settings"), p->user, &b, p->job_running);
	kc_buf_free(&b);
}

/* --- requests ------------------------------------------------------------ */

static void
handle_post(struct page *p)
{
	struct kc_form form = { 0 };
	struct kc_error err = { { 0 } };
	const char *ctype = kc_request_env(p->req, "CONTENT_TYPE");
	const char *name;
	char query[64];
	int status;

	status = kc_request_read_body(p->req, PAGE_BODY_MAX, 1, &err);
	if (status != 0) {
		page_send_message(p, status, _("Bad request"), err.msg);
		return;
	}
	if (ctype == NULL || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0 ||
	    kc_form_parse(&form, p->req->body, p->req->body_len, &err) != 0) {
		kc_form_free(&form);
		page_send_message(p, 400, _("Bad request"),
		    _("The form could not be read. Reload the page and try again."));
		return;
	}
	if (!p->have_csrf) {
		kc_form_free(&form);
		page_send_message(p, 500, _("Forms are not available"), p->csrf_err.msg);
		return;
	}
	if (!kc_csrf_check(&p->csrf, p->user, kc_form_get(&form, "csrf"), (int64_t)p->now)) {
		kc_log(KC_LOG_WARN, "settings: refused a form from %s without a valid token",
		    p->user);
		page_send_message(p, 403, _("Form expired or not from this page"),
		    _("The form did not carry this page's token: it was open for too long, or "
		    "it came from another site. Nothing was changed. Reload the page and try again."));
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
		read_first_install(p, 0, 0);
		flash_init(&f);
		if (actions[i].refused != NULL && actions[i].refused(p, &form, &f))
			;
		else if (actions[i].label != NULL)
			page_job_start(p, &form, name, _(actions[i].label), actions[i].run, &f);
		else
			actions[i].run(p, &form, &f);
		kc_log(KC_LOG_INFO, "settings: %s: %s: %s", p->user, name,
		    f.text.data ? f.text.data : "");
		flash_store(p, &f, query, sizeof(query));
		flash_free(&f);
		kc_form_free(&form);
		page_send_redirect(p, query);
		return;
	}
	kc_form_free(&form);
	page_send_message(p, 400, _("Bad request"), _("The page does not know that action."));
}

/* ?download=NAME: a table whole, as CSV. */
static void
send_download(struct page *p)
{
	const char *name = kc_request_param(p->req, "download");
	struct kc_response resp;
	char disposition[128], arg[32];

	for (size_t i = 0; i < sizeof(downloads) / sizeof(downloads[0]); i++) {
		const struct download *d = &downloads[i];
		size_t n = strlen(d->prefix);
		if (strncmp(name, d->prefix, n) != 0)
			continue;
		/* "problems-failed.csv": the part between prefix and ".csv". */
		arg[0] = '\0';
		if (d->prefix[n - 1] == '-') {
			size_t m = strlen(name + n);
			if (m < 5 || m - 4 >= sizeof(arg) || strcmp(name + n + m - 4, ".csv") != 0)
				break;
			memcpy(arg, name + n, m - 4);
			arg[m - 4] = '\0';
		} else if (name[n] != '\0') {
			continue;
		}
		kc_response_init(&resp, 200, "text/csv; charset=utf-8");
		page_security_headers(&resp);
		snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s\"", d->file);
		kc_response_header(&resp, "Content-Disposition", disposition);
		if (d->write(p, arg, &resp.body) != 0)
			page_send_message(p, 404, _("Not found"),
			    _("There is nothing to download there (yet)."));
		else
			kc_response_send(p->req, &resp);
		kc_response_free(&resp);
		return;
	}
	page_send_message(p, 404, _("Not found"), _("There is no such download."));
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

	/* The browser's choice, until the configuration is read. */
	kc_i18n_select(NULL, kc_request_env(req, "HTTP_ACCEPT_LANGUAGE"));
	if (!is_method(req, "GET") && !is_method(req, "HEAD") && !is_method(req, "POST")) {
		page_send_method_not_allowed(req);
		return;
	}
	if (req->remote_user == NULL) {
		page_send_unprotected(req);
		return;
	}
	memset(&p, 0, sizeof(p));
	p.req = req;
	p.user = req->remote_user;
	p.now = kc_now();
	kc_request_locate(req, DEFAULT_PATH, "/settings", DEFAULT_PREFIX, &p.where);
	p.self = p.where.self;
	if (kc_config_load(&p.cfg, job->config_path, &err) != 0) {
		kc_log(KC_LOG_ERROR, "configuration error: %s", err.msg);
		page_send_config_error(req, p.user, job->config_path, err.msg);
		return;
	}
	/* Now the configuration can name one: the `language` key wins. */
	kc_i18n_for_request(p.cfg.language,
	    kc_request_env(req, "HTTP_ACCEPT_LANGUAGE"));
	p.tz_ok = page_tz_use(p.cfg.timezone) == 0;
	p.have_store = kc_store_open_config(&p.st, &p.cfg, &p.store_err) == 0;
	/* Several servers: the saved settings and the form key are the database's. */
	if (p.cfg.mysql_host != NULL && p.have_store &&
	    kc_store_settings_apply(&p.st, &p.cfg, &err) != 0) {
		kc_log(KC_LOG_ERROR, "configuration error: %s", err.msg);
		page_send_config_error(req, p.user, job->config_path, err.msg);
		kc_store_close(&p.st);
		page_tz_restore();
		kc_config_free(&p.cfg);
		return;
	}
	if (p.cfg.mysql_host != NULL)
		p.have_csrf = p.have_store &&
		    kc_csrf_init_store(&p.csrf, &p.st, &p.csrf_err) == 0;
	else
		p.have_csrf = kc_csrf_init(&p.csrf, p.cfg.state_dir, &p.csrf_err) == 0;
	if (p.have_csrf)
		kc_csrf_token(&p.csrf, p.user, (int64_t)p.now, p.token);
	if (is_method(req, "POST"))
		handle_post(&p);
	else if (kc_request_param(req, "download") != NULL)
		send_download(&p);
	else if (kc_request_param(req, "job") != NULL)
		page_job_send_card(&p);
	else
		render(&p);
	if (p.have_status)
		kc_status_free(&p.status);
	page_shop_hooks_free(&p);
	kc_csrf_clear(&p.csrf);
	if (p.have_store)
		kc_store_close(&p.st);
	page_tz_restore();
	kc_config_free(&p.cfg);
}
