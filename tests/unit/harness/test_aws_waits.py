"""Quota-aware waits: CloudWatch Logs reads paced per stack and slowed while throttled; the mapping's
state waited for, not assumed.

Requests are real botocore requests, answered before they leave (a ``before-send`` handler); the
clock and the sleep of the pacer are the test's.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.stub import Stubber

from s3pipe.aws.pacing import Pacer, pace_reads
from s3pipe.backends.aws import AwsBackend
from s3pipe.backends.base import Credentials, Endpoint
from s3pipe.backends.embedded import EmbeddedBackend
from s3pipe.errors import HarnessError
from s3pipe.observe import FunctionLogs
from s3pipe.stack import Stack

REGION = "eu-west-1"
UUID = "11111111-2222-3333-4444-555555555555"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


class LogsService:
    """Answers FilterLogEvents: throttled ``throttle`` times in a row, then the events given."""

    def __init__(self, clock: Clock, events: list[dict[str, Any]] | None = None, throttle: int = 0) -> None:
        self.clock = clock
        self.events = events or []
        self.throttle = throttle
        self.requests: list[float] = []

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        self.requests.append(self.clock.now)
        if self.throttle:
            self.throttle -= 1
            body = {"__type": "ThrottlingException", "message": "Rate exceeded"}
            return AWSResponse(request.url, 400, {"x-amzn-RequestId": "r"}, _Raw(json.dumps(body).encode()))
        return AWSResponse(
            request.url, 200, {"x-amzn-RequestId": "r"}, _Raw(json.dumps({"events": self.events}).encode())
        )


def logs_client() -> Any:
    """A real logs client that makes one attempt per call (the SDK's own retries would add real sleeps)."""
    session = boto3.Session(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x", region_name=REGION)
    return session.client("logs", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def paced(client: Any, clock: Clock, interval: float = 1.0) -> Pacer:
    pacer = pace_reads(client, interval)
    pacer.clock, pacer.sleep = clock, clock.sleep
    return pacer


def test_reads_through_one_client_are_at_least_the_interval_apart() -> None:
    clock, client = Clock(), logs_client()
    service = LogsService(clock)
    paced(client, clock)
    client.meta.events.register("before-send.cloudwatch-logs.FilterLogEvents", service)
    logs = FunctionLogs(client, "/aws/lambda/f")
    other_reader = FunctionLogs(client, "/aws/lambda/f")  # a test's own reader shares the client's pace

    for _ in range(3):
        logs.poll()
        other_reader.poll()

    gaps = [later - earlier for earlier, later in zip(service.requests, service.requests[1:], strict=False)]
    assert len(service.requests) == 6
    assert all(gap >= 1.0 for gap in gaps), gaps


def test_throttling_slows_the_reads_down_and_a_poll_keeps_going() -> None:
    clock, client = Clock(), logs_client()
    event = {"logStreamName": "s", "timestamp": 5, "message": '{"event": "object_stored"}', "eventId": "e1"}
    service = LogsService(clock, [event], throttle=2)
    pacer = paced(client, clock)
    client.meta.events.register("before-send.cloudwatch-logs.FilterLogEvents", service)
    logs = FunctionLogs(client, "/aws/lambda/f")

    assert logs.poll() == []  # throttled past the SDK's retries: no lines, no error
    assert logs.poll() == []
    assert pacer.current == 4.0  # doubled twice
    assert [line.message for line in logs.poll()] == ['{"event": "object_stored"}']
    assert pacer.current == 2.0  # halved back towards the interval after an answer
    assert logs.throttled == 2
    assert clock.slept == [2.0, 4.0]


def test_a_stack_paces_its_logs_client_only_when_its_backend_has_a_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    paced_clients: list[tuple[Any, float]] = []
    monkeypatch.setattr("s3pipe.stack.pace_reads", lambda client, interval: paced_clients.append((client, interval)))
    endpoint = Endpoint("http://127.0.0.1:4566", REGION, Credentials.fake())
    quota = Stack("s", None, endpoint, "aws", frozenset(), log_read_interval=AwsBackend.log_read_interval)  # type: ignore[arg-type]
    free = Stack("s", None, endpoint, "embedded", frozenset(), log_read_interval=EmbeddedBackend.log_read_interval)  # type: ignore[arg-type]

    assert free.logs is free.logs
    assert quota.logs is quota.logs  # one client per stack: every reader of it shares one pace
    assert paced_clients == [(quota.logs, 1.0)]


def test_the_pacer_never_waits_longer_than_its_cap() -> None:
    clock = Clock()
    pacer = Pacer(1.0, max_interval=8.0, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        pacer.answered(throttled=True)
    assert pacer.current == 8.0
    pacer.wait()
    pacer.wait()
    assert clock.slept == [8.0]


# ---------------------------------------------------------------------------- the mapping's state


def stack_with_mapping() -> tuple[Stack, Stubber]:
    session = boto3.Session(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x", region_name=REGION)
    endpoint = Endpoint(None, REGION, Credentials("AKIAEXAMPLE", "x"), session=session, account_id="123456789012")

    class Outputs:
        event_source_mapping_uuid = UUID

    stack = Stack("s", Outputs(), endpoint, "aws", frozenset())  # type: ignore[arg-type]
    stubber = Stubber(stack.lambda_)
    return stack, stubber


def expect_state_changes(stubber: Stubber, enabled: bool, states: list[str]) -> None:
    stubber.add_response("update_event_source_mapping", {"UUID": UUID}, {"UUID": UUID, "Enabled": enabled})
    for state in states:
        stubber.add_response("get_event_source_mapping", {"UUID": UUID, "State": state}, {"UUID": UUID})


def test_mapping_paused_waits_for_disabled_before_and_enabled_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("s3pipe.stack.time.sleep", lambda _seconds: None)
    stack, stubber = stack_with_mapping()
    expect_state_changes(stubber, False, ["Disabling", "Disabling", "Disabled"])
    expect_state_changes(stubber, True, ["Enabling", "Enabled"])
    states: list[str] = []
    stack.lambda_.meta.events.register(
        "after-call.lambda.GetEventSourceMapping", lambda parsed, **_: states.append(parsed["State"])
    )
    with stubber:
        with stack.mapping_paused():
            inside = list(states)
        stubber.assert_no_pending_responses()
    assert inside == ["Disabling", "Disabling", "Disabled"]  # the block starts once AWS says Disabled
    assert states == [*inside, "Enabling", "Enabled"]  # and ends once it says Enabled again


def test_a_mapping_that_never_changes_state_fails_with_what_was_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr("s3pipe.stack.time.sleep", clock.sleep)
    monkeypatch.setattr("s3pipe.stack.time.monotonic", clock)
    stack, stubber = stack_with_mapping()
    expect_state_changes(stubber, False, ["Disabling"] * 40)
    with stubber, pytest.raises(HarnessError) as raised:
        stack.set_mapping_enabled(False, timeout=10)
    message = str(raised.value)
    assert "did not become Disabled within 10 s" in message
    assert "states seen: Disabling" in message
