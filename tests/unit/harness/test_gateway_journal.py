"""The bounded call journal: a ring buffer that counts what it drops, a rotated file, and pages for the harness."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3pipe.gateway import GatewayCall, GatewayClient, GatewayServer, Journal
from s3pipe.gateway.journal import JournalPage, error_code
from s3pipe.iam.report import audit_calls


def entry(n: int) -> dict[str, object]:
    return {"service": "sqs", "action": "SendMessage", "n": n}


def test_the_newest_entries_are_kept_and_the_dropped_ones_counted() -> None:
    journal = Journal(None, capacity=3)
    for n in range(5):
        assert journal.append(entry(n)) == n

    entries, next_seq = journal.read(0)
    assert [e["seq"] for e in entries] == [2, 3, 4]
    assert next_seq == len(journal) == 5
    assert journal.dropped == 2
    assert (journal.dropped_since(0), journal.dropped_since(1), journal.dropped_since(2)) == (2, 1, 0)
    assert [e["seq"] for e in journal.read(3)[0]] == [3, 4]
    assert journal.read(5) == ([], 5)


def test_the_file_is_rotated_so_the_disk_holds_at_most_twice_the_capacity(tmp_path: Path) -> None:
    path = tmp_path / "gateway-1.jsonl"
    journal = Journal(path, capacity=3)
    for n in range(7):
        journal.append(entry(n))
    journal.close()

    assert [json.loads(line)["seq"] for line in path.read_text().splitlines()] == [6]
    rotated = path.with_name("gateway-1.jsonl.1")
    assert [json.loads(line)["seq"] for line in rotated.read_text().splitlines()] == [3, 4, 5]
    assert [e["seq"] for e in journal.read(0)[0]] == [4, 5, 6]  # reads come from memory


def test_a_journal_keeps_at_least_one_entry() -> None:
    with pytest.raises(ValueError, match="at least one entry"):
        Journal(None, capacity=0)


@pytest.fixture
def small_gateway() -> Iterator[GatewayServer]:
    server = GatewayServer(("127.0.0.1", 0), "http://127.0.0.1:9", Journal(None, capacity=2)).start_background()
    yield server
    server.stop()


def test_a_page_says_how_many_calls_asked_for_were_dropped(small_gateway: GatewayServer) -> None:
    for n in range(5):
        small_gateway.journal.append(entry(n))
    client = GatewayClient(small_gateway.url)

    page = client.page(1)
    assert ([c.seq for c in page.calls], page.next, page.dropped, page.capacity) == ([3, 4], 5, 2, 2)
    assert [c.seq for c in client.calls(4)] == [4]
    assert client.page(4).dropped == 0
    health = client.health()
    assert (health["calls"], health["dropped"], health["capacity"]) == (5, 3, 2)


def test_a_page_of_an_older_gateway_drops_nothing() -> None:
    assert JournalPage.from_json({"next": 2, "calls": []}) == JournalPage((), 2)


def test_the_audit_reports_calls_it_could_not_see() -> None:
    report = audit_calls([], [], stack="pytest", role="r", dropped=7)
    assert report.to_json()["dropped"] == 7
    assert "NOT AUDITED: 7 earlier call(s) were dropped" in report.render_text()
    assert "NOT AUDITED" not in audit_calls([], [], stack="pytest", role="r").render_text()


@pytest.mark.parametrize(
    ("headers", "body", "code"),
    [
        ({}, b'{"__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException"}', "AccessDeniedException"),
        ({"x-amzn-query-error": "AccessDenied;Sender"}, b'{"__type": "x"}', "AccessDenied"),
        ({"X-Amzn-ErrorType": "ThrottlingException:http://internal"}, b"", "ThrottlingException"),
        ({}, b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>", "AccessDenied"),
        ({}, b"<ErrorResponse><Error><Code>AWS.SimpleQueueService.NonExistentQueue</Code>", None),
        ({}, b"not an error document", None),
        ({}, b"{not json", None),
    ],
)
def test_error_codes_of_every_protocol(headers: dict[str, str], body: bytes, code: str | None) -> None:
    expected = "AWS.SimpleQueueService.NonExistentQueue" if b"NonExistentQueue" in body else code
    assert error_code(headers, body) == expected


def test_calls_the_backend_refused_are_counted_beside_the_audits_verdict() -> None:
    allowed = {"seq": 0, "service": "dynamodb", "action": "DeleteItem", "status": 400}
    permissions = [["dynamodb:DeleteItem", "arn:aws:dynamodb:r:1:table/t"]]
    calls = [
        GatewayCall.from_json({**allowed, "permissions": permissions, "error_code": "AccessDeniedException"}),
        GatewayCall.from_json({**allowed, "permissions": permissions, "status": 200}),
    ]
    report = audit_calls([], calls, stack="pytest", role="r")
    (kind,) = report.kinds
    assert (kind.outcome, kind.calls, kind.refused) == ("implicit_deny", 2, 1)
    assert "NOT ALLOWED (no statement); the backend refused 1 as not authorised" in report.render_text()
    assert report.to_json()["calls"][0]["refused"] == 1
