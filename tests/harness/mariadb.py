"""A real MariaDB server for the tests: Debian's mariadb-server, run as the test's own process.

Why this exists: shops on several web servers keep keycrm-sync's state in the MariaDB/MySQL
server WordPress already uses, so the store is tested against that server, not a stand-in. Each
instance gets a private data directory, socket and TCP port under a directory the test owns, is
never reached through the machine's default socket, and is stopped by PID (an atexit hook stops
whatever a test forgot).

    db = MariaDB(); db.start()
    db.create_database("kc", user="kc", password="...")   # grants on that database only
    db.sql("SELECT 1")                                       # as the server's root, via its socket
    db.restart(); db.kill(); db.stop()
"""

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

_LIVE = set()


@atexit.register
def _stop_all():
    for inst in list(_LIVE):
        try:
            inst.stop()
        except Exception:             # best effort at exit; stop() reports in normal use
            pass


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available():
    """Whether Debian's mariadb-server (and its client) are installed here."""
    return bool(shutil.which("mariadbd") or os.path.exists("/usr/sbin/mariadbd")) \
        and bool(shutil.which("mariadb-install-db")) and bool(shutil.which("mariadb"))


class MariaDB:
    """One private MariaDB server on 127.0.0.1 and a Unix socket of its own."""

    def __init__(self, root=None, extra_args=()):
        self.dir = Path(root or tempfile.mkdtemp(prefix="kc-mariadb-"))
        self.extra_args = list(extra_args)     # e.g. --ssl-cert=... for a TLS server
        self.datadir = self.dir / "data"
        self.socket = str(self.dir / "mysqld.sock")
        self.pidfile = self.dir / "mysqld.pid"
        self.log = self.dir / "error.log"
        self.port = 0
        self.proc = None

    def _daemon(self):
        return shutil.which("mariadbd") or "/usr/sbin/mariadbd"

    def _install(self):
        self.datadir.mkdir(parents=True, exist_ok=True)
        mysql = pwd.getpwnam("mysql")
        os.chown(self.dir, mysql.pw_uid, mysql.pw_gid)
        os.chown(self.datadir, mysql.pw_uid, mysql.pw_gid)
        subprocess.run(["mariadb-install-db", "--no-defaults", "--user=mysql",
                        f"--datadir={self.datadir}", "--skip-test-db",
                        "--auth-root-authentication-method=socket"],
                       check=True, capture_output=True, timeout=120)

    def start(self, timeout=60):
        """Initialises the data directory the first time, then starts and waits for the server."""
        if not (self.datadir / "mysql").is_dir():
            self._install()
        self.port = self.port or _free_port()
        args = [self._daemon(), "--no-defaults", "--user=mysql",
                f"--datadir={self.datadir}", f"--socket={self.socket}",
                f"--port={self.port}", "--bind-address=127.0.0.1",
                f"--pid-file={self.pidfile}", f"--log-error={self.log}",
                "--skip-name-resolve", "--skip-log-bin",
                "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
                "--character-set-server=utf8mb4", "--max-connections=200",
                *self.extra_args]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        _LIVE.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited {self.proc.returncode}:\n{self.tail()}")
            if os.path.exists(self.socket) and self._ping():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"mariadbd did not start in {timeout} s:\n{self.tail()}")

    def _ping(self):
        r = subprocess.run(["mariadb", "--no-defaults", "-S", self.socket, "-u", "root",
                            "-e", "SELECT 1"], capture_output=True, timeout=10)
        return r.returncode == 0

    def tail(self, lines=30):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no error log)"

    def sql(self, statements, database=None):
        """Runs SQL as the server's root through its socket; returns the rows as tab-split lists."""
        args = ["mariadb", "--no-defaults", "-S", self.socket, "-u", "root", "-N", "-B"]
        if database:
            args.append(database)
        r = subprocess.run(args, input=statements, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"SQL failed: {r.stderr.strip()}")
        return [line.split("\t") for line in r.stdout.splitlines()]

    def create_database(self, name, user, password):
        """A database and a user with rights on it alone, from the socket and from 127.0.0.1."""
        self.sql(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4;\n"
                 + "".join(f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY "
                           f"'{password}';\nGRANT SELECT, INSERT, UPDATE, DELETE, CREATE, "
                           f"ALTER, INDEX, DROP ON `{name}`.* TO '{user}'@'{host}';\n"
                           for host in ("localhost", "127.0.0.1")))

    def stop(self, timeout=60):
        """SIGTERM by PID, and wait: the server shuts down cleanly."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _LIVE.discard(self)

    def kill(self):
        """SIGKILL: the server dies as in a crash; start() brings it back with its data."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        _LIVE.discard(self)

    def restart(self):
        self.stop()
        return self.start()

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
