/*
 * sync_endpoint.c - see sync_endpoint.h.
 */
#include "sync_endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compare.h"
#include "config.h"
#include "i18n.h"
#include "store_retention.h"
#include "runas.h"
#include "setup_check.h"
#include "shop_hooks.h"
#include "store.h"
#include "sync.h"

static int
flag(const struct kc_request *req, const char *name)
{
	const char *v = kc_request_param(req, name);

	return v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 ||
	    strcmp(v, "true") == 0);
}

/*
 * A run that failed against the shop or KeyCRM answers 502 with its JSON,
 * so that cron's wget, monitors and the web server's log see it (SPEC 3).
 */
static int
run_status(json_t *errors)
{
	return json_array_size(errors) > 0 ? 502 : 200;
}

/* The rows of the last complete comparison, as a CSV download. */
static void
respond_csv(struct kc_request *req, const struct kc_config *cfg)
{
	struct kc_response resp;
	struct kc_store st;
	struct kc_error err = { { 0 } };

	if (kc_store_open_config(&st, cfg, &err) != 0) {
		kc_log(KC_LOG_ERROR, "compare: %s", err.msg);
		kc_respond_error(req, 500, err.msg);
		return;
	}
	kc_response_init(&resp, 200, "text/csv; charset=utf-8");
	kc_response_header(&resp, "Content-Disposition",
	    "attachment; filename=\"keycrm-sync-compare.csv\"");
	if (kc_compare_csv(&st, &resp.body, &err) != 0) {
		kc_log(KC_LOG_ERROR, "compare: %s", err.msg);
		kc_respond_error(req, 500, err.msg);
	} else {
		kc_response_send(req, &resp);
	}
	kc_response_free(&resp);
	kc_store_close(&st);
}

static void
handle_compare(struct kc_request *req, const struct kc_config *cfg)
{
	struct kc_compare_options opts = { 0 };
	struct kc_compare_result res;
	struct kc_error err = { { 0 } };
	const char *format = kc_request_param(req, "format");
	struct kc_store st;
	int rc;

	kc_compare_result_init(&res);
	rc = kc_compare_run(cfg, &opts, &res, &err);
	if (rc > 0) {
		kc_respond_json(req, 409, json_pack("{s:s}", "status", "busy"));
	} else if (rc < 0) {
		kc_log(KC_LOG_ERROR, "compare: %s", err.msg);
		kc_respond_error(req, 500, err.msg);
	} else if (res.complete && format != NULL && strcmp(format, "csv") == 0) {
		respond_csv(req, cfg);
	} else {
		int have = res.complete && kc_store_open_config(&st, cfg, &err) == 0;
		json_t *ans = kc_compare_result_json(&res, have ? &st : NULL, 1);
		kc_respond_json(req, run_status(res.errors), ans);
		if (have)
			kc_store_close(&st);
	}
	kc_compare_result_free(&res);
}

/* After the pipeline's checks (worker.h), with the configuration kept. */
static void
sync_serve(struct kc_request *req, const struct kc_config *cfg,
    struct kc_job *job)
{
	struct kc_sync_options opts = { 0 };
	struct kc_sync_result res;
	struct kc_error err = { { 0 } };
	json_t *ans;
	int rc;

	if (flag(req, "compare")) {
		handle_compare(req, cfg);
		return;
	}
	opts.full = flag(req, "full");
	opts.dry_run = flag(req, "dry_run");
	opts.pull = flag(req, "pull");
	opts.push_all = flag(req, "push_all");
	kc_sync_result_init(&res);
	rc = kc_sync_run(cfg, &opts, &res, &err);
	if (rc > 0) {
		kc_respond_json(req, 409, json_pack("{s:s}", "status", "busy"));
	} else if (rc < 0) {
		kc_log(KC_LOG_ERROR, "sync: %s", err.msg);
		kc_respond_error(req, 500, err.msg);
	} else {
		ans = kc_sync_result_json(&res);
		if (opts.dry_run)
			json_object_set(ans, "plan", res.plan);
		kc_respond_json(req, run_status(res.errors), ans);
	}
	kc_sync_result_free(&res);
	/* After the answer: see whether the state is due for retention. */
	job->retain = rc == 0 && !opts.dry_run;
}

static const char *
sync_token(const struct kc_config *cfg)
{
	return cfg->sync_token;
}

const struct kc_endpoint kc_sync_endpoint = {
	.allow = "GET, POST",
	.secret = sync_token,
	.secret_param = "token",
	.secret_header = "HTTP_X_SYNC_TOKEN",
	.not_set_up = N_("the sync URL is not set up (sync_token is not configured)"),
	.refused = "sync: refused a request with a wrong or missing token",
	.handle = sync_serve,
};

void
kc_sync_handle(struct kc_request *req, struct kc_job *job)
{
	static const struct kc_endpoint *const one[] = { &kc_sync_endpoint };
	static const struct kc_program alone = {
		.name = "sync.cgi",
		.endpoints = one,
		.n_endpoints = 1,
	};

	kc_program_serve(&alone, req, job);
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
	    _("usage: sync.cgi [--full] [--dry-run] [--pull] [--push-all] [--compare [--csv]]\n"
	    "                [--config FILE]\n"
	    "  Sends the shop's stock changes to KeyCRM (the cron URL, from a shell).\n"
	    "  --full      read the whole catalogue, not only what changed\n"
	    "  --dry-run   show what would be sent; change nothing anywhere\n"
	    "  --pull      backfill: set the shop's stock from KeyCRM's\n"
	    "  --push-all  send every managed SKU (first install)\n"
	    "  --compare   read both sides whole and show how they differ per SKU;\n"
	    "              writes nothing (run it again to go on if it stops)\n"
	    "  --csv       with --compare: the rows as CSV\n"
	    "  --check-shop, --check-keycrm\n"
	    "              check the shop's REST key (read and write) or KeyCRM's key and\n"
	    "              list the warehouse ids its stock list shows; changes nothing\n"
	    "  --shop-webhook connect|status|repair|remove\n"
	    "              the shop's product webhook to the shop-webhook URL: create it\n"
	    "              with a new secret, show its state, re-enable it, remove it\n"
	    "  The configuration is FILE, $%s or %s.\n"
	    "  Exit status: 0 ok, 1 partly failed, 2 configuration, 3 busy.\n"),
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
		/* KeyCRM's quantity now, where the ledger knows it, then what is sent. */
		fprintf(out, "%-40s %10s %10s %10s\n", "SKU", "shop", "KeyCRM now", "send");
		json_array_foreach(res->plan, i, v) {
			char sku[1024], now[32] = "?";
			json_t *k = json_object_get(v, "keycrm");

			if (json_is_number(k))
				snprintf(now, sizeof(now), "%g", json_number_value(k));
			kc_term_escape(sku, sizeof(sku),
			    json_string_value(json_object_get(v, "sku")));
			fprintf(out, "%-40s %10lld %10s %10g\n", sku,
			    (long long)json_integer_value(json_object_get(v, "shop")), now,
			    json_number_value(json_object_get(v, "send")));
		}
	}
	if (opts->pull)
		fprintf(out, _("backfill: %ld offers read from KeyCRM, %ld applied to the shop\n"),
		    res->pulled, res->applied);
	else
		fprintf(out, _("%s%s: %ld shop items read, %ld changed, %ld sent to KeyCRM,"
		    " %ld unknown to KeyCRM, %ld skipped, %ld held for the next run\n"),
		    opts->dry_run ? _("dry run") : _("sync"), res->first_run ?
		    _(" (first run: shop quantities recorded as the baseline, nothing sent)") : "",
		    res->scanned, res->changed, res->sent, res->unknown, res->skipped,
		    res->held);
	/* A run an error stopped says so, never that time ran out. */
	fprintf(out, _("%lu shop requests, %lu KeyCRM requests, %.1f s%s\n"), res->shop_requests,
	    res->keycrm_requests, res->seconds, json_array_size(res->errors) > 0 ?
	    _("; failed:") : res->complete ? "" :
	    _("; stopped by sync_max_seconds, run again to continue"));
	json_array_foreach(res->errors, i, v)
		print_line(out, _("error: "), json_string_value(v));
}

static int
print_compare_row(void *ctx, const struct kc_compare_row *row)
{
	FILE *out = ctx;
	char shop[32] = "-", crm[32] = "-", diff[32] = "-";

	if (row->has_shop)
		snprintf(shop, sizeof(shop), "%lld", row->shop);
	if (row->has_keycrm)
		snprintf(crm, sizeof(crm), "%g", row->keycrm);
	if (row->has_shop && row->has_keycrm)
		snprintf(diff, sizeof(diff), "%+g", row->difference);
	fprintf(out, "%-40s %10s %10s %10s\n", row->sku, shop, crm, diff);
	return 0;
}

/* --compare [--csv]: the rows once both sides are read, else where it stands. */
static int
shell_compare(const struct kc_config *cfg, int csv, FILE *out, FILE *errout)
{
	struct kc_compare_options opts = { 0 };
	struct kc_compare_result res;
	struct kc_error err = { { 0 } };
	struct kc_store st;
	int rc;

	if (isatty(fileno(errout))) {
		opts.progress = draw_progress;
		opts.progress_ctx = errout;
	}
	kc_compare_result_init(&res);
	rc = kc_compare_run(cfg, &opts, &res, &err);
	if (opts.progress != NULL)
		fputs("\r\033[K", errout);
	if (rc != 0) {
		fprintf(errout, "sync.cgi: %s\n", rc > 0 ? _("another comparison is busy") : err.msg);
		kc_compare_result_free(&res);
		return rc > 0 ? 3 : 1;
	}
	rc = 0;
	if (json_array_size(res.errors) > 0) {
		size_t i;
		json_t *v;
		fprintf(errout, "%s", _("compare failed:\n"));
		json_array_foreach(res.errors, i, v)
			fprintf(errout, _("error: %s\n"), json_string_value(v));
		rc = 1;
	} else if (!res.complete) {
		fprintf(errout, _("compare: %s page %ld of %ld read; stopped by sync_max_seconds,"
		    " run again to continue\n"), strcmp(res.phase, "keycrm") == 0 ? "KeyCRM" :
		    _("the shop"), res.page, res.pages);
	} else if (kc_store_open_config(&st, cfg, &err) != 0) {
		fprintf(errout, "sync.cgi: %s\n", err.msg);
		rc = 1;
	} else {
		struct kc_buf text;
		kc_buf_init(&text);
		if (csv) {
			rc = kc_compare_csv(&st, &text, &err);
			if (rc == 0 && text.len > 0)
				fwrite(text.data, 1, text.len, out);
		} else {
			fprintf(out, "%-40s %10s %10s %10s\n", "SKU", "shop", "KeyCRM", "difference");
			rc = kc_store_compare_rows(&st, print_compare_row, out, NULL, &err);
			fprintf(out, _("compare: %ld equal, %ld different, %ld only in the shop,"
			    " %ld only in KeyCRM\n"), res.counts[KC_CMP_EQUAL],
			    res.counts[KC_CMP_DIFFERENT], res.counts[KC_CMP_SHOP_ONLY],
			    res.counts[KC_CMP_KEYCRM_ONLY]);
		}
		if (rc != 0) {
			fprintf(errout, "sync.cgi: %s\n", err.msg);
			rc = 1;
		}
		kc_buf_free(&text);
		kc_store_close(&st);
	}
	kc_compare_result_free(&res);
	return rc;
}

int
kc_sync_shell(int argc, char **argv, FILE *out, FILE *errout)
{
	const char *path = kc_config_path(NULL);
	struct kc_config cfg;
	struct kc_sync_options opts = { 0 };
	struct kc_sync_result res;
	struct kc_error err = { { 0 } };
	int rc, compare = 0, csv = 0, check_shop = 0, check_keycrm = 0;
	const char *shop_webhook = NULL;

	kc_i18n_for_shell(NULL);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--full") == 0)
			opts.full = 1;
		else if (strcmp(argv[i], "--dry-run") == 0)
			opts.dry_run = 1;
		else if (strcmp(argv[i], "--pull") == 0)
			opts.pull = 1;
		else if (strcmp(argv[i], "--push-all") == 0)
			opts.push_all = 1;
		else if (strcmp(argv[i], "--compare") == 0)
			compare = 1;
		else if (strcmp(argv[i], "--csv") == 0)
			csv = 1;
		else if (strcmp(argv[i], "--check-shop") == 0)
			check_shop = 1;
		else if (strcmp(argv[i], "--check-keycrm") == 0)
			check_keycrm = 1;
		else if (strcmp(argv[i], "--shop-webhook") == 0 && i + 1 < argc)
			shop_webhook = argv[++i];
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
	kc_i18n_for_shell(cfg.language);
	/* The checks touch no state: they run before (and without) the state directory. */
	if (check_shop || check_keycrm) {
		rc = kc_setup_check(&cfg, check_shop, check_keycrm, out);
		kc_config_free(&cfg);
		return rc;
	}
	if (kc_runas_state_owner(cfg.state_dir, "sync.cgi", errout, &err) != 0) {
		fprintf(errout, "sync.cgi: %s\n", err.msg);
		kc_config_free(&cfg);
		return 2;
	}
	if (shop_webhook != NULL) {
		rc = kc_shop_hooks_shell(&cfg, shop_webhook, out, errout);
		kc_config_free(&cfg);
		return rc;
	}
	if (compare || csv) {
		rc = csv && !compare ? usage(errout) : shell_compare(&cfg, csv, out, errout);
		kc_config_free(&cfg);
		return rc;
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
		fprintf(errout, "%s", _("sync.cgi: another sync run is busy\n"));
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
		kc_store_retention_after_run(&cfg);
	kc_config_free(&cfg);
	return rc;
}
