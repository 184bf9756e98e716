/*
 * webhook.cgi - KeyCRM -> WooCommerce: receives KeyCRM's stock webhook,
 * stores it durably, answers, then applies it to the shop.
 *
 * From a shell:  webhook.cgi --apply   applies whatever the inbox holds.
 */
#include <stdio.h>

#include "webhook.h"
#include "worker.h"

static int
shell(int argc, char **argv)
{
	return kc_webhook_shell(argc, argv, stdout, stderr);
}

static const struct kc_program webhook = {
	.name = "webhook.cgi",
	.handle = kc_webhook_handle,
	.run_job = kc_job_apply,
	.shell = shell,
};

int
main(int argc, char **argv)
{
	return kc_program_main(&webhook, argc, argv);
}
