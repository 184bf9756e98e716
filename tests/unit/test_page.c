/*
 * The settings page's pure pieces: which slice of a long table a page
 * shows, the strict reading of a page number from the query, the 7-day
 * chart's buckets and scale, and times in the site's zone.
 */
#include "unit.h"

#include "page.h"
#include "page_chart.h"
#include "page_pager.h"
#include "page_time.h"

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

static void
chart_scale_is_a_round_top_at_or_above_the_maximum(void **state)
{
	const long cases[][2] = {
		{ 0, 1 }, { -3, 1 }, { 1, 1 }, { 2, 2 }, { 3, 5 }, { 5, 5 }, { 6, 10 },
		{ 10, 10 }, { 11, 20 }, { 21, 50 }, { 51, 100 }, { 999, 1000 },
		{ 1001, 2000 }, { 25000, 50000 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (page_chart_scale(cases[i][0]) != cases[i][1])
			fail_msg("scale(%ld) = %ld, want %ld", cases[i][0],
			    page_chart_scale(cases[i][0]), cases[i][1]);
}

static void
chart_buckets_the_last_seven_days_only(void **state)
{
	const long long now = 500000;
	const struct kc_status_hour hours[] = {
		{ now - PAGE_CHART_HOURS, 9, 9, 900, 9 },	/* a week and an hour ago: out */
		{ now - PAGE_CHART_HOURS + 1, 1, 2, 30, 0 },	/* the leftmost hour */
		{ now - 5, 2, 0, 7, 1 },
		{ now, 1, 4, 12, 0 },				/* this hour */
		{ now - 5, 1, 1, 3, 0 },			/* the same hour again adds up */
		{ now + 1, 9, 9, 900, 9 },			/* the future: out */
	};
	struct page_chart c;

	(void)state;
	page_chart_fill(&c, now, hours, sizeof(hours) / sizeof(hours[0]));
	assert_int_equal(c.first_hour, now - PAGE_CHART_HOURS + 1);
	assert_int_equal(c.items[0], 30);
	assert_int_equal(c.webhooks[0], 2);
	assert_int_equal(c.items[PAGE_CHART_HOURS - 6], 10);
	assert_int_equal(c.runs[PAGE_CHART_HOURS - 6], 3);
	assert_int_equal(c.errors[PAGE_CHART_HOURS - 6], 1);
	assert_int_equal(c.items[PAGE_CHART_HOURS - 1], 12);
	assert_int_equal(c.total_items, 52);
	assert_int_equal(c.total_runs, 5);
	assert_int_equal(c.total_webhooks, 7);
	assert_int_equal(c.total_errors, 1);
	assert_int_equal(c.max_items, 30);
	assert_int_equal(c.scale, 50);
}

static void
chart_svg_is_sized_and_marks_errors(void **state)
{
	const struct kc_status_hour hours[] = { { 1000, 1, 0, 4, 1 } };
	struct page_chart c;
	struct kc_buf b;

	(void)state;
	page_tz_use("UTC");
	page_chart_fill(&c, 1000, hours, 1);
	kc_buf_init(&b);
	page_chart_svg(&b, &c);
	assert_non_null(strstr(b.data, "<svg class=\"chart\" id=\"chart\" viewBox=\"0 0 720 190\""));
	assert_non_null(strstr(b.data, "class=\"bar\""));
	assert_non_null(strstr(b.data, "class=\"err\""));
	assert_non_null(strstr(b.data, "4 items moved, 1 runs, 0 webhooks, 1 errors."));
	assert_null(strstr(b.data, "style="));
	assert_null(strstr(b.data, "<script"));
	/* Seven local midnights in a week that starts mid-day. */
	{
		int days = 0;
		for (const char *s = b.data; (s = strstr(s, "class=\"day\"")) != NULL; s++)
			days++;
		assert_int_equal(days, 7);
	}
	kc_buf_free(&b);
	page_tz_restore();
}

static void
times_are_shown_in_the_sites_zone(void **state)
{
	char out[64];
	/* 2026-12-04 12:00 UTC; 2026-07-01 12:00 UTC (Kyiv is UTC+3 in summer). */
	const double winter = 1796385600, summer = 1782907200;

	(void)state;
	assert_true(page_tz_valid("UTC"));
	assert_true(page_tz_valid("Europe/Kyiv"));
	assert_false(page_tz_valid("Mars/Olympus"));
	assert_false(page_tz_valid("../../etc/passwd"));
	assert_false(page_tz_valid("/usr/share/zoneinfo/UTC"));
	assert_false(page_tz_valid("Europe/Kyiv "));
	assert_false(page_tz_valid(""));
	assert_false(page_tz_valid(NULL));

	assert_int_equal(page_tz_use("Europe/Kyiv"), 0);
	page_tz_format(winter, "%Y-%m-%d %H:%M", out, sizeof(out));
	assert_str(out, "2026-12-04 14:00");
	page_tz_format(summer, "%H:%M", out, sizeof(out));
	assert_str(out, "15:00");
	/* Local midnight of that winter day is 22:00 UTC the day before. */
	assert_true(page_tz_day_start(winter) == winter - 14 * 3600);
	page_tz_restore();

	assert_int_equal(page_tz_use("UTC"), 0);
	page_tz_format(winter, "%H:%M %Z", out, sizeof(out));
	assert_str(out, "12:00 UTC");
	page_tz_restore();

	/* An unknown zone falls back to UTC and says so. */
	assert_int_equal(page_tz_use("Nowhere/Land"), -1);
	page_tz_format(winter, "%H:%M", out, sizeof(out));
	assert_str(out, "12:00");
	page_tz_restore();
	page_tz_format(0, "%H:%M", out, sizeof(out));
	assert_str(out, "?");
}

static void
run_counts(const struct kc_status_run *r, const char *want)
{
	struct kc_buf b;

	kc_buf_init(&b);
	page_run_counts(r, &b);
	if (strcmp(b.data ? b.data : "", want) != 0)
		fail_msg("got \"%s\", want \"%s\"", b.data ? b.data : "", want);
	kc_buf_free(&b);
}

static void
run_counts_say_one_error_not_one_errors(void **state)
{
	struct kc_status_run r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.kind = KC_RUN_SYNC;
	r.received = 12;
	r.failed = 1;
	r.shop_requests = 1;
	run_counts(&r, "12 read from the shop, 1 error; 1 shop request");
	r.failed = 2;
	r.keycrm_requests = 3;
	run_counts(&r, "12 read from the shop, 2 errors; 1 shop request, 3 KeyCRM requests");
	memset(&r, 0, sizeof(r));
	r.kind = KC_RUN_WEBHOOK;
	run_counts(&r, "nothing to do");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pages_cover_every_row_once),
		cmocka_unit_test(page_numbers_are_read_strictly),
		cmocka_unit_test(chart_scale_is_a_round_top_at_or_above_the_maximum),
		cmocka_unit_test(chart_buckets_the_last_seven_days_only),
		cmocka_unit_test(chart_svg_is_sized_and_marks_errors),
		cmocka_unit_test(times_are_shown_in_the_sites_zone),
		cmocka_unit_test(run_counts_say_one_error_not_one_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
