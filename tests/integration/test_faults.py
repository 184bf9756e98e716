"""Fault injection through the fakes (docs/RELIABILITY.md, "Faults").

The shop or KeyCRM answering 500/502/503, hanging (timeout), resetting the
connection (drop), answering 200 with an HTML page (garbage) or half a
body (truncate); a batch with some items refused; a key revoked in the
middle of a run; KeyCRM's 429s, both injected and from its own limiter when
the configured limit is wrong.  For each: the program does not crash, it
answers (200 with the error said in the JSON, since the report was
accepted or the run recorded), it stops within its time budget, nothing
accepted is lost (the inbox still holds it, or it reached the shop), the
run record (history table) carries the error, the next run after the fault
clears finishes the work exactly (the shop holds the reported value, KeyCRM
the shop's), and no request ever went over KeyCRM's limit.

Every run uses a small sync_max_seconds, so even a hanging server costs a
few seconds: the HTTP client's per-attempt timeout is cut to what is left of
the run's budget.
"""

import concurrent.futures
import json
import os
import queue
import time
import traceback
import unittest

from harness import servers
from kctest import (KEYCRM_KEY, SYNC_TOKEN, WEBHOOK_SECRET, FakeCRM, FakeShop, Program,
                    ThroughServer, WriteLock, full_config, inbox, make_state_dir, query)

HOOK_Q = f"secret={WEBHOOK_SECRET}"
TOKEN_Q = f"token={SYNC_TOKEN}"
BUDGET = 3          # sync_max_seconds of the runs that meet a fault
# What a run may take beyond its budget: the final HTTP attempt, SQLite,
# process start (more under ASan); a sync also sends decisions made with a
# grace of 15 s (lib/sync.c run_sync).
SLACK = 4.0
SYNC_GRACE = 15.0

# The faults every endpoint is tried with.
FAULTS = {
    "500": {"action": "status", "status": 500},
    "502": {"action": "status", "status": 502},
    "503": {"action": "status", "status": 503, "retry_after": 1},
    "timeout": {"action": "timeout", "hold_s": 1.0},
    "drop": {"action": "drop"},
    "garbage": {"action": "garbage"},
    "truncate": {"action": "truncate"},
}


class Rig:
    """One fake shop and one fake KeyCRM.  The fault matrices run their
    cases on several rigs at once (the cases mostly wait: on a hanging
    server, on back-off), KC_FAULT_RIGS of them (default 4)."""

    def __init__(self):
        self.shop = FakeShop()
        self.crm = FakeCRM()

    def stop(self):
        self.shop.stop()
        self.crm.stop()

    def config(self, name, state, **extra):
        return full_config(f"faults-{name}.conf", state, self.shop, self.crm,
                           **{"sync_max_seconds": BUDGET, **extra})

    def qty(self, pid):
        return self.shop.products()[pid]["stock_quantity"]

    def crm_like_shop(self):
        offers, stocks = [], []
        for p in sorted(self.shop.products().values(), key=lambda p: p["id"]):
            if not p["sku"] or p["sku"] in [o["sku"] for o in offers]:
                continue
            offers.append({"id": 1000 + p["id"], "product_id": p["id"], "sku": p["sku"]})
            if p["manage_stock"] and p["stock_quantity"] is not None:
                stocks.append({"sku": p["sku"], "warehouse_id": 1,
                               "quantity": p["stock_quantity"], "reserve": 0})
        return {"offers": offers, "stocks": stocks}

    def reset(self):
        self.shop.reset()
        self.shop.faults()
        self.crm.reset(**self.crm_like_shop())
        self.crm.configure(webhook_mode="hold")


RIGS = []


def setUpModule():
    for _ in range(max(1, int(os.environ.get("KC_FAULT_RIGS", "4")))):
        RIGS.append(Rig())


def tearDownModule():
    for rig in RIGS:
        rig.stop()


def in_parallel(test, cases, fn):
    """Runs fn(rig, case) for every case, each case on a rig of its own
    (reset first), up to len(RIGS) at a time; a failing case is reported
    as a failed subTest named after case[0]."""
    free = queue.Queue()
    for rig in RIGS:
        free.put(rig)

    def one(case):
        rig = free.get()
        try:
            rig.reset()
            fn(rig, case)
            return None
        except Exception:       # an assertion in the case, reported below
            return traceback.format_exc()
        finally:
            free.put(rig)

    with concurrent.futures.ThreadPoolExecutor(len(RIGS)) as pool:
        results = list(pool.map(one, cases))
    for case, failure in zip(cases, results):
        with test.subTest(case=case[0]):
            if failure:
                test.fail(failure)


def history(state, kind):
    return [dict(zip(("received", "queued", "applied", "unchanged", "failed", "pending",
                      "error"), row))
            for row in query(state, "SELECT received, queued, applied, unchanged, failed,"
                             " pending, error FROM history WHERE kind = ? ORDER BY id", kind)]


def over_limit(log):
    return [e for e in log if e.get("over_limit")]


def max_in_window(log, window=60.0):
    """The most KeyCRM API requests in any `window` seconds of the log."""
    ts = sorted(e["t"] for e in log if e["path"].startswith("/v1/"))
    best, lo = 0, 0
    for hi, t in enumerate(ts):
        while ts[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


# Three SKUs: two simple products (products/batch) and a variation
# (products/21/variations/batch).
ITEMS = (("RW-SIMPLE-001", 10), ("RW-SIMPLE-003", 12), ("RW-TEE-M", 23))


class ShopFaultsDuringApply(unittest.TestCase):
    """webhook.cgi ?wait=1 while the shop misbehaves: the reports are kept
    (200 "queued": N with the error), and applied once the shop is back."""

    def deliver(self, rig, name, rules, **cfg):
        """Posts new values for ITEMS with ?wait=1 while `rules` hold;
        returns (answer, seconds, targets, state, config)."""
        state = make_state_dir(f"faults-{name}")
        cfgfile = rig.config(name, state, **cfg)
        targets = {sku: rig.qty(pid) + 7 for sku, pid in ITEMS}
        rig.shop.faults(rules=rules)
        t0 = time.monotonic()
        r = Program("webhook.cgi", cfgfile).cgi(
            "POST", HOOK_Q + "&wait=1",
            json.dumps([{"sku": s, "in_stock": v, "in_reserve": 0}
                        for s, v in targets.items()]).encode())
        took = time.monotonic() - t0
        rig.shop.faults()
        self.assertEqual(r.status, 200, (name, r.text, r.stderr[-2000:]))
        return r.json(), took, targets, state, cfgfile

    def recover(self, rig, state, cfgfile, targets):
        """webhook.cgi --apply once the shop is fine: everything lands, and
        nothing the shop already holds is written again."""
        holding = {pid for sku, pid in ITEMS if rig.qty(pid) == targets[sku]}
        rig.shop.clear_log()
        out = Program("webhook.cgi", cfgfile).shell("--apply")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(inbox(state), {})
        for sku, pid in ITEMS:
            self.assertEqual(rig.qty(pid), targets[sku], sku)
        rewritten = {item["id"] for e in rig.shop.writes() for item in e["body"]["update"]}
        self.assertEqual(rewritten & holding, set(), "written again though the shop had it")
        return holding

    def assert_kept(self, rig, name, ans, took, targets, state):
        self.assertLess(took, BUDGET + SLACK, f"{name}: took {took:.1f}s")
        self.assertEqual(ans["received"], 3, ans)
        self.assertEqual(ans["queued"], 3, (name, ans))
        self.assertEqual(ans["applied"], 0, ans)
        said = ans.get("error", "") + json.dumps(ans.get("failed"))
        self.assertTrue(said.strip('"[] '), (name, ans))
        self.assertEqual(inbox(state), {s: (float(v), 0.0) for s, v in targets.items()}, name)
        runs = history(state, "apply")
        self.assertTrue(runs and runs[-1]["error"], (name, runs))
        self.assertEqual(history(state, "webhook")[-1]["queued"], 3)

    def test_lookup_faults_keep_every_report(self):
        """Each fault on every product lookup, for the whole run."""
        def case(rig, c):
            name, fault = c
            rules = [dict(fault, method="GET", path_prefix="/wp-json/wc/v3/products",
                          times=-1)]
            before = {pid: rig.qty(pid) for _, pid in ITEMS}
            ans, took, targets, state, cfgfile = self.deliver(rig, f"lookup-{name}", rules)
            self.assert_kept(rig, name, ans, took, targets, state)
            self.assertEqual(before, {pid: rig.qty(pid) for _, pid in ITEMS})
            self.recover(rig, state, cfgfile, targets)
        in_parallel(self, list(FAULTS.items()), case)

    def test_write_faults_keep_every_report(self):
        """Each fault on every batch write; "after-write": the shop took the
        write and only the answer was lost, so the next applier finds the
        value there and does not write it again."""
        cases = [(name, fault, False) for name, fault in FAULTS.items()]
        cases += [("500-after-write", FAULTS["500"], True),
                  ("drop-after-write", FAULTS["drop"], True),
                  ("truncate-after-write", FAULTS["truncate"], True)]

        def case(rig, c):
            name, fault, applied = c
            rules = [dict(fault, method="POST", path_prefix="/wp-json/wc/v3/products/",
                          times=-1, apply=applied)]
            ans, took, targets, state, cfgfile = self.deliver(rig, f"write-{name}", rules)
            self.assert_kept(rig, name, ans, took, targets, state)
            self.assertEqual(len(ans["failed"]), 3, ans)
            holding = self.recover(rig, state, cfgfile, targets)
            # Both batches (products, variations) went at once, as
            # woo_parallel_requests = 2 allows, and went through before
            # their answers were lost.
            self.assertEqual(holding, {10, 12, 23} if applied else set(), name)
        in_parallel(self, cases, case)

    def test_transient_faults_are_retried_within_the_run(self):
        """One bad answer per endpoint (lookup, then write): the client
        retries and the same call applies everything."""
        def case(rig, c):
            name, fault = c
            rules = [dict(fault, method="GET", path_prefix="/wp-json/wc/v3/products", times=1),
                     dict(fault, method="POST", path_prefix="/wp-json/wc/v3/products/", times=1)]
            ans, took, targets, state, _ = self.deliver(rig, f"transient-{name}", rules,
                                                        sync_max_seconds=20)
            self.assertEqual((ans["applied"], ans["queued"]), (3, 0), (name, ans))
            self.assertNotIn("error", ans)
            self.assertEqual(inbox(state), {})
            for sku, pid in ITEMS:
                self.assertEqual(rig.qty(pid), targets[sku])
        in_parallel(self, [(n, FAULTS[n]) for n in ("503", "drop", "timeout", "truncate")],
                    case)

    def test_slow_shop_stops_at_the_budget_and_keeps_the_rest(self):
        """Every shop answer takes 1.5 s and the budget is 2 s: the run
        stops at its deadline with the report kept, and the next applier
        takes it."""
        rig = RIGS[0]
        rig.reset()
        state = make_state_dir("faults-slow")
        cfgfile = rig.config("slow", state, sync_max_seconds=2)
        rig.shop.faults(latency_ms=1500)
        t0 = time.monotonic()
        r = Program("webhook.cgi", cfgfile).cgi(
            "POST", HOOK_Q + "&wait=1",
            json.dumps([{"sku": "RW-SIMPLE-004", "in_stock": 44}]).encode())
        took = time.monotonic() - t0
        rig.shop.faults()
        ans = r.json()
        self.assertEqual(r.status, 200)
        self.assertLess(took, 2 + SLACK)
        self.assertEqual(ans["applied"], 0, ans)
        self.assertEqual(set(inbox(state)), {"RW-SIMPLE-004"}, ans)
        self.assertIn("time", ans.get("error", "") + json.dumps(ans["failed"]))
        Program("webhook.cgi", cfgfile).shell("--apply")
        self.assertEqual(rig.qty(13), 44)
        self.assertEqual(inbox(state), {})

    def test_some_items_of_a_batch_refused(self):
        """A variation whose parent is gone (the shop refuses that item,
        "Invalid ID.") next to ones that go through: the others are applied
        and leave the inbox; the refused one stays, with the shop's reason,
        until the shop can take it."""
        rig = RIGS[0]
        rig.reset()
        state = make_state_dir("faults-partial")
        cfgfile = rig.config("partial", state)
        rig.shop.upsert({"id": 61, "type": "variation", "parent_id": 999, "sku": "FLT-ORPHAN",
                         "manage_stock": True, "stock_quantity": 1, "status": "publish",
                         "name": "Orphan"})
        r = Program("webhook.cgi", cfgfile).cgi("POST", HOOK_Q + "&wait=1", json.dumps(
            [{"sku": "RW-SIMPLE-001", "in_stock": 31}, {"sku": "FLT-ORPHAN", "in_stock": 5},
             {"sku": "RW-TEE-S", "in_stock": 9}]).encode())
        ans = r.json()
        self.assertEqual((ans["applied"], ans["queued"]), (2, 1), ans)
        self.assertEqual([f["sku"] for f in ans["failed"]], ["FLT-ORPHAN"])
        self.assertIn("Invalid ID", ans["failed"][0]["reason"])
        self.assertEqual((rig.qty(10), rig.qty(22), rig.qty(61)), (31, 9, 1))
        self.assertEqual(set(inbox(state)), {"FLT-ORPHAN"})
        self.assertEqual(query(state, "SELECT kind FROM problems WHERE sku = 'FLT-ORPHAN'"),
                         [("failed",)])
        self.assertEqual(history(state, "apply")[-1]["failed"], 1)
        # The shop is repaired: the kept report goes through.
        rig.shop.upsert({"id": 999, "type": "variable", "parent_id": 0, "sku": "FLT-PARENT",
                         "manage_stock": False, "status": "publish", "name": "Parent"})
        out = Program("webhook.cgi", cfgfile).shell("--apply")
        self.assertIn("1 applied", out.stdout)
        self.assertEqual(rig.qty(61), 5)
        self.assertEqual(inbox(state), {})
        self.assertEqual(query(state, "SELECT kind FROM problems WHERE sku = 'FLT-ORPHAN'"), [])

    def test_answer_says_one_item_failed_that_the_shop_took(self):
        """The batch answer reports an error for an item the shop did
        apply: that report stays queued, and the next applier finds the value
        in place (unchanged, no write)."""
        rig = RIGS[0]
        rig.reset()
        state = make_state_dir("faults-lying")
        cfgfile = rig.config("lying", state)
        body = {"update": [
            {"id": 10, "manage_stock": True, "stock_quantity": 32},
            {"id": 12, "error": {"code": "woocommerce_rest_product_invalid_id",
                                 "message": "Invalid ID.", "data": {"status": 400}}}]}
        rig.shop.faults(rules=[{"method": "POST",
                                "path_prefix": "/wp-json/wc/v3/products/batch", "times": 1,
                                "action": "status", "status": 200, "apply": True,
                                "body": body}])
        r = Program("webhook.cgi", cfgfile).cgi("POST", HOOK_Q + "&wait=1", json.dumps(
            [{"sku": "RW-SIMPLE-001", "in_stock": 32}, {"sku": "RW-SIMPLE-003", "in_stock": 33}]
        ).encode())
        ans = r.json()
        self.assertEqual((ans["applied"], ans["queued"]), (1, 1), ans)
        self.assertEqual(set(inbox(state)), {"RW-SIMPLE-003"})
        rig.shop.clear_log()
        out = Program("webhook.cgi", cfgfile).shell("--apply")
        self.assertIn("1 unchanged", out.stdout)
        self.assertEqual(rig.shop.writes(), [])
        self.assertEqual((rig.qty(10), rig.qty(12)), (32, 33))


SALES = ((10, 2), (12, 3), (23, 1))
PUT_RUN_SECONDS = {}      # how long each failing sync run took, for the record


def start_sync(test, rig, name, **cfg):
    """A first run (the baseline), then three sales in the shop."""
    state = make_state_dir(f"faults-sync-{name}")
    sync = Program("sync.cgi", rig.config(f"sync-{name}", state, **cfg))
    ans = sync.cgi("GET", TOKEN_Q).json()
    test.assertTrue(ans["first_run"], ans)
    agreed = dict(query(state, "SELECT sku, agreed_qty FROM ledger"))
    for pid, n in SALES:
        rig.shop.control("sale", {"id": pid, "quantity": n})
    rig.crm.clear_log()
    return state, sync, agreed


def run_sync(test, sync, extra=""):
    t0 = time.monotonic()
    r = sync.cgi("GET", TOKEN_Q + extra)
    took = time.monotonic() - t0
    ans = r.json()
    # A run that failed against a side answers 502 with the same JSON (SPEC 3).
    test.assertEqual(r.status, 502 if ans["errors"] else 200,
                     r.text + r.stderr.decode()[-2000:])
    return ans, took


def sold(rig):
    shop = rig.shop.products()
    return {shop[pid]["sku"]: shop[pid]["stock_quantity"] for pid, _ in SALES}


def assert_sync_finishes(test, rig, state, sync):
    """The fault is gone: one run sends the three sales, the next nothing."""
    rig.crm.faults()
    rig.shop.faults()
    ans, _ = run_sync(test, sync)
    test.assertEqual((ans["sent"], ans["errors"]), (3, []), ans)
    offers = rig.crm.offers()
    for sku, q in sold(rig).items():
        test.assertEqual(offers[sku]["stocks"]["1"]["quantity"], q, sku)
    agreed = dict(query(state, "SELECT sku, agreed_qty FROM ledger"))
    for sku, q in sold(rig).items():
        test.assertEqual(agreed[sku], q)
    ans, _ = run_sync(test, sync)
    test.assertEqual(ans["sent"], 0, ans)


def put_fault_case(test, rig, c):
    """A persistent fault on every PUT: the run answers with the error,
    records nothing KeyCRM did not confirm, and the next run sends it."""
    name, fault, applied = c
    state, sync, agreed = start_sync(test, rig, name)
    rig.crm.faults(rules=[dict(fault, method="PUT", path_prefix="/v1/offers/stocks",
                               times=-1, apply=applied)])
    ans, took = run_sync(test, sync)
    PUT_RUN_SECONDS[name] = round(took, 1)
    test.assertLess(took, BUDGET + SYNC_GRACE + SLACK, name)
    test.assertEqual(over_limit(rig.crm.log()), [], name)
    test.assertGreaterEqual(len(ans["errors"]), 1, (name, ans))
    test.assertEqual(ans["sent"], 0, (name, ans))
    test.assertFalse(ans["complete"], ans)
    test.assertEqual(dict(query(state, "SELECT sku, agreed_qty FROM ledger")), agreed,
                     f"{name}: nothing confirmed, nothing agreed")
    test.assertTrue(history(state, "sync")[-1]["error"], name)
    assert_sync_finishes(test, rig, state, sync)


class KeyCRMFaultsDuringSync(unittest.TestCase):
    """sync.cgi while KeyCRM (or the shop) misbehaves."""

    def test_put_faults(self):
        """Each fault on every PUT /offers/stocks for the whole run (and
        once with "apply": KeyCRM took the values but the answer was lost)."""
        cases = [(n, f, False) for n, f in FAULTS.items() if n != "garbage"]
        cases += [("drop-after-put", FAULTS["drop"], True)]
        in_parallel(self, cases, lambda rig, c: put_fault_case(self, rig, c))
        print(f"\n    failing sync runs (sync_max_seconds={BUDGET}), seconds: "
              f"{dict(sorted(PUT_RUN_SECONDS.items()))}", end=" ")

    def test_put_answered_200_with_an_html_page(self):
        """Found here (docs/RELIABILITY.md): a 2xx answer to PUT
        /offers/stocks whose body is not KeyCRM's JSON (here WordPress-style
        HTML, as a proxy or a wrong keycrm_api_url gives) counted as
        accepted, so the ledger recorded values KeyCRM never got."""
        rig = RIGS[0]
        rig.reset()
        put_fault_case(self, rig, ("garbage", FAULTS["garbage"], False))

    def test_transient_put_faults_are_retried(self):
        def case(rig, c):
            name, fault = c
            state, sync, _ = start_sync(self, rig, f"transient-{name}", sync_max_seconds=20)
            rig.crm.faults(rules=[dict(fault, method="PUT", path_prefix="/v1/offers/stocks",
                                       times=2)])
            ans, _ = run_sync(self, sync)
            self.assertEqual((ans["sent"], ans["errors"]), (3, []), (name, ans))
            puts = [e for e in rig.crm.log() if e["method"] == "PUT"]
            self.assertEqual(len(puts), 3, puts)
            self.assertEqual(over_limit(rig.crm.log()), [])
        in_parallel(self, [(n, FAULTS[n]) for n in ("502", "503", "drop", "timeout",
                                                     "truncate")], case)

    def test_shop_listing_faults(self):
        """The shop fails while sync.cgi reads its catalogue: nothing is
        decided from a page not read, nothing is sent, and the next run
        picks up where this one stopped."""
        def case(rig, c):
            name, fault = c
            state, sync, agreed = start_sync(self, rig, f"listing-{name}")
            rig.shop.faults(rules=[dict(fault, method="GET",
                                        path_prefix="/wp-json/wc/v3/products", times=-1)])
            ans, took = run_sync(self, sync)
            rig.shop.faults()
            self.assertLess(took, BUDGET + SLACK)
            self.assertTrue(ans["errors"], ans)
            self.assertFalse(ans["complete"])
            self.assertEqual(ans["sent"], 0)
            self.assertEqual(rig.crm.puts(), [])
            self.assertEqual(dict(query(state, "SELECT sku, agreed_qty FROM ledger")), agreed)
            self.assertTrue(history(state, "sync")[-1]["error"], name)
            assert_sync_finishes(self, rig, state, sync)
        in_parallel(self, [(n, FAULTS[n]) for n in ("503", "timeout", "garbage", "truncate")],
                    case)

    def test_key_revoked_in_the_middle_of_a_backfill(self):
        """pull=1 over 3 pages; KeyCRM starts refusing the key (401) after
        the first: page 1 is applied, the run says so plainly and stops, and
        once the key works again the next call resumes at page 2."""
        rig = RIGS[0]
        rig.reset()
        extra = [{"id": 5000 + i, "sku": f"PULL-{i:03d}"} for i in range(110)]
        crm = rig.crm_like_shop()
        crm["offers"] += extra
        crm["stocks"] += [{"sku": o["sku"], "warehouse_id": 1, "quantity": 3, "reserve": 0}
                          for o in extra]
        rig.crm.reset(**crm)
        state = make_state_dir("faults-pull")
        sync = Program("sync.cgi", rig.config("pull", state, sync_max_seconds=20))
        rig.crm.faults(rules=[{"method": "GET", "path_prefix": "/v1/offers/stocks", "skip": 1,
                               "times": -1, "action": "status", "status": 401,
                               "body": {"message": "Unauthenticated."}}])
        ans, _ = run_sync(self, sync, "&pull=1")
        self.assertIn("rejected the API key", " ".join(ans["errors"]), ans)
        self.assertNotIn(KEYCRM_KEY, json.dumps(ans))
        self.assertEqual(ans["pulled"], 50, ans)
        self.assertFalse(ans["complete"])
        self.assertEqual(query(state, "SELECT value FROM kv WHERE key = 'pull.page'"), [("2",)])
        self.assertTrue(history(state, "pull")[-1]["error"])
        rig.crm.faults()
        rig.crm.clear_log()
        ans, _ = run_sync(self, sync, "&pull=1")
        self.assertEqual(ans["errors"], [], ans)
        pages = [e["query"].get("page") for e in rig.crm.log()
                 if e["path"] == "/v1/offers/stocks"]
        self.assertEqual(pages[0], "2", pages)
        self.assertEqual(inbox(state), {})

    def test_limit_is_paced_not_exceeded(self):
        """keycrm_requests_per_minute = 4 and KeyCRM's limiter set to the
        same: a backfill of 7 pages makes 4 requests, then finds no free slot
        within its budget and stops rather than ask; the next call, a moment
        later, makes none at all.  No request is over the limit."""
        rig = RIGS[0]
        rig.reset()
        extra = [{"id": 6000 + i, "sku": f"RATE-{i:03d}"} for i in range(320)]
        crm = rig.crm_like_shop()
        crm["offers"] += extra
        rig.crm.reset(**crm, options={"rate_limit": {"requests": 4, "window_s": 60}})
        state = make_state_dir("faults-rate")
        sync = Program("sync.cgi", rig.config("rate", state, keycrm_requests_per_minute=4))
        ans, took = run_sync(self, sync, "&pull=1")
        self.assertLess(took, BUDGET + SLACK)
        self.assertFalse(ans["complete"])
        self.assertIn("requests per minute", " ".join(ans["errors"]), ans)
        self.assertEqual(len(rig.crm.log()), 4, rig.crm.log())
        ans, _ = run_sync(self, sync, "&pull=1")
        self.assertFalse(ans["complete"])
        self.assertEqual(len(rig.crm.log()), 4, "the window is shared across calls")
        self.assertEqual(over_limit(rig.crm.log()), [])
        self.assertLessEqual(max_in_window(rig.crm.log()), 4)

    def test_limit_lower_than_configured_429_storm(self):
        """KeyCRM's real limit is lower than keycrm_requests_per_minute
        (one source says 20): its 429 carries Retry-After (about a minute),
        which is honoured - one 429 per run, and the run stops at its budget
        instead of hammering."""
        rig = RIGS[0]
        rig.reset()
        extra = [{"id": 7000 + i, "sku": f"LOW-{i:03d}"} for i in range(320)]
        crm = rig.crm_like_shop()
        crm["offers"] += extra
        rig.crm.reset(**crm, options={"rate_limit": {"requests": 3, "window_s": 60}})
        state = make_state_dir("faults-429")
        sync = Program("sync.cgi", rig.config("429", state, keycrm_requests_per_minute=60))
        for _ in range(2):
            ans, took = run_sync(self, sync, "&pull=1")
            self.assertLess(took, BUDGET + SLACK)
            self.assertFalse(ans["complete"])
            self.assertTrue(ans["errors"], ans)
        statuses = [e["status"] for e in rig.crm.log()]
        self.assertEqual(statuses, [200, 200, 200, 429, 429], statuses)

    def test_429_storm_injected(self):
        """Every PUT answered 429 with Retry-After: 1 for the whole run: the
        run tries a few times at the pace it is told, then gives up within
        its budget (plus the grace for sending), keeping everything for the
        next run."""
        rig = RIGS[0]
        rig.reset()
        put_fault_case(self, rig, ("429", {"action": "status", "status": 429,
                                           "retry_after": 1}, False))


class DatabaseLocked(unittest.TestCase):
    """A writer that holds the state's lock longer than the store waits
    (its busy timeout, 10 s) - as 80 large webhooks at once did - must not
    make a webhook refuse reports it can keep a moment later: it tries
    again within its budget."""

    def test_webhook_waits_out_a_long_write_lock(self):
        rig = RIGS[0]
        rig.reset()
        state = make_state_dir("faults-locked")
        cfg = rig.config("locked", state)
        srv = ThroughServer("nginx", cfg)
        try:
            url = f"{srv.server.url}/keycrm/webhook?{HOOK_Q}"
            self.assertEqual(servers.http_request(url, "POST", b"[]").status, 200)
            with WriteLock(state, seconds=12):
                items = json.dumps([{"sku": "RW-SIMPLE-001", "in_stock": 7}]).encode()
                r = servers.http_request(url, "POST", items, timeout=90)
            self.assertEqual(r.status, 200, r.text)
            self.assertEqual(r.json()["queued"], 1)
        finally:
            srv.stop()
        self.assertTrue(inbox(state) or rig.qty(10) == 7)


if __name__ == "__main__":
    unittest.main()
