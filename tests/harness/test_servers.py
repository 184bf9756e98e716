"""Tests of the server harness and of the example configs it is built from.

Why: every integration test trusts that the servers are configured like a user's (from
nginx-example.conf / apache-example.conf) and that they pass the right things to the
programs. These tests check that plumbing with a stand-in program (standin.c) that echoes
what reaches it, through nginx (FastCGI workers, and fcgiwrap) and Apache (mod_cgid, and
mod_proxy_fcgi), plus the harness's own helpers. Needs root, nginx, apache2, spawn-fcgi,
fcgiwrap, cgi-fcgi, htpasswd, cc and libfcgi-dev.

Run: /usr/bin/python3 tests/harness/test_servers.py [-v]
"""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import servers  # noqa: E402

USER, PASSWORD = "admin", "correct horse battery"
ROOT = None          # the temp dir all tests here own
BINDIR = None        # stand-in programs, named like the real ones
CONFIG = None        # a config file (the stand-in only echoes its path)
HTPASSWD = None


def missing_requirements():
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (workers run as www-data)"
    for tool in ("nginx", "apache2", "spawn-fcgi", "cgi-fcgi", "htpasswd", "cc"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            return f"{tool} is not installed"
    if not Path(servers.FCGIWRAP).exists():
        return "fcgiwrap is not installed"
    if not Path("/usr/include/fcgiapp.h").exists():
        return "libfcgi-dev is not installed"
    return None


def setUpModule():
    global ROOT, BINDIR, CONFIG, HTPASSWD
    reason = missing_requirements()
    if reason:
        raise unittest.SkipTest(reason)
    ROOT = Path(tempfile.mkdtemp(prefix="harness-test-"))
    BINDIR = servers.build_standin(ROOT / "build")
    CONFIG = ROOT / "keycrm-sync.conf"
    CONFIG.write_text("# the stand-in does not read it\n")
    servers.prepare_for_www_data(CONFIG)
    HTPASSWD = servers.make_htpasswd(ROOT / "htpasswd", USER, PASSWORD)


def tearDownModule():
    if ROOT is not None:
        shutil.rmtree(ROOT, ignore_errors=True)


def echoed(response):
    """The stand-in's answer as (variables, body): 'NAME=value' lines; '!NAME' (unset) is
    left out, so `name in variables` means 'was set'."""
    head, sep, body = response.body.partition(b"\nbody:\n")
    if not sep or not head.startswith(b"standin\n"):
        raise AssertionError(f"not the stand-in's answer: {response.status} {response.body[:300]!r}")
    variables = {}
    for line in head.decode().splitlines()[1:]:
        name, eq, value = line.partition("=")
        if eq:
            variables[name] = value
    return variables, body


def wait_for_logs():
    """Access logs are written after the answer; give the server a moment."""
    time.sleep(0.3)


class ServerChecks:
    """Checks every server variant must pass. Subclasses set make() and expected mode."""

    program_mode = "fastcgi"          # what the stand-in reports: "cgi" or "fastcgi"

    @classmethod
    def make(cls, **kwargs):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        cls.server = cls.make(env={"HARNESS_PROBE": "probe value"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def post_webhook(self, body, secret="s3cret", extra=""):
        return servers.http_request(f"{self.server.url}/keycrm/webhook?secret={secret}{extra}",
                                    "POST", body)

    # --- what reaches the program

    def test_post_body_arrives_whole_with_content_length(self):
        body = bytes(range(256)) * 40 + b"\r\n\r\nend"
        r = self.post_webhook(body)
        self.assertEqual(r.status, 200)
        env, got = echoed(r)
        self.assertEqual(env["mode"], self.program_mode)
        self.assertEqual(env["REQUEST_METHOD"], "POST")
        self.assertEqual(env["CONTENT_LENGTH"], str(len(body)))
        self.assertEqual(env["QUERY_STRING"], "secret=s3cret")
        self.assertEqual(got, body)

    def test_config_path_and_environment_reach_every_program(self):
        urls = [("/keycrm/webhook?secret=x", "POST", None),
                ("/keycrm/sync?token=t0ken", "GET", None),
                ("/keycrm/sync?token=t0ken", "POST", None),
                ("/keycrm/settings", "GET", (USER, PASSWORD))]
        for path, method, auth in urls:
            with self.subTest(path=path, method=method):
                r = servers.http_request(self.server.url + path, method,
                                         b"" if method == "POST" else None, auth=auth)
                self.assertEqual(r.status, 200, r.body[:300])
                env, _ = echoed(r)
                self.assertEqual(env["KEYCRM_SYNC_CONFIG"], str(CONFIG))
                self.assertEqual(env["ENV_HARNESS_PROBE"], "probe value")
                self.assertEqual(env["REQUEST_METHOD"], method)
                self.assertEqual(env["QUERY_STRING"], path.partition("?")[2])

    def test_settings_needs_basic_auth_and_gets_remote_user_only(self):
        url = self.server.url + "/keycrm/settings"
        r = servers.http_request(url)
        self.assertEqual(r.status, 401)
        self.assertIn("basic", r.headers.get("www-authenticate", "").lower())
        self.assertNotIn(b"standin", r.body)
        r = servers.http_request(url, auth=(USER, "wrong"))
        self.assertEqual(r.status, 401)
        r = servers.http_request(url, auth=(USER, PASSWORD))
        self.assertEqual(r.status, 200)
        env, _ = echoed(r)
        self.assertEqual(env["REMOTE_USER"], USER)
        self.assertNotIn("HTTP_AUTHORIZATION", env, "the password must not reach the program")

    def test_only_the_exact_urls_reach_the_programs(self):
        for path in ("/keycrm/webhook/x?secret=a", "/keycrm/webhookx?secret=a",
                     "/keycrm/sync.cgi?token=a", "/keycrm/?token=a"):
            with self.subTest(path=path):
                r = servers.http_request(self.server.url + path, "POST", b"{}")
                self.assertEqual(r.status, 404)
                self.assertNotIn(b"standin", r.body)

    # --- limits

    def test_body_over_4_mib_gets_413_from_the_server(self):
        r = self.post_webhook(b"x" * (servers.WEBHOOK_MAX_BYTES + 1))
        self.assertEqual(r.status, 413)
        self.assertNotIn(b"standin", r.body, "the program must not have seen it")

    def test_body_of_exactly_4_mib_reaches_the_program(self):
        body = b"y" * servers.WEBHOOK_MAX_BYTES
        r = self.post_webhook(body)
        self.assertEqual(r.status, 200)
        env, got = echoed(r)
        self.assertEqual(env["CONTENT_LENGTH"], str(len(body)))
        self.assertEqual(len(got), len(body))

    def test_sync_and_settings_refuse_large_bodies(self):
        r = servers.http_request(self.server.url + "/keycrm/sync?token=t", "POST", b"z" * 70000)
        self.assertEqual(r.status, 413)

    # --- logs

    def test_access_logs_have_no_query_strings_for_keycrm(self):
        marks = {name: f"Q{name}{os.urandom(6).hex()}" for name in
                 ("webhook", "sync", "settings", "other", "big", "unauth")}
        url = self.server.url
        servers.http_request(f"{url}/keycrm/webhook?secret={marks['webhook']}", "POST", b"[]")
        servers.http_request(f"{url}/keycrm/sync?token={marks['sync']}")
        servers.http_request(f"{url}/keycrm/settings?x={marks['settings']}", auth=(USER, PASSWORD))
        servers.http_request(f"{url}/keycrm/settings?x={marks['unauth']}")
        servers.http_request(f"{url}/keycrm/nothing?secret={marks['other']}")
        servers.http_request(f"{url}/keycrm/webhook?secret={marks['big']}", "POST",
                             b"x" * (servers.WEBHOOK_MAX_BYTES + 1))
        wait_for_logs()
        logs = self.server.access_log_text()
        self.assertIn("/keycrm/webhook", logs, "the /keycrm/ requests must be logged")
        self.assertIn("/keycrm/sync", logs)
        for name, mark in marks.items():
            with self.subTest(request=name):
                self.assertNotIn(mark, logs)
        site_log = (self.server.log_dir / "access.log")
        if site_log.exists():
            self.assertNotIn("/keycrm/", site_log.read_text(),
                             "the site's own log must skip /keycrm/ requests")

    def test_error_log_keeps_secrets_of_normal_requests_out(self):
        mark = f"E{os.urandom(6).hex()}"
        r = self.post_webhook(b"[" + b" " * (1024 * 1024) + b"]", secret=mark)
        self.assertEqual(r.status, 200)
        wait_for_logs()
        self.assertNotIn(mark, self.server.error_log_text())

    # --- stopping

    def test_two_instances_run_side_by_side_and_stop_leaves_nothing(self):
        first = self.make().start()
        second = self.make().start()
        try:
            self.assertNotEqual(first.port, second.port)
            # A detached child like the webhook's applier under plain CGI.
            r = servers.http_request(first.url + "/keycrm/webhook?linger=120", "POST", b"[]")
            self.assertEqual(r.status, 200)
            lingering = wait_for_lingering_child(first)
            pids = first.pids()
            self.assertIn(lingering, pids)
            first.stop()
            alive = [p for p in pids if servers.pid_alive(p)]
            self.assertEqual(alive, [], f"left behind: {alive}")
            first.stop()                                  # safe twice
            r = servers.http_request(second.url + "/keycrm/webhook", "POST", b"[]")
            self.assertEqual(r.status, 200, "stopping one server must not touch another")
        finally:
            first.stop()
            second_pids = second.pids()
            second.stop()
        self.assertEqual([p for p in second_pids if servers.pid_alive(p)], [])


def wait_for_lingering_child(server):
    """PID of the stand-in's detached 'standin-linger' child of this server."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for pid in server.pids():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "standin-linger":
                    return pid
            except OSError:
                pass
        time.sleep(0.05)
    raise AssertionError("the stand-in's lingering child did not appear")


class NginxFastCGITest(ServerChecks, unittest.TestCase):
    program_mode = "fastcgi"

    @classmethod
    def make(cls, **kwargs):
        return servers.Nginx(ROOT, BINDIR, CONFIG, htpasswd=HTPASSWD, workers=2,
                             programs=servers.PROGRAMS, **kwargs)

    def test_workers_are_www_data_with_a_clean_environment(self):
        uid, _ = servers._www_ids()
        workers = [p.pid for p in self.server._workers]
        self.assertEqual(len(workers), 2 * len(servers.PROGRAMS))
        for pid in workers:
            self.assertEqual(os.stat(f"/proc/{pid}").st_uid, uid)
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            names = sorted(e.split(b"=")[0].decode() for e in environ if e)
            self.assertEqual(names, ["HARNESS_PROBE", "PATH"])

    def test_a_program_without_workers_is_a_502(self):
        with servers.Nginx(ROOT, BINDIR, CONFIG, htpasswd=HTPASSWD,
                           programs=("webhook.cgi",)) as only_webhook:
            r = servers.http_request(only_webhook.url + "/keycrm/sync?token=t")
            self.assertEqual(r.status, 502)


class NginxFcgiwrapTest(ServerChecks, unittest.TestCase):
    program_mode = "cgi"

    @classmethod
    def make(cls, **kwargs):
        return servers.Nginx(ROOT, BINDIR, CONFIG, htpasswd=HTPASSWD, workers=2,
                             programs=servers.PROGRAMS, mode="fcgiwrap", **kwargs)


class ApacheCGITest(ServerChecks, unittest.TestCase):
    program_mode = "cgi"

    @classmethod
    def make(cls, **kwargs):
        return servers.Apache(ROOT, BINDIR, CONFIG, htpasswd=HTPASSWD,
                              programs=servers.PROGRAMS, **kwargs)

    def test_children_run_as_www_data(self):
        uid, _ = servers._www_ids()
        children = [p for p in self.server.pids() if p != self.server.pid]
        self.assertTrue(children)
        for pid in children:
            self.assertEqual(os.stat(f"/proc/{pid}").st_uid, uid)


class ApacheProxyFcgiTest(ServerChecks, unittest.TestCase):
    program_mode = "fastcgi"

    @classmethod
    def make(cls, **kwargs):
        return servers.Apache(ROOT, BINDIR, CONFIG, htpasswd=HTPASSWD,
                              programs=servers.PROGRAMS, mode="proxy_fcgi", **kwargs)


class HelperTest(unittest.TestCase):
    """The harness's helpers that do not need a web server."""

    def test_run_cgi_parses_status_headers_and_body(self):
        r = servers.run_cgi(BINDIR / "webhook.cgi", {"QUERY_STRING": "a=1"}, b"hello")
        status, headers, body = r
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/plain")
        env, got = echoed(r)
        self.assertEqual((env["mode"], env["REQUEST_METHOD"], env["CONTENT_LENGTH"]),
                         ("cgi", "POST", "5"))
        self.assertEqual(got, b"hello")
        self.assertEqual(r.returncode, 0)

    def test_run_cgi_can_unset_variables_and_run_as_www_data(self):
        r = servers.run_cgi(BINDIR / "webhook.cgi", {"REQUEST_METHOD": None}, user="www-data")
        env, _ = echoed(r)
        self.assertNotIn("REQUEST_METHOD", env)

    def test_parse_cgi_output(self):
        parse = servers.parse_cgi_output
        self.assertEqual(parse(b"Status: 403 Forbidden\r\nContent-Type: x\r\n\r\nno"),
                         (403, {"status": "403 Forbidden", "content-type": "x"}, b"no"))
        self.assertEqual(parse(b"Location: /x\n\n")[0], 302)
        self.assertEqual(parse(b"Content-Type: a\n\nbody\n\nmore")[2], b"body\n\nmore")
        self.assertEqual(parse(b"Set-Cookie: a\nSet-Cookie: b\n\n")[1]["set-cookie"], "a, b")
        self.assertEqual(parse(b"plain text, no headers"), (None, {}, b"plain text, no headers"))

    def test_fastcgi_direct_through_cgi_fcgi(self):
        with servers.FastCGIDirect(ROOT, BINDIR, "webhook.cgi", workers=1,
                                   env={"HARNESS_PROBE": "direct"}) as fcgi:
            r = fcgi.request({"QUERY_STRING": "secret=x", "KEYCRM_SYNC_CONFIG": "/c"}, b"[1]")
            env, body = echoed(r)
            self.assertEqual((env["mode"], env["CONTENT_LENGTH"], env["KEYCRM_SYNC_CONFIG"],
                              env["ENV_HARNESS_PROBE"]), ("fastcgi", "3", "/c", "direct"))
            self.assertEqual(body, b"[1]")
            r = servers.cgi_fcgi_request(fcgi.socket, {"REQUEST_METHOD": "GET"})
            self.assertEqual(echoed(r)[0]["REQUEST_METHOD"], "GET")
            pids = fcgi.pids()
            self.assertEqual(len(pids), 1)
        self.assertFalse(servers.pid_alive(pids[0]))

    def test_prepare_for_www_data(self):
        uid, gid = servers._www_ids()
        st = CONFIG.stat()
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (0, gid, 0o640))
        state = ROOT / "state"
        state.mkdir()
        (state / "made-by-root").write_text("x")
        servers.prepare_for_www_data(state)
        st = state.stat()
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (uid, gid, 0o750))
        self.assertEqual((state / "made-by-root").stat().st_uid, uid)
        for path, test in ((CONFIG, "-r"), (state, "-w"), (HTPASSWD, "-r")):
            rc = subprocess.run(["runuser", "-u", "www-data", "--", "test", test, str(path)]).returncode
            self.assertEqual(rc, 0, f"www-data cannot {test} {path}")
        rc = subprocess.run(["runuser", "-u", "nobody", "--", "test", "-r", str(CONFIG)]).returncode
        self.assertNotEqual(rc, 0, "the config file must not be world-readable")

    def test_example_blocks_and_substitution(self):
        block = servers.example_block(servers.NGINX_EXAMPLE, "locations-fcgiwrap", uncomment=True)
        self.assertIn("location = /keycrm/webhook {", block)
        self.assertNotIn("# location", block)
        with self.assertRaises(ValueError):
            servers.example_block(servers.NGINX_EXAMPLE, "no-such-block")
        with self.assertRaises(ValueError):
            servers.substitute_paths("x /etc/keycrm-sync/other-file y", {})
        self.assertEqual(servers.substitute_paths("a /usr/lib/keycrm-sync/x.cgi",
                                                  {servers.INSTALLED_BINDIR: "/t/bin"}),
                         "a /t/bin/x.cgi")

    def test_every_config_variant_passes_the_servers_own_check(self):
        variants = [servers.Nginx(ROOT, BINDIR, CONFIG, htpasswd=HTPASSWD),
                    servers.Nginx(ROOT, BINDIR, CONFIG, htpasswd=HTPASSWD, mode="fcgiwrap"),
                    servers.Apache(ROOT, BINDIR, CONFIG, htpasswd=HTPASSWD),
                    servers.Apache(ROOT, BINDIR, CONFIG, htpasswd=HTPASSWD, mode="proxy_fcgi")]
        for server in variants:
            with self.subTest(server=server.kind, mode=server.mode):
                server.check_config()
                server.stop()


if __name__ == "__main__":
    unittest.main()
