/*
 * sync_endpoint.c - see sync_endpoint.h.
 */
#include "sync_endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "store_retention.h"
#include "sync.h"

static int
flag(const struct kc_request *req, const char *name)
{
	const char *v = kc_request_param(req, name);

	return v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 ||
	    strcmp(v, "true") == 0);
}


void
kc_sync_handle(struct kc_request *req, struct kc_job *job)
{
	struct kc_config cfg;
	struct kc_sync_options opts = { 0 };
	struct kc_sync_result res;
	struct kc_error err = { { 0 } };
	const char *token;
	json_t *ans;
	int rc;

	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0) {
		kc_respond_method_not_allowed(req, "GET, POST");
		return;
	}
	if (kc_config_load(&cfg, job->config_path, &err) != 0) {
		kc_log(KC_LOG_ERROR, "configuration error: %s", err.msg);
		kc_respond_error(req, 500, "configuration error; the details are in the web server's error log");
		return;
	}
	if (cfg.sync_token == NULL) {
		kc_respond_error(req, 503, "the sync URL is not set up (sync_token is not configured)");
		goto out;
	}
	token = kc_request_param(req, "token");
	if (token == NULL)
		token = kc_request_env(req, "HTTP_X_SYNC_TOKEN");
	if (!kc_secret_equal(token, cfg.sync_token)) {
		kc_log(KC_LOG_WARN, "sync: refused a request with a wrong or missing token");
		kc_respond_error(req, 403, "forbidden");
		goto out;
	}
	opts.full = flag(req, "full");
	opts.dry_run = flag(req, "dry_run");
	opts.pull = flag(req, "pull");
	opts.push_all = flag(req, "push_all");
	kc_sync_result_init(&res);
	rc = kc_sync_run(&cfg, &opts, &res, &err);
	if (rc > 0) {
		kc_respond_json(req, 409, json_pack("{s:s}", "status", "busy"));
	} else if (rc < 0) {
		kc_log(KC_LOG_ERROR, "sync: %s", err.msg);
		kc_respond_error(req, 500, err.msg);
	} else {
		ans = kc_sync_result_json(&res);
		if (opts.dry_run)
			json_object_set(ans, "plan", res.plan);
		kc_respond_json(req, 200, ans);
	}
	kc_sync_result_free(&res);
	/* After the answer: see whether the state is due for retention. */
	job->retain = rc == 0 && !opts.dry_run;
out:
	kc_config_free(&cfg);
}

/* A progress bar on stderr, redrawn in place; only on a terminal. */
static void
draw_progress(void *ctx, const char *phase, long done, long total)
{
	FILE *tty = ctx;
	int width = 30, fill;

	if (total <= 0) {
		fprintf(tty, "\r%-10s page %ld", phase, done);
	} else {
		fill = (int)(done * width / (total > 0 ? total : 1));
		fprintf(tty, "\r%-10s [%.*s%*s] %ld/%ld pages", phase, fill,
		    "##############################", width - fill, "", done, total);
	}
	fflush(tty);
}

static int
usage(FILE *f)
{
	fprintf(f,
	    "usage: sync.cgi [--full] [--dry-run] [--pull] [--push-all] [--config FILE]\n"
	    "  Sends the shop's stock changes to KeyCRM (the cron URL, from a shell).\n"
	    "  --full      read the whole catalogue, not only what changed\n"
	    "  --dry-run   show what would be sent; change nothing anywhere\n"
	    "  --pull      backfill: set the shop's stock from KeyCRM's\n"
	    "  --push-all  send every managed SKU (first install)\n"
	    "  The configuration is FILE, $%s or %s.\n"
	    "  Exit status: 0 ok, 1 partly failed, 2 configuration, 3 busy.\n",
	    KC_CONFIG_ENV, KC_CONFIG_DEFAULT_PATH);
	return 2;
}

/*
 * Everything printed here may reach a terminal and hold text from the
 * shop or KeyCRM (SKUs, their error messages): it goes out escaped.
 */
static void
print_line(FILE *f, const char *prefix, const char *text)
{
	char safe[4096];

	kc_term_escape(safe, sizeof(safe), text);
	fprintf(f, "%s%s\n", prefix, safe);
}

static void
print_summary(FILE *out, const struct kc_sync_options *opts,
    const struct kc_sync_result *res)
{
	size_t i;
	json_t *v;

	if (opts->dry_run) {
		fprintf(out, "%-40s %10s %10s\n", "SKU", "shop", "send");
		json_array_foreach(res->plan, i, v) {
			char sku[1024];

			kc_term_escape(sku, sizeof(sku),
			    json_string_value(json_object_get(v, "sku")));
			fprintf(out, "%-40s %10lld %10g\n", sku,
			    (long long)json_integer_value(json_object_get(v, "shop")),
			    json_real_value(json_object_get(v, "send")));
		}
	}
	if (opts->pull)
		fprintf(out, "backfill: %ld offers read from KeyCRM, %ld applied to the shop\n",
		    res->pulled, res->applied);
	else
		fprintf(out, "%s%s: %ld shop items read, %ld changed, %ld sent to KeyCRM,"
		    " %ld unknown to KeyCRM, %ld skipped, %ld held for the next run\n",
		    opts->dry_run ? "dry run" : "sync", res->first_run ?
		    " (first run: shop quantities recorded as the baseline, nothing sent)" : "",
		    res->scanned, res->changed, res->sent, res->unknown, res->skipped,
		    res->held);
	fprintf(out, "%lu shop requests, %lu KeyCRM requests, %.1f s%s\n", res->shop_requests,
	    res->keycrm_requests, res->seconds,
	    res->complete ? "" : "; stopped by sync_max_seconds, run again to continue");
	json_array_foreach(res->errors, i, v)
		print_line(out, "error: ", json_string_value(v));
}

int
kc_sync_shell(int argc, char **argv, FILE *out, FILE *errout)
{
	const char *path = kc_config_path(NULL);
	struct kc_config cfg;
	struct kc_sync_options opts = { 0 };
	struct kc_sync_result res;
	struct kc_error err = { { 0 } };
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--full") == 0)
			opts.full = 1;
		else if (strcmp(argv[i], "--dry-run") == 0)
			opts.dry_run = 1;
		else if (strcmp(argv[i], "--pull") == 0)
			opts.pull = 1;
		else if (strcmp(argv[i], "--push-all") == 0)
			opts.push_all = 1;
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return usage(out), 0;
		else
			return usage(errout);
	}
	if (kc_config_load(&cfg, path, &err) != 0) {
		print_line(errout, "sync.cgi: ", err.msg);
		return 2;
	}
	if (isatty(fileno(errout))) {
		opts.progress = draw_progress;
		opts.progress_ctx = errout;
	}
	kc_sync_result_init(&res);
	rc = kc_sync_run(&cfg, &opts, &res, &err);
	if (opts.progress != NULL)
		fputs("\r\033[K", errout);
	if (rc > 0) {
		fprintf(errout, "sync.cgi: another sync run is busy\n");
		rc = 3;
	} else if (rc < 0) {
		print_line(errout, "sync.cgi: ", err.msg);
		rc = 1;
	} else {
		print_summary(out, &opts, &res);
		rc = json_array_size(res.errors) > 0 ? 1 : 0;
	}
	kc_sync_result_free(&res);
	if (rc != 3 && !opts.dry_run)
		kc_store_retention_after_run(cfg.state_dir);
	kc_config_free(&cfg);
	return rc;
}
