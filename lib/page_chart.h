/*
 * page_chart.h - the History section's chart of the last 7 days, hour by
 * hour: what moved (items), the runs, and the hours with errors; drawn on
 * the server as inline SVG (no script, nothing loaded, styled by page.css).
 */
#ifndef KC_PAGE_CHART_H
#define KC_PAGE_CHART_H

#include "store_status.h"
#include "util.h"

#define PAGE_CHART_HOURS (7 * 24)

struct page_chart {
	long long first_hour;		/* unix time / 3600 of the leftmost hour */
	long items[PAGE_CHART_HOURS];
	long runs[PAGE_CHART_HOURS];
	long webhooks[PAGE_CHART_HOURS];
	long errors[PAGE_CHART_HOURS];
	long max_items, total_items, total_runs, total_webhooks, total_errors;
	long scale;			/* the top of the axis */
};

/* Buckets the hours (any order; those outside the 7 days are left out). */
void page_chart_fill(struct page_chart *c, long long now_hour,
    const struct kc_status_hour *hours, size_t n);

/* A round top for an axis that must show max: 1, 2, 5, 10, 20, 50, ... */
long page_chart_scale(long max);

/* The SVG (times in the page's zone, page_time.h). */
void page_chart_svg(struct kc_buf *b, const struct page_chart *c);

#endif
