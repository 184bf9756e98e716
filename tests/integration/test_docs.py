"""The key tables of README.md, docs/keycrm-sync.8 and contrib/keycrm-sync.conf.example are
written from the one table in lib/config_keys.c (`make docs`: tools/config-keys.c prints it,
tools/docs.py puts it between the "BEGIN keys" and "END keys" lines). These tests fail when
one of the three no longer matches the program's table, and show that the check notices a
drift in each file.
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import kctest

# Run once, not again under KC_STORE=mysql (tests/run.py): checks documents, no state.
STORE_INDEPENDENT = True

REPO = kctest.REPO
TOOL = REPO / "build" / "config-keys"
FILES = ("README.md", "docs/keycrm-sync.8", "contrib/keycrm-sync.conf.example")


def setUpModule():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    out = subprocess.run(["make", "-C", str(REPO), "BUILD=build", "build/config-keys"],
                         capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise AssertionError(f"building config-keys failed:\n{out.stdout}\n{out.stderr}")


def check(root):
    return subprocess.run(["python3", str(REPO / "tools/docs.py"), "--tool", str(TOOL),
                           "--root", str(root), "--check"], capture_output=True, text=True,
                          timeout=60)


def region(text):
    return text.split("BEGIN keys", 1)[1].split("END keys", 1)[0]


def program_keys():
    """The keys lib/config_keys.c knows, in its order."""
    return re.findall(r'\[KC_KEY_\w+\] = \{ "(\w+)"', (REPO / "lib/config_keys.c").read_text())


class KeyTables(unittest.TestCase):
    def test_the_three_tables_match_the_programs_table(self):
        out = check(REPO)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_every_key_the_program_knows_is_in_each_table_once_in_order(self):
        keys = program_keys()
        self.assertIn("log_level", keys)
        self.assertGreater(len(keys), 15)
        shapes = {"README.md": r"(?m)^\| `(\w+)` \|",
                  "docs/keycrm-sync.8": r"(?m)^\.It Cm (\w+)$",
                  "contrib/keycrm-sync.conf.example": r"(?m)^# (\w+) =(?: |$)"}
        for name, shape in shapes.items():
            with self.subTest(file=name):
                self.assertEqual(re.findall(shape, region((REPO / name).read_text())), keys)

    def test_a_drift_in_any_file_is_caught_and_make_docs_repairs_it(self):
        edits = {
            "README.md": ("| `60` |", "| `30` |"),
            "docs/keycrm-sync.8": (".It Cm log_level\n", ""),
            "contrib/keycrm-sync.conf.example": ("# sync_max_seconds = 240",
                                                 "# sync_max_seconds = 300"),
        }
        for name, (old, new) in edits.items():
            with self.subTest(file=name), tempfile.TemporaryDirectory() as tmp:
                for f in FILES:
                    (Path(tmp) / f).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(REPO / f, Path(tmp) / f)
                text = (Path(tmp) / name).read_text()
                self.assertIn(old, region(text))
                (Path(tmp) / name).write_text(text.replace(old, new, 1))
                out = check(tmp)
                self.assertEqual(out.returncode, 1, out.stdout)
                self.assertIn(f"out of date: {name}", out.stderr)
                fix = subprocess.run(["python3", str(REPO / "tools/docs.py"), "--tool",
                                      str(TOOL), "--root", tmp], capture_output=True,
                                     text=True, timeout=60)
                self.assertEqual(fix.returncode, 0, fix.stderr)
                self.assertEqual((Path(tmp) / name).read_text(), text)
                self.assertEqual(check(tmp).returncode, 0)

    def test_the_help_in_the_table_reaches_the_documents(self):
        # A sentence only lib/config_keys.c holds shows up in all three.
        for name in FILES:
            self.assertIn("stops cleanly after this many seconds",
                          re.sub(r"\s+", " ", region((REPO / name).read_text()).replace("# ", "")),
                          name)


class ShopInstall(unittest.TestCase):
    """README's "Install on your shop": one complete apt-get line, no test tooling."""

    def section(self):
        text = (REPO / "README.md").read_text()
        return text.split("## Install on your shop", 1)[1].split("\n## Try it", 1)[0]

    def test_one_apt_get_line_with_everything_the_programs_need_and_no_test_tooling(self):
        lines = re.findall(r"(?ms)^apt-get install (.*?[^\\])$", self.section())
        self.assertEqual(len(lines), 1, "one apt-get line")
        packages = set(lines[0].replace("\\\n", " ").split())
        build = set(re.search(r'PACKAGES="([^"]*)"', (REPO / "tests/install-deps.sh")
                              .read_text()).group(1).split())
        # What make, make install, keycrm-sync-workers, htpasswd and the cron line need.
        needed = {"build-essential", "pkg-config", "libcurl4-openssl-dev", "libjansson-dev",
                  "libfcgi-dev", "libsqlite3-dev", "libssl-dev", "libunistring-dev",
                  "ca-certificates", "spawn-fcgi", "apache2-utils", "wget", "cron",
                  "logrotate", "gettext", "libmariadb-dev"}
        self.assertEqual(packages, needed)
        # Every library the build links (the -dev packages of install-deps.sh, less the
        # tests' own) is on the line, so a new one cannot be forgotten there.
        libraries = {p for p in build if p.endswith("-dev")} - {"libcmocka-dev",
                                                                 "libclang-rt-14-dev"}
        self.assertEqual(libraries - packages, set())
        for tooling in ("libcmocka-dev", "valgrind", "chromium", "clang", "apache2",
                        "nginx-light", "wrk", "fcgiwrap"):
            self.assertIn(tooling, build | {"apache2"})
            self.assertNotIn(tooling, packages)
        # The steps in the order the issue asks: configure, first-install choice, then cron.
        sec = self.section()
        order = [sec.index(h) for h in ("### 4. The configuration file", "### 6. The workers",
                                        "### 8. The first sync", "### 9. Cron")]
        self.assertEqual(order, sorted(order))
        self.assertNotIn("make check", sec)
        self.assertNotIn("make demo", sec)

    def test_no_sudo_and_no_broken_stop_command_in_the_documents(self):
        for name in ("README.md", "docs/keycrm-sync.8", "nginx-example.conf",
                     "apache-example.conf", "contrib/keycrm-sync-setup",
                     "contrib/keycrm-sync-workers", "Makefile"):
            text = (REPO / name).read_text().replace("no `sudo` needed", "")
            self.assertNotIn("sudo", text, name)
            # Debian's spawn-fcgi ends no PID file with a newline: cat *.pid runs the PIDs
            # together into one number.
            self.assertNotIn("cat /run/keycrm-sync/*.pid", text, name)


if __name__ == "__main__":
    unittest.main()
