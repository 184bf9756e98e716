"""make install / uninstall and everything it puts in place, used the way an administrator
uses it: `make install DESTDIR=<scratch root> PREFIX=/usr`, then the real servers run the
INSTALLED programs (nginx + spawn-fcgi, Apache + mod_proxy_fcgi, and the way the installed
systemd units start them), a webhook and a sync go through each, and no secret may show up
in any access or error log, nor in the programs' own log lines. The first-run helper writes
a configuration the programs accept; make uninstall leaves the configuration and the state.

Under KC_SANITIZED=1 the module is skipped: what make install installs is the normal build
(make check-install and check-integration test it).
"""

import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import stat
import subprocess
import termios
import time
import unittest
from pathlib import Path

import kctest
from kctest import (CK, CS, KEYCRM_KEY, SYNC_TOKEN, WEBHOOK_SECRET, FakeCRM, FakeShop, inbox,
                    make_state_dir, root, wait_for)
from harness import servers

# Run once, not again under KC_STORE=mysql (tests/run.py): the installed files and the
# control script, with the default store.
STORE_INDEPENDENT = True

REPO = kctest.REPO
SHOP = CRM = None
DEST = None                      # the scratch root of `make install ... PREFIX=/usr`
LIBDIR = SBIN = None
PROGRAMS = ("webhook.cgi", "sync.cgi", "settings.cgi")
ALL_SECRETS = (WEBHOOK_SECRET, SYNC_TOKEN, KEYCRM_KEY, CS)


def make(*args):
    """Runs make in the repository like an administrator would (no inherited MAKEFLAGS)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "-C", str(REPO), *args], capture_output=True, text=True,
                          env=env, timeout=600)


def install(dest, prefix="/usr"):
    out = make("install", f"DESTDIR={dest}", f"PREFIX={prefix}")
    if out.returncode != 0:
        raise AssertionError(f"make install failed:\n{out.stdout}\n{out.stderr}")
    return out


def setUpModule():
    global SHOP, CRM, DEST, LIBDIR, SBIN
    if kctest.SANITIZED:
        raise unittest.SkipTest("make install installs the normal build")
    DEST = root() / "destdir"
    install(DEST)
    LIBDIR = DEST / "usr/lib/keycrm-sync"
    SBIN = DEST / "usr/sbin"
    SHOP = FakeShop()
    CRM = FakeCRM()


def tearDownModule():
    for fake in (SHOP, CRM):
        if fake is not None:
            fake.stop()


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def built_programs():
    return [p for p in PROGRAMS if (REPO / "cgi-bin" / p).exists()]


def crm_like_shop():
    """KeyCRM offers for every shop SKU, warehouse 1 stocked like the shop."""
    offers, stocks, seen = [], [], set()
    for p in sorted(SHOP.products().values(), key=lambda p: p["id"]):
        if not p.get("sku") or p["sku"] in seen:
            continue
        seen.add(p["sku"])
        offers.append({"id": 1000 + p["id"], "product_id": p["id"], "sku": p["sku"]})
        if p.get("manage_stock") is True and p.get("stock_quantity") is not None:
            stocks.append({"sku": p["sku"], "warehouse_id": 1,
                           "quantity": p["stock_quantity"], "reserve": 0})
    return {"offers": offers, "stocks": stocks}


def full_config(name, state, **extra):
    return kctest.full_config(f"{name}.conf", state, SHOP, CRM, **extra)


class Layout(unittest.TestCase):
    def test_files_modes_and_owners(self):
        for p in built_programs():
            self.assertEqual(mode(LIBDIR / p), 0o755, p)
        self.assertEqual(mode(SBIN / "keycrm-sync-setup"), 0o755)
        self.assertEqual(mode(SBIN / "keycrm-sync-workers"), 0o755)
        self.assertEqual(mode(DEST / "etc/logrotate.d/keycrm-sync"), 0o644)
        # The workers script names the programs where this PREFIX put them.
        self.assertIn("KEYCRM_SYNC_LIBDIR:-/usr/lib/keycrm-sync}",
                      (SBIN / "keycrm-sync-workers").read_text())
        self.assertEqual(mode(DEST / "usr/share/man/man8/keycrm-sync.8"), 0o644)
        self.assertEqual(mode(DEST / "etc/keycrm-sync/keycrm-sync.conf.example"), 0o644)
        self.assertFalse((DEST / "etc/keycrm-sync/keycrm-sync.conf").exists())
        for unit in ("keycrm-sync@.socket", "keycrm-sync@.service"):
            self.assertEqual(mode(DEST / "usr/lib/systemd/system" / unit), 0o644)
        state = DEST / "var/lib/keycrm-sync"
        st = state.stat()
        self.assertEqual((mode(state), st.st_uid, st.st_gid),
                         (0o750, *servers._www_ids()))
        service = (DEST / "usr/lib/systemd/system/keycrm-sync@.service").read_text()
        self.assertIn("ExecStart=/usr/lib/keycrm-sync/%i.cgi\n", service)
        self.assertIn("StandardInput=socket\n", service)
        socket_unit = (DEST / "usr/lib/systemd/system/keycrm-sync@.socket").read_text()
        self.assertIn("ListenStream=/run/keycrm-sync/%i.sock\n", socket_unit)

    def test_the_units_pass_systemds_own_check(self):
        if shutil.which("systemd-analyze") is None:
            self.skipTest("systemd-analyze is not installed")
        d = root() / "units"
        d.mkdir(exist_ok=True)
        for suffix in ("socket", "service"):
            text = (DEST / f"usr/lib/systemd/system/keycrm-sync@.{suffix}").read_text()
            # The instance as systemctl would name it, the program where DESTDIR put it.
            text = text.replace("/usr/lib/keycrm-sync/", f"{LIBDIR}/")
            (d / f"keycrm-sync@webhook.{suffix}").write_text(text)
        out = subprocess.run(["systemd-analyze", "verify", "--man=no",
                              str(d / "keycrm-sync@webhook.socket"),
                              str(d / "keycrm-sync@webhook.service")],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual((out.returncode, out.stderr.strip()), (0, ""), out.stdout)

    def test_man_page_renders(self):
        out = subprocess.run(["man", "-l", str(DEST / "usr/share/man/man8/keycrm-sync.8")],
                             capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80", "LANG": "C.UTF-8"})
        self.assertEqual(out.returncode, 0, out.stderr)
        for words in ("KEYCRM_SYNC_WORKERS", "keycrm-sync-setup", "EXIT STATUS", "SIGTERM",
                      "log_level", "keycrm-sync-workers", "runuser -u www-data --"):
            self.assertIn(words, out.stdout)

    def test_example_config_has_every_key_and_valid_defaults(self):
        example = (DEST / "etc/keycrm-sync/keycrm-sync.conf.example").read_text()
        keys = re.findall(r'\[KC_KEY_\w+\] = \{ "(\w+)"', (REPO / "lib/config_keys.c").read_text())
        self.assertGreater(len(keys), 15)
        for key in keys:
            self.assertRegex(example, rf"(?m)^# {key} =", key)
        # As installed (everything commented out) it is a valid, empty configuration ...
        state = make_state_dir("state-example")
        cfg = root() / "example.conf"
        cfg.write_text(example + f"state_dir = {state}\n")
        servers.prepare_for_www_data(cfg)
        r = servers.run_cgi(LIBDIR / "webhook.cgi", {"QUERY_STRING": "secret=x",
                                                     "KEYCRM_SYNC_CONFIG": str(cfg)},
                            b"[]", user="www-data")
        self.assertEqual(r.status, 503, r.stderr)       # loaded; no webhook_secret yet
        # ... and every value it shows is one the programs accept.
        # (The state stays in state_dir: mysql_host would move it to a database server.)
        lines = [re.sub(r"^# ", "", ln) for ln in example.splitlines()
                 if re.match(r"^# [a-z_]+ = \S", ln) and not ln.startswith("# state_dir")
                 and not ln.startswith("# mysql_host")]
        cfg.write_text("\n".join(lines) + f"\nstate_dir = {state}\n")
        r = servers.run_cgi(LIBDIR / "webhook.cgi", {"QUERY_STRING": "secret=x",
                                                     "KEYCRM_SYNC_CONFIG": str(cfg)},
                            b"[]", user="www-data")
        self.assertEqual(r.status, 503, r.stderr)
        self.assertNotIn(b"configuration error", r.stderr)

    def test_uninstall_leaves_the_configuration_and_the_state(self):
        for prefix in ("/usr", "/usr/local"):
            with self.subTest(prefix=prefix):
                dest = root() / f"destdir-uninstall{prefix.replace('/', '-')}"
                install(dest, prefix)
                lib = dest / prefix.lstrip("/") / "lib/keycrm-sync"
                service = dest / prefix.lstrip("/") / "lib/systemd/system/keycrm-sync@.service"
                self.assertIn(f"ExecStart={prefix}/lib/keycrm-sync/%i.cgi\n",
                              service.read_text())
                self.assertTrue((lib / "webhook.cgi").exists())
                conf = dest / "etc/keycrm-sync/keycrm-sync.conf"
                conf.write_text(f"webhook_secret = {WEBHOOK_SECRET}\n")
                (dest / "var/lib/keycrm-sync/state.db").write_bytes(b"state")
                # A second install keeps the state directory as it is.
                os.chmod(dest / "var/lib/keycrm-sync", 0o700)
                install(dest, prefix)
                self.assertEqual(mode(dest / "var/lib/keycrm-sync"), 0o700)
                out = make("uninstall", f"DESTDIR={dest}", f"PREFIX={prefix}")
                self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
                left = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
                self.assertEqual(left, ["etc/keycrm-sync/keycrm-sync.conf",
                                        "var/lib/keycrm-sync/state.db"])
                self.assertFalse(lib.exists())


class ThroughInstalledServers(unittest.TestCase):
    """A webhook (answered at once, and ?wait=1) and a sync through each server, from the
    installed programs; then the logs."""

    def setUp(self):
        SHOP.reset()
        SHOP.faults()
        CRM.reset(**crm_like_shop())
        CRM.configure(webhook_mode="hold", unknown_sku="skip")

    def exercise(self, url, state):
        r = servers.http_request(f"{url}/keycrm/sync?token={SYNC_TOKEN}")
        self.assertEqual(r.status, 200, r.text)
        self.assertTrue(r.json()["first_run"], r.text)
        hook = f"{url}/keycrm/webhook"
        target = SHOP.qty(12) + 4
        r = servers.http_request(f"{hook}?secret={WEBHOOK_SECRET}&wait=1", "POST",
                                 json.dumps([{"sku": "RW-SIMPLE-003", "in_stock": target,
                                              "in_reserve": 0}]))
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.json()["applied"], 1, r.text)
        self.assertEqual(SHOP.qty(12), target)
        # Answered at once; the worker applies it after the answer.
        r = servers.http_request(f"{hook}?secret={WEBHOOK_SECRET}", "POST",
                                 json.dumps([{"sku": "RW-SIMPLE-004", "in_stock": 31,
                                              "in_reserve": 1}]))
        self.assertEqual(r.json(), {"received": 1, "queued": 1, "rejected": []})
        wait_for(lambda: SHOP.qty(13) == 30, what="the worker to apply the webhook")
        wait_for(lambda: inbox(state) == {}, what="the inbox to drain")
        r = servers.http_request(f"{hook}?secret=wrong", "POST", b"[]")
        self.assertEqual(r.status, 403)
        SHOP.control("sale", {"id": 10, "quantity": 1})
        r = servers.http_request(f"{url}/keycrm/sync?token={SYNC_TOKEN}", "POST", b"")
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.json()["sent"], 1, r.text)
        r = servers.http_request(f"{url}/keycrm/sync?token=nope")
        self.assertEqual(r.status, 403)

    def assert_no_secret_in_logs(self, *instances):
        access = "\n".join(i.access_log_text() for i in instances)
        errors = "\n".join(i.error_log_text() for i in instances)
        self.assertIn("/keycrm/webhook", access)
        self.assertIn("/keycrm/sync", access)
        for secret in ALL_SECRETS:
            self.assertNotIn(secret, access)
            self.assertNotIn(secret, errors)
        return access, errors

    def server(self, cls, name, **kw):
        state = make_state_dir(f"state-installed-{name}")
        cfg = full_config(f"installed-{name}", state)
        srv = cls(str(root()), str(LIBDIR), cfg, programs=("webhook.cgi", "sync.cgi"),
                  workers=1, env={"KEYCRM_SYNC_WORKERS": 2, "KEYCRM_SYNC_MAX_REQUESTS": 50},
                  **kw)
        srv.start()
        self.addCleanup(srv.stop)
        return srv, state

    def test_nginx_with_spawn_fcgi(self):
        srv, state = self.server(servers.Nginx, "nginx")
        self.exercise(srv.url, state)
        self.assert_no_secret_in_logs(srv)

    def test_apache_with_mod_proxy_fcgi(self):
        srv, state = self.server(servers.Apache, "apache", mode="proxy_fcgi")
        self.exercise(srv.url, state)
        self.assert_no_secret_in_logs(srv)

    def test_apache_with_mod_cgid(self):
        # Plain CGI: the programs' own log lines land in Apache's error log.
        srv, state = self.server(servers.Apache, "apache-cgi", mode="cgi")
        self.exercise(srv.url, state)
        _, errors = self.assert_no_secret_in_logs(srv)
        self.assertIn("webhook: 1 items", errors)

    def test_apache_logs_a_missing_worker_as_troubleshooting_says(self):
        # Variant B with no worker running: 503, and the AH02454 line README quotes, which
        # names the socket but never the query string.
        state = make_state_dir("state-installed-apache-down")
        cfg = full_config("installed-apache-down", state)
        srv = servers.Apache(str(root()), str(LIBDIR), cfg, programs=(), mode="proxy_fcgi")
        srv.start()
        self.addCleanup(srv.stop)
        r = servers.http_request(f"{srv.url}/keycrm/webhook?secret={WEBHOOK_SECRET}", "POST",
                                 b"[]")
        self.assertEqual(r.status, 503)
        errors = srv.error_log_text()
        self.assertRegex(errors, r"AH02454: FCGI: attempt to connect to Unix domain socket "
                                 r"\S+/webhook\.sock \(keycrm-webhook:8000\) failed")
        readme = (REPO / "README.md").read_text()
        self.assertIn("`AH02454: FCGI: attempt to connect to Unix domain socket "
                      "/run/keycrm-sync/webhook.sock (keycrm-webhook:8000) failed`", readme)
        for secret in ALL_SECRETS:
            self.assertNotIn(secret, errors + srv.access_log_text())

    def test_nginx_with_workers_started_like_the_systemd_units(self):
        state = make_state_dir("state-installed-systemd")
        cfg = full_config("installed-systemd", state)
        service = (DEST / "usr/lib/systemd/system/keycrm-sync@.service").read_text()
        env = dict(re.findall(r"(?m)^Environment=(\w+)=(\S+)$", service))
        self.assertEqual(env["KEYCRM_SYNC_CONFIG"], "/etc/keycrm-sync/keycrm-sync.conf")
        self.assertGreaterEqual(int(env["KEYCRM_SYNC_WORKERS"]), 2)
        env["KEYCRM_SYNC_CONFIG"] = cfg          # the test's, not the real /etc
        srv = servers.Nginx(str(root()), str(LIBDIR), cfg, programs=())
        srv.start()
        self.addCleanup(srv.stop)
        workers = []
        for name in ("webhook", "sync"):
            w = servers.SocketActivated(str(root()), LIBDIR / f"{name}.cgi", env=env,
                                        socket_path=srv.run_dir / f"{name}.sock")
            w.start()
            self.addCleanup(w.stop)
            workers.append(w)
        self.exercise(srv.url, state)
        _, errors = self.assert_no_secret_in_logs(srv, *workers)
        # The programs' own lines are there (one per webhook and per run), without secrets.
        self.assertIn("webhook: 1 items", errors)
        self.assertIn("refused a request with a wrong or missing secret", errors)
        self.assertRegex(errors, r"sync\.cgi\[\d+\]: info: ")
        for w in workers:
            everyone = w.pids()
            os.kill(w.pid, signal.SIGTERM)
            self.assertEqual(w.process.wait(timeout=15), 0)
            wait_for(lambda: not any(servers.pid_alive(p) for p in everyone),
                     what="the workers to stop")


def children(pid):
    """PIDs whose parent is pid (a supervisor's workers)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


class WorkersScript(unittest.TestCase):
    """contrib/keycrm-sync-workers as installed in sbin/, behind nginx from the example:
    start, a webhook and a sync, logs in the log files, a rotation with the installed
    logrotate file, a restart that runs the newly installed programs, stop, status."""

    def setUp(self):
        SHOP.reset()
        SHOP.faults()
        CRM.reset(**crm_like_shop())
        CRM.configure(webhook_mode="hold", unknown_sku="skip")
        self.state = make_state_dir("state-workers-script")
        self.cfg = full_config("workers-script", self.state)
        self.htpasswd = servers.make_htpasswd(root() / "workers-script.htpasswd", "admin",
                                              "workers-script-pw")
        self.srv = servers.Nginx(str(root()), str(LIBDIR), self.cfg, programs=(),
                                 htpasswd=self.htpasswd)
        self.srv.start()
        self.addCleanup(self.srv.stop)
        self.logdir = root() / "workers-script-logs"
        if self.logdir.exists():
            shutil.rmtree(self.logdir)
        self.started = set()
        self.addCleanup(self.kill_leftovers)
        self.addCleanup(self.control, "stop")

    def control(self, *args):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
               "KEYCRM_SYNC_DEFAULTS": "/nonexistent",          # not the host's settings
               "KEYCRM_SYNC_LIBDIR": str(LIBDIR), "KEYCRM_SYNC_RUNDIR": str(self.srv.run_dir),
               "KEYCRM_SYNC_LOGDIR": str(self.logdir), "KEYCRM_SYNC_STOP_SECONDS": "20"}
        out = subprocess.run([str(SBIN / "keycrm-sync-workers"), *args], capture_output=True,
                             text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
        for name in ("webhook", "sync", "settings"):
            pidfile = self.srv.run_dir / f"{name}.pid"
            if pidfile.exists() and pidfile.read_text().strip().isdigit():
                pid = int(pidfile.read_text())
                self.started.update([pid, *children(pid)])
        return out

    def kill_leftovers(self):
        for pid in self.started:
            if servers.pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def supervisor(self, name):
        return int((self.srv.run_dir / f"{name}.pid").read_text())

    def webhook(self, sku_id, sku):
        target = SHOP.qty(sku_id) + 3
        r = servers.http_request(f"{self.srv.url}/keycrm/webhook?secret={WEBHOOK_SECRET}&wait=1",
                                 "POST", json.dumps([{"sku": sku, "in_stock": target}]))
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.json()["applied"], 1, r.text)
        self.assertEqual(SHOP.qty(sku_id), target)

    def log(self, name, suffix=""):
        path = self.logdir / f"{name}.log{suffix}"
        return path.read_text(errors="replace") if path.exists() else ""

    def test_start_rotate_restart_after_upgrade_stop(self):
        out = self.control("start")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        for name in built_programs():
            self.assertRegex(out.stdout, rf"{name[:-4]}: started \(pid \d+\)")
        out = self.control("status")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        for name in built_programs():
            self.assertIn(f"{name[:-4]}: running (pid {self.supervisor(name[:-4])}), "
                          f"{self.srv.run_dir}/{name[:-4]}.sock answers", out.stdout)
        # Supervisor and workers run as www-data.
        webhook_pid = self.supervisor("webhook")
        workers = children(webhook_pid)
        self.assertEqual(len(workers), 4)   # KEYCRM_SYNC_WORKERS=4, the default
        for pid in (webhook_pid, *workers):
            self.assertEqual(os.stat(f"/proc/{pid}").st_uid, servers._www_ids()[0])
        # Another user is told to ask as root, not that nothing runs.
        out = subprocess.run(["/usr/sbin/runuser", "-u", "nobody", "--", str(SBIN / "keycrm-sync-workers"),
                              "status"], capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin", "KEYCRM_SYNC_DEFAULTS": "/nonexistent",
                                  "KEYCRM_SYNC_RUNDIR": str(self.srv.run_dir)})
        self.assertEqual(out.returncode, 1, out.stdout)
        self.assertIn("run it as root", out.stderr)
        # Starting again starts nothing new.
        out = self.control("start", "webhook")
        self.assertIn(f"webhook: already running (pid {webhook_pid})", out.stdout)

        ThroughInstalledServers.exercise(self, self.srv.url, self.state)
        # The programs' own lines are in the log files, without secrets.
        wait_for(lambda: "webhook: 1 items" in self.log("webhook"), what="the webhook's log line")
        self.assertRegex(self.log("sync"), r"sync\.cgi\[\d+\]: info: ")
        self.assertIn("refused a request with a wrong or missing secret", self.log("webhook"))
        for name in ("webhook", "sync"):
            for secret in ALL_SECRETS:
                self.assertNotIn(secret, self.log(name))
            st = (self.logdir / f"{name}.log").stat()
            self.assertEqual((mode(self.logdir / f"{name}.log"), st.st_uid),
                             (0o640, servers._www_ids()[0]))

        # A rotation with the installed logrotate file: the old lines move to .1 and the
        # workers go on writing into the emptied file.
        conf = root() / "workers-logrotate.conf"
        conf.write_text((DEST / "etc/logrotate.d/keycrm-sync").read_text()
                        .replace("/var/log/keycrm-sync/", f"{self.logdir}/"))
        out = subprocess.run(["logrotate", "-f", "-s", str(root() / "logrotate.state"),
                              str(conf)], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("webhook: 1 items", self.log("webhook", ".1"))
        self.assertNotIn("webhook: 1 items", self.log("webhook"))
        self.webhook(12, "RW-SIMPLE-003")
        wait_for(lambda: "webhook: 1 items" in self.log("webhook"),
                 what="a log line after the rotation")
        self.assertFalse(self.log("webhook").startswith("\0"), "a gap of zeros")

        # An upgrade: make install puts new files in place (new inodes); the running
        # workers still run the old ones until the restart.
        old_inode = os.stat(f"/proc/{webhook_pid}/exe").st_ino
        install(DEST)
        self.assertNotEqual(os.stat(LIBDIR / "webhook.cgi").st_ino, old_inode)
        out = self.control("status", "webhook")
        self.assertIn("runs a program since replaced: restart it", out.stdout)
        old = {webhook_pid, *workers}
        out = self.control("restart")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("webhook: stopped", out.stdout)
        new_pid = self.supervisor("webhook")
        self.assertNotIn(new_pid, old)
        self.assertFalse([p for p in old if servers.pid_alive(p)], "old workers left")
        for pid in (new_pid, *children(new_pid)):
            self.assertEqual(os.stat(f"/proc/{pid}/exe").st_ino,
                             os.stat(LIBDIR / "webhook.cgi").st_ino)
        self.webhook(13, "RW-SIMPLE-004")
        out = self.control("status")
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertNotIn("since replaced", out.stdout)

        # Stop: no supervisor, no worker, no PID file, no socket left.
        everyone = set()
        for name in built_programs():
            pid = self.supervisor(name[:-4])
            everyone.update([pid, *children(pid)])
        out = self.control("stop")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertFalse([p for p in everyone if servers.pid_alive(p)], "workers left")
        self.assertEqual(sorted(p.name for p in self.srv.run_dir.glob("*.so*")), [])
        self.assertEqual(sorted(p.name for p in self.srv.run_dir.glob("*.pid")), ["nginx.pid"])
        out = self.control("status")
        self.assertEqual(out.returncode, 3, out.stdout)
        self.assertIn("webhook: not running", out.stdout)
        self.assertIn("supervisor: all workers have stopped", self.log("webhook"))

        # With the workers stopped (no sockets), what README's Troubleshooting says: nginx
        # answers 502; for the webhook and sync that shows in keycrm-sync-access.log (the
        # error log would quote the secret, even at "crit"), for the settings page in the
        # site's error log.
        for url in (f"/keycrm/webhook?secret={WEBHOOK_SECRET}", f"/keycrm/sync?token={SYNC_TOKEN}"):
            r = servers.http_request(self.srv.url + url, "POST", b"[]")
            self.assertEqual(r.status, 502)
        r = servers.http_request(self.srv.url + "/keycrm/settings",
                                 auth=("admin", "workers-script-pw"))
        self.assertEqual(r.status, 502)
        access, errors = self.srv.access_log_text(), self.srv.error_log_text()
        for name in ("webhook", "sync"):
            self.assertRegex(access, rf'"POST /keycrm/{name} HTTP/1.1" 502 .* '
                                     rf'upstream=unix:\S+/{name}\.sock 502 0\n')
        self.assertRegex(errors, r"connect\(\) to unix:\S+/settings\.sock failed")
        readme = (REPO / "README.md").read_text()
        self.assertIn('`"POST /keycrm/webhook HTTP/1.1" 502 … '
                      'upstream=unix:/run/keycrm-sync/webhook.sock 502 0`', readme)
        self.assertIn("`connect() to unix:/run/keycrm-sync/settings.sock failed", readme)
        self.assertNotIn("webhook.sock failed", errors)
        for secret in ALL_SECRETS:
            self.assertNotIn(secret, access + errors)

    def test_a_stale_pid_file_names_no_process_to_kill(self):
        # Debian's spawn-fcgi writes the PID without a newline; a file left from before a
        # reboot can name a PID some other process has now.
        bystander = subprocess.Popen(["sleep", "60"])
        self.addCleanup(bystander.wait)
        self.addCleanup(bystander.kill)
        (self.srv.run_dir / "webhook.pid").write_text(str(bystander.pid))
        out = self.control("status", "webhook")
        self.assertEqual((out.returncode, out.stdout), (3, "webhook: not running\n"))
        out = self.control("stop", "webhook")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIsNone(bystander.poll())
        (self.srv.run_dir / "webhook.pid").write_text(str(bystander.pid))
        out = self.control("start", "webhook")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertNotEqual(self.supervisor("webhook"), bystander.pid)
        self.webhook(12, "RW-SIMPLE-003")
        self.assertIsNone(bystander.poll())

    def test_refuses_unknown_actions_and_programs(self):
        out = self.control("reload")
        self.assertEqual(out.returncode, 2)
        self.assertIn("usage:", out.stderr)
        out = self.control("start", "nosuch")
        self.assertEqual(out.returncode, 2)


class SetupHelper(unittest.TestCase):
    """contrib/keycrm-sync-setup as installed in sbin/."""

    def run_setup(self, *args, **kw):
        return subprocess.run([str(SBIN / "keycrm-sync-setup"), *args], capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL,
                              env={"PATH": "/usr/bin:/bin"}, **kw)

    def fresh_dir(self, name):
        d = root() / name
        if d.exists():
            shutil.rmtree(d)
        return d

    @staticmethod
    def values(path):
        return dict(re.findall(r"(?m)^(\w+) = (.*)$", Path(path).read_text()))

    def test_writes_a_config_the_webhook_accepts(self):
        d = self.fresh_dir("setup-a")
        state = make_state_dir("state-setup")
        conf = d / "keycrm-sync.conf"
        SHOP.reset()
        out = self.run_setup("-n", "-c", str(conf), "--woo-url", SHOP.url + "/",
                             "--woo-key", CK, "--woo-secret", CS, "--keycrm-key", KEYCRM_KEY,
                             "--warehouse", "1", "--state-dir", str(state))
        self.assertEqual(out.returncode, 0, out.stderr)
        st = conf.stat()
        self.assertEqual((mode(conf), st.st_uid, st.st_gid), (0o640, 0, servers._www_ids()[1]))
        v = self.values(conf)
        for key in ("webhook_secret", "sync_token"):
            self.assertRegex(v[key], r"^[A-Za-z0-9._~-]{32,256}$")
        self.assertEqual(v["woo_url"], SHOP.url)
        self.assertEqual(v["keycrm_warehouse_id"], "1")
        self.assertIn(f"{SHOP.url}/keycrm/webhook?secret={v['webhook_secret']}\n", out.stdout)
        self.assertIn(f"wget -qO- '{SHOP.url}/keycrm/sync?token={v['sync_token']}'", out.stdout)
        self.assertEqual(sorted(p.name for p in d.iterdir()), ["keycrm-sync.conf"])
        # The installed webhook.cgi, as www-data, takes it.
        target = SHOP.qty(12) + 2
        r = servers.run_cgi(LIBDIR / "webhook.cgi",
                            {"QUERY_STRING": f"secret={v['webhook_secret']}&wait=1",
                             "KEYCRM_SYNC_CONFIG": str(conf)},
                            json.dumps([{"sku": "RW-SIMPLE-003", "in_stock": target}]),
                            user="www-data")
        self.assertEqual(r.status, 200, r.text + r.stderr.decode())
        self.assertEqual(r.json()["applied"], 1)
        self.assertEqual(SHOP.qty(12), target)
        r = servers.run_cgi(LIBDIR / "webhook.cgi",
                            {"QUERY_STRING": f"secret={v['sync_token']}",
                             "KEYCRM_SYNC_CONFIG": str(conf)}, b"[]", user="www-data")
        self.assertEqual(r.status, 403)

    def test_refuses_to_overwrite(self):
        d = self.fresh_dir("setup-b")
        conf = d / "keycrm-sync.conf"
        self.assertEqual(self.run_setup("-n", "-c", str(conf)).returncode, 0)
        before = conf.read_bytes()
        out = self.run_setup("-n", "-c", str(conf), "--woo-url", "https://other.example")
        self.assertEqual(out.returncode, 1)
        self.assertIn("already exists", out.stderr)
        self.assertEqual(conf.read_bytes(), before)
        self.assertEqual(sorted(p.name for p in d.iterdir()), ["keycrm-sync.conf"])
        # Also a name that is a dangling symlink (never written through).
        link = d / "link.conf"
        link.symlink_to(d / "elsewhere.conf")
        self.assertEqual(self.run_setup("-n", "-c", str(link)).returncode, 1)
        self.assertFalse((d / "elsewhere.conf").exists())

    def test_secrets_differ_between_runs(self):
        d = self.fresh_dir("setup-c")
        seen = []
        for name in ("one.conf", "two.conf"):
            self.assertEqual(self.run_setup("-n", "-c", str(d / name)).returncode, 0)
            v = self.values(d / name)
            seen += [v["webhook_secret"], v["sync_token"]]
        self.assertEqual(len(set(seen)), 4)
        # Without values: the keys to fill in are left commented out, and say so.
        text = (d / "one.conf").read_text()
        self.assertIn("# woo_consumer_secret =", text)
        self.assertNotRegex(text, r"(?m)^woo_url")

    def test_bad_values_are_refused_and_nothing_is_written(self):
        d = self.fresh_dir("setup-d")
        for args in (["--warehouse", "12a"], ["--woo-url", "shop.example"],
                     ["--woo-key", "two words"], ["--bogus"]):
            with self.subTest(args=args):
                out = self.run_setup("-n", "-c", str(d / "k.conf"), *args)
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertFalse((d / "k.conf").exists())

    def test_asks_on_a_terminal_without_echoing_secrets(self):
        d = self.fresh_dir("setup-e")
        conf = d / "keycrm-sync.conf"
        master, slave = pty.openpty()

        def controlling_tty():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        proc = subprocess.Popen([str(SBIN / "keycrm-sync-setup"), "-c", str(conf)],
                                stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                preexec_fn=controlling_tty, env={"PATH": "/usr/bin:/bin"})
        os.close(slave)
        dialogue = [(b"Shop URL", b"https://shop.example"), (b"consumer key", CK.encode()),
                    (b"consumer secret", CS.encode()), (b"KeyCRM API key", KEYCRM_KEY.encode()),
                    (b"warehouse id", b"7")]
        seen = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
                # Each answer once its whole question is there.
                if dialogue and re.search(re.escape(dialogue[0][0]) + rb"[^\n]*: $", seen):
                    os.write(master, dialogue.pop(0)[1] + b"\n")
            elif proc.poll() is not None:
                break
        os.close(master)
        self.assertEqual(proc.wait(timeout=10), 0, seen.decode(errors="replace"))
        v = self.values(conf)
        self.assertEqual((v["woo_url"], v["woo_consumer_key"], v["woo_consumer_secret"],
                          v["keycrm_api_key"], v["keycrm_warehouse_id"]),
                         ("https://shop.example", CK, CS, KEYCRM_KEY, "7"))
        self.assertIn(CK.encode(), seen)           # echoed as typed
        self.assertNotIn(CS.encode(), seen)        # secrets are not
        self.assertNotIn(KEYCRM_KEY.encode(), seen)


if __name__ == "__main__":
    unittest.main()
