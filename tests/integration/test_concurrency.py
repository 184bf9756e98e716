"""Concurrency through a real nginx with FastCGI workers (docs/RELIABILITY.md,
"Concurrency").

16 webhooks within about a second, with overlapping SKUs, while a sync run
reads the shop (a catalogue of 7 pages, each answer made slow, so that
reports arrive while the sync scans) and a second sync call arrives; 4
workers per program.  Two rounds:

A. Every webhook that names a SKU carries the same value for it (KeyCRM
   repeating itself): afterwards the shop holds exactly that value for
   every SKU.
B. Conflicting values: webhook i sends 100 + 16 * k + i, so the value
   names the webhook.  With concurrent deliveries "last" means last
   committed: afterwards every SKU holds in the shop the value of the last
   committed report for it (the ledger's keycrm_in_stock), the ledger agrees,
   and the winners are consistent with one order of the 16 commits (a
   webhook's reports are committed together or not at all).

In both: every webhook is answered 200 (no 503), the second sync 409
busy or 200, no "database is locked" or SQLITE_BUSY anywhere in the
server's or the workers' logs, and the sync sends KeyCRM the shop's own
changes (two sales) but none of the SKUs the webhooks changed (SPEC 4.3:
a SKU with a report pending is held).
"""

import json
import os
import random
import re
import shutil
import signal
import threading
import time
import unittest
from pathlib import Path

import kctest
from kctest import (SYNC_TOKEN, WEBHOOK_SECRET, FakeCRM, FakeShop, ThroughServer, WriteLock,
                    inbox, make_state_dir, query, root, state_exists, wait_for)

SHOP = CRM = None
N_HOOKS = 16
SKUS = {"RW-SIMPLE-001": 10, "RW-SIMPLE-003": 12, "RW-SIMPLE-004": 13, "RW-SIMPLE-005": 14,
        "RW-SIMPLE-007": 16, "RW-TEE-S": 22, "RW-TEE-M": 23, "RW-TEE-L": 24,
        "RW-MUG-RED": 26, "RW-MUG-BLUE": 27}
# Products only the shop changes (sales): the sync must send these.
SOLD = {"RW-SIMPLE-002": 11, "rw-simple-010": 19}


def setUpModule():
    global SHOP, CRM
    SHOP = FakeShop()
    CRM = FakeCRM()


def tearDownModule():
    for fake in (SHOP, CRM):
        if fake is not None:
            fake.stop()


def crm_like_shop():
    offers, stocks = [], []
    for p in sorted(SHOP.products().values(), key=lambda p: p["id"]):
        if not p["sku"] or p["sku"] in [o["sku"] for o in offers]:
            continue
        offers.append({"id": 1000 + p["id"], "product_id": p["id"], "sku": p["sku"]})
        if p["manage_stock"] and p["stock_quantity"] is not None:
            stocks.append({"sku": p["sku"], "warehouse_id": 1,
                           "quantity": p["stock_quantity"], "reserve": 0})
    return {"offers": offers, "stocks": stocks}


def order_exists(winner, hooks):
    """Whether one order of the webhooks' commits explains the winners:
    every other webhook naming a SKU committed before that SKU's winner.
    (A cycle means some webhook was committed in part.)"""
    after = {i: set() for i in range(len(hooks))}
    for sku, w in winner.items():
        for i, items in enumerate(hooks):
            if i != w and sku in items:
                after[i].add(w)
    seen, done = set(), set()

    def cyclic(i):
        if i in done:
            return False
        if i in seen:
            return True
        seen.add(i)
        if any(cyclic(j) for j in after[i]):
            return True
        done.add(i)
        return False
    return not any(cyclic(i) for i in after)


class ConcurrentWebhooksAndSync(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        SHOP.reset()
        # A catalogue of 7 pages, so that the sync's scan takes a while.
        SHOP.upsert(*[{"id": 2000 + i, "type": "simple", "parent_id": 0, "sku": f"FILL-{i:04d}",
                       "manage_stock": True, "stock_quantity": 5, "status": "publish",
                       "name": f"Filler {i}"} for i in range(600)])
        CRM.reset(**crm_like_shop())
        CRM.configure(webhook_mode="hold")
        cls.state = make_state_dir("concurrency")
        cls.config = kctest.full_config("concurrency.conf", cls.state, SHOP, CRM,
                                        sync_max_seconds=30, woo_parallel_requests=1)
        cls.srv = ThroughServer("nginx", cls.config, workers=4,
                                programs=("webhook.cgi", "sync.cgi"))
        cls.base = cls.srv.server.url
        r = kctest.servers.http_request(f"{cls.base}/keycrm/sync?token={SYNC_TOKEN}")
        assert r.status == 200 and r.json()["first_run"], r.text

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def storm(self, hooks, values):
        """Sends the webhooks (hooks[i]: SKUs, values(i, sku)) all at once
        with two sync calls; returns (webhook answers, sync answers)."""
        for sku, pid in SOLD.items():
            q = SHOP.qty(pid)
            if q > 0:
                SHOP.control("sale", {"id": pid, "quantity": 1})
            else:
                SHOP.upsert({"id": pid, "stock_quantity": 5})
        CRM.clear_log()
        SHOP.faults(latency_ms=120)
        start = threading.Barrier(N_HOOKS + 2)
        hook_answers = [None] * N_HOOKS
        sync_answers = []

        def hook(i):
            body = json.dumps([{"sku": s, "in_stock": values(i, s), "in_reserve": 0}
                               for s in hooks[i]]).encode()
            start.wait()
            time.sleep(0.3 + 0.08 * i)      # spread over the sync's scan
            hook_answers[i] = kctest.servers.http_request(
                f"{self.base}/keycrm/webhook?secret={WEBHOOK_SECRET}", method="POST",
                body=body, timeout=120)

        def sync(delay):
            start.wait()
            time.sleep(delay)
            sync_answers.append(kctest.servers.http_request(
                f"{self.base}/keycrm/sync?token={SYNC_TOKEN}", timeout=120))

        threads = [threading.Thread(target=hook, args=(i,)) for i in range(N_HOOKS)]
        threads += [threading.Thread(target=sync, args=(0.0,)),
                    threading.Thread(target=sync, args=(0.2,))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        # Quiet: the appliers are done when the inbox is empty.
        wait_for(lambda: inbox(self.state) == {}, timeout=60, what="the inbox to drain")
        SHOP.faults()
        return hook_answers, sync_answers

    def check_common(self, hooks, hook_answers, sync_answers):
        for i, r in enumerate(hook_answers):
            self.assertIsNotNone(r, f"webhook {i} got no answer")
            self.assertEqual(r.status, 200, (i, r.status, r.text))
            self.assertEqual(r.json()["queued"], len(hooks[i]), r.text)
        statuses = sorted(r.status for r in sync_answers)
        self.assertIn(statuses, ([200, 200], [200, 409]), [r.text for r in sync_answers])
        for r in sync_answers:
            if r.status == 409:
                self.assertEqual(r.json(), {"status": "busy"})
            else:
                self.assertEqual(r.json()["errors"], [], r.text)
        log = self.srv.server.error_log_text()
        for bad in ("database is locked", "SQLITE_BUSY", "database table is locked",
                    "could not be stored"):
            self.assertNotIn(bad, log)
        # The shop's own changes went to KeyCRM; none of the webhooks' SKUs did.
        sent = {s["sku"] for e in CRM.puts() if e["status"] == 202
                for s in (e["body"] if isinstance(e["body"], dict)
                          else json.loads(e["body"]))["stocks"]}
        self.assertEqual(sent & set(SKUS), set(), "a SKU with a pending report was sent")
        # ... unless a run stopped short, the sales are in KeyCRM already; in
        # any case one more run leaves both sides equal for them.
        r = kctest.servers.http_request(f"{self.base}/keycrm/sync?token={SYNC_TOKEN}")
        self.assertEqual(r.json()["errors"], [], r.text)
        offers = CRM.offers()
        for sku, pid in SOLD.items():
            self.assertEqual(offers[sku]["stocks"]["1"]["quantity"], SHOP.qty(pid), sku)

    def test_a_same_value_per_sku(self):
        rng = random.Random(7)
        value = {sku: rng.randint(20, 90) for sku in SKUS}
        hooks = [rng.sample(sorted(SKUS), rng.randint(3, 7)) for _ in range(N_HOOKS)]
        answers, syncs = self.storm(hooks, lambda i, s: value[s])
        self.check_common(hooks, answers, syncs)
        shop = SHOP.products()
        agreed = dict(query(self.state, "SELECT sku, agreed_qty FROM ledger"))
        for sku in set().union(*hooks):
            self.assertEqual(shop[SKUS[sku]]["stock_quantity"], value[sku], sku)
            self.assertEqual(agreed[sku], value[sku], sku)

    def test_b_conflicting_values_last_commit_wins(self):
        rng = random.Random(11)
        order = sorted(SKUS)
        hooks = [rng.sample(order, rng.randint(3, 7)) for _ in range(N_HOOKS)]
        answers, syncs = self.storm(hooks, lambda i, s: 100 + N_HOOKS * order.index(s) + i)
        self.check_common(hooks, answers, syncs)
        shop = SHOP.products()
        ledger = {r[0]: r[1:] for r in query(
            self.state, "SELECT sku, keycrm_in_stock, keycrm_in_reserve, agreed_qty FROM ledger")}
        winner = {}
        for sku in set().union(*hooks):
            in_stock, in_reserve, agreed = ledger[sku]
            qty = shop[SKUS[sku]]["stock_quantity"]
            self.assertEqual(qty, int(in_stock - in_reserve), f"{sku}: not the last committed")
            self.assertEqual(agreed, qty, sku)
            w = (qty - 100) % N_HOOKS
            self.assertIn(sku, hooks[w], f"{sku}: {qty} was never sent")
            winner[sku] = w
        self.assertTrue(order_exists(winner, hooks), winner)
        held = [r.json().get("held") for r in syncs if r.status == 200]
        runs = query(self.state, "SELECT count(*) FROM history WHERE kind = 'apply'")[0][0]
        print(f"\n    16 webhooks + 2 syncs through nginx (4 workers): last commits from"
              f" {len(set(winner.values()))} different webhooks; sync held {held};"
              f" {runs} applier runs so far",
              end=" ")


if __name__ == "__main__":
    unittest.main()


class GroupCommit(unittest.TestCase):
    """KEYCRM_SYNC_THREADS: one FastCGI worker serves several webhooks at
    once and they share one commit (lib/group_commit.c).  Through a real
    nginx, the worker started like the systemd units (its log kept).  Each
    webhook carries two SKUs of its own, so that what was stored can be
    told apart and a webhook stored in part would show."""

    def serve(self, name, **env):
        self.state = make_state_dir(f"state-group-{name}")
        cfg = kctest.full_config(f"group-{name}.conf", self.state, SHOP, sync_max_seconds=30)
        srv = kctest.servers.Nginx(str(root()), str(kctest.BINDIR), cfg, programs=())
        srv.start()
        self.addCleanup(srv.stop)
        binary = root() / "bin-group" / "webhook.cgi"
        if not binary.exists():
            binary.parent.mkdir(exist_ok=True)
            shutil.copy2(kctest.BINDIR / "webhook.cgi", binary)
            kctest.servers.prepare_for_www_data(binary)
            os.chmod(binary.parent, 0o755)
        env = {"KEYCRM_SYNC_CONFIG": str(cfg), "KEYCRM_SYNC_THREADS": "8",
               **{k: str(v) for k, v in env.items()}, **kctest.sanitizer_env()}
        w = kctest.servers.SocketActivated(str(root()), binary, env=env,
                                           socket_path=srv.run_dir / "webhook.sock")
        w.start()
        self.addCleanup(w.stop)
        return srv, w

    @staticmethod
    def skus(i):
        return [f"GC-{i:03d}-A", f"GC-{i:03d}-B"]

    def burst(self, srv, ids, during=None):
        """Sends webhooks ids at once; {id: status or None (no answer)}."""
        answers = {}
        start = threading.Barrier(len(ids) + (1 if during else 0))

        def hook(i):
            items = [{"sku": sku, "in_stock": 100 + i, "in_reserve": 0} for sku in self.skus(i)]
            start.wait()
            try:
                r = kctest.servers.http_request(
                    f"{srv.url}/keycrm/webhook?secret={WEBHOOK_SECRET}", method="POST",
                    body=json.dumps(items).encode(), timeout=60)
                answers[i] = r.status
            except Exception:
                answers[i] = None

        threads = [threading.Thread(target=hook, args=(i,)) for i in ids]
        for t in threads:
            t.start()
        if during:
            start.wait()
            during()
        for t in threads:
            t.join(90)
        return answers

    def stored(self):
        """{webhook id: its SKUs in the ledger}."""
        if not state_exists(self.state):
            return {}
        got = {}
        for (sku,) in query(self.state, "SELECT sku FROM ledger WHERE sku LIKE 'GC-%'"):
            got.setdefault(int(sku[3:6]), set()).add(sku)
        return got

    def assert_whole(self, stored):
        for i, skus in stored.items():
            self.assertEqual(skus, set(self.skus(i)), f"webhook {i} was stored in part")

    def test_sixteen_at_once_each_answered_only_after_its_commit(self):
        srv, w = self.serve("sixteen")
        self.assertEqual(self.burst(srv, [0]), {0: 200})      # the database exists now
        # Hold the database's write lock: no commit can happen, so no
        # webhook may be answered; then let go.
        lock = WriteLock(self.state)
        ids = list(range(1, 17))
        answers = {}
        t = threading.Thread(target=lambda: answers.update(self.burst(srv, ids)))
        t.start()
        # Until the worker holds several of them (its accepted connections).
        sock = str(srv.run_dir / "webhook.sock")

        def accepted():
            lines = Path("/proc/net/unix").read_text().splitlines()[1:]
            return sum(1 for line in lines
                       if line.split()[-1] == sock and line.split()[5] == "03")

        wait_for(lambda: accepted() >= 4, timeout=30, what="webhooks in the worker")
        time.sleep(0.3)
        early = dict(answers)
        lock.release()
        t.join(120)
        self.assertEqual(early, {}, "answered while its commit could not happen")
        self.assertEqual(answers, {i: 200 for i in ids})
        stored = self.stored()
        self.assertEqual(set(stored), {0, *ids})
        self.assert_whole(stored)
        self.assertEqual(query(self.state, "SELECT count(*) FROM history WHERE kind = 'webhook'"),
                         [(17,)])
        if kctest.STORE == "mysql":
            return      # MariaDB groups the commits of its connections itself
        # Those held back shared commits.
        os.kill(w.pid, signal.SIGTERM)
        w.process.wait(timeout=30)
        m = re.search(r"worker: (\d+) webhooks in (\d+) commits", w.error_log_text())
        self.assertIsNotNone(m, w.error_log_text())
        self.assertEqual(int(m.group(1)), 17)
        self.assertLess(int(m.group(2)), 17)

    def test_killed_before_the_commit_nothing_is_answered_nor_stored(self):
        # On MariaDB each webhook commits on its own (lib/webhook.c).
        point = "before-inbox-commit" if kctest.STORE == "mysql" else "before-group-commit"
        srv, w = self.serve("before", KEYCRM_SYNC_CRASH_AT=point)
        answers = self.burst(srv, list(range(8)))
        self.assertNotIn(200, answers.values(), answers)
        w.process.wait(timeout=30)
        self.assertEqual(w.process.returncode, -signal.SIGKILL)
        self.assertEqual(self.stored(), {})

    def test_killed_between_the_commit_and_the_answers_loses_nothing(self):
        srv, w = self.serve("after", KEYCRM_SYNC_CRASH_AT="after-inbox-commit")
        answers = self.burst(srv, list(range(8)))
        self.assertNotIn(200, answers.values(), answers)
        w.process.wait(timeout=30)
        stored = self.stored()
        self.assertTrue(stored, "the commit before the crash was lost")
        self.assert_whole(stored)

    def test_sigkill_mid_burst_every_answered_webhook_is_stored(self):
        srv, w = self.serve("kill", KEYCRM_SYNC_WORKERS=2)
        rng = random.Random(int(os.environ.get("KC_SEED", "14")))
        answered, killed, next_id = {}, 0, 0
        for _ in range(4):
            ids = list(range(next_id, next_id + 24))
            next_id += 24

            def kill():
                nonlocal killed
                time.sleep(rng.uniform(0.0, 0.08))
                kids = [int(p) for p in Path(f"/proc/{w.pid}/task/{w.pid}/children")
                        .read_text().split()]
                if kids:
                    os.kill(rng.choice(kids), signal.SIGKILL)
                    killed += 1

            answers = self.burst(srv, ids, during=kill)
            answered.update({i: a for i, a in answers.items() if a == 200})
        self.assertGreater(killed, 0)
        self.assertTrue(answered, "no webhook was answered at all")
        stored = self.stored()
        self.assert_whole(stored)
        self.assertEqual(set(answered) - set(stored), set(),
                         "answered 200 but not stored")
