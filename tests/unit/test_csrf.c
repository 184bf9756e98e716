/*
 * csrf.c: tokens bound to the user and a time slot, a key made once.
 */
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csrf.h"

#define T0 1790000000		/* some time in 2026 */

static char *
temp_dir(void)
{
	char *d = strdup("/tmp/kc-csrf-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static void
remove_dir(char *d)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
	free(d);
}

static int
entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
key_is_made_once_with_mode_0600(void **state)
{
	char *dir = temp_dir(), path[256], t1[KC_CSRF_TOKEN_LEN + 1], t2[KC_CSRF_TOKEN_LEN + 1];
	struct kc_csrf a, b;
	struct kc_error err = { { 0 } };
	struct stat st;

	(void)state;
	assert_int_equal(kc_csrf_init(&a, dir, &err), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, KC_CSRF_KEY_FILE);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, KC_CSRF_KEY_BYTES);
	assert_int_equal(entries(dir), 1);	/* no temporary file left */
	assert_int_equal(kc_csrf_init(&b, dir, &err), 0);
	kc_csrf_token(&a, "admin", T0, t1);
	kc_csrf_token(&b, "admin", T0, t2);
	assert_str(t1, t2);
	kc_csrf_clear(&a);
	kc_csrf_clear(&b);
	remove_dir(dir);
}

static void
tokens_are_bound_to_user_and_slot(void **state)
{
	char *dir = temp_dir(), t[4][KC_CSRF_TOKEN_LEN + 1];
	struct kc_csrf c;

	(void)state;
	assert_int_equal(kc_csrf_init(&c, dir, NULL), 0);
	kc_csrf_token(&c, "admin", T0, t[0]);
	kc_csrf_token(&c, "admin", T0 + 1, t[1]);
	kc_csrf_token(&c, "admin2", T0, t[2]);
	kc_csrf_token(&c, "admin", T0 + KC_CSRF_SLOT_SECONDS, t[3]);
	assert_int_equal(strlen(t[0]), KC_CSRF_TOKEN_LEN);
	assert_int_equal(strspn(t[0], "0123456789abcdef"), KC_CSRF_TOKEN_LEN);
	assert_str(t[0], t[1]);
	assert_string_not_equal(t[0], t[2]);
	assert_string_not_equal(t[0], t[3]);
	kc_csrf_clear(&c);
	remove_dir(dir);
}

static void
check_takes_this_slot_and_the_one_before(void **state)
{
	char *dir = temp_dir(), t[KC_CSRF_TOKEN_LEN + 1], bad[KC_CSRF_TOKEN_LEN + 2];
	const int64_t s = KC_CSRF_SLOT_SECONDS, start = (T0 / s) * s;
	struct kc_csrf c;

	(void)state;
	assert_int_equal(kc_csrf_init(&c, dir, NULL), 0);
	kc_csrf_token(&c, "admin", start, t);
	assert_int_equal(kc_csrf_check(&c, "admin", t, start), 1);
	assert_int_equal(kc_csrf_check(&c, "admin", t, start + s - 1), 1);
	assert_int_equal(kc_csrf_check(&c, "admin", t, start + 2 * s - 1), 1);
	assert_int_equal(kc_csrf_check(&c, "admin", t, start + 2 * s), 0);
	/* Not a token from the future either. */
	assert_int_equal(kc_csrf_check(&c, "admin", t, start - 1), 0);
	assert_int_equal(kc_csrf_check(&c, "other", t, start), 0);
	assert_int_equal(kc_csrf_check(&c, "", t, start), 0);
	assert_int_equal(kc_csrf_check(&c, NULL, t, start), 0);
	assert_int_equal(kc_csrf_check(&c, "admin", NULL, start), 0);
	assert_int_equal(kc_csrf_check(&c, "admin", "", start), 0);
	strcpy(bad, t);
	bad[10] = bad[10] == '0' ? '1' : '0';
	assert_int_equal(kc_csrf_check(&c, "admin", bad, start), 0);
	strcpy(bad, t);
	bad[KC_CSRF_TOKEN_LEN - 1] = '\0';
	assert_int_equal(kc_csrf_check(&c, "admin", bad, start), 0);
	strcpy(bad, t);
	strcat(bad, "0");
	assert_int_equal(kc_csrf_check(&c, "admin", bad, start), 0);
	kc_csrf_clear(&c);
	remove_dir(dir);
}

static void
a_loose_or_broken_key_file_is_refused(void **state)
{
	char *dir = temp_dir(), path[256];
	struct kc_csrf c;
	struct kc_error err = { { 0 } };
	int fd;

	(void)state;
	assert_int_equal(kc_csrf_init(&c, dir, &err), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, KC_CSRF_KEY_FILE);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(kc_csrf_init(&c, dir, &err), -1);
	assert_non_null(strstr(err.msg, "chmod 600"));
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "short", 5), 5);
	close(fd);
	assert_int_equal(kc_csrf_init(&c, dir, &err), -1);
	assert_non_null(strstr(err.msg, "32-byte"));
	kc_csrf_clear(&c);
	remove_dir(dir);
}

/* Processes racing to make the key all end up with the same one. */
static void
racing_processes_share_one_key(void **state)
{
	char *dir = temp_dir(), first[KC_CSRF_TOKEN_LEN + 1] = "";
	int fds[2];
	pid_t pids[8];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	for (int i = 0; i < 8; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct kc_csrf c;
			char t[KC_CSRF_TOKEN_LEN + 1];
			if (kc_csrf_init(&c, dir, NULL) != 0)
				_exit(1);
			kc_csrf_token(&c, "admin", T0, t);
			_exit(write(fds[1], t, KC_CSRF_TOKEN_LEN) == KC_CSRF_TOKEN_LEN ? 0 : 1);
		}
	}
	close(fds[1]);
	for (int i = 0; i < 8; i++) {
		int status;
		char t[KC_CSRF_TOKEN_LEN + 1] = "";
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_int_equal(read(fds[0], t, KC_CSRF_TOKEN_LEN), KC_CSRF_TOKEN_LEN);
		if (first[0] == '\0')
			strcpy(first, t);
		assert_str(t, first);
	}
	close(fds[0]);
	assert_int_equal(entries(dir), 1);
	remove_dir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(key_is_made_once_with_mode_0600),
		cmocka_unit_test(tokens_are_bound_to_user_and_slot),
		cmocka_unit_test(check_takes_this_slot_and_the_one_before),
		cmocka_unit_test(a_loose_or_broken_key_file_is_refused),
		cmocka_unit_test(racing_processes_share_one_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
