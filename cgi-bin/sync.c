/*
 * sync.cgi - WooCommerce -> KeyCRM: the URL cron calls (and a shell
 * command).  Sends the shop's stock changes to KeyCRM; see SPEC section 3.
 */
#include <stdio.h>

#include "sync_endpoint.h"
#include "worker.h"

static int
shell(int argc, char **argv)
{
	return kc_sync_shell(argc, argv, stdout, stderr);
}

static const struct kc_endpoint *const endpoints[] = { &kc_sync_endpoint };

static const struct kc_program sync_program = {
	.name = "sync.cgi",
	.endpoints = endpoints,
	.n_endpoints = 1,
	.run_job = kc_job_apply,
	.shell = shell,
};

int
main(int argc, char **argv)
{
	return kc_program_main(&sync_program, argc, argv);
}
