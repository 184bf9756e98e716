#!/usr/bin/python3
"""Checks the catalogues against the messages the sources mark.

    tests/check_po.py TEMPLATE.pot LANG.po...

Every msgid of the template (xgettext's extraction of _(), N_() and
kc_ntr()) must be in each catalogue with a translation: not empty, not
fuzzy, every plural form filled (as many as its Plural-Forms says), and
the same printf directives in the same order as the English text.  Every
translation in the catalogue, used or not, carries the same HTML markup
(tags and character references) as its English text: page formats are
trusted HTML, so a translation must not add or drop any.  Prints what is
wrong and exits 1; msgfmt --check (run by the build) checks the syntax and
the c-format entries again."""
import re
import sys

DIRECTIVE = re.compile(r"%(?:\d+\$)?[-+ #0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?"
                       r"(?:hh|h|ll|l|L|q|j|z|Z|t)?[diouxXeEfFgGaAcspnm%]")


def unquote(s):
    out, i = [], 0
    s = s[1:-1]
    esc = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "r": "\r", "a": "\a", "b": "\b",
           "f": "\f", "v": "\v"}
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            i += 1
            if s[i] in esc:
                out.append(esc[s[i]])
            elif s[i] in "01234567":
                j = i
                while j < len(s) and j < i + 3 and s[j] in "01234567":
                    j += 1
                out.append(chr(int(s[i:j], 8)))
                i = j - 1
            else:
                raise ValueError(f"unknown escape \\{s[i]}")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def read_po(path):
    """Entries as dicts: msgctxt, msgid, msgid_plural, msgstr (list), flags,
    obsolete, line."""
    entries, cur, field = [], None, None

    def finish():
        if cur is not None and "msgid" in cur:
            entries.append(cur)

    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            obsolete = line.startswith("#~")
            if obsolete:
                line = line[2:].lstrip()
            if not line.strip():
                continue
            if line.startswith("#"):
                if cur is not None and "msgid" in cur and field is not None:
                    finish()
                    cur, field = None, None
                if cur is None:
                    cur = {"flags": set(), "msgstr": {}, "line": lineno}
                if line.startswith("#,"):
                    cur["flags"].update(x.strip() for x in line[2:].split(","))
                continue
            m = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")$', line)
            if m:
                key = m.group(1)
                if key in ("msgctxt", "msgid") and cur is not None and "msgid" in cur:
                    finish()
                    cur = None
                if cur is None:
                    cur = {"flags": set(), "msgstr": {}, "line": lineno}
                cur["obsolete"] = obsolete
                if key.startswith("msgstr"):
                    field = ("msgstr", int(m.group(2) or 0))
                    cur["msgstr"][field[1]] = unquote(m.group(3))
                else:
                    field = key
                    cur[key] = unquote(m.group(3))
                continue
            if line.startswith('"') and cur is not None and field is not None:
                if isinstance(field, tuple):
                    cur["msgstr"][field[1]] += unquote(line)
                else:
                    cur[field] += unquote(line)
                continue
            raise SystemExit(f"{path}:{lineno}: cannot read: {line}")
    finish()
    return entries


MARKUP = re.compile(r"<[^>]*>|&#?\w+;")


def markup(s):
    return sorted(MARKUP.findall(s))


def directives(s):
    return [d for d in DIRECTIVE.findall(s) if d != "%%"]


def check(pot, po):
    problems = []
    header = {}
    catalogue = {}
    for e in read_po(po):
        if e.get("obsolete"):
            continue
        if e["msgid"] == "" and "msgctxt" not in e:
            for line in e["msgstr"].get(0, "").split("\n"):
                if ":" in line:
                    k, v = line.split(":", 1)
                    header[k.strip()] = v.strip()
            continue
        catalogue[(e.get("msgctxt"), e["msgid"])] = e
    m = re.search(r"nplurals\s*=\s*(\d+)", header.get("Plural-Forms", ""))
    if not m:
        problems.append(f"{po}: no Plural-Forms in the header")
        nplurals = 2
    else:
        nplurals = int(m.group(1))
    for key, t in catalogue.items():
        forms = [f for f in t["msgstr"].values() if f]
        english = [key[1]] + ([t["msgid_plural"]] if "msgid_plural" in t else [])
        want = markup(english[0])
        if any(markup(x) != want for x in english[1:]):
            want = None
        for f in forms:
            if want is not None and markup(f) != want:
                problems.append(f"{po}:{t['line']}: HTML markup {markup(f)} differs from "
                                f"{want}: {key[1]!r}")
    wanted = [e for e in read_po(pot) if not e.get("obsolete") and e["msgid"] != ""]
    for e in wanted:
        key = (e.get("msgctxt"), e["msgid"])
        where = f"{po} (from line {e['line']} of the template)"
        t = catalogue.get(key)
        if t is None:
            problems.append(f"{where}: not translated: {e['msgid']!r}")
            continue
        if "fuzzy" in t["flags"]:
            problems.append(f"{po}:{t['line']}: fuzzy: {e['msgid']!r}")
        if "msgid_plural" in e:
            if t.get("msgid_plural") != e["msgid_plural"]:
                problems.append(f"{po}:{t['line']}: plural differs from the source: {e['msgid']!r}")
            forms = [t["msgstr"].get(i, "") for i in range(nplurals)]
        else:
            forms = [t["msgstr"].get(0, "")]
        if any(f == "" for f in forms):
            problems.append(f"{po}:{t['line']}: empty translation: {e['msgid']!r}")
            continue
        if "c-format" in e["flags"] or "c-format" in t["flags"]:
            want = directives(e["msgid"])
            for f in forms:
                if directives(f) != want:
                    problems.append(f"{po}:{t['line']}: printf directives {directives(f)} "
                                    f"differ from {want}: {e['msgid']!r}")
    return problems, len(wanted)


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    failed = False
    for po in argv[2:]:
        problems, n = check(argv[1], po)
        for p in problems:
            print(p)
        print(f"check-po: {po}: {n} messages, {len(problems)} problems")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
