#!/usr/bin/env python3
"""check_guide.py GUIDE.md ROOT  - every code snippet of the guide is code the build compiles.
   check_guide.py --lint DIR     - no co_await in a short-circuit operand under DIR.

Guide mode: each fenced block in a code language (cpp, cmake, python,
dockerfile) must follow a line

    <!-- snippet: PATH NAME -->

and equal, after removing the common indentation of both, the lines of
ROOT/PATH between the two marker comments `// [NAME]` (or `# [NAME]`).
Blocks of shell commands and of output (sh, console, text) are not code and
need no source. So a snippet cannot drift from the file it quotes, and the
file is built and tested by CTest.

Lint mode applies tests/lint/no_short_circuit_co_await.py's rule (g++ 12
miscompiles `x && co_await f()`) to the examples, which that script does not
scan. Standard library only.
"""
import pathlib
import re
import sys
import textwrap

CODE_LANGS = {"cpp", "c++", "cmake", "python", "py", "dockerfile"}
FREE_LANGS = {"sh", "bash", "console", "text", ""}
SNIPPET = re.compile(r"<!--\s*snippet:\s*(\S+)\s+(\S+)\s*-->")


def region(path, name):
    lines = path.read_text(encoding="utf-8").splitlines()
    marker = re.compile(r"^\s*(//|#)\s*\[" + re.escape(name) + r"\]\s*$")
    at = [i for i, line in enumerate(lines) if marker.match(line)]
    if len(at) != 2:
        raise ValueError(f"{path}: expected 2 markers [{name}], found {len(at)}")
    return lines[at[0] + 1:at[1]]


def check_guide(guide, root):
    lines = guide.read_text(encoding="utf-8").splitlines()
    failures, checked, i = [], 0, 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1).lower(), i
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            failures.append(f"{guide}:{start + 1}: unterminated code block")
            break
        body = lines[start + 1:end]
        i = end + 1
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        snip = SNIPPET.search(prev)
        if lang in FREE_LANGS and not snip:
            continue
        if lang not in CODE_LANGS and not snip:
            failures.append(f"{guide}:{start + 1}: block in language {lang!r}: neither code nor commands")
            continue
        if not snip:
            failures.append(f"{guide}:{start + 1}: {lang} block without a <!-- snippet: PATH NAME --> line")
            continue
        path = root / snip.group(1)
        try:
            want = region(path, snip.group(2))
        except (OSError, ValueError) as e:
            failures.append(f"{guide}:{start + 1}: {e}")
            continue
        if textwrap.dedent("\n".join(body)) != textwrap.dedent("\n".join(want)):
            failures.append(f"{guide}:{start + 1}: the block differs from {snip.group(1)} [{snip.group(2)}]")
            continue
        checked += 1
    if failures:
        print("\n".join(failures))
        return 1
    if checked == 0:
        print(f"{guide}: no snippet found")
        return 1
    print(f"{checked} snippets of {guide.name} match their sources")
    return 0


def lint(directory):
    pattern = re.compile(r"(&&|\|\||\?)\s*!?\s*\(?\s*co_await")
    bad = []
    for path in sorted(directory.rglob("*")):
        if path.suffix not in (".cpp", ".hpp", ".h", ".cc") or not path.is_file():
            continue
        code = re.sub(r"//[^\n]*", "", path.read_text(errors="replace"))
        for m in pattern.finditer(code):
            bad.append(f"{path}:{code.count(chr(10), 0, m.start()) + 1}")
    if bad:
        print("co_await in a short-circuit operand (g++ 12 miscompiles it):\n" + "\n".join(bad))
        return 1
    print(f"no co_await in a short-circuit operand under {directory}")
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--lint":
        sys.exit(lint(pathlib.Path(sys.argv[2])))
    sys.exit(check_guide(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])))
