#!/usr/bin/env python3
"""Checks that every C++ block of the README is compiled code.

Each ```cpp block of README.md must follow a line `<!-- snippet: NAME -->`,
and one of the given source files must hold a region
`// snippet: NAME` ... `// end snippet` with the same lines (compared
without their common indentation). Prints each mismatch; exits 1 on any.
"""
import re
import sys
import textwrap


def readme_blocks(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    blocks, errors = {}, []
    for i, line in enumerate(lines):
        if line.strip() != "```cpp":
            continue
        marker = re.match(r"^\s*<!-- snippet: ([\w-]+) -->$", lines[i - 1]) if i > 0 else None
        if not marker:
            errors.append(f"{path}:{i + 1}: a ```cpp block without a <!-- snippet: NAME --> line before it")
            continue
        body = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            body.append(lines[j])
            j += 1
        blocks[marker.group(1)] = (i + 1, body)
    return blocks, errors


def source_regions(paths):
    regions = {}
    for path in paths:
        lines = open(path, encoding="utf-8").read().split("\n")
        name, body = None, []
        for line in lines:
            start = re.match(r"^\s*// snippet: ([\w-]+)$", line)
            if start:
                name, body = start.group(1), []
            elif re.match(r"^\s*// end snippet$", line):
                regions[name] = body
                name = None
            elif name is not None:
                body.append(line)
    return regions


def normal(lines):
    return [l.rstrip() for l in textwrap.dedent("\n".join(lines)).split("\n")]


def main():
    blocks, errors = readme_blocks(sys.argv[1])
    regions = source_regions(sys.argv[2:])
    for name, (line, body) in sorted(blocks.items()):
        if name not in regions:
            errors.append(f"README line {line}: snippet '{name}' is in no compiled source")
        elif normal(body) != normal(regions[name]):
            errors.append(f"README line {line}: snippet '{name}' differs from its compiled source")
    for name in sorted(set(regions) - set(blocks)):
        errors.append(f"compiled snippet '{name}' is not in the README any more")
    for e in errors:
        print(e)
    print(f"{len(blocks)} snippets checked, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
