#!/usr/bin/env python3
"""An independent count of functions for `polyshm assess` (README, "Assess").

Not a parser: a tokenizer of its own (comments, strings, raw strings, chars and
lifetimes told apart) and a scan for the keyword `fn` followed by a name whose
signature reaches a `{` before a `;` (so trait and extern declarations, and `fn`
pointer types, are not functions), outside macro invocations (`name! { … }`,
`macro_rules! name { … }`), whose bodies assess does not parse either.

    scripts/assess-check.py ASSESS_JSON
        compares, per file, with the functions of `polyshm assess PATH --json ASSESS_JSON`
        (files that did not parse for assess are left out) and prints the totals.
"""
import json
import os
import re
import sys

# `for !` (the never type) is no macro call: keywords never name a macro
KEYWORDS = {"as", "break", "const", "continue", "crate", "else", "enum", "extern", "fn",
            "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
            "pub", "ref", "return", "static", "struct", "trait", "type", "unsafe", "use",
            "where", "while", "dyn", "async", "await"}
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|r#[A-Za-z_][A-Za-z0-9_]*")


def tokens(src):
    """Yield (kind, text) tokens: 'id', 'p' (punctuation), 'lit'."""
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == '"' or (c in "bc" and src.startswith('"', i + 1)):
            i = i + 1 if c == '"' else i + 2
            while i < n and src[i] != '"':
                i += 2 if src[i] == "\\" else 1
            i += 1
            yield ("lit", "")
        elif re.match(r"(b|c)?r#*\"", src[i:i + 260]):
            m = re.match(r"(b|c)?r(#*)\"", src[i:])
            close = '"' + m.group(2)
            j = src.find(close, i + m.end())
            i = n if j < 0 else j + len(close)
            yield ("lit", "")
        elif c == "'":
            m = re.match(r"'(\\(u\{[0-9a-fA-F_]*\}|x..|.)|[^\\\n])'", src[i:i + 16])
            if m:
                i += m.end()
                yield ("lit", "")
            else:
                m = IDENT.match(src, i + 1)
                i = m.end() if m else i + 1
                yield ("p", "'")
        elif c == "b" and src.startswith("'", i + 1):
            m = re.match(r"b'(\\(x..|.)|[^\\\n])'", src[i:i + 8])
            i += m.end() if m else 1
            yield ("lit", "")
        elif c.isalpha() or c == "_" or ord(c) > 127 and c.isidentifier():
            j = i + 1
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            if src.startswith("r#", i) and j == i + 1:
                m = IDENT.match(src, i)
                j = m.end()
            yield ("id", src[i:j])
            i = j
        elif c.isdigit():
            m = re.match(r"[0-9][0-9A-Za-z_]*(\.[0-9][0-9A-Za-z_]*)?", src[i:])
            i += m.end()
            yield ("lit", "")
        else:
            i += 1
            yield ("p", c)


def functions(src):
    toks = list(tokens(src))
    count, i, n = 0, 0, len(toks)
    while i < n:
        kind, text = toks[i]
        # a macro invocation or definition: skip its delimited body
        if kind == "id" and text not in KEYWORDS and i + 1 < n and toks[i + 1] == ("p", "!"):
            j = i + 2
            if j < n and toks[j][0] == "id":  # macro_rules! name { … }
                j += 1
            if j < n and toks[j] in (("p", "("), ("p", "["), ("p", "{")):
                i = skip_group(toks, j)
                continue
        if (kind, text) == ("id", "fn") and i + 1 < n and toks[i + 1][0] == "id":
            depth, j = 0, i + 2
            while j < n:
                t = toks[j]
                if t in (("p", "("), ("p", "[")):
                    depth += 1
                elif t in (("p", ")"), ("p", "]")):
                    depth -= 1
                elif depth == 0 and t == ("p", ";"):
                    break
                elif depth == 0 and t == ("p", "{"):
                    count += 1
                    break
                j += 1
        i += 1
    return count


def skip_group(toks, j):
    """Index just past the delimited group opening at toks[j]."""
    opens, closes = "([{", ")]}"
    depth = 0
    while j < len(toks):
        kind, text = toks[j]
        if kind == "p" and text in opens:
            depth += 1
        elif kind == "p" and text in closes:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return j


def main():
    report = json.load(open(sys.argv[1]))
    ours = theirs = files = 0
    differ = []
    for krate in report["crates"]:
        for m in krate["modules"]:
            if m["error"]:
                continue
            a = len(m["functions"]) + sum(len(u["functions"]) for u in m["units"])
            with open(m["path"], encoding="utf-8") as f:
                b = functions(f.read())
            files += 1
            ours += a
            theirs += b
            if a != b:
                differ.append((m["path"], a, b))
    print(f"{files} files: assess {ours} functions, this script {theirs}; "
          f"{len(differ)} files differ")
    for path, a, b in differ[:20]:
        print(f"  {path}: assess {a}, script {b}")


if __name__ == "__main__":
    main()
