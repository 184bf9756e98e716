/*
 * settings.cgi - the administrator's page (SPEC section 3): status,
 * connection checks, setup, settings, problems and history, behind the
 * web server's HTTP authentication.
 *
 * It is a web page: from a shell it only says so.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "settings_page.h"
#include "worker.h"

static int
shell(int argc, char **argv)
{
	FILE *f = argc > 1 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) ? stdout : stderr;

	fprintf(f,
	    "usage: settings.cgi (run by a web server, as CGI or FastCGI)\n"
	    "  The administrator's page of keycrm-sync; open /keycrm/settings in a\n"
	    "  browser, behind the web server's HTTP Basic auth (see the example\n"
	    "  configs).  The configuration is $%s or %s.\n"
	    "  From a shell use sync.cgi and webhook.cgi instead.\n",
	    KC_CONFIG_ENV, KC_CONFIG_DEFAULT_PATH);
	return 2;
}

static const struct kc_program settings = {
	.name = "settings.cgi",
	.handle = kc_settings_handle,
	.run_job = NULL,
	.shell = shell,
};

int
main(int argc, char **argv)
{
	return kc_program_main(&settings, argc, argv);
}
