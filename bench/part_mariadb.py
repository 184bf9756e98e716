"""bench/run.py --parts mariadb: the same work with the state in SQLite and in MariaDB.

Issue "Several web servers": webhook acceptance on MariaDB (local socket) next to SQLite,
the CPU each costs per webhook (our FastCGI workers, and MariaDB's own server for the
MariaDB rows), and the requests of a sync run, which must not change with the store.

The MariaDB server is Debian's mariadbd started by the tests' harness (tests/harness/
mariadb.py: private data directory and socket; InnoDB defaults but a 64 MB buffer pool),
so its durability is the default: innodb_flush_log_at_trx_commit = 1, one fsync per
commit.
"""

import os
import time
from pathlib import Path

TABLE_PREFIX = "keycrm_sync_"


def process_cpu_seconds(pid):
    """utime + stime of a process and its threads, from /proc (seconds)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hold_apply_lease(db, database):
    """As a running applier on another server: webhooks then only enqueue."""
    db.sql(f"INSERT INTO {TABLE_PREFIX}leases (name, owner, expires_at, taken_at) "
           f"VALUES ('apply', 'bench', UNIX_TIMESTAMP() + 86400, UNIX_TIMESTAMP()) "
           f"ON DUPLICATE KEY UPDATE owner = 'bench', expires_at = UNIX_TIMESTAMP() + 86400",
           database)


def store_keys(kc, store, db, name):
    """The mysql_* keys of a new, empty database for store "mysql"; {} for SQLite."""
    if store != "mysql":
        return {}
    database = f"kc_{name}_{int(time.time())}"
    db.create_database(database, user=kc.DB_USER, password=kc.DB_PASSWORD)
    return dict(mysql_host=db.socket, mysql_database=database, mysql_user=kc.DB_USER,
                mysql_password=kc.DB_PASSWORD, mysql_table_prefix=TABLE_PREFIX)


def accept(run, args, kc, store, db):
    """wrk against nginx + FastCGI, 2 workers, accept only (the applier's lock held)."""
    servers = kc.servers
    state = kc.make_state_dir(f"mariadb-bench-{store}")
    keys = store_keys(kc, store, db, "bench")
    cfg = kc.write_config(Path(kc.root()) / f"mariadb-bench-{store}.conf",
                          webhook_secret=kc.WEBHOOK_SECRET, state_dir=state,
                          woo_url=f"http://127.0.0.1:{run.closed_port()}",
                          woo_consumer_key=kc.CK, woo_consumer_secret=kc.CS, **keys)
    srv = run.start_server("nginx", "fastcgi", kc.BINDIR, cfg, 2, kc)
    lock = stack = ours = None
    try:
        url = f"{srv.url}/keycrm/webhook?secret={kc.WEBHOOK_SECRET}"
        r = servers.http_request(url, method="POST", body=run.one_item_body())
        if r.status != 200:
            raise RuntimeError(f"{store}: webhook answered {r.status} {r.text}")
        if store == "mysql":
            hold_apply_lease(db, keys["mysql_database"])
        else:
            lock = run.ApplyLockHolder(state)
        stack, ours, _ = run.group_server(srv, f"mariadb-{store}")
        db_cpu0 = process_cpu_seconds(db.proc.pid) if store == "mysql" else None
        runs = run.measure_wrk(f"webhook on {store}, accept only", url, "POST", args,
                               Path(kc.root()), stack, ours)
        if db_cpu0 is not None:
            ok = sum(x["ok"] for x in runs)
            # The warm-up second is in the figure too: an upper bound.
            db_ms = (process_cpu_seconds(db.proc.pid) - db_cpu0) * 1000 / max(ok, 1)
            for x in runs:
                x["cpu_db_ms"] = db_ms
        return runs
    finally:
        if lock is not None:
            lock.release()
        srv.stop()
        for g in (stack, ours):
            if g is not None:
                g.close()


def sync_requests(kc, store, db):
    """One baseline run, then 20 sales and one incremental run: its requests and time."""
    shop, crm = kc.FakeShop(), kc.FakeCRM()
    try:
        shop.reset()
        crm.reset(**kc.crm_like_shop(shop))
        state = kc.make_state_dir(f"mariadb-sync-{store}")
        keys = store_keys(kc, store, db, "sync")
        cfg = kc.full_config(f"mariadb-sync-{store}.conf", state, shop, crm, **keys)
        program = kc.Program("sync.cgi", cfg)
        token = f"token={kc.SYNC_TOKEN}"
        first = program.cgi("GET", token)
        if first.status != 200:
            raise RuntimeError(f"{store}: baseline sync answered {first.status} {first.text}")
        managed = [p for p in shop.products().values()
                   if p.get("manage_stock") is True and p.get("sku")]
        for p in managed[:20]:
            shop.control("sale", {"id": p["id"], "quantity": 1})
        t0 = time.monotonic()
        r = program.cgi("GET", token)
        wall = time.monotonic() - t0
        ans = r.json()
        if r.status != 200 or ans.get("errors"):
            raise RuntimeError(f"{store}: sync answered {r.status} {r.text}")
        return {"store": store, "sold": min(20, len(managed)), "sent": ans["sent"],
                "shop_requests": ans["shop_requests"],
                "keycrm_requests": ans["keycrm_requests"], "wall_s": wall}
    finally:
        shop.stop()
        crm.stop()


def part_mariadb(run, args, kc, results):
    from harness import mariadb
    if not mariadb.available():
        raise RuntimeError("mariadb-server is not installed (make deps installs it)")
    db = kc.mariadb()
    res = {"accept": {}, "sync": []}
    results["mariadb"] = res
    for store in ("sqlite", "mysql"):
        run.log(f"mariadb: accept on {store}")
        res["accept"][store] = accept(run, args, kc, store, db)
        run.log(f"mariadb: sync requests on {store}")
        res["sync"].append(sync_requests(kc, store, db))
    return res


def report_mariadb(run, res, args):
    out = [f"nginx + FastCGI (spawn-fcgi -F 2), one-item webhooks, accept only (the "
           f"applier's lock held), wrk -t{args.threads} -c{args.connections} "
           f"-d{args.duration}s, {args.runs} run(s). MariaDB through its local socket; "
           "its CPU is mariadbd's own, per webhook, warm-up included.\n"]
    rows = []
    for store, runs in res["accept"].items():
        rows.append(["SQLite (state.db)" if store == "sqlite" else "MariaDB (socket)",
                     run.fmt3(run.stats([r["rps"] for r in runs]), 0),
                     run.fmt3(run.stats([r["p50_ms"] for r in runs]), 2),
                     run.fmt3(run.stats([r["p99_ms"] for r in runs]), 2),
                     run.fmt3(run.stats([r.get("cpu_ours_ms") for r in runs]), 2),
                     run.fmt3(run.stats([r.get("cpu_db_ms") for r in runs]), 2)
                     if store == "mysql" else "-",
                     sum(r["errors"] for r in runs)])
    out.append(run.table(["store", "webhooks/s", "p50 ms", "p99 ms",
                          "CPU ms/webhook, our workers", "CPU ms/webhook, mariadbd",
                          "errors"], rows))
    out.append("\nA sync run after 20 sales in the shop (the fakes' recorded catalogue), "
               "as plain CGI:\n")
    out.append(run.table(["store", "SKUs sold", "sent", "shop requests", "KeyCRM requests",
                          "wall s"],
                         [["SQLite" if s["store"] == "sqlite" else "MariaDB", s["sold"],
                           s["sent"], s["shop_requests"], s["keycrm_requests"],
                           f"{s['wall_s']:.2f}"] for s in res["sync"]]))
    return "\n".join(out)
