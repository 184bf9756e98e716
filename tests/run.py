#!/usr/bin/python3
"""Runs the integration tests: the fakes' own tests, the server harness's
tests, and the tests of the real binaries behind real servers.

    tests/run.py                 everything
    tests/run.py test_webhook    modules whose name contains the word
    KC_BINDIR=build/asan/cgi-bin KC_SANITIZED=1 tests/run.py
    KC_STORE=mysql tests/run.py  the tests of the programs again, the state in
                                 a private MariaDB server (make check-integration-mysql)

Under KC_STORE=mysql the fakes' and the harness's own tests are not run again,
nor the modules that set STORE_INDEPENDENT (they never touch the state, or pick
their store themselves).  Ends with one line 'integration: N passed, N failed, N skipped'.  Under
KC_SANITIZED=1 any AddressSanitizer/UBSan report fails the run.
"""
import os
import sys
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "integration"))
sys.path.insert(0, str(HERE / "fakes"))
sys.path.insert(0, str(HERE / "harness"))

SUITES = [HERE / "fakes", HERE / "harness", HERE / "integration"]

class Result(unittest.TextTestResult):
    """Prints one line per test with its duration."""

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def _line(self, word, test):
        took = time.monotonic() - getattr(self, "_started", time.monotonic())
        self.stream.write(f"{word:5} {test.id()} ({took:.1f}s)\n")
        self.stream.flush()

    def addSuccess(self, test):
        unittest.TestResult.addSuccess(self, test)
        self._line("ok", test)

    def addFailure(self, test, err):
        unittest.TestResult.addFailure(self, test, err)
        self._line("FAIL", test)

    def addError(self, test, err):
        unittest.TestResult.addError(self, test, err)
        self._line("ERROR", test)

    def addSkip(self, test, reason):
        unittest.TestResult.addSkip(self, test, reason)
        self._line("skip", test)


def main(words):
    import importlib
    mysql = os.environ.get("KC_STORE") == "mysql"
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for folder in SUITES[2:] if mysql else SUITES:
        for path in sorted(folder.glob("test_*.py")):
            if words and not any(w in path.stem for w in words):
                continue
            module = importlib.import_module(path.stem)
            if mysql and getattr(module, "STORE_INDEPENDENT", False):
                print(f"not again with KC_STORE=mysql: {path.stem}")
                continue
            suite.addTests(loader.loadTestsFromModule(module))
    runner = unittest.TextTestRunner(stream=sys.stdout, resultclass=Result, verbosity=0)
    result = runner.run(suite)
    failed = len(result.failures) + len(result.errors)
    reports = []
    if os.environ.get("KC_SANITIZED") == "1":
        import kctest
        reports = kctest.sanitizer_reports()
        for text in reports:
            print("sanitizer report:\n" + text)
        failed += len(reports)
    passed = result.testsRun - len(result.failures) - len(result.errors) - len(result.skipped)
    print(f"integration: {passed} passed, {failed} failed, {len(result.skipped)} skipped")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
