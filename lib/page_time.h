/*
 * page_time.h - the settings page's times in the site's time zone (the
 * `timezone` key, a tz database name; UTC by default).
 *
 * The zone is the process's (TZ, then localtime_r): set at the start of a
 * page request and put back at its end.  A FastCGI worker answers one
 * request at a time, and nothing else in the programs uses local time.
 */
#ifndef KC_PAGE_TIME_H
#define KC_PAGE_TIME_H

#include <stddef.h>

/*
 * A tz database name that may be used: letters, digits, _ + - and '/'
 * between parts, no "..", not absolute, and known to the system's zoneinfo
 * (UTC always is).  1 yes, 0 no.
 */
int page_tz_valid(const char *name);

/* Uses name (or UTC when it is not valid: returns -1) until page_tz_restore. */
int page_tz_use(const char *name);
void page_tz_restore(void);

/* strftime of t in that zone; "?" when t cannot be shown. */
void page_tz_format(double t, const char *fmt, char *out, size_t outsz)
    __attribute__((format(strftime, 2, 0)));

/* The start of t's local day (midnight, as unix time). */
double page_tz_day_start(double t);

#endif
