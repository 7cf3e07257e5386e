"""``s3pipe demo``: the article's pipeline end to end on the embedded emulator, then torn down.

up -> upload the samples (the article's server-log.json, one file per format, one with bad
lines, one malformed) -> wait until each is settled -> print items, rejected lines and DLQ
entries as tables -> down. Exits non-zero if any sample did not end as samples/README.md says.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from s3pipe.config import HarnessConfig
from s3pipe.errors import SettleTimeout
from s3pipe.guard import check_deployment
from s3pipe.observe import StackObserver
from s3pipe.pipeline import Pipeline, Upload
from s3pipe.progress import Progress
from s3pipe.session import StackSession

#: sample file -> the outcome event the handler must log for it
EXPECTED_OUTCOMES: dict[str, str] = {
    "server-log.json": "object_stored",
    "events.jsonl": "object_stored",
    "batch.json": "object_stored",
    "access.log": "object_stored",
    "access.log.gz": "object_stored",
    "mixed.jsonl": "object_partially_stored",
    "broken.json": "object_dead_lettered",
}
_MAX_CELL = 64


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    line = "  ".join("-" * width for width in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)


def _attributes(item: dict[str, Any]) -> str:
    shown = {k: v for k, v in item.items() if k not in {"PK", "SK"} and not k.startswith("src_")}
    return ", ".join(f"{k}={_cell(v)}" for k, v in shown.items())


def _key_label(item: dict[str, Any]) -> str:
    """Generated keys embed the whole S3 URL; show the object key instead, verbatim keys as they are."""
    return f"SRC#…/{item['src_key']}" if "src_key" in item and str(item["PK"]).startswith("SRC#") else str(item["PK"])


def _uploads(pipeline: Pipeline, samples: Path) -> dict[str, Upload]:
    uploads: dict[str, Upload] = {}
    for name in EXPECTED_OUTCOMES:
        if name == "access.log.gz":
            uploads[name] = pipeline.upload(name, (samples / "access.log").read_bytes(), gzip=True)
        elif name == "server-log.json":
            # the article's key, at the top of the bucket, exactly as its put-object step
            response = pipeline.stack.s3.put_object(
                Bucket=pipeline.bucket, Key=name, Body=(samples / name).read_bytes()
            )
            uploads[name] = Upload(pipeline.bucket, name, response.get("VersionId"), "", 0, 1, time.time())
        else:
            uploads[name] = pipeline.upload(name, (samples / name).read_bytes())
    return uploads


def run_demo(config: HarnessConfig, progress: Progress, samples: Path) -> int:
    session = StackSession(config, progress, "demo", guard=check_deployment, port=0)
    stack = session.open()
    failures: list[str] = []
    try:
        pipeline = Pipeline(stack, StackObserver(stack), "samples/")
        print(f"\nStack {stack.outputs.name_prefix} on {stack.endpoint.url} ({stack.aws_cli_hint()})")
        started = time.monotonic()
        uploads = _uploads(pipeline, samples)
        for name, upload in uploads.items():
            try:
                outcome = pipeline.wait_for(upload, timeout=60)
            except SettleTimeout as error:
                failures.append(f"{name}: no outcome\n{error}")
                continue
            if outcome.event != EXPECTED_OUTCOMES[name]:
                failures.append(f"{name}: expected {EXPECTED_OUTCOMES[name]}, got {outcome.event}")
        pipeline.settle()
        settled = time.monotonic() - started
        print(f"\n{len(uploads)} objects uploaded and settled in {settled:.2f} s\n")

        items = sorted(pipeline.scan(), key=lambda item: (str(item["PK"]), str(item["SK"])))
        data = [item for item in items if not str(item["PK"]).startswith("REJECT#")]
        rejected = [item for item in items if str(item["PK"]).startswith("REJECT#")]
        print(f"DynamoDB items ({len(data)}):")
        rows = [(_key_label(i), i["SK"], _attributes(i)) for i in data]
        print(render_table(["PK (SRC# items: the object key)", "SK", "attributes"], rows))
        print(f"\nRejected lines ({len(rejected)}):")
        rows = [(i["src_key"], int(i["src_line"]), i["reason"]) for i in rejected]
        print(render_table(["object", "line", "reason"], rows))
        entries = pipeline.observer.dlq.entries
        print(f"\nDLQ entries ({len(entries)}):")
        rows = [(e.attributes.get("ObjectKey", "?"), e.failure_class, e.reason) for e in entries]
        print(render_table(["object", "class", "reason"], rows))
        print()
    finally:
        session.close(keep=False)
    for failure in failures:
        print(f"demo: {failure}")
    print("demo: OK" if not failures else f"demo: {len(failures)} sample(s) did not end as expected")
    return 0 if not failures else 1
