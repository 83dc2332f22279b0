#!/usr/bin/env python3
"""Fails when a co_await stands in the right operand of &&, || or ?:.

g++ 12 miscompiles a co_await that a short-circuit skips: with
`if (x && co_await f(a, b))` and x false, the coroutine crashes (reproduced
here at -O0 and -O2: SIGSEGV / SIGILL). Await into a named local first:
`if (x) { if (co_await f(a, b)) ... }`.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
pattern = re.compile(r"(&&|\|\||\?)\s*!?\s*\(?\s*co_await")
bad = []
for sub in ("framework", "servers", "clients", "tests", "bench"):
    for path in (root / sub).rglob("*"):
        if path.suffix not in (".cpp", ".hpp", ".h", ".cc") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        code = re.sub(r"//[^\n]*", "", text)
        for m in pattern.finditer(code):
            bad.append(f"{path.relative_to(root)}:{code.count(chr(10), 0, m.start()) + 1}")
if bad:
    print("co_await in a short-circuit operand (g++ 12 miscompiles it):")
    print("\n".join(bad))
    sys.exit(1)
print("no co_await in a short-circuit operand")
