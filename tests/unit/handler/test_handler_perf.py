"""The bench's workloads stay right, and memory stays flat (rss_probe.py).

Speed is a benchmark figure, not a test: ``s3pipe bench`` prints ``handler_lines_per_s`` and
``handler_clf_lines_per_s`` (about 200k and 190k lines/s on the 2-core reference machine); the
whole handler streams a 1 GB JSON Lines object at < 50 MB peak RSS (``peak_rss_mb_1gb``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from perf import log_ingest_bench as bench

PROBE = Path(__file__).with_name("rss_probe.py")


def test_the_throughput_workloads_parse_and_shape_every_line() -> None:
    jsonl = b"".join(bench.jsonl_lines(50_000))
    clf = b"".join(bench.clf_lines(50_000))
    jsonl_result = bench.parse_and_shape(bench.GeneratedStream([jsonl]), key="b.jsonl")
    clf_result = bench.parse_and_shape(bench.GeneratedStream([clf]), key="b.log")
    print(f"jsonl {jsonl_result.lines_per_second:,.0f} lines/s, clf {clf_result.lines_per_second:,.0f} lines/s")
    assert jsonl_result.records == clf_result.records == 50_000
    assert jsonl_result.rejections == clf_result.rejections == 0
    assert (jsonl_result.bytes_read, clf_result.bytes_read) == (len(jsonl), len(clf))


def test_streaming_a_large_object_keeps_memory_flat() -> None:
    out = subprocess.run(
        [sys.executable, str(PROBE), "48", "handler"], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["records"] == 48 * 1024 * 1024 // 200
    assert result["peak_rss_mb"] - result["baseline_rss_mb"] < 100
