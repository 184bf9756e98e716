/*
 * webhook.cgi - KeyCRM -> WooCommerce: receives KeyCRM's stock webhook,
 * stores it durably, answers, then applies it to the shop.  At
 * /keycrm/shop-webhook, WooCommerce's own signed product webhooks: stored,
 * answered, then pushed to KeyCRM.
 *
 * From a shell:  webhook.cgi --apply   applies whatever the inbox holds.
 */
#include <stdio.h>

#include "shop_push.h"
#include "shop_webhook.h"
#include "webhook.h"
#include "worker.h"

static int
shell(int argc, char **argv)
{
	return kc_webhook_shell(argc, argv, stdout, stderr);
}

/* One binary, two endpoints: told apart by the request's path (SPEC 3). */
static const struct kc_endpoint shop_endpoint = {
	.matches = kc_shop_webhook_path,
	.handle_raw = kc_shop_webhook_handle,	/* signed bodies: checks its own */
};
static const struct kc_endpoint *const endpoints[] = {
	&shop_endpoint,
	&kc_webhook_endpoint,
};

static void
run_job(const struct kc_job *job)
{
	if (job->apply)
		kc_job_apply(job);
	if (job->push)
		kc_shop_push_job(job);
}

static const struct kc_program webhook = {
	.name = "webhook.cgi",
	.endpoints = endpoints,
	.n_endpoints = sizeof(endpoints) / sizeof(endpoints[0]),
	.run_job = run_job,
	.shell = shell,
};

int
main(int argc, char **argv)
{
	return kc_program_main(&webhook, argc, argv);
}
