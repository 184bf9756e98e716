#!/usr/bin/python3
"""keycrm-sync demo: the real programs behind a real nginx, against fake shop and CRM servers.

What `make demo` runs after building. Everything runs on 127.0.0.1 inside a temporary
directory: a fake WooCommerce and a fake KeyCRM (tests/fakes/), nginx with the programs as
FastCGI workers (started by spawn-fcgi as www-data, configured from nginx-example.conf by
tests/harness/servers.py), and a generated configuration file. The demo then walks the main
job step by step, printing what happens:

  1. a product's stock in the shop;
  2. that offer's stock changes in KeyCRM (reserve included), KeyCRM sends its webhook to
     nginx -> webhook.cgi, which answers at once and then updates the shop; the demo shows
     the answer, then the shop's stock before -> after (= in_stock - in_reserve);
  3. a webhook sent by hand with ?wait=1 for a simple product and a variation;
  4. the sync URL (when sync.cgi is built);
  5. the URLs (secrets masked), then keeps everything running until Ctrl-C.

Needs root (the workers run as www-data, as on a real install).

Usage: /usr/bin/python3 tests/demo.py [--bindir cgi-bin] [--no-wait] [--keep]
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
sys.path.insert(0, str(TESTS))

from harness import servers  # noqa: E402

PYTHON = "/usr/bin/python3"
FAKE_WOO = TESTS / "fakes" / "fake_woo.py"
FAKE_KEYCRM = TESTS / "fakes" / "fake_keycrm.py"
WAREHOUSE_ID = 1
ADMIN_USER = "admin"
POLL_SECONDS = 30


class DemoError(Exception):
    """A step failed; the message says what was expected and what happened."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: stop everything and leave."""


# --------------------------------------------------------------------------------------------
# Output: every line goes through scrub(), so no secret is ever printed whole.

_SECRETS = []


def mask(secret):
    """A secret shown as '****' plus its last 4 characters (enough to recognise it)."""
    return "****" + secret[-4:]


def scrub(text):
    for secret in _SECRETS:
        text = text.replace(secret, mask(secret))
    return text


def say(text=""):
    print(scrub(str(text)), flush=True)


def heading(number, text):
    say(f"\n== {number}. {text}")


def pretty(obj):
    return json.dumps(obj, indent=2, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# HTTP (JSON in, JSON out)

def call(method, url, body=None, expect=(200,), timeout=60):
    """One JSON request; returns (status, decoded answer). DemoError on a status not in
    `expect` or if the server cannot be reached."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except OSError as e:
        raise DemoError(f"{method} {url}: {e}") from None
    try:
        answer = json.loads(raw) if raw.strip() else None
    except ValueError:
        answer = raw.decode("utf-8", errors="replace")
    if status not in expect:
        raise DemoError(f"{method} {url} answered {status}: {str(answer)[:500]}")
    return status, answer


def as_list(answer, *keys):
    """A list from an answer that is either the list itself or an object holding it."""
    if isinstance(answer, list):
        return answer
    if isinstance(answer, dict):
        for key in keys:
            if isinstance(answer.get(key), list):
                return answer[key]
    raise DemoError(f"expected a list, got: {str(answer)[:300]}")


def first_of(record, *keys, default=None):
    for key in keys:
        if isinstance(record, dict) and key in record:
            return record[key]
    return default


# --------------------------------------------------------------------------------------------
# The fake API servers

class Fake:
    """A fake API server as a child process, started with --port 0; it prints PORT=<n> when
    it listens. Its output goes to a log file in the demo directory."""

    def __init__(self, name, script, args, logdir):
        self.name, self.script, self.args = name, Path(script), list(args)
        self.log = Path(logdir) / f"{name}.log"
        self.proc = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=20):
        if not self.script.exists():
            raise DemoError(f"{self.script} does not exist yet")
        log = open(self.log, "ab")
        self.proc = subprocess.Popen([PYTHON, str(self.script), "--port", "0", *self.args],
                                     stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                     start_new_session=True, cwd=REPO)
        found = threading.Event()

        def pump():
            """Read PORT=, then keep draining stdout so the fake never blocks on it."""
            for line in self.proc.stdout:
                m = re.match(rb"PORT=(\d+)\s*$", line)
                if m and not found.is_set():
                    self.port = int(m.group(1))
                    found.set()
                else:
                    log.write(line)
                    log.flush()
            log.close()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.proc.poll() is not None:
                raise DemoError(f"{self.name} exited with status {self.proc.returncode} "
                                f"before it was ready; its log:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise DemoError(f"{self.name} did not print PORT= within {timeout}s; "
                                f"its log:\n{self.log_tail()}")
        return self

    def log_tail(self, lines=15):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s; returns the PID it stopped (or None)."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        return self.proc.pid


# --------------------------------------------------------------------------------------------
# Setup

def check_prerequisites(bindir):
    """Fail early, with what to do, instead of half-way through."""
    if os.geteuid() != 0:
        raise DemoError("the demo needs root: it starts the FastCGI workers as www-data")
    if not (bindir / "webhook.cgi").is_file():
        raise DemoError(f"{bindir / 'webhook.cgi'} is not built (run make first)")
    for script in (FAKE_WOO, FAKE_KEYCRM):
        if not script.is_file():
            raise DemoError(f"{script.relative_to(REPO)} is missing")
    for tool in ("nginx", "spawn-fcgi", "htpasswd"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            raise DemoError(f"{tool} is not installed (apt-get install nginx-light spawn-fcgi "
                            f"apache2-utils)")


def new_credentials(**more):
    """The demo's keys and secrets, generated; every secret is masked in what it prints
    (the settings page's password is shown: the user needs it to log in)."""
    creds = {
        "woo_consumer_key": "ck_" + secrets.token_hex(20),
        "woo_consumer_secret": "cs_" + secrets.token_hex(20),
        "keycrm_api_key": secrets.token_hex(24),
        "webhook_secret": secrets.token_urlsafe(32),
        "sync_token": secrets.token_urlsafe(32),
        "admin_password": secrets.token_urlsafe(12),
        **more,
    }
    _SECRETS.extend(v for k, v in creds.items()
                    if k not in ("woo_consumer_key", "admin_password"))
    return creds


def config_values(creds, woo, keycrm, state):
    """The demo's configuration keys: both fakes, the generated secrets, state_dir."""
    return {
        "woo_url": woo.url,
        "woo_consumer_key": creds["woo_consumer_key"],
        "woo_consumer_secret": creds["woo_consumer_secret"],
        "keycrm_api_url": f"{keycrm.url}/v1",
        "keycrm_api_key": creds["keycrm_api_key"],
        "keycrm_warehouse_id": WAREHOUSE_ID,
        "webhook_secret": creds["webhook_secret"],
        "sync_token": creds["sync_token"],
        "state_dir": state,
    }


def write_config(path, values):
    """The keycrm-sync configuration file (SPEC §2), 0640 root:www-data like a real one."""
    lines = ["# keycrm-sync demo configuration, generated by tests/demo.py"]
    lines += [f"{key} = {value}" for key, value in values.items()]
    Path(path).write_text("\n".join(lines) + "\n")
    servers.prepare_for_www_data(path)


class Demo:
    """Everything the demo starts, so that it can all be stopped whatever happens."""

    def __init__(self, bindir, workdir):
        self.bindir, self.dir = bindir, workdir
        self.woo = self.keycrm = self.nginx = None
        self.creds = new_credentials()

    # URLs
    def webhook_url(self, extra=""):
        return f"{self.nginx.url}/keycrm/webhook?secret={self.creds['webhook_secret']}{extra}"

    def sync_url(self):
        return f"{self.nginx.url}/keycrm/sync?token={self.creds['sync_token']}"

    def settings_url(self):
        return f"{self.nginx.url}/keycrm/settings"

    def programs(self):
        return [p for p in servers.PROGRAMS if (self.bindir / p).is_file()]

    def start(self):
        heading(0, "Starting the fake shop, nginx with the FastCGI workers, and the fake KeyCRM")
        self.woo = Fake("fake-woo", FAKE_WOO,
                        ["--consumer-key", self.creds["woo_consumer_key"],
                         "--consumer-secret", self.creds["woo_consumer_secret"]],
                        self.dir).start()
        say(f"fake WooCommerce: {self.woo.url} (PID {self.woo.proc.pid})")

        config = self.dir / "keycrm-sync.conf"
        state = self.dir / "state"
        state.mkdir()
        servers.prepare_for_www_data(state)
        htpasswd = servers.make_htpasswd(self.dir / "htpasswd", ADMIN_USER,
                                         self.creds["admin_password"])
        self.nginx = servers.Nginx(self.dir, self.bindir, config, htpasswd=htpasswd, workers=2,
                                   programs=self.programs()).start()
        say(f"nginx: {self.nginx.url} (PID {self.nginx.pid}), FastCGI workers for "
            f"{', '.join(self.programs())}")

        self.keycrm = Fake("fake-keycrm", FAKE_KEYCRM,
                           [f"--api-key={self.creds['keycrm_api_key']}",
                            "--webhook-url", self.webhook_url()],
                           self.dir).start()
        say(f"fake KeyCRM: {self.keycrm.url} (PID {self.keycrm.proc.pid})")

        # The programs read the file on every request, so writing it now is in time.
        write_config(config, config_values(self.creds, self.woo, self.keycrm, state))
        say(f"configuration: {config} (plain http to the shop, so requests are signed with "
            f"OAuth 1.0a)")

        call("POST", f"{self.woo.url}/_control/reset", {})
        # The supported layout: KeyCRM's webhook watches the warehouse
        # that keycrm_warehouse_id names (SPEC 4.2).
        call("POST", f"{self.keycrm.url}/_control/reset",
             {"options": {"webhook_warehouses": [WAREHOUSE_ID]}})
        call("POST", f"{self.keycrm.url}/_control/config", {"webhook_url": self.webhook_url()})
        say("fake shop loaded with its default catalogue; fake KeyCRM reset and pointed at "
            "the webhook URL")

    def stop(self):
        """Stop everything this demo started, by PID, and say so."""
        stopped = []
        if self.nginx is not None:
            pids = self.nginx.pids()
            self.nginx.stop()
            stopped.append(f"nginx and its FastCGI workers (PIDs {', '.join(map(str, pids))})")
        for fake in (self.keycrm, self.woo):
            if fake is not None:
                pid = fake.stop()
                if pid:
                    stopped.append(f"{fake.name} (PID {pid})")
        if stopped:
            say("Stopped " + "; ".join(stopped) + ".")

    # ----------------------------------------------------------------------------------------
    # The walk

    def products(self):
        _, answer = call("GET", f"{self.woo.url}/_control/products")
        return as_list(answer, "products", "items")

    def product_by_sku(self, sku):
        for p in self.products():
            if p.get("sku") == sku:
                return p
        raise DemoError(f"the shop has no product with SKU {sku!r} any more")

    def pick_products(self):
        """A simple product and a variation that manage their own stock and have a SKU of
        their own: the two kinds the webhook updates differently."""
        products = self.products()
        skus = {p.get("id"): p.get("sku") for p in products}

        def usable(p):
            return (p.get("sku") and p.get("manage_stock") is True
                    and isinstance(p.get("stock_quantity"), (int, float)))

        simple = next((p for p in products if p.get("type") == "simple" and usable(p)), None)
        variation = next((p for p in products if p.get("type") == "variation" and usable(p)
                          and p.get("sku") != skus.get(p.get("parent_id"))), None)
        if simple is None or variation is None:
            raise DemoError("the fake shop's default catalogue has no simple product and "
                            "variation with their own SKU and managed stock")
        return simple, variation

    def deliveries(self):
        _, answer = call("GET", f"{self.keycrm.url}/_control/webhooks")
        return as_list(answer, "webhooks", "deliveries", "items")

    def wait_for_delivery(self, seen):
        deadline = time.monotonic() + POLL_SECONDS
        while time.monotonic() < deadline:
            found = self.deliveries()
            if len(found) > seen and found[-1].get("deliveries"):
                return found[-1]
            time.sleep(0.2)
        raise DemoError(f"the fake KeyCRM sent no webhook within {POLL_SECONDS}s")

    def wait_for_stock(self, sku, target):
        deadline = time.monotonic() + POLL_SECONDS
        product = None
        while time.monotonic() < deadline:
            product = self.product_by_sku(sku)
            if product.get("stock_quantity") == target:
                return product
            time.sleep(0.25)
        raise DemoError(f"the shop's stock of {sku} is {product.get('stock_quantity')}, not "
                        f"{target}, after {POLL_SECONDS}s; worker log:\n"
                        f"{self.nginx.error_log_text()[-2000:]}")

    def step_webhook_from_keycrm(self, simple):
        sku, before = simple["sku"], simple["stock_quantity"]
        heading(1, "A product in the shop")
        say(f"SKU {sku} (simple product #{simple['id']}): stock {before}")

        heading(2, "Its stock changes in KeyCRM; KeyCRM sends its webhook to webhook.cgi")
        in_stock, in_reserve = int(before) + 7, 2
        target = in_stock - in_reserve
        seen = len(self.deliveries())
        call("POST", f"{self.keycrm.url}/_control/stock",
             {"sku": sku, "warehouse_id": WAREHOUSE_ID, "quantity": in_stock,
              "reserve": in_reserve})
        say(f"KeyCRM, warehouse {WAREHOUSE_ID}: in_stock {in_stock}, in_reserve {in_reserve}")
        record = self.wait_for_delivery(seen)
        say("KeyCRM sent: " + json.dumps(record.get("payload")))
        sent = next((i for i in record.get("payload") or [] if i.get("sku") == sku), None)
        if sent is not None:
            in_stock, in_reserve = sent["in_stock"], sent["in_reserve"]
            target = max(0, int(in_stock - in_reserve))
        status = record["deliveries"][-1].get("status")
        say(f"webhook.cgi answered KeyCRM: {status}")
        if status != 200:
            raise DemoError(f"the webhook answered {status}, not 200; worker log:\n"
                            f"{self.nginx.error_log_text()[-2000:]}")
        after = self.wait_for_stock(sku, target)["stock_quantity"]
        say(f"shop stock of {sku}: {before} -> {after}   "
            f"(= in_stock {in_stock} - in_reserve {in_reserve})")
        return target

    def step_webhook_by_hand(self, simple, variation):
        heading(3, "A webhook sent by hand, with ?wait=1 (applied before the answer)")
        items = [
            {"offer_id": 900001, "sku": simple["sku"],
             "in_stock": simple["stock_quantity"] + 5, "in_reserve": 1},
            {"offer_id": 900002, "sku": variation["sku"],
             "in_stock": variation["stock_quantity"] + 3, "in_reserve": 0},
        ]
        say(f"POST {self.webhook_url('&wait=1')}")
        say(pretty(items))
        status, answer = call("POST", self.webhook_url("&wait=1"), items)
        say(f"answer: {status}")
        say(pretty(answer))
        for item, product in ((items[0], simple), (items[1], variation)):
            target = int(item["in_stock"] - item["in_reserve"])
            now = self.product_by_sku(item["sku"]).get("stock_quantity")
            kind = "variation" if product.get("type") == "variation" else "simple product"
            say(f"shop stock of {item['sku']} ({kind}): {product['stock_quantity']} -> {now}")
            if now != target:
                raise DemoError(f"{item['sku']}: expected {target} after ?wait=1, shop has {now}")

    def step_sync(self):
        heading(4, "The sync URL (what cron calls)")
        if not (self.bindir / "sync.cgi").is_file():
            say("sync.cgi is not built; skipped.")
            return
        say(f"GET {self.sync_url()}")
        status, answer = call("GET", self.sync_url(), expect=(200, 409), timeout=300)
        say(f"answer: {status}")
        say(pretty(answer) if not isinstance(answer, str) else answer)
        if isinstance(answer, dict) and answer.get("first_run"):
            say(f"(the first run records the shop's quantity as the baseline of the "
                f"{answer.get('baseline', 0)} SKUs the two sides never agreed on; a SKU "
                "KeyCRM's webhook already set is decided as on any run)")
        product = self.product_by_sku("RW-SIMPLE-003") or {}
        if product.get("manage_stock") is True:
            heading(5, "A sale in the shop, then the next cron call sends it to KeyCRM")
            call("POST", f"{self.woo.url}/_control/sale", {"id": product["id"], "quantity": 2})
            now = self.product_by_sku("RW-SIMPLE-003")["stock_quantity"]
            say(f"shop: 2 x RW-SIMPLE-003 sold, stock {product['stock_quantity']} -> {now}")
            status, answer = call("GET", self.sync_url(), expect=(200,), timeout=300)
            say(f"sync answer: sent {answer.get('sent')} SKU(s) in "
                f"{answer.get('keycrm_requests')} KeyCRM request(s), errors: {answer.get('errors')}")
            _, state = call("GET", f"{self.keycrm.url}/_control/state")
            offer = next((o for o in state.get("offers", []) if o.get("sku") == "RW-SIMPLE-003"), {})
            say(f"KeyCRM now: in_stock {offer.get('in_stock')}, in_reserve "
                f"{offer.get('in_reserve')} -> available {offer.get('in_stock', 0) - offer.get('in_reserve', 0)}"
                f" = the shop's {now}")

    def show_urls(self):
        heading(6, "Running")
        say(f"webhook URL (paste into KeyCRM): {self.webhook_url()}")
        say(f"sync URL (for crontab):          {self.sync_url()}")
        if (self.bindir / "settings.cgi").is_file():
            say(f"settings page:                   {self.settings_url()}  "
                f"(user {ADMIN_USER}, password {self.creds['admin_password']})")
        else:
            say(f"settings page:                   {self.settings_url()}  (settings.cgi not built)")
        say(f"fake shop control:               {self.woo.url}/_control/products")
        say(f"fake KeyCRM control:             {self.keycrm.url}/_control/webhooks")
        say(f"logs: {self.nginx.log_dir}")

    def walk(self):
        simple, variation = self.pick_products()
        self.step_webhook_from_keycrm(simple)
        simple = self.product_by_sku(simple["sku"])
        self.step_webhook_by_hand(simple, variation)
        self.step_sync()
        self.show_urls()


# --------------------------------------------------------------------------------------------

def wait_for_interrupt():
    say("\nEverything keeps running; press Ctrl-C to stop.")
    while True:
        signal.pause()


def _interrupted(signum, frame):
    raise Interrupted()


def run(make_demo, argv=None, description=None, prefix="keycrm-demo-", check=None):
    """Parses the options, walks the demo make_demo(bindir, workdir) builds, and stops
    everything it started whatever happens.  check(bindir) may add prerequisites."""
    parser = argparse.ArgumentParser(description=description or __doc__.split("\n\n")[0])
    parser.add_argument("--bindir", default=str(REPO / "cgi-bin"),
                        help="where the built programs are (default: cgi-bin/)")
    parser.add_argument("--no-wait", action="store_true",
                        help="stop everything after the walk instead of waiting for Ctrl-C")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (config, state, logs) afterwards")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)

    bindir = Path(args.bindir).resolve()
    workdir = None
    demo = None
    status = 0
    try:
        check_prerequisites(bindir)
        if check is not None:
            check(bindir)
        workdir = Path(tempfile.mkdtemp(prefix=prefix))
        demo = make_demo(bindir, workdir)
        demo.start()
        demo.walk()
        say("\nDemo walk complete.")
        if not args.no_wait:
            wait_for_interrupt()
    except Interrupted:
        say("\nInterrupted.")
    except DemoError as e:
        say(f"\ndemo: FAILED: {e}")
        status = 1
    except Exception as e:                      # a bug or an unexpected answer: still clean up
        say(f"\ndemo: FAILED: {type(e).__name__}: {e}")
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # let the cleanup finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if demo is not None:
            try:
                demo.stop()
            except Exception as e:
                say(f"demo: could not stop everything: {e}")
                status = status or 1
        if workdir is not None:
            if args.keep or status:
                say(f"Kept {workdir} (configuration, state, logs).")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
                say(f"Removed {workdir}.")
    return status


def main(argv=None):
    return run(Demo, argv)

if __name__ == "__main__":
    sys.exit(main())
