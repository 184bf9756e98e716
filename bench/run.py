#!/usr/bin/env python3
"""keycrm-sync benchmarks: speed and memory, measured and printed, never asserted.

    make bench                         # = make deps all, then: python3 bench/run.py (~10 min)
    python3 bench/run.py --quick       # a smaller version, ~2 min
    python3 bench/run.py --parts accept,sync --sizes 1000,10000
    python3 bench/run.py --out /tmp/bench.md --json /tmp/bench.json

Runs as root (like the integration tests: the servers run their workers as www-data), on
loopback, against the real binaries (--bindir, default $KC_BINDIR or cgi-bin/), nginx and
Apache configured from the example configs (tests/harness/servers.py), and the simulated
shop and KeyCRM. Prints progress on stderr and, at the end, the results as Markdown on
stdout (docs/BENCHMARKS.md holds the last ones committed, with the machine).

Parts (--parts, comma-separated; default all):

accept    Webhook acceptance (secret check, JSON parse, durable SQLite commit, answer)
          with wrk on loopback (-t2 -c8, --duration s per run after a 1 s warm-up), one-item
          KeyCRM webhooks whose SKU cycles over 1,000 values, through --servers:
          nginx + FastCGI workers (spawn-fcgi -F 2), nginx + plain CGI (fcgiwrap -c 2),
          Apache + mod_cgid (and, on request, Apache + mod_proxy_fcgi). The shop is never
          called: the bench holds state_dir/apply.lock, so each webhook finds "an applier
          running" and only enqueues (SPEC 3). Three webhook rows per server:
            - while an applier runs: the lock held and the state database kept open by
              another process (as a running applier has it), the usual case under load;
            - no other connection: the lock alone; SQLite then checkpoints and deletes
              the WAL file whenever a webhook's connection closes;
            - no lock, woo_url a closed port: the applier that follows each webhook runs
              and fails at once (what an unreachable shop costs).
          Baselines on the same server in the same run: a static file (GET) and an empty
          answer from the harness's stand-in program (tests/harness/standin.c, the same
          POST), as FastCGI or CGI like the webhook.
          CPU per request: the server's process tree (web server, fcgiwrap, mod_cgid, the
          programs, detached appliers) is moved into a cgroup v2 and cpu.stat is read
          around each run; the FastCGI workers get a cgroup of their own. System calls
          per webhook of the FastCGI workers: strace -c over 100 webhooks one after
          another, and over 400 with 8 in flight (group commit: KEYCRM_SYNC_THREADS, default
          4 per worker), if strace is installed. --servers nginx-fastcgi-t1 adds nginx +
          FastCGI with KEYCRM_SYNC_THREADS=1 (no group commit) for comparison,
          nginx-fastcgi-w1t8 one worker process with 8 threads (one writer connection). Plain CGI, exec by exec (--execs, no web server): CPU of the process
          (wait4) and with what it leaves running (a cgroup joined before exec), wall time,
          peak RSS. And a probe of the disk: SQLite commits/s, WAL, synchronous=FULL, one
          writer - the bound of one fsync'd commit per webhook.
apply     Webhook application (?wait=1; webhook.cgi run as plain CGI) of K = 1, 100, 5,000
          items (--apply-sizes) - whole products in random order, a variable product's
          variations together - to the fake shop with WooCommerce's measured latencies,
          70 ms per request + 26 ms per batch item (reference/woocommerce-api.md
          section 8), served by a pool of two PHP workers as a php-fpm shop is. K >= 1000
          runs with both latencies x --latency-scale (default 0.1) unless --full-latency;
          its real-latency figure counts the requests as if sent one after another, an
          upper bound now that woo_parallel_requests (2) of them go at once:
              wall_real <= wall_measured + requests x (70 - 70 x scale) ms
                                         + items_written x (26 - 26 x scale) ms
          Then 100 items as one batch against 100 items in 10 groups (batch writes to
          different parents), at the full latencies; and 1 item of a simple product seen
          before, with woo_sku_map_seconds = 0 (lookup, then the write) and = 600 (one
          request from the SKU map).
sync      sync.cgi (plain CGI) on catalogues of --sizes SKUs: 60 % simple products, 40 %
          variations (4 per variable product, whose parent has a SKU and no stock of its
          own), all with an old date_modified_gmt. Runs: the first run (the baseline: a
          full scan that sends nothing), full scans with nothing changed, incremental
          scans with 0 %, 1 % and 10 % of the SKUs changed (as a sale changes them: the
          variation and its parent get a new date_modified_gmt). Before each incremental
          run the previous changes are aged (date_modified_gmt set back), as if the next
          cron call came more than 5 minutes later: a scan reads back to 300 s before the
          last one began. keycrm_requests_per_minute = 600 (the largest allowed) and the
          fake KeyCRM's limit 100,000/min, so no run waits for the window;
          sync_max_seconds = 3600 so that every run completes in one call.
backfill  sync.cgi ?pull=1 of --backfill-offers offers (10,000) from the fake KeyCRM (GET
          /offers/stocks, 50 per page) at keycrm_requests_per_minute = 600, every offer's
          quantity differing from the shop's (every SKU is written); the shop without
          injected latency. The time KeyCRM's 60/min limit imposes is computed from the
          measured request count R and the pacing rule (at most L requests in any 60 s,
          kept as 61 s so that KeyCRM, counting arrivals, never sees more: request i
          starts no earlier than request i-L + 61 s):
              T(L) = floor((R-1)/L) x 61 s + ((R-1) mod L + 1) x t_request
          and the rule itself is checked on the program once (3 requests at L = 2: about
          a minute; --no-pacing-check, or --quick, skips it). The shop side at real
          latencies: shop_requests x 70 ms + items_written x 26 ms.
shop      WooCommerce's own webhooks (bench/shop_webhook.py, which also runs alone): delay
          from WooCommerce sending a delivery to KeyCRM holding the value, p50/p99 (the
          push's 3 s coalescing included); from the sale itself with delivery right after
          the response (measured) and with the queue run by a per-minute wp-cron.php
          (modelled from the reference's timings); KeyCRM requests per minute under a
          1,000-sale burst at keycrm_requests_per_minute = 60; the webhook's answer time.
          --sales N spaced sales per server and mode (100; --quick 20), --shop-servers.
mariadb   The state in MariaDB (a private mariadbd through its socket) next to SQLite
          (bench/part_mariadb.py): webhook acceptance through nginx + FastCGI, accept
          only, with the CPU of our workers and of mariadbd per webhook; and the requests
          of a sync run after 20 sales, which must be the same on both stores.

Measuring our programs: each is started by a tiny C launcher (compiled into the temporary
directory) that reports its wait4() rusage: CPU (user + sys) and peak RSS of the process
and the children it waited for. (Started from Python directly, ru_maxrss would include
the Python process's own RSS, which the kernel carries over exec.)

The fakes: bench/fake_woo_indexed.py and bench/fake_keycrm_indexed.py, the stock fakes of
tests/fakes/ with indexes where the stock code walks the whole catalogue per page or per
item (hours at 100,000 SKUs); their answers are checked against the stock code for the
smallest catalogue (--stock-fakes uses the stock fakes).

Every figure is min / median / max over --runs runs (default 3; --quick: 1, shorter wrk
runs, sizes 1k and 10k, a 2,000-offer backfill).

Other options: --threads / --connections (wrk), --execs N (default 200), --keep (keep the
temporary directory), --seed N.
"""

import argparse
import atexit
import fcntl
import json
import math
import os
import platform
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import part_mariadb          # noqa: E402  (bench/part_mariadb.py)
import shop_webhook          # noqa: E402  (bench/shop_webhook.py)

REPO = Path(__file__).resolve().parents[1]
OLD_DATE = "2020-01-01T00:00:00"
WOO_LATENCY_MS = 70          # reference/woocommerce-api.md section 8: cheapest route ~69 ms
WOO_PER_ITEM_MS = 26         # batch of 100: 2.66 s -> ~26 ms per item
WOO_PAGE_MS = 128            # GET /products?per_page=100&_fields=... 127.8 ms
T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Small helpers

def stats(values):
    """(min, median, max) of the values that are not None, or None."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return (min(vals), statistics.median(vals), max(vals))


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return f"{v:,}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def fmt3(triple, digits=1):
    """min / median / max, or one value when they are equal."""
    if triple is None:
        return "n/a"
    lo, med, hi = triple
    if fmt(lo, digits) == fmt(hi, digits):
        return fmt(med, digits)
    return f"{fmt(lo, digits)} / **{fmt(med, digits)}** / {fmt(hi, digits)}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def closed_port():
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Child:
    """Result of one program run: wall seconds, CPU seconds (user + sys of the process and
    of the children it waited for), peak RSS in KiB, exit status, output."""

    def __init__(self, wall, user, sys_, maxrss_kib, status, stdout, stderr):
        self.wall, self.user, self.sys = wall, user, sys_
        self.cpu = user + sys_
        self.maxrss_kib = maxrss_kib
        self.status, self.stdout, self.stderr = status, stdout, stderr


# Why a launcher: ru_maxrss of a child forked from this Python process starts at Python's
# own RSS (the kernel carries the pre-exec high-water mark over exec), so the program is
# started by a tiny C launcher instead, which reports its wait4() rusage.
# usage: kcrun REPORT CGROUP_PROCS|- PROGRAM ARGS...; with a cgroup, the child joins it
# before exec, so the group holds the program and what it starts, nothing else.
LAUNCHER_C = r"""
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    struct timespec a, b; struct rusage ru; int st; pid_t p; FILE *out, *cg;
    if (argc < 4 || (out = fopen(argv[1], "w")) == NULL) return 127;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if ((p = fork()) == 0) {
        if (strcmp(argv[2], "-") != 0) {
            if ((cg = fopen(argv[2], "w")) == NULL) _exit(126);
            fprintf(cg, "%d\n", (int)getpid());
            if (fclose(cg) != 0) _exit(126);
        }
        execv(argv[3], argv + 3); _exit(127);
    }
    if (p < 0 || wait4(p, &st, 0, &ru) < 0) return 127;
    clock_gettime(CLOCK_MONOTONIC, &b);
    fprintf(out, "%d %ld %ld %ld %.6f\n", st,
        (long)(ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec),
        (long)(ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec), ru.ru_maxrss,
        (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    fclose(out);
    return 0;
}
"""
LAUNCHER = None


def build_launcher(directory):
    global LAUNCHER
    src, exe = Path(directory) / "kcrun.c", Path(directory) / "kcrun"
    src.write_text(LAUNCHER_C)
    subprocess.run(["cc", "-O2", "-o", str(exe), str(src)], check=True, timeout=120)
    LAUNCHER = exe
    return exe


def run_child(argv, env, stdin=b"", timeout=3600, cgroup=None):
    """Run argv (through the launcher) and return a Child with its own rusage. With a
    CpuGroup, the launcher and everything it starts (a detached applier too) run in it."""
    with tempfile.TemporaryDirectory() as d:
        report = Path(d) / "rusage"
        procs = str(cgroup.path / "cgroup.procs") if cgroup is not None and \
            cgroup.path is not None else "-"
        cmd = [str(LAUNCHER), str(report), procs, *map(str, argv)]
        p = subprocess.run(cmd, input=stdin, capture_output=True, env=env, timeout=timeout)
        fields = report.read_text().split() if report.exists() else []
    if p.returncode != 0 or len(fields) != 5:
        raise RuntimeError(f"launcher failed for {argv}: {p.returncode} {p.stderr[:300]!r}")
    st, utime, stime, maxrss, wall = fields
    status = os.waitstatus_to_exitcode(int(st))
    return Child(float(wall), int(utime) / 1e6, int(stime) / 1e6, int(maxrss), status,
                 p.stdout, p.stderr)


def cgi_env(config_path, method, query, body=b""):
    env = {"PATH": "/usr/bin:/bin", "GATEWAY_INTERFACE": "CGI/1.1",
           "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_METHOD": method, "QUERY_STRING": query,
           "KEYCRM_SYNC_CONFIG": str(config_path), "REMOTE_ADDR": "127.0.0.1"}
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
        env["CONTENT_TYPE"] = "application/json"
    return env


class CpuGroup:
    """CPU time used by a set of processes and by everything they start afterwards
    (forks inherit the group), from a cgroup v2's cpu.stat. Disabled (usage() None)
    where no cgroup v2 hierarchy can be written."""

    def __init__(self, name):
        self.path = None
        root = cgroup2_root()
        if root is None:
            return
        p = root / f"kc-bench-{os.getpid()}-{name}"
        try:
            p.mkdir()
            self.path = p
            _GROUPS.append(self)
        except OSError:
            self.path = None

    def add(self, pids):
        if self.path is None:
            return
        for pid in pids:
            try:
                (self.path / "cgroup.procs").write_text(str(pid))
            except OSError:
                pass            # gone meanwhile

    def wait_empty(self, timeout=10.0):
        """Until no process is left in the group (a detached applier has finished)."""
        deadline = time.monotonic() + timeout
        while self.path is not None and time.monotonic() < deadline:
            if not (self.path / "cgroup.procs").read_text().strip():
                return True
            time.sleep(0.005)
        return False

    def usage(self):
        """CPU seconds so far, or None."""
        if self.path is None:
            return None
        for line in (self.path / "cpu.stat").read_text().splitlines():
            k, _, v = line.partition(" ")
            if k == "usage_usec":
                return int(v) / 1e6
        return None

    def close(self):
        if self.path is None:
            return
        try:
            left = (self.path / "cgroup.procs").read_text().split()
            for pid in left:            # anything still alive goes back to the root
                try:
                    (self.path.parent / "cgroup.procs").write_text(pid)
                except OSError:
                    pass
            self.path.rmdir()
        except OSError as e:
            log(f"warning: could not remove cgroup {self.path}: {e}")
        self.path = None


_CG_ROOT = False
_GROUPS = []


@atexit.register
def _close_groups():
    """Remove whatever cgroup an interrupted run left (after the harness has stopped the
    servers: atexit runs the handlers registered last first, and this module registers
    before importing the harness)."""
    for g in list(_GROUPS):
        g.close()


def cgroup2_root():
    global _CG_ROOT
    if _CG_ROOT is False:
        _CG_ROOT = None
        try:
            for line in Path("/proc/mounts").read_text().splitlines():
                parts = line.split()
                if len(parts) > 2 and parts[2] == "cgroup2":
                    p = Path(parts[1])
                    if (p / "cgroup.procs").exists() and os.access(p, os.W_OK):
                        _CG_ROOT = p
                        break
        except OSError:
            pass
    return _CG_ROOT


def proc_cpu(pid):
    """utime + stime + cutime + cstime of a live process, in seconds (None if gone)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    f = data[data.rindex(")") + 2:].split()
    tick = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in f[11:15]) / tick


# --------------------------------------------------------------------------------------------
# The machine

def sh(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info(state_root):
    info = {}
    info["date"] = time.strftime("%Y-%m-%d %H:%M %Z")
    info["nproc"] = os.cpu_count()
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    info["cpu"] = cpu
    mem = ""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    info["memory"] = mem
    info["kernel"] = platform.release()
    try:
        info["debian"] = Path("/etc/debian_version").read_text().strip()
    except OSError:
        info["debian"] = "?"
    pkgs = ["nginx", "nginx-light", "apache2", "fcgiwrap", "spawn-fcgi", "libfcgi0ldbl",
            "libsqlite3-0", "libcurl4", "libjansson4", "wrk", "python3"]
    out = sh("dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\n", *pkgs)
    info["packages"] = {ln.split()[0]: ln.split()[1] for ln in out.splitlines()
                        if "install ok installed" in ln}
    df = sh("df", "-T", str(state_root)).splitlines()
    info["state_fs"] = " ".join(df[-1].split()[:2]) if len(df) > 1 else "?"
    info["virt"] = sh("systemd-detect-virt") or "?"
    info["load_start"] = Path("/proc/loadavg").read_text().split()[:3]
    return info


def fsync_probe(directory, seconds=2.0):
    """Commits per second of one SQLite writer, WAL + synchronous=FULL, as the store does."""
    path = Path(directory) / "fsync-probe.db"
    con = sqlite3.connect(str(path), isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = FULL")
    con.execute("CREATE TABLE t(a INTEGER)")
    n, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        con.execute("BEGIN")
        con.execute("INSERT INTO t VALUES (?)", (n,))
        con.execute("COMMIT")
        n += 1
    rate = n / (time.monotonic() - t0)
    con.close()
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(str(path) + suffix)
        except OSError:
            pass
    return rate


# --------------------------------------------------------------------------------------------
# Catalogues

def catalogue(n_skus, rng):
    """n_skus SKUs: 60 % simple products, 40 % variations, 4 per variable product (the
    parent has a SKU of its own but does not manage stock). Old modification dates.
    Returns (products, managed) with managed = [(id, sku, qty, parent_id)]."""
    n_var = int(n_skus * 0.4) // 4 * 4
    n_simple = n_skus - n_var
    products, managed = [], []
    pid = 1
    for i in range(n_simple):
        q = rng.randrange(0, 60)
        products.append({"id": pid, "type": "simple", "sku": f"S-{i:06d}",
                         "name": f"Simple {i}", "manage_stock": True, "stock_quantity": q,
                         "status": "publish", "price": "10.00",
                         "date_created_gmt": OLD_DATE, "date_modified_gmt": OLD_DATE})
        managed.append((pid, f"S-{i:06d}", q, 0))
        pid += 1
    for j in range(n_var // 4):
        parent = pid
        pid += 1
        products.append({"id": parent, "type": "variable", "sku": f"V-{j:06d}",
                         "name": f"Variable {j}", "manage_stock": False, "status": "publish",
                         "price": "20.00",
                         "date_created_gmt": OLD_DATE, "date_modified_gmt": OLD_DATE})
        for size in ("S", "M", "L", "XL"):
            q = rng.randrange(0, 30)
            sku = f"V-{j:06d}-{size}"
            products.append({"id": pid, "type": "variation", "parent_id": parent, "sku": sku,
                             "name": "", "manage_stock": True, "stock_quantity": q,
                             "status": "publish", "price": "20.00",
                             "attributes": [{"id": 0, "name": "Size", "option": size}],
                             "date_created_gmt": OLD_DATE, "date_modified_gmt": OLD_DATE})
            managed.append((pid, sku, q, parent))
            pid += 1
    return products, managed


def counts(products):
    listed = sum(1 for p in products if p["type"] != "variation")
    variations = sum(1 for p in products if p["type"] == "variation")
    return listed, variations


# --------------------------------------------------------------------------------------------
# Part 1: webhook acceptance

WRK_SCRIPT = r"""
-- keycrm-sync bench: %(what)s
local counter = 0
local method = "%(method)s"
wrk.method = method
wrk.headers["Content-Type"] = "application/json"
request = function()
  if method == "GET" then
    return wrk.format("GET")
  end
  counter = counter + 1
  local n = counter %% 1000
  local body = string.format(
    '[{"offer_id":%%d,"sku":"BENCH-%%04d","in_stock":%%d,"in_reserve":3}]',
    130000 + n, n, 10 + counter %% 37)
  return wrk.format("POST", nil, nil, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nKCBENCH {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p99_us":%%d,"mean_us":%%.1f,"max_us":%%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
"""


def wrk(url, method, what, args, duration, workdir, connections=None):
    script = Path(workdir) / f"wrk-{method.lower()}.lua"
    script.write_text(WRK_SCRIPT % {"what": what, "method": method})
    conns = connections or args.connections
    cmd = ["wrk", "-t", str(min(args.threads, conns)), "-c", str(conns), "-d", f"{duration}s",
           "--timeout", "10s", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    m = re.search(r"^KCBENCH (\{.*\})$", out.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk gave no summary:\n{out.stdout}\n{out.stderr}")
    r = json.loads(m.group(1))
    secs = r["duration_us"] / 1e6
    errors = r["connect"] + r["read"] + r["write"] + r["timeout"] + r["status"]
    ok = r["requests"] - r["status"]
    return {"requests": r["requests"], "ok": ok, "errors": errors, "seconds": secs,
            "rps": ok / secs, "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
            "mean_ms": r["mean_us"] / 1000, "max_ms": r["max_us"] / 1000}


def one_item_body(n=1):
    return json.dumps([{"offer_id": 130000 + n, "sku": f"BENCH-{n:04d}", "in_stock": 10,
                        "in_reserve": 3}]).encode()


class DbHolder:
    """Keeps the state database open in another process (as www-data, like the workers),
    as a running applier does. Why: SQLite deletes a WAL file when its last connection
    closes, and recreating it costs extra fsyncs."""

    SCRIPT = ("import sqlite3, sys\n"
              "c = sqlite3.connect(sys.argv[1], timeout=30)\n"
              "c.execute('SELECT count(*) FROM inbox').fetchall()\n"
              "print('open', flush=True)\n"
              "sys.stdin.read()\n"
              "c.close()\n")

    def __init__(self, state_dir):
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-c", self.SCRIPT, str(Path(state_dir) / "state.db")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/",
            user="www-data", group="www-data", extra_groups=[])
        if self.proc.stdout.readline().strip() != "open":
            self.release()
            raise RuntimeError("could not hold the state database open")

    def release(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
            self.proc = None


class ApplyLockHolder:
    """Holds state_dir/apply.lock, as a running applier does: webhooks then only enqueue."""

    def __init__(self, state_dir):
        from harness import servers
        path = Path(state_dir) / "apply.lock"
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
        uid, gid = servers._www_ids()
        os.fchown(self.fd, uid, gid)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def start_server(kind, mode, bindir, cfg, workers, kc, env=None):
    servers = kc.servers
    if kind == "nginx":
        srv = servers.Nginx(str(kc.root()), str(bindir), cfg, workers=workers,
                            programs=("webhook.cgi",), mode=mode, env=env)
    else:
        srv = servers.Apache(str(kc.root()), str(bindir), cfg, programs=("webhook.cgi",),
                             mode=mode, workers=workers)
    srv.start()
    return srv


def exe_of(pid):
    """The executable of a process, or "" if it has gone (or is a zombie) meanwhile."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def group_server(srv, tag):
    """Two cgroups: the whole server tree, and (FastCGI) its workers alone."""
    stack, ours = CpuGroup(f"{tag}-stack"), CpuGroup(f"{tag}-workers")
    workers = []
    for pid in srv.pids():
        if exe_of(pid).startswith(str(srv.bin_dir) + "/"):
            workers.append(pid)
    stack.add(srv.pids())
    if srv.mode in ("fastcgi", "proxy_fcgi"):
        ours.add(workers)
        # The stack figure is the sum of both groups.
    return stack, ours, workers


def measure_wrk(label, url, method, args, workdir, stack, ours, check=None, connections=None):
    """Warm up for 1 s, then --runs runs of --duration s; CPU deltas per run."""
    wrk(url, method, label + " (warm-up)", args, 1, workdir, connections)
    runs = []
    for i in range(args.runs):
        s0, o0 = stack.usage(), ours.usage()
        r = wrk(url, method, label, args, args.duration, workdir, connections)
        s1, o1 = stack.usage(), ours.usage()
        if s0 is not None:
            total = (s1 - s0) + ((o1 - o0) if o0 is not None else 0)
            r["cpu_stack_ms"] = total * 1000 / max(r["ok"], 1)
        if o0 is not None and ours.path is not None and o1 - o0 > 0:
            r["cpu_ours_ms"] = (o1 - o0) * 1000 / max(r["ok"], 1)
        if check:
            check(r)
        runs.append(r)
        log(f"  {label}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
            f"p99 {r['p99_ms']:.2f} ms, errors {r['errors']}"
            + (f", CPU {r.get('cpu_stack_ms', 0):.2f} ms/req" if 'cpu_stack_ms' in r else ""))
    return runs


def syscall_profile(pids, send, n, in_flight=1):
    """strace -c of the processes `pids` (all their threads) while send() is called n
    times, in_flight at once: {syscall: calls per call of send()}, or None without
    strace."""
    if shutil.which("strace") is None or not pids:
        return None
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "strace.txt"
        cmd = ["strace", "-c", "-f", "-o", str(out)]
        for pid in pids:
            cmd += ["-p", str(pid)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)                     # attached
        if in_flight > 1:
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(in_flight) as pool:
                list(pool.map(send, range(n)))
        else:
            for i in range(n):
                send(i)
        time.sleep(0.5)                     # the last request's after-answer work
        proc.send_signal(2)
        proc.wait(timeout=30)
        text = out.read_text() if out.exists() else ""
    calls = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls[f[-1]] = int(f[3]) / n
    return calls


def part_accept(args, kc, results):
    from harness import servers
    work = Path(kc.root()) / "accept"
    work.mkdir(exist_ok=True)
    os.chmod(work, 0o755)
    standin_dir = servers.build_standin(work / "standin-bin", names=("webhook.cgi",))
    res = {"rows": [], "direct": [], "fsync": None}
    results["accept"] = res

    state_probe = kc.make_state_dir("fsync-probe")
    res["fsync"] = fsync_probe(state_probe)
    log(f"disk: {res['fsync']:.0f} SQLite commits/s (WAL, synchronous=FULL, one writer)")

    secret_q = f"secret={kc.WEBHOOK_SECRET}"
    configs = {"nginx-fastcgi": ("nginx", "fastcgi", "nginx + FastCGI (spawn-fcgi -F 2)"),
               "nginx-fcgiwrap": ("nginx", "fcgiwrap", "nginx + plain CGI (fcgiwrap -c 2)"),
               "apache-cgi": ("apache", "cgi", "Apache + mod_cgid (plain CGI)"),
               "apache-proxy-fcgi": ("apache", "proxy_fcgi",
                                     "Apache + mod_proxy_fcgi (spawn-fcgi -F 2)"),
               # Group commit off: one request at a time per worker, as before it.
               "nginx-fastcgi-t1": ("nginx", "fastcgi", "nginx + FastCGI (spawn-fcgi -F 2), "
                                    "KEYCRM_SYNC_THREADS=1"),
               # One worker process, all webhooks through one writer connection.
               "nginx-fastcgi-w1t8": ("nginx", "fastcgi", "nginx + FastCGI (spawn-fcgi -F 1), "
                                      "KEYCRM_SYNC_THREADS=8")}
    for key in args.servers:
        kind, mode, title = configs[key]
        env = {"KEYCRM_SYNC_THREADS": "1"} if key.endswith("-t1") else \
            {"KEYCRM_SYNC_THREADS": "8"} if key.endswith("-t8") else None
        nworkers = 1 if "-w1" in key else 2
        log(f"accept: {title}")
        state = kc.make_state_dir(f"accept-{kind}-{mode}")
        cfg = kc.write_config(Path(kc.root()) / f"accept-{kind}-{mode}.conf",
                              webhook_secret=kc.WEBHOOK_SECRET, state_dir=state,
                              woo_url=f"http://127.0.0.1:{closed_port()}",
                              woo_consumer_key=kc.CK, woo_consumer_secret=kc.CS)
        lock = ApplyLockHolder(state)
        holder = None
        srv = start_server(kind, mode, kc.BINDIR, cfg, nworkers, kc, env)
        stack = ours = None
        try:
            static = srv.dir / "htdocs" / "static.json"
            static.write_text('{"received":1,"queued":1,"rejected":[]}\n')
            os.chmod(static, 0o644)
            url = f"{srv.url}/keycrm/webhook?{secret_q}"
            r = servers.http_request(url, method="POST", body=one_item_body(),
                                     headers={"Content-Type": "application/json"})
            if r.status != 200 or r.json().get("queued") != 1:
                raise RuntimeError(f"{title}: webhook answered {r.status} {r.text}")
            stack, ours, _ = group_server(srv, f"{kind}-{mode}")

            def webhook_ok(run):
                if run["errors"]:
                    log(f"  warning: {run['errors']} errors/non-2xx answers")

            workers = [p for p in srv.pids()
                       if exe_of(p).startswith(str(srv.bin_dir) + "/")]

            def send(i):
                servers.http_request(url, method="POST", body=one_item_body(i % 1000))
            profile = mode == "fastcgi" and "syscalls" not in res
            prof = {}
            # (1) As while an applier runs: the apply lock is taken and the state database
            # is open in another process, so the WAL file stays between webhooks.
            holder = DbHolder(state)
            runs = measure_wrk("webhook, accept only, database held open", url, "POST", args,
                               work, stack, ours, webhook_ok)
            res["rows"].append({"server": title, "what": "webhook: accept only, while an "
                                "applier runs (apply lock held, state database open)",
                                "runs": runs})
            if mode in ("fastcgi", "proxy_fcgi") and args.connections > 1:
                runs = measure_wrk("webhook, accept only, 1 connection", url, "POST", args,
                                   work, stack, ours, webhook_ok, connections=1)
                res["rows"].append({"server": title, "what": "the same, 1 connection (one "
                                    "webhook at a time)", "runs": runs})
            if profile:
                prof["accept only, while an applier runs"] = syscall_profile(workers, send, 100)
                prof["the same, 8 in flight"] = syscall_profile(workers, send, 400, in_flight=8)
            holder.release()
            # (2) The apply lock alone: each webhook's connection is the only one, and
            # SQLite checkpoints and deletes the WAL when it closes.
            runs = measure_wrk("webhook, accept only, database closed", url, "POST", args,
                               work, stack, ours, webhook_ok)
            res["rows"].append({"server": title, "what": "webhook: accept only, no other "
                                "connection (apply lock held; WAL removed at each close)",
                                "runs": runs})
            if profile:
                prof["accept only, no other connection"] = syscall_profile(workers, send, 100)
            # (3) No lock: after each answer the applier runs and fails at once.
            lock.release()
            runs = measure_wrk("webhook, shop unreachable", url, "POST", args, work,
                               stack, ours, webhook_ok)
            res["rows"].append({"server": title, "what": "webhook: accept, then the applier "
                                "runs and fails at once (shop port closed)", "runs": runs})
            if profile:
                prof["accept, then the applier fails at once"] = \
                    syscall_profile(workers, send, 100)
                res["syscalls"] = prof
                for k, v in prof.items():
                    if v:
                        log(f"  syscalls per webhook, {k}: " + ", ".join(
                            f"{n} {c:g}" for n, c in sorted(v.items(), key=lambda kv: -kv[1])[:6]))
            runs = measure_wrk("static file", f"{srv.url}/static.json", "GET", args, work,
                               stack, ours)
            res["rows"].append({"server": title, "what": "baseline: static file (GET)",
                                "runs": runs})
        finally:
            if holder is not None:
                holder.release()
            lock.release()
            srv.stop()
            for g in (stack, ours):
                if g is not None:
                    g.close()
        # The empty answer: the harness's stand-in program in place of webhook.cgi.
        srv = start_server(kind, mode, standin_dir, cfg, 2, kc)
        stack = ours = None
        try:
            url = f"{srv.url}/keycrm/webhook?{secret_q}"
            r = servers.http_request(url, method="POST", body=one_item_body())
            if r.status != 200:
                raise RuntimeError(f"{title}: stand-in answered {r.status}")
            stack, ours, _ = group_server(srv, f"{kind}-{mode}-standin")
            runs = measure_wrk("empty answer (stand-in)", url, "POST", args, work, stack, ours)
            res["rows"].append({"server": title, "what": "baseline: empty "
                                + ("FastCGI" if mode == "fastcgi" else "CGI")
                                + " answer (tests/harness/standin.c, same POST)",
                                "runs": runs})
        finally:
            srv.stop()
            for g in (stack, ours):
                if g is not None:
                    g.close()

    # CPU of one plain-CGI exec, measured directly (wait4).
    log(f"accept: {args.execs} direct plain-CGI execs each")
    state = kc.make_state_dir("accept-direct")
    cfg = kc.write_config(Path(kc.root()) / "accept-direct.conf",
                          webhook_secret=kc.WEBHOOK_SECRET, state_dir=state,
                          woo_url=f"http://127.0.0.1:{closed_port()}",
                          woo_consumer_key=kc.CK, woo_consumer_secret=kc.CS)
    lock = ApplyLockHolder(state)
    group = CpuGroup("direct")
    try:
        for name, binary, method, want in (
                ("webhook.cgi: a one-item webhook, accept only", kc.BINDIR / "webhook.cgi",
                 "POST", 200),
                ("webhook.cgi: GET, answered 405 (start-up and exit: no configuration read, "
                 "no SQLite)", kc.BINDIR / "webhook.cgi", "GET", 405),
                ("stand-in: empty answer to the same POST", standin_dir / "webhook.cgi",
                 "POST", 200)):
            cpu, wall, rss, whole = [], [], [], []
            for i in range(args.execs):
                body = one_item_body(i % 1000) if method == "POST" else b""
                u0 = group.usage()
                c = run_child([str(binary)], cgi_env(cfg, method, secret_q, body), body,
                              cgroup=group)
                group.wait_empty()
                u1 = group.usage()
                status = kc.servers.parse_cgi_output(c.stdout)[0]
                if c.status != 0 or status != want:
                    raise RuntimeError(f"{name}: {c.stdout[:300]!r} {c.stderr[:300]!r}")
                cpu.append(c.cpu * 1000)
                wall.append(c.wall * 1000)
                rss.append(c.maxrss_kib)
                if u0 is not None:
                    whole.append((u1 - u0) * 1000)
            res["direct"].append({"what": name, "cpu_ms": stats(cpu), "wall_ms": stats(wall),
                                  "rss_kib": stats(rss), "whole_ms": stats(whole)})
            log(f"  {name}: CPU {statistics.median(cpu):.2f} ms"
                + (f" ({statistics.median(whole):.2f} ms with what it leaves running)"
                   if whole else "")
                + f", wall {statistics.median(wall):.2f} ms, RSS {max(rss)} KiB")
    finally:
        lock.release()
        group.close()


def report_accept(res, args):
    out = []
    out.append(f"Disk under the state directory: **{res['fsync']:,.0f} SQLite commits/s** "
               "(WAL, synchronous=FULL, one writer, `fsync_probe()`).\n")
    rows = []
    for row in res["rows"]:
        runs = row["runs"]
        rows.append([row["server"], row["what"],
                     fmt3(stats([r["rps"] for r in runs]), 0),
                     fmt3(stats([r["p50_ms"] for r in runs]), 2),
                     fmt3(stats([r["p99_ms"] for r in runs]), 2),
                     fmt3(stats([r.get("cpu_stack_ms") for r in runs]), 2),
                     fmt3(stats([r.get("cpu_ours_ms") for r in runs]), 2),
                     sum(r["errors"] for r in runs)])
    fastcgi = [r for r in res["rows"] if r["server"].startswith("nginx + FastCGI")]
    empty = [r for r in fastcgi if r["what"].startswith("baseline: empty")]
    if empty:
        base = stats([r["rps"] for r in empty[0]["runs"]])[1]
        lines = []
        for r in fastcgi:
            if r["what"].startswith("webhook: accept only, while"):
                med = stats([x["rps"] for x in r["runs"]])[1]
                lines.append(f"- {r['server']}: {med:,.0f} durable webhooks/s against "
                             f"{base:,.0f} empty answers/s = **{100 * med / base:.1f} %**; "
                             f"the disk: {res['fsync']:,.0f} fsync'd commits/s")
        out.append("\n".join(lines) + "\n")
    out.append(table(["server", "request", "answers/s", "p50 ms", "p99 ms",
                      "CPU ms/request, whole server", "CPU ms/request, our FastCGI workers",
                      "errors"], rows))
    out.append("")
    prof = res.get("syscalls") or {}
    if any(prof.values()):
        names = ["fdatasync", "fsync", "openat", "unlink", "ftruncate", "pwrite64", "fcntl",
                 "flock"]
        rows = [[k] + [fmt(v.get(n, 0), 1) if v else "n/a" for n in names]
                for k, v in prof.items()]
        out.append("System calls per webhook in the FastCGI workers (nginx, 100 webhooks "
                   "one after another under `strace -c -f`):\n")
        out.append(table(["webhook"] + names, rows))
        out.append("")
    out.append(f"Plain CGI, one exec measured directly, without a web server ({args.execs} "
               "execs each, one after another; CPU of the process from wait4, and of "
               "everything it started - the detached applier - from a cgroup):\n")
    rows = [[d["what"], fmt3(d["cpu_ms"], 2), fmt3(d.get("whole_ms"), 2),
             fmt3(d["wall_ms"], 2), fmt3(tuple(x / 1024 for x in d["rss_kib"]), 1)]
            for d in res["direct"]]
    out.append(table(["program", "CPU ms, the process", "CPU ms, with its detached applier",
                      "wall ms", "peak RSS MiB"], rows))
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Part 2: webhook application

def part_apply(args, kc, results):
    rng = random.Random(args.seed)
    shop = fake_shop(kc, args)
    res = {"rows": []}
    results["apply"] = res
    try:
        products, managed = catalogue(max(10000, 2 * max(args.apply_sizes)), rng)
        shop.reset(products=products)
        qty = {sku: q for _, sku, q, _ in managed}
        state = kc.make_state_dir("apply")
        cfg = kc.write_config(Path(kc.root()) / "apply.conf",
                              webhook_secret=kc.WEBHOOK_SECRET, state_dir=state,
                              woo_url=shop.url, woo_consumer_key=kc.CK,
                              woo_consumer_secret=kc.CS, sync_max_seconds=3600)
        binary = kc.BINDIR / "webhook.cgi"
        # Whole products in random order: a variable product's variations together, as
        # when a delivery or a recount changes a product's stock in every size.
        groups = {}
        for _, sku, _, parent in managed:
            groups.setdefault(parent or sku, []).append(sku)
        order = list(groups.values())
        rng.shuffle(order)
        flat = [sku for g in order for sku in g]
        for k in args.apply_sizes:
            scale = 1.0 if (k < 1000 or args.full_latency) else args.latency_scale
            latency, per_item = WOO_LATENCY_MS * scale, WOO_PER_ITEM_MS * scale
            # A php-fpm pool of two: parallel requests wait their turn, as on a shop.
            shop.faults(latency_ms=latency, per_item_ms=per_item, workers=2)
            chosen = flat[:k]
            runs = []
            log(f"apply: K={k}, latency_ms={latency:g}, per_item_ms={per_item:g}")
            for r in range(args.runs):
                items = []
                for i, sku in enumerate(chosen):
                    qty[sku] = qty[sku] + 1 + (i + r) % 3
                    items.append({"offer_id": 500000 + i, "sku": sku,
                                  "in_stock": qty[sku] + 2, "in_reserve": 2})
                body = json.dumps(items).encode()
                shop.clear_log()
                c = run_child([str(binary)], cgi_env(cfg, "POST",
                                                     f"secret={kc.WEBHOOK_SECRET}&wait=1",
                                                     body), body)
                status, _, out = kc.servers.parse_cgi_output(c.stdout)
                ans = json.loads(out) if status == 200 else {}
                if ans.get("applied") != k:
                    raise RuntimeError(f"apply K={k}: {status} {out[:500]!r} "
                                       f"{c.stderr[:500]!r}")
                entries = shop.log()
                gets = sum(1 for e in entries if e["method"] == "GET")
                posts = [e for e in entries if e["method"] in ("POST", "PUT")]
                written = sum(e.get("items") or 0 for e in posts)
                real = (c.wall + len(entries) * (WOO_LATENCY_MS - latency) / 1000 +
                        written * (WOO_PER_ITEM_MS - per_item) / 1000)
                runs.append({"wall": c.wall, "cpu": c.cpu, "rss_kib": c.maxrss_kib,
                             "requests": len(entries), "gets": gets, "posts": len(posts),
                             "written": written, "real": real})
                log(f"  K={k}: {c.wall:.2f} s, {len(entries)} shop requests "
                    f"({gets} lookups, {len(posts)} batch writes, {written} items), "
                    f"real-latency estimate {real:.1f} s, CPU {c.cpu * 1000:.0f} ms")
            res["rows"].append({"k": k, "latency_ms": latency, "per_item_ms": per_item,
                                "runs": runs})
        res["groups"] = apply_groups(args, kc, shop, cfg, binary, managed, qty)
        res["known"] = apply_known(args, kc, shop, state, binary, managed, qty)
    finally:
        shop.stop()


def apply_groups(args, kc, shop, cfg, binary, managed, qty):
    """100 items in one products batch against 100 items in 10 groups (64 simple
    products and 9 variable products' 4 variations each: 1 + 9 batch writes), at
    WooCommerce's full latencies with a pool of two PHP workers; woo_parallel_requests
    is the configuration's (default 2)."""
    simple = [sku for _, sku, _, parent in managed if not parent]
    parents = {}
    for _, sku, _, parent in managed:
        if parent:
            parents.setdefault(parent, []).append(sku)
    varied = [sku for skus in list(parents.values())[-9:] for sku in skus]
    shapes = {"one batch": simple[-100:], "10 groups": simple[-164:-100] + varied}
    shop.faults(latency_ms=WOO_LATENCY_MS, per_item_ms=WOO_PER_ITEM_MS, workers=2)
    out = {}
    for name, skus in shapes.items():
        walls, writes = [], 0
        for r in range(args.runs):
            items = []
            for sku in skus:
                qty[sku] += 1
                items.append({"sku": sku, "in_stock": qty[sku], "in_reserve": 0})
            body = json.dumps(items).encode()
            shop.clear_log()
            c = run_child([str(binary)], cgi_env(cfg, "POST",
                                                 f"secret={kc.WEBHOOK_SECRET}&wait=1", body),
                          body)
            status, _, text = kc.servers.parse_cgi_output(c.stdout)
            if status != 200 or json.loads(text).get("applied") != len(skus):
                raise RuntimeError(f"apply groups {name}: {status} {text[:300]!r}")
            writes = sum(1 for e in shop.log() if e["method"] in ("POST", "PUT"))
            walls.append(c.wall)
        out[name] = {"walls": walls, "writes": writes, "items": len(skus)}
        log(f"apply groups: {name}: {writes} batch writes, median {stats(walls)[1]:.2f} s")
    return out


def apply_known(args, kc, shop, state, binary, managed, qty):
    """One item of a simple product whose SKU the map learnt from an earlier webhook, at
    WooCommerce's full latencies: with woo_sku_map_seconds = 0 (always a lookup first)
    and = 600 (written from the map in one request)."""
    sku = [s for _, s, _, parent in managed if not parent][-300]
    shop.faults(latency_ms=WOO_LATENCY_MS, per_item_ms=WOO_PER_ITEM_MS, workers=2)
    out = {}
    for name, seconds in (("lookup, then the write", 0), ("known SKU, from the map", 600)):
        cfg = kc.write_config(Path(kc.root()) / f"apply-known-{seconds}.conf",
                              webhook_secret=kc.WEBHOOK_SECRET, state_dir=state,
                              woo_url=shop.url, woo_consumer_key=kc.CK,
                              woo_consumer_secret=kc.CS, sync_max_seconds=3600,
                              woo_sku_map_seconds=seconds)
        walls, requests = [], []
        for r in range(args.runs + 1):          # the first one teaches the map
            qty[sku] += 1
            body = json.dumps([{"sku": sku, "in_stock": qty[sku], "in_reserve": 0}]).encode()
            shop.clear_log()
            c = run_child([str(binary)], cgi_env(cfg, "POST",
                                                 f"secret={kc.WEBHOOK_SECRET}&wait=1", body),
                          body)
            status, _, text = kc.servers.parse_cgi_output(c.stdout)
            if status != 200 or json.loads(text).get("applied") != 1:
                raise RuntimeError(f"apply known SKU: {status} {text[:300]!r}")
            if r > 0:
                walls.append(c.wall)
                requests.append(len(shop.log()))
        out[name] = {"walls": walls, "requests": requests}
        log(f"apply, 1 item: {name}: {requests[0]} shop requests, "
            f"median {stats(walls)[1]:.3f} s")
    return out


def report_apply(res):
    rows = []
    for row in res["rows"]:
        runs = row["runs"]
        r0 = runs[0]
        reqs = (f"{r0['requests']:,} ({r0['gets']:,} lookup{'s' * (r0['gets'] != 1)} + "
                f"{r0['posts']:,} batch write{'s' * (r0['posts'] != 1)})")
        if len({r["requests"] for r in runs}) > 1:
            reqs += " (varied: " + ", ".join(str(r["requests"]) for r in runs) + ")"
        rows.append([f"{row['k']:,}", f"{row['latency_ms']:g} + {row['per_item_ms']:g}/item",
                     reqs,
                     fmt3(stats([r["wall"] for r in runs]), 2),
                     fmt3(stats([r["real"] for r in runs]), 1),
                     fmt3(stats([r["cpu"] * 1000 for r in runs]), 0),
                     fmt3(stats([r["rss_kib"] / 1024 for r in runs]), 1)])
    text = table(["items K", "fake shop latency (ms)", "shop requests", "wall s (measured)",
                  "wall s at 70 + 26/item", "our CPU ms", "our peak RSS MiB"], rows)
    g = res.get("groups")
    if g:
        one, ten = g["one batch"], g["10 groups"]
        ratios = [b / a for a, b in zip(one["walls"], ten["walls"])]
        text += ("\n\n100 items at 70 ms + 26 ms/item, two PHP workers, woo_parallel_requests"
                 " = 2:\n\n" + table(
                     ["shape", "batch writes", "wall s", "vs one batch"],
                     [["one batch of 100 simple products", str(one["writes"]),
                       fmt3(stats(one["walls"]), 2), "1"],
                      ["10 groups (64 simple + 9 x 4 variations)", str(ten["writes"]),
                       fmt3(stats(ten["walls"]), 2), fmt3(stats(ratios), 2)]]))
    k = res.get("known")
    if k:
        put = WOO_LATENCY_MS / 1000
        text += ("\n\n1 item of a simple product seen before, at 70 ms per request + 26 ms per "
                 "batch item (a lone write from the map goes as one product request, 70 ms); "
                 "the wall is the whole plain-CGI process with `?wait=1`:\n\n" + table(
                     ["path", "shop requests", "wall s", "vs one single PUT (70 ms)"],
                     [[name, "/".join(str(x) for x in sorted(set(v["requests"]))),
                       fmt3(stats(v["walls"]), 3),
                       fmt3(tuple(w / put for w in stats(v["walls"])), 2)]
                      for name, v in k.items()]))
    return text


# --------------------------------------------------------------------------------------------
# Part 3: sync runs

def _with_check_env(check_max, start):
    old = os.environ.get("KC_FAKE_INDEX_CHECK")
    os.environ["KC_FAKE_INDEX_CHECK"] = str(check_max)
    try:
        return start()
    finally:
        if old is None:
            del os.environ["KC_FAKE_INDEX_CHECK"]
        else:
            os.environ["KC_FAKE_INDEX_CHECK"] = old


def fake_shop(kc, args, check_max=0):
    """The fake shop: bench/fake_woo_indexed.py (the stock fake with indexes, so that large
    catalogues measure the program, not the fake), or the stock one with --stock-fakes."""
    if args.stock_fakes:
        return kc.FakeShop()

    class Shop(kc.FakeShop):
        def __init__(self):
            self.ca_file = None
            kc.Fake.__init__(self, str(REPO / "bench" / "fake_woo_indexed.py"),
                             "--consumer-key", kc.CK, "--consumer-secret", kc.CS)
    return _with_check_env(check_max, Shop)


def fake_crm(kc, args, check_max=0):
    """The fake KeyCRM: bench/fake_keycrm_indexed.py, or the stock one (--stock-fakes)."""
    if args.stock_fakes:
        return kc.FakeCRM()

    class CRM(kc.FakeCRM):
        def __init__(self):
            kc.Fake.__init__(self, str(REPO / "bench" / "fake_keycrm_indexed.py"),
                             "--api-key", kc.KEYCRM_KEY)
            self.api_url = self.url + "/v1"
    return _with_check_env(check_max, CRM)


def part_sync(args, kc, results):
    rng = random.Random(args.seed + 1)
    # The indexed fakes' answers for the smallest catalogue are checked against the stock
    # code's (see bench/fake_*_indexed.py).
    check = int(min(args.sizes) * 1.2) if min(args.sizes) <= 2000 else 0
    shop, crm = fake_shop(kc, args, check), fake_crm(kc, args, check)
    res = {"sizes": []}
    results["sync"] = res
    try:
        for n in args.sizes:
            res["sizes"].append(sync_size(args, kc, shop, crm, n, rng))
    finally:
        shop.stop()
        crm.stop()


def sync_size(args, kc, shop, crm, n, rng):
    t_size = time.monotonic()
    log(f"sync: catalogue of {n:,} SKUs")
    products, managed = catalogue(n, rng)
    listed, variations = counts(products)
    shop.reset(products=products)
    shop.faults()
    crm.reset(offers=[{"id": 100000 + i, "product_id": 100000 + i, "sku": sku}
                      for i, (_, sku, _, _) in enumerate(managed)],
              stocks=[{"sku": sku, "warehouse_id": 1, "quantity": q, "reserve": 0}
                      for _, sku, q, _ in managed],
              options={"rate_limit": {"requests": 100000, "window_s": 60},
                       "webhook_mode": "hold"})
    state = kc.make_state_dir(f"sync-{n}")
    cfg = kc.write_config(Path(kc.root()) / f"sync-{n}.conf",
                          webhook_secret=kc.WEBHOOK_SECRET, sync_token=kc.SYNC_TOKEN,
                          state_dir=state, woo_url=shop.url, woo_consumer_key=kc.CK,
                          woo_consumer_secret=kc.CS, keycrm_api_url=crm.api_url,
                          keycrm_api_key=kc.KEYCRM_KEY, keycrm_warehouse_id=1,
                          keycrm_requests_per_minute=600, sync_max_seconds=3600,
                          webhook_max_bytes=268435456)
    binary = kc.BINDIR / "sync.cgi"
    qty = {pid: q for pid, _, q, _ in managed}
    known = set()               # SKUs whose KeyCRM numbers the ledger holds
    size = {"n": n, "listed": listed, "variations": variations, "scenarios": []}
    aged = []

    def one(query, label, expect_changed=None):
        shop.clear_log()
        crm.clear_log()
        c = run_child([str(binary)], cgi_env(cfg, "GET", f"token={kc.SYNC_TOKEN}{query}"))
        status, _, out = kc.servers.parse_cgi_output(c.stdout)
        if status != 200:
            raise RuntimeError(f"sync {label}: {status} {out[:500]!r} {c.stderr[:500]!r}")
        ans = json.loads(out)
        shop_log, crm_log = shop.log(), crm.log()
        run = {"wall": c.wall, "cpu": c.cpu, "rss_kib": c.maxrss_kib,
               "shop_requests": ans["shop_requests"], "keycrm_requests": ans["keycrm_requests"],
               "shop_logged": len(shop_log), "keycrm_logged": len(crm_log),
               "scanned": ans["scanned"], "changed": ans["changed"], "sent": ans["sent"],
               "complete": ans["complete"], "errors": ans["errors"],
               "seconds": ans["seconds"]}
        if ans["errors"] or not ans["complete"]:
            log(f"  warning: {label}: {ans}")
        if expect_changed is not None and ans["sent"] != expect_changed:
            log(f"  warning: {label}: sent {ans['sent']}, expected {expect_changed}")
        log(f"  {label}: {c.wall:.2f} s, shop {ans['shop_requests']} req, KeyCRM "
            f"{ans['keycrm_requests']} req, scanned {ans['scanned']}, sent {ans['sent']}, "
            f"CPU {c.cpu:.2f} s, RSS {c.maxrss_kib / 1024:.1f} MiB")
        return run

    def age():
        """Earlier changes move out of the next scan's window (as 5+ minutes passing)."""
        if aged:
            shop.upsert(*[{"id": i, "date_modified_gmt": OLD_DATE} for i in aged])
            aged.clear()

    def change(fraction, r, pool=None):
        k = max(1, round(n * fraction))
        picked = rng.sample(pool or managed, k)
        edits, parents = [], set()
        for pid, _, _, parent in picked:
            qty[pid] = qty[pid] + 1 + r % 5
            edits.append({"id": pid, "stock_quantity": qty[pid]})
            if parent:
                parents.add(parent)
        edits += [{"id": p} for p in sorted(parents)]      # as a sale: the parent moves too
        for i in range(0, len(edits), 5000):
            shop.upsert(*edits[i:i + 5000])
        aged.extend(e["id"] for e in edits)
        unknown = sum(1 for p in picked if p[1] not in known)
        known.update(p[1] for p in picked)
        n_var = sum(1 for p in picked if p[3])
        return k, k - n_var + len(parents), n_var, unknown

    def warm():
        """KeyCRM's numbers for every SKU into the ledger, as its webhooks (or a backfill)
        bring them in a running install: one webhook reporting every SKU as KeyCRM holds
        it (= the shop's quantity, no reserve), applied with ?wait=1; the shop is looked
        up but nothing is written."""
        items = [{"offer_id": 100000 + i, "sku": sku, "in_stock": qty[pid], "in_reserve": 0}
                 for i, (pid, sku, _, _) in enumerate(managed)]
        body = json.dumps(items).encode()
        c = run_child([str(kc.BINDIR / "webhook.cgi")],
                      cgi_env(cfg, "POST", f"secret={kc.WEBHOOK_SECRET}&wait=1", body), body)
        status, _, out = kc.servers.parse_cgi_output(c.stdout)
        ans = json.loads(out) if status == 200 else {}
        if ans.get("unchanged") != len(items):
            log(f"  warning: warm-up webhook: {status} {out[:300]!r}")
        known.update(sku for _, sku, _, _ in managed)
        log(f"  ledger warmed with KeyCRM's numbers of {len(items):,} SKUs "
            f"({c.wall:.1f} s, not measured)")

    full_runs = args.runs
    sc = size["scenarios"]
    full_target = (math.ceil(listed / 100) + math.ceil(variations / 100), 0)
    run = one("", "first run")
    run["target"] = full_target
    sc.append({"what": "first run (baseline: full scan, nothing sent)", "kind": "first",
               "runs": [run]})
    # Right after a first run without backfill the ledger has no KeyCRM numbers: a changed
    # SKU is looked up in KeyCRM first (50 per request) - once per SKU.
    runs = []
    for r in range(args.runs):
        age()
        k, prod_changed, var_changed, unknown = change(0.01, r)
        run = one("", "incremental 1%, SKUs KeyCRM never reported", k)
        run["target"] = (max(1, math.ceil(prod_changed / 100)) +
                         max(1, math.ceil(var_changed / 100)),
                         math.ceil(k / 10000) + math.ceil(unknown / 50))
        run["expected_sent"] = k
        runs.append(run)
    sc.append({"what": "incremental, 1% changed, SKUs KeyCRM has not reported yet (first "
               "changes after a first run without backfill)", "kind": "unknown",
               "fraction": 0.01, "runs": runs})
    age()
    warm()
    runs = []
    for _ in range(full_runs):
        run = one("&full=1", "full scan", 0)
        run["target"] = full_target
        runs.append(run)
    sc.append({"what": "full scan, nothing changed", "kind": "full", "runs": runs})
    for frac in (0.0, 0.01, 0.10):
        runs = []
        for r in range(args.runs):
            age()
            if frac:
                k, prod_changed, var_changed, _ = change(frac, r)
                # An empty listing is still one request: each listing costs at least one.
                exp = (max(1, math.ceil(prod_changed / 100)) +
                       max(1, math.ceil(var_changed / 100)), math.ceil(k / 10000))
            else:
                k, exp = 0, (2, 0)
            run = one("", f"incremental {frac:.0%}", k)
            run["target"], run["expected_sent"] = exp, k
            runs.append(run)
        sc.append({"what": f"incremental, {frac:.0%} changed", "kind": "incremental",
                   "fraction": frac, "runs": runs})
    age()
    size["seconds"] = time.monotonic() - t_size
    return size


def _values(runs, key):
    vals = sorted({r[key] for r in runs})
    return " / ".join(f"{v:,}" for v in vals)


def _vs_target(runs, index, key):
    """Actual values, and whether each run met its own target."""
    met = sum(1 for r in runs if r[key] == r["target"][index])
    targets = " / ".join(f"{v:,}" for v in sorted({r["target"][index] for r in runs}))
    word = "met" if met == len(runs) else f"**missed in {len(runs) - met} of {len(runs)}**"
    return f"{_values(runs, key)} (target {targets}: {word})"


def report_sync(res):
    rows = []
    for size in res["sizes"]:
        for s in size["scenarios"]:
            runs = s["runs"]
            rows.append([f"{size['n']:,}", s["what"],
                         fmt3(stats([r["sent"] for r in runs]), 0),
                         _vs_target(runs, 0, "shop_requests"),
                         _vs_target(runs, 1, "keycrm_requests") if s["kind"] != "first"
                         else _values(runs, "keycrm_requests"),
                         fmt3(stats([r["wall"] for r in runs]), 2),
                         fmt3(stats([r["cpu"] for r in runs]), 3),
                         fmt3(stats([r["rss_kib"] / 1024 for r in runs]), 1),
                         len(runs)])
    return table(["SKUs", "run", "sent to KeyCRM", "shop requests", "KeyCRM requests",
                  "wall s", "our CPU s", "our peak RSS MiB", "runs"], rows)


def report_sync_by_changes(res):
    """Incremental runs ordered by the number of changes, whatever the catalogue."""
    rows = []
    for size in res["sizes"]:
        for s in size["scenarios"]:
            if s["kind"] != "incremental":
                continue
            runs = s["runs"]
            rows.append((runs[0]["expected_sent"], size["n"], [
                f"{runs[0]['expected_sent']:,}", f"{size['n']:,}",
                _values(runs, "shop_requests"), _values(runs, "keycrm_requests"),
                fmt3(stats([r["cpu"] * 1000 for r in runs]), 0),
                fmt3(stats([r["rss_kib"] / 1024 for r in runs]), 1)]))
    rows.sort(key=lambda r: (r[0], r[1]))
    return table(["SKUs changed", "catalogue SKUs", "shop requests", "KeyCRM requests",
                  "our CPU ms", "our peak RSS MiB"], [r[2] for r in rows])


# --------------------------------------------------------------------------------------------
# Part 4: backfill

def pacing_seconds(requests, per_minute, t_request):
    """Time for `requests` KeyCRM requests under the rolling-window rule (at most
    per_minute in any 61 s, our margin on KeyCRM's 60 s; each takes t_request)."""
    if requests <= 0:
        return 0.0
    windows = (requests - 1) // per_minute
    last = (requests - 1) % per_minute + 1
    return windows * 61.0 + last * t_request


def part_backfill(args, kc, results):
    rng = random.Random(args.seed + 2)
    shop, crm = fake_shop(kc, args), fake_crm(kc, args)
    res = {"offers": args.backfill_offers, "runs": []}
    results["backfill"] = res
    try:
        products, managed = catalogue(args.backfill_offers, rng)
        offers = [{"id": 200000 + i, "product_id": 200000 + i, "sku": sku}
                  for i, (_, sku, _, _) in enumerate(managed)]
        stocks = [{"sku": sku, "warehouse_id": 1, "quantity": q + 5, "reserve": 1}
                  for _, sku, q, _ in managed]
        for r in range(args.runs):
            log(f"backfill: {len(offers):,} offers, run {r + 1}")
            shop.reset(products=products)
            crm.reset(offers=offers, stocks=stocks,
                      options={"rate_limit": {"requests": 100000, "window_s": 60},
                               "webhook_mode": "hold"})
            state = kc.make_state_dir(f"backfill-{r}")
            cfg = kc.write_config(Path(kc.root()) / f"backfill-{r}.conf",
                                  webhook_secret=kc.WEBHOOK_SECRET, sync_token=kc.SYNC_TOKEN,
                                  state_dir=state, woo_url=shop.url, woo_consumer_key=kc.CK,
                                  woo_consumer_secret=kc.CS, keycrm_api_url=crm.api_url,
                                  keycrm_api_key=kc.KEYCRM_KEY, keycrm_warehouse_id=1,
                                  keycrm_requests_per_minute=600, sync_max_seconds=3600)
            c = run_child([str(kc.BINDIR / "sync.cgi")],
                          cgi_env(cfg, "GET", f"token={kc.SYNC_TOKEN}&pull=1"))
            status, _, out = kc.servers.parse_cgi_output(c.stdout)
            if status != 200:
                raise RuntimeError(f"backfill: {status} {out[:500]!r} {c.stderr[:500]!r}")
            ans = json.loads(out)
            crm_log = [e for e in crm.log() if e["path"].startswith("/v1/")]
            shop_log = shop.log()
            written = sum(e.get("items") or 0 for e in shop_log if e["method"] == "POST")
            ts = [e["t"] for e in crm_log]
            crm_phase = (max(ts) - min(ts)) if len(ts) > 1 else 0.0
            n_req = ans["keycrm_requests"]
            t_req = crm_phase / max(n_req - 1, 1)
            run = {"wall": c.wall, "cpu": c.cpu, "rss_kib": c.maxrss_kib,
                   "pulled": ans.get("pulled", 0), "applied": ans.get("applied", 0),
                   "keycrm_requests": n_req, "keycrm_logged": len(crm_log),
                   "shop_requests": ans["shop_requests"], "written": written,
                   "crm_phase": crm_phase, "t_req": t_req,
                   "at_60": pacing_seconds(n_req, 60, t_req),
                   "at_600": pacing_seconds(n_req, 600, t_req),
                   "shop_real": ans["shop_requests"] * WOO_LATENCY_MS / 1000 +
                   written * WOO_PER_ITEM_MS / 1000,
                   "errors": ans["errors"], "complete": ans["complete"]}
            if ans["errors"] or not ans["complete"] or run["pulled"] != len(offers):
                log(f"  warning: {ans}")
            log(f"  {c.wall:.1f} s, pulled {run['pulled']}, KeyCRM {n_req} req "
                f"({crm_phase:.1f} s), shop {ans['shop_requests']} req / {written} items, "
                f"at 60/min {run['at_60']:.0f} s, CPU {c.cpu:.2f} s, "
                f"RSS {c.maxrss_kib / 1024:.1f} MiB")
            # The other first-install path: push_all sends every SKU, and since 43d95ab
            # looks up first (50 per request) the KeyCRM numbers the ledger lacks.
            shop.reset(products=products)
            crm.reset(offers=offers, stocks=stocks,
                      options={"rate_limit": {"requests": 100000, "window_s": 60},
                               "webhook_mode": "hold"})
            state = kc.make_state_dir(f"pushall-{r}")
            cfg = kc.write_config(Path(kc.root()) / f"pushall-{r}.conf",
                                  sync_token=kc.SYNC_TOKEN, state_dir=state, woo_url=shop.url,
                                  woo_consumer_key=kc.CK, woo_consumer_secret=kc.CS,
                                  keycrm_api_url=crm.api_url, keycrm_api_key=kc.KEYCRM_KEY,
                                  keycrm_warehouse_id=1, keycrm_requests_per_minute=600,
                                  sync_max_seconds=3600)
            c = run_child([str(kc.BINDIR / "sync.cgi")],
                          cgi_env(cfg, "GET", f"token={kc.SYNC_TOKEN}&push_all=1"))
            ans = json.loads(kc.servers.parse_cgi_output(c.stdout)[2] or b"{}")
            gets = sum(1 for e in crm.log() if e["method"] == "GET")
            puts = sum(1 for e in crm.log() if e["method"] == "PUT")
            run.update({"push_sent": ans.get("sent"), "push_keycrm": ans.get("keycrm_requests"),
                        "push_gets": gets, "push_puts": puts, "push_wall": c.wall,
                        "push_cpu": c.cpu, "push_rss_kib": c.maxrss_kib,
                        "push_at_60": pacing_seconds(ans.get("keycrm_requests") or 0, 60, t_req)})
            log(f"  push_all: sent {ans.get('sent')}, KeyCRM {gets} GET + {puts} PUT, at 60/min "
                f"{run['push_at_60']:.0f} s, CPU {c.cpu:.2f} s")
            res["runs"].append(run)
        if args.verify_pacing:
            res["pacing_check"] = verify_pacing(args, kc, shop, crm, products, offers, stocks)
    finally:
        shop.stop()
        crm.stop()


def verify_pacing(args, kc, shop, crm, products, offers, stocks):
    """The pacing rule on the real program: a backfill of 150 offers (3 requests) at
    keycrm_requests_per_minute = 2 must wait for the first request to leave the window."""
    log("backfill: pacing check, 3 KeyCRM requests at 2 per minute (about a minute)")
    shop.reset(products=products)
    crm.reset(offers=offers[:150], stocks=stocks[:150],
              options={"rate_limit": {"requests": 100000, "window_s": 60},
                       "webhook_mode": "hold"})
    state = kc.make_state_dir("backfill-pacing")
    cfg = kc.write_config(Path(kc.root()) / "backfill-pacing.conf",
                          sync_token=kc.SYNC_TOKEN, state_dir=state, woo_url=shop.url,
                          woo_consumer_key=kc.CK, woo_consumer_secret=kc.CS,
                          keycrm_api_url=crm.api_url, keycrm_api_key=kc.KEYCRM_KEY,
                          keycrm_warehouse_id=1, keycrm_requests_per_minute=2,
                          sync_max_seconds=600)
    c = run_child([str(kc.BINDIR / "sync.cgi")],
                  cgi_env(cfg, "GET", f"token={kc.SYNC_TOKEN}&pull=1"))
    ans = json.loads(kc.servers.parse_cgi_output(c.stdout)[2] or b"{}")
    ts = sorted(e["t"] for e in crm.log() if e["path"].startswith("/v1/"))
    n = len(ts)
    phase = ts[-1] - ts[0] if n > 1 else 0.0
    t_req = (ts[1] - ts[0]) if n > 1 else 0.0
    predicted = pacing_seconds(n, 2, t_req)
    log(f"  {n} requests in {phase:.1f} s (rule: {predicted:.1f} s), pulled {ans.get('pulled')}")
    return {"requests": n, "measured": phase, "predicted": predicted,
            "pulled": ans.get("pulled"), "wall": c.wall}


def report_backfill(res):
    runs = res["runs"]
    r0 = runs[0]
    rows = [
        ["offers pulled", fmt3(stats([r["pulled"] for r in runs]), 0)],
        ["KeyCRM requests (GET /offers/stocks, 50 per page)",
         fmt3(stats([r["keycrm_requests"] for r in runs]), 0)
         + f" (target {math.ceil(res['offers'] / 50)})"],
        ["time of the KeyCRM part, 600/min, fake KeyCRM (s)",
         fmt3(stats([r["crm_phase"] for r in runs]), 1)],
        ["KeyCRM part at the 60/min limit, computed (s)",
         fmt3(stats([r["at_60"] for r in runs]), 1)],
        ["shop requests (SKU lookups + batch writes)",
         fmt3(stats([r["shop_requests"] for r in runs]), 0)],
        ["items written to the shop", fmt3(stats([r["written"] for r in runs]), 0)],
        ["shop part at 70 ms/request + 26 ms/item, computed (s)",
         fmt3(stats([r["shop_real"] for r in runs]), 0)],
        ["wall time, whole backfill against the fakes (s)",
         fmt3(stats([r["wall"] for r in runs]), 1)],
        ["our CPU (s)", fmt3(stats([r["cpu"] for r in runs]), 2)],
        ["our peak RSS (MiB)", fmt3(stats([r["rss_kib"] / 1024 for r in runs]), 1)],
    ]
    if "push_keycrm" in r0:
        n = res["offers"]
        rows += [
            ["*push_all instead (the other first-install choice), the same catalogue:*", ""],
            ["SKUs sent to KeyCRM", fmt3(stats([r["push_sent"] for r in runs]), 0)],
            ["KeyCRM requests: lookups of numbers the ledger lacks (50 per request) + PUTs",
             f"{r0['push_gets']:,} + {r0['push_puts']:,} = "
             f"{r0['push_keycrm']:,} (ceil({n:,}/50) + ceil({n:,}/10,000) = "
             f"{math.ceil(n / 50) + math.ceil(n / 10000):,})"],
            ["push_all's KeyCRM part at the 60/min limit, computed (s)",
             fmt3(stats([r["push_at_60"] for r in runs]), 0)],
            ["push_all: our CPU (s)", fmt3(stats([r["push_cpu"] for r in runs]), 2)],
            ["push_all: our peak RSS (MiB)",
             fmt3(stats([r["push_rss_kib"] / 1024 for r in runs]), 1)],
        ]
    del r0
    text = table(["backfill of %s offers" % f"{res['offers']:,}", "value"], rows)
    pc = res.get("pacing_check")
    if pc:
        text += (f"\n\nPacing rule checked on the program: a backfill of 150 offers at "
                 f"keycrm_requests_per_minute = 2 made {pc['requests']} KeyCRM requests "
                 f"spread over {pc['measured']:.1f} s from the first to the last (the rule "
                 f"gives {pc['predicted']:.1f} s).")
    return text


# --------------------------------------------------------------------------------------------

def report_targets(results):
    """The goals of the issue, measured (reported, not asserted)."""
    rows = []
    acc = results.get("accept")
    if acc:
        for row in acc["rows"]:
            if row["server"].startswith("nginx + FastCGI") and \
                    row["what"].startswith("webhook: accept only, while"):
                med = stats([r["rps"] for r in row["runs"]])[1]
                rows.append(["durable webhooks/s, nginx + FastCGI, 2 cores", "≥ 5,000",
                             f"{med:,.0f}", "met" if med >= 5000 else "**missed**"])
    sync = results.get("sync")
    if sync and sync["sizes"]:
        big = max(sync["sizes"], key=lambda z: z["n"])
        peak = max(r["rss_kib"] for s in big["scenarios"] for r in s["runs"]) / 1024
        rows.append([f"peak RSS of sync.cgi at {big['n']:,} SKUs", "≤ 32 MiB",
                     f"{peak:.1f} MiB", "met" if peak <= 32 else "**missed**"])
        full = [r for z in sync["sizes"] for s in z["scenarios"] if s["kind"] in ("first", "full")
                for r in s["runs"]]
        ok = all(r["shop_requests"] == r["target"][0] for r in full)
        rows.append(["shop requests of a full scan", "ceil(products/100) + ceil(variations/100)",
                     "; ".join(f"{z['n']:,} SKUs: "
                               f"{[x for x in z['scenarios'] if x['kind'] == 'full'][0]['runs'][0]['shop_requests']:,}"
                               f" = {math.ceil(z['listed'] / 100)} + "
                               f"{math.ceil(z['variations'] / 100)}"
                               for z in sync["sizes"]), "met" if ok else "**missed**"])
        quiet = [r for z in sync["sizes"] for s in z["scenarios"]
                 if s["kind"] == "incremental" and s["fraction"] == 0 for r in s["runs"]]
        worst = max(r["shop_requests"] for r in quiet)
        rows.append(["shop requests of a no-change incremental run, any size", "≤ 3",
                     f"{worst} at every size", "met" if worst <= 3 else "**missed**"])
        inc = [r for z in sync["sizes"] for s in z["scenarios"]
               if s["kind"] in ("full", "incremental") for r in s["runs"]]
        ok = all(r["keycrm_requests"] == r["target"][1] for r in inc)
        most = max(r["sent"] for r in inc)
        rows.append(["KeyCRM requests of a sync (SKUs whose KeyCRM numbers the ledger has)",
                     "ceil(changed / 10,000)",
                     f"{'all' if ok else 'not all'} runs (up to {most:,} changed: "
                     f"{math.ceil(most / 10000)} request)", "met" if ok else "**missed**"])
        unk = [(z["n"], r) for z in sync["sizes"] for s in z["scenarios"]
               if s["kind"] == "unknown" for r in s["runs"]]
        if unk:
            ok = all(r["keycrm_requests"] == r["target"][1] for _, r in unk)
            n, r = max(unk, key=lambda x: x[0])
            rows.append(["... SKUs KeyCRM has not reported yet (first change after a first "
                         "run without backfill)", "not a goal; + ceil(new SKUs / 50) lookups",
                         f"{r['sent']:,} changed at {n:,} SKUs: {r['keycrm_requests']} "
                         f"requests", "as designed" if ok else "**other than designed**"])
    bf = results.get("backfill")
    if bf and bf["runs"]:
        n = stats([r["keycrm_requests"] for r in bf["runs"]])[1]
        want = math.ceil(bf["offers"] / 50)
        rows.append([f"KeyCRM requests of a backfill of {bf['offers']:,} offers",
                     f"{bf['offers']:,} / 50 = {want}", f"{n:.0f}",
                     "met" if n == want else "**missed**"])
    rows += shop_webhook.target_rows(results.get("shop"))
    return table(["target", "goal", "measured (median)", ""], rows)


def report(results, info, args):
    out = []
    out.append(f"## Results ({info['date']})\n")
    out.append("Machine: " + ", ".join([
        f"{info['nproc']} CPUs ({info['cpu']})", info["memory"], f"kernel {info['kernel']}",
        f"Debian {info['debian']}", f"virtualisation {info['virt']}",
        f"state on {info['state_fs']}"]) + ".")
    out.append("Packages: " + ", ".join(f"{k} {v}" for k, v in sorted(info["packages"].items()))
               + ".")
    out.append(f"Load average at start {' '.join(info['load_start'])}, at end "
               f"{' '.join(info.get('load_end', []))}.")
    out.append(f"Command: `{info['command']}` ({info['elapsed']:.0f} s). Figures are "
               "min / **median** / max over the runs.\n")
    out.append("### Targets\n")
    out.append(report_targets(results))
    out.append("")
    if "accept" in results:
        out.append("### 1. Webhook acceptance\n")
        out.append(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s on loopback "
                   f"(wrk shares the {info['nproc']} CPUs), {args.runs} run(s) of each, after "
                   f"a 1 s warm-up.\n")
        out.append(report_accept(results["accept"], args))
        out.append("")
    if "apply" in results:
        out.append("### 2. Webhook application (?wait=1)\n")
        out.append(report_apply(results["apply"]))
        out.append("")
    if "sync" in results:
        out.append("### 3. Sync runs\n")
        for s in results["sync"]["sizes"]:
            out.append(f"- {s['n']:,} SKUs: {s['listed']:,} products listed "
                       f"(simple + variable), {s['variations']:,} variations; "
                       f"{s['seconds']:.0f} s for all its runs")
        out.append("")
        out.append(report_sync(results["sync"]))
        out.append("")
        out.append("Incremental runs by the number of SKUs changed, whatever the catalogue's "
                   "size:\n")
        out.append(report_sync_by_changes(results["sync"]))
        out.append("")
    if "backfill" in results:
        out.append("### 4. Backfill\n")
        out.append(report_backfill(results["backfill"]))
        out.append("")
    if "shop" in results:
        out.append("### 5. Shop webhook\n")
        out.append(shop_webhook.report_shop(results["shop"]))
        out.append("")
    if "mariadb" in results:
        out.append("### 6. The state in MariaDB, next to SQLite\n")
        out.append(part_mariadb.report_mariadb(sys.modules[__name__], results["mariadb"], args))
        out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller, a few minutes")
    ap.add_argument("--parts", default="accept,apply,sync,backfill,shop,mariadb")
    ap.add_argument("--bindir", default=os.environ.get("KC_BINDIR", str(REPO / "cgi-bin")))
    ap.add_argument("--runs", type=int)
    ap.add_argument("--duration", type=int)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--servers", default="nginx-fastcgi,nginx-fcgiwrap,apache-cgi",
                    help="also: apache-proxy-fcgi")
    ap.add_argument("--execs", type=int)
    ap.add_argument("--sizes")
    ap.add_argument("--apply-sizes")
    ap.add_argument("--latency-scale", type=float,
                    help="K >= 1000: the fake shop's latencies x this (default 0.1)")
    ap.add_argument("--full-latency", action="store_true",
                    help="K >= 1000 at the real latencies too (5,000 items: ~3 min a run)")
    ap.add_argument("--backfill-offers", type=int)
    ap.add_argument("--stock-fakes", action="store_true",
                    help="the stock fakes of tests/fakes/, without the bench's indexes "
                    "(O(N) per page or item: hours at 100k SKUs)")
    ap.add_argument("--no-pacing-check", dest="verify_pacing", action="store_false",
                    help="skip the one-minute check of the pacing rule (--quick skips it)")
    ap.add_argument("--seed", type=int, default=20261127)
    shop_webhook.add_arguments(ap)
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--out", help="write the Markdown report here too")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    q = args.quick
    if q:
        args.verify_pacing = False
    args.runs = args.runs or (1 if q else 3)
    args.duration = args.duration or (2 if q else 5)
    args.execs = args.execs or (50 if q else 200)
    args.sizes = [int(x) for x in (args.sizes or ("1000,10000" if q else
                                                  "1000,10000,100000")).split(",")]
    args.apply_sizes = [int(x) for x in (args.apply_sizes or "1,100,5000").split(",")]
    args.latency_scale = args.latency_scale or (0.02 if q else 0.1)
    args.backfill_offers = args.backfill_offers or (2000 if q else 10000)
    args.servers = [x.strip() for x in args.servers.split(",") if x.strip()]
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    shop_webhook.settle_arguments(args)
    for p in parts:
        if p not in ("accept", "apply", "sync", "backfill", "shop", "mariadb"):
            ap.error(f"unknown part {p!r}")

    if os.geteuid() != 0:
        sys.exit("bench/run.py must run as root (the servers run their workers as www-data)")
    bindir = Path(args.bindir).resolve()
    for prog in ("webhook.cgi", "sync.cgi"):
        if not (bindir / prog).is_file():
            sys.exit(f"{bindir / prog} is missing: run make first")
    if "accept" in parts and shutil.which("wrk") is None:
        # Not among make deps' packages: installed here, as make deps installs the others.
        log("wrk is missing: apt-get install -y wrk")
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"],
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if shutil.which("wrk") is None:
            sys.exit("wrk is missing and could not be installed: apt-get install -y wrk")
    os.environ["KC_BINDIR"] = str(bindir)
    sys.path.insert(0, str(REPO / "tests"))
    import kctest as kc          # noqa: E402  (reads KC_BINDIR)

    info = machine_info(kc.root())
    build_launcher(kc.root())
    info["launcher_rss_kib"] = run_child(["/bin/true"], {"PATH": "/usr/bin:/bin"}).maxrss_kib
    info["command"] = " ".join(["python3", "bench/run.py"] + sys.argv[1:])
    log(f"bench: parts {','.join(parts)}, runs {args.runs}, binaries {bindir}, "
        f"temporary directory {kc.root()}")
    results = {}
    try:
        for part in parts:
            t = time.monotonic()
            if part == "mariadb":
                part_mariadb.part_mariadb(sys.modules[__name__], args, kc, results)
            else:
                {"accept": part_accept, "apply": part_apply, "sync": part_sync,
                 "backfill": part_backfill, "shop": shop_webhook.part_shop}[part](args, kc,
                                                                                  results)
            log(f"{part}: {time.monotonic() - t:.0f} s")
    finally:
        info["elapsed"] = time.monotonic() - T0
        info["load_end"] = Path("/proc/loadavg").read_text().split()[:3]
        if args.json:
            Path(args.json).write_text(json.dumps({"machine": info, "results": results},
                                                  indent=1, default=str))
        if not args.keep:
            shutil.rmtree(kc.root(), ignore_errors=True)
        else:
            log(f"kept {kc.root()}")
    text = report(results, info, args)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
