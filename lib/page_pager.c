/*
 * page_pager.c - see page_pager.h.
 */
#include "page_pager.h"

#include <string.h>

#define PAGE_NUMBER_MAX 1000000L

void
page_pager_init(struct page_pager *pg, long total, long per, long requested)
{
	if (total < 0)
		total = 0;
	if (per < 1)
		per = 1;
	pg->total = total;
	pg->per = per;
	pg->pages = total == 0 ? 1 : (total - 1) / per + 1;
	pg->page = requested < 1 ? 1 : requested > pg->pages ? pg->pages : requested;
	pg->offset = (pg->page - 1) * per;
}

long
page_number(const char *s)
{
	long n = 0;

	if (s == NULL || *s == '\0' || strlen(s) > 7 || strspn(s, "0123456789") != strlen(s))
		return 1;
	for (; *s; s++)
		n = n * 10 + (*s - '0');
	return n < 1 || n > PAGE_NUMBER_MAX ? 1 : n;
}
