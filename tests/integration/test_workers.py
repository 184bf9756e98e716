"""The FastCGI worker lifecycle through the real binary (lib/worker.c): the pre-fork
supervisor (KEYCRM_SYNC_WORKERS), restarting workers after KEYCRM_SYNC_MAX_REQUESTS,
SIGTERM while a request is in hand, stopping without leaving a process behind, and a crash
loop that must not spin.

The program is started the way the systemd units start it (servers.SocketActivated: the
listening socket on fd 0, as www-data, stderr kept), so the supervisor's own log lines can be
read; requests go through cgi-fcgi.
"""

import os
import shutil
import signal
import threading
import time
import unittest
from pathlib import Path

import kctest
from kctest import (CK, CS, WEBHOOK_SECRET, FakeShop, body, inbox, make_state_dir, root, wait_for)
from harness import servers

SHOP = None
BIN = None


def setUpModule():
    global SHOP, BIN
    SHOP = FakeShop()
    # www-data runs the program from a copy it can reach (like an installed file).
    BIN = root() / "bin-workers"
    BIN.mkdir(exist_ok=True)
    shutil.copy2(kctest.BINDIR / "webhook.cgi", BIN / "webhook.cgi")
    servers.prepare_for_www_data(BIN / "webhook.cgi")
    os.chmod(BIN, 0o755)


def tearDownModule():
    if SHOP is not None:
        SHOP.stop()


def children(pid):
    """PIDs of the live children of pid."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {p for p in map(int, text.split()) if servers.pid_alive(p)}


def gone(pids):
    return not any(servers.pid_alive(p) for p in pids)


def workers(w, n):
    """Waits until the supervisor w has n live workers; returns their PIDs."""
    return wait_for(lambda: (lambda c: c if len(c) == n else None)(children(w.pid)),
                    what=f"{n} workers")


class WorkerCase(unittest.TestCase):
    def start(self, **env):
        env = {k: str(v) for k, v in env.items()}
        env.update(kctest.sanitizer_env())
        w = servers.SocketActivated(str(root()), BIN / "webhook.cgi", env=env)
        w.start()
        self.addCleanup(w.stop)
        return w

    def config(self, **extra):
        self.state = make_state_dir("state-workers")
        return kctest.full_config("workers.conf", self.state, SHOP,
                                  **{"sync_max_seconds": 30, **extra})

    def get(self, w):
        return w.request({"REQUEST_METHOD": "GET", "QUERY_STRING": ""}, timeout=30)

    def stop_and_check(self, w, sig=signal.SIGTERM, timeout=15):
        """Signal the process started on the socket; it and every worker must be gone."""
        everyone = {w.pid} | children(w.pid)
        os.kill(w.pid, sig)
        rc = w.process.wait(timeout=timeout)
        wait_for(lambda: gone(everyone), timeout=timeout, what="every worker to exit")
        self.assertEqual(w.pids(), [], "a process was left behind")
        return rc


class Supervisor(WorkerCase):
    def test_restarts_workers_after_max_requests_and_stops_on_sigterm(self):
        w = self.start(KEYCRM_SYNC_WORKERS=2, KEYCRM_SYNC_MAX_REQUESTS=3)
        first = workers(w, 2)
        statuses = [self.get(w).status for _ in range(10)]
        self.assertEqual(statuses, [405] * 10)
        now = workers(w, 2)
        self.assertIsNone(w.process.poll(), "the supervisor must keep running")
        self.assertTrue(first - now, f"no worker was replaced: {first} -> {now}")
        self.assertNotIn(w.pid, now)
        # Served their share and replaced at once: no crash reported.
        self.assertNotIn("replacing it", w.error_log_text())
        self.assertEqual(self.stop_and_check(w), 0)
        log = w.error_log_text()
        self.assertIn("supervisor: starting 2 workers", log)
        self.assertIn("supervisor: all workers have stopped", log)

    def test_sigint_is_passed_on_too(self):
        w = self.start(KEYCRM_SYNC_WORKERS=3)
        workers(w, 3)
        self.assertEqual(self.get(w).status, 405)
        self.assertEqual(self.stop_and_check(w, signal.SIGINT), 0)

    def test_workers_stop_when_the_supervisor_is_killed_outright(self):
        w = self.start(KEYCRM_SYNC_WORKERS=2)
        kids = workers(w, 2)
        os.kill(w.pid, signal.SIGKILL)
        w.process.wait(timeout=10)
        wait_for(lambda: gone(kids), timeout=10, what="the orphaned workers to stop")

    def test_a_crash_loop_is_paced(self):
        # Every worker dies as it starts: the first of them are replaced at once, then
        # one a second; the supervisor still stops at once.
        w = self.start(KEYCRM_SYNC_WORKERS=2, KEYCRM_SYNC_CRASH_AT="worker-start")
        time.sleep(3.2)
        log = w.error_log_text()
        deaths = log.count("was killed by signal 9")
        self.assertGreaterEqual(deaths, 3, log)
        self.assertLessEqual(deaths, 9, log)
        self.assertEqual(log.count("workers keep failing"), 1, log)
        self.assertEqual(self.stop_and_check(w, timeout=5), 0)

    def test_bad_settings_are_refused(self):
        for name, value in (("KEYCRM_SYNC_WORKERS", "lots"), ("KEYCRM_SYNC_WORKERS", "0"),
                            ("KEYCRM_SYNC_WORKERS", "65"), ("KEYCRM_SYNC_MAX_REQUESTS", "-1")):
            with self.subTest(name=name, value=value):
                w = self.start(**{name: value})
                self.assertEqual(w.process.wait(timeout=10), 2)
                self.assertIn(f"{name} must be a whole number", w.error_log_text())

    def test_one_worker_without_supervisor_still_works(self):
        # KEYCRM_SYNC_WORKERS unset: the process is the worker (as before).
        w = self.start(KEYCRM_SYNC_MAX_REQUESTS=2)
        self.assertEqual(self.get(w).status, 405)
        self.assertEqual(children(w.pid), set())
        self.assertEqual(self.get(w).status, 405)
        # Served its two requests: exits 0 for systemd's Restart=always to replace it.
        self.assertEqual(w.process.wait(timeout=10), 0)


class StopDuringARequest(WorkerCase):
    def tearDown(self):
        SHOP.faults()

    def test_sigterm_while_applying_loses_nothing(self):
        cfg = self.config()
        SHOP.reset()
        before = SHOP.qty(12)
        target = before + 9
        SHOP.faults(latency_ms=1500)
        w = self.start(KEYCRM_SYNC_WORKERS=2)
        answer = {}

        def post():
            answer["r"] = w.request({"REQUEST_METHOD": "POST",
                                     "QUERY_STRING": f"secret={WEBHOOK_SECRET}&wait=1",
                                     "KEYCRM_SYNC_CONFIG": cfg},
                                    body([{"sku": "RW-SIMPLE-003", "in_stock": target,
                                           "in_reserve": 0}]), timeout=60)

        t = threading.Thread(target=post)
        t.start()
        # Stored first, then the shop is asked (slowly): stop the worker in the middle.
        def stored():
            return "RW-SIMPLE-003" in inbox(self.state)

        wait_for(stored, what="the report to be stored")
        time.sleep(0.3)
        started = time.monotonic()
        self.assertEqual(self.stop_and_check(w, timeout=20), 0)
        t.join(30)
        self.assertFalse(t.is_alive())
        self.assertLess(time.monotonic() - started, 15)
        SHOP.faults()
        r = answer["r"]
        applied = SHOP.qty(12) == target
        if r.status is not None:
            # The answer arrived, and it tells the truth.
            self.assertEqual(r.status, 200, r.text)
            ans = r.json()
            self.assertEqual(ans["received"], 1)
            self.assertEqual(ans["applied"] == 1, applied, ans)
        # Either the shop has it, or the inbox still does: never neither.
        if applied:
            self.assertEqual(inbox(self.state), {})
        else:
            self.assertEqual(set(inbox(self.state)), {"RW-SIMPLE-003"})
            self.assertEqual(SHOP.qty(12), before)
        # And the next applier takes it from there.
        out = kctest.subprocess.run([str(kctest.BINDIR / "webhook.cgi"), "--apply"],
                                    capture_output=True, text=True,
                                    env={"KEYCRM_SYNC_CONFIG": cfg, **kctest.sanitizer_env()},
                                    user="www-data", group="www-data", extra_groups=[])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(SHOP.qty(12), target)
        self.assertEqual(inbox(self.state), {})
        log = w.error_log_text()
        for secret in (WEBHOOK_SECRET, CS, CK):
            self.assertNotIn(secret, log)
        self.assertIn("webhook: 1 items", log)


if __name__ == "__main__":
    unittest.main()
