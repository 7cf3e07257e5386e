"""Hypothesis strategies: SQS events carrying S3 notifications (and worse), and log payloads.

Payload strategies produce *records* together with their serialization, so properties can say
``parse(serialize(records)) == records`` for every accepted format, gzipped or not.
"""

from __future__ import annotations

import gzip
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote_plus

from hypothesis import strategies as st

BUCKETS = st.sampled_from(["ingest-bucket", "logs.example-1", "a1b"])

# Keys: spaces, '+', '%', '=', Unicode, deep prefixes (S3 allows any UTF-8 up to 1024 bytes).
_KEY_CHARS = st.one_of(
    st.sampled_from([*" +%=&?#!$'()*,;:@~_-.", "é", "日", "本", "ß", "😀", "ü"]),
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
)
KEY_SEGMENTS = st.text(_KEY_CHARS, min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
KEY_PREFIXES = st.lists(KEY_SEGMENTS, max_size=6).map(lambda parts: "".join(p + "/" for p in parts))
SUFFIXES = st.sampled_from([".json", ".jsonl", ".ndjson", ".log", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".log.gz"])


@st.composite
def object_keys(draw: st.DrawFn, suffix: st.SearchStrategy[str] = SUFFIXES) -> str:
    key = draw(KEY_PREFIXES) + draw(KEY_SEGMENTS) + draw(suffix)
    while len(key.encode()) > 1024:
        key = key[1:]
    return key


def encode_key(key: str) -> str:
    """How S3 puts a key into an event notification: URL-encoded, '+' for space."""
    return quote_plus(key, safe="/")


def s3_record(
    bucket: str,
    key: str,
    *,
    version_id: str | None = None,
    size: int = 0,
    event_name: str = "ObjectCreated:Put",
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "key": encode_key(key),
        "size": size,
        "eTag": "0123456789abcdef0123456789abcdef",
        "sequencer": "0055AED6DCD90281E5",
    }
    if version_id is not None:
        obj["versionId"] = version_id
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2025-10-20T10:30:00.000Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:EXAMPLE"},
        "requestParameters": {"sourceIPAddress": "192.0.2.1"},
        "responseElements": {"x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "ingest",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "EXAMPLE"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def s3_event_body(records: list[dict[str, Any]]) -> str:
    """The SQS body: the S3 event as a JSON *string*."""
    return json.dumps({"Records": records})


def s3_test_event_body(bucket: str = "ingest-bucket") -> str:
    return json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2025-10-20T10:30:00.000Z",
            "Bucket": bucket,
            "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
        }
    )


def sqs_record(body: str, message_id: str | None = None) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:ingest",
        "awsRegion": "us-east-1",
    }


def sqs_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}


MESSAGE_IDS = st.uuids().map(str)
VERSION_IDS = st.one_of(st.none(), st.text("abcdefghijklmnopqrstuvwxyz0123456789._", min_size=8, max_size=32))


@st.composite
def s3_records(draw: st.DrawFn, suffix: st.SearchStrategy[str] = SUFFIXES) -> dict[str, Any]:
    return s3_record(draw(BUCKETS), draw(object_keys(suffix)), version_id=draw(VERSION_IDS))


S3_EVENT_BODIES = st.lists(s3_records(), min_size=1, max_size=4).map(s3_event_body)
TEST_EVENT_BODIES = BUCKETS.map(s3_test_event_body)
NON_S3_JSON_BODIES = st.one_of(
    st.dictionaries(st.text(max_size=8).filter(lambda k: k not in ("Records", "Event")), st.integers(), max_size=4),
    st.lists(st.integers(), max_size=3),
    st.integers(),
    st.text(max_size=20),
    st.just({"Records": []}),
    st.just({"Records": [{"eventSource": "aws:dynamodb"}]}),
    st.just({"Records": "nope"}),
    st.just({"Type": "Notification", "Message": "{}"}),
).map(json.dumps)
NON_JSON_BODIES = st.text(min_size=1, max_size=40).filter(lambda s: not _is_json(s))
EMPTY_BODIES = st.sampled_from(["", " ", "\n\t "])
ANY_BODY = st.one_of(S3_EVENT_BODIES, TEST_EVENT_BODIES, NON_S3_JSON_BODIES, NON_JSON_BODIES, EMPTY_BODIES)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------ JSON values

# Numbers DynamoDB can store: <= 38 significant digits, magnitude within 1E-130 .. 9.99E+125.
DECIMALS = st.builds(
    lambda mantissa, exponent: Decimal(f"{mantissa}E{exponent}"),
    st.integers(-(10**20), 10**20),
    st.integers(-60, 60),
)
INTEGERS = st.integers(-(10**30), 10**30)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
ATTRIBUTE_NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
SCALARS = st.one_of(st.none(), st.booleans(), INTEGERS, DECIMALS, TEXT)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(ATTRIBUTE_NAMES, children, max_size=4)),
    max_leaves=12,
)
_RESERVED = {"PK", "SK", "src_bucket", "src_key", "src_line", "src_format"}
RECORDS = st.dictionaries(ATTRIBUTE_NAMES.filter(lambda n: n not in _RESERVED), JSON_VALUES, min_size=1, max_size=6)


def dumps(value: Any, indent: int | None = None, level: int = 0) -> str:
    """JSON text with Decimals written exactly (json.dumps cannot)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return json.dumps(value, ensure_ascii=False)
    pad = "" if indent is None else "\n" + " " * (indent * (level + 1))
    end = "" if indent is None else "\n" + " " * (indent * level)
    sep = ", " if indent is None else ","
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[" + sep.join(pad + dumps(v, indent, level + 1) for v in value) + end + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return (
            "{"
            + sep.join(
                pad + json.dumps(k, ensure_ascii=False) + ": " + dumps(v, indent, level + 1) for k, v in value.items()
            )
            + end
            + "}"
        )
    raise TypeError(type(value))


# ------------------------------------------------------------------------------------- payloads


@dataclass(frozen=True)
class Payload:
    """A file's bytes, its name suffix, and what parsing it must give: (line, record, fmt) triples."""

    data: bytes
    suffix: str
    expected: list[tuple[int, dict[str, Any], str]]
    gzipped: bool

    @property
    def family(self) -> str:
        base = self.suffix.removesuffix(".gz")
        return {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".log": "log"}[base]


def _maybe_gzip(data: bytes, gz: bool) -> bytes:
    return gzip.compress(data, mtime=0) if gz else data


@st.composite
def json_object_payloads(draw: st.DrawFn) -> Payload:
    record = draw(RECORDS)
    gz = draw(st.booleans())
    text = dumps(record, indent=draw(st.sampled_from([None, 2, 4])))
    return Payload(_maybe_gzip(text.encode(), gz), ".json.gz" if gz else ".json", [(1, record, "json")], gz)


@st.composite
def json_array_payloads(draw: st.DrawFn) -> Payload:
    records = draw(st.lists(RECORDS, min_size=1, max_size=8))
    gz = draw(st.booleans())
    one_per_line = draw(st.booleans())
    if one_per_line:
        text = "[\n" + ",\n".join(dumps(r) for r in records) + "\n]\n"
        expected = [(i + 2, r, "json_array") for i, r in enumerate(records)]
    else:
        text = "[" + ", ".join(dumps(r) for r in records) + "]"
        expected = [(1, r, "json_array") for r in records]
    return Payload(_maybe_gzip(text.encode(), gz), ".json.gz" if gz else ".json", expected, gz)


@st.composite
def json_lines_payloads(draw: st.DrawFn) -> Payload:
    records = draw(st.lists(RECORDS, min_size=1, max_size=10))
    blank_after = draw(st.lists(st.booleans(), min_size=len(records), max_size=len(records)))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    gz = draw(st.booleans())
    suffix = draw(st.sampled_from([".jsonl", ".ndjson"]))
    lines: list[str] = []
    expected = []
    for record, blank in zip(records, blank_after, strict=True):
        lines.append(dumps(record))
        expected.append((len(lines), record, "jsonl"))
        if blank:
            lines.append("")
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    return Payload(_maybe_gzip(text.encode(), gz), suffix + (".gz" if gz else ""), expected, gz)


_TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:@", min_size=1, max_size=12)
_PATH = st.text("abcdefghijklmnopqrstuvwxyz0123456789/._-?=&%~+", min_size=1, max_size=30).map(lambda p: "/" + p)
_QUOTED_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters='"\\'), max_size=40
)
_MOMENTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1))
_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@st.composite
def access_log_lines(draw: st.DrawFn, combined: bool) -> tuple[str, dict[str, Any]]:
    moment = draw(_MOMENTS).replace(tzinfo=UTC)
    local = moment.astimezone(draw(_OFFSETS))
    stamp = local.strftime("%d/%b/%Y:%H:%M:%S %z")
    host = draw(st.one_of(st.ip_addresses().map(str), _TOKEN))
    ident = draw(st.one_of(st.just("-"), _TOKEN))
    user = draw(st.one_of(st.just("-"), _TOKEN))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]))
    path = draw(_PATH)
    protocol = draw(st.sampled_from(["HTTP/1.0", "HTTP/1.1", "HTTP/2.0"]))
    status = draw(st.integers(100, 599))
    size = draw(st.one_of(st.none(), st.integers(0, 10**12)))
    record: dict[str, Any] = {
        "remote_host": host,
        "ident": ident,
        "user": user,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "method": method,
        "path": path,
        "protocol": protocol,
        "status": status,
    }
    if size is not None:
        record["bytes"] = size
    size_text = "-" if size is None else str(size)
    line = f'{host} {ident} {user} [{stamp}] "{method} {path} {protocol}" {status} {size_text}'
    if combined:
        referer = draw(st.one_of(st.just("-"), _QUOTED_TEXT))
        agent = draw(_QUOTED_TEXT)
        record["referer"] = referer
        record["user_agent"] = agent
        line += f' "{referer}" "{agent}"'
    return line, record


@st.composite
def access_log_payloads(draw: st.DrawFn) -> Payload:
    kinds = draw(st.lists(st.booleans(), min_size=1, max_size=10))
    gz = draw(st.booleans())
    lines = []
    expected = []
    for n, combined in enumerate(kinds, 1):
        line, record = draw(access_log_lines(combined))
        lines.append(line)
        expected.append((n, record, "combined" if combined else "clf"))
    text = "\n".join(lines) + "\n"
    return Payload(_maybe_gzip(text.encode(), gz), ".log.gz" if gz else ".log", expected, gz)


PAYLOADS = st.one_of(json_object_payloads(), json_array_payloads(), json_lines_payloads(), access_log_payloads())
