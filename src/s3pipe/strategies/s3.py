"""S3 event notification records, and the SQS message bodies S3 sends (``s3:TestEvent`` included).

Shapes from the S3 user guide, "Event message structure": one JSON object with a ``Records`` array;
the key URL-encoded (:func:`~s3pipe.strategies.keys.encode_key`); ``size`` and ``eTag`` absent from
``ObjectRemoved`` records; ``versionId`` only from versioned buckets; a ``sequencer`` on creations
and removals. S3 sends one record per message today, but the format promises an array, so
:func:`s3_notification_bodies` draws up to three unless told otherwise.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from hypothesis import strategies as st

from s3pipe.strategies.aws import OpaqueIds, bucket_arn, bucket_names, opaque_ids, regions, strategy_of
from s3pipe.strategies.keys import encode_key, object_keys

#: ``s3:ObjectCreated:*`` as they appear in ``eventName`` (without ``s3:``).
OBJECT_CREATED_EVENTS: Final = (
    "ObjectCreated:Put",
    "ObjectCreated:Post",
    "ObjectCreated:Copy",
    "ObjectCreated:CompleteMultipartUpload",
)
#: ``s3:ObjectRemoved:*``; ``DeleteMarkerCreated`` happens in versioned buckets only.
OBJECT_REMOVED_EVENTS: Final = ("ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated")
#: Event structure versions: 2.1 (most events), 2.2 (replication), 2.3 (lifecycle, tagging, ACL), and
#: the unified versions from 2.4 on. Versions differ only in fields added for other event kinds.
EVENT_VERSIONS: Final = ("2.1", "2.2", "2.3", "2.4", "2.5", "2.6")
#: The ETag of an empty object (MD5 of no bytes).
EMPTY_ETAG: Final = "d41d8cd98f00b204e9800998ecf8427e"
#: Largest object S3 stores (5 TiB).
MAX_OBJECT_SIZE: Final = 5 * 1024**4

_UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_HEX = "0123456789abcdef"
_UPPER_HEX = "0123456789ABCDEF"
_VERSION_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._"
_IAM_ID = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SESSION = "abcdefghijklmnopqrstuvwxyz0123456789-_.@"
_NAME = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def s3_event_record(
    bucket: str,
    key: str,
    *,
    event_name: str = "ObjectCreated:Put",
    size: int | None = None,
    etag: str | None = None,
    version_id: str | None = None,
    sequencer: str | None = "0055AED6DCD90281E5",
    region: str = "us-east-1",
    event_time: str = "2025-10-20T10:30:00.000Z",
    event_version: str = "2.1",
    principal_id: str = "AWS:AIDAJDPLRKLG7UEXAMPLE",
    owner_id: str = "A3NL1KOZZKExample",
    source_ip: str = "192.0.2.1",
    request_id: str = "C3D13FE58DE4C810",
    host_id: str = "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
    configuration_id: str = "ingest",
) -> dict[str, Any]:
    """One S3 event record for object ``key`` (written URL-encoded, as S3 does).

    ``size`` and ``etag`` left at None are what S3 sends for the event: a zero-byte object and its
    ETag for ``ObjectCreated``, neither for ``ObjectRemoved``.
    """
    removed = event_name.startswith("ObjectRemoved:")
    obj: dict[str, Any] = {"key": encode_key(key)}
    if not removed or size is not None:
        obj["size"] = 0 if size is None else size
    if not removed or etag is not None:
        obj["eTag"] = EMPTY_ETAG if etag is None else etag
    if version_id is not None:
        obj["versionId"] = version_id
    if sequencer is not None:
        obj["sequencer"] = sequencer
    return {
        "eventVersion": event_version,
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": event_time,
        "eventName": event_name,
        "userIdentity": {"principalId": principal_id},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": host_id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": owner_id}, "arn": bucket_arn(bucket, region)},
            "object": obj,
        },
    }


def s3_notification_body(records: Iterable[dict[str, Any]]) -> str:
    """The SQS message body S3 sends: the event as a JSON *string* (compact, as S3 writes it)."""
    return json.dumps({"Records": list(records)}, separators=(",", ":"))


def s3_test_event_body(
    bucket: str = "ingest-bucket",
    *,
    time: str = "2025-10-20T10:30:00.000Z",
    request_id: str = "5582815E1AEA5ADF",
    host_id: str = "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
) -> str:
    """The ``s3:TestEvent`` body S3 sends to a destination when a notification is configured: no ``Records``."""
    document = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": time,
        "Bucket": bucket,
        "RequestId": request_id,
        "HostId": host_id,
    }
    return json.dumps(document, separators=(",", ":"))


def s3_event_records(
    *,
    bucket: str | Iterable[str] | st.SearchStrategy[str] | None = None,
    keys: st.SearchStrategy[str] | None = None,
    event_names: str | Iterable[str] | st.SearchStrategy[str] = OBJECT_CREATED_EVENTS,
    region: str | Iterable[str] | st.SearchStrategy[str] | None = None,
    event_versions: str | Iterable[str] | st.SearchStrategy[str] = EVENT_VERSIONS,
    sizes: st.SearchStrategy[int] | None = None,
    versioned: bool | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """S3 event records as AWS documents them.

    Pin what your test needs: ``bucket`` and ``region`` (a value, a list or a strategy), ``keys``
    (default :func:`~s3pipe.strategies.keys.object_keys`), ``event_names`` (default the
    ``ObjectCreated`` kinds; add :data:`OBJECT_REMOVED_EVENTS` for removals), ``sizes``,
    ``versioned`` (None: both; a ``DeleteMarkerCreated`` record always carries a version id).
    """
    return _s3_event_records(
        buckets=bucket_names() if bucket is None else strategy_of(bucket, scalar=str),
        keys=object_keys() if keys is None else keys,
        event_names=strategy_of(event_names, scalar=str),
        regions=regions() if region is None else strategy_of(region, scalar=str),
        event_versions=strategy_of(event_versions, scalar=str),
        sizes=st.integers(0, MAX_OBJECT_SIZE) if sizes is None else sizes,
        versioned=st.booleans() if versioned is None else st.just(versioned),
    )


@st.composite
def _s3_event_records(  # noqa: PLR0917 -- one argument per strategy
    draw: st.DrawFn,
    buckets: st.SearchStrategy[str],
    keys: st.SearchStrategy[str],
    event_names: st.SearchStrategy[str],
    regions: st.SearchStrategy[str],
    event_versions: st.SearchStrategy[str],
    sizes: st.SearchStrategy[int],
    versioned: st.SearchStrategy[bool],
) -> dict[str, Any]:
    event_name = draw(event_names)
    ids = draw(opaque_ids())
    size: int | None = None
    etag: str | None = None
    if not event_name.startswith("ObjectRemoved:"):
        size = draw(sizes)
        etag = EMPTY_ETAG if size == 0 else ids.text(_HEX, 32)
        if event_name == "ObjectCreated:CompleteMultipartUpload":
            etag = f"{etag}-{draw(st.integers(1, 10_000))}"  # a multipart ETag: MD5 of the parts' MD5s, "-" parts
    version_id = None
    if draw(versioned) or event_name == "ObjectRemoved:DeleteMarkerCreated":
        version_id = ids.text(_VERSION_CHARS, 32)
    moment = draw(st.datetimes(datetime(2015, 1, 1), datetime(2035, 1, 1))).replace(tzinfo=UTC)
    return s3_event_record(
        draw(buckets),
        draw(keys),
        event_name=event_name,
        size=size,
        etag=etag,
        version_id=version_id,
        sequencer=ids.text(_UPPER_HEX, 16, 20),
        region=draw(regions),
        event_time=_iso_millis(moment),
        event_version=draw(event_versions),
        principal_id=_principal_id(ids),
        owner_id=ids.text(_UPPER_ALNUM, 13, 14),
        source_ip=str(draw(st.ip_addresses())),
        request_id=ids.text(_UPPER_HEX, 16),
        host_id=ids.b64(42, 57),
        configuration_id=_configuration_id(ids),
    )


def version_ids() -> st.SearchStrategy[str]:
    """Object version ids as a versioned bucket gives them (32 characters of letters, digits, ``.`` and ``_``)."""
    return st.text(_VERSION_CHARS, min_size=32, max_size=32)


def s3_notification_bodies(
    *,
    bucket: str | Iterable[str] | st.SearchStrategy[str] | None = None,
    keys: st.SearchStrategy[str] | None = None,
    event_names: str | Iterable[str] | st.SearchStrategy[str] = OBJECT_CREATED_EVENTS,
    region: str | Iterable[str] | st.SearchStrategy[str] | None = None,
    min_records: int = 1,
    max_records: int = 3,
    test_events: bool = False,
) -> st.SearchStrategy[str]:
    """SQS message bodies as S3 sends them: ``min_records``..``max_records`` records of one bucket and region.

    ``test_events=True`` mixes in ``s3:TestEvent`` bodies. The other parameters are those of
    :func:`s3_event_records`; pass ``max_records=1`` for exactly what S3 sends today.
    """
    if not 1 <= min_records <= max_records:
        raise ValueError(f"need 1 <= min_records <= max_records, got {min_records} and {max_records}")
    buckets = bucket_names() if bucket is None else strategy_of(bucket, scalar=str)
    bodies = _s3_notification_bodies(
        buckets,
        regions() if region is None else strategy_of(region, scalar=str),
        keys=object_keys() if keys is None else keys,
        event_names=strategy_of(event_names, scalar=str),
        min_records=min_records,
        max_records=max_records,
    )
    if not test_events:
        return bodies
    return st.one_of(bodies, _s3_test_event_bodies(buckets))


@st.composite
def _s3_notification_bodies(
    draw: st.DrawFn,
    buckets: st.SearchStrategy[str],
    regions: st.SearchStrategy[str],
    *,
    keys: st.SearchStrategy[str],
    event_names: st.SearchStrategy[str],
    min_records: int,
    max_records: int,
) -> str:
    records = s3_event_records(
        bucket=st.just(draw(buckets)), region=st.just(draw(regions)), keys=keys, event_names=event_names
    )
    return s3_notification_body(draw(st.lists(records, min_size=min_records, max_size=max_records)))


@st.composite
def _s3_test_event_bodies(draw: st.DrawFn, buckets: st.SearchStrategy[str]) -> str:
    moment = draw(st.datetimes(datetime(2015, 1, 1), datetime(2035, 1, 1))).replace(tzinfo=UTC)
    ids = draw(opaque_ids())
    return s3_test_event_body(
        draw(buckets), time=_iso_millis(moment), request_id=ids.text(_UPPER_HEX, 16), host_id=ids.b64(42, 57)
    )


def _iso_millis(moment: datetime) -> str:
    """``1970-01-01T00:00:00.000Z``: the form of ``eventTime``."""
    moment = moment.astimezone(UTC) - timedelta(microseconds=moment.microsecond % 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _principal_id(ids: OpaqueIds) -> str:
    """``userIdentity.principalId``: an IAM user, an assumed role's session, or an account's canonical id."""
    kind = ids.pick(("user", "role", "account"))
    if kind == "user":
        return "AWS:AIDA" + ids.text(_IAM_ID, 16, 17)
    if kind == "role":
        return "AWS:AROA" + ids.text(_IAM_ID, 16, 17) + ":" + ids.text(_SESSION, 2, 32)
    return ids.text(_UPPER_ALNUM, 13, 14)


def _configuration_id(ids: OpaqueIds) -> str:
    """``s3.configurationId``: the notification's id as configured, or one S3 or Terraform generated."""
    kind = ids.pick(("named", "uuid", "terraform"))
    if kind == "named":
        return ids.text(_NAME, 1, 64)
    if kind == "uuid":
        return str(uuid.UUID(ids.text(_HEX, 32)))
    return "tf-s3-queue-" + ids.text(_HEX, 26)
