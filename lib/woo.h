/*
 * woo.h - the WooCommerce REST API (wc/v3) client: finding products by
 * SKU and setting their stock.
 *
 * Facts it relies on (reference/woocommerce-api.md and the recordings):
 * ?sku=a,b,c matches case-insensitively and includes variations (with
 * type "variation" and parent_id); an empty sku= (or "0") means no filter at
 * all; '+' must be sent as %2B; batches take at most 100 items, always
 * answer 200 and report failures per item in place; a variation sent to
 * another parent's batch is moved there, so variations are grouped by
 * their true parent.  Over https the key goes as HTTP Basic; over plain
 * http WooCommerce only accepts OAuth 1.0a signatures.
 */
#ifndef KC_WOO_H
#define KC_WOO_H

#include <stddef.h>

#include "http.h"
#include "util.h"

#define KC_WOO_BATCH_MAX 100
#define KC_WOO_LOOKUP_MAX 100

struct kc_config;

#define KC_WOO_PARALLEL_MAX 8

struct kc_woo {
	struct kc_http http;
	/* More connections for listing pages in parallel. */
	struct kc_http extra[KC_WOO_PARALLEL_MAX - 1];
	int parallel;			/* woo_parallel_requests */
	char *api;			/* woo_url + "/wp-json/wc/v3" */
	char *root;			/* woo_url + "/wp-json" */
	char *consumer_key;
	char *consumer_secret;
	int oauth;			/* plain http: sign with OAuth 1.0a */
	int auth_failed;		/* the shop rejected our key */
	int no_route;			/* the last listing's route does not exist */
};

enum kc_woo_manage { KC_WOO_MANAGE_NO, KC_WOO_MANAGE_YES, KC_WOO_MANAGE_PARENT };

/* One product or variation as a lookup returned it. */
struct kc_woo_product {
	long long id;
	long long parent_id;		/* 0 for top-level products */
	char type[16];			/* simple, variable, variation, ... */
	char *sku;
	enum kc_woo_manage manage;
	int has_qty;
	long long qty;
	char name[204];			/* for people, cut; "" when not given */
};

struct kc_woo_products {
	struct kc_woo_product *items;
	size_t count, cap;
};

/* A stock write and, after kc_woo_set_stock(), its outcome. */
struct kc_woo_write {
	long long id;
	long long parent_id;		/* variations: their true parent */
	int is_variation;
	long long qty;
	/*
	 * Set for a write from the SKU map, made without a lookup: the answer
	 * must show this SKU on the product, else the write is "stale".
	 */
	const char *expect_sku;
	/* outcome */
	int done;			/* the shop reports the new quantity */
	int transient;			/* failed, worth retrying as is */
	int stale;			/* the product is gone or is not expect_sku's now */
	int stale_written;		/* ... and it was written all the same */
	char error[256];
};

int kc_woo_init(struct kc_woo *w, const struct kc_config *cfg,
    struct kc_error *err);
/* The same with another key than the configured one (a key being checked). */
int kc_woo_init_key(struct kc_woo *w, const struct kc_config *cfg, const char *ck,
    const char *cs, struct kc_error *err);
void kc_woo_cleanup(struct kc_woo *w);

/*
 * Looks up skus (any number; chunked) and appends every returned product
 * whose SKU equals one of them, ignoring ASCII case as the shop does.
 */
int kc_woo_find_skus(struct kc_woo *w, char *const *skus, size_t n,
    struct kc_woo_products *out, struct kc_error *err);
void kc_woo_products_free(struct kc_woo_products *p);

/*
 * Writes {"manage_stock":true,"stock_quantity":N} through the batch
 * endpoints, grouped by parent, at most 100 per request.  Each write gets
 * its outcome.  Returns -1 when a whole request failed (shop down, key
 * rejected); the writes not done are then marked transient and the rest
 * are not tried.  A write with expect_sku is done only when the answer
 * shows that SKU (ignoring ASCII case) on the product; alone, such a write
 * goes as one product request (POST /products/{id}) instead of a batch.
 */
int kc_woo_set_stock(struct kc_woo *w, struct kc_woo_write *writes,
    size_t n, struct kc_error *err);

/*
 * One authenticated request to the shop's REST API: path_query starts
 * after "/wp-json" (e.g. "/wc/v3/products?per_page=1").  Returns 0 when an
 * answer arrived (any status; 401/403 also set w->auth_failed), -1 when
 * none did.
 */
int kc_woo_request(struct kc_woo *w, const char *method, const char *path_query,
    const char *json_body, struct kc_http_response *resp, struct kc_error *err);

/* "message" of a WordPress error answer, for reports. */
void kc_woo_error_message(const struct kc_http_response *resp, char *out,
    size_t outsz);

enum kc_woo_listing {
	KC_WOO_LIST_PRODUCTS,		/* /wc/v3/products: never variations */
	KC_WOO_LIST_VARIATIONS,		/* /wc-analytics/variations: all of them */
	KC_WOO_LIST_PARENT_VARIATIONS,	/* /wc/v3/products/{parent}/variations */
};

/*
 * One page (100 items, by id) of a catalogue listing, optionally only
 * what changed after modified_after (GMT, "2026-11-27T01:02:03").  Sets
 * w->no_route when the shop has no such route (older WooCommerce, or
 * WooCommerce Admin disabled for the analytics one).
 */
int kc_woo_list(struct kc_woo *w, enum kc_woo_listing what, long long parent,
    const char *modified_after, long page, struct kc_woo_products *out,
    long *total_pages, struct kc_error *err);

/*
 * Pages first .. first + count - 1 of a listing, read at once (count at
 * most w->parallel); outs[k] gets page first + k.  A page that fails is
 * read again on its own, with retries.
 */
int kc_woo_list_pages(struct kc_woo *w, enum kc_woo_listing what,
    long long parent, const char *modified_after, long first, long count,
    struct kc_woo_products *outs, long *total_pages, struct kc_error *err);

/* One line of a shop order, for shop_orders_in_keycrm = yes. */
struct kc_woo_order_line {
	long long line_id;
	long long order_id;
	char *sku;
	double reduced;		/* stock the order took (0: none, or given back) */
	double created_at;	/* the order's date_created_gmt (unix time) */
	double modified_at;	/* its date_modified_gmt */
};

/*
 * One page of /wc/v3/orders changed after modified_after (GMT).  A line's
 * "reduced" is its _reduced_stock meta (WooCommerce removes it when a
 * cancellation puts the stock back).
 */
int kc_woo_list_orders(struct kc_woo *w, const char *modified_after, long page,
    struct kc_woo_order_line **lines, size_t *n, long *total_pages,
    struct kc_error *err);
void kc_woo_order_lines_free(struct kc_woo_order_line *lines, size_t n);

/* Parses a lookup answer (a JSON array); for tests and fuzzing. */
int kc_woo_parse_products(const char *json, size_t len,
    struct kc_woo_products *out, struct kc_error *err);

#endif
