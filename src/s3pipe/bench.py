"""``s3pipe bench``: the figures behind the README's claims, measured on this machine.

Prints a readable table, then ONE JSON object (the last line of stdout), and saves it to
``<state_dir>/reports/bench.json``. Every figure is the median of several runs (``--quick``: one).

- ``ready_s``: emulator process start -> healthy.
- ``cold_session_s``: emulator start + ``terraform init`` + ``apply`` of a new stack (snapshots off).
- ``restored_session_s``: a new stack restored from the snapshot of its key: emulator start from the stored
  state + canary (a first, untimed session stores the snapshot when the cache has none).
- ``warm_session_s``: a session that finds a warm stack and reuses it.
- ``handler_change_s``: a session that finds a warm stack whose handler changed (function-only redeploy).
- ``latency_p50_ms`` / ``latency_p95_ms``: S3 put -> item readable, over ``LATENCY_UPLOADS`` sequential uploads.
- ``throughput_lines_per_s``: a 100k-line JSON Lines object, upload -> final outcome logged.
- ``handler_lines_per_s`` / ``handler_clf_lines_per_s``: parse + shape of JSON Lines / access logs
  in-process, one core, no AWS.
- ``seed_style_ratio``: our function's end-to-end items/s over a seed-style function's (one ``put_item``
  per record, as the article's handler), both invoked on the same object in the same stack.
- ``peak_rss_mb_1gb``: peak RSS of the whole handler streaming a generated 1 GB object.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from s3pipe.backends.registry import create_backend
from s3pipe.config import HarnessConfig, project_config
from s3pipe.contract import record_sort_key, source_pk
from s3pipe.errors import HarnessError
from s3pipe.guard import check_deployment
from s3pipe.lambda_zip import zip_bytes
from s3pipe.module_stack import ModuleSession
from s3pipe.pipeline import Pipeline, StackObserver, poll_until
from s3pipe.progress import Progress, silent
from s3pipe.session import StackSession, stop_stack
from s3pipe.stack import Stack

LATENCY_UPLOADS = 100
THROUGHPUT_LINES = 100_000
SEED_LINES = 5_000
HANDLER_LINES = 200_000
RSS_MEGABYTES = 1024
#: The handler's in-process bench, kept out of the Lambda zip (relative to the project root).
HANDLER_BENCH = Path("tests") / "perf" / "log_ingest_bench.py"
#: A pipeline of your own (vendored-style modules, its own handler, names and region) and a module that is not one.
OWN_PIPELINE = Path("examples") / "team-pipeline"
TABLE_MODULE = Path("tests") / "integration" / "modules" / "table"

SEED_STYLE_SOURCE = '''
"""The article's handler, adapted to JSON Lines: one put_item per record, no batching."""
import importlib.util
import json
import os
from decimal import Decimal
from urllib.parse import unquote_plus

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
s3 = boto3.client("s3")


def lambda_handler(event, context):
    written = 0
    for record in event["Records"]:
        for s3_record in json.loads(record["body"])["Records"]:
            bucket = s3_record["s3"]["bucket"]["name"]
            key = unquote_plus(s3_record["s3"]["object"]["key"])
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            for line in body.iter_lines():
                if line:
                    table.put_item(Item=json.loads(line, parse_float=Decimal))
                    written += 1
    return {"written": written}
'''


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def lambda_on_path(lambda_dir: Path) -> Iterator[None]:
    sys.path.insert(0, str(lambda_dir))
    try:
        yield
    finally:
        sys.path.remove(str(lambda_dir))


def load_handler_bench(root: Path) -> ModuleType:
    """Import ``tests/perf/log_ingest_bench.py`` of the project at ``root`` (the handler package
    must be importable: see :func:`lambda_on_path`)."""
    path = root / HANDLER_BENCH
    if not path.is_file():
        raise HarnessError(
            "The handler bench is missing",
            tried=f"to load the handler's in-process bench from {path}",
            seen=f"{path} does not exist",
            fix=(
                "run `s3pipe bench` from a checkout of the repository (the bench lives in tests/perf/, "
                "which is not part of the installed package or the Lambda zip)"
            ),
        )
    spec = importlib.util.spec_from_file_location("s3pipe_handler_bench", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


class Bench:
    def __init__(self, config: HarnessConfig, progress: Progress, runs: int) -> None:
        self.config = config
        self.progress = progress
        self.runs = runs
        self.figures: dict[str, Any] = {}
        self.samples: dict[str, list[float]] = {}

    def record(self, name: str, values: list[float], digits: int = 3) -> None:
        self.samples[name] = [round(v, digits) for v in values]
        self.figures[name] = round(median(values), digits)
        self.progress.stage("bench", f"{name} = {self.figures[name]} (runs: {self.samples[name]})")

    # ------------------------------------------------------------------ no stack needed
    def handler_lines_per_s(self) -> None:
        with lambda_on_path(self.config.path(self.config.lambda_dir)):
            handler_bench = load_handler_bench(self.config.root)
            for name, lines, key in (
                ("handler_lines_per_s", handler_bench.jsonl_lines, "bench.jsonl"),
                ("handler_clf_lines_per_s", handler_bench.clf_lines, "bench.log"),
            ):
                data = b"".join(lines(HANDLER_LINES))
                values = []
                for _ in range(max(3, self.runs)):
                    stream = handler_bench.GeneratedStream([data])
                    result = handler_bench.parse_and_shape(stream, key=key, bucket="bench")
                    values.append(float(result.lines_per_second))
                self.record(name, values, digits=0)

    def peak_rss_mb_1gb(self) -> None:
        probe = self.config.root / "tests" / "unit" / "handler" / "rss_probe.py"
        if not probe.exists():
            self.figures["peak_rss_mb_1gb"] = None
            return
        values = []
        for _ in range(1 if self.runs == 1 else 2):
            output = subprocess.run(  # noqa: S603 - our own script, fixed argv
                [sys.executable, str(probe), str(RSS_MEGABYTES), "handler"],
                capture_output=True,
                text=True,
                check=True,
                cwd=self.config.root,
            ).stdout
            result = json.loads(output.strip().splitlines()[-1])
            values.append(float(result["peak_rss_mb"]))
        self.record("peak_rss_mb_1gb", values, digits=1)

    def ready_s(self) -> None:
        values = []
        for _ in range(max(3, self.runs)):
            backend = create_backend(self.config.with_overrides(backend="embedded"), silent())
            started = time.monotonic()
            backend.start()
            values.append(time.monotonic() - started)
            backend.stop()
        self.record("ready_s", values)

    # ------------------------------------------------------------------ sessions
    def cold_session_s(self) -> None:
        values = []
        for run in range(self.runs):
            name = f"bench-cold-{run}"
            config = self.config.with_overrides(reuse=False, snapshots=False)
            session = StackSession(config, silent(), name, guard=check_deployment)
            session.deployer.workspace(name).remove()
            started = time.monotonic()
            session.open()
            values.append(time.monotonic() - started)
            session.close(keep=False)
            session.deployer.workspace(name).remove()
        self.record("cold_session_s", values, digits=1)

    def _restored_sessions(self, figure: str, session_for: Callable[[int], StackSession | ModuleSession]) -> None:
        """Open and close ``runs + 1`` fresh sessions; record the time to ready of all but the first, which
        stores the snapshot (and verifies it) when the cache has none."""
        values = []
        for run in range(self.runs + 1):
            session = session_for(run)
            started = time.monotonic()
            session.open()
            elapsed = time.monotonic() - started
            session.close(keep=False)
            session.deployer.workspace(session.stack_name).remove()
            if run:
                values.append(elapsed)
        self.record(figure, values)

    def _fresh_stack_session(self, config: HarnessConfig, name: str) -> StackSession:
        session = StackSession(config, silent(), name, guard=check_deployment)
        session.deployer.workspace(name).remove()
        return session

    def restored_session_s(self) -> None:
        config = self.config.with_overrides(reuse=False, snapshots=True)
        self._restored_sessions(
            "restored_session_s", lambda run: self._fresh_stack_session(config, f"bench-restored-{run}")
        )

    def own_restored_session_s(self) -> None:
        """A pipeline of your own restored from its snapshot: the plan checked once per snapshot, the event-path
        canary every time (examples/team-pipeline: vendored-style modules, its own handler, names and region)."""
        project = self.config.root / OWN_PIPELINE
        if not (project / "pytest.ini").is_file():
            self.figures["own_restored_session_s"] = None
            return
        config = project_config(project).with_overrides(
            reuse=False, snapshots=True, state_dir=self.config.path(self.config.state_dir) / "bench-own"
        )
        self._restored_sessions(
            "own_restored_session_s", lambda run: self._fresh_stack_session(config, f"bench-own-{run}")
        )

    def module_restored_session_s(self) -> None:
        """Any module (a table and a bucket) restored from its snapshot, its plan checked once per snapshot."""
        module = self.config.root / TABLE_MODULE
        if not module.is_dir():
            self.figures["module_restored_session_s"] = None
            return
        config = self.config.with_overrides(reuse=False, snapshots=True)
        variables = {"table_name": "BenchOrders"}
        self._restored_sessions(
            "module_restored_session_s",
            lambda run: ModuleSession(
                config, silent(), f"bench-module-{run}", module, variables, guard=check_deployment
            ),
        )

    def warm_sessions(self, name: str) -> None:
        values = []
        for _ in range(max(3, self.runs)):
            session = StackSession(self.config.with_overrides(reuse=True), silent(), name, guard=check_deployment)
            started = time.monotonic()
            session.open()
            values.append(time.monotonic() - started)
            session.close(keep=True)
        self.record("warm_session_s", values)
        changed = []
        for run in range(self.runs):
            marker = {f"bench_marker_{run}.py": f"# handler change {secrets.token_hex(4)}\n".encode()}
            session = StackSession(
                self.config.with_overrides(reuse=True), silent(), name, guard=check_deployment, extra_files=marker
            )
            started = time.monotonic()
            session.open()
            changed.append(time.monotonic() - started)
            session.close(keep=True)
        self.record("handler_change_s", changed, digits=1)

    # ------------------------------------------------------------------ through the stack
    def latency(self, stack: Stack) -> None:
        pipeline = Pipeline(stack, StackObserver(stack), f"bench/latency-{secrets.token_hex(3)}/")
        p50s, p95s = [], []
        for run in range(self.runs):
            latencies = []
            for n in range(LATENCY_UPLOADS):
                key = pipeline.key(f"r{run}-{n}.jsonl")
                pk = source_pk(pipeline.bucket, key)
                started = time.perf_counter()
                stack.s3.put_object(Bucket=pipeline.bucket, Key=key, Body=b'{"n": %d}\n' % n)

                def visible(pk: str = pk) -> dict[str, Any] | None:
                    return pipeline.get_item(pk, record_sort_key(1))

                poll_until(visible, timeout=30, describe=lambda: "item never appeared", what="item", interval=0.002)
                latencies.append((time.perf_counter() - started) * 1000)
            p50s.append(percentile(latencies, 0.50))
            p95s.append(percentile(latencies, 0.95))
        self.record("latency_p50_ms", p50s, digits=1)
        self.record("latency_p95_ms", p95s, digits=1)

    def throughput(self, stack: Stack) -> None:
        pipeline = Pipeline(stack, StackObserver(stack), f"bench/throughput-{secrets.token_hex(3)}/")
        body = b"".join(
            b'{"seq": %d, "level": "info", "msg": "request %d served", "latency_ms": %d}\n' % (i, i, i % 250)
            for i in range(THROUGHPUT_LINES)
        )
        values = []
        for run in range(self.runs):
            started = time.monotonic()
            upload = pipeline.upload(f"big-{run}.jsonl", body)
            outcome = pipeline.wait_for(upload, timeout=600)
            elapsed = time.monotonic() - started
            if outcome.fields.get("stored") != THROUGHPUT_LINES:
                raise AssertionError(f"throughput run stored {outcome.fields.get('stored')} of {THROUGHPUT_LINES}")
            values.append(THROUGHPUT_LINES / elapsed)
        self.record("throughput_lines_per_s", values, digits=0)

    def seed_style_ratio(self, stack: Stack) -> None:
        name = f"{stack.outputs.name_prefix}-seed-{secrets.token_hex(2)}"
        # like every function on the embedded backend it calls through the function gateway, as the shipped one
        # (on AWS the calls go over TLS, and the bucket policy denies plain HTTP, which MiniStack checks too)
        stack.lambda_.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=stack.outputs.role_arn,
            Handler="seed_handler.lambda_handler",
            Code={"ZipFile": zip_bytes({"seed_handler.py": SEED_STYLE_SOURCE.encode()})},
            Timeout=900,
            MemorySize=512,
            Environment={"Variables": {"TABLE_NAME": stack.outputs.table_name}},
        )
        stack.lambda_.get_waiter("function_active_v2").wait(FunctionName=name)
        invoker = stack.client("lambda", read_timeout=900)
        try:
            ours, seed, ratios = [], [], []
            # the mapping would ingest each object too (with S3's sequencer, newer than the bench's event)
            with stack.mapping_paused():
                for run in range(self.runs):
                    key = f"bench/seed-{secrets.token_hex(3)}/run{run}.jsonl"
                    lines = b"".join(
                        b'{"PK": "BENCH#%d", "SK": "LINE#%06d", "n": %d, "msg": "request served"}\n' % (run, i, i)
                        for i in range(SEED_LINES)
                    )
                    stack.s3.put_object(Bucket=stack.outputs.bucket_name, Key=key, Body=lines)
                    event = _sqs_event(stack, key)
                    ours_rate = SEED_LINES / _timed_invoke(invoker, stack.outputs.function_name, event)
                    _require_items(stack, f"BENCH#{run}", SEED_LINES)
                    seed_rate = SEED_LINES / _timed_invoke(invoker, name, event)
                    ours.append(ours_rate)
                    seed.append(seed_rate)
                    ratios.append(ours_rate / seed_rate)
            self.record("ours_end_to_end_items_per_s", ours, digits=0)
            self.record("seed_style_items_per_s", seed, digits=0)
            self.record("seed_style_ratio", ratios, digits=2)
        finally:
            stack.lambda_.delete_function(FunctionName=name)


def _sqs_event(stack: Stack, key: str) -> dict[str, Any]:
    """An SQS event as the mapping would deliver it, carrying the S3 notification for ``key``."""
    from urllib.parse import quote_plus

    s3_event = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": stack.endpoint.region,
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": stack.outputs.bucket_name}, "object": {"key": quote_plus(key, safe="/")}},
            }
        ]
    }
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench",
                "body": json.dumps(s3_event),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": stack.outputs.queue_arn,
                "awsRegion": stack.endpoint.region,
            }
        ]
    }


def _require_items(stack: Stack, pk: str, expected: int) -> None:
    """The invocation just timed wrote every item (a figure for work not done would be meaningless)."""
    paginator = stack.dynamodb.get_paginator("query")
    pages = paginator.paginate(
        TableName=stack.outputs.table_name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        Select="COUNT",
    )
    found = sum(page["Count"] for page in pages)
    if found != expected:
        raise AssertionError(f"the benchmarked invocation stored {found} of {expected} items under {pk}")


def _timed_invoke(client: Any, function: str, event: dict[str, Any]) -> float:
    started = time.monotonic()
    response = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    elapsed = time.monotonic() - started
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError") or (isinstance(payload, dict) and payload.get("batchItemFailures")):
        raise AssertionError(f"{function} failed during the benchmark: {payload}")
    return elapsed


def machine_facts(config: HarnessConfig) -> dict[str, Any]:
    terraform = subprocess.run(  # noqa: S603
        [config.terraform_binary, "version", "-json"], capture_output=True, text=True, check=False
    ).stdout
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "emulator": config.ministack_spec,
        "terraform": json.loads(terraform or "{}").get("terraform_version"),
    }


def run_bench(config: HarnessConfig, progress: Progress, quick: bool = False) -> int:
    bench = Bench(config, progress, runs=1 if quick else 3)
    steps: list[Callable[[], None]] = [
        bench.handler_lines_per_s,
        bench.ready_s,
        bench.cold_session_s,
        bench.restored_session_s,
        bench.own_restored_session_s,
        bench.module_restored_session_s,
    ]
    for step in steps:
        step()
    name = "bench"
    session = StackSession(config.with_overrides(reuse=True), progress, name, guard=check_deployment)
    stack = session.open()
    session.close(keep=True)
    try:
        bench.warm_sessions(name)
        bench.latency(stack)
        bench.throughput(stack)
        bench.seed_style_ratio(stack)
    finally:
        stop_stack(config, name)
    bench.peak_rss_mb_1gb()
    result = {
        "machine": machine_facts(config),
        "runs": bench.runs,
        **bench.figures,
        "samples": bench.samples,
        "bench_process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    report = config.path(config.state_dir) / "reports" / "bench.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(result, indent=2) + "\n")
    width = max(len(key) for key in bench.figures)
    print("\n".join(f"{key:<{width}}  {value}" for key, value in bench.figures.items()))
    print(f"(machine: {result['machine']}; medians of {bench.runs} run(s); saved to {report})")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, separators=(",", ":")))
    return 0
