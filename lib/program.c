/*
 * program.c - the request pipeline of worker.h: method, configuration
 * and secret checked once, for every endpoint alike.
 */
#include "worker.h"

#include "i18n.h"
#include "util.h"

static void
serve_endpoint(const struct kc_endpoint *ep, struct kc_request *req,
    struct kc_job *job)
{
	const struct kc_config *cfg;
	const char *want, *given;

	if (ep->handle_raw != NULL) {
		ep->handle_raw(req, job);
		return;
	}
	if ((cfg = kc_request_config(req, job, ep->allow)) == NULL)
		return;
	if (ep->secret != NULL) {
		want = ep->secret(cfg);
		if (want == NULL) {
			kc_respond_error(req, 503, _(ep->not_set_up));
			return;
		}
		given = ep->secret_param ? kc_request_param(req, ep->secret_param) : NULL;
		if (given == NULL && ep->secret_header != NULL)
			given = kc_request_env(req, ep->secret_header);
		if (!kc_secret_equal(given, want)) {
			kc_log(KC_LOG_WARN, "%s", ep->refused);
			kc_respond_error(req, 403, _("forbidden"));
			return;
		}
	}
	ep->handle(req, cfg, job);
}

void
kc_program_serve(const struct kc_program *prog, struct kc_request *req,
    struct kc_job *job)
{
	for (size_t i = 0; i < prog->n_endpoints; i++) {
		const struct kc_endpoint *ep = prog->endpoints[i];

		if (ep->matches == NULL || ep->matches(req)) {
			serve_endpoint(ep, req, job);
			return;
		}
	}
	if (prog->handle != NULL)
		prog->handle(req, job);
	else
		kc_log(KC_LOG_ERROR, "%s: no endpoint for this request", prog->name);
	/* Unanswered, the worker answers 500. */
}
