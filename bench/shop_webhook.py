#!/usr/bin/env python3
"""WooCommerce's own webhooks -> KeyCRM (SPEC 3, "shop webhook"): delays, requests, answers.

    python3 bench/shop_webhook.py                 # ~4 min; also: bench/run.py --parts shop
    python3 bench/shop_webhook.py --quick         # ~1 min
    python3 bench/shop_webhook.py --servers nginx-fastcgi,apache-cgi --sales 200

Runs as root like bench/run.py (the harness's nginx/Apache, workers as www-data), with
the simulated shop delivering its webhooks as tests/fakes/woo_webhooks.py models
WooCommerce 7.8.2 and the simulated KeyCRM logging every request. The push waits its
default 3 s (KEYCRM_SYNC_PUSH_DELAY_MS unset): the delays below include that coalescing.

What it prints, per server (--servers; default nginx-fastcgi, nginx-fcgiwrap, apache-cgi):

delivery -> KeyCRM  --sales paid orders (default 100) of random SKUs, one every 0.2-1.5 s
                    (random), the shop in synchronous mode (each sale delivered at once,
                    so that every delivery carries its own value). For each delivery:
                    the time from WooCommerce sending it (the fake's sent_at) to the start
                    of the first PUT /offers/stocks that gives KeyCRM its value. p50, p99.
sale -> KeyCRM      the same from the sale itself, under the reference's delivery timings
                    (reference/woocommerce-webhooks.md section 4):
                    - synchronous delivery after the response (the mu-plugin of contrib/;
                      the fake's mode after_response): measured, sale request to PUT;
                    - the default queue run by a per-minute wp-cron.php call: the reference
                      measured 0.2 to 60.4 s from sale to delivery; modelled as uniform on
                      [0.2, 60] s and added to the measured delivery -> KeyCRM delays
                      (100,000 draws), since waiting minutes per sample says nothing more.
burst               1,000 paid orders over 200 SKUs (160 simple products, 40 variations;
                    each sold 5 times in random order) with the shop's queue run every
                    second (a runner started every second), keycrm_requests_per_minute = 60
                    (the default) and the fake KeyCRM limiting to 60 per rolling 60 s:
                    deliveries, PUTs, all KeyCRM requests, the most in any 60 s, and the
                    time until KeyCRM holds every final value.
answer              the shop webhook's answer time as WooCommerce sees it (the fake's
                    HTTP/1.0 POST, connect to last byte, the full wc/v3 product object as
                    the payload): p50, p99, max over every delivery above.

Figures are printed, never asserted; the last ones are in docs/BENCHMARKS.md.
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVERS = {"nginx-fastcgi": ("nginx", "fastcgi", "nginx + FastCGI workers"),
           "nginx-fcgiwrap": ("nginx", "fcgiwrap", "nginx + plain CGI (fcgiwrap)"),
           "apache-cgi": ("apache", "cgi", "Apache + plain CGI (mod_cgid)"),
           "apache-proxy-fcgi": ("apache", "proxy_fcgi", "Apache + FastCGI (mod_proxy_fcgi)")}
SECRET = "bench-shop-webhook-secret-0123456789abcdef"


def log(msg):
    print(f"[shop] {msg}", file=sys.stderr, flush=True)


def pct(values, p):
    """The p-th percentile (nearest rank) of values."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100 * len(v) + 0.5)) - 1))
    return v[k]


def catalogue():
    """200 SKUs managing their own stock, 1,000 each: 160 simple, 4 x 10 variations."""
    products = []
    for i in range(160):
        products.append({"id": 5000 + i, "type": "simple", "parent_id": 0,
                         "sku": f"BENCH-{i:03d}", "manage_stock": True,
                         "stock_quantity": 1000, "status": "publish", "name": f"Bench {i}"})
    for v in range(4):
        parent = 6000 + v * 100
        products.append({"id": parent, "type": "variable", "parent_id": 0,
                         "sku": f"BENCH-VAR{v}", "manage_stock": False,
                         "stock_quantity": None, "status": "publish", "name": f"Var {v}"})
        for k in range(1, 11):
            products.append({"id": parent + k, "type": "variation", "parent_id": parent,
                             "sku": f"BENCH-VAR{v}-{k:02d}", "manage_stock": True,
                             "stock_quantity": 1000, "status": "publish",
                             "name": f"Var {v} {k}"})
    return products


class Setup:
    """One server with fresh state and fakes, after a first cron sync."""

    def __init__(self, kc, shop, crm, bindir, server, per_minute=60, crm_limit=None):
        self.kc, self.shop, self.crm = kc, shop, crm
        kind, mode, _ = SERVERS[server]
        shop.reset(products=catalogue())
        shop.faults()
        shop.webhook_config(mode="async", safe_urls=False, queue_interval_s=0)
        crm.reset(**kc.crm_like_shop(shop))
        crm.configure(webhook_mode="hold", unknown_sku="skip",
                      rate_limit={"requests": crm_limit or 100000, "window_s": 60})
        self.state = kc.make_state_dir(f"bench-shop-{server}")
        cfg = kc.full_config(f"bench-shop-{server}.conf", self.state, shop, crm,
                             shop_webhook_secret=SECRET,
                             keycrm_requests_per_minute=per_minute)
        cls = kc.servers.Nginx if kind == "nginx" else kc.servers.Apache
        self.server = cls(str(kc.root()), str(bindir), cfg, programs=("webhook.cgi", "sync.cgi"),
                          env={}, mode=mode)
        self.server.start()
        r = kc.servers.http_request(f"{self.server.url}/keycrm/sync?token={kc.SYNC_TOKEN}")
        if r.status != 200:
            raise RuntimeError(f"first sync: {r.status} {r.text[:300]}")
        shop.create_webhook(f"{self.server.url}/keycrm/shop-webhook", SECRET)
        shop.clear_deliveries()
        crm.clear_log()
        self.skus = {p["id"]: p["sku"] for p in catalogue() if p["manage_stock"]}

    def stop(self):
        self.server.stop()

    def wait_held(self, expected, timeout=300):
        """Until KeyCRM holds every {sku: qty}; the seconds it took."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            offers = self.crm.offers()
            if all(offers[s]["stocks"]["1"]["quantity"] == q for s, q in expected.items()):
                return time.monotonic() - t0
            time.sleep(0.2)
        raise RuntimeError(f"KeyCRM did not get the values within {timeout} s")


def put_times(crm):
    """[(t, {sku: quantity})] of the PUTs KeyCRM accepted, in order."""
    out = []
    for e in crm.log():
        if e["method"] == "PUT" and e["status"] in (200, 202):
            body = e["body"]
            body = json.loads(body) if isinstance(body, (str, bytes)) else body
            out.append((e["t"], {s["sku"]: s["quantity"] for s in body.get("stocks", [])}))
    return out


def first_put_with(puts, after, sku, qty):
    for t, values in puts:
        if t >= after - 0.005 and values.get(sku) == qty:
            return t
    return None


def spaced_sales(setup, n, rng, mode):
    """n sales one every 0.2-1.5 s in fake mode `mode`; [(sale time, sku, qty after)]."""
    shop = setup.shop
    shop.webhook_config(mode=mode)
    sales = []
    for _ in range(n):
        pid = rng.choice(sorted(setup.skus))
        t = time.time()
        left = shop.sale(pid, 1)["product"]["stock_quantity"]
        sales.append((t, setup.skus[pid], left))
        time.sleep(rng.uniform(0.2, 1.5))
    setup.wait_held({sku: q for _, sku, q in sales})
    shop.webhook_config(mode="async")
    return sales


def measure_server(kc, shop, crm, bindir, server, args, rng):
    res = {"server": SERVERS[server][2]}
    # 1. delivery -> KeyCRM, each sale delivered at once (synchronous mode).
    s = Setup(kc, shop, crm, bindir, server)
    try:
        log(f"{server}: {args.sales} sales, synchronous delivery")
        spaced_sales(s, args.sales, rng, "sync")
        puts = put_times(crm)
        deliveries = shop.deliveries()
        delays = []
        for d in deliveries:
            p = json.loads(d["body"])
            t = first_put_with(puts, d["sent_at"], p["sku"], p["stock_quantity"])
            if t is not None:
                delays.append(t - d["sent_at"])
        res["delivery_to_keycrm"] = delays
        res["answers_ms"] = [d["duration_ms"] for d in deliveries]
        res["puts_spaced"] = len(puts)
        res["deliveries_spaced"] = len(deliveries)
        # 2. sale -> KeyCRM with delivery after the response (mode after_response).
        crm.clear_log()
        shop.clear_deliveries()
        log(f"{server}: {args.sales} sales, delivery after the response")
        sales = spaced_sales(s, args.sales, rng, "after_response")
        puts = put_times(crm)
        res["sale_to_keycrm_after_response"] = [
            t - t0 for t0, sku, q in sales
            if (t := first_put_with(puts, t0, sku, q)) is not None]
        res["answers_ms"] += [d["duration_ms"] for d in shop.deliveries()]
    finally:
        s.stop()
    # 3. the burst, at KeyCRM's default limit.
    s = Setup(kc, shop, crm, bindir, server, per_minute=60, crm_limit=60)
    try:
        ids = sorted(s.skus)
        order = ids * 5
        rng.shuffle(order)
        log(f"{server}: 1,000 sales over {len(ids)} SKUs, the queue run every second")
        shop.webhook_config(queue_interval_s=1)
        t0 = time.monotonic()
        for pid in order:
            shop.sale(pid, 1)
        sold = time.monotonic() - t0
        shop.webhook_config(queue_interval_s=0)
        shop.run_queue()
        s.wait_held({s.skus[pid]: 995 for pid in ids})
        total = time.monotonic() - t0
        entries = [e for e in crm.log() if e["path"].startswith("/v1/")]
        times = sorted(e["t"] for e in entries)
        worst = max((sum(1 for u in times if t <= u < t + 60) for t in times), default=0)
        res["burst"] = {"sold_s": sold, "until_held_s": total, "deliveries": len(shop.deliveries()),
                        "puts": sum(1 for e in entries if e["method"] == "PUT"),
                        "requests": len(entries), "max_per_60s": worst,
                        "over_limit": sum(1 for e in entries
                                          if e["status"] == 429 or e.get("over_limit"))}
        res["answers_ms"] += [d["duration_ms"] for d in shop.deliveries()]
    finally:
        s.stop()
    return res


def part_shop(args, kc, results):
    """bench/run.py's part "shop" (and this script's main)."""
    rng = random.Random(args.seed)
    bindir = Path(os.environ["KC_BINDIR"])
    shop, crm = kc.FakeShop(), kc.FakeCRM()
    out = []
    try:
        for server in args.shop_servers:
            out.append(measure_server(kc, shop, crm, bindir, server, args, rng))
    finally:
        shop.stop()
        crm.stop()
    results["shop"] = {"servers": out, "sales": args.sales}


def wpcron_model(delays, rng, draws=100000):
    """Sale -> KeyCRM with the queue run by a per-minute wp-cron.php: U(0.2, 60) + a delay."""
    return [rng.uniform(0.2, 60.0) + rng.choice(delays) for _ in range(draws)]


def report_shop(res):
    rng = random.Random(1)
    lines = ["| server | delivery → KeyCRM p50 / p99 | sale → KeyCRM, after-response delivery "
             "p50 / p99 | sale → KeyCRM, per-minute wp-cron (model) p50 / p99 | "
             "answer p50 / p99 / max |",
             "|---|---|---|---|---|"]
    for r in res["servers"]:
        d, a = r["delivery_to_keycrm"], r["sale_to_keycrm_after_response"]
        m = wpcron_model(d, rng) if d else []
        ms = r["answers_ms"]
        lines.append(f"| {r['server']} | {pct(d, 50):.2f} s / {pct(d, 99):.2f} s "
                     f"({len(d)} deliveries) | {pct(a, 50):.2f} s / {pct(a, 99):.2f} s | "
                     f"{pct(m, 50):.1f} s / {pct(m, 99):.1f} s | "
                     f"{pct(ms, 50):.1f} / {pct(ms, 99):.1f} / {max(ms):.1f} ms |")
    lines += ["", "1,000 sales over 200 SKUs, the shop's queue run every second, "
              "keycrm_requests_per_minute = 60:", "",
              "| server | sales took | deliveries | PUTs | KeyCRM requests | most in any 60 s "
              "| over the limit | until KeyCRM held every final value |",
              "|---|---|---|---|---|---|---|---|"]
    for r in res["servers"]:
        b = r["burst"]
        lines.append(f"| {r['server']} | {b['sold_s']:.1f} s | {b['deliveries']} | {b['puts']} | "
                     f"{b['requests']} | {b['max_per_60s']} | {b['over_limit']} | "
                     f"{b['until_held_s']:.1f} s |")
    return "\n".join(lines)


def target_rows(res):
    """bench/run.py's targets table: the issue's goals for the shop webhook."""
    rows = []
    for r in (res or {}).get("servers", []):
        d = r["delivery_to_keycrm"]
        if d:
            worst = max(pct(d, 50), pct(d, 99))
            rows.append([f"delivery → KeyCRM p50 / p99, {r['server']}", "≤ 5 s",
                         f"{pct(d, 50):.2f} s / {pct(d, 99):.2f} s",
                         "met" if worst <= 5 else "**missed**"])
        b = r["burst"]
        rows.append([f"KeyCRM requests in any 60 s of a 1,000-sale burst, {r['server']}",
                     "≤ 60 (the limit)", f"{b['max_per_60s']}",
                     "met" if b["max_per_60s"] <= 60 and not b["over_limit"] else "**missed**"])
    return rows


def add_arguments(ap):
    ap.add_argument("--sales", type=int, help="spaced sales per server and mode (100)")
    ap.add_argument("--shop-servers", default="nginx-fastcgi,nginx-fcgiwrap,apache-cgi",
                    help="of: " + ", ".join(SERVERS))


def settle_arguments(args):
    args.sales = args.sales or (20 if getattr(args, "quick", False) else 100)
    args.shop_servers = [x.strip() for x in args.shop_servers.split(",") if x.strip()]
    for x in args.shop_servers:
        if x not in SERVERS:
            sys.exit(f"unknown server {x!r}; known: {', '.join(SERVERS)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--bindir", default=os.environ.get("KC_BINDIR", str(REPO / "cgi-bin")))
    ap.add_argument("--seed", type=int, default=20261204)
    ap.add_argument("--servers", dest="shop_servers_alias", help="same as --shop-servers")
    add_arguments(ap)
    args = ap.parse_args()
    if args.shop_servers_alias:
        args.shop_servers = args.shop_servers_alias
    settle_arguments(args)
    if os.geteuid() != 0:
        sys.exit("bench/shop_webhook.py must run as root (the servers run their workers as www-data)")
    os.environ["KC_BINDIR"] = str(Path(args.bindir).resolve())
    sys.path.insert(0, str(REPO / "tests"))
    import kctest as kc          # noqa: E402  (reads KC_BINDIR)
    results = {}
    t0 = time.monotonic()
    try:
        part_shop(args, kc, results)
    finally:
        import shutil
        shutil.rmtree(kc.root(), ignore_errors=True)
    print(f"### Shop webhook ({time.strftime('%Y-%m-%d')}, {time.monotonic() - t0:.0f} s, "
          f"{args.sales} sales per server and mode)\n")
    print(report_shop(results["shop"]))


if __name__ == "__main__":
    main()
