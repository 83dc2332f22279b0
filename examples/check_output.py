#!/usr/bin/env python3
"""check_output.py PROGRAM SOURCE - runs one example and checks what it prints.

The expected output is written at the end of the example's source, one
`//> ` comment line per line of standard output, compared in order and in
full. Inside an expected line:
  {LO..HI}    a number (integer or decimal) with LO <= number <= HI
  {*}         any text (possibly empty)
Everything else is literal. Timed examples print their elapsed times and
bound them this way: within the deadline's bounds, never an exact time.
The program must exit with status 0 and print nothing on stderr unless the
source has a `//! stderr` line. Standard library only.
"""
import re
import subprocess
import sys

PLACEHOLDER = re.compile(r"\{(\*|(-?[0-9.]+)\.\.(-?[0-9.]+))\}")
NUMBER = r"(-?[0-9]+(?:\.[0-9]+)?)"


def compile_line(expected):
    """A regex for one expected line and the bounds of its numbers, in order."""
    parts, bounds, pos = [], [], 0
    for m in PLACEHOLDER.finditer(expected):
        parts.append(re.escape(expected[pos:m.start()]))
        if m.group(1) == "*":
            parts.append(".*?")
        else:
            parts.append(NUMBER)
            bounds.append((float(m.group(2)), float(m.group(3))))
        pos = m.end()
    parts.append(re.escape(expected[pos:]))
    return re.compile("".join(parts) + r"\Z"), bounds


def main():
    program, source = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        text = f.read().splitlines()
    expected = [line[4:] if line.startswith("//> ") else "" for line in text if line.startswith("//>")]
    stderr_allowed = any(line.startswith("//! stderr") for line in text)
    if not expected:
        sys.exit(f"{source}: no //> lines")

    run = subprocess.run([program], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=50)
    out = run.stdout.decode(errors="replace").splitlines()
    err = run.stderr.decode(errors="replace")
    print("".join(f"| {line}\n" for line in out), end="")
    failures = []
    if run.returncode != 0:
        failures.append(f"exit status {run.returncode}")
    if err and not stderr_allowed:
        failures.append(f"unexpected stderr:\n{err}")
    for i in range(max(len(out), len(expected))):
        got = out[i] if i < len(out) else None
        want = expected[i] if i < len(expected) else None
        if got is None or want is None:
            failures.append(f"line {i + 1}: expected {want!r}, got {got!r}")
            continue
        rx, bounds = compile_line(want)
        m = rx.match(got)
        if not m:
            failures.append(f"line {i + 1}: expected {want!r}, got {got!r}")
            continue
        for value, (lo, hi) in zip(m.groups(), bounds):
            if not lo <= float(value) <= hi:
                failures.append(f"line {i + 1}: {value} is not within {lo}..{hi} in {got!r}")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print(f"{len(out)} lines as expected")


if __name__ == "__main__":
    main()
