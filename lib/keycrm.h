/*
 * keycrm.h - the KeyCRM OpenAPI client (reference/keycrm-api.md): checking
 * the key, writing stock (PUT /offers/stocks) and reading it
 * (GET /offers/stocks), never faster than keycrm_requests_per_minute.
 *
 * The limit holds across processes: every request first takes a slot in
 * the state store's sliding 60-second window, waiting when the window is
 * full, so a sync run, a backfill and the settings page together stay
 * under it.
 */
#ifndef KC_KEYCRM_H
#define KC_KEYCRM_H

#include <stddef.h>

#include <jansson.h>

#include "http.h"
#include "store.h"
#include "util.h"

#define KC_KEYCRM_PUT_MAX 10000
#define KC_KEYCRM_PAGE_MAX 50

struct kc_config;

struct kc_keycrm {
	struct kc_http http;
	char *base;			/* keycrm_api_url */
	char *auth_header;		/* "Authorization: Bearer ..." */
	struct kc_store *store;		/* for the shared rate window */
	long per_minute;
	int key_rejected;		/* 401/403 seen */
	int paced_out;			/* the request limit left no time before the deadline */
};

enum kc_key_status {
	KC_KEY_VALID,
	KC_KEY_REJECTED,		/* 401/403 */
	KC_KEY_UNREACHABLE,		/* no answer, or 5xx/429 after retries */
	KC_KEY_NOT_SET,
};

/* One item of PUT /offers/stocks, and its fate. */
struct kc_keycrm_stock {
	const char *sku;
	double quantity;
	int unknown;			/* KeyCRM named it as invalid (422) */
};

/* One offer of GET /offers/stocks. */
struct kc_keycrm_offer {
	long long id;
	char *sku;
	double quantity;		/* in_stock */
	double reserve;			/* in_reserve */
};

int kc_keycrm_init(struct kc_keycrm *k, const struct kc_config *cfg,
    struct kc_store *store, struct kc_error *err);
/* The same with another key than the configured one (a key being checked). */
int kc_keycrm_init_key(struct kc_keycrm *k, const struct kc_config *cfg,
    const char *key, struct kc_store *store, struct kc_error *err);
void kc_keycrm_cleanup(struct kc_keycrm *k);

/* GET /offers?limit=1; err says why when not valid. */
enum kc_key_status kc_keycrm_check_key(struct kc_keycrm *k,
    struct kc_error *err);

/*
 * Sends the stocks to warehouse_id in as few requests as the 10,000-item
 * limit allows.  Items KeyCRM refuses by name (422, Laravel style
 * "stocks.N.sku") are marked unknown and the rest sent again; a 422 that
 * names none is split in halves to find them.  Returns 0 when every item
 * was accepted or marked unknown, -1 otherwise (err says why; items not
 * sent are those with index >= *sent).
 */
int kc_keycrm_put_stocks(struct kc_keycrm *k, long warehouse_id,
    struct kc_keycrm_stock *items, size_t n, size_t *sent,
    struct kc_error *err);

/*
 * One page of GET /offers/stocks (limit 50).  With warehouse_id > 0 it asks
 * for the per-warehouse breakdown and reports that warehouse's numbers.
 * *last_page is set from the answer.
 */
int kc_keycrm_get_stocks(struct kc_keycrm *k, long page, long warehouse_id,
    struct kc_keycrm_offer **offers, size_t *n, long *last_page,
    struct kc_error *err);
void kc_keycrm_offers_free(struct kc_keycrm_offer *offers, size_t n);

/* The stock of up to 50 SKUs (filter[offers_sku]), as above. */
int kc_keycrm_get_stocks_of(struct kc_keycrm *k, const char *const *skus,
    size_t nskus, long warehouse_id, struct kc_keycrm_offer **offers, size_t *n,
    struct kc_error *err);

/*
 * The warehouse ids KeyCRM's stock list shows (it has no API that lists
 * warehouses), from up to max_pages pages; *complete when it read them all.
 */
int kc_keycrm_warehouse_ids(struct kc_keycrm *k, long max_pages, long *ids,
    size_t max, size_t *n, int *complete, struct kc_error *err);

/* Parses a GET /offers/stocks answer; for tests and fuzzing. */
int kc_keycrm_parse_stocks(const char *json, size_t len, long warehouse_id,
    struct kc_keycrm_offer **offers, size_t *n, long *last_page,
    struct kc_error *err);

/* Reads the item indexes a 422 answer names; returns how many. */
size_t kc_keycrm_422_items(const char *json, size_t len, size_t *idx,
    size_t max);

#endif
