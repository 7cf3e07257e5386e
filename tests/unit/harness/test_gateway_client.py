"""The typed gateway client: fault plans, the call journal, and the plugin's audit wiring (no emulator)."""

from __future__ import annotations

import http.client
import json
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from s3pipe.gateway import (
    FaultPlan,
    FaultRule,
    GatewayCall,
    GatewayClient,
    GatewayError,
    GatewayServer,
    Journal,
    PlanError,
    parse_plan,
)

DEAD_UPSTREAM = "http://127.0.0.1:9"  # nothing listens: forwarded calls end as 502, faulted ones never get there


@pytest.fixture
def gateway() -> Iterator[GatewayServer]:
    server = GatewayServer(("127.0.0.1", 0), DEAD_UPSTREAM, Journal(None)).start_background()
    yield server
    server.stop()


@pytest.fixture
def client(gateway: GatewayServer) -> GatewayClient:
    return GatewayClient(gateway.url)


def ddb_request(gateway: GatewayServer, action: str = "BatchWriteItem") -> int:
    """One signed-looking DynamoDB request through the gateway; its status."""
    conn = http.client.HTTPConnection("127.0.0.1", gateway.server_address[1], timeout=10)
    headers = {
        "X-Amz-Target": f"DynamoDB_20120810.{action}",
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=000000000000/20240101/ap-northeast-1/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=0",
    }
    conn.request("POST", "/", body=json.dumps({"TableName": "logs-table"}), headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


# ---------------------------------------------------------------------------------------------- plans


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fault": "explode"}, "fault must be one of"),
        ({"probability": 1.5}, "probability"),
        ({"max_count": -1}, "max_count"),
        ({"delay_ms": -5}, "delay_ms"),
        ({"unprocessed_fraction": 0.0}, "unprocessed_fraction"),
        ({"fault": "unprocessed", "action": "PutItem"}, "BatchWriteItem only"),
    ],
)
def test_a_rule_the_gateway_would_refuse_is_refused_at_once(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        FaultRule("dynamodb", **kwargs)


def test_a_plan_is_what_the_gateway_reads() -> None:
    plan = FaultPlan(
        seed=3,
        rules=(
            FaultRule("dynamodb", "BatchWriteItem", "unprocessed", probability=0.2, unprocessed_fraction=0.25),
            FaultRule("s3", "GetObject", "delay", delay_ms=200, max_count=3, resource="arn:aws:s3:::b/*"),
        ),
    )
    parsed = parse_plan(json.loads(json.dumps(plan.to_json())))
    assert parsed == plan
    assert parsed.seed == 3
    assert [(r.fault, r.probability, r.max_count, r.resource) for r in parsed.rules] == [
        ("unprocessed", 0.2, None, None),
        ("delay", 1.0, 3, "arn:aws:s3:::b/*"),
    ]


def test_a_journal_line_becomes_a_typed_call() -> None:
    line = {
        "seq": 4,
        "time": 1.5,
        "service": "s3",
        "action": "GetObject",
        "iam_actions": ["s3:GetObjectVersion"],
        "resources": ["arn:aws:s3:::b/k"],
        "permissions": [["s3:GetObjectVersion", "arn:aws:s3:::b/k"]],
        "region": "ap-northeast-1",
        "account": "000000000000",
        "method": "GET",
        "path": "/b/k?versionId=v",
        "status": 503,
        "fault": "throttle",
        "duration_ms": 0.4,
        "context": {"s3:VersionId": "v"},
        "sdk": {"invocation": "abc", "attempt": 5, "max_attempts": 5},
    }
    call = GatewayCall.from_json(line)
    assert call.permissions == (("s3:GetObjectVersion", "arn:aws:s3:::b/k"),)
    assert (call.iam_actions, call.resources) == (("s3:GetObjectVersion",), ("arn:aws:s3:::b/k",))
    assert (call.status, call.fault, call.sdk_invocation, call.last_attempt) == (503, "throttle", "abc", True)
    assert str(call) == "#4 s3:GetObject arn:aws:s3:::b/k -> 503 [throttle]"
    assert GatewayCall.from_json({"seq": 0, "status": None}).last_attempt is False


# ---------------------------------------------------------------------------------------------- client


def test_health_and_plan_round_trip(client: GatewayClient, gateway: GatewayServer) -> None:
    assert client.health()["status"] == "ok"
    state = client.set_plan(FaultPlan(seed=5, rules=(FaultRule("dynamodb", "BatchWriteItem", max_count=1),)))
    assert state["seed"] == 5
    assert ddb_request(gateway) == 400  # throttled
    assert ddb_request(gateway) == 502  # max_count reached: forwarded to the (dead) upstream
    assert client.plan_state()["rules"][0]["fired"] == 1
    client.clear()
    assert client.plan_state() == {"seed": 0, "rules": []}


def test_faults_are_cleared_when_the_block_fails(client: GatewayClient, gateway: GatewayServer) -> None:
    plan = FaultPlan(rules=(FaultRule("dynamodb", fault="server_error"),))
    seen = []

    def failing_block() -> None:
        with client.faults(plan):
            seen.append(ddb_request(gateway))
            raise RuntimeError("the test failed inside the block")

    with pytest.raises(RuntimeError):
        failing_block()
    assert seen == [500]
    assert client.plan_state()["rules"] == []
    assert ddb_request(gateway) == 502


def test_calls_since_a_cursor(client: GatewayClient, gateway: GatewayServer) -> None:
    ddb_request(gateway, "PutItem")
    mark = client.cursor()
    ddb_request(gateway, "GetItem")
    ddb_request(gateway, "DeleteItem")
    calls = client.calls(mark)
    assert [(c.seq, c.action, c.status) for c in calls] == [(1, "GetItem", 502), (2, "DeleteItem", 502)]
    assert calls[0].iam_actions == ("dynamodb:GetItem",)
    assert calls[0].resources == ("arn:aws:dynamodb:ap-northeast-1:000000000000:table/logs-table",)
    assert client.cursor() == 3
    assert [c.action for c in client.calls()] == ["PutItem", "GetItem", "DeleteItem"]


def test_a_seeded_plan_throttles_the_same_calls_each_time(client: GatewayClient, gateway: GatewayServer) -> None:
    plan = FaultPlan(seed=11, rules=(FaultRule("dynamodb", "BatchWriteItem", probability=0.5),))
    runs = []
    for _ in range(2):
        client.set_plan(plan)  # restarts the RNG from the seed
        runs.append([ddb_request(gateway) for _ in range(30)])
    assert runs[0] == runs[1]
    assert 5 <= runs[0].count(400) <= 25


def test_an_unreachable_gateway_says_what_was_tried() -> None:
    with pytest.raises(GatewayError) as error:
        GatewayClient("http://127.0.0.1:9", timeout=2).health()
    assert "does not answer" in error.value.summary
    assert error.value.tried == "GET /_s3pipe/health on http://127.0.0.1:9"
    assert "s3pipe status" in error.value.fix


def test_a_plan_the_gateway_refuses_raises_with_its_reason(client: GatewayClient) -> None:
    with pytest.raises(GatewayError) as error:
        client._request("PUT", "faults", {"rules": [{"service": "s3", "fault": "nope"}]})
    assert "HTTP 400" in error.value.seen[0]
    assert "fault must be one of" in error.value.seen[0]


# ---------------------------------------------------------------------------------------------- plugin wiring

FAKE_AUDIT = """
    import s3pipe.pytest_plugin as plugin
    from s3pipe.iam import AuditResult


    def fake_audit(config, session, expected=(), since=0):
        declared = "; ".join(f"{e.action} on {e.resource} by {e.test}: {e.reason}" for e in expected)
        return AuditResult(
            stack=session.stack_name,
            ok=False,
            violations=("dynamodb:DeleteItem on the table",),
            text="IAM least-privilege audit of stack " + repr(session.stack_name) + ": 1 call(s) of the function"
            + ("\\nexpected: " + declared if declared else ""),
        )


    plugin.audit_session = fake_audit
"""


def test_a_unit_only_session_never_audits(suite: Any) -> None:
    suite.makepyfile(test_plain="def test_unit():\n    assert True\n")
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.no_fnmatch_line("*IAM least-privilege audit*")


def test_a_violation_fails_the_run_and_is_reported(suite: Any) -> None:
    suite.makepyfile(
        conftest=textwrap.dedent(FAKE_AUDIT),
        test_stack="def test_uses_the_session(s3pipe_session):\n    assert s3pipe_session.stack is None\n",
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*s3pipe IAM least-privilege audit*",
            "IAM least-privilege audit of stack 'pytest': 1 call(s) of the function",
            "FAILED: 1 call(s) of the function are outside its role's policy",
        ]
    )


def test_the_iam_audit_can_be_switched_off(suite: Any) -> None:
    suite.makepyfile(
        conftest=textwrap.dedent(FAKE_AUDIT).replace(
            "def fake_audit(config, session, expected=(), since=0):",
            "def fake_audit(config, session, expected=(), since=0):\n    if not config.iam_audit: return None",
        ),
        test_stack="def test_uses_the_session(s3pipe_session):\n    pass\n",
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--s3pipe-no-iam-audit")
    assert result.ret == 0
    result.stdout.no_fnmatch_line("*IAM least-privilege audit*")


def test_each_xdist_worker_reports_its_own_stack(suite: Any) -> None:
    pytest.importorskip("xdist")
    suite.makepyfile(
        conftest=textwrap.dedent(FAKE_AUDIT),
        test_stack=(
            "import pytest\n\n@pytest.mark.parametrize('n', range(4))\n"
            "def test_uses_the_session(s3pipe_session, n):\n    pass\n"
        ),
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines_random(
        [
            "IAM least-privilege audit of stack 'pytest-gw0': *",
            "IAM least-privilege audit of stack 'pytest-gw1': *",
        ]
    )


def test_expected_denials_declared_by_tests_reach_the_audit(suite: Any) -> None:
    suite.makepyfile(
        conftest=textwrap.dedent(FAKE_AUDIT),
        test_stack=textwrap.dedent(
            """
            import pytest

            @pytest.mark.iam_expected_denial("s3:GetObject", "arn:aws:s3:::other/*", reason="foreign bucket")
            def test_uses_the_session(s3pipe_session):
                pass
            """
        ),
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        ["expected: s3:GetObject on arn:aws:s3:::other/* by test_stack.py::test_uses_the_session: foreign bucket"]
    )
