"""Fault plans: validation, the seeded engine, and the faults' own shapes (no network)."""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

import pytest
from botocore_requests import (
    ACCOUNT,
    REGION,
)

from s3pipe.gateway.classify import (
    Classified,
    RequiredPermission,
)
from s3pipe.gateway.faults import FaultEngine, PlanError, fault_response, parse_plan, split_batch_write


def test_plans_are_validated() -> None:
    plan = parse_plan(
        {"seed": 3, "rules": [{"service": "dynamodb", "action": "BatchWriteItem", "fault": "delay", "delay_ms": 5}]}
    )
    assert plan.seed == 3
    rules = plan.rules
    assert (rules[0].fault, rules[0].delay_ms, rules[0].probability) == ("delay", 5, 1.0)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "JSON object"),
        ({"rules": [], "extra": 1}, "unknown plan field"),
        ({"seed": "x"}, "seed must be an integer"),
        ({"rules": [{"service": "s3", "fault": "explode"}]}, "fault must be one of"),
        ({"rules": [{"service": "s3", "fault": "throttle", "probability": 2}]}, "probability"),
        ({"rules": [{"service": "s3", "fault": "throttle", "max_count": -1}]}, "max_count"),
        ({"rules": [{"service": "sqs", "action": "SendMessage", "fault": "unprocessed"}]}, "BatchWriteItem only"),
        ({"rules": [{"service": "s3", "fault": "throttle", "colour": "red"}]}, "unknown field"),
        ({"rules": [{"service": "s3", "fault": "throttle", "scope": "request"}]}, "scope must be one of"),
    ],
)
def test_bad_plans_are_refused_with_the_reason(document: Any, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        parse_plan(document)


def call_of(service: str, action: str, resource: str = "*") -> Classified:
    return Classified(service, action, "json", REGION, ACCOUNT, (RequiredPermission(f"{service}:{action}", resource),))


def decisions(seed: int, count: int, probability: float = 0.3) -> list[bool]:
    engine = FaultEngine()
    plan = parse_plan(
        {
            "rules": [
                {"service": "dynamodb", "action": "BatchWriteItem", "fault": "throttle", "probability": probability}
            ]
        }
    )
    engine.set_plan(dataclasses.replace(plan, seed=seed))
    return [engine.pick(call_of("dynamodb", "BatchWriteItem")) is not None for _ in range(count)]


def test_a_seeded_plan_makes_the_same_decisions_every_run() -> None:
    first = decisions(seed=42, count=200)
    assert first == decisions(seed=42, count=200)
    assert first != decisions(seed=43, count=200)
    assert 30 <= sum(first) <= 90  # about 30 % of 200


def test_only_calls_a_rule_matches_draw_from_the_rng() -> None:
    engine = FaultEngine()
    plan = parse_plan(
        {"rules": [{"service": "dynamodb", "action": "BatchWriteItem", "fault": "throttle", "probability": 0.5}]}
    )
    engine.set_plan(dataclasses.replace(plan, seed=7))
    picked = []
    for index in range(100):
        engine.pick(call_of("sqs", "SendMessage"))  # other traffic must not shift the sequence
        picked.append(engine.pick(call_of("dynamodb", "BatchWriteItem")) is not None)
        del index
    assert picked == decisions(seed=7, count=100, probability=0.5)


def test_rule_matching_service_action_resource_and_max_count() -> None:
    engine = FaultEngine()
    plan = parse_plan(
        {
            "rules": [
                {
                    "service": "s3",
                    "action": "Get*",
                    "fault": "throttle",
                    "resource": "arn:aws:s3:::b/slow/*",
                    "max_count": 2,
                },
                {"service": "*", "action": "*", "fault": "delay", "delay_ms": 1},
            ]
        }
    )
    engine.set_plan(dataclasses.replace(plan, seed=0))
    slow = call_of("s3", "GetObject", "arn:aws:s3:::b/slow/x")
    fast = call_of("s3", "GetObject", "arn:aws:s3:::b/fast/x")
    kinds = [rule.fault if (rule := engine.pick(c)) else None for c in (slow, fast, slow, slow)]
    assert kinds == ["throttle", "delay", "throttle", "delay"]  # the throttle rule fired twice, then stopped
    assert [rule["fired"] for rule in engine.state()["rules"]] == [2, 2]
    engine.clear()
    assert engine.pick(slow) is None


def test_an_sdk_call_scoped_rule_fails_every_attempt_of_the_calls_it_counts() -> None:
    engine = FaultEngine()
    engine.set_plan(
        parse_plan(
            {
                "rules": [
                    {"service": "dynamodb", "action": "BatchWriteItem", "max_count": 2, "scope": "sdk_call"},
                ]
            }
        )
    )
    write = call_of("dynamodb", "BatchWriteItem")
    # two SDK calls of 5 attempts each fail whole, whatever the SDK's attempt count; the third call passes
    attempts = [(sdk, engine.pick(write, sdk) is not None) for sdk in ["a"] * 5 + ["b"] * 5 + ["c"]]
    assert [fired for _, fired in attempts] == [True] * 10 + [False]
    assert engine.pick(write, "a") is not None  # a late attempt of a counted call still fails
    assert [rule["fired"] for rule in engine.state()["rules"]] == [2]
    # without the SDK's invocation id, each attempt is its own call
    engine.set_plan(engine.plan)
    assert [engine.pick(write) is not None for _ in range(3)] == [True, True, False]


def test_unprocessed_holds_back_a_fraction_of_the_items() -> None:
    requests = [{"PutRequest": {"Item": {"PK": {"S": str(i)}}}} for i in range(10)]
    body = json.dumps({"RequestItems": {"t": requests}, "ReturnConsumedCapacity": "NONE"}).encode()
    rng = random.Random(1)

    forward, held, count = split_batch_write(body, 0.3, lambda n, k: sorted(rng.sample(range(n), k)))

    assert count == 3
    assert forward is not None
    sent = json.loads(forward)
    assert sent["ReturnConsumedCapacity"] == "NONE"
    assert len(sent["RequestItems"]["t"]) == 7
    assert (
        sorted(sent["RequestItems"]["t"] + held["t"], key=lambda r: int(r["PutRequest"]["Item"]["PK"]["S"])) == requests
    )


def test_unprocessed_of_everything_forwards_nothing() -> None:
    body = json.dumps({"RequestItems": {"t": [{"PutRequest": {"Item": {"PK": {"S": "1"}}}}]}}).encode()
    forward, held, count = split_batch_write(body, 0.1, lambda n, k: list(range(k)))
    assert (forward, count, len(held["t"])) == (None, 1, 1)


@pytest.mark.parametrize(
    ("service", "protocol", "kind", "status", "code"),
    [
        ("dynamodb", "json", "throttle", 400, "ProvisionedThroughputExceededException"),
        ("dynamodb", "json", "server_error", 500, "InternalServerError"),
        ("sqs", "json", "throttle", 400, "ThrottlingException"),
        ("sqs", "query", "throttle", 400, "RequestThrottled"),
        ("s3", "rest-xml", "throttle", 503, "SlowDown"),
        ("s3", "rest-xml", "server_error", 500, "InternalError"),
    ],
)
def test_fault_responses_have_the_services_own_shape(
    service: str, protocol: str, kind: str, status: int, code: str
) -> None:
    call = Classified(service, "X", protocol, REGION, ACCOUNT, ())
    got_status, headers, body = fault_response(kind, call, "GET")
    assert got_status == status
    assert code in body.decode()
    assert dict(headers)["Content-Type"]


def test_a_head_request_gets_an_error_without_a_body() -> None:
    _, _, body = fault_response("throttle", Classified("s3", "HeadObject", "rest-xml", REGION, ACCOUNT, ()), "HEAD")
    assert body == b""


# ---------------------------------------------------------------------------------------------- end to end
