"""Real web servers and FastCGI workers for the integration tests, on 127.0.0.1 only.

Why this exists: the programs must work behind the servers users actually run, configured
the way the example configs tell them to. So the server configurations here are *generated
from the user-facing examples* (nginx-example.conf, apache-example.conf at the top of the
repository): the harness takes the blocks between "# BEGIN keycrm-sync <name>" and
"# END keycrm-sync <name>", replaces only the installed paths (programs, configuration file,
password file, sockets, log directory) and wraps them in a minimal top-level configuration
with its own port. An example that stops working fails the tests.

Every server gets a private directory under a root the test owns (separate directories and
free ports, so servers can run in parallel), runs its workers as www-data with a clean
environment (as on a real install), and is stopped by PID; nothing is left behind, and an
atexit hook stops whatever a test forgot. Root is required (spawn-fcgi -u www-data, nginx
and Apache switching to www-data).

Public API (see each docstring):
    Nginx, Apache, FastCGIDirect          servers with .start() .stop() .url .pids() ...
    SocketActivated                       one program started like the systemd units do
    run_cgi, cgi_fcgi_request, http_request -> Response (unpacks as status, headers, body)
    parse_cgi_output, make_htpasswd, prepare_for_www_data, free_port, pid_alive,
    build_standin, example_block
"""

import atexit
import base64
import grp
import http.client
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[2]
NGINX_EXAMPLE = REPO / "nginx-example.conf"
APACHE_EXAMPLE = REPO / "apache-example.conf"
STANDIN_SOURCE = Path(__file__).resolve().parent / "standin.c"

WWW_USER = "www-data"
CLEAN_PATH = "/usr/bin:/bin"
PROGRAMS = ("webhook.cgi", "sync.cgi", "settings.cgi")
WEBHOOK_MAX_BYTES = 4194304          # webhook_max_bytes default; the examples' server limit
START_TIMEOUT = 15.0
STOP_GRACE = 5.0
APACHE_MODULE_DIR = "/usr/lib/apache2/modules"
NGINX_FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"
FCGIWRAP = "/usr/sbin/fcgiwrap"

# Installed paths as the example configs spell them -> what the harness substitutes.
INSTALLED_CONFIG = "/etc/keycrm-sync/keycrm-sync.conf"
INSTALLED_HTPASSWD = "/etc/keycrm-sync/htpasswd"
INSTALLED_BINDIR = "/usr/lib/keycrm-sync"
INSTALLED_RUNDIR = "/run/keycrm-sync"
INSTALLED_FCGIWRAP_SOCKET = "/run/fcgiwrap.socket"
INSTALLED_NGINX_LOGDIR = "/var/log/nginx"
# Anything still starting with one of these after substitution is a path the harness does
# not know about: fail loudly instead of touching the real system.
INSTALLED_PREFIXES = ("/etc/keycrm-sync", "/usr/lib/keycrm-sync", "/run/keycrm-sync",
                      "/run/fcgiwrap", "/var/log/", "/var/www")


# --------------------------------------------------------------------------------------------
# Small helpers

def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (servers retry if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _require_root():
    """The harness switches users (www-data) like a real install; that needs root."""
    if os.geteuid() != 0:
        raise PermissionError("the server harness must run as root (it starts workers as www-data)")


def _www_ids():
    """(uid, gid) of www-data."""
    return pwd.getpwnam(WWW_USER).pw_uid, grp.getgrnam(WWW_USER).gr_gid


def _www_can_search(st):
    """Whether www-data may traverse a directory with this stat (owner/group/other bits)."""
    uid, gid = _www_ids()
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _open_ancestors(path):
    """Let www-data reach `path`: its test-owned ancestors get o+x (search, not listing).

    Test roots come from tempfile.mkdtemp (mode 0700), which www-data cannot enter. Only
    directories strictly inside the system temp directory are changed; anything else that
    blocks the way is an error that says what to do, rather than a silent chmod of, say, /root.
    """
    tmp = Path(tempfile.gettempdir()).resolve()
    target = Path(path).resolve()
    for d in reversed(target.parents):
        st = d.stat()
        if _www_can_search(st):
            continue
        if tmp in d.parents:
            os.chmod(d, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
        else:
            raise PermissionError(
                f"www-data cannot reach {target}: {d} is not searchable by it; "
                f"use a directory under {tmp} or chmod o+x {d}")


def prepare_for_www_data(path):
    """Give a file or directory the ownership a real install gives it; returns the Path.

    - a directory (a state_dir): owned by www-data, 0750, recursively (files a root test run
      created inside must stay writable by the workers);
    - an executable: root:www-data 0750; any other file (the config file, htpasswd):
      root:www-data 0640, which is what the programs expect of a file holding secrets.
    The ancestors inside the temp directory are made searchable (see _open_ancestors).
    """
    _require_root()
    path = Path(path)
    uid, gid = _www_ids()
    _open_ancestors(path)
    if path.is_dir():
        for dirpath, dirnames, filenames in os.walk(path):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)
        os.chown(path, uid, gid)
        os.chmod(path, 0o750)
    else:
        os.chown(path, 0, gid)
        executable = path.stat().st_mode & 0o111
        os.chmod(path, 0o750 if executable else 0o640)
    return path


def make_htpasswd(path, user, password):
    """Create an htpasswd file (bcrypt, `htpasswd -ciB`) readable by www-data; returns the Path.

    The password goes through stdin (-i) rather than the command line, so it is not in `ps`.
    """
    path = Path(path)
    subprocess.run(["htpasswd", "-ciB", str(path), user], input=password.encode(),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
    prepare_for_www_data(path)
    return path


def build_standin(dest_dir, names=PROGRAMS):
    """Compile tests/harness/standin.c into dest_dir under each of `names`; returns dest_dir.

    The stand-in echoes what reaches a program (variables, body), so the server plumbing can
    be tested without the real programs. dest_dir can be used as `bindir` of the servers.
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    binary = dest / "standin"
    subprocess.run(["cc", "-std=c99", "-O1", "-Wall", "-Wextra", "-o", str(binary),
                    str(STANDIN_SOURCE), "-lfcgi"], check=True, timeout=120)
    for name in names:
        shutil.copy2(binary, dest / name)
    return dest


# --------------------------------------------------------------------------------------------
# Example configs: marked blocks and path substitution

def example_block(path, name, uncomment=False):
    """Text between '# BEGIN keycrm-sync NAME' and '# END keycrm-sync NAME' in an example.

    With uncomment=True (blocks shipped commented out), a line whose first non-blank text is
    '##' stays a comment and any other '# ' / '#' prefix is removed, keeping the indentation.
    """
    lines = Path(path).read_text().splitlines()
    begin, end = f"# BEGIN keycrm-sync {name}", f"# END keycrm-sync {name}"
    starts = [i for i, line in enumerate(lines) if line.strip() == begin]
    ends = [i for i, line in enumerate(lines) if line.strip() == end]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"{path}: need exactly one '{begin}' ... '{end}' pair")
    block = lines[starts[0] + 1:ends[0]]
    if uncomment:
        block = [_uncomment(line) for line in block]
    return "\n".join(block) + "\n"


def _uncomment(line):
    """Remove one level of '# ' from a configuration line; keep '##' explanations."""
    m = re.match(r"^(\s*)#(?!#) ?(.*)$", line)
    return m.group(1) + m.group(2) if m else line


def substitute_paths(text, mapping):
    """Replace installed paths (longest first) and refuse any installed path left over."""
    for old in sorted(mapping, key=len, reverse=True):
        text = text.replace(old, str(mapping[old]))
    for prefix in INSTALLED_PREFIXES:
        # Only where a path starts (not inside a substituted path such as .../run/fcgiwrap.sock).
        if re.search(r"(?<![\w./-])" + re.escape(prefix), text):
            raise ValueError(f"example config uses a path the harness does not substitute: "
                             f"{prefix}... (teach tests/harness/servers.py about it)")
    return text


def _indent(text, prefix):
    return "".join(prefix + line if line.strip() else line
                   for line in text.splitlines(keepends=True))


# --------------------------------------------------------------------------------------------
# Processes, by PID (with their start time, so a recycled PID is never mistaken for ours)

class _Proc(NamedTuple):
    pid: int
    start: int


def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name, or None if there is no such process."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return data[data.rindex(")") + 2:].split()


def _ident(pid):
    fields = _stat_fields(pid)
    return _Proc(pid, int(fields[19])) if fields else None


def pid_alive(pid, start=None):
    """Whether PID is a live process (a zombie counts as gone), optionally the same one as
    recorded by its start time."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X", "x"):
        return False
    return start is None or int(fields[19]) == start


def _all_pids():
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def _descendants(pid):
    """Every live descendant of pid (found through /proc, parent links)."""
    parents = {}
    for p in _all_pids():
        fields = _stat_fields(p)
        if fields:
            parents.setdefault(int(fields[1]), []).append(p)
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return [x for x in (_ident(p) for p in found) if x]


def _running_from(directory):
    """Processes whose executable or argv lives under `directory`.

    Why: the programs are copied into each server's private bin/, so this finds everything
    running them, including what escaped the process tree (the webhook's detached applier
    under plain CGI runs in its own session, a child of init).
    """
    prefix = str(Path(directory).resolve()) + "/"
    found = []
    for pid in _all_pids():
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            exe = ""
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            argv = []
        if exe.startswith(prefix) or any(a.startswith(prefix) for a in argv):
            ident = _ident(pid)
            if ident:
                found.append(ident)
    return found


def _terminate(procs, grace=STOP_GRACE):
    """SIGTERM, wait up to `grace`, then SIGKILL, wait again. Returns those still alive."""
    procs = [p for p in set(procs) if p and p.pid != os.getpid() and pid_alive(p.pid, p.start)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in procs:
            if pid_alive(p.pid, p.start):
                try:
                    os.kill(p.pid, sig)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        while procs and time.monotonic() < deadline:
            procs = [p for p in procs if pid_alive(p.pid, p.start)]
            if procs:
                time.sleep(0.05)
        if not procs:
            return []
    return procs


# --------------------------------------------------------------------------------------------
# Responses and clients

class Response:
    """An answer: .status (int, or None if the output had no CGI header block), .headers
    (dict, lower-case name -> value, repeated headers joined with ', '), .body (bytes); for
    programs run directly also .stderr (bytes) and .returncode.
    Unpacks as (status, headers, body)."""

    def __init__(self, status, headers, body, stderr=b"", returncode=None):
        self.status, self.headers, self.body = status, headers, body
        self.stderr, self.returncode = stderr, returncode

    def __iter__(self):
        return iter((self.status, self.headers, self.body))

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {len(self.body)} bytes>"


def parse_cgi_output(raw):
    """Split CGI/FastCGI program output into (status, headers, body).

    Status comes from a 'Status:' header, else 302 with 'Location:', else 200 (RFC 3875
    6.3); (None, {}, raw) if the output does not start with a header block.
    """
    seps = [(raw.find(s), s) for s in (b"\r\n\r\n", b"\n\n") if raw.find(s) >= 0]
    if not seps:
        return None, {}, raw
    idx, sep = min(seps)
    headers = {}
    for line in raw[:idx].decode("latin-1").splitlines():
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            return None, {}, raw
        name, value = name.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if "status" in headers:
        status = int(headers["status"].split()[0])
    elif "location" in headers:
        status = 302
    else:
        status = 200
    return status, headers, raw[idx + len(sep):]


def _cgi_env(env, body):
    """A CGI environment: a clean base, the caller's variables (None removes one), and
    CONTENT_LENGTH from the body unless given."""
    full = {"PATH": CLEAN_PATH, "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": "POST" if body else "GET"}
    if body:
        full["CONTENT_LENGTH"] = str(len(body))
    for k, v in (env or {}).items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = str(v)
    return full


def run_cgi(binary, env=None, body=b"", timeout=60, user=None):
    """Run a program directly as plain CGI; returns a Response (status, headers, body, ...).

    env: CGI variables on top of a clean base (PATH, GATEWAY_INTERFACE, SERVER_PROTOCOL,
    REQUEST_METHOD: POST with a body, else GET; CONTENT_LENGTH from the body); a value of None
    removes a variable. user: e.g. "www-data" to run as the web server would, so files it
    creates in state_dir have the right owner.
    """
    body = body.encode() if isinstance(body, str) else (body or b"")
    kwargs = {}
    if user is not None:
        kwargs = {"user": user, "group": grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name,
                  "extra_groups": []}
    proc = subprocess.run([str(binary)], input=body, env=_cgi_env(env, body),
                          capture_output=True, timeout=timeout, **kwargs)
    status, headers, out = parse_cgi_output(proc.stdout)
    return Response(status, headers, out, proc.stderr, proc.returncode)


def cgi_fcgi_request(sock, env=None, body=b"", timeout=60):
    """One FastCGI request to a worker socket with `cgi-fcgi -bind -connect`, no web server.

    env/body as for run_cgi (cgi-fcgi sends its whole environment as the request's params).
    Returns a Response.
    """
    body = body.encode() if isinstance(body, str) else (body or b"")
    proc = subprocess.run(["cgi-fcgi", "-bind", "-connect", str(sock)], input=body,
                          env=_cgi_env(env, body), capture_output=True, timeout=timeout)
    status, headers, out = parse_cgi_output(proc.stdout)
    return Response(status, headers, out, proc.stderr, proc.returncode)


def http_request(url, method="GET", body=None, headers=None, auth=None, timeout=60):
    """A plain HTTP/1.1 request; returns a Response (headers lower-cased).

    Unlike urllib it (1) returns 4xx/5xx answers instead of raising, and (2) still reads the
    answer when the server refuses a large body early (413) and stops reading it, which makes
    the upload fail with EPIPE/ECONNRESET half-way. auth=(user, password) adds Basic auth.
    """
    u = urllib.parse.urlsplit(url)
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    body = body.encode() if isinstance(body, str) else body
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        conn.putrequest(method, target)
        hdrs = dict(headers or {})
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            hdrs["Authorization"] = f"Basic {token}"
        if body is not None:
            hdrs.setdefault("Content-Length", str(len(body)))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        try:
            conn.endheaders()
            view = memoryview(body or b"")
            for i in range(0, len(view), 65536):
                conn.sock.sendall(view[i:i + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass                      # the server answered early; read what it said
        resp = conn.getresponse()
        data = resp.read()
        hmap = {}
        for k, v in resp.getheaders():
            k = k.lower()
            hmap[k] = f"{hmap[k]}, {v}" if k in hmap else v
        return Response(resp.status, hmap, data)
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# Servers

_LIVE = set()


@atexit.register
def _stop_all():
    """Stop whatever a test forgot to stop, so no server outlives the test run."""
    for inst in list(_LIVE):
        try:
            inst.stop()
        except Exception:             # best effort at exit; stop() reports in normal use
            pass


class _PortTaken(Exception):
    """The chosen port was taken between free_port() and the server's bind: retry."""


class _Instance:
    """A private directory under `root` plus the processes started in it.

    Layout: bin/ (copied programs; www-data may not be able to read the build tree), run/
    (sockets, pid files), logs/, tmp/ (server temp files), htdocs/ (an empty document root).
    """
    kind = "server"

    def __init__(self, root, bindir, programs, env):
        _require_root()
        self.root = Path(root)
        self.bindir = Path(bindir) if bindir is not None else None
        self.programs = tuple(programs)
        self.env = {k: str(v) for k, v in (env or {}).items()}
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.kind}-", dir=self.root))
        if any(c.isspace() for c in str(self.dir)):
            raise ValueError(f"server directory must not contain blanks: {self.dir}")
        _, gid = _www_ids()
        for sub in ("", "bin", "run", "logs", "tmp", "htdocs"):
            d = self.dir / sub
            d.mkdir(exist_ok=True)
            os.chown(d, 0, gid)
            os.chmod(d, 0o750)
        _open_ancestors(self.dir)
        self.port = None
        self._popen = None
        self._workers = []            # _Proc of spawn-fcgi'd processes
        self._logfiles = []
        self._stopped = False

    # paths
    @property
    def bin_dir(self):
        return self.dir / "bin"

    @property
    def run_dir(self):
        return self.dir / "run"

    @property
    def log_dir(self):
        return self.dir / "logs"

    @property
    def url(self):
        """http://127.0.0.1:PORT of a started server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        """PID of the server's main process (nginx master, Apache parent), or None."""
        return self._popen.pid if self._popen is not None else None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        """Start everything; on failure stop what was started and re-raise."""
        _LIVE.add(self)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        raise NotImplementedError

    def _copy_programs(self, names=None):
        """Copy the programs from bindir into the private bin/ (root:www-data 0750)."""
        _, gid = _www_ids()
        for name in names if names is not None else self.programs:
            src = self.bindir / name
            if not src.is_file():
                raise FileNotFoundError(f"{src} does not exist (not built yet?)")
            dst = self.bin_dir / name
            shutil.copy2(src, dst)
            os.chown(dst, 0, gid)
            os.chmod(dst, 0o750)
        # The message catalogues, found next to the programs as in the build tree.
        locale = self.bindir / "locale"
        if locale.is_dir() and not (self.bin_dir / "locale").exists():
            shutil.copytree(locale, self.bin_dir / "locale")
            for d, _, files in os.walk(self.bin_dir / "locale"):
                os.chmod(d, 0o755)
                for f in files:
                    os.chmod(os.path.join(d, f), 0o644)

    def _clean_env(self):
        """What `env -i PATH=/usr/bin:/bin` plus the test's entries (e.g. ASAN_OPTIONS) gives."""
        env = {"PATH": CLEAN_PATH}
        env.update(self.env)
        return env

    def _log(self, name):
        f = open(self.log_dir / name, "ab")
        self._logfiles.append(f)
        return f

    def _spawn_fcgi(self, name, argv, workers):
        """Start `workers` FastCGI processes of argv as www-data on run/NAME.sock (0660).

        spawn-fcgi binds the socket, forks the workers and exits, so the socket is ready when
        it returns; its -P file holds one PID per worker.
        """
        sock, pidfile = self.run_dir / f"{name}.sock", self.run_dir / f"{name}.pid"
        cmd = ["spawn-fcgi", "-s", str(sock), "-M", "0660", "-U", WWW_USER, "-G", WWW_USER,
               "-u", WWW_USER, "-g", WWW_USER, "-F", str(workers), "-P", str(pidfile),
               "--", *map(str, argv)]
        log = self._log(f"{name}.stderr")
        proc = subprocess.run(cmd, env=self._clean_env(), cwd=self.dir, stdin=subprocess.DEVNULL,
                              stdout=log, stderr=log, timeout=30, start_new_session=True)
        pids = [int(x) for x in pidfile.read_text().split()] if pidfile.exists() else []
        self._workers.extend(x for x in map(_ident, pids) if x)
        if proc.returncode != 0 or len(pids) != workers:
            raise RuntimeError(f"spawn-fcgi for {name} failed (exit {proc.returncode}): "
                               f"{(self.log_dir / f'{name}.stderr').read_text(errors='replace')}")
        return sock

    def _tracked(self):
        """Every process this instance is responsible for, right now."""
        procs = list(self._workers)
        roots = list(self._workers)
        if self._popen is not None and self._popen.poll() is None:
            main = _ident(self._popen.pid)
            if main:
                procs.append(main)
                roots.append(main)
        for r in roots:
            if pid_alive(r.pid, r.start):
                procs.extend(_descendants(r.pid))
        procs.extend(_running_from(self.bin_dir))
        return [p for p in set(procs) if pid_alive(p.pid, p.start)]

    def pids(self):
        """PIDs of all live processes of this instance: the server, its children, the
        FastCGI workers (and fcgiwrap's children), anything running the copied programs."""
        return sorted(p.pid for p in self._tracked())

    def kill(self):
        """SIGKILL the server, its workers and everything running its programs at
        once, as a machine that dies would: nothing gets to clean up.  stop() after
        this only closes the logs."""
        procs = [p for p in self._tracked() if p.pid != os.getpid()]
        for p in procs:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._popen is not None:
            self._popen.wait(timeout=10)
        left = _terminate(procs + _running_from(self.bin_dir), grace=5)
        if left:
            raise RuntimeError(f"{self.kind}: could not kill PIDs {[p.pid for p in left]}")

    def stop(self):
        """Stop the server, then every worker and leftover by PID (TERM, then KILL).

        Safe to call twice. Raises RuntimeError if something could not be killed.
        """
        if self._stopped:
            return
        self._stopped = True
        procs = self._tracked()
        if self._popen is not None:
            if self._popen.poll() is None:
                self._popen.terminate()
                try:
                    self._popen.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._popen.kill()
                    self._popen.wait(timeout=10)
        left = _terminate(procs)
        left += _terminate(_running_from(self.bin_dir))
        for f in self._logfiles:
            f.close()
        _LIVE.discard(self)
        if left:
            raise RuntimeError(f"{self.kind}: could not stop PIDs {[p.pid for p in left]}")

    # logs
    def _read_logs(self, names):
        parts = []
        for path in sorted(self.log_dir.glob("*")):
            if path.is_file() and any(re.fullmatch(n, path.name) for n in names):
                text = path.read_text(errors="replace")
                if text:
                    parts.append(f"==> {path.name} <==\n{text}")
        return "\n".join(parts)

    def error_log_text(self):
        """The server's error log and the workers' stderr, each under a '==> name <==' line."""
        return self._read_logs([r"error\.log", r".*\.stderr"])

    def access_log_text(self):
        """Every access log of the server (the site's and keycrm-sync's), concatenated."""
        return self._read_logs([r".*access.*\.log"])

    def _wait_ready(self, what):
        """Wait until our server answers on the port.

        Readiness is proved by a probe URL under /keycrm/ showing up in *our* access log, so a
        different process that grabbed the port cannot pass for our server.
        """
        probe = f"/keycrm/harness-probe-{secrets.token_hex(6)}"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._popen.poll() is not None:
                text = self.error_log_text()
                if "Address already in use" in text or "could not bind" in text:
                    raise _PortTaken()
                raise RuntimeError(f"{what} exited with status {self._popen.returncode}:\n{text}")
            try:
                http_request(self.url + probe, timeout=2)
            except OSError:
                time.sleep(0.05)
                continue
            for _ in range(40):
                if probe in self.access_log_text():
                    return
                time.sleep(0.05)
            raise _PortTaken()
        raise RuntimeError(f"{what} did not answer on port {self.port} within "
                           f"{START_TIMEOUT}s:\n{self.error_log_text()}")

    def _start_server(self, what, fixed_port, write_config, argv):
        """(Re)write the config for a port, check it, start the server, retry if the port
        was taken meanwhile (unless the caller fixed the port)."""
        for _ in range(1 if fixed_port else 5):
            self.port = fixed_port or free_port()
            write_config()
            self.check_config()
            self._popen = subprocess.Popen(argv, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                      "LANG": "C"},
                                           cwd=self.dir, stdin=subprocess.DEVNULL,
                                           stdout=self._log(f"{self.kind}.stderr"),
                                           stderr=subprocess.STDOUT, start_new_session=True)
            try:
                self._wait_ready(what)
                return
            except _PortTaken:
                if self._popen.poll() is None:
                    self._popen.terminate()
                self._popen.wait(timeout=10)
        raise RuntimeError(f"{what}: port {self.port} stayed busy")

    def _install_paths(self, htpasswd, config_path):
        """Installed path (as written in the examples) -> this instance's path."""
        return {
            INSTALLED_CONFIG: config_path,
            INSTALLED_HTPASSWD: htpasswd,
            INSTALLED_BINDIR: self.bin_dir,
            INSTALLED_RUNDIR: self.run_dir,
            INSTALLED_FCGIWRAP_SOCKET: self.run_dir / "fcgiwrap.sock",
            INSTALLED_NGINX_LOGDIR: self.log_dir,
        }

    def _default_htpasswd(self):
        """A password file with random credentials, so the settings location is always
        protected even when a test does not care about logging in."""
        return make_htpasswd(self.dir / "htpasswd", "harness", secrets.token_hex(16))


def _nginx_temp_path_directives():
    """The *_temp_path directives this nginx build knows (from `nginx -V`), so every temp
    directory points into the private dir instead of /var/lib/nginx."""
    out = subprocess.run(["nginx", "-V"], capture_output=True, text=True, timeout=30).stderr
    return [m.replace("-", "_") + "_temp_path"
            for m in re.findall(r"--http-([a-z-]+)-temp-path=", out)]


class Nginx(_Instance):
    """nginx + FastCGI workers, configured from nginx-example.conf.

    Nginx(root, bindir, config_path, htpasswd=None, workers=2, programs=("webhook.cgi",),
          env=None, mode="fastcgi", port=None)
      root        a directory the test owns; the server's private dir is created inside
      bindir      where the built programs are (they are copied, only those in `programs`)
      config_path the keycrm-sync config file (passed as KEYCRM_SYNC_CONFIG); the test writes
                  it and calls prepare_for_www_data() on it
      htpasswd    password file for /keycrm/settings (default: one with random credentials)
      workers     FastCGI processes per program (spawn-fcgi -F), or fcgiwrap children
      env         extra environment of the workers (e.g. ASAN_OPTIONS), on top of
                  `env -i PATH=/usr/bin:/bin`
      mode        "fastcgi": blocks http + locations-common + locations-fastcgi, one
                  spawn-fcgi socket per program; "fcgiwrap": locations-fcgiwrap uncommented
                  (plain CGI) instead of locations-fastcgi
      port        fixed port (default: a free one, retried if taken)
    """
    kind = "nginx"

    def __init__(self, root, bindir, config_path, htpasswd=None, workers=2,
                 programs=("webhook.cgi",), env=None, mode="fastcgi", port=None,
                 example=NGINX_EXAMPLE):
        if mode not in ("fastcgi", "fcgiwrap"):
            raise ValueError(f"unknown nginx mode {mode!r}")
        super().__init__(root, bindir, programs, env)
        self.config_path = Path(config_path)
        self.htpasswd = Path(htpasswd) if htpasswd else None
        self.workers, self.mode, self.fixed_port = workers, mode, port
        self.example = Path(example)
        self.conf_file = self.dir / "nginx.conf"

    def config_text(self):
        """The generated nginx.conf for the current port."""
        paths = self._install_paths(self.htpasswd or self.dir / "htpasswd", self.config_path)
        http_block = substitute_paths(example_block(self.example, "http"), paths)
        site_log = substitute_paths(example_block(self.example, "site-log"), paths)
        locations = example_block(self.example, "locations-common")
        if self.mode == "fastcgi":
            locations += example_block(self.example, "locations-fastcgi")
        else:
            locations += example_block(self.example, "locations-fcgiwrap", uncomment=True)
        locations = substitute_paths(locations, paths)
        tmp = self.dir / "tmp"
        temp_paths = "".join(f"    {d} {tmp / d.replace('_temp_path', '')};\n"
                             for d in _nginx_temp_path_directives())
        return f"""\
# Generated by tests/harness/servers.py from {self.example.name} (mode {self.mode}).
daemon off;
master_process on;
worker_processes 1;
user {WWW_USER} {WWW_USER};
pid {self.run_dir}/nginx.pid;
error_log {self.log_dir}/error.log notice;
events {{
    worker_connections 256;
}}
http {{
    default_type application/octet-stream;
    # The site's own log in the combined format, which records query strings, with the
    # condition the example tells users to add to it. The /keycrm/ locations keep their
    # requests out of it; the condition, those refused before any location applies.
{_indent(site_log, "    ")}{temp_paths}
{_indent(http_block, "    ")}
    server {{
        listen 127.0.0.1:{self.port};
        server_name localhost;
        root {self.dir / "htdocs"};

{_indent(locations, "    ")}
    }}
}}
"""

    def _write_config(self):
        # "include fastcgi_params" is relative to the config's directory.
        shutil.copy(NGINX_FASTCGI_PARAMS, self.dir / "fastcgi_params")
        self.conf_file.write_text(self.config_text())

    def check_config(self):
        """`nginx -t` on the generated config; raises RuntimeError with nginx's output."""
        if not self.conf_file.exists():
            self.port = self.port or free_port()
            self._write_config()
        proc = subprocess.run(["nginx", "-t", "-p", str(self.dir), "-c", str(self.conf_file),
                               "-e", str(self.log_dir / "error.log")],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{proc.stderr}\n--- {self.conf_file}:\n"
                               f"{self.conf_file.read_text()}")
        return proc.stderr

    def _start(self):
        self._copy_programs()
        if self.htpasswd is None:
            self.htpasswd = self._default_htpasswd()
        if self.mode == "fastcgi":
            for name in self.programs:
                self._spawn_fcgi(name.rsplit(".", 1)[0], [self.bin_dir / name], self.workers)
        else:
            self._spawn_fcgi("fcgiwrap", [FCGIWRAP, "-c", self.workers], 1)
        self._start_server("nginx", self.fixed_port, self._write_config,
                           ["nginx", "-p", str(self.dir), "-c", str(self.conf_file),
                            "-e", str(self.log_dir / "error.log")])


APACHE_MODULES = {
    "cgi": ["mpm_event", "cgid", "alias", "authn_core", "authn_file", "authz_core",
            "authz_user", "auth_basic", "mime", "env", "setenvif"],
    "proxy_fcgi": ["mpm_event", "proxy", "proxy_fcgi", "alias", "authn_core", "authn_file",
                   "authz_core", "authz_user", "auth_basic", "mime", "env", "setenvif"],
}


def _apache_quote(value):
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Apache(_Instance):
    """Apache 2.4, configured from apache-example.conf, running as www-data.

    Apache(root, bindir, config_path, htpasswd=None, programs=("webhook.cgi",), env=None,
           mode="cgi", workers=2, port=None)
      mode  "cgi": blocks log + cgi, plain CGI through mod_cgid (ScriptSock in run/);
            "proxy_fcgi": blocks log + proxy-fcgi (with Define KEYCRM_SYNC_FASTCGI), FastCGI
            through mod_proxy_fcgi to spawn-fcgi workers (`workers` per program)
      env   reaches the programs: SetEnv lines generated here (not in the user-facing block)
            for plain CGI; the workers' process environment for proxy_fcgi
    Other arguments as for Nginx.
    """
    kind = "apache"

    def __init__(self, root, bindir, config_path, htpasswd=None, programs=("webhook.cgi",),
                 env=None, mode="cgi", workers=2, port=None, example=APACHE_EXAMPLE):
        if mode not in APACHE_MODULES:
            raise ValueError(f"unknown apache mode {mode!r}")
        super().__init__(root, bindir, programs, env)
        self.config_path = Path(config_path)
        self.htpasswd = Path(htpasswd) if htpasswd else None
        self.workers, self.mode, self.fixed_port = workers, mode, port
        self.example = Path(example)
        self.conf_file = self.dir / "httpd.conf"

    def config_text(self):
        """The generated httpd.conf for the current port."""
        paths = self._install_paths(self.htpasswd or self.dir / "htpasswd", self.config_path)
        variant = "cgi" if self.mode == "cgi" else "proxy-fcgi"
        blocks = example_block(self.example, "log") + example_block(self.example, variant)
        blocks = substitute_paths(blocks, paths)
        modules = "".join(f"LoadModule {m}_module {APACHE_MODULE_DIR}/mod_{m}.so\n"
                          for m in APACHE_MODULES[self.mode])
        setenv = ""
        if self.mode == "cgi":
            setenv = "".join(f"    SetEnv {k} {_apache_quote(v)}\n" for k, v in self.env.items())
        define = "Define KEYCRM_SYNC_FASTCGI\n" if self.mode == "proxy_fcgi" else ""
        cgid = f"ScriptSock {self.run_dir}/cgid.sock\n" if self.mode == "cgi" else ""
        run, logs = self.run_dir, self.log_dir
        return f"""\
# Generated by tests/harness/servers.py from {self.example.name} (mode {self.mode}).
Define APACHE_LOG_DIR {logs}
{define}ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
PidFile {run}/apache2.pid
DefaultRuntimeDir {run}
Mutex file:{run} default
User {WWW_USER}
Group {WWW_USER}
ErrorLog {logs}/error.log
LogLevel warn
# Debian's apache2.conf values that matter here.
Timeout 300
KeepAlive On
KeepAliveTimeout 5
HostnameLookups Off
{modules}{cgid}TypesConfig /etc/mime.types
<IfModule mpm_event_module>
    StartServers 1
    ServerLimit 2
    ThreadsPerChild 16
    MaxRequestWorkers 32
    MinSpareThreads 4
    MaxSpareThreads 32
</IfModule>
LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{{Referer}}i\\" \\"%{{User-Agent}}i\\"" combined
<Directory />
    Options FollowSymLinks
    AllowOverride None
    Require all denied
</Directory>
<Directory {self.dir / "htdocs"}>
    Require all granted
</Directory>
<VirtualHost 127.0.0.1:{self.port}>
    ServerName 127.0.0.1
    DocumentRoot {self.dir / "htdocs"}
    # Harness only: environment for the programs (e.g. ASAN_OPTIONS).
{setenv}
{_indent(blocks, "    ")}
</VirtualHost>
"""

    def _write_config(self):
        self.conf_file.write_text(self.config_text())

    def check_config(self):
        """`apache2 -t` on the generated config; raises RuntimeError with Apache's output."""
        if not self.conf_file.exists():
            self.port = self.port or free_port()
            self._write_config()
        proc = subprocess.run(["apache2", "-t", "-f", str(self.conf_file)],
                              capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})
        if proc.returncode != 0:
            raise RuntimeError(f"apache2 -t failed:\n{proc.stderr}\n--- {self.conf_file}:\n"
                               f"{self.conf_file.read_text()}")
        return proc.stderr

    def _start(self):
        self._copy_programs()
        if self.htpasswd is None:
            self.htpasswd = self._default_htpasswd()
        if self.mode == "proxy_fcgi":
            for name in self.programs:
                self._spawn_fcgi(name.rsplit(".", 1)[0], [self.bin_dir / name], self.workers)
        self._start_server("apache2", self.fixed_port, self._write_config,
                           ["apache2", "-f", str(self.conf_file), "-DFOREGROUND"])


class FastCGIDirect(_Instance):
    """One program as spawn-fcgi workers on a Unix socket, for FastCGI tests without a server.

    FastCGIDirect(root, bindir, program, workers=1, env=None)
      .start() -> self; .socket (Path); .request(env=None, body=b"", timeout=60) -> Response
      (through cgi-fcgi); .pids(); .stop(); .error_log_text() (the workers' stderr).
    """
    kind = "fastcgi"

    def __init__(self, root, bindir, program, workers=1, env=None):
        super().__init__(root, bindir, (program,), env)
        self.program, self.workers = program, workers
        self.socket = None

    def _start(self):
        self._copy_programs()
        self.socket = self._spawn_fcgi(self.program.rsplit(".", 1)[0],
                                       [self.bin_dir / self.program], self.workers)

    def request(self, env=None, body=b"", timeout=60):
        return cgi_fcgi_request(self.socket, env, body, timeout)


class SocketActivated(_Instance):
    """One program started the way contrib/systemd/keycrm-sync@.socket + .service start it:
    the listening socket on fd 0 (StandardInput=socket), stderr into logs/NAME.stderr (where
    systemd has the journal), as www-data with only PATH and `env` (the Environment= lines),
    without spawn-fcgi. Unlike spawn-fcgi, which sends the workers' stderr to /dev/null, this
    keeps the programs' own log lines for the tests to read.

    SocketActivated(root, binary, env=None, socket_path=None)
      binary       the program, run where it is (e.g. an installed file; www-data must be
                   able to reach it)
      env          the process environment besides PATH (e.g. KEYCRM_SYNC_WORKERS)
      socket_path  where to listen (default run/NAME.sock in the private dir); a path in a
                   server's run/ (e.g. Nginx(..., programs=()).run_dir / "webhook.sock")
                   puts the program behind that server
      .start() -> self; .pid (the process started); .process (its Popen: .wait(),
      .returncode); .socket; .request(env=None, body=b"", timeout=60) -> Response (through
      cgi-fcgi); .pids(); .stop(); .error_log_text()
    """
    kind = "socket"

    def __init__(self, root, binary, env=None, socket_path=None):
        super().__init__(root, None, (), env)
        self.binary = Path(binary)
        self.name = self.binary.name.rsplit(".", 1)[0]
        self.socket = Path(socket_path) if socket_path else self.run_dir / f"{self.name}.sock"

    @property
    def process(self):
        return self._popen

    def _start(self):
        uid, gid = _www_ids()
        if self.socket.exists() or self.socket.is_symlink():
            self.socket.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(self.socket))
            os.chown(self.socket, uid, gid)
            os.chmod(self.socket, 0o660)
            listener.listen(128)
            # Our copy of the socket is closed once the program has its own: when the
            # program is gone, clients are refused at once instead of waiting.
            self._popen = subprocess.Popen(
                [str(self.binary)], stdin=listener.fileno(), stdout=subprocess.DEVNULL,
                stderr=self._log(f"{self.name}.stderr"), env=self._clean_env(), cwd="/",
                user=WWW_USER, group=WWW_USER, extra_groups=[], start_new_session=True)
        finally:
            listener.close()

    def request(self, env=None, body=b"", timeout=60):
        return cgi_fcgi_request(self.socket, env, body, timeout)
