/*
 * webhook.c - see webhook.h.
 */
#include "webhook.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "i18n.h"
#include "lock.h"
#include "stock.h"

void
kc_webhook_body_free(struct kc_webhook_body *b)
{
	for (size_t i = 0; i < b->count; i++)
		free(b->reports[i].sku);
	free(b->reports);
	json_decref(b->rejected);
	memset(b, 0, sizeof(*b));
}

static const char *
json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return _("an object");
	case JSON_ARRAY: return _("an array");
	case JSON_STRING: return _("a string");
	case JSON_INTEGER: case JSON_REAL: return _("a number");
	case JSON_TRUE: case JSON_FALSE: return _("a boolean");
	case JSON_NULL: return "null";
	}
	return _("something else");
}

/* A count: a finite JSON number within range.  NULL reason: ok. */
static const char *
read_count(const json_t *v, const char *name, double *out)
{
	double d;

	if (v == NULL)
		return strcmp(name, "in_stock") == 0 ? _("in_stock is missing") : NULL;
	if (!json_is_number(v))
		return strcmp(name, "in_stock") == 0 ? _("in_stock is not a number") :
		    _("in_reserve is not a number");
	d = json_number_value(v);
	if (!isfinite(d) || fabs(d) > KC_STOCK_MAX_ABS)
		return strcmp(name, "in_stock") == 0 ? _("in_stock is out of range") :
		    _("in_reserve is out of range");
	*out = d;
	return NULL;
}

static const char *
check_sku(const json_t *v)
{
	const char *s;
	size_t len;

	if (v == NULL)
		return _("sku is missing");
	if (!json_is_string(v))
		return _("sku is not a string");
	s = json_string_value(v);
	len = json_string_length(v);
	if (len == 0)
		return _("sku is empty");
	if (len > KC_SKU_MAX_BYTES)
		return _("sku is longer than 200 bytes");
	if (strlen(s) != len)
		return _("sku contains a NUL character");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return _("sku contains control characters");
	if (strspn(s, " ") == len)
		return _("sku is blank");
	return NULL;
}

/* Counts a rejected item; the first KC_WEBHOOK_REJECTED_LISTED are listed. */
static void
reject(struct kc_webhook_body *out, size_t index, const json_t *item,
    const char *reason)
{
	json_t *sku = json_is_object(item) ? json_object_get(item, "sku") : NULL;
	json_t *entry;

	if (out->rejected_count++ >= KC_WEBHOOK_REJECTED_LISTED)
		return;
	entry = json_pack("{s:I,s:O,s:s}", "index", (json_int_t)index,
	    "sku", json_is_string(sku) ? sku : json_null(), "reason", reason);
	if (entry != NULL)
		json_array_append_new(out->rejected, entry);
}

static const char *
read_item(const json_t *item, struct kc_stock_report *r)
{
	const char *why;
	json_t *offer;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(item))
		return _("the item is not an object");
	if ((why = check_sku(json_object_get(item, "sku"))) != NULL)
		return why;
	if ((why = read_count(json_object_get(item, "in_stock"), "in_stock",
	    &r->in_stock)) != NULL)
		return why;
	if ((why = read_count(json_object_get(item, "in_reserve"), "in_reserve",
	    &r->in_reserve)) != NULL)
		return why;
	if ((why = kc_stock_report_problem(r->in_stock, r->in_reserve)) != NULL)
		return why;
	offer = json_object_get(item, "offer_id");
	if (offer != NULL && !json_is_null(offer)) {
		if (!json_is_integer(offer) || json_integer_value(offer) <= 0)
			return _("offer_id is not a positive whole number");
		r->offer_id = json_integer_value(offer);
	}
	r->sku = kc_strdup(json_string_value(json_object_get(item, "sku")));
	return r->sku ? NULL : _("out of memory");
}

/* "line L, column C" of a byte offset, as jansson counts them. */
static void
where(const char *body, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 0;
	for (size_t i = 0; i < off; i++) {
		if (body[i] == '\n') {
			(*line)++;
			*col = 0;
		} else if (((unsigned char)body[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

static size_t
skip_space(const char *body, size_t len, size_t pos)
{
	while (pos < len && (body[pos] == ' ' || body[pos] == '\t' ||
	    body[pos] == '\n' || body[pos] == '\r'))
		pos++;
	return pos;
}

static int
invalid_json(const char *body, size_t off, const char *why, struct kc_error *err)
{
	int line, col;

	where(body, off, &line, &col);
	kc_error_set(err, _("the body is not valid JSON: %s (line %d, column %d)"),
	    why, line, col);
	return -1;
}

/* Keeps one usable report, growing the array as needed. */
static int
keep_report(struct kc_webhook_body *out, size_t *cap, struct kc_stock_report *r)
{
	if (out->count == *cap) {
		size_t n = *cap ? *cap * 2 : 64;
		struct kc_stock_report *p = realloc(out->reports, n * sizeof(*p));
		if (p == NULL)
			return -1;
		out->reports = p;
		*cap = n;
	}
	out->reports[out->count++] = *r;
	return 0;
}

/*
 * Anything but an array: an order event (ignored) or a 400.  Small or not,
 * it is parsed whole.
 */
static int
parse_non_array(const char *body, size_t len, struct kc_webhook_body *out,
    struct kc_error *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);

	if (root == NULL) {
		kc_error_set(err, _("the body is not valid JSON: %s (line %d, column %d)"),
		    jerr.text, jerr.line, jerr.column);
		return -1;
	}
	if (json_is_object(root) && json_object_get(root, "event") != NULL) {
		out->is_event = 1;
		json_decref(root);
		return 0;
	}
	kc_error_set(err, _("the body must be a JSON array of stock items, not %s"),
	    json_type_name(root));
	json_decref(root);
	return -1;
}

/*
 * The array is read one item at a time (jansson with
 * JSON_DISABLE_EOF_CHECK stops after one value and says where), so memory
 * stays that of one item plus the usable reports, whatever the body holds:
 * a body of a million bad items costs no more than its own bytes.
 */
int
kc_webhook_parse(const char *body, size_t len, struct kc_webhook_body *out,
    struct kc_error *err)
{
	size_t pos, cap = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0) {
		kc_error_set(err, _("the body is empty; expected a JSON array of stock items"));
		return -1;
	}
	pos = skip_space(body, len, 0);
	if (pos == len || body[pos] != '[')
		return parse_non_array(body, len, out, err);
	out->rejected = json_array();
	if (out->rejected == NULL) {
		kc_error_set(err, _("out of memory"));
		return -1;
	}
	pos = skip_space(body, len, pos + 1);
	if (pos < len && body[pos] == ']') {
		pos++;
	} else for (;;) {
		json_error_t jerr;
		struct kc_stock_report r;
		const char *why;
		json_t *item;

		item = json_loadb(body + pos, len - pos, JSON_REJECT_DUPLICATES |
		    JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &jerr);
		if (item == NULL) {
			invalid_json(body, pos + (size_t)(jerr.position > 0 ? jerr.position : 0),
			    jerr.text, err);
			goto fail;
		}
		pos += (size_t)jerr.position;
		why = read_item(item, &r);
		if (why != NULL)
			reject(out, out->received, item, why);
		else if (keep_report(out, &cap, &r) != 0) {
			free(r.sku);
			json_decref(item);
			kc_error_set(err, _("out of memory"));
			goto fail;
		}
		json_decref(item);
		out->received++;
		pos = skip_space(body, len, pos);
		if (pos < len && body[pos] == ',') {
			pos = skip_space(body, len, pos + 1);
			continue;
		}
		if (pos < len && body[pos] == ']') {
			pos++;
			break;
		}
		invalid_json(body, pos, pos < len ? "',' or ']' expected" :
		    "']' expected", err);
		goto fail;
	}
	pos = skip_space(body, len, pos);
	if (pos != len) {
		invalid_json(body, pos, "end of file expected", err);
		goto fail;
	}
	return 0;
fail:
	kc_webhook_body_free(out);
	return -1;
}

static int
wants_wait(const struct kc_request *req)
{
	const char *w = kc_request_param(req, "wait");

	return w != NULL && (strcmp(w, "1") == 0 || strcmp(w, "true") == 0 ||
	    strcmp(w, "yes") == 0);
}

static void
add_apply_result(json_t *ans, const struct kc_apply_result *res)
{
	json_object_set_new(ans, "applied", json_integer(res->applied));
	json_object_set_new(ans, "unchanged", json_integer(res->unchanged));
	json_object_set(ans, "unmatched", res->unmatched_skus);
	json_object_set(ans, "skipped", res->skipped_items);
	json_object_set(ans, "duplicates", res->duplicate_skus);
	json_object_set(ans, "failed", res->failed_items);
	json_object_set_new(ans, "queued", json_integer(res->pending));
	if (res->error[0])
		json_object_set_new(ans, "error", json_string(res->error));
}

/* The history row of an accepted webhook, committed with its reports. */
static void
webhook_history(const struct kc_webhook_body *body, double started,
    struct kc_history *h)
{
	memset(h, 0, sizeof(*h));
	h->kind = "webhook";
	h->started_at = started;
	h->finished_at = kc_now();
	h->received = (long)body->received;
	h->queued = (long)body->count;
	h->rejected = (long)body->rejected_count;
}

/*
 * SQLite's words for a write lock another process held longer than the
 * store's busy timeout ("database is locked", "database table is locked").
 */
static int
store_was_busy(const struct kc_error *err)
{
	return strstr(err->msg, "is locked") != NULL;
}

/*
 * Commits the reports to the inbox.  Many large webhooks at once can keep
 * the write lock busy longer than the store waits for it (on MariaDB: a
 * lock wait that timed out, a deadlock, a connection that dropped); then
 * it tries again, with a short random pause, until
 * KC_WEBHOOK_STORE_SECONDS after the request began (KeyCRM gives up at
 * about 90 s), rather than refuse reports it could keep a moment later.
 * A store that cannot be opened is not waited for: 503 at once.
 */
static int
store_reports(const struct kc_job *job, const struct kc_config *cfg,
    const struct kc_webhook_body *body, double started, struct kc_error *err)
{
	for (int attempt = 0;; attempt++) {
		struct kc_store *st;
		struct kc_history h;
		int rc, retry = 0;

		webhook_history(body, started, &h);
		/*
		 * Several in flight: one commit.  MariaDB groups the commits of
		 * its connections itself, so there each thread commits its own.
		 */
		if (job->group != NULL && cfg->mysql_host == NULL) {
			rc = kc_group_accept(job->group, cfg->state_dir, body->reports,
			    body->count, kc_now(), &h, err);
		} else if ((rc = kc_context_store(job->ctx, &st, err)) == 0) {
			rc = kc_store_accept(st, body->reports, body->count, kc_now(), &h, err);
			retry = rc != 0 && kc_store_retryable(st);
		}
		if (rc == 0 || !(retry || store_was_busy(err)) ||
		    kc_now() - started >= KC_WEBHOOK_STORE_SECONDS)
			return rc;
		if (attempt == 0)
			kc_log(KC_LOG_INFO, "webhook: the state database is busy; trying again");
		usleep(50000 + kc_random_below(200000));
	}
}

/*
 * Commits the reports (answering 503 when that fails: then nothing was
 * accepted).  With ?wait=1 the apply lock is taken first, so that the
 * run that follows is the one that applies these very reports.
 */
static void
accept_reports(struct kc_request *req, const struct kc_config *cfg,
    struct kc_webhook_body *body, struct kc_job *job, double started)
{
	struct kc_error err = { { 0 } };
	struct kc_runlock *lock = NULL;
	int wait = wants_wait(req) && body->count > 0, busy = 0;
	json_t *ans;

	if (wait) {
		int rc = kc_apply_lock(cfg, cfg->sync_max_seconds * 1000, &lock, &err);
		if (rc < 0)
			kc_log(KC_LOG_WARN, "webhook: %s", err.msg);
		busy = rc != 0;
	}
	if (store_reports(job, cfg, body, started, &err) != 0) {
		kc_log(KC_LOG_ERROR, "webhook: cannot store %zu reports: %s",
		    body->count, err.msg);
		kc_runlock_release(lock);
		kc_respond_error(req, 503, _("the update could not be stored right now, so none of it was accepted; please send it again"));
		return;
	}
	ans = json_pack("{s:I,s:I,s:O}", "received", (json_int_t)body->received,
	    "queued", (json_int_t)body->count, "rejected", body->rejected);
	if (ans != NULL && body->rejected_count > json_array_size(body->rejected))
		json_object_set_new(ans, "rejected_more", json_integer((json_int_t)
		    (body->rejected_count - json_array_size(body->rejected))));
	if (wait && !busy) {
		struct kc_apply_result res;
		struct kc_store *st;
		int rc;

		kc_apply_result_init(&res);
		rc = kc_context_store(job->ctx, &st, &err);
		if (rc == 0)
			rc = kc_apply_run(cfg, st, 0, lock, &res, &err);
		else
			kc_runlock_release(lock);
		if (rc == 0)
			add_apply_result(ans, &res);
		else
			json_object_set_new(ans, "error", json_string(err.msg));
		kc_apply_result_free(&res);
	} else if (wait) {
		json_object_set_new(ans, "error", json_string(
		    _("another applier is still busy; the reports stay queued")));
		job->apply = 1;
	} else {
		job->apply = body->count > 0;
	}
	kc_respond_json(req, 200, ans);
	kc_log(KC_LOG_INFO, "webhook: %zu items, %zu queued, %zu rejected in %.3f s",
	    body->received, body->count, body->rejected_count, kc_now() - started);
}

static const char *
webhook_secret(const struct kc_config *cfg)
{
	return cfg->webhook_secret;
}

/* After the pipeline's checks (worker.h): the body, then the reports. */
static void
webhook_serve(struct kc_request *req, const struct kc_config *cfg,
    struct kc_job *job)
{
	struct kc_webhook_body body;
	struct kc_error err = { { 0 } };
	double started = kc_now();
	int status;

	status = kc_request_read_body(req, (size_t)cfg->webhook_max_bytes, 1, &err);
	if (status != 0) {
		kc_respond_error(req, status, err.msg);
		return;
	}
	if (kc_webhook_parse(req->body, req->body_len, &body, &err) != 0) {
		kc_log(KC_LOG_WARN, "webhook: refused: %s", err.msg);
		kc_respond_error(req, 400, err.msg);
		return;
	}
	if (body.is_event) {
		kc_respond_json(req, 200, json_pack("{s:s}", "ignored",
		    _("an order event; only stock webhooks are handled here")));
	} else {
		accept_reports(req, cfg, &body, job, started);
	}
	kc_webhook_body_free(&body);
}

const struct kc_endpoint kc_webhook_endpoint = {
	.allow = "POST",
	.secret = webhook_secret,
	.secret_param = "secret",
	.secret_header = "HTTP_X_WEBHOOK_SECRET",
	.not_set_up = N_("the webhook is not set up (webhook_secret is not configured)"),
	.refused = "webhook: refused a request with a wrong or missing secret",
	.handle = webhook_serve,
};

void
kc_webhook_handle(struct kc_request *req, struct kc_job *job)
{
	static const struct kc_endpoint *const one[] = { &kc_webhook_endpoint };
	static const struct kc_program alone = {
		.name = "webhook.cgi",
		.endpoints = one,
		.n_endpoints = 1,
	};

	kc_program_serve(&alone, req, job);
}
