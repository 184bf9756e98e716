#!/usr/bin/python3
"""One FastCGI worker under valgrind serves 1,000 requests, then exits by
itself (KEYCRM_SYNC_MAX_REQUESTS); the run fails on any memory error or
leak valgrind finds.  The requests mix what a worker meets in practice:
good webhooks (each applied to the fake shop after its answer), bad
secrets, broken bodies, wrong methods.

Ends with 'valgrind: N passed, N failed'.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import kctest  # noqa: E402
from harness import servers  # noqa: E402

REQUESTS = int(os.environ.get("KC_VALGRIND_REQUESTS", "1000"))


def request_for(i, secret):
    """The i-th request: (env, body, expected status)."""
    ok_q = f"secret={secret}"
    kind = i % 10
    if kind < 4:
        items = [{"sku": "RW-SIMPLE-00%d" % (1 + i % 5), "in_stock": i % 37, "in_reserve": 1},
                 {"sku": "RW-TEE-M", "in_stock": i % 11, "in_reserve": 0},
                 {"sku": "NOPE-%d" % i, "in_stock": 1}]
        return {"REQUEST_METHOD": "POST", "QUERY_STRING": ok_q}, json.dumps(items), 200
    if kind == 4:
        return {"REQUEST_METHOD": "POST", "QUERY_STRING": "secret=nope"}, "[]", 403
    if kind == 5:
        return {"REQUEST_METHOD": "POST", "QUERY_STRING": ok_q}, '[{"sku":', 400
    if kind == 6:
        return {"REQUEST_METHOD": "GET", "QUERY_STRING": ok_q}, "", 405
    if kind == 7:
        body = json.dumps([{"sku": "x", "in_stock": "y"}, 5, {"sku": "RW-MUG-RED", "in_stock": 2}])
        return {"REQUEST_METHOD": "POST", "QUERY_STRING": ok_q + "&wait=1"}, body, 200
    if kind == 8:
        return {"REQUEST_METHOD": "POST", "QUERY_STRING": "a=%zz"}, "[]", 400
    return {"REQUEST_METHOD": "POST", "QUERY_STRING": ok_q},  json.dumps({"event": "x"}), 200


def main():
    root = kctest.root()
    shop = kctest.FakeShop()
    shop.reset()
    state = kctest.make_state_dir("state-valgrind")
    config = kctest.write_config(root / "valgrind.conf", webhook_secret=kctest.WEBHOOK_SECRET,
                                 state_dir=state, woo_url=shop.url,
                                 woo_consumer_key=kctest.CK, woo_consumer_secret=kctest.CS)
    sock = root / "valgrind.sock"
    log = root / "valgrind.log"
    # The worker logs a line or two per request: into a file, not a pipe
    # nobody reads until the end (a full pipe would block the worker).
    stderr_log = root / "valgrind.stderr"
    env = {"PATH": "/usr/bin:/bin", "KEYCRM_SYNC_MAX_REQUESTS": str(REQUESTS),
           "KEYCRM_SYNC_CONFIG": config}
    worker = subprocess.Popen(
        ["spawn-fcgi", "-n", "-s", str(sock), "--",
         "/usr/bin/valgrind", "-q", "--leak-check=full", "--show-leak-kinds=definite,indirect",
         "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
         f"--log-file={log}", str(kctest.BINDIR / "webhook.cgi")],
        env=env, stdout=subprocess.DEVNULL, stderr=stderr_log.open("wb"))
    passed = failed = 0
    try:
        kctest.wait_for(sock.exists, 30, "the worker's socket")
        started = time.monotonic()
        for i in range(REQUESTS):
            e, body, want = request_for(i, kctest.WEBHOOK_SECRET)
            r = servers.cgi_fcgi_request(sock, env=e, body=body.encode(), timeout=120)
            if r.status == want:
                passed += 1
            else:
                failed += 1
                print(f"request {i}: got {r.status}, want {want}: {r.text[:200]}")
        rc = worker.wait(timeout=300)
        took = time.monotonic() - started
    finally:
        if worker.poll() is None:
            worker.kill()
        shop.stop()
    report = log.read_text() if log.exists() else ""
    if rc != 0 or report.strip():
        failed += 1
        print(f"valgrind exit status {rc}:\n{report}\n"
              f"{stderr_log.read_text(errors='replace')[-4000:]}")
    else:
        passed += 1
        print(f"valgrind: {REQUESTS} requests through one FastCGI worker in {took:.0f} s, "
              "no memory errors, no leaks")
    print(f"valgrind: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
