"""The first install as an administrator meets it: keycrm-sync-setup asks again on a
bad answer, tries both keys as they are typed (through the installed sync.cgi), lists
the warehouse ids KeyCRM shows, and ends with the settings page's address and the next
steps; make install warns about a state directory the web server cannot write.

Under KC_SANITIZED=1 the module is skipped: make install installs the normal build.
"""

import fcntl
import os
import pty
import re
import select
import subprocess
import termios
import time
import unittest

import kctest
from kctest import CK, CS, KEYCRM_KEY, FakeCRM, FakeShop, root

# Run once, not again under KC_STORE=mysql (tests/run.py): the first-run helper and make install,
# no state.
STORE_INDEPENDENT = True

SHOP = CRM = None
DEST = SBIN = None


def make(*args):
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "-C", str(kctest.REPO), *args], capture_output=True,
                          text=True, env=env, timeout=600)


def setUpModule():
    global SHOP, CRM, DEST, SBIN
    if kctest.SANITIZED:
        raise unittest.SkipTest("make install installs the normal build")
    DEST = root() / "destdir-setup"
    out = make("install", f"DESTDIR={DEST}", "PREFIX=/usr")
    if out.returncode != 0:
        raise AssertionError(f"make install failed:\n{out.stdout}\n{out.stderr}")
    SBIN = DEST / "usr/sbin"
    SHOP = FakeShop()
    CRM = FakeCRM()


def tearDownModule():
    for fake in (SHOP, CRM):
        if fake is not None:
            fake.stop()


def converse(argv, dialogue, timeout=60):
    """Runs argv on a terminal, answering each (prompt regex, answer) once the prompt
    is the last thing on the screen; returns (exit status, everything shown)."""
    master, slave = pty.openpty()

    def controlling_tty():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, preexec_fn=controlling_tty,
                            env={"PATH": "/usr/bin:/bin"})
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + timeout
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
            if dialogue and re.search(dialogue[0][0] + rb"[^\n]*[:?] $", seen):
                os.write(master, dialogue.pop(0)[1] + b"\n")
        elif proc.poll() is not None:
            break
    os.close(master)
    try:
        status = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = None
    return status, seen.decode(errors="replace"), dialogue


class SetupAsksAndChecks(unittest.TestCase):
    def test_bad_answers_are_asked_again_and_keys_are_checked_as_typed(self):
        SHOP.reset()
        CRM.reset()
        conf = root() / "setup-checked" / "keycrm-sync.conf"
        if conf.exists():
            conf.unlink()
        dialogue = [
            (rb"Shop URL", b"shop.example"),
            (rb"Shop URL", SHOP.url.encode()),
            (rb"consumer key", b"ck_wrong"),
            (rb"consumer secret", b"cs_wrong"),
            (rb"consumer key", CK.encode()),
            (rb"consumer secret", CS.encode()),
            (rb"KeyCRM API key", b"not-the-key"),
            (rb"KeyCRM API key", KEYCRM_KEY.encode()),
            (rb"warehouse id", b"x7"),
            (rb"warehouse id", b"7"),
            (rb"Use it anyway", b"n"),
            (rb"warehouse id", b"2"),
        ]
        status, seen, left = converse([str(SBIN / "keycrm-sync-setup"), "-c", str(conf),
                                       "--keycrm-url", CRM.api_url], dialogue)
        self.assertEqual((status, left), (0, []), seen)
        self.assertIn("must start with https://", seen)
        self.assertIn("shop: rejected", seen)
        self.assertIn("it works and may write", seen)
        self.assertIn("keycrm: rejected", seen)
        self.assertIn("Warehouse ids in KeyCRM's stock list: 1 2", seen)
        self.assertIn("must be a positive whole number", seen)
        self.assertIn("shows no warehouse 7", seen)
        self.assertIn(f"{SHOP.url}/keycrm/settings", seen)
        self.assertIn("Compare the shop with KeyCRM", seen)
        text = conf.read_text()
        for line in (f"woo_url = {SHOP.url}", f"woo_consumer_key = {CK}",
                     f"woo_consumer_secret = {CS}", f"keycrm_api_key = {KEYCRM_KEY}",
                     "keycrm_warehouse_id = 2", f"keycrm_api_url = {CRM.api_url}"):
            self.assertIn(line + "\n", text)
        # Secrets were not echoed, and no scratch configuration is left behind.
        self.assertNotIn(CS, seen)
        self.assertNotIn(KEYCRM_KEY, seen)


class InstallWarnsAboutTheStateDirectory(unittest.TestCase):
    def test_a_state_directory_the_web_server_cannot_write_is_warned_about(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        state = DEST / "var/lib/keycrm-sync"
        self.assertTrue(state.is_dir())
        www = kctest.servers._www_ids()
        try:
            (state / "state.db-wal").write_bytes(b"")   # as a root run once left it
            out = make("install", f"DESTDIR={DEST}", "PREFIX=/usr")
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn(f"WARNING: {state}", out.stdout)
            self.assertIn(f"chown -R www-data:www-data {state}", out.stdout)
            os.chown(state / "state.db-wal", *www)
            out = make("install", f"DESTDIR={DEST}", "PREFIX=/usr")
            self.assertNotIn("WARNING", out.stdout)
        finally:
            (state / "state.db-wal").unlink(missing_ok=True)


if __name__ == "__main__":
    unittest.main()
