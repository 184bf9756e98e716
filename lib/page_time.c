/*
 * page_time.c - see page_time.h.
 */
#include "page_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define ZONEINFO "/usr/share/zoneinfo/"
#define TZ_NAME_MAX 64

static char saved[TZ_NAME_MAX + 2];
static int had_tz, in_use;

int
page_tz_valid(const char *name)
{
	char path[sizeof(ZONEINFO) + TZ_NAME_MAX];
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || name[n - 1] == '/' ||
	    strstr(name, "..") != NULL || strstr(name, "//") != NULL ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_+-/") != n)
		return 0;
	if (strcmp(name, "UTC") == 0)
		return 1;
	snprintf(path, sizeof(path), ZONEINFO "%s", name);
	return access(path, R_OK) == 0;
}

int
page_tz_use(const char *name)
{
	int ok = page_tz_valid(name);
	const char *old = getenv("TZ");

	if (!in_use) {
		had_tz = old != NULL && strlen(old) < sizeof(saved);
		if (had_tz)
			kc_strlcpy(saved, old, sizeof(saved));
		in_use = 1;
	}
	/* "UTC0" needs no zoneinfo at all. */
	setenv("TZ", ok && strcmp(name, "UTC") != 0 ? name : "UTC0", 1);
	tzset();
	return ok ? 0 : -1;
}

void
page_tz_restore(void)
{
	if (!in_use)
		return;
	if (had_tz)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	in_use = 0;
}

void
page_tz_format(double t, const char *fmt, char *out, size_t outsz)
{
	time_t secs = (time_t)t;
	struct tm tm;

	size_t n = 0;

	/* fmt is checked at the callers (format(strftime) in page_time.h). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	if (t > 0 && localtime_r(&secs, &tm) != NULL)
		n = strftime(out, outsz, fmt, &tm);
#pragma GCC diagnostic pop
	if (n == 0)
		kc_strlcpy(out, "?", outsz);
}

double
page_tz_day_start(double t)
{
	time_t secs = (time_t)t;
	struct tm tm;

	if (localtime_r(&secs, &tm) == NULL)
		return t;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return (double)mktime(&tm);
}
