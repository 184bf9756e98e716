/*
 * settings_file.c: settings.conf checked like the configuration, replaced
 * atomically, mode 0600; a crash never leaves half a file to read.
 */
#include "unit.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "settings_file.h"

struct fixture {
	char dir[64];
	char conf[128];
	char settings[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	FILE *fp;

	strcpy(f->dir, "/tmp/kc-settings-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->conf, sizeof(f->conf), "%s/main.conf", f->dir);
	snprintf(f->settings, sizeof(f->settings), "%s/" KC_SETTINGS_FILE, f->dir);
	fp = fopen(f->conf, "w");
	if (fp == NULL)
		return -1;
	fprintf(fp, "state_dir = %s\nkeycrm_warehouse_id = 3\n", f->dir);
	fclose(fp);
	chmod(f->conf, 0640);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	free(f);
	return system(cmd) == 0 ? 0 : -1;
}

static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = calloc(1, 65536);

	if (fp == NULL) {
		free(buf);
		return NULL;
	}
	if (fread(buf, 1, 65535, fp) == 0)
		buf[0] = '\0';
	fclose(fp);
	return buf;
}

/* Files in dir whose name starts with prefix. */
static int
count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static void
writes_0600_and_the_configuration_reads_it(void **state)
{
	struct fixture *f = *state;
	struct kc_settings_values v = { "KEY-123", "7", "no", "enable", NULL, NULL, NULL };
	struct kc_error err = { { 0 } };
	struct kc_config cfg;
	struct stat st;
	char *text;

	assert_int_equal(kc_settings_file_write(f->dir, &v, "admin", &err), 0);
	assert_int_equal(stat(f->settings, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(count_files(f->dir, ".settings"), 0);
	text = slurp(f->settings);
	assert_non_null(strstr(text, "by admin."));
	assert_non_null(strstr(text, "\nkeycrm_api_key = KEY-123\nkeycrm_warehouse_id = 7\n"
	    "subtract_reserve = no\nmanage_stock = enable\n"));
	free(text);
	assert_int_equal(kc_config_load(&cfg, f->conf, &err), 0);
	assert_str(cfg.keycrm_api_key, "KEY-123");
	assert_int_equal(cfg.keycrm_warehouse_id, 7);
	assert_int_equal(cfg.subtract_reserve, 0);
	assert_int_equal(cfg.manage_stock, KC_MANAGE_ENABLE);
	assert_int_equal(cfg.source[KC_KEY_KEYCRM_API_KEY], KC_SRC_SETTINGS);
	assert_int_equal(cfg.source[KC_KEY_KEYCRM_WAREHOUSE_ID], KC_SRC_SETTINGS);
	assert_int_equal(cfg.source[KC_KEY_MANAGE_STOCK], KC_SRC_SETTINGS);
	assert_int_equal(cfg.source[KC_KEY_STATE_DIR], KC_SRC_FILE);
	kc_config_free(&cfg);
}

static void
keys_left_out_fall_back_to_the_main_file(void **state)
{
	struct fixture *f = *state;
	struct kc_settings_values v = { NULL, NULL, "no", NULL, NULL, NULL, NULL };
	struct kc_error err = { { 0 } };
	struct kc_config cfg;
	char *text;

	assert_int_equal(kc_settings_file_write(f->dir, &v, NULL, &err), 0);
	text = slurp(f->settings);
	assert_null(strstr(text, "keycrm_warehouse_id"));
	assert_null(strstr(text, "keycrm_api_key"));
	free(text);
	assert_int_equal(kc_config_load(&cfg, f->conf, &err), 0);
	assert_int_equal(cfg.keycrm_warehouse_id, 3);
	assert_int_equal(cfg.source[KC_KEY_KEYCRM_WAREHOUSE_ID], KC_SRC_FILE);
	assert_int_equal(cfg.source[KC_KEY_SUBTRACT_RESERVE], KC_SRC_SETTINGS);
	assert_int_equal(cfg.source[KC_KEY_MANAGE_STOCK], KC_SRC_DEFAULT);
	kc_config_free(&cfg);
}

static void
bad_values_are_refused_and_the_old_file_kept(void **state)
{
	static const struct {
		struct kc_settings_values v;
		const char *want;
	} cases[] = {
		{ { NULL, "abc", NULL, NULL, NULL, NULL, NULL }, "keycrm_warehouse_id must be a whole number" },
		{ { NULL, "0", NULL, NULL, NULL, NULL, NULL }, "keycrm_warehouse_id must be between 1" },
		{ { NULL, NULL, "maybe", NULL, NULL, NULL, NULL }, "subtract_reserve must be yes or no" },
		{ { NULL, NULL, NULL, "always", NULL, NULL, NULL }, "manage_stock must be skip or enable" },
		{ { "two words", NULL, NULL, NULL, NULL, NULL, NULL }, "keycrm_api_key must be printable" },
		{ { "", NULL, NULL, NULL, NULL, NULL, NULL }, "keycrm_api_key' has no value" },
		/* A line break would smuggle in a key the page may not set. */
		{ { NULL, "1\nwebhook_secret = abcdefghijklmnopqrstuvwxyz0123456789", NULL, NULL, NULL, NULL, NULL },
		    "keycrm_warehouse_id must be one line" },
		{ { "KEY\r", NULL, NULL, NULL, NULL, NULL, NULL }, "keycrm_api_key must be one line" },
		{ { " KEY", NULL, NULL, NULL, NULL, NULL, NULL }, "keycrm_api_key must be one line" },
	};
	struct fixture *f = *state;
	struct kc_settings_values good = { "KEY-1", "7", NULL, NULL, NULL, NULL, NULL };
	struct kc_error err;
	char *before, *after;

	assert_int_equal(kc_settings_file_write(f->dir, &good, "admin", NULL), 0);
	before = slurp(f->settings);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(kc_settings_file_write(f->dir, &cases[i].v, "admin", &err), -1);
		if (strstr(err.msg, cases[i].want) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.msg, cases[i].want);
		/* The message is for the page: no file name, no value. */
		assert_null(strstr(err.msg, KC_SETTINGS_FILE ":"));
		assert_null(strstr(err.msg, "two words"));
	}
	after = slurp(f->settings);
	assert_str(before, after);
	assert_int_equal(count_files(f->dir, ".settings"), 0);
	free(before);
	free(after);
}

static void
the_user_name_stays_in_its_comment(void **state)
{
	struct fixture *f = *state;
	struct kc_settings_values v = { NULL, "5", NULL, NULL, NULL, NULL, NULL };
	struct kc_config cfg;
	struct kc_error err = { { 0 } };
	char *text;

	assert_int_equal(kc_settings_file_write(f->dir, &v, "ad\nmanage_stock = enable", &err), 0);
	text = slurp(f->settings);
	assert_non_null(strstr(text, "by ad?manage_stock = enable."));
	free(text);
	assert_int_equal(kc_config_load(&cfg, f->conf, &err), 0);
	assert_int_equal(cfg.manage_stock, KC_MANAGE_SKIP);
	assert_int_equal(cfg.keycrm_warehouse_id, 5);
	kc_config_free(&cfg);
}

static void
a_missing_directory_is_an_error(void **state)
{
	struct kc_settings_values v = { NULL, "5", NULL, NULL, NULL, NULL, NULL };
	struct kc_error err = { { 0 } };

	(void)state;
	assert_int_equal(kc_settings_file_write("/nonexistent/kc", &v, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "cannot create a file in /nonexistent/kc"));
}

/* Killed between writing the new file and renaming it: the old one stays. */
static void
a_crash_before_the_rename_leaves_the_old_file(void **state)
{
	struct fixture *f = *state;
	struct kc_settings_values old = { NULL, "7", NULL, NULL, NULL, NULL, NULL };
	struct kc_settings_values new = { NULL, "8", "no", NULL, NULL, NULL, NULL };
	struct kc_config cfg;
	struct kc_error err = { { 0 } };
	int status;
	pid_t pid;

	assert_int_equal(kc_settings_file_write(f->dir, &old, NULL, &err), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("KEYCRM_SYNC_CRASH_AT", "settings-before-rename", 1);
		kc_settings_file_write(f->dir, &new, NULL, NULL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(kc_config_load(&cfg, f->conf, &err), 0);
	assert_int_equal(cfg.keycrm_warehouse_id, 7);
	assert_int_equal(cfg.source[KC_KEY_SUBTRACT_RESERVE], KC_SRC_DEFAULT);
	kc_config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(writes_0600_and_the_configuration_reads_it, setup, teardown),
		cmocka_unit_test_setup_teardown(keys_left_out_fall_back_to_the_main_file, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_values_are_refused_and_the_old_file_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(the_user_name_stays_in_its_comment, setup, teardown),
		cmocka_unit_test_setup_teardown(a_missing_directory_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(a_crash_before_the_rename_leaves_the_old_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
