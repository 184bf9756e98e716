"""settings.cgi in a real browser: Debian's chromium, headless, driven by
playwright-core from tests/browser/settings.test.js, against the real
binaries behind nginx with Basic auth as the example config sets it up, and
the simulated shop and KeyCRM.

The browser logs in, reads the page, fills and submits the key form, runs a
sync and a dry run and reads the plan's table, compares the two sides on the
first-install card, downloads the CSV, chooses the backfill, pages and filters the
history and measures its chart, connects the shop's own webhook and removes it
again, and takes screenshots at
1280 and 390 px into tests/artifacts/, the first-install card
compared, chosen and gone included.  A missing chromium, node or
playwright-core is a failure, not a skip: `make check` installs them.
"""

import json
import os
import shutil
import subprocess
import unittest
from pathlib import Path

import kctest
from harness import servers
from kctest import (CK, CS, SYNC_TOKEN, WEBHOOK_SECRET, BINDIR, FakeShop, make_state_dir,
                    root, sanitizer_env, write_config)

# Run once, not again under KC_STORE=mysql (tests/run.py): what the browser sees does not
# depend on the store, and test_settings walks the page's MariaDB paths.
STORE_INDEPENDENT = True

BROWSER_DIR = kctest.REPO / "tests" / "browser"
ARTIFACTS = kctest.REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
USER, PASSWORD = "admin", "correct horse battery staple"
KEYCRM_KEY = kctest.KEYCRM_KEY
# Sent by a webhook; no shop product has them, so they become problems.
XSS_SKUS = ["<script>window.__kc_xss=1</script>", '"><img src=x onerror=window.__kc_xss=1>']


def missing_tools():
    why = []
    node = shutil.which("node")
    if node is None:
        why.append("node is not installed (tests/install-deps.sh installs it)")
    if not os.access(CHROMIUM, os.X_OK):
        why.append(f"{CHROMIUM} is missing (apt-get install chromium)")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        why.append("playwright-core is not installed (cd tests/browser && npm ci)")
    return why


class SettingsInBrowser(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.shop = FakeShop()
        cls.crm = kctest.Fake("fake_keycrm.py", "--api-key", KEYCRM_KEY)
        cls.state = make_state_dir("state-browser")
        cls.config = write_config(root() / "browser.conf", webhook_secret=WEBHOOK_SECRET,
                                  sync_token=SYNC_TOKEN, state_dir=cls.state,
                                  woo_url=cls.shop.url, woo_consumer_key=CK,
                                  woo_consumer_secret=CS, sync_max_seconds=30,
                                  keycrm_api_url=cls.crm.url + "/v1")
        htpasswd = servers.make_htpasswd(root() / "browser.htpasswd", USER, PASSWORD)
        cls.nginx = servers.Nginx(str(root()), str(BINDIR), cls.config, htpasswd=htpasswd,
                                  programs=("webhook.cgi", "sync.cgi", "settings.cgi"),
                                  env=sanitizer_env())
        cls.nginx.start()

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        cls.crm.stop()
        cls.shop.stop()

    def test_settings_page_in_chromium(self):
        why = missing_tools()
        self.assertEqual(why, [], "; ".join(why))
        items = [{"sku": s, "in_stock": 1, "in_reserve": 0} for s in XSS_SKUS]
        r = servers.http_request(f"{self.nginx.url}/keycrm/webhook?secret={WEBHOOK_SECRET}&wait=1",
                                 "POST", json.dumps(items).encode())
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(len(r.json()["unmatched"]), 2, r.text)
        # More history than one page holds (each webhook and its applier run are rows).
        for i in range(16):
            r = servers.http_request(
                f"{self.nginx.url}/keycrm/webhook?secret={WEBHOOK_SECRET}&wait=1", "POST",
                json.dumps([{"sku": f"ELSEWHERE-{i}", "in_stock": i}]).encode())
            self.assertEqual(r.status, 200, r.text)
        sold = self.shop.products()[10]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(root()),
               "KC_SETTINGS_URL": f"{self.nginx.url}/keycrm/settings",
               "KC_USER": USER, "KC_PASSWORD": PASSWORD, "KC_KEYCRM_KEY": KEYCRM_KEY,
               "KC_SHOP_CONTROL": self.shop.control_url,
               "KC_SHOP_HOOK_URL": f"{self.nginx.url}/keycrm/shop-webhook", "KC_SOLD_ID": str(sold["id"]),
               "KC_SOLD_SKU": sold["sku"], "KC_XSS_SKUS": json.dumps(XSS_SKUS),
               "KC_ARTIFACTS": str(ARTIFACTS), "KC_CHROMIUM": CHROMIUM}
        proc = subprocess.run(["node", str(BROWSER_DIR / "settings.test.js")], env=env,
                              cwd=BROWSER_DIR, capture_output=True, text=True, timeout=300)
        out = proc.stdout + proc.stderr
        self.assertEqual(proc.returncode, 0, "browser test failed:\n" + out +
                         "\n--- server log:\n" + self.nginx.error_log_text()[-3000:])
        self.assertIn("browser: all checks passed", out)
        for name in ("settings-desktop-first-install.png", "settings-desktop-sync-running.png",
                     "settings-desktop-dry-run.png",
                     "settings-desktop-compare.png", "settings-phone-first-install.png",
                     "settings-desktop-chosen.png", "settings-desktop-history.png",
                     "settings-phone.png",
                     "settings-phone-dry-run.png", "settings-desktop-shop-webhooks.png"):
            self.assertTrue((ARTIFACTS / name).stat().st_size > 10000, name)


if __name__ == "__main__":
    unittest.main()
