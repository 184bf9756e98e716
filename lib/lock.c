/*
 * lock.c - see lock.h.
 */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int
kc_lock_take(const char *state_dir, const char *name, long wait_ms, int *fd,
    struct kc_error *err)
{
	char path[4096];
	int64_t until = kc_monotonic_ms() + wait_ms;

	*fd = -1;
	snprintf(path, sizeof(path), "%s/%s", state_dir, name);
	int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (f < 0) {
		kc_error_set(err, "lock %s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (flock(f, LOCK_EX | LOCK_NB) == 0) {
			*fd = f;
			return 0;
		}
		if (errno != EWOULDBLOCK && errno != EINTR) {
			kc_error_set(err, "lock %s: %s", path, strerror(errno));
			close(f);
			return -1;
		}
		if (kc_monotonic_ms() >= until) {
			close(f);
			return 1;
		}
		kc_sleep_ms(50);
	}
}

void
kc_lock_release(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}
