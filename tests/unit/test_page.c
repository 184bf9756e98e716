/*
 * The settings page's pure pieces: which slice of a long table a page
 * shows, and the strict reading of a page number from the query.
 */
#include "unit.h"

#include "page_pager.h"

static void
pager(long total, long per, long requested, long page, long pages, long offset)
{
	struct page_pager pg;

	page_pager_init(&pg, total, per, requested);
	if (pg.page != page || pg.pages != pages || pg.offset != offset)
		fail_msg("total %ld per %ld page %ld: got page %ld of %ld at %ld, want %ld of %ld at %ld",
		    total, per, requested, pg.page, pg.pages, pg.offset, page, pages, offset);
}

static void
pages_cover_every_row_once(void **state)
{
	(void)state;
	pager(0, 50, 1, 1, 1, 0);		/* an empty table is one page */
	pager(1, 50, 1, 1, 1, 0);
	pager(50, 50, 1, 1, 1, 0);
	pager(51, 50, 2, 2, 2, 50);
	pager(120, 50, 3, 3, 3, 100);
	pager(25000, 50, 500, 500, 500, 24950);
	/* Out of range is clamped, never an empty page past the end. */
	pager(120, 50, 9, 3, 3, 100);
	pager(120, 50, 0, 1, 3, 0);
	pager(120, 50, -4, 1, 3, 0);
	pager(-5, 50, 2, 1, 1, 0);
	pager(10, 0, 3, 3, 10, 2);		/* per < 1 counts as 1 */
}

static void
page_numbers_are_read_strictly(void **state)
{
	(void)state;
	assert_int_equal(page_number("3"), 3);
	assert_int_equal(page_number("1000000"), 1000000);
	assert_int_equal(page_number(NULL), 1);
	assert_int_equal(page_number(""), 1);
	assert_int_equal(page_number("0"), 1);
	assert_int_equal(page_number("-2"), 1);
	assert_int_equal(page_number("+2"), 1);
	assert_int_equal(page_number("2x"), 1);
	assert_int_equal(page_number(" 2"), 1);
	assert_int_equal(page_number("1000001"), 1);
	assert_int_equal(page_number("99999999999999999999"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pages_cover_every_row_once),
		cmocka_unit_test(page_numbers_are_read_strictly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
