"""Crash safety (docs/RELIABILITY.md, "Crashes and a full disk").

1. webhook.cgi (?wait=1, so the applier runs in the same process) is
   SIGKILLed at random moments and at its crash points
   (KEYCRM_SYNC_CRASH_AT) while KeyCRM delivers a stream of reports; a
   delivery that did not get its 200 is sent again, as KeyCRM would.  Then
   an applier runs in peace, and: every SKU holds in the shop the value of
   the last report delivered for it, the ledger agrees, the inbox is empty,
   the database passes integrity_check, and the shop never saw an older
   value written after a newer one (the writes per product, in the order
   the shop got them, follow the order of the deliveries).
2. sync.cgi is SIGKILLed at random moments while the shop sells and
   restocks; a killed run is started again.  Then KeyCRM holds the shop's
   quantity for every SKU, the ledger agrees, and one more run sends
   nothing.
3. sync.cgi killed exactly between KeyCRM's 202 and the ledger commit
   (KeyCRM applies the PUT and holds the answer; the run is killed while it
   waits): the next run sends the same absolute values again, so KeyCRM's
   stock, its echo webhooks and the shop end as if it had been sent once.
4. A full disk (a small tmpfs under state_dir): every webhook answered 200
   has all its reports in the inbox, every one answered 503 has none of
   them, the database stays intact, and once there is room again the
   refused reports are accepted and applied.

KC_CRASH_ROUNDS (default 30, 15 under the sanitizers) deliveries and
KC_CRASH_SYNC_ROUNDS (default 10, 6) sync rounds; KC_CRASH_SEED picks the
random sequence (default: a new one, printed).
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import kctest
from kctest import (full_config, BINDIR, SANITIZED, SYNC_TOKEN, WEBHOOK_SECRET, Program,
                    inbox, integrity, make_state_dir, query, root, sanitizer_env, servers,
                    expire_leases, sqlite_only)

SHOP = CRM = None
HOOK_Q = f"secret={WEBHOOK_SECRET}&wait=1"
TOKEN_Q = f"token={SYNC_TOKEN}"
# Half as many under the sanitizers, whose processes start several times slower.
ROUNDS = int(os.environ.get("KC_CRASH_ROUNDS", "15" if SANITIZED else "30"))
SYNC_ROUNDS = int(os.environ.get("KC_CRASH_SYNC_ROUNDS", "6" if SANITIZED else "10"))
# A fixed seed in CI, so that a failure can be replayed; KC_CRASH_SEED picks another.
SEED = int(os.environ.get("KC_CRASH_SEED", "20261127"))
CRASH_POINTS = ("after-inbox-commit", "after-shop-write", "after-apply-round")

# SKU -> product id: simple products and variations of two parents.
SKUS = {"RW-SIMPLE-001": 10, "RW-SIMPLE-003": 12, "RW-SIMPLE-004": 13,
        "RW-TEE-S": 22, "RW-TEE-M": 23, "RW-MUG-RED": 26}


FAKES = kctest.SharedFakes()


def setUpModule():
    global SHOP, CRM
    SHOP, CRM = FAKES.start()
    print(f"\n    KC_CRASH_SEED={SEED}", end=" ")


def tearDownModule():
    FAKES.stop()


def config(name, state, **extra):
    extra.setdefault("sync_max_seconds", 20)
    return full_config(f"crash-{name}.conf", state, SHOP, CRM, **extra)


# Run as the web server would, so that the files it creates are www-data's.
AS_WEB_SERVER = ({"user": "www-data", "group": "www-data", "extra_groups": []}
                 if os.geteuid() == 0 else {})


def run_killable(binary, config_path, query_string="", body=None, kill_after=None,
                 crash_at=None, method="POST"):
    """The program as plain CGI; SIGKILLed after kill_after seconds (None:
    never).  Returns (Response, killed): the Response is what the program
    wrote before it ended (status None when that was no complete answer)."""
    env = {"REQUEST_METHOD": method, "QUERY_STRING": query_string,
           "KEYCRM_SYNC_CONFIG": config_path, **sanitizer_env()}
    if crash_at:
        env["KEYCRM_SYNC_CRASH_AT"] = crash_at
    body = body or b""
    proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=servers._cgi_env(env, body),
                            **AS_WEB_SERVER)
    killed = False
    try:
        out, err = proc.communicate(body, timeout=kill_after if kill_after is not None else 120)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        killed = True
    status, headers, payload = servers.parse_cgi_output(out)
    if status is not None:
        length = headers.get("content-length")
        if length is None or int(length) != len(payload):
            status = None       # cut off in the middle of the answer
    return servers.Response(status, headers, payload, err, proc.returncode), \
        killed or proc.returncode == -signal.SIGKILL


def shop_writes_by_product():
    """{product id: [quantity written, ...]} in the order the shop got them."""
    seq = {}
    for e in SHOP.log():
        if e["method"] == "POST" and e["path"].endswith("/batch") and e["status"] == 200:
            for item in (e["body"] or {}).get("update") or []:
                seq.setdefault(item["id"], []).append(item["stock_quantity"])
    return seq


class WebhookKilled(unittest.TestCase):
    def test_killed_at_random_moments_and_crash_points(self):
        rng = random.Random(SEED)
        SHOP.reset()
        SHOP.clear_log()
        # Every shop answer takes a little while, so that kills land in the
        # lookups, the writes and the settling alike.
        SHOP.faults(latency_ms=40)
        state = make_state_dir("crash-webhook")
        cfgfile = config("webhook", state)
        binary = BINDIR / "webhook.cgi"
        last, order = {}, {}
        attempts = timer_kills = point_kills = acked_after_kill = 0
        for d in range(ROUNDS):
            value = 20 + d          # unique per delivery: its index shows in the shop
            chosen = rng.sample(sorted(SKUS), rng.randint(1, len(SKUS)))
            body = json.dumps([{"sku": s, "in_stock": value, "in_reserve": 0}
                               for s in chosen]).encode()
            for tries in range(1, 50):
                attempts += 1
                crash_at = kill_after = None
                if tries < 4:
                    pick = rng.random()
                    if pick < 0.3:
                        crash_at = rng.choice(CRASH_POINTS)
                    elif pick < 0.85:
                        kill_after = rng.uniform(0.0, 0.4)
                r, killed = run_killable(binary, cfgfile, HOOK_Q, body, kill_after, crash_at)
                if killed:
                    expire_leases(state)
                    if crash_at:
                        point_kills += 1
                    else:
                        timer_kills += 1
                if r.status == 200:
                    acked_after_kill += killed
                    break
                self.assertIn(r.status, (None, 503), (r.status, r.text))
            else:
                self.fail(f"delivery {d} never accepted")
            for s in chosen:
                last[s] = value
        SHOP.faults()
        # Now in peace: whatever is left in the inbox is applied.
        out = Program("webhook.cgi", cfgfile).shell("--apply")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(inbox(state), {})
        self.assertEqual(integrity(state), "ok")
        shop = SHOP.products()
        ledger = {r[0]: r[1:] for r in query(
            state, "SELECT sku, agreed_qty, keycrm_in_stock FROM ledger")}
        for sku, value in last.items():
            self.assertEqual(shop[SKUS[sku]]["stock_quantity"], value, sku)
            self.assertEqual(ledger[sku], (value, float(value)), sku)
        # Never an older value after a newer one.
        for pid, written in shop_writes_by_product().items():
            self.assertEqual(written, sorted(written), f"product {pid}: {written}")
        self.assertGreater(timer_kills + point_kills, ROUNDS // 3)
        print(f"\n    webhook: {ROUNDS} deliveries, {attempts} attempts, {timer_kills} killed"
              f" at random, {point_kills} at crash points, {acked_after_kill} answered"
              f" 200 before the kill; all applied", end=" ")


def catalogue():
    shop = SHOP.products()
    return {p["sku"]: p["stock_quantity"] for p in shop.values()
            if p["sku"] and p["manage_stock"] is True and p["stock_quantity"] is not None}


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


def exe(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def core_limit(pid):
    """The soft "Max core file size" of a process, as /proc shows it."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max core file size"):
            return line.split()[4]
    return None


class NoSecretsInDumps(unittest.TestCase):
    """A core dump would hold every secret: the programs turn dumps off
    (RLIMIT_CORE 0) and make themselves not dumpable (then the files in
    /proc/PID of a www-data process belong to root); the plain-CGI applier, which lives
    on after the answer, keeps none of the request's variables."""

    def setUp(self):
        self.state = make_state_dir("crash-dumps")
        # A shop that accepts connections and never answers keeps the
        # applier alive for the test to look at.
        self.hole = socket.socket()
        self.hole.bind(("127.0.0.1", 0))
        self.hole.listen(16)
        self.cfg = config("dumps", self.state, sync_max_seconds=15,
                          woo_url=f"http://127.0.0.1:{self.hole.getsockname()[1]}")

    def tearDown(self):
        self.hole.close()

    def check_process(self, pid):
        self.assertEqual(core_limit(pid), "0", pid)
        self.assertEqual(os.stat(f"/proc/{pid}/environ").st_uid, 0, "not dumpable")
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        self.assertNotIn(WEBHOOK_SECRET.encode(), environ)
        return environ

    def test_plain_cgi_applier_under_apache(self):
        srv = servers.Apache(str(root()), str(BINDIR), self.cfg, env=sanitizer_env())
        srv.start()
        try:
            items = json.dumps([{"sku": "RW-SIMPLE-001", "in_stock": 2}]).encode()
            r = servers.http_request(f"{srv.url}/keycrm/webhook?secret={WEBHOOK_SECRET}",
                                     "POST", items, headers={"X-Webhook-Secret": WEBHOOK_SECRET})
            self.assertEqual(r.status, 200, r.text)
            pids = kctest.wait_for(lambda: [p for p in srv.pids()
                                            if exe(p).endswith("webhook.cgi")],
                                   what="the detached applier")
            for pid in pids:
                environ = self.check_process(pid)
                self.assertNotIn(b"QUERY_STRING", environ)
                self.assertNotIn(b"HTTP_X_WEBHOOK_SECRET", environ)
        finally:
            srv.stop()

    def test_fastcgi_workers_under_nginx(self):
        srv = servers.Nginx(str(root()), str(BINDIR), self.cfg, env=sanitizer_env())
        srv.start()
        try:
            r = servers.http_request(f"{srv.url}/keycrm/webhook?secret=wrong", "POST", b"[]")
            self.assertEqual(r.status, 403)
            workers = [p for p in srv.pids()
                       if exe(p).endswith("webhook.cgi")]
            self.assertTrue(workers)
            for pid in workers:
                self.check_process(pid)
        finally:
            srv.stop()


class SyncKilled(unittest.TestCase):
    def setUp(self):
        SHOP.reset()
        SHOP.faults()
        CRM.reset(**crm_like_shop())
        CRM.configure(webhook_mode="hold")
        CRM.faults()

    def baseline(self, name):
        state = make_state_dir(f"crash-{name}")
        cfgfile = config(name, state)
        ans = Program("sync.cgi", cfgfile).cgi("GET", TOKEN_Q).json()
        self.assertTrue(ans["first_run"], ans)
        return state, cfgfile

    def assert_agree(self, state):
        wh1 = {sku: o["stocks"].get("1", {}).get("quantity") for sku, o in CRM.offers().items()}
        agreed = dict(query(state, "SELECT sku, agreed_qty FROM ledger"))
        for sku, q in catalogue().items():
            if sku in wh1:
                self.assertEqual(wh1[sku], q, sku)
            self.assertEqual(agreed.get(sku), q, sku)

    def test_killed_at_random_moments(self):
        rng = random.Random(SEED + 1)
        state, cfgfile = self.baseline("sync")
        binary = BINDIR / "sync.cgi"
        SHOP.faults(latency_ms=30)
        CRM.faults(latency_ms=60)
        attempts = kills = 0
        for _ in range(SYNC_ROUNDS):
            for pid in rng.sample(sorted(SKUS.values()), 3):
                q = SHOP.products()[pid]["stock_quantity"]
                if q > 0 and rng.random() < 0.7:
                    SHOP.control("sale", {"id": pid, "quantity": 1})
                else:
                    SHOP.upsert({"id": pid, "stock_quantity": q + rng.randint(1, 4)})
            for tries in range(1, 30):
                attempts += 1
                kill_after = rng.uniform(0.0, 0.35) if tries < 4 and rng.random() < 0.8 else None
                r, killed = run_killable(binary, cfgfile, TOKEN_Q, None, kill_after,
                                         method="GET")
                kills += killed
                if killed:
                    expire_leases(state)
                if r.status == 200:
                    ans = r.json()
                    self.assertEqual(ans["errors"], [], ans)
                    if ans["complete"]:
                        break
                else:
                    self.assertIsNone(r.status, r.text)
            else:
                self.fail("no sync run completed")
        SHOP.faults()
        CRM.faults()
        ans = Program("sync.cgi", cfgfile).cgi("GET", TOKEN_Q).json()
        self.assertEqual((ans["errors"], ans["complete"]), ([], True), ans)
        self.assert_agree(state)
        self.assertEqual(integrity(state), "ok")
        CRM.clear_log()
        ans = Program("sync.cgi", cfgfile).cgi("GET", TOKEN_Q).json()
        self.assertEqual(ans["sent"], 0, ans)
        self.assertEqual(CRM.puts(), [])
        self.assertGreater(kills, 0)
        print(f"\n    sync: {SYNC_ROUNDS} rounds of shop changes, {attempts} runs,"
              f" {kills} killed", end=" ")

    def test_killed_after_a_page_whose_decisions_are_unsent(self):
        """A run reads and decides a page of the shop's changes, notes where it stands and
        is killed before it sends them.  The run that resumes must read that page again:
        if it went on from the next page it would complete the scan without them, and the
        next incremental scan, which starts from this scan's start, would skip them too."""
        SHOP.upsert(*kctest.bulk_products(3000, 150))
        CRM.reset(**crm_like_shop())
        state, cfgfile = self.baseline("sync-page")
        for i in range(150):                    # 150 changed products: two pages of 100
            SHOP.control("sale", {"id": 3000 + i, "quantity": 1})
        CRM.clear_log()
        r, killed = run_killable(BINDIR / "sync.cgi", cfgfile, TOKEN_Q,
                                 crash_at="sync-after-page", method="GET")
        self.assertTrue(killed, r.text)
        kctest.expire_leases(state)
        self.assertEqual(CRM.puts(), [], "killed before it sent anything")
        ans = Program("sync.cgi", cfgfile).cgi("GET", TOKEN_Q).json()
        self.assertEqual((ans["errors"], ans["complete"]), ([], True), ans)
        self.assertEqual(ans["sent"], 150, ans)
        self.assert_agree(state)

    def test_killed_between_keycrm_202_and_the_ledger_commit(self):
        state, cfgfile = self.baseline("sync-202")
        for pid, n in ((10, 2), (12, 1), (23, 1)):
            SHOP.control("sale", {"id": pid, "quantity": n})
        CRM.clear_log()
        # KeyCRM applies the PUT, then holds its 202 for 30 s.
        CRM.faults(rules=[{"method": "PUT", "path_prefix": "/v1/offers/stocks", "times": 1,
                           "action": "timeout", "hold_s": 30, "apply": True}])
        env = {"REQUEST_METHOD": "GET", "QUERY_STRING": TOKEN_Q,
               "KEYCRM_SYNC_CONFIG": cfgfile, **sanitizer_env()}
        proc = subprocess.Popen([str(BINDIR / "sync.cgi")], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=servers._cgi_env(env, b""),
                                **AS_WEB_SERVER)
        try:
            deadline = time.monotonic() + 20
            while not CRM.puts():
                self.assertLess(time.monotonic(), deadline, "no PUT")
                time.sleep(0.02)
            time.sleep(0.2)     # inside the wait for the answer
        finally:
            proc.kill()
            proc.wait()
        expire_leases(state)
        CRM.faults()
        shop = SHOP.products()
        offers = CRM.offers()
        for pid in (10, 12, 23):
            self.assertEqual(offers[shop[pid]["sku"]]["stocks"]["1"]["quantity"],
                             shop[pid]["stock_quantity"], "KeyCRM took the PUT")
        self.assertEqual(query(state, "SELECT agreed_qty FROM ledger WHERE sku = 'RW-SIMPLE-001'"),
                         [(10,)], "killed before the ledger commit")
        hooks = len(CRM.webhooks())
        ans = Program("sync.cgi", cfgfile).cgi("GET", TOKEN_Q).json()
        self.assertEqual((ans["sent"], ans["errors"]), (3, []), ans)
        self.assertEqual(len(CRM.webhooks()), hooks, "the repeat changed nothing in KeyCRM")
        self.assert_agree(state)
        # KeyCRM's echo of the one real change computes back: no shop write.
        SHOP.clear_log()
        for hook in CRM.webhooks():
            r = Program("webhook.cgi", cfgfile).cgi("POST", HOOK_Q,
                                                    json.dumps(hook["payload"]).encode())
            self.assertEqual(r.status, 200, r.text)
        self.assertEqual(SHOP.writes(), [])
        ans = Program("sync.cgi", cfgfile).cgi("GET", TOKEN_Q).json()
        self.assertEqual(ans["sent"], 0, ans)


@sqlite_only("the disk that fills is the one under state_dir holding state.db;"
             " MariaDB keeps the state on its own server")
class FullDisk(unittest.TestCase):
    """state_dir on a 1 MiB tmpfs, filled up."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        self.mnt = Path(tempfile.mkdtemp(prefix="kc-full-", dir=root()))
        rc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs",
                             str(self.mnt)], capture_output=True, text=True)
        if rc.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs: {rc.stderr.strip()}")
        self.state = self.mnt / "state"
        self.state.mkdir()
        servers.prepare_for_www_data(str(self.state))
        SHOP.reset()
        SHOP.faults()

    def tearDown(self):
        subprocess.run(["umount", "-l", str(self.mnt)], capture_output=True)
        shutil.rmtree(self.mnt, ignore_errors=True)

    def fill(self):
        """Fills the disk to the last byte."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (65536, 4096, 512, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError:
                    pass
        finally:
            os.close(fd)

    def observe(self):
        """The inbox and integrity_check, read by the test.  A reader needs
        room for the WAL index (-shm) too, so some is made for the read and
        taken again afterwards."""
        size = self.filler.stat().st_size
        os.truncate(self.filler, max(0, size - 256 * 1024))
        try:
            return set(inbox(self.state)), integrity(self.state)
        finally:
            self.fill()

    def test_full_disk_refuses_what_it_cannot_keep(self):
        cfgfile = config("full", self.state, sync_max_seconds=2)
        webhook = Program("webhook.cgi", cfgfile)
        r = webhook.cgi("POST", HOOK_Q, json.dumps(
            [{"sku": "RW-SIMPLE-001", "in_stock": 3}]).encode())
        self.assertEqual(r.status, 200, r.text)
        # The shop refuses the key from now on (at once, no retries): the
        # reports stay in the inbox.
        SHOP.faults(rules=[{"method": "*", "path_prefix": "/wp-json/", "times": -1,
                            "action": "status", "status": 401}])
        self.filler = self.mnt / "filler"
        answers, refused, batch = {}, [], 0
        # From no room at all to room for some batches but not others.
        for free_kb in (0, 48, 160):
            self.fill()
            size = self.filler.stat().st_size
            os.truncate(self.filler, max(0, size - free_kb * 1024))
            for n in (1, 100, 3000):
                batch += 1
                items = [{"sku": f"FULL-{batch}-{i:05d}", "in_stock": i % 9 + 1,
                          "in_reserve": 0} for i in range(n)]
                r = webhook.cgi("POST", HOOK_Q, json.dumps(items).encode())
                answers[f"{free_kb}k/{n}"] = r.status
                self.assertIn(r.status, (200, 503), (n, r.text, r.stderr[-1500:]))
                skus, ok = self.observe()
                self.assertEqual(ok, "ok")
                held = {s for s in skus if s.startswith(f"FULL-{batch}-")}
                if r.status == 200:
                    self.assertEqual(len(held), n, f"200 for {n} but {len(held)} kept")
                else:
                    self.assertEqual(held, set(), f"503 for {n} but {len(held)} kept")
                    self.assertIn("could not be stored", r.json()["error"])
                    refused.append(items)
                os.truncate(self.filler, max(0, size - free_kb * 1024))
        self.assertIn(200, answers.values(), answers)
        self.assertTrue(refused, f"the disk never filled up: {answers}")
        # Room again: KeyCRM's retries are accepted, and applied once the
        # shop is back.
        self.filler.unlink()
        SHOP.faults()
        for items in refused:
            r = webhook.cgi("POST", HOOK_Q, json.dumps(items[:50]).encode())
            self.assertEqual(r.status, 200, r.text)
        out = webhook.shell("--apply")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(SHOP.qty(10), 3)
        self.assertEqual(integrity(self.state), "ok")
        print(f"\n    full disk: answers (free space / items) {answers}", end=" ")

    def test_full_disk_while_applying(self):
        """The disk fills up between accepting reports and applying them:
        the applier may write the shop but cannot settle, so the reports
        stay; with room again the next applier finds the values in place."""
        cfgfile = config("full-apply", self.state, sync_max_seconds=2)
        webhook = Program("webhook.cgi", cfgfile)
        SHOP.faults(rules=[{"method": "*", "path_prefix": "/wp-json/", "times": -1,
                            "action": "status", "status": 401}])
        items = [{"sku": "RW-SIMPLE-001", "in_stock": 41}, {"sku": "RW-TEE-S", "in_stock": 42}]
        r = webhook.cgi("POST", HOOK_Q, json.dumps(items).encode())
        self.assertEqual(r.status, 200, r.text)
        SHOP.faults()
        self.filler = self.mnt / "filler"
        self.fill()
        out = webhook.shell("--apply")
        self.assertNotEqual(out.returncode, 0, out.stdout)
        skus, ok = self.observe()
        self.assertEqual((skus, ok), ({"RW-SIMPLE-001", "RW-TEE-S"}, "ok"))
        self.filler.unlink()
        out = webhook.shell("--apply")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(inbox(self.state), {})
        self.assertEqual((SHOP.qty(10), SHOP.qty(22)), (41, 42))
        self.assertEqual(integrity(self.state), "ok")


if __name__ == "__main__":
    unittest.main()
