/*
 * page_chart.c - see page_chart.h.
 */
#include "page_chart.h"

#include <stdio.h>
#include <string.h>

#include "html.h"
#include "page.h"
#include "page_time.h"

/* The drawing, in viewBox units; the SVG scales to its box. */
#define W 720
#define H 190
#define X0 40				/* left of the plot (room for the axis) */
#define X1 712
#define Y_TOP 14			/* the errors' strip above */
#define Y_AXIS 150			/* the bars stand on it */
#define Y_RUNS 156			/* the runs' strip below */
#define RUN_H 7

void
page_chart_fill(struct page_chart *c, long long now_hour,
    const struct kc_status_hour *hours, size_t n)
{
	memset(c, 0, sizeof(*c));
	c->first_hour = now_hour - PAGE_CHART_HOURS + 1;
	for (size_t i = 0; i < n; i++) {
		long long k = hours[i].hour - c->first_hour;
		if (k < 0 || k >= PAGE_CHART_HOURS)
			continue;
		c->items[k] += hours[i].items;
		c->runs[k] += hours[i].runs;
		c->webhooks[k] += hours[i].webhooks;
		c->errors[k] += hours[i].errors;
	}
	for (int k = 0; k < PAGE_CHART_HOURS; k++) {
		if (c->items[k] > c->max_items)
			c->max_items = c->items[k];
		c->total_items += c->items[k];
		c->total_runs += c->runs[k];
		c->total_webhooks += c->webhooks[k];
		c->total_errors += c->errors[k];
	}
	c->scale = page_chart_scale(c->max_items);
}

long
page_chart_scale(long max)
{
	long step = 1;

	if (max < 1)
		return 1;
	for (;;) {
		if (max <= step)
			return step;
		if (max <= 2 * step)
			return 2 * step;
		if (max <= 5 * step)
			return 5 * step;
		if (step > 100000000L)
			return max;
		step *= 10;
	}
}

/* x of the left edge of hour k. */
static double
hour_x(int k)
{
	return X0 + (double)(X1 - X0) * k / PAGE_CHART_HOURS;
}

static void
axis(struct kc_buf *b, const struct page_chart *c)
{
	double first = (double)c->first_hour * 3600, last = first + PAGE_CHART_HOURS * 3600.0;
	char label[32];

	kc_html_f(b, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
	    "<line class=\"grid\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
	    "<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%ld</text>"
	    "<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>",
	    X0, Y_AXIS, X1, Y_AXIS, X0, Y_TOP + 6, X1, Y_TOP + 6, X0 - 4, Y_TOP + 10,
	    c->scale, X0 - 4, Y_AXIS);
	/* A line at each local midnight, with the day it begins (DST days too). */
	for (double day = page_tz_day_start(page_tz_day_start(first) + 27 * 3600); day < last;
	    day = page_tz_day_start(day + 27 * 3600)) {
		double x = X0 + (double)(X1 - X0) * (day - first) / (last - first);
		page_tz_format(day, "%d.%m", label, sizeof(label));
		kc_html_f(b, "<line class=\"day\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
		    "<text class=\"tick\" x=\"%.1f\" y=\"%d\">%s</text>", x, Y_TOP, x,
		    Y_RUNS + RUN_H, x + 2, H - 6, label);
	}
}

void
page_chart_svg(struct kc_buf *b, const struct page_chart *c)
{
	const double bar = (double)(X1 - X0) / PAGE_CHART_HOURS;
	char when[48];

	kc_html_f(b, "<svg class=\"chart\" id=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" "
	    "aria-labelledby=\"chart-title chart-desc\" preserveAspectRatio=\"xMidYMid meet\">"
	    "<title id=\"chart-title\">%s</title><desc id=\"chart-desc\">", W, H,
	    _("The last 7 days, hour by hour"));
	kc_html_f(b, _("%ld items moved, %ld runs, %ld webhooks, %ld errors."),
	    c->total_items, c->total_runs, c->total_webhooks, c->total_errors);
	kc_html_raw(b, "</desc>");
	axis(b, c);
	for (int k = 0; k < PAGE_CHART_HOURS; k++) {
		double x = hour_x(k);
		if (c->items[k] + c->runs[k] + c->webhooks[k] + c->errors[k] == 0)
			continue;
		page_tz_format((double)(c->first_hour + k) * 3600, "%d.%m %H:00", when, sizeof(when));
		kc_html_f(b, "<g><title>%s: ", when);
		kc_html_f(b, _("%ld items, %ld runs, %ld webhooks, %ld errors"), c->items[k],
		    c->runs[k], c->webhooks[k], c->errors[k]);
		kc_html_raw(b, "</title>");
		if (c->items[k] > 0) {
			double h = (double)(Y_AXIS - Y_TOP - 6) * c->items[k] / c->scale;
			if (h < 1)
				h = 1;
			kc_html_f(b, "<rect class=\"bar\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
			    "height=\"%.2f\"/>", x, Y_AXIS - h, bar * 0.85, h);
		}
		if (c->runs[k] + c->webhooks[k] > 0)
			kc_html_f(b, "<rect class=\"run\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" "
			    "height=\"%d\"/>", x, Y_RUNS, bar * 0.85, RUN_H);
		if (c->errors[k] > 0)
			kc_html_f(b, "<path class=\"err\" d=\"M%.2f %dl%.2f 0l-%.2f %.2fz\"/>",
			    x + bar * 0.425 - 4, Y_TOP - 10, 8.0, 4.0, 8.0);
		kc_html_raw(b, "</g>");
	}
	kc_html_raw(b, "</svg>");
}
