/*
 * unit.h - what every unit test includes: cmocka (which needs these
 * headers first) and the library.
 */
#ifndef KC_UNIT_H
#define KC_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define assert_str(a, b) assert_string_equal((a), (b))

/* A state directory of a test's own: "/tmp/kc-NAME-XXXXXX" made in dir. */
static inline int
unit_make_dir(char *dir, size_t size, const char *name)
{
	snprintf(dir, size, "/tmp/kc-%s-XXXXXX", name);
	return mkdtemp(dir) ? 0 : -1;
}

/* Removes it again, whatever the test left in it. */
static inline int
unit_remove_dir(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
