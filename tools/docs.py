#!/usr/bin/python3
"""Writes the configuration key tables of README.md, docs/keycrm-sync.8 and
contrib/keycrm-sync.conf.example from the one table in lib/config_keys.c.

    tools/docs.py --tool build/config-keys            rewrite the marked regions (make docs)
    tools/docs.py --tool build/config-keys --check    exit 1 if one differs (make check-docs)
    --root DIR                                        the tree to work on (default: this one)

Each file has a line containing "BEGIN keys" and one containing "END keys"; what is between
them is the output of `config-keys FORMAT` and nothing else.
"""
import argparse
import difflib
import subprocess
import sys
from pathlib import Path

FILES = (("README.md", "readme"), ("docs/keycrm-sync.8", "man"),
         ("contrib/keycrm-sync.conf.example", "example"))


def region(lines, path):
    begin = [i for i, ln in enumerate(lines) if "BEGIN keys" in ln]
    end = [i for i, ln in enumerate(lines) if "END keys" in ln]
    if len(begin) != 1 or len(end) != 1 or begin[0] > end[0]:
        raise SystemExit(f"{path}: needs one 'BEGIN keys' line and one 'END keys' line after it")
    return begin[0] + 1, end[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    stale = []
    for name, fmt in FILES:
        path = Path(args.root) / name
        want = subprocess.run([args.tool, fmt], check=True, capture_output=True,
                              text=True).stdout.splitlines(keepends=True)
        lines = path.read_text().splitlines(keepends=True)
        a, b = region(lines, path)
        if lines[a:b] == want:
            continue
        if args.check:
            stale.append(name)
            sys.stdout.writelines(difflib.unified_diff(lines[a:b], want, f"{name} (now)",
                                                       f"{name} (from lib/config_keys.c)"))
        else:
            path.write_text("".join(lines[:a] + want + lines[b:]))
            print(f"  DOCS {name}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run make docs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
