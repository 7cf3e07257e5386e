"""Settings (from the environment Terraform sets) and the injectable dependencies.

Required: ``TABLE_NAME``, ``DLQ_URL``. Optional: ``ACCEPTED_SUFFIXES`` (comma-separated),
``LOG_LEVEL`` (INFO), ``WRITE_CONCURRENCY`` (4 concurrent BatchWriteItem calls),
``SAFETY_MARGIN_MS`` (time kept in reserve before the Lambda timeout; default 10 s, at most a
fifth of the time the invocation started with), ``S3_ADDRESSING_STYLE`` (auto|path|virtual, for
emulators without virtual-host buckets), ``ON_OBJECT_REMOVED`` (retain|delete: what an
``ObjectRemoved`` event does to the object's items; default retain). The SDK endpoint comes from the environment
(``AWS_ENDPOINT_URL`` ...), which boto3 honours natively: no endpoint is coded here.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal, cast, get_args

from .formats import DEFAULT_ACCEPTED_SUFFIXES, DEFAULT_CHUNK_SIZE, DEFAULT_MAX_LINE_BYTES
from .retry_budget import RetryBudget, bound_retries

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient

AddressingStyle = Literal["auto", "path", "virtual"]
#: What an ``ObjectRemoved`` event does: nothing (the items stay), or delete the object's items.
RemovalPolicy = Literal["retain", "delete"]
DEFAULT_SAFETY_MARGIN_MS: Final = 10_000
DEFAULT_WRITE_CONCURRENCY: Final = 4
MAX_WRITE_CONCURRENCY: Final = 16
CONNECT_TIMEOUT_S: Final = 5
READ_TIMEOUT_S: Final = 30
#: Attempts per request, the first one included (botocore's standard retry mode: throttling,
#: 5xx and connection errors are retried with exponential backoff).
TOTAL_MAX_ATTEMPTS: Final = 5
#: 1 MiB of JSON Lines is ~5,000 records of 200 B: ~5 s of one partition's 1,000 WCU/s.
DEFAULT_RECORD_SHARD_BYTES: Final = 1 << 20
DEFAULT_MAX_RECORD_SHARDS: Final = 16


class ConfigurationError(Exception):
    """A required setting is missing or invalid."""


@dataclass(frozen=True, slots=True)
class Settings:
    table_name: str
    dlq_url: str
    accepted_suffixes: tuple[str, ...] = DEFAULT_ACCEPTED_SUFFIXES
    log_level: str = "INFO"
    write_concurrency: int = DEFAULT_WRITE_CONCURRENCY
    safety_margin_ms: int = DEFAULT_SAFETY_MARGIN_MS
    s3_addressing_style: AddressingStyle | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    #: Entries (records + rejections) held in memory before writing starts; see ingest.py.
    hold_max_entries: int = 5000
    hold_max_chars: int = 8 << 20
    #: Rejections logged one by one per object; the rest are counted in one line.
    max_logged_rejections: int = 50
    #: Line reasons quoted in a DLQ FailureReason for a file whose every record was rejected.
    reasons_in_summary: int = 3
    #: Visibility backoff of retried messages (backoff.py): base * 2^(receive - 1), capped; 0: off.
    retry_backoff_base_s: int = 0
    retry_backoff_max_s: int = 900
    #: ``ObjectRemoved`` events: ignored (retain) or the object's items deleted (versions.py).
    on_object_removed: RemovalPolicy = "retain"
    #: An object's records are spread over one partition per this many bytes of it (items.py).
    record_shard_bytes: int = DEFAULT_RECORD_SHARD_BYTES
    max_record_shards: int = DEFAULT_MAX_RECORD_SHARDS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        table = env.get("TABLE_NAME", "").strip()
        dlq = env.get("DLQ_URL", "").strip()
        missing = [name for name, value in (("TABLE_NAME", table), ("DLQ_URL", dlq)) if not value]
        if missing:
            raise ConfigurationError(f"missing required environment variable(s): {', '.join(missing)}")
        raw_suffixes = env.get("ACCEPTED_SUFFIXES", "")
        suffixes = tuple(
            s if s.startswith(".") else f".{s}" for s in (p.strip().lower() for p in raw_suffixes.split(",")) if s
        )
        style = _choice_setting(env, "S3_ADDRESSING_STYLE", get_args(AddressingStyle))
        removal = _choice_setting(env, "ON_OBJECT_REMOVED", get_args(RemovalPolicy)) or "retain"
        return cls(
            table_name=table,
            dlq_url=dlq,
            accepted_suffixes=suffixes or DEFAULT_ACCEPTED_SUFFIXES,
            log_level=env.get("LOG_LEVEL", "INFO").strip() or "INFO",
            write_concurrency=_int_setting(
                env, "WRITE_CONCURRENCY", DEFAULT_WRITE_CONCURRENCY, 1, MAX_WRITE_CONCURRENCY
            ),
            safety_margin_ms=_int_setting(env, "SAFETY_MARGIN_MS", DEFAULT_SAFETY_MARGIN_MS, 0, 600_000),
            s3_addressing_style=cast("AddressingStyle | None", style),
            retry_backoff_base_s=_int_setting(env, "RETRY_BACKOFF_BASE_SECONDS", 0, 0, 43_200),
            retry_backoff_max_s=_int_setting(env, "RETRY_BACKOFF_MAX_SECONDS", 900, 0, 43_200),
            on_object_removed=cast("RemovalPolicy", removal),
            record_shard_bytes=_int_setting(env, "RECORD_SHARD_BYTES", DEFAULT_RECORD_SHARD_BYTES, 1, 1 << 40),
            max_record_shards=_int_setting(env, "MAX_RECORD_SHARDS", DEFAULT_MAX_RECORD_SHARDS, 1, 1000),
        )


def _choice_setting(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    """One of ``choices`` (case-insensitive), or None when unset."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return None
    if raw not in choices:
        raise ConfigurationError(f"{name} must be {', '.join(choices[:-1])} or {choices[-1]}, not {raw!r}")
    return raw


def _int_setting(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}, not {value}")
    return value


@dataclass(frozen=True, slots=True)
class Dependencies:
    """Everything the handler touches outside itself; tests pass fakes."""

    settings: Settings
    s3: S3Client
    dynamodb: DynamoDBClient
    sqs: SQSClient
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random
    clock: Callable[[], float] = time.monotonic
    executor: ThreadPoolExecutor | None = field(default=None)
    #: Queue URLs by ARN (continuation messages), cached for the container's lifetime.
    queue_urls: dict[str, str] = field(default_factory=dict, compare=False)
    #: Bounds the clients' SDK retries by the running invocation's deadline (retry_budget.py).
    retry_budget: RetryBudget = field(default_factory=RetryBudget, compare=False)


def build_dependencies(settings: Settings) -> Dependencies:
    """Real boto3 clients: standard retry mode bounded by the invocation's deadline, bounded timeouts,
    endpoint from the environment."""
    import boto3  # keep module import cheap for tests that never build clients
    from botocore.config import Config

    base = Config(
        retries={"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        max_pool_connections=max(10, settings.write_concurrency * 2),
    )
    s3_config = base
    if settings.s3_addressing_style:
        s3_config = base.merge(Config(s3={"addressing_style": settings.s3_addressing_style}))
    session = boto3.session.Session()
    executor = (
        ThreadPoolExecutor(max_workers=settings.write_concurrency, thread_name_prefix="ddb-writer")
        if settings.write_concurrency > 1
        else None
    )
    s3, dynamodb, sqs = (
        session.client("s3", config=s3_config),
        session.client("dynamodb", config=base),
        session.client("sqs", config=base),
    )
    budget = RetryBudget()
    for client in (s3, dynamodb, sqs):
        bound_retries(client, budget, TOTAL_MAX_ATTEMPTS)
    return Dependencies(settings=settings, s3=s3, dynamodb=dynamodb, sqs=sqs, executor=executor, retry_budget=budget)
