/*
 * page_actions_sync.c - the actions that run the sync's work: sync now,
 * dry run, backfill, push all, compare; and what their results say.
 */
#include "page.h"

#include <stdio.h>
#include <string.h>

#include "compare.h"
#include "html.h"
#include "settings_firstinstall.h"
#include "sync.h"

#define ERRORS_SHOWN 5

/* An error of a run, as plain text (the shop's error pages are HTML). */
static void
say_errors(struct flash *f, json_t *errors)
{
	char text[1024];
	size_t i;
	json_t *e;

	json_array_foreach(errors, i, e) {
		if (i >= ERRORS_SHOWN) {
			size_t more = json_array_size(errors) - i;
			flash_say(f, L_BAD, kc_ntr("(%zu more error is in the web server's error log.)",
			    "(%zu more errors are in the web server's error log.)", more), more);
			break;
		}
		if (!json_is_string(e))
			continue;
		kc_text_from_markup(json_string_value(e), text, sizeof(text));
		flash_say(f, L_BAD, "%s", text);
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
	struct kc_sync_options o = *opts;
	int rc;

	o.progress = p->progress;
	o.progress_ctx = p->progress_ctx;
	rc = kc_sync_run(&p->cfg, &o, r, &err);

	if (rc == 1 || r->busy) {
		flash_say(f, L_WARN, _("Another sync run is in progress; %s was not started. Try again when it is done."),
		    what);
		return -1;
	}
	if (rc != 0) {
		flash_say(f, L_BAD, _("The %s could not start: %s%s"), what, err.msg,
		    page_period(err.msg));
		return -1;
	}
	kc_log(KC_LOG_INFO, "settings: %s ran a %s", p->user, what);
	return 0;
}

static void
say_incomplete(struct flash *f, const struct kc_sync_result *r, const char *again)
{
	if (!r->complete)
		flash_say(f, L_WARN, _("It stopped after sync_max_seconds (%.0f s) before the end; %s"),
		    r->seconds, again);
}

static void
say_unknown(struct flash *f, long unknown)
{
	if (unknown > 0)
		flash_say(f, L_WARN, kc_ntr("%ld SKU is not known to KeyCRM.",
		    "%ld SKUs are not known to KeyCRM.", (unsigned long)unknown), unknown);
}

void
act_sync(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_sync_options opts = { 0 };
	struct kc_sync_result r;

	(void)form;
	kc_sync_result_init(&r);
	if (run_sync(p, &opts, &r, _("sync run"), f) == 0) {
		flash_say(f, L_OK, kc_ntr("Sync run done in %.1f s: %ld shop item read, %ld changed, %ld sent to KeyCRM.",
		    "Sync run done in %.1f s: %ld shop items read, %ld changed, %ld sent to KeyCRM.",
		    (unsigned long)r.scanned), r.seconds, r.scanned, r.changed, r.sent);
		if (r.applied > 0)
			flash_say(f, L_OK, kc_ntr("%ld report from KeyCRM applied to the shop first.",
			    "%ld reports from KeyCRM applied to the shop first.",
			    (unsigned long)r.applied), r.applied);
		say_unknown(f, r.unknown);
		if (r.held > 0)
			flash_say(f, L_OK, kc_ntr("%ld changed during the run and is left for the next one.",
			    "%ld changed during the run and are left for the next one.",
			    (unsigned long)r.held), r.held);
		if (r.first_run)
			flash_say(f, L_INFO, "%s", _("This was the first run: it recorded the shop's quantities as the starting point and sent nothing."));
		say_incomplete(f, &r, _("the next run goes on from there."));
		say_errors(f, r.errors);
	}
	kc_sync_result_free(&r);
}

void
act_dry_run(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_sync_options opts = { 0 };
	struct kc_sync_result r;

	(void)form;
	opts.dry_run = 1;
	kc_sync_result_init(&r);
	if (run_sync(p, &opts, &r, _("dry run"), f) == 0) {
		size_t n = json_array_size(r.plan);
		flash_say(f, L_OK, kc_ntr("Dry run done in %.1f s: %ld shop item read; ",
		    "Dry run done in %.1f s: %ld shop items read; ", (unsigned long)r.scanned),
		    r.seconds, r.scanned);
		/* The two halves are one sentence: no space between them. */
		kc_buf_addf(&f->text, kc_ntr("%zu SKU would be sent to KeyCRM. Nothing was written anywhere.",
		    "%zu SKUs would be sent to KeyCRM. Nothing was written anywhere.", n), n);
		page_plan_keep(p, r.plan);
		f->plan = 1;
		say_incomplete(f, &r, _("the plan covers what was read until then."));
		say_errors(f, r.errors);
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

void
act_backfill(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_sync_options opts = { 0 };
	struct kc_sync_result r;

	(void)form;
	opts.pull = 1;
	kc_sync_result_init(&r);
	if (run_sync(p, &opts, &r, _("backfill"), f) == 0) {
		flash_say(f, L_OK, kc_ntr("Backfill from KeyCRM done in %.1f s: %ld offer read from KeyCRM, %ld applied to the shop.",
		    "Backfill from KeyCRM done in %.1f s: %ld offers read from KeyCRM, %ld applied to the shop.",
		    (unsigned long)r.pulled), r.seconds, r.pulled, r.applied);
		say_incomplete(f, &r, _("press Backfill again to go on where it stopped."));
		say_errors(f, r.errors);
		record_choice(p, &r, "backfill");
	}
	kc_sync_result_free(&r);
}

void
act_compare(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_compare_options opts = { 0 };
	struct kc_compare_result r;
	struct kc_error err = { { 0 } };
	int rc;

	(void)form;
	opts.progress = p->progress;
	opts.progress_ctx = p->progress_ctx;
	kc_compare_result_init(&r);
	rc = kc_compare_run(&p->cfg, &opts, &r, &err);
	if (rc > 0)
		flash_say(f, L_WARN, "%s", _("A comparison is already running; try again when it is done."));
	else if (rc < 0)
		flash_say(f, L_BAD, _("The comparison could not start: %s%s"), err.msg,
		    page_period(err.msg));
	else if (r.complete)
		flash_say(f, L_OK, _("Compared in %.1f s: %ld equal, %ld different, %ld only in the shop, %ld only in KeyCRM."),
		    r.seconds, r.counts[KC_CMP_EQUAL], r.counts[KC_CMP_DIFFERENT],
		    r.counts[KC_CMP_SHOP_ONLY], r.counts[KC_CMP_KEYCRM_ONLY]);
	else if (json_array_size(r.errors) == 0)
		flash_say(f, L_INFO, _("Comparing: %s page %ld of %ld read when the time limit (sync_max_seconds) or KeyCRM's request limit stopped it. Press Compare again to go on where it stopped."),
		    strcmp(r.phase, "keycrm") == 0 ? "KeyCRM" : _("shop"), r.page, r.pages);
	if (rc == 0)
		say_errors(f, r.errors);
	kc_compare_result_free(&r);
}

int
page_push_all_refused(struct page *p, const struct kc_form *form, struct flash *f)
{
	/* Afterwards it overwrites what KeyCRM changed meanwhile: confirmed. */
	if (!p->fi_pending && !page_form_says_yes(form, "confirm")) {
		flash_say(f, L_WARN, "%s", _("Push all overwrites KeyCRM's quantities with the shop's; tick the confirmation to do it. Nothing was done."));
		return 1;
	}
	return 0;
}

void
act_push_all(struct page *p, const struct kc_form *form, struct flash *f)
{
	struct kc_sync_options opts = { 0 };
	struct kc_sync_result r;

	if (page_push_all_refused(p, form, f))
		return;
	opts.push_all = 1;
	opts.full = 1;
	kc_sync_result_init(&r);
	if (run_sync(p, &opts, &r, _("push of all shop quantities"), f) == 0) {
		flash_say(f, L_OK, kc_ntr("Push all done in %.1f s: %ld shop item read, %ld sent to KeyCRM.",
		    "Push all done in %.1f s: %ld shop items read, %ld sent to KeyCRM.",
		    (unsigned long)r.scanned), r.seconds, r.scanned, r.sent);
		say_unknown(f, r.unknown);
		say_incomplete(f, &r, _("the next sync run goes on from there."));
		say_errors(f, r.errors);
		record_choice(p, &r, "push_all");
	}
	kc_sync_result_free(&r);
}
