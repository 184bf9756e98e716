/*
 * runas.c - see runas.h.
 */
#include "runas.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
kc_runas_state_owner(const char *state_dir, const char *command, FILE *note,
    struct kc_error *err)
{
	struct stat sb;
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if (stat(state_dir, &sb) != 0) {
		kc_error_set(err, "running as root, and state_dir %s cannot be used (%s): create it owned by the web server's user (make install does), then run: runuser -u www-data -- %s",
		    state_dir, strerror(errno), command);
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		kc_error_set(err, "state_dir %s is not a directory", state_dir);
		return -1;
	}
	if (sb.st_uid == 0) {
		kc_error_set(err, "running as root, and state_dir %s belongs to root, so the web server cannot write it: chown it to the web server's user (chown -R www-data: %s), then run: runuser -u www-data -- %s",
		    state_dir, state_dir, command);
		return -1;
	}
	if ((pw = getpwuid(sb.st_uid)) == NULL) {
		kc_error_set(err, "running as root, and state_dir %s belongs to uid %lu, which has no account: run the command as the web server's user (runuser -u www-data -- %s)",
		    state_dir, (unsigned long)sb.st_uid, command);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		kc_error_set(err, "cannot switch to %s, the owner of state_dir %s (%s): run: runuser -u %s -- %s",
		    pw->pw_name, state_dir, strerror(errno), pw->pw_name, command);
		return -1;
	}
	/* Dropped for good: root cannot be taken back. */
	if (setuid(0) == 0 || geteuid() == 0) {
		kc_error_set(err, "could not give up root");
		return -1;
	}
	if (note != NULL)
		fprintf(note, "running as %s, the owner of %s\n", pw->pw_name, state_dir);
	return 0;
}
