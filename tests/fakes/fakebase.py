"""Shared machinery for the fake WooCommerce and KeyCRM servers.

Both fakes (``fake_woo.py`` and ``fake_keycrm.py``) are small threaded HTTP/1.1
servers built from the Python 3 standard library only.  This module holds what
they have in common:

* PHP-compatible helpers: ``php_json`` (``json_encode`` output: compact,
  ``\\/`` escaped slashes, ``\\uXXXX`` escapes), ``php_urlencode`` /
  ``php_rawurlencode`` and ``parse_php_query`` (how PHP fills ``$_GET``:
  ``+`` is a space, ``.`` and spaces in names become ``_``, ``a[b]=`` nests).
* ``FaultInjector``: latency, per-batch-item latency and fault rules
  (``status``, ``timeout``, ``drop``, ``garbage``, ``truncate``) driven by
  ``POST /_control/faults``.
* ``FakeServer``: a ``ThreadingHTTPServer`` with daemon threads, optional TLS
  done per connection in the worker thread (a client that never completes
  the handshake cannot block the accept loop), and a ``stopping`` event that
  wakes connections held by a ``timeout`` fault.
* ``FakeHandler``: request parsing (Content-Length or chunked bodies),
  response writing with an exact Content-Length and keep-alive, fault
  application and a request log hook, and the control API's skeleton
  (``/_control/NAME``): the JSON body parsed, the endpoint looked up in the
  fake's ``CONTROL`` table, run under the fake's lock when it says so, bad
  input answered 400, an unknown endpoint 404; ``health``, ``log``,
  ``log/clear`` and ``faults`` are the same on every fake.
* ``serve_main``: the command line convention shared by both fakes: bind
  127.0.0.1, print ``PORT=<n>`` on stdout once listening, serve until SIGTERM
  or SIGINT, exit 0; ``FakeProcess``, the one way the tests start a fake:
  ``--port 0`` in a subprocess, its ``PORT=`` line read, stopped by its PID.

A self-signed certificate for TLS tests can be made at test time with::

    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \\
        -addext subjectAltName=IP:127.0.0.1,DNS:localhost \\
        -keyout key.pem -out cert.pem

(keys are generated into a temporary directory and never committed).
"""

import contextlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 64 * 1024 * 1024

# --------------------------------------------------------------------------
# PHP-compatible encoding helpers
# --------------------------------------------------------------------------


def php_json(obj):
    """Encode like PHP's json_encode() with default flags (what WordPress and
    Laravel send): compact, ASCII only, '/' escaped as '\\/'."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode("ascii")


_URLENCODE_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def _percent_encode(text, space_plus, tilde_safe):
    out = []
    for byte in str(text).encode("utf-8"):
        if byte in _URLENCODE_SAFE or (tilde_safe and byte == 0x7E):
            out.append(chr(byte))
        elif byte == 0x20 and space_plus:
            out.append("+")
        else:
            out.append("%%%02X" % byte)
    return "".join(out)


def php_urlencode(text):
    """PHP urlencode(): space becomes '+', '~' is encoded."""
    return _percent_encode(text, space_plus=True, tilde_safe=False)


def php_rawurlencode(text):
    """PHP rawurlencode() (RFC 3986): space is %20, '~' stays."""
    return _percent_encode(text, space_plus=False, tilde_safe=True)


def _percent_decode(text, plus_is_space):
    if plus_is_space:
        text = text.replace("+", " ")
    raw = bytearray()
    i = 0
    data = text.encode("utf-8", "surrogateescape")
    while i < len(data):
        byte = data[i]
        if byte == 0x25 and i + 2 < len(data) and re.match(rb"[0-9A-Fa-f]{2}", data[i + 1:i + 3]):
            raw.append(int(data[i + 1:i + 3], 16))
            i += 3
        else:
            raw.append(byte)
            i += 1
    return raw.decode("utf-8", "replace")


def php_urldecode(text):
    """PHP urldecode(): '+' is a space, %XX decoded."""
    return _percent_decode(text, plus_is_space=True)


def php_rawurldecode(text):
    """PHP rawurldecode(): only %XX decoded."""
    return _percent_decode(text, plus_is_space=False)


def _php_key_parts(key):
    """Split a PHP query key 'a[b][]' into ['a', 'b', ''] the way parse_str does."""
    key = key.lstrip(" ")
    bracket = key.find("[")
    if bracket <= 0:
        return [re.sub(r"[ .]", "_", key)] if key else []
    base = re.sub(r"[ .\[]", "_", key[:bracket])
    parts = [base]
    rest = key[bracket:]
    while rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            if len(parts) == 1:  # unmatched '[' in the base: PHP keeps it as '_'
                return [re.sub(r"[ .\[]", "_", key)]
            break
        parts.append(rest[1:close])
        rest = rest[close + 1:]
    return parts


def parse_php_query(query):
    """Parse a query string (or form body) like PHP fills $_GET/$_POST.

    Returns an insertion-ordered dict; 'a[b]=1' nests into {'a': {'b': '1'}},
    'a[]=1' appends with keys '0', '1', ...  Later duplicates win, keeping the
    position of the first occurrence (PHP semantics)."""
    result = {}
    if not query:
        return result
    for pair in query.split("&"):
        if not pair:
            continue
        name, sep, value = pair.partition("=")
        parts = _php_key_parts(php_urldecode(name))
        if not parts or parts[0] == "":
            continue
        value = php_urldecode(value) if sep else ""
        target = result
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if part == "" and depth > 0:
                part = str(sum(1 for k in target if k.isdigit()))
            if last:
                target[part] = value
            else:
                child = target.get(part)
                if not isinstance(child, dict):
                    child = {}
                    target[part] = child
                target = child
    return result


def now_gmt():
    """Current time as WordPress prints GMT dates (second resolution)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())


def json_number(value):
    """Render a float that is integral as an int (KeyCRM/PHP style)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    return value


# --------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------

FAULT_ACTIONS = ("status", "timeout", "drop", "garbage", "truncate")


class FaultConfigError(ValueError):
    pass


class FaultInjector:
    """Latency and scripted faults for the API (non-control) paths.

    Configuration (``POST /_control/faults``)::

        {"latency_ms": N, "per_item_ms": N,
         "workers": N (a php-fpm pool: at most N API requests served at
                       once, the rest wait; 0 = no limit),
         "rules": [{"method": "GET|POST|...|*", "path_prefix": "/wp-json/...",
                    "times": N (-1 = forever, default 1), "skip": N (let N
                    matching requests pass first, default 0),
                    "action": "status|timeout|drop|garbage|truncate",
                    "status": 500, "body": "...", "content_type": "...",
                    "headers": {...}, "retry_after": N,
                    "hold_s": 30 (timeout only),
                    "apply": false (true: process the request, changing
                             state, then replace the answer with the fault)}]}

    ``{}`` clears everything.  The snapshot also tells the most API
    requests that were ever in flight at once (``max_in_flight``) since the
    last configuration."""

    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self):
        with self._lock:
            self.latency_ms = 0
            self.per_item_ms = 0
            self.rules = []
            self.workers = 0
            self.pool = None
            self.in_flight = self.max_in_flight = 0

    def configure(self, config):
        if not isinstance(config, dict):
            raise FaultConfigError("faults config must be an object")
        rules = []
        for raw in config.get("rules") or []:
            rules.append(self._check_rule(raw))
        workers = int(config.get("workers") or 0)
        if workers < 0:
            raise FaultConfigError("workers must be 0 or more")
        with self._lock:
            self.latency_ms = float(config.get("latency_ms") or 0)
            self.per_item_ms = float(config.get("per_item_ms") or 0)
            self.rules = rules
            self.workers = workers
            self.pool = threading.Semaphore(workers) if workers else None
            self.in_flight = self.max_in_flight = 0

    def enter(self):
        """An API request starts being served (after waiting for a worker)."""
        pool = self.pool
        if pool is not None:
            pool.acquire()
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return pool

    def leave(self, pool):
        with self._lock:
            self.in_flight -= 1
        if pool is not None:
            pool.release()

    @staticmethod
    def _check_rule(raw):
        if not isinstance(raw, dict):
            raise FaultConfigError("each rule must be an object")
        rule = dict(raw)
        rule.setdefault("method", "*")
        rule.setdefault("path_prefix", "/")
        rule.setdefault("times", 1)
        rule.setdefault("skip", 0)
        rule.setdefault("action", "status")
        if rule["action"] not in FAULT_ACTIONS:
            raise FaultConfigError("unknown action %r" % rule["action"])
        rule["method"] = str(rule["method"]).upper()
        rule["hits"] = 0
        return rule

    def snapshot(self):
        with self._lock:
            return {"latency_ms": self.latency_ms, "per_item_ms": self.per_item_ms,
                    "workers": self.workers, "max_in_flight": self.max_in_flight,
                    "rules": [dict(r) for r in self.rules]}

    def match(self, method, path):
        """Return a copy of the first rule that fires for this request, or None."""
        with self._lock:
            for rule in self.rules:
                if rule["method"] not in ("*", method):
                    continue
                if not path.startswith(rule["path_prefix"]):
                    continue
                if rule["times"] == 0:
                    continue
                if rule["skip"] > 0:
                    rule["skip"] -= 1
                    continue
                if rule["times"] > 0:
                    rule["times"] -= 1
                rule["hits"] += 1
                return dict(rule)
        return None


# --------------------------------------------------------------------------
# Server and handler
# --------------------------------------------------------------------------


class Response:
    """An HTTP answer waiting to be written."""

    def __init__(self, status, body=b"", headers=None, content_type="application/json; charset=UTF-8"):
        self.status = status
        self.body = body if isinstance(body, bytes) else str(body).encode("utf-8")
        self.headers = list(headers or [])
        self.content_type = content_type


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, handler_class, ssl_context=None):
        super().__init__(address, handler_class)
        self.ssl_context = ssl_context
        self.stopping = threading.Event()
        self.faults = FaultInjector()

    @property
    def port(self):
        return self.server_address[1]

    @property
    def scheme(self):
        return "https" if self.ssl_context else "http"

    def finish_request(self, request, client_address):
        conn = request
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if self.ssl_context is not None:
            try:
                request.settimeout(10)
                conn = self.ssl_context.wrap_socket(request, server_side=True)
                conn.settimeout(None)
            except (ssl.SSLError, OSError):
                return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            if conn is not request:
                try:
                    conn.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        # Client resets and timeouts are normal here; stay quiet.
        pass

    def stop(self):
        self.stopping.set()
        self.shutdown()
        self.server_close()

    def start_background(self):
        """Serve in a daemon thread (for in-process use); returns the thread."""
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        return thread


class FakeHandler(BaseHTTPRequestHandler):
    """Common request plumbing. Subclasses implement ``handle_api`` (returns
    a Response), ``record`` (the request log) and their control endpoints:
    ``CONTROL`` maps a name under /_control/ to (methods or None for any,
    the name of a method taking the JSON payload, whether it runs under
    ``control_lock()``); the method returns a Response or what to answer
    200 as JSON.  ``control_log()`` and ``control_log_clear()`` give the
    request log to the common endpoints."""

    protocol_version = "HTTP/1.1"
    server_version = "nginx/1.22.1"
    timeout = 300  # idle keep-alive connections are closed after this
    control_prefix = "/_control/"

    # ---- plumbing -------------------------------------------------------

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    @property
    def is_tls(self):
        return self.server.ssl_context is not None

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        length = int(length)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length)

    def _dispatch(self):
        self.t0 = time.time()
        raw_path, _, raw_query = self.path.partition("?")
        self.raw_path = raw_path
        self.raw_query = raw_query
        self.query = parse_php_query(raw_query)
        try:
            self.body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send_answer(Response(400, b'{"message":"bad request body"}'))
            return
        if raw_path.startswith(self.control_prefix) or raw_path == self.control_prefix.rstrip("/"):
            self.send_answer(self.handle_control())
            self.after_answer()
            return
        self._serve_api()

    def _serve_api(self):
        faults = self.server.faults
        pool = faults.enter()
        try:
            self._serve_api_in_worker(faults)
            self.after_answer()  # still on the worker: it stays busy
        finally:
            faults.leave(pool)

    def _serve_api_in_worker(self, faults):
        rule = faults.match(self.command, self.raw_path)
        if faults.latency_ms:
            self.server.stopping.wait(faults.latency_ms / 1000.0)
        if rule is not None and not rule.get("apply"):
            self.record(self._fault_status(rule), fault=rule["action"])
            self.apply_fault(rule, None)
            return
        response = self.handle_api()
        items = getattr(self, "batch_items", None)
        if items and faults.per_item_ms:
            self.server.stopping.wait(items * faults.per_item_ms / 1000.0)
        if rule is not None:
            self.record(self._fault_status(rule, response), fault=rule["action"])
            self.apply_fault(rule, response)
            return
        # Log first: the entry exists before the client can see the answer.
        self.record(response.status)
        self.send_answer(response)

    @staticmethod
    def _fault_status(rule, response=None):
        if rule["action"] == "status":
            return int(rule.get("status", 500))
        if rule["action"] == "garbage":
            return int(rule.get("status", 200))
        if rule["action"] == "truncate":
            return response.status if response else int(rule.get("status", 200))
        return None  # timeout/drop: no answer

    # ---- answers --------------------------------------------------------

    def default_headers(self):
        """Headers sent with every API answer (subclasses extend)."""
        return []

    def send_answer(self, response, declared_length=None, body_override=None):
        body = response.body if body_override is None else body_override
        try:
            self.send_response(response.status)
            if response.content_type:
                self.send_header("Content-Type", response.content_type)
            for name, value in response.headers:
                self.send_header(name, value)
            length = len(response.body) if declared_length is None else declared_length
            self.send_header("Content-Length", str(length))
            if self.close_connection:
                self.send_header("Connection", "close")
            else:
                self.send_header("Connection", "keep-alive")
            # Headers and body in one write: no Nagle / delayed-ACK stalls.
            self._headers_buffer.append(b"\r\n")
            if self.command != "HEAD":
                self._headers_buffer.append(body)
            self.flush_headers()
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _hard_close(self):
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def apply_fault(self, rule, response):
        action = rule["action"]
        if action == "timeout":
            self.server.stopping.wait(float(rule.get("hold_s", 30)))
            self._hard_close()
        elif action == "drop":
            self._hard_close()
        elif action == "status":
            self.send_answer(self._fault_response(rule))
        elif action == "garbage":
            body = rule.get("body", "<html><head><title>Database Error</title></head><body>"
                                    "<h1>Error establishing a database connection</h1></body></html>")
            self.send_answer(Response(int(rule.get("status", 200)), body, self._rule_headers(rule),
                                      rule.get("content_type", "text/html; charset=UTF-8")))
        elif action == "truncate":
            if response is None:
                response = self.fault_default_response(200)
            body = response.body
            self.close_connection = True
            self.send_answer(response, declared_length=max(len(body), 1),
                             body_override=body[:len(body) // 2])
            self._hard_close()

    @staticmethod
    def _rule_headers(rule):
        headers = [(str(k), str(v)) for k, v in (rule.get("headers") or {}).items()]
        if rule.get("retry_after") is not None:
            headers.append(("Retry-After", str(rule["retry_after"])))
        return headers

    def _fault_response(self, rule):
        status = int(rule.get("status", 500))
        headers = self._rule_headers(rule)
        if "body" in rule:
            body = rule["body"]
            if not isinstance(body, str):
                body = php_json(body).decode()
            ctype = rule.get("content_type") or (
                "application/json; charset=UTF-8" if body.lstrip()[:1] in ("{", "[") else "text/html; charset=UTF-8")
            return Response(status, body, headers, ctype)
        response = self.fault_default_response(status)
        response.headers.extend(headers)
        return response

    def fault_default_response(self, status):
        return Response(status, php_json({"message": "Injected fault", "status": status}))

    # ---- the control API -------------------------------------------------

    COMMON_CONTROL = {
        "health": (None, "control_health", True),
        "log": (None, "control_log", True),
        "log/clear": ("POST", "control_log_clear", True),
        "faults": (None, "control_faults", True),
    }
    CONTROL = {}
    CONTROL_ERRORS = (KeyError, TypeError, ValueError, FaultConfigError)

    def handle_control(self):
        try:
            payload = self.json_body() if self.command in ("POST", "PUT") else {}
        except ValueError:
            return control_json(400, {"error": "invalid JSON"})
        name = self.raw_path[len(self.control_prefix):]
        entry = self.CONTROL.get(name) or self.COMMON_CONTROL.get(name)
        if entry is None or (entry[0] is not None and self.command not in entry[0].split()):
            return control_json(404, {"error": "no such control endpoint"})
        methods, handler, locked = entry
        try:
            if locked:
                with self.control_lock():
                    answer = getattr(self, handler)(payload)
            else:
                answer = getattr(self, handler)(payload)
        except self.CONTROL_ERRORS as error:
            return control_json(400, {"error": "%s: %s" % (type(error).__name__, error)})
        return answer if isinstance(answer, Response) else control_json(200, answer)

    def control_lock(self):
        """What a locked control endpoint runs under (the fake's state lock)."""
        return contextlib.nullcontext()

    def control_health(self, payload):
        return {"ok": True}

    def control_faults(self, payload):
        if self.command == "POST":
            self.server.faults.configure(payload)
        return self.server.faults.snapshot()

    def control_log(self, payload):
        raise NotImplementedError

    def control_log_clear(self, payload):
        raise NotImplementedError

    # ---- hooks for subclasses --------------------------------------------

    def handle_api(self):
        raise NotImplementedError

    def after_answer(self):
        """Work done after the answer was sent, before the connection is read again."""

    def record(self, status, fault=None):
        pass

    # ---- small utilities --------------------------------------------------

    def json_body(self):
        """The body parsed as JSON, or raise ValueError."""
        if not self.body.strip():
            return {}
        return json.loads(self.body.decode("utf-8"))


def control_json(status, obj):
    """A control-API answer (plain JSON, unescaped slashes)."""
    return Response(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"),
                    content_type="application/json; charset=utf-8")


def make_ssl_context(cert_file, key_file):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def serve_main(server):
    """Run a built server as a subprocess: print PORT=, serve until SIGTERM."""
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = server.start_background()
    sys.stdout.write("PORT=%d\n" % server.port)
    sys.stdout.flush()
    while not stop.is_set() and thread.is_alive():
        stop.wait(0.5)
    server.stopping.set()
    server.shutdown()
    server.server_close()
    return 0


class FakeProcess:
    """A fake (a script next to this file, or a path) started in a subprocess
    on a free port of 127.0.0.1: ``.port``, ``.proc``; ``stop()`` ends it by
    its PID (SIGTERM, then SIGKILL) and returns its exit status.  Its stderr
    goes to a file, shown when it does not start."""

    def __init__(self, script, *args, python=None):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), script)
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([python or sys.executable or "/usr/bin/python3", path,
                                      "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("PORT="):
            self.stop()
            self.stderr.seek(0)
            raise RuntimeError("%s did not start: %r %s" % (
                script, line, self.stderr.read().decode(errors="replace")))
        self.port = int(line[5:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode
