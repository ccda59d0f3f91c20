#!/usr/bin/env python3
"""Parses a Prometheus text exposition with prometheus_client's own parser
(Debian's python3-prometheus-client) and checks the families a test names.

usage: check_exposition.py FILE [FAMILY ...]
Prints one line per family ("name type samples"); exits 1 when the text does
not parse or a named family is missing.
"""
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and others
        print(f"parse error: {e}")
        return 1
    names = {}
    for f in families:
        names[f.name] = f
        print(f"{f.name} {f.type} {len(f.samples)}")
    missing = []
    for want in sys.argv[2:]:
        # The parser names counters without their _total suffix.
        base = want[:-6] if want.endswith("_total") else want
        if base not in names and want not in names:
            missing.append(want)
    if missing:
        print("missing: " + " ".join(missing))
        return 1
    print(f"families: {len(families)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
