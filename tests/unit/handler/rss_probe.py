"""Peak RSS of the handler streaming a generated JSON Lines object (run in a fresh process).

    python tests/unit/handler/rss_probe.py [MEGABYTES] [handler|parse]

``handler`` (default) runs the whole handler -- GetObject, parse, shape, hold-back, batched
writes -- against in-process fakes whose DynamoDB discards items; ``parse`` runs only
parse + shape (``tests/perf/log_ingest_bench.py``). The object is produced on the fly by a generator-backed
stream, so it never exists on disk or in memory. Prints one JSON line with the results.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lambda"))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

from log_ingest.config import Dependencies, Settings
from log_ingest.handler import handle
from perf import log_ingest_bench as bench

RECORD_BYTES = 200


class _DiscardingTable:
    def __init__(self) -> None:
        self.written = 0

    def batch_write_item(self, **request: Any) -> dict[str, Any]:
        ((_, requests),) = request["RequestItems"].items()
        self.written += len(requests)
        return {"UnprocessedItems": {}}

    def put_item(self, **request: Any) -> dict[str, Any]:
        self.written += 1
        return {}


class _GeneratedS3:
    def __init__(self, lines: int) -> None:
        self.lines = lines
        self.stream: bench.GeneratedStream | None = None

    def get_object(self, **request: Any) -> dict[str, Any]:
        self.stream = bench.GeneratedStream(bench.jsonl_lines(self.lines, RECORD_BYTES))
        return {"Body": _Body(self.stream), "ETag": '"probe"'}


class _Body:
    def __init__(self, stream: bench.GeneratedStream) -> None:
        self._stream = stream

    def read(self, amt: int | None = None) -> bytes:
        return self._stream.read(amt)

    def close(self) -> None:
        pass


class _Context:
    aws_request_id = "rss-probe"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _peak_rss_mb() -> float:
    """Peak RSS of this process image. /proc's VmHWM starts afresh at exec; ru_maxrss can carry the
    parent's peak into a child started by a large process (fork + exec), so it is only the fallback."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    mode = sys.argv[2] if len(sys.argv) > 2 else "handler"
    lines = megabytes * 1024 * 1024 // RECORD_BYTES
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    if mode == "parse":
        stream = bench.GeneratedStream(bench.jsonl_lines(lines, RECORD_BYTES))
        result = bench.parse_and_shape(stream, key="probe.jsonl")
        records, read = result.records, result.bytes_read
    else:
        table = _DiscardingTable()
        s3 = _GeneratedS3(lines)
        deps = Dependencies(
            settings=Settings(table_name="t", dlq_url="https://dlq", write_concurrency=1),
            s3=s3,  # type: ignore[arg-type]
            dynamodb=table,  # type: ignore[arg-type]
            sqs=None,  # type: ignore[arg-type]
        )
        body = json.dumps(
            {
                "Records": [
                    {
                        "eventSource": "aws:s3",
                        "eventName": "ObjectCreated:Put",
                        "s3": {"bucket": {"name": "b"}, "object": {"key": "probe.jsonl"}},
                    }
                ]
            }
        )
        response = handle({"Records": [{"messageId": "m", "body": body}]}, _Context(), deps)
        assert response == {"batchItemFailures": []}, response
        assert s3.stream is not None
        records, read = table.written, s3.stream.bytes_read
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "mode": mode,
                "bytes": read,
                "records": records,
                "seconds": round(seconds, 2),
                "lines_per_second": round(records / seconds),
                "baseline_rss_mb": round(baseline, 1),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
