/*
 * shop_push.c - see shop_push.h.
 */
#include "shop_push.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decide.h"
#include "keycrm.h"
#include "runlock.h"
#include "stock.h"
#include "store_shop.h"
#include "sync_send.h"

/* Changes one pass takes: far under KeyCRM's 10,000 items per PUT. */
#define PUSH_BATCH 2000

/* One change decided to be sent. */
struct outgoing {
	struct kc_send v;		/* sku: KeyCRM's spelling when known */
	const struct kc_shop_change *c;
	int64_t seq;
	int done;			/* sent, or known to be unsendable */
};

struct pass {
	const struct kc_config *cfg;
	struct kc_store *st;
	struct kc_decide_mode mode;
	double last_sync;		/* when the latest sync run started; 0: none */
	struct kc_keycrm crm;
	int crm_ready;
	struct kc_push_result *res;
	struct outgoing *out;
	size_t nout;
};

static long
delay_ms_from_env(void)
{
	const char *s = getenv(KC_PUSH_DELAY_ENV);
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return KC_PUSH_DELAY_MS_DEFAULT;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > 600000)
		return KC_PUSH_DELAY_MS_DEFAULT;
	return v;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Clocks of the shop and of this server may differ a little: a change
 * modified this close before a sync started is not taken as read by it.
 */
#define CLOCK_SKEW_SECONDS 1

/* date_modified_gmt ("YYYY-MM-DDTHH:MM:SS") as a time; -1 when unreadable. */
static double
modified_time(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, se;
	char end;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &end) != 6)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	return (double)timegm(&tm);
}

/* As the sync's shows_parent_sku(): 1, 0, or -1 when unreadable. */
static int
shows_parent_sku(struct kc_store *st, const struct kc_woo_product *p)
{
	char parent_sku[256];
	int rc;

	if (p->parent_id <= 0 || p->sku == NULL || p->sku[0] == '\0')
		return 0;
	rc = kc_store_parent_sku(st, p->parent_id, parent_sku, sizeof(parent_sku));
	if (rc < 0)
		return -1;
	return rc == 0 && strcmp(parent_sku, p->sku) == 0;
}

/*
 * Decides one change as a sync run would (sync.c consider()).  1: handled
 * (nothing to send, or recorded), 2: to be sent (added to out), 0: left
 * queued, -1 on a failed read.
 */
static int
decide_one(struct pass *ps, const struct kc_shop_change *c)
{
	struct kc_ledger_state ls;
	struct kc_decide_input in;
	struct kc_decision d;
	struct kc_error err = { { 0 } };
	struct outgoing *o;
	int64_t seq_before;
	double modified;
	int parent, dup;

	/*
	 * A sync run that started after the change was stored read the shop
	 * after it (or its cursor still covers it): pushing the change now
	 * could send an older quantity than the one that run agreed on.
	 */
	if (c->received_at < ps->last_sync) {
		ps->res->superseded++;
		return 1;
	}
	/*
	 * A delivery WooCommerce sent late: the payload was built before that
	 * sync read the product (or its cursor still covers it), so it may be
	 * older than what the sync agreed on, whenever it arrived.
	 */
	if (ps->last_sync > 0 && (modified = modified_time(c->modified)) >= 0 &&
	    modified + CLOCK_SKEW_SECONDS < floor(ps->last_sync)) {
		ps->res->superseded++;
		return 1;
	}
	if ((parent = shows_parent_sku(ps->st, &c->p)) < 0)
		return -1;
	if (kc_stock_skip_reason(&c->p, KC_FROM_SHOP, ps->cfg->manage_stock, parent) != NULL) {
		ps->res->skipped++;
		return 1;
	}
	/* Several products with this SKU (SPEC 4.6): the sync reports it. */
	if ((dup = kc_store_shop_sku_duplicate(ps->st, c->p.sku)) != 0) {
		if (dup < 0)
			return -1;
		ps->res->skipped++;
		return 1;
	}
	if ((seq_before = kc_store_change_seq(ps->st)) < 0 ||
	    kc_store_ledger_state(ps->st, c->p.sku, &ls) != 0)
		return -1;
	memset(&in, 0, sizeof(in));
	in.item = &c->p;
	in.shows_parent_sku = parent;
	in.ledger = &ls;
	in.scan_seq = seq_before;
	kc_sync_decide(&ps->mode, &in, &d);
	switch (d.kind) {
	case KC_DECIDE_SKIP:
		ps->res->skipped++;
		return 1;
	case KC_DECIDE_HOLD:
		/* KeyCRM reported meanwhile: its applier or the next sync decides. */
		ps->res->held++;
		return 0;
	case KC_DECIDE_NOTHING:
		ps->res->unchanged++;
		return 1;
	case KC_DECIDE_BASELINE:
	case KC_DECIDE_AGREE:
		ps->res->agreed++;
		return kc_store_ledger_agree(ps->st, c->p.sku, c->p.qty, kc_now(), &err) == 0 ?
		    1 : -1;
	case KC_DECIDE_SEND:
		break;
	}
	o = &ps->out[ps->nout];
	memset(o, 0, sizeof(*o));
	o->c = c;
	o->v.sku = kc_strdup(ls.keycrm_known && ls.sku[0] ? ls.sku : c->p.sku);
	if (o->v.sku == NULL)
		return -1;
	o->v.shop_qty = c->p.qty;
	o->v.send = d.send;
	o->v.change = d.change;
	o->v.reserve = d.reserve;
	o->v.need = d.need;
	o->seq = ls.known ? ls.seq : 0;
	ps->nout++;
	return 2;
}

static int
ensure_crm(struct pass *ps, struct kc_error *err)
{
	if (ps->crm_ready)
		return 0;
	if (ps->cfg->keycrm_warehouse_id <= 0) {
		kc_error_set(err, "keycrm_warehouse_id is not set");
		return -1;
	}
	if (kc_keycrm_init(&ps->crm, ps->cfg, ps->st, err) != 0)
		return -1;
	ps->crm.http.deadline_ms = kc_monotonic_ms() + ps->cfg->sync_max_seconds * 1000;
	ps->crm_ready = 1;
	return 0;
}

/*
 * One PUT for everything decided (kc_keycrm_put_stocks splits only past
 * KeyCRM's item limit), then the ledger, as the sync's flush() does: a
 * KeyCRM webhook that came in since the decision wins.
 */
static int
send_out(struct pass *ps, struct kc_error *err)
{
	struct kc_keycrm_stock *items;
	struct outgoing **which;
	struct kc_send **vals;
	size_t n = 0, m = 0, sent = 0;
	int rc;

	if (ps->nout == 0)
		return 0;
	items = calloc(ps->nout, sizeof(*items));
	which = calloc(ps->nout, sizeof(*which));
	vals = calloc(ps->nout, sizeof(*vals));
	if (items == NULL || which == NULL || vals == NULL) {
		kc_error_set(err, "out of memory");
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < ps->nout; i++) {
		struct kc_ledger_state ls;
		struct outgoing *o = &ps->out[i];

		if (kc_store_ledger_state(ps->st, o->v.sku, &ls) != 0) {
			kc_error_set(err, "cannot read the state database before sending");
			rc = -1;
			goto out;
		}
		if (ls.pending || (ls.known ? ls.seq : 0) != o->seq) {
			ps->res->held++;	/* not sent: stays queued */
			continue;
		}
		vals[n] = &o->v;
		which[n++] = o;
	}
	if (n == 0) {
		rc = 0;
		goto out;
	}
	if (ensure_crm(ps, err) != 0 ||
	    kc_send_resolve(&ps->crm, ps->cfg->keycrm_warehouse_id, vals, n, err) != 0) {
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (which[i]->v.unknown) {
			ps->res->unknown++;
			which[i]->done = 1;
			continue;
		}
		items[m].sku = which[i]->v.sku;
		items[m].quantity = which[i]->v.send;
		which[m++] = which[i];
	}
	rc = m > 0 ? kc_keycrm_put_stocks(&ps->crm, ps->cfg->keycrm_warehouse_id,
	    items, m, &sent, err) : 0;
	if (sent > 0) {
		struct kc_error e2 = { { 0 } };
		double now = kc_now();

		if (kc_store_begin(ps->st, &e2) == 0) {
			for (size_t i = 0; i < sent; i++) {
				which[i]->done = 1;
				if (items[i].unknown) {
					ps->res->unknown++;
					continue;
				}
				ps->res->sent++;
				if (kc_store_ledger_sent(ps->st, which[i]->v.sku, which[i]->seq,
				    which[i]->v.shop_qty, which[i]->v.send, which[i]->v.reserve,
				    now, &e2) != 0)
					break;
			}
			if (kc_store_commit(ps->st, &e2) != 0)
				kc_log(KC_LOG_ERROR, "push: %s", e2.msg);
		} else {
			kc_log(KC_LOG_ERROR, "push: %s", e2.msg);
		}
	}
out:
	free(items);
	free(which);
	free(vals);
	return rc;
}

/* One pass over what is queued; *handled counts what it took off the queue. */
static int
push_pass(struct pass *ps, size_t *handled, struct kc_error *err)
{
	struct kc_shop_change *c = NULL;
	signed char *state = NULL;
	size_t n = 0;
	int rc = 0;

	*handled = 0;
	if (kc_store_shop_pending(ps->st, PUSH_BATCH, &c, &n, err) != 0)
		return -1;
	if (n == 0) {
		kc_store_shop_changes_free(c, n);
		return 0;
	}
	ps->out = calloc(n, sizeof(*ps->out));
	state = calloc(n, 1);
	if (ps->out == NULL || state == NULL) {
		kc_error_set(err, "out of memory");
		rc = -1;
		goto out;
	}
	ps->nout = 0;
	for (size_t i = 0; i < n; i++) {
		int r = decide_one(ps, &c[i]);
		if (r < 0) {
			kc_error_set(err, "cannot read the state database; nothing more was decided");
			rc = -1;
			break;
		}
		state[i] = (signed char)r;
	}
	if (rc == 0 && send_out(ps, err) != 0)
		rc = -1;
	/* Sent (or named unknown by KeyCRM) is handled; a failure stays queued. */
	for (size_t i = 0; i < ps->nout; i++) {
		const struct outgoing *o = &ps->out[i];
		size_t at = (size_t)(o->c - c);
		state[at] = (signed char)o->done;
	}
	for (size_t i = 0; i < n; i++) {
		struct kc_error e2 = { { 0 } };
		if (state[i] == 1 && kc_store_shop_done(ps->st, &c[i], &e2) == 0)
			(*handled)++;
	}
out:
	for (size_t i = 0; ps->out != NULL && i < ps->nout; i++)
		free(ps->out[i].v.sku);
	free(ps->out);
	ps->out = NULL;
	ps->nout = 0;
	free(state);
	kc_store_shop_changes_free(c, n);
	return rc;
}

/* Under the push lock: waits delay_ms, then passes until the queue is done. */
static int
push_locked(const struct kc_config *cfg, struct kc_store *st, long delay_ms,
    struct kc_push_result *res, struct kc_error *err)
{
	struct pass ps;
	char flag[8];
	int rc, first;

	if (delay_ms > 0)
		sleep_ms(delay_ms);
	memset(&ps, 0, sizeof(ps));
	ps.cfg = cfg;
	ps.st = st;
	ps.res = res;
	first = kc_store_kv_get(st, "baseline.done", flag, sizeof(flag));
	ps.mode.first_scan = first == KC_STORE_ABSENT;
	ps.mode.orders_in_keycrm = cfg->shop_orders_in_keycrm;
	ps.mode.subtract_reserve = cfg->subtract_reserve;
	ps.mode.manage_stock = cfg->manage_stock;
	rc = 0;
	if (first < 0 || kc_store_shop_last_sync(st, &ps.last_sync) < 0) {
		kc_error_set(err, "cannot read the state database");
		rc = -1;
	} else if (ps.last_sync > 0 &&
	    kc_store_shop_drop_before(st, ps.last_sync, err) != 0) {
		/* What a sync run superseded goes, in every mode (see decide_one). */
		rc = -1;
	} else if (!ps.mode.first_scan && !ps.mode.orders_in_keycrm) {
		/*
		 * Changes that came in during a pass are taken by the next one,
		 * after the same wait, so that a burst that outlasts one pass
		 * still becomes a few PUTs.
		 */
		for (int i = 0; i < 100; i++) {
			size_t handled;
			if ((rc = push_pass(&ps, &handled, err)) != 0 || handled == 0 ||
			    kc_store_shop_pending_count(st) <= 0)
				break;
			if (delay_ms > 0)
				sleep_ms(delay_ms);
		}
	}
	res->queued = kc_store_shop_pending_count(st);
	if (ps.crm_ready)
		kc_keycrm_cleanup(&ps.crm);
	return rc;
}

int
kc_shop_push_run(const struct kc_config *cfg, struct kc_store *st,
    long delay_ms, struct kc_push_result *res, struct kc_error *err)
{
	struct kc_runlock *lock;
	long left;
	int rc;

	memset(res, 0, sizeof(*res));
	for (int round = 0;; round++) {
		if ((rc = kc_runlock_take(cfg, "push", 0, &lock, err)) != 0)
			return round > 0 && rc == 1 ? 0 : rc;
		rc = push_locked(cfg, st, delay_ms, res, err);
		left = res->queued;
		kc_runlock_release(lock);
		/*
		 * A change stored after the last pass read the queue found
		 * this pusher at work and left the push to it: taken now,
		 * unless another pusher already has the lock.
		 */
		if (rc != 0 || round >= 9 || kc_store_shop_pending_count(st) <= left)
			return rc;
	}
}

/*
 * The history keeps a push that moved something or failed (the page counts
 * what reached KeyCRM this way); one that found nothing to do is not news.
 */
static void
record(struct kc_store *st, double started, int rc, const struct kc_push_result *res,
    const struct kc_error *why)
{
	struct kc_history h = { 0 };
	struct kc_error err = { { 0 } };

	if (rc > 0 || (rc == 0 && res->sent == 0 && res->unknown == 0 && res->held == 0))
		return;
	h.kind = "push";
	h.started_at = started;
	h.finished_at = kc_now();
	h.received = res->sent + res->agreed + res->unchanged + res->skipped +
	    res->held + res->unknown;
	h.applied = res->sent;
	h.unmatched = res->unknown;
	h.skipped = res->skipped;
	h.pending = res->queued;
	h.error = rc < 0 ? why->msg : NULL;
	if (kc_store_history_add(st, &h, &err) != 0)
		kc_log(KC_LOG_WARN, "push: cannot record it in the history: %s", err.msg);
}

void
kc_shop_push_job(const struct kc_job *job)
{
	const struct kc_config *cfg;
	struct kc_store *st;
	struct kc_push_result res;
	struct kc_error err = { { 0 } };
	double started;
	int rc;

	if (kc_context_config(job->ctx, job->config_path, &cfg, &err) != 0) {
		kc_log(KC_LOG_ERROR, "configuration error: %s", err.msg);
		return;
	}
	if (kc_context_store(job->ctx, &st, &err) != 0) {
		kc_log(KC_LOG_ERROR, "push: %s", err.msg);
		return;
	}
	started = kc_now();
	rc = kc_shop_push_run(cfg, st, delay_ms_from_env(), &res, &err);
	record(st, started, rc, &res, &err);
	if (rc < 0)
		kc_log(KC_LOG_ERROR, "push: %s; the changes stay queued", err.msg);
	else if (rc == 0)
		kc_log(KC_LOG_INFO, "push: %ld sent, %ld agreed, %ld unchanged, %ld skipped,"
		    " %ld held, %ld unknown, %ld superseded by a sync, %ld queued",
		    res.sent, res.agreed, res.unchanged, res.skipped, res.held,
		    res.unknown, res.superseded, res.queued);
}
