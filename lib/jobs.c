/*
 * jobs.c - what a handler leaves to do once its answer is complete (see
 * worker.h): applying the inbox to the shop, and the state's retention.
 * A FastCGI worker runs them before its next request, plain CGI in a
 * detached child.
 */
#include "worker.h"

#include "apply.h"
#include "store_lease.h"
#include "store_retention.h"

void
kc_job_apply(const struct kc_job *job)
{
	const struct kc_config *cfg;
	struct kc_store *st;
	struct kc_apply_result res;
	struct kc_error err = { { 0 } };

	if (kc_context_config(job->ctx, job->config_path, &cfg, &err) != 0) {
		kc_log(KC_LOG_ERROR, "configuration error: %s", err.msg);
		return;
	}
	/*
	 * A busy applier takes these reports too.  SQLite: its file lock,
	 * before the store.  MariaDB: a look at the lease on the kept
	 * connection, where taking it to see costs a connection of its own.
	 */
	if (cfg->mysql_host == NULL && !kc_apply_lock_free(cfg))
		return;
	if (kc_context_store(job->ctx, &st, &err) != 0) {
		kc_log(KC_LOG_ERROR, "cannot apply the inbox: %s", err.msg);
		return;
	}
	if (cfg->mysql_host != NULL && kc_lease_busy(st, "apply") != 0)
		return;
	kc_apply_result_init(&res);
	if (kc_apply_run(cfg, st, 0, NULL, &res, &err) < 0)
		kc_log(KC_LOG_ERROR, "cannot apply the inbox: %s", err.msg);
	kc_apply_result_free(&res);
}

void
kc_job_retain(const struct kc_job *job)
{
	const struct kc_config *cfg;
	struct kc_store *st;
	struct kc_retention_result res;
	struct kc_error err = { { 0 } };
	int rc;

	if (kc_context_config(job->ctx, job->config_path, &cfg, &err) != 0) {
		kc_log(KC_LOG_ERROR, "configuration error: %s", err.msg);
		return;
	}
	/*
	 * The kept connection: whether retention is due is one read, where a
	 * connection of its own cost an open, the schema check and a close
	 * after every webhook.
	 */
	if (kc_context_store(job->ctx, &st, &err) != 0) {
		kc_log(KC_LOG_WARN, "retention: %s", err.msg);
		return;
	}
	rc = kc_store_retention(st, kc_now(), 0, &res, &err);
	kc_store_retention_log(rc, &res, &err);
}
