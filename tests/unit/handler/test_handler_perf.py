"""Throughput and memory guards (lenient floors: they catch regressions, not CI noise).

Measured on the 2-core reference machine: parse + shape ~200k JSON Lines/s and ~190k CLF lines/s;
the whole handler streams a 1 GB JSON Lines object at < 50 MB peak RSS (see rss_probe.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from perf import log_ingest_bench as bench

PROBE = Path(__file__).with_name("rss_probe.py")


def test_parse_and_shape_throughput() -> None:
    jsonl = b"".join(bench.jsonl_lines(50_000))
    clf = b"".join(bench.clf_lines(50_000))
    jsonl_result = bench.parse_and_shape(bench.GeneratedStream([jsonl]), key="b.jsonl")
    clf_result = bench.parse_and_shape(bench.GeneratedStream([clf]), key="b.log")
    print(f"jsonl {jsonl_result.lines_per_second:,.0f} lines/s, clf {clf_result.lines_per_second:,.0f} lines/s")
    assert jsonl_result.records == clf_result.records == 50_000
    assert jsonl_result.lines_per_second > 25_000
    assert clf_result.lines_per_second > 25_000


def test_streaming_a_large_object_keeps_memory_flat() -> None:
    out = subprocess.run(
        [sys.executable, str(PROBE), "48", "handler"], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["records"] == 48 * 1024 * 1024 // 200
    assert result["peak_rss_mb"] - result["baseline_rss_mb"] < 100
