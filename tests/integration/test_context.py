"""What a FastCGI worker keeps between requests (lib/context.c): the parsed
configuration and the open state database.  A change to the configuration
file or to the settings the page saves must take effect on the very next
request of a running worker - a rotated secret is never checked against
the old one - and the kept connection must see what other processes
commit.  Through a real nginx with FastCGI workers.
"""

import os
import secrets
import unittest
from pathlib import Path

import kctest
from kctest import (ThroughServer, body, make_state_dir, query, root, wait_for)

SHOP = None


def setUpModule():
    global SHOP
    SHOP = kctest.FakeShop()


def tearDownModule():
    if SHOP is not None:
        SHOP.stop()


class KeptConfiguration(unittest.TestCase):
    def setUp(self):
        SHOP.reset()
        self.state = make_state_dir("state-context")
        self.path = root() / "context.conf"
        self.secret = secrets.token_urlsafe(32)
        self.write(self.secret)
        # One worker, so that every request meets the same kept context.
        self.srv = ThroughServer("nginx", str(self.path), workers=1)

    def tearDown(self):
        self.srv.stop()

    def write(self, secret, **extra):
        kctest.full_config(self.path, self.state, SHOP,
                           **{"webhook_secret": secret, "sync_max_seconds": 30, **extra})

    def post(self, secret, items):
        return self.srv.request(query=f"secret={secret}&wait=1", body=body(items))

    def test_a_rotated_secret_counts_from_the_next_request(self):
        item = [{"sku": "RW-SIMPLE-001", "in_stock": 7, "in_reserve": 0}]
        self.assertEqual(self.post(self.secret, item).status, 200)
        new = secrets.token_urlsafe(32)
        self.write(new)
        self.assertEqual(self.post(self.secret, item).status, 403)
        r = self.post(new, item)
        self.assertEqual(r.status, 200, r.text)
        # Back to the first: the same size of file, a new content.
        self.write(self.secret)
        self.assertEqual(self.post(new, item).status, 403)
        self.assertEqual(self.post(self.secret, item).status, 200)

    def test_settings_saved_by_the_page_count_from_the_next_request(self):
        item = [{"sku": "RW-SIMPLE-001", "in_stock": 10, "in_reserve": 4}]
        self.assertEqual(self.post(self.secret, item).status, 200)
        self.assertEqual(SHOP.qty(10), 6)
        # What the settings page writes: state_dir/settings.conf, 0600.
        settings = Path(self.state) / "settings.conf"
        settings.write_text("subtract_reserve = no\n")
        settings.chmod(0o600)
        os.chown(settings, *kctest.servers._www_ids())
        r = self.post(self.secret, item)
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(SHOP.qty(10), 10)
        settings.unlink()
        self.post(self.secret, item)
        self.assertEqual(SHOP.qty(10), 6)

    def test_a_broken_configuration_is_refused_then_recovered(self):
        self.path.write_text("webhook_secret = short\n")
        r = self.post(self.secret, [])
        self.assertEqual(r.status, 500)
        self.assertNotIn(self.secret, r.text)
        self.write(self.secret)
        r = self.post(self.secret, [{"sku": "RW-SIMPLE-001", "in_stock": 3, "in_reserve": 0}])
        self.assertEqual(r.status, 200, r.text)

    def test_one_history_row_per_webhook_committed_with_it(self):
        for i in range(5):
            r = self.srv.request(query=f"secret={self.secret}",
                                 body=body([{"sku": "RW-SIMPLE-002", "in_stock": i,
                                             "in_reserve": 0}]))
            self.assertEqual(r.status, 200, r.text)
        rows = query(self.state, "SELECT received, queued FROM history WHERE kind = 'webhook'")
        self.assertEqual(rows, [(1, 1)] * 5)
        wait_for(lambda: SHOP.qty(11) == 4, what="the last value applied")


if __name__ == "__main__":
    unittest.main()
