"""TLS to the database (SPEC section 2, mysql_require_tls and ca_file), against real
MariaDB servers: one that offers TLS with a certificate of a private CA, and one that
offers none.

- the CA in ca_file and mysql_require_tls = yes: the webhook is stored, over TLS (the
  server counts the TLS handshakes);
- another CA in ca_file: the server's certificate is refused, the webhook answered 503
  (the database cannot be reached: KeyCRM sends it again), nothing stored, and the
  password is in no answer and no log line;
- mysql_require_tls = yes against a server without TLS: refused the same way;
- ca_file alone: the certificate is verified when the server offers TLS, and a server
  that offers none is reached without it.
"""

import os
import pwd
import subprocess
import unittest

import kctest
from harness import mariadb
from kctest import CK, CS, WEBHOOK_SECRET, Direct, make_state_dir, root, write_config

# Run once, not again under KC_STORE=mysql (tests/run.py): always on MariaDB.
STORE_INDEPENDENT = True

TLS_DB = PLAIN_DB = None
CERTS = None
DATABASE = "kc_tls"


def make_ca(name):
    """A self-signed certificate for 127.0.0.1 that is its own CA."""
    cert, key = CERTS / f"{name}.pem", CERTS / f"{name}-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    mysql = pwd.getpwnam("mysql")
    for f in (cert, key):
        os.chown(f, mysql.pw_uid, mysql.pw_gid)
        os.chmod(f, 0o644 if f == cert else 0o600)
    return cert, key


def setUpModule():
    global TLS_DB, PLAIN_DB, CERTS
    if not mariadb.available():
        raise unittest.SkipTest("mariadb-server is not installed")
    CERTS = root() / "db-certs"
    CERTS.mkdir()
    os.chmod(CERTS, 0o755)
    cert, key = make_ca("db-server")
    make_ca("someone-else")
    TLS_DB = mariadb.MariaDB(root() / "mariadb-tls", extra_args=[
        f"--ssl-cert={cert}", f"--ssl-key={key}", f"--ssl-ca={cert}"]).start()
    os.chmod(TLS_DB.dir, 0o755)
    PLAIN_DB = mariadb.MariaDB(root() / "mariadb-plain").start()
    for db in (TLS_DB, PLAIN_DB):
        db.create_database(DATABASE, user=kctest.DB_USER, password=kctest.DB_PASSWORD)


def tearDownModule():
    for db in (TLS_DB, PLAIN_DB):
        if db is not None:
            db.stop()


def tls_accepts():
    return int(TLS_DB.sql("SHOW GLOBAL STATUS LIKE 'Ssl_accepts'")[0][1])


def inbox_count(db):
    try:
        return int(db.sql("SELECT COUNT(*) FROM keycrm_sync_inbox", DATABASE)[0][0])
    except RuntimeError:            # no table yet: nothing was ever stored
        return 0


class DatabaseTls(unittest.TestCase):
    def post(self, db, name, **keys):
        cfg = write_config(root() / f"{name}.conf", webhook_secret=WEBHOOK_SECRET,
                           state_dir=make_state_dir(name), woo_url="http://127.0.0.1:9",
                           woo_consumer_key=CK, woo_consumer_secret=CS,
                           mysql_host=f"127.0.0.1:{db.port}", mysql_database=DATABASE,
                           mysql_user=kctest.DB_USER, mysql_password=kctest.DB_PASSWORD,
                           **keys)
        body = kctest.body([{"sku": f"TLS-{name}", "in_stock": 3, "in_reserve": 0}])
        return Direct(cfg).request("POST", f"secret={WEBHOOK_SECRET}", body)

    def assert_refused(self, r, db, before, words):
        self.assertEqual(r.status, 503, r.text)
        self.assertIn("cannot be reached", r.json()["error"])
        self.assertEqual(inbox_count(db), before)
        log = r.stderr.decode(errors="replace")
        self.assertIn(words, log)
        for text in (r.text, log):
            self.assertNotIn(kctest.DB_PASSWORD, text)

    def test_the_private_ca_and_tls_required(self):
        before, handshakes = inbox_count(TLS_DB), tls_accepts()
        r = self.post(TLS_DB, "tls-good", mysql_require_tls="yes",
                      ca_file=CERTS / "db-server.pem")
        self.assertEqual(r.status, 200, r.text + r.stderr.decode(errors="replace"))
        self.assertEqual(inbox_count(TLS_DB), before + 1)
        self.assertGreater(tls_accepts(), handshakes)

    def test_a_certificate_of_another_ca_is_refused(self):
        before = inbox_count(TLS_DB)
        r = self.post(TLS_DB, "tls-wrong-ca", mysql_require_tls="yes",
                      ca_file=CERTS / "someone-else.pem")
        self.assert_refused(r, TLS_DB, before, "cannot connect")

    def test_tls_required_from_a_server_without_it_is_refused(self):
        before = inbox_count(PLAIN_DB)
        r = self.post(PLAIN_DB, "tls-none", mysql_require_tls="yes",
                      ca_file=CERTS / "db-server.pem")
        self.assert_refused(r, PLAIN_DB, before, "TLS")

    def test_ca_file_alone_does_not_refuse_a_server_without_tls(self):
        """ca_file is the CA bundle of the shop's https too: alone it must not
        make a database server that offers no TLS unreachable."""
        before = inbox_count(PLAIN_DB)
        r = self.post(PLAIN_DB, "tls-ca-plain", ca_file=CERTS / "db-server.pem")
        self.assertEqual(r.status, 200, r.text + r.stderr.decode(errors="replace"))
        self.assertEqual(inbox_count(PLAIN_DB), before + 1)

    def test_ca_file_alone_verifies_what_the_server_offers(self):
        before = inbox_count(TLS_DB)
        r = self.post(TLS_DB, "tls-ca-only", ca_file=CERTS / "someone-else.pem")
        self.assert_refused(r, TLS_DB, before, "cannot connect")
        r = self.post(TLS_DB, "tls-ca-only-good", ca_file=CERTS / "db-server.pem")
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(inbox_count(TLS_DB), before + 1)


if __name__ == "__main__":
    unittest.main()
