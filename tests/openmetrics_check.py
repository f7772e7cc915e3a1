#!/usr/bin/env python3
"""Strict OpenMetrics check of a slotwatch /metrics body read from stdin.

Parses with prometheus_client's OpenMetrics parser (which rejects anything outside the
OpenMetrics 1.0 grammar), then checks slotwatch's own conventions: HELP on every family,
`_total` on counter samples, base units, and a `cluster` label everywhere but build info.
Prints one sample name per line on success; exits 1 with the reasons on failure.
"""
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

NON_BASE_UNITS = ("_milliseconds", "_ms", "_microseconds", "_minutes", "_hours",
                  "_kilobytes", "_megabytes", "_percent", "_millis")


def main() -> int:
    text = sys.stdin.read()
    problems = []
    names = set()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError with the offending line
        print(f"not valid OpenMetrics: {e}", file=sys.stderr)
        return 1
    if not families:
        problems.append("no metric families")
    for f in families:
        if not (f.documentation or "").strip():
            problems.append(f"{f.name}: no HELP text")
        if any(f.name.endswith(u) for u in NON_BASE_UNITS):
            problems.append(f"{f.name}: not in base units")
        if f.unit and not f.name.endswith("_" + f.unit):
            problems.append(f"{f.name}: unit {f.unit} is not the name's suffix")
        for s in f.samples:
            names.add(s.name)
            if f.type == "counter" and not (s.name.endswith("_total") or s.name.endswith("_created")):
                problems.append(f"{s.name}: counter sample without _total")
            if f.name != "slotwatch_build_info" and "cluster" not in s.labels:
                problems.append(f"{s.name}{s.labels}: no cluster label")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print("\n".join(sorted(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
