/*
 * page_jobs.c - long work of the page in the background: "Sync now", push
 * all, backfill and compare answer at once, and a detached process does
 * the work (forked twice into its own session, as worker.c does for the
 * applier, so neither a FastCGI worker nor Apache's mod_cgid waits for it).
 *
 * One job at a time: the process holds state_dir/page-job.lock for its
 * whole life (the kernel drops it if the process dies), and keeps its
 * progress, then its result, in the state database (store_page.c).  The
 * page shows them in the "job" card; page.js refreshes that card in place
 * while the job runs, and without JavaScript a reload shows the same.
 */
#include "page.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "html.h"
#include "lock.h"
#include "store_page.h"

#define JOB_LOCK "page-job.lock"
#define PROGRESS_EVERY_S 1.0
#define POLL_PATH_MAX 300

struct job {
	struct page *p;
	const char *action, *label;
	double started, written;
};

static json_t *
record(const struct job *j, const char *state)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:f,s:f}", "state", state,
	    "action", j->action, "label", j->label, "user", j->p->user,
	    "started", j->started, "updated", kc_now());
}

static void
progress(void *ctx, const char *phase, long done, long total)
{
	struct job *j = ctx;
	double now = kc_now();
	json_t *rec;

	if (now - j->written < PROGRESS_EVERY_S && done < total)
		return;
	j->written = now;
	rec = record(j, "running");
	if (rec == NULL)
		return;
	json_object_set_new(rec, "phase", json_string(phase ? phase : ""));
	json_object_set_new(rec, "done", json_integer(done));
	json_object_set_new(rec, "total", json_integer(total));
	kc_store_page_job_put(&j->p->st, rec, NULL);
	json_decref(rec);
}

/* No descriptor shared with the server but the lock. */
static void
detach_descriptors(int keep)
{
	struct rlimit rl;
	int fd = open("/dev/null", O_RDWR);
	int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 1024;

	for (int i = 0; i < 3; i++)
		if (fd >= 0 && fd != i)
			dup2(fd, i);
	for (int i = 3; i < max; i++)
		if (i != keep)
			close(i);
}

/* The grandchild: does the work, keeps the result, exits. */
static void
child(struct job *j, const struct kc_form *form, page_action_fn *run, int lock_fd)
{
	struct page *p = j->p;
	struct flash f;
	json_t *rec;

	detach_descriptors(lock_fd);
	if (kc_store_open_config(&p->st, &p->cfg, &p->store_err) != 0)
		_exit(1);
	p->have_store = 1;
	p->progress = progress;
	p->progress_ctx = j;
	flash_init(&f);
	run(p, form, &f);
	rec = record(j, "done");
	if (rec != NULL) {
		json_object_set_new(rec, "finished", json_real(kc_now()));
		json_object_set_new(rec, "level", json_string(page_level_class[f.level]));
		json_object_set_new(rec, "text", json_string(f.text.data ? f.text.data : ""));
		if (kc_store_page_job_put(&p->st, rec, NULL) != 0)
			kc_log(KC_LOG_ERROR, "settings: cannot keep the result of %s", j->action);
	}
	json_decref(rec);
	flash_free(&f);
	kc_store_close(&p->st);
	_exit(0);
}

void
page_job_start(struct page *p, const struct kc_form *form, const char *action,
    const char *label, page_action_fn *run, struct flash *f)
{
	struct job j = { p, action, label, p->now, 0 };
	struct kc_error err = { { 0 } };
	json_t *rec;
	pid_t pid;
	int fd, rc;

	if (!p->have_store) {
		flash_say(f, L_BAD, _("%s could not start: %s"), label, p->store_err.msg);
		return;
	}
	rc = kc_lock_take(p->cfg.state_dir, JOB_LOCK, 0, &fd, &err);
	if (rc != 0) {
		if (rc > 0)
			flash_say(f, L_WARN, "%s", _("Other work started from this page is still running; its progress is shown below. Try again when it is done."));
		else
			flash_say(f, L_BAD, _("%s could not start: %s"), label, err.msg);
		return;
	}
	rec = record(&j, "running");
	if (rec == NULL || kc_store_page_job_put(&p->st, rec, &err) != 0) {
		json_decref(rec);
		kc_lock_release(fd);
		flash_say(f, L_BAD, _("%s could not start: %s"), label, err.msg);
		return;
	}
	json_decref(rec);
	/* A connection must not cross a fork: the child opens its own. */
	kc_store_close(&p->st);
	p->have_store = 0;
	pid = fork();
	if (pid == 0) {
		if (setsid() < 0 || fork() != 0)
			_exit(0);
		child(&j, form, run, fd);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	/* Closed, not released: the grandchild holds the lock now. */
	close(fd);
	p->have_store = kc_store_open_config(&p->st, &p->cfg, &p->store_err) == 0;
	if (pid < 0) {
		kc_log(KC_LOG_ERROR, "settings: cannot fork for %s: %s", action, strerror(errno));
		flash_say(f, L_BAD, _("%s could not start: %s"), label, strerror(errno));
		return;
	}
	kc_log(KC_LOG_INFO, "settings: %s started %s in the background", p->user, action);
	flash_say(f, L_INFO, _("%s started in the background; its progress is shown below. It goes on if you leave this page."),
	    label);
}

/* 1 while the job's process lives (it holds the lock). */
static int
job_alive(struct page *p)
{
	int fd, rc = kc_lock_take(p->cfg.state_dir, JOB_LOCK, 0, &fd, NULL);

	if (rc == 0)
		kc_lock_release(fd);
	return rc == 1;
}

static const char *
phase_text(const char *phase)
{
	static const struct { const char *phase, *text; } names[] = {
		{ "products", N_("reading the shop's products") },
		{ "variations", N_("reading the shop's variations") },
		{ "parents", N_("reading the variations of variable products") },
		{ "backfill", N_("reading KeyCRM's stock list") },
		{ "shop", N_("reading the shop's catalogue") },
		{ "keycrm", N_("reading KeyCRM's stock list") },
	};

	for (size_t i = 0; phase != NULL && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(phase, names[i].phase) == 0)
			return _(names[i].text);
	return _("starting");
}

static void
running(struct kc_buf *b, struct page *p, json_t *rec)
{
	const char *phase = json_string_value(json_object_get(rec, "phase"));
	long done = (long)json_integer_value(json_object_get(rec, "done"));
	long total = (long)json_integer_value(json_object_get(rec, "total"));
	double started = json_number_value(json_object_get(rec, "started"));
	long per_minute = p->cfg.keycrm_requests_per_minute > 0 ?
	    p->cfg.keycrm_requests_per_minute : 60;
	char clock[32], ago[64];

	page_format_clock(started, clock, sizeof(clock));
	page_format_ago(started, p->now, ago, sizeof(ago));
	kc_html_raw(b, "<p class=\"health warn\"><span class=\"dot\"></span>");
	kc_html_f(b, _("Running since %s (%s)"), clock, ago);
	kc_html_raw(b, "</p><p>");
	if (total > 0) {
		kc_html_f(b, _("%s: page %ld of %ld."), phase_text(phase), done, total);
		kc_html_f(b, "</p><progress max=\"%ld\" value=\"%ld\">%ld / %ld</progress><p class=\"muted\">",
		    total, done, done, total);
	} else {
		kc_html_f(b, "%s.</p><p class=\"muted\">", phase_text(phase));
	}
	if (phase != NULL && (strcmp(phase, "backfill") == 0 || strcmp(phase, "keycrm") == 0) &&
	    total > done)
		kc_html_f(b, _("It waits for KeyCRM, which answers at most %ld requests a minute "
		    "(keycrm_requests_per_minute): about %ld min for the %ld pages left."),
		    per_minute, (total - done + per_minute - 1) / per_minute, total - done);
	else
		kc_html_f(b, _("The shop is read as fast as it answers; what changed then goes "
		    "to KeyCRM, which answers at most %ld requests a minute "
		    "(keycrm_requests_per_minute)."), per_minute);
	kc_html_f(b, " %s</p>", _("It goes on if you leave this page. This card "
	    "follows it; without JavaScript, reload the page."));
}

static void
finished(struct kc_buf *b, json_t *rec)
{
	const char *level = json_string_value(json_object_get(rec, "level"));
	const char *text = json_string_value(json_object_get(rec, "text"));
	double started = json_number_value(json_object_get(rec, "started"));
	double end = json_number_value(json_object_get(rec, "finished"));
	char clock[32], took[64];

	page_format_clock(end, clock, sizeof(clock));
	page_format_duration(end - started, took, sizeof(took));
	kc_html_f(b, "<div class=\"notice %s\" id=\"job-result\"><p>",
	    level && strspn(level, "abcdefghijklmnopqrstuvwxyz") == strlen(level) ?
	    level : "info");
	kc_html_f(b, _("Finished at %s, after %s:"), clock, took);
	kc_html_f(b, " %s</p></div>", text ? text : "");
}

/* The card; 1 when it shows a running job. */
static int
card(struct kc_buf *b, struct page *p)
{
	json_t *rec = NULL;
	const char *state, *label;
	int alive;

	if (!p->have_store || kc_store_page_job_get(&p->st, &rec) != 0)
		return 0;
	state = json_string_value(json_object_get(rec, "state"));
	label = json_string_value(json_object_get(rec, "label"));
	alive = state != NULL && strcmp(state, "running") == 0 && job_alive(p);
	kc_html_f(b, "<section class=\"card\" id=\"job\" data-state=\"%s\" "
	    "data-poll=\"%s?job=card\" role=\"status\" aria-live=\"polite\"><h2>%s</h2>",
	    alive ? "running" : "done", p->self, label ? label : "");
	if (alive)
		running(b, p, rec);
	else if (state != NULL && strcmp(state, "done") == 0)
		finished(b, rec);
	else
		kc_html_f(b, "<div class=\"notice bad\"><p>%s</p></div>", _("It stopped before "
		    "it finished (the web server's error log may say why). Start it again."));
	kc_html_raw(b, "</section>");
	json_decref(rec);
	return alive;
}

void
section_job(struct kc_buf *b, struct page *p)
{
	p->job_running = card(b, p);
}

void
page_job_send_card(struct page *p)
{
	struct kc_response resp;

	kc_response_init(&resp, 200, "text/html; charset=utf-8");
	page_security_headers(&resp);
	card(&resp.body, p);
	kc_response_send(p->req, &resp);
	kc_response_free(&resp);
}
