/*
 * page.h - what the files of the settings page share (private to them):
 * the request's context, the result message of an action (flash), and the
 * small pieces every section uses.  cgit's ui-shared.h plays this part.
 *
 *   settings_page.c         the dispatcher: one table of actions, one list
 *                           of sections
 *   page_frame.c            the answer around a page: headers (CSP), the top
 *                           bar, the footer, short message pages, redirects
 *   page_flash.c            the result message kept for the redirect
 *   page_util.c             formatting of times, counts and form pieces
 *   page_actions_*.c        one function per POST action
 *   page_section_*.c        one renderer per section of the page
 *   page.css                the stylesheet (embedded at build time)
 *
 * Every value from outside goes through html.h's escapers (kc_html_f
 * escapes its %s arguments); every sentence people read goes through _()
 * or kc_ntr() (i18n.h).
 */
#ifndef KC_PAGE_H
#define KC_PAGE_H

#include <jansson.h>

#include "config.h"
#include "csrf.h"
#include "form.h"
#include "i18n.h"
#include "page_pager.h"
#include "request.h"
#include "shop_hooks.h"
#include "store.h"
#include "store_status.h"
#include "util.h"

/*
 * The translated message is a format like its msgid: the compiler checks
 * the arguments against the English text.
 */
const char *kc_tr(const char *msgid) __attribute__((format_arg(1)));
const char *kc_ntr(const char *one, const char *many, unsigned long n)
    __attribute__((format_arg(1), format_arg(2)));

#define PAGE_BODY_MAX 65536		/* the example configs allow 64k */
#define PAGE_HISTORY_ROWS 30
#define PAGE_PROBLEM_ROWS 1		/* the latest of each kind, for Status */
#define PAGE_ROWS 50			/* of a long table, per page */
#define PAGE_SYNC_OVERDUE_S (2 * 3600.0)
#define PAGE_INBOX_SLOW_S (15 * 60.0)
#define PAGE_CHECK_DEADLINE_MS 30000

enum level { L_OK, L_INFO, L_WARN, L_BAD };

extern const char *const page_level_class[];

/* An action's result, shown once on the page after the redirect. */
struct flash {
	enum level level;
	struct kc_buf text;		/* plain text, escaped when shown */
	int plan;			/* a dry run: show its plan (page_plan_keep) */
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
	struct kc_request_origin where;	/* this page's path, prefix, origin */
	const char *self;		/* where.self */
	double now;
	int tz_ok;			/* the timezone key names a known zone */
	/* Read once for the sections (render). */
	struct kc_status status;
	int have_status;
	int fi_pending;			/* the first-install choice is still to make */
	int fi_card;			/* ... and both sides are configured: its card shows */
	int configured;			/* both sides are set up */
	int healthy;			/* nothing needs attention: setup folds away */
	/* Background work reports here (page_jobs.c); NULL in the foreground. */
	void (*progress)(void *ctx, const char *phase, long done, long total);
	void *progress_ctx;
	int job_running;		/* the page shows a running job */
	/* The shop's webhooks, asked once per page (page_shop_hooks()). */
	int shop_hooks_state;		/* 0 not asked, 1 read, -1 failed, 2 not asked: not in use */
	struct kc_shop_hooks *shop_hooks;
	struct kc_error shop_hooks_err;
};

/* --- page_frame.c ----------------------------------------------------- */

/* CSP and the other headers every answer of the page carries. */
void page_security_headers(struct kc_response *resp);
/* A whole page around content (user NULL: nobody is known yet). */
void page_send_html(struct kc_request *req, int status, const char *title,
    const char *user, const struct kc_buf *content);
/* The same with page.js, which refreshes a running job's card. */
void page_send_html_script(struct kc_request *req, int status, const char *title,
    const char *user, const struct kc_buf *content, int script);
/* A short page: a heading, a message (plain text) and a link back. */
void page_send_message(struct page *p, int status, const char *title,
    const char *text);
void page_send_redirect(struct page *p, const char *query);
void page_send_unprotected(struct kc_request *req);
void page_send_config_error(struct kc_request *req, const char *user,
    const char *path, const char *why);
void page_send_method_not_allowed(struct kc_request *req);

/* --- page_flash.c ----------------------------------------------------- */

void flash_init(struct flash *f);
void flash_free(struct flash *f);
/* Adds a sentence; the worst level said wins. */
void flash_say(struct flash *f, enum level level, const char *fmt, ...)
    KC_PRINTF(3, 4);
/* Keeps f for the page; writes the query of the redirect into query. */
void flash_store(struct page *p, const struct flash *f, char *query, size_t qsz);
/* The notice for ?m=id (read once, only by the user it was meant for). */
void flash_show(struct kc_buf *b, struct page *p, const char *id);

/* --- page_util.c ------------------------------------------------------ */

void page_format_when(double t, char *out, size_t outsz);
void page_format_ago(double t, double now, char *out, size_t outsz);
/* "13:04": the time of day, where the site is. */
void page_format_clock(double t, char *out, size_t outsz);
/* "5 min ago (2026-11-27 01:02 UTC)" */
void page_html_when(struct kc_buf *b, double t, double now);
void page_format_duration(double s, char *out, size_t outsz);
/* s with a full stop, unless it already ends a sentence. */
const char *page_period(const char *s);
void page_csrf_field(struct kc_buf *b, const struct page *p);
/* A form with one button that posts action. */
void page_action_button(struct kc_buf *b, const struct page *p,
    const char *action, const char *label, int primary);
/* Where a value comes from; "not set" for a key without a default. */
void page_source_badge(struct kc_buf *b, enum kc_source src, int unset);
/* A configured value as the page may show it: secrets masked. */
void page_shown_value(const struct kc_config *cfg, enum kc_key key, char *out,
    size_t outsz);
/* A form value without surrounding blanks, in out (which holds outsz). */
const char *page_form_value(const struct kc_form *form, const char *name,
    char *out, size_t outsz);
int page_form_says_yes(const struct kc_form *form, const char *name);
/* Previous / "Page 2 of 5" / Next, linking self?query&param=N#anchor. */
void page_pager_nav(struct kc_buf *b, const struct page *p,
    const struct page_pager *pg, const char *query, const char *param,
    const char *anchor);
/* One CSV field (RFC 4180; a leading = + - @ is quoted with a '). */

/* --- page_section_setup.c: the webhook URL and the cron line ----------- */

void page_webhook_url(const struct page *p, const char *secret, int encode,
    struct kc_buf *out);
void page_cron_line(const struct page *p, const char *token, int encode,
    struct kc_buf *out);
/* The one-use "show the full URLs" form. */
void page_show_button(struct kc_buf *b, const struct page *p);

/* --- actions (page_actions_*.c) ---------------------------------------- */

typedef void page_action_fn(struct page *, const struct kc_form *, struct flash *);

page_action_fn act_check, act_save;			/* page_actions_check.c */
page_action_fn act_sync, act_dry_run, act_backfill,	/* page_actions_sync.c */
    act_push_all, act_compare;
page_action_fn act_dismiss, act_first_keep;		/* page_actions.c */
page_action_fn act_shop_connect, act_shop_enable,	/* page_actions_shop.c */
    act_shop_remove;
/* Shows the secrets on an answer of its own (no redirect). */
void act_show(struct page *p, const struct kc_form *form);

/* --- page_jobs.c: long work in the background ------------------------- */

/*
 * Starts run in a detached process and says so in f; or says why not
 * (another job is running).  label names the work for people.
 */
void page_job_start(struct page *p, const struct kc_form *form,
    const char *action, const char *label, page_action_fn *run, struct flash *f);
/* Push all needs a confirmation after the first install; 1 when refused. */
int page_push_all_refused(struct page *p, const struct kc_form *form, struct flash *f);
/* ?job=card: the job's card alone, for page.js. */
void page_job_send_card(struct page *p);

/* --- sections (page_section_*.c) --------------------------------------- */

typedef void page_section_fn(struct kc_buf *, struct page *);

page_section_fn section_job;		/* page_jobs.c */
page_section_fn section_status;		/* page_section_status.c */
/* The worst of the status block's issues (L_OK or L_INFO: healthy). */
enum level page_health(struct page *p);
page_section_fn section_connection;	/* page_section_connection.c */
page_section_fn section_setup;		/* page_section_setup.c */
page_section_fn section_settings;	/* page_section_settings.c */
page_section_fn section_problems;	/* page_section_problems.c */
page_section_fn section_first_install,	/* page_section_problems.c */
    section_push_again;
page_section_fn section_history;	/* page_section_history.c */
page_section_fn section_configuration;	/* page_section_history.c */
page_section_fn section_plan;		/* page_section_plan.c */
page_section_fn section_shop_webhooks;	/* page_section_shop_webhooks.c */
/* Where WooCommerce should deliver to (shop_webhook_url, else this site). */
void page_shop_hooks_url(const struct page *p, char *out, size_t outsz);
/* The shop's webhooks of ours, asked once (p->shop_hooks_state says how it went). */
void page_shop_hooks(struct page *p);
/* Free what page_shop_hooks() read. */
void page_shop_hooks_free(struct page *p);
/* The last dry run's plan, one page of it (page_section_plan.c). */
void page_plan_table(struct kc_buf *b, struct page *p);
/* Keeps a dry run's plan for its pages and CSV. */
void page_plan_keep(struct page *p, json_t *plan);
/* Downloads: ?download=NAME; 0 when NAME was one of these (answered). */
int page_plan_csv(struct page *p, struct kc_buf *out);
int page_problems_csv(struct page *p, const char *kind, struct kc_buf *out);
int page_history_csv(struct page *p, const char *arg, struct kc_buf *out);

/* The status block's list of issues. */
struct issues {
	enum level worst;
	struct kc_buf list;		/* <li> items */
};
void issue(struct issues *is, enum level level, const char *fmt, ...)
    KC_PRINTF(3, 4);
/* The Status section's issues about the shop's webhooks. */
void page_shop_hook_issues(struct page *p, struct issues *is);
/* "12 received, 12 queued" of a history row. */
void page_run_counts(const struct kc_status_run *r, struct kc_buf *out);

#endif
