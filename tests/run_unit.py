#!/usr/bin/python3
"""Runs the cmocka unit-test binaries given on the command line and ends
with one line 'N passed, N failed' over all of them."""
import re
import subprocess
import sys


def main(binaries):
    passed = failed = 0
    for binary in binaries:
        proc = subprocess.run([binary], capture_output=True, text=True)
        out = proc.stdout + proc.stderr
        ran = sum(int(n) for n in re.findall(r"\[==========\] (\d+) test\(s\) run", out))
        bad = sum(int(n) for n in re.findall(r"\[  FAILED  \] (\d+) test\(s\)", out))
        if proc.returncode != 0 and bad == 0:
            bad = max(1, ran)   # crashed or a sanitizer stopped it
        passed += ran - bad
        failed += bad
        status = "ok" if proc.returncode == 0 and bad == 0 else "FAIL"
        print(f"{status:4} {binary}: {ran - bad}/{ran}")
        if status != "ok":
            print(out)
    print(f"unit: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
