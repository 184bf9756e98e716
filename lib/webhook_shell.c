/*
 * webhook_shell.c - webhook.cgi from a shell: --apply applies whatever the
 * inbox holds, as the web server's applier would, and says how it went.
 */
#include <stdio.h>
#include <string.h>

#include "apply.h"
#include "config.h"
#include "i18n.h"
#include "runas.h"
#include "webhook.h"
#include "worker.h"

static int
usage(FILE *f)
{
	fprintf(f,
	    _("usage: webhook.cgi --apply [--config FILE]\n"
	    "  Runs as CGI or FastCGI behind a web server; from a shell,\n"
	    "  --apply sets the shop's stock from what the inbox holds.\n"
	    "  The configuration is FILE, $%s or %s.\n"),
	    KC_CONFIG_ENV, KC_CONFIG_DEFAULT_PATH);
	return 2;
}

int
kc_webhook_shell(int argc, char **argv, FILE *out, FILE *errout)
{
	const char *path = kc_config_path(NULL);
	struct kc_config cfg;
	struct kc_apply_result res;
	struct kc_error err = { { 0 } };
	char safe[2048];
	int apply = 0, rc;

	kc_i18n_for_shell(NULL);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--apply") == 0)
			apply = 1;
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return usage(out), 0;
		else
			return usage(errout);
	}
	if (!apply)
		return usage(errout);
	if (kc_config_load(&cfg, path, &err) != 0) {
		kc_term_escape(safe, sizeof(safe), err.msg);
		fprintf(errout, "webhook.cgi: %s\n", safe);
		return 2;
	}
	kc_i18n_for_shell(cfg.language);
	if (kc_runas_state_owner(cfg.state_dir, "webhook.cgi --apply", errout, &err) != 0) {
		fprintf(errout, "webhook.cgi: %s\n", err.msg);
		kc_config_free(&cfg);
		return 2;
	}
	kc_apply_result_init(&res);
	rc = kc_apply_run(&cfg, NULL, cfg.sync_max_seconds * 1000, NULL, &res, &err);
	/* Messages may quote the shop: escaped for the terminal. */
	kc_term_escape(safe, sizeof(safe), rc < 0 ? err.msg : res.error);
	if (rc < 0)
		fprintf(errout, "webhook.cgi: %s\n", safe);
	else if (rc > 0)
		fprintf(errout, "%s", _("webhook.cgi: another applier is running\n"));
	else
		fprintf(out, _("%ld applied, %ld unchanged, %ld unmatched, %ld skipped, "
		    "%ld failed, %ld still queued%s%s\n"), res.applied, res.unchanged,
		    res.unmatched, res.skipped, res.failed, res.pending,
		    res.error[0] ? "; " : "", safe);
	if (rc == 0 && (res.failed > 0 || res.error[0] != '\0'))
		rc = -1;
	kc_apply_result_free(&res);
	kc_config_free(&cfg);
	return rc < 0 ? 1 : rc > 0 ? 3 : 0;
}
