/*
 * page_pager.h - which slice of a long table a page shows (pure: no I/O,
 * unit-tested), and the strict reading of a page number from a query.
 */
#ifndef KC_PAGE_PAGER_H
#define KC_PAGE_PAGER_H

struct page_pager {
	long total;		/* rows in all */
	long per;		/* rows per page */
	long page;		/* 1-based, within 1 .. pages */
	long pages;		/* at least 1 */
	long offset;		/* of the page's first row */
};

/* requested outside 1 .. pages is clamped; per < 1 counts as 1. */
void page_pager_init(struct page_pager *pg, long total, long per, long requested);

/* "3" -> 3; NULL, empty, signs, non-digits, 0 or over 1,000,000 -> 1. */
long page_number(const char *s);

#endif
