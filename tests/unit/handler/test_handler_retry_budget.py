"""SDK retries end within the invocation's time (retry_budget.py): a real botocore client, with the
real standard retry handler, against a local HTTP server that refuses every call."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from log_ingest.config import TOTAL_MAX_ATTEMPTS, Settings, build_dependencies
from log_ingest.retry_budget import RetryBudget, bound_retries
from log_ingest.writer import MIN_CALL_BUDGET_MS, Deadline


class RefusingServer:
    """Answers every request with one DynamoDB error; counts the attempts."""

    def __init__(self, status: int, code: str) -> None:
        self.attempts = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.attempts += 1
                body = f'{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"refused"}}'.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def failing() -> Iterator[RefusingServer]:
    server = RefusingServer(500, "InternalServerError")  # retried after ~25 ms x 2^n: quick to test
    yield server
    server.close()


def _client(url: str, budget: RetryBudget, attempts: int = TOTAL_MAX_ATTEMPTS) -> Any:
    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )
    assert bound_retries(client, budget, attempts)
    return client


def _deadline(remaining_ms: int) -> Deadline:
    return Deadline(lambda: remaining_ms, 0)


def test_with_time_to_spare_botocore_makes_all_its_attempts(failing: RefusingServer) -> None:
    budget = RetryBudget()
    client = _client(failing.url, budget)
    with budget.within(_deadline(60_000)), pytest.raises(ClientError) as raised:
        client.describe_table(TableName="t")
    assert raised.value.response["Error"]["Code"] == "InternalServerError"
    assert failing.attempts == TOTAL_MAX_ATTEMPTS
    assert budget.refused == 0


def test_without_time_for_another_call_the_error_comes_back_after_one_attempt(failing: RefusingServer) -> None:
    budget = RetryBudget()
    client = _client(failing.url, budget)
    with budget.within(_deadline(MIN_CALL_BUDGET_MS - 1)), pytest.raises(ClientError) as raised:
        client.describe_table(TableName="t")
    # the same error botocore raises when its attempts run out: the handler reports it as transient
    assert raised.value.response["Error"]["Code"] == "InternalServerError"
    assert (failing.attempts, budget.refused) == (1, 1)


def test_a_throttled_call_stops_retrying_before_the_deadline() -> None:
    server = RefusingServer(400, "ProvisionedThroughputExceededException")  # waits rand x 1, 2, 4, 8 s
    try:
        budget = RetryBudget()
        client = _client(server.url, budget)
        started = time.monotonic()
        deadline = Deadline(lambda: 1_500 - int((time.monotonic() - started) * 1000), 0)
        with budget.within(deadline), pytest.raises(ClientError) as raised:
            client.describe_table(TableName="t")
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert budget.refused == 1
    assert 1 <= server.attempts < TOTAL_MAX_ATTEMPTS, server.attempts
    # no retry began unless its wait and one more call fitted in the 1.5 s left
    assert elapsed < 1.5 - MIN_CALL_BUDGET_MS / 1000 + 0.4, elapsed


def test_outside_an_invocation_botocore_bounds_its_retries_alone(failing: RefusingServer) -> None:
    budget = RetryBudget()
    client = _client(failing.url, budget, attempts=3)
    with pytest.raises(ClientError):
        client.describe_table(TableName="t")
    assert (failing.attempts, budget.refused) == (3, 0)


def test_a_call_botocore_does_not_retry_is_not_retried(failing: RefusingServer) -> None:
    server = RefusingServer(400, "ConditionalCheckFailedException")
    try:
        budget = RetryBudget()
        client = _client(server.url, budget)
        with budget.within(_deadline(60_000)), pytest.raises(ClientError) as raised:
            client.describe_table(TableName="t")
    finally:
        server.close()
    assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert (server.attempts, budget.refused) == (1, 0)


def test_the_handlers_clients_are_bounded_by_its_budget(
    failing: RefusingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "AWS_ENDPOINT_URL": failing.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }.items():
        monkeypatch.setenv(name, value)
    deps = build_dependencies(Settings(table_name="t", dlq_url=f"{failing.url}/dlq", write_concurrency=1))
    with deps.retry_budget.within(_deadline(MIN_CALL_BUDGET_MS - 1)):
        with pytest.raises(ClientError):
            deps.dynamodb.describe_table(TableName="t")
        with pytest.raises(ClientError):
            deps.sqs.get_queue_url(QueueName="q")
    assert (failing.attempts, deps.retry_budget.refused) == (2, 2)
