"""Function gateway: a recording, fault-injecting reverse proxy between the deployed function and the emulator.

Usage: ``python gateway.py --upstream URL [--port 0] [--port-file PATH] [--journal PATH] [--account ID]``

Stdlib only: it runs as a script in the emulator's own venv, started by ``supervisor.py`` in the
emulator's process group, so it dies with the emulator. The function's ``AWS_ENDPOINT_URL``
points here; Terraform and the test clients talk to the emulator directly.

* Every request is forwarded verbatim (method, path, query, headers including the SigV4
  ``Authorization``, body) on a keep-alive upstream connection per thread; large bodies are piped
  in chunks both ways, never buffered whole.
* Every call is appended to a JSON Lines journal: service, API action, the IAM actions and
  resource ARNs it needs (:func:`classify_request`), upstream status, fault if one was injected.
* Faults (throttle, server_error, unprocessed, delay) follow a seeded plan the tests set through
  the control API under ``/_s3pipe/`` (never forwarded): ``PUT/DELETE/GET /_s3pipe/faults``,
  ``GET /_s3pipe/calls?since=N``, ``GET /_s3pipe/health``.
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import html
import http.client
import ipaddress
import json
import os
import random
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

CONTROL_PREFIX = "/_s3pipe/"
#: MiniStack's (and LocalStack's) account when the access key does not name one.
DEFAULT_ACCOUNT = "000000000000"
FAULT_KINDS = ("throttle", "server_error", "unprocessed", "delay")
CHUNK = 64 * 1024
#: Request bodies up to this size are buffered (parsed for the journal, replayable on a stale connection).
BUFFER_LIMIT = 32 * 1024 * 1024
#: S3 bodies are object data: only small ones (DeleteObjects XML...) are buffered.
S3_BUFFER_LIMIT = 1024 * 1024
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
#: SigV4 scope service name -> IAM action prefix, where they differ.
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses", "execute-api": "execute-api"}
#: X-Amz-Target prefixes of unsigned JSON requests -> service.
_TARGET_SERVICES = {"dynamodb": "dynamodb", "amazonsqs": "sqs", "logs": "logs", "awsevents": "events"}


# ---------------------------------------------------------------------------------------------- classification


@dataclass(frozen=True)
class Permission:
    """One IAM authorisation the call needs: an action on a resource ARN (``*`` when it has none)."""

    action: str
    resource: str


@dataclass(frozen=True)
class Classified:
    """What a request is, as IAM sees it."""

    service: str
    action: str
    protocol: str
    region: str
    account: str
    permissions: tuple[Permission, ...]
    context: Mapping[str, str] = field(default_factory=dict)

    @property
    def iam_actions(self) -> list[str]:
        return list(dict.fromkeys(p.action for p in self.permissions))

    @property
    def resources(self) -> list[str]:
        return list(dict.fromkeys(p.resource for p in self.permissions))


@dataclass(frozen=True)
class Scope:
    access_key: str
    region: str
    service: str


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")


def credential_scope(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> Scope | None:
    """The SigV4 credential scope from ``Authorization`` (or a presigned URL's ``X-Amz-Credential``)."""
    match = _CREDENTIAL.search(headers.get("authorization", ""))
    if match:
        return Scope(match.group(1), match.group(2), match.group(3))
    presigned = (query.get("X-Amz-Credential") or [""])[0].split("/")
    if len(presigned) == 5:
        return Scope(presigned[0], presigned[2], presigned[3])
    return None


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def classify_request(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    default_account: str = DEFAULT_ACCOUNT,
    default_region: str = "us-east-1",
) -> Classified:
    """Classify one request: ``target`` is the request target (path and query), ``headers`` lower-cased.

    ``body`` is None when it was not buffered (large S3 uploads); JSON and query protocols need it.
    """
    split = urlsplit(target)
    query = parse_qs(split.query, keep_blank_values=True)
    lowered = {k.lower(): v for k, v in headers.items()}
    scope = credential_scope(lowered, query)
    amz_target = lowered.get("x-amz-target", "")
    service = scope.service if scope else ""
    if not service and amz_target:
        service = _TARGET_SERVICES.get(amz_target.split("_")[0].split(".")[0].lower(), "")
    region = scope.region if scope else default_region
    account = scope.access_key if scope and re.fullmatch(r"\d{12}", scope.access_key) else default_account
    # only JSON and POST bodies (query protocol, S3 ?delete) say anything about the call: a PutObject's
    # megabyte is never decoded
    text = _decoded_body(body, lowered) if amz_target or method.upper() == "POST" else None
    if amz_target:
        document = _json_object(text)
        action = amz_target.rsplit(".", 1)[-1]
        return _classify_json(service or "unknown", action, document, region, account)
    form = _form(text, lowered) if method.upper() == "POST" else {}
    if "Action" in form or "Action" in query:
        params = {k: v[0] for k, v in {**query, **form}.items() if v}
        return _classify_query(service or "unknown", params["Action"], params, region, account)
    if service in ("s3", "") or not service:
        return classify_s3(method, split.path, query, lowered, text, region=region, account=account)
    return Classified(service, f"{method.upper()} {split.path}", "rest", region, account, ())


def _decoded_body(body: bytes | None, headers: Mapping[str, str]) -> str | None:
    if body is None:
        return None
    if headers.get("content-encoding", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            return None
    return body.decode("utf-8", "replace")


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _form(text: str | None, headers: Mapping[str, str]) -> dict[str, list[str]]:
    if not text or "x-www-form-urlencoded" not in headers.get("content-type", "x-www-form-urlencoded"):
        return {}
    return parse_qs(text, keep_blank_values=True)


def _iam_prefix(service: str) -> str:
    return _IAM_PREFIX.get(service, service)


def _classify_json(service: str, action: str, document: Mapping[str, Any], region: str, account: str) -> Classified:
    prefix = _iam_prefix(service)
    if service == "dynamodb":
        permissions = dynamodb_permissions(action, document, region, account)
    elif service == "sqs":
        permissions = sqs_permissions(
            action, {k: v for k, v in document.items() if isinstance(v, str)}, region, account
        )
    elif service == "logs":
        permissions = logs_permissions(action, document, region, account)
    else:
        permissions = (Permission(f"{prefix}:{action}", "*"),)
    return Classified(prefix, action, "json", region, account, permissions, {"aws:RequestedRegion": region})


def _classify_query(service: str, action: str, params: Mapping[str, str], region: str, account: str) -> Classified:
    prefix = _iam_prefix(service)
    if service == "sqs":
        permissions = sqs_permissions(action, params, region, account)
    else:
        permissions = (Permission(f"{prefix}:{action}", "*"),)
    return Classified(prefix, action, "query", region, account, permissions, {"aws:RequestedRegion": region})


def dynamodb_table_arn(table: str, region: str, account: str) -> str:
    if table.startswith("arn:"):
        return table  # DynamoDB accepts a table ARN wherever it accepts a name
    return f"arn:{partition_of(region)}:dynamodb:{region}:{account}:table/{table}"


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def dynamodb_permissions(action: str, document: Mapping[str, Any], region: str, account: str) -> tuple[Permission, ...]:
    """``BatchWriteItem``/``BatchGetItem``: one per table in ``RequestItems``; transactions: per item."""
    if action in ("BatchWriteItem", "BatchGetItem"):
        tables = document.get("RequestItems")
        names = list(tables) if isinstance(tables, dict) else []
        return tuple(Permission(f"dynamodb:{action}", dynamodb_table_arn(n, region, account)) for n in names) or (
            Permission(f"dynamodb:{action}", "*"),
        )
    if action in ("TransactWriteItems", "TransactGetItems"):
        found: list[Permission] = []
        for entry in document.get("TransactItems") or []:
            for kind, request in (entry or {}).items() if isinstance(entry, dict) else ():
                if isinstance(request, dict) and isinstance(request.get("TableName"), str):
                    iam_action = "GetItem" if kind == "Get" else _TRANSACT_ACTIONS.get(kind, kind)
                    found.append(
                        Permission(f"dynamodb:{iam_action}", dynamodb_table_arn(request["TableName"], region, account))
                    )
        return tuple(dict.fromkeys(found)) or (Permission(f"dynamodb:{action}", "*"),)
    table = document.get("TableName")
    if isinstance(table, str) and table:
        arn = dynamodb_table_arn(table, region, account)
        index = document.get("IndexName")
        if isinstance(index, str) and index:
            arn = f"{arn}/index/{index}"
        return (Permission(f"dynamodb:{action}", arn),)
    for key in ("StreamArn", "ResourceArn", "TableArn"):
        value = document.get(key)
        if isinstance(value, str) and value:
            return (Permission(f"dynamodb:{action}", value),)
    return (Permission(f"dynamodb:{action}", "*"),)


#: SQS batch operations are authorised as their single-message action.
_SQS_IAM_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def sqs_queue_arn(queue_url: str, region: str, account: str) -> str | None:
    """``http(s)://host/<account>/<name>`` -> ``arn:aws:sqs:<region>:<account>:<name>``."""
    parts = [p for p in urlsplit(queue_url).path.split("/") if p]
    if len(parts) < 2:
        return None
    host_region = re.match(r"^(?:sqs\.)?([a-z]{2}(?:-[a-z]+)+-\d+)\.", urlsplit(queue_url).hostname or "")
    region = host_region.group(1) if host_region else region
    owner = parts[-2] if re.fullmatch(r"\d{12}", parts[-2]) else account
    return f"arn:{partition_of(region)}:sqs:{region}:{owner}:{parts[-1]}"


def sqs_permissions(action: str, params: Mapping[str, str], region: str, account: str) -> tuple[Permission, ...]:
    iam_action = f"sqs:{_SQS_IAM_ACTIONS.get(action, action)}"
    url = params.get("QueueUrl")
    if url:
        arn = sqs_queue_arn(url, region, account)
        return (Permission(iam_action, arn or "*"),)
    name = params.get("QueueName")
    if name and action in ("GetQueueUrl", "CreateQueue"):
        owner = params.get("QueueOwnerAWSAccountId") or account
        return (Permission(iam_action, f"arn:{partition_of(region)}:sqs:{region}:{owner}:{name}"),)
    return (Permission(iam_action, "*"),)


def logs_permissions(action: str, document: Mapping[str, Any], region: str, account: str) -> tuple[Permission, ...]:
    group = document.get("logGroupName")
    if not isinstance(group, str) or not group:
        return (Permission(f"logs:{action}", "*"),)
    arn = f"arn:{partition_of(region)}:logs:{region}:{account}:log-group:{group}"
    stream = document.get("logStreamName")
    if isinstance(stream, str) and stream:
        arn = f"{arn}:log-stream:{stream}"
    return (Permission(f"logs:{action}", arn),)


# ---------------------------------------------------------------------------------------------- S3 REST

_VHOST_AWS = re.compile(r"^(?P<bucket>.+?)\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?$")
_VHOST_LOCAL = re.compile(r"^(?P<bucket>.+?)\.(?:s3\.)?localhost(?:\.localstack\.cloud)?$")
_BARE_LOCAL = frozenset({"s3.localhost.localstack.cloud", "localhost.localstack.cloud", "s3.localhost"})


def virtual_host_bucket(host: str) -> str | None:
    """The bucket named by a virtual-hosted-style ``Host`` header, or None for path-style hosts."""
    hostname = host.strip().lower()
    if hostname.startswith("["):
        return None
    hostname = hostname.rsplit(":", 1)[0] if hostname.count(":") == 1 else hostname
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        pass
    else:
        return None
    if hostname in _BARE_LOCAL:
        return None
    for pattern in (_VHOST_AWS, _VHOST_LOCAL):
        match = pattern.match(hostname)
        if match and not match.group("bucket").startswith("s3."):
            bucket = match.group("bucket")
            return None if bucket == "s3" else bucket
    return None


def s3_bucket_and_key(host: str, path: str) -> tuple[str | None, str | None]:
    """(bucket, key) from a path-style (``/bucket/key``) or virtual-hosted-style request."""
    decoded = unquote(path)
    bucket = virtual_host_bucket(host)
    if bucket is not None:
        key = decoded[1:] if decoded.startswith("/") else decoded
        return bucket, key or None
    parts = decoded.lstrip("/").split("/", 1)
    return (parts[0] or None), (parts[1] if len(parts) > 1 and parts[1] else None)


#: Bucket subresource -> (GET operation, IAM action), likewise for PUT and DELETE.
_BUCKET_GET = {
    "acl": ("GetBucketAcl", "GetBucketAcl"),
    "cors": ("GetBucketCors", "GetBucketCORS"),
    "encryption": ("GetBucketEncryption", "GetEncryptionConfiguration"),
    "lifecycle": ("GetBucketLifecycleConfiguration", "GetLifecycleConfiguration"),
    "location": ("GetBucketLocation", "GetBucketLocation"),
    "logging": ("GetBucketLogging", "GetBucketLogging"),
    "notification": ("GetBucketNotificationConfiguration", "GetBucketNotification"),
    "ownershipControls": ("GetBucketOwnershipControls", "GetBucketOwnershipControls"),
    "policy": ("GetBucketPolicy", "GetBucketPolicy"),
    "policyStatus": ("GetBucketPolicyStatus", "GetBucketPolicyStatus"),
    "publicAccessBlock": ("GetPublicAccessBlock", "GetBucketPublicAccessBlock"),
    "replication": ("GetBucketReplication", "GetReplicationConfiguration"),
    "tagging": ("GetBucketTagging", "GetBucketTagging"),
    "versioning": ("GetBucketVersioning", "GetBucketVersioning"),
    "website": ("GetBucketWebsite", "GetBucketWebsite"),
    "object-lock": ("GetObjectLockConfiguration", "GetBucketObjectLockConfiguration"),
    "accelerate": ("GetBucketAccelerateConfiguration", "GetAccelerateConfiguration"),
    "requestPayment": ("GetBucketRequestPayment", "GetBucketRequestPayment"),
    "uploads": ("ListMultipartUploads", "ListBucketMultipartUploads"),
    "versions": ("ListObjectVersions", "ListBucketVersions"),
}
_BUCKET_PUT = {
    "acl": ("PutBucketAcl", "PutBucketAcl"),
    "cors": ("PutBucketCors", "PutBucketCORS"),
    "encryption": ("PutBucketEncryption", "PutEncryptionConfiguration"),
    "lifecycle": ("PutBucketLifecycleConfiguration", "PutLifecycleConfiguration"),
    "logging": ("PutBucketLogging", "PutBucketLogging"),
    "notification": ("PutBucketNotificationConfiguration", "PutBucketNotification"),
    "ownershipControls": ("PutBucketOwnershipControls", "PutBucketOwnershipControls"),
    "policy": ("PutBucketPolicy", "PutBucketPolicy"),
    "publicAccessBlock": ("PutPublicAccessBlock", "PutBucketPublicAccessBlock"),
    "replication": ("PutBucketReplication", "PutReplicationConfiguration"),
    "tagging": ("PutBucketTagging", "PutBucketTagging"),
    "versioning": ("PutBucketVersioning", "PutBucketVersioning"),
    "website": ("PutBucketWebsite", "PutBucketWebsite"),
    "object-lock": ("PutObjectLockConfiguration", "PutBucketObjectLockConfiguration"),
    "accelerate": ("PutBucketAccelerateConfiguration", "PutAccelerateConfiguration"),
    "requestPayment": ("PutBucketRequestPayment", "PutBucketRequestPayment"),
}
_BUCKET_DELETE = {
    "cors": ("DeleteBucketCors", "PutBucketCORS"),
    "encryption": ("DeleteBucketEncryption", "PutEncryptionConfiguration"),
    "lifecycle": ("DeleteBucketLifecycle", "PutLifecycleConfiguration"),
    "ownershipControls": ("DeleteBucketOwnershipControls", "PutBucketOwnershipControls"),
    "policy": ("DeleteBucketPolicy", "DeleteBucketPolicy"),
    "publicAccessBlock": ("DeletePublicAccessBlock", "PutBucketPublicAccessBlock"),
    "replication": ("DeleteBucketReplication", "PutReplicationConfiguration"),
    "tagging": ("DeleteBucketTagging", "PutBucketTagging"),
    "website": ("DeleteBucketWebsite", "DeleteBucketWebsite"),
}
#: Object subresource -> (operation, IAM action, IAM action when a versionId is given).
_OBJECT_GET = {
    "acl": ("GetObjectAcl", "GetObjectAcl", "GetObjectVersionAcl"),
    "tagging": ("GetObjectTagging", "GetObjectTagging", "GetObjectVersionTagging"),
    "attributes": ("GetObjectAttributes", "GetObjectAttributes", "GetObjectVersionAttributes"),
    "retention": ("GetObjectRetention", "GetObjectRetention", "GetObjectRetention"),
    "legal-hold": ("GetObjectLegalHold", "GetObjectLegalHold", "GetObjectLegalHold"),
    "torrent": ("GetObjectTorrent", "GetObjectTorrent", "GetObjectVersionTorrent"),
    "uploadId": ("ListParts", "ListMultipartUploadParts", "ListMultipartUploadParts"),
}
_OBJECT_PUT = {
    "acl": ("PutObjectAcl", "PutObjectAcl", "PutObjectVersionAcl"),
    "tagging": ("PutObjectTagging", "PutObjectTagging", "PutObjectVersionTagging"),
    "retention": ("PutObjectRetention", "PutObjectRetention", "PutObjectRetention"),
    "legal-hold": ("PutObjectLegalHold", "PutObjectLegalHold", "PutObjectLegalHold"),
}


def s3_arn(bucket: str | None, key: str | None = None, region: str = "us-east-1") -> str:
    if bucket is None:
        return "*"
    base = f"arn:{partition_of(region)}:s3:::{bucket}"
    return f"{base}/{key}" if key is not None else base


_Grant = tuple[str, str]  # (IAM action without the "s3:" prefix, resource ARN)
_DELETE_KEYS = re.compile(r"<Object>\s*<Key>(.*?)</Key>(?:\s*<VersionId>(.*?)</VersionId>)?", re.DOTALL)


@dataclass
class _S3Request:
    method: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: str | None
    region: str
    bucket_arn: str
    object_arn: str
    version: str | None

    @property
    def subresources(self) -> set[str]:
        return set(self.query)

    def versioned(self, plain: str, versioned: str) -> str:
        return versioned if self.version else plain

    def bucket_operation(self, context: dict[str, str]) -> tuple[str, list[_Grant]]:
        arn, method, sub = self.bucket_arn, self.method, self.subresources
        tables = {"GET": _BUCKET_GET, "PUT": _BUCKET_PUT, "DELETE": _BUCKET_DELETE}
        for name, (operation, action) in tables.get(method, {}).items():
            if name in sub:
                return operation, [(action, arn)]
        if method in ("GET", "HEAD"):
            for name in ("prefix", "delimiter", "max-keys"):
                if self.query.get(name):
                    context[f"s3:{name}"] = self.query[name][0]
            list_v2 = method == "GET" and (self.query.get("list-type") or [""])[0] == "2"
            operation = "HeadBucket" if method == "HEAD" else ("ListObjectsV2" if list_v2 else "ListObjects")
            return operation, [("ListBucket", arn)]
        if method == "POST" and "delete" in sub:
            grants = [
                ("DeleteObjectVersion" if version else "DeleteObject", f"{arn}/{html.unescape(key)}")
                for key, version in _DELETE_KEYS.findall(self.body or "")
            ]
            return "DeleteObjects", list(dict.fromkeys(grants)) or [("DeleteObject", f"{arn}/*")]
        fallback = {"PUT": ("CreateBucket", "CreateBucket"), "DELETE": ("DeleteBucket", "DeleteBucket")}
        operation, action = fallback.get(method, (f"{method} bucket", f"{method.title()}Bucket"))
        return operation, [(action, arn)]

    def object_read(self) -> tuple[str, list[_Grant]]:
        if self.method == "GET":
            for name, (operation, plain, versioned) in _OBJECT_GET.items():
                if name in self.subresources:
                    return operation, [(self.versioned(plain, versioned), self.object_arn)]
        # HeadObject is authorised as GetObject; IAM evaluates a versionId as s3:GetObjectVersion.
        operation = "HeadObject" if self.method == "HEAD" else "GetObject"
        return operation, [(self.versioned("GetObject", "GetObjectVersion"), self.object_arn)]

    def object_write(self) -> tuple[str, list[_Grant]]:
        sub, arn = self.subresources, self.object_arn
        copy_source = self.headers.get("x-amz-copy-source")
        if self.method == "PUT" and copy_source:
            source, _, source_query = unquote(copy_source).lstrip("/").partition("?")
            source_bucket, _, source_key = source.partition("/")
            source_action = "GetObjectVersion" if "versionId=" in source_query else "GetObject"
            operation = "UploadPartCopy" if "uploadId" in sub else "CopyObject"
            return operation, [
                ("PutObject", arn),
                (source_action, s3_arn(source_bucket, source_key or None, self.region)),
            ]
        if self.method == "PUT":
            for name, (operation, plain, versioned) in _OBJECT_PUT.items():
                if name in sub:
                    return operation, [(self.versioned(plain, versioned), arn)]
            return ("UploadPart" if "uploadId" in sub else "PutObject"), [("PutObject", arn)]
        posts = (
            ("uploads", "CreateMultipartUpload", "PutObject"),
            ("uploadId", "CompleteMultipartUpload", "PutObject"),
            ("restore", "RestoreObject", "RestoreObject"),
            ("select", "SelectObjectContent", "GetObject"),
        )
        for name, operation, action in posts:
            if name in sub:
                return operation, [(action, arn)]
        return "PostObject", [("PutObject", arn)]

    def object_delete(self) -> tuple[str, list[_Grant]]:
        if "uploadId" in self.subresources:
            return "AbortMultipartUpload", [("AbortMultipartUpload", self.object_arn)]
        if "tagging" in self.subresources:
            action = self.versioned("DeleteObjectTagging", "DeleteObjectVersionTagging")
            return "DeleteObjectTagging", [(action, self.object_arn)]
        return "DeleteObject", [(self.versioned("DeleteObject", "DeleteObjectVersion"), self.object_arn)]


def classify_s3(
    method: str,
    path: str,
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    body: str | None,
    *,
    region: str,
    account: str,
) -> Classified:
    """S3 REST: method + path + query -> operation and the IAM action(s) it is authorised as."""
    method = method.upper()
    bucket, key = s3_bucket_and_key(headers.get("host", ""), path)
    versions = query.get("versionId")
    version = versions[0] if versions and versions[0] else None
    context: dict[str, str] = {"aws:RequestedRegion": region}
    if version:
        context["s3:VersionId"] = version
    request = _S3Request(
        method, query, headers, body, region, s3_arn(bucket, region=region), s3_arn(bucket, key, region), version
    )
    if bucket is None:
        operation, grants = "ListBuckets", [("ListAllMyBuckets", "*")]
    elif key is None:
        operation, grants = request.bucket_operation(context)
    elif method in ("GET", "HEAD"):
        operation, grants = request.object_read()
    elif method in ("PUT", "POST"):
        operation, grants = request.object_write()
    elif method == "DELETE":
        operation, grants = request.object_delete()
    else:
        operation, grants = f"{method} object", [(f"{method.title()}Object", request.object_arn)]
    permissions = tuple(Permission(f"s3:{action}", resource) for action, resource in grants)
    return Classified("s3", operation, "rest-xml", region, account, permissions, context)


# ---------------------------------------------------------------------------------------------- faults


class PlanError(ValueError):
    """A fault plan the gateway cannot run (answered with 400)."""


@dataclass
class Rule:
    """One fault rule of a plan (see :class:`s3pipe.faults.FaultRule` for the typed client side)."""

    fault: str
    service: str = "*"
    action: str = "*"
    probability: float = 1.0
    max_count: int | None = None
    delay_ms: int = 0
    unprocessed_fraction: float = 0.5
    resource: str | None = None
    fired: int = 0

    FIELDS: ClassVar[tuple[str, ...]] = (
        "fault",
        "service",
        "action",
        "probability",
        "max_count",
        "delay_ms",
        "unprocessed_fraction",
        "resource",
    )

    def matches(self, call: Classified) -> bool:
        if self.max_count is not None and self.fired >= self.max_count:
            return False
        if self.service != "*" and self.service.lower() != call.service.lower():
            return False
        if not fnmatch.fnmatchcase(call.action.lower(), self.action.lower()):
            return False
        if self.fault == "unprocessed" and call.action != "BatchWriteItem":
            return False
        return self.resource is None or any(fnmatch.fnmatchcase(r, self.resource) for r in call.resources)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.FIELDS}
        data["fired"] = self.fired
        return data


def parse_plan(document: Any) -> tuple[int, list[Rule]]:
    """Validate a plan document: ``{"seed": 1, "rules": [{"service": ..., "fault": ...}, ...]}``."""
    if not isinstance(document, dict):
        raise PlanError("a fault plan is a JSON object with 'seed' and 'rules'")
    unknown = set(document) - {"seed", "rules"}
    if unknown:
        raise PlanError(f"unknown plan field(s): {', '.join(sorted(unknown))}")
    seed = document.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise PlanError(f"seed must be an integer, got {seed!r}")
    raw_rules = document.get("rules", [])
    if not isinstance(raw_rules, list):
        raise PlanError("rules must be a list")
    return seed, [parse_rule(raw, f"rules[{index}]") for index, raw in enumerate(raw_rules)]


def parse_rule(raw: Any, where: str) -> Rule:
    """Validate one rule document (``where`` names it in the error); the client side checks with it too."""
    if not isinstance(raw, dict):
        raise PlanError(f"{where} must be an object")
    unknown = set(raw) - set(Rule.FIELDS)
    if unknown:
        raise PlanError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    values = {k: v for k, v in raw.items() if v is not None or k in ("max_count", "resource")}
    try:
        rule = Rule(**values)
    except TypeError as error:
        raise PlanError(f"{where}: {error}") from None
    if rule.fault not in FAULT_KINDS:
        raise PlanError(f"{where}: fault must be one of {', '.join(FAULT_KINDS)}, got {rule.fault!r}")
    if not isinstance(rule.probability, int | float) or not 0.0 <= rule.probability <= 1.0:
        raise PlanError(f"{where}: probability must be between 0 and 1, got {rule.probability!r}")
    if rule.max_count is not None and (not isinstance(rule.max_count, int) or rule.max_count < 0):
        raise PlanError(f"{where}: max_count must be null or a non-negative integer")
    if not isinstance(rule.delay_ms, int) or rule.delay_ms < 0:
        raise PlanError(f"{where}: delay_ms must be a non-negative integer")
    if not isinstance(rule.unprocessed_fraction, int | float) or not 0.0 < rule.unprocessed_fraction <= 1.0:
        raise PlanError(f"{where}: unprocessed_fraction must be in (0, 1]")
    if rule.fault == "unprocessed" and rule.action not in ("BatchWriteItem", "*"):
        raise PlanError(f"{where}: fault 'unprocessed' applies to DynamoDB BatchWriteItem only")
    if not isinstance(rule.service, str) or not isinstance(rule.action, str):
        raise PlanError(f"{where}: service and action must be strings")
    return rule


class FaultEngine:
    """The active plan; decisions come from one seeded RNG, drawn only for calls a rule matches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seed = 0
        self.rules: list[Rule] = []
        self._rng = random.Random(0)  # noqa: S311 - reproducible fault decisions, not cryptography

    def set_plan(self, seed: int, rules: list[Rule]) -> None:
        with self._lock:
            self.seed, self.rules, self._rng = seed, rules, random.Random(seed)  # noqa: S311

    def clear(self) -> None:
        self.set_plan(0, [])

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self.seed, "rules": [rule.to_json() for rule in self.rules]}

    def pick(self, call: Classified) -> Rule | None:
        """The first matching rule that fires for this call (and count it), or None."""
        with self._lock:
            for rule in self.rules:
                if rule.matches(call) and (rule.probability >= 1.0 or self._rng.random() < rule.probability):
                    rule.fired += 1
                    return rule
        return None

    def sample(self, population: int, count: int) -> list[int]:
        with self._lock:
            return sorted(self._rng.sample(range(population), count))


def split_batch_write(body: bytes, fraction: float, sample: Any) -> tuple[bytes | None, dict[str, list[Any]], int]:
    """Hold back ``fraction`` of a BatchWriteItem's requests (at least one).

    Returns the body to forward (None when nothing is left to write), the held-back requests in
    ``UnprocessedItems`` shape, and how many were held back.
    """
    document = json.loads(body)
    request_items: dict[str, list[Any]] = document.get("RequestItems") or {}
    flat = [(table, request) for table, requests in request_items.items() for request in requests]
    if not flat:
        return body, {}, 0
    count = min(len(flat), max(1, round(len(flat) * fraction)))
    held_indexes = set(sample(len(flat), count))
    forward: dict[str, list[Any]] = {}
    held: dict[str, list[Any]] = {}
    for index, (table, request) in enumerate(flat):
        (held if index in held_indexes else forward).setdefault(table, []).append(request)
    if not forward:
        return None, held, count
    document["RequestItems"] = forward
    return json.dumps(document).encode(), held, count


def merge_unprocessed(response_body: bytes, held: Mapping[str, list[Any]]) -> bytes:
    document = _json_object(response_body.decode("utf-8", "replace")) if response_body else {}
    unprocessed: dict[str, list[Any]] = document.get("UnprocessedItems") or {}
    for table, requests in held.items():
        unprocessed.setdefault(table, []).extend(requests)
    document["UnprocessedItems"] = unprocessed
    return json.dumps(document).encode()


_FAULT_CODES = {
    # service: (throttle status, code, message), (server error status, code, message)
    "dynamodb": (
        (
            400,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
        ),
        (500, "InternalServerError", "Internal server error"),
    ),
    "sqs": (
        (400, "ThrottlingException", "Rate exceeded"),
        (500, "InternalFailure", "The request processing has failed because of an unknown error."),
    ),
    "s3": (
        (503, "SlowDown", "Please reduce your request rate."),
        (500, "InternalError", "We encountered an internal error. Please try again."),
    ),
}
_DEFAULT_FAULT_CODES = ((400, "ThrottlingException", "Rate exceeded"), (500, "InternalFailure", "Internal failure"))
_JSON_NAMESPACES = {"dynamodb": "com.amazonaws.dynamodb.v20120810#", "sqs": "com.amazonaws.sqs#"}
_QUERY_CODES = {("sqs", "ThrottlingException"): "RequestThrottled", ("sqs", "InternalFailure"): "InternalError"}


def fault_response(
    kind: str, call: Classified, method: str, content_type: str = ""
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The service's own error for an injected throttle or server error: (status, headers, body)."""
    throttle, server_error = _FAULT_CODES.get(call.service, _DEFAULT_FAULT_CODES)
    status, code, message = throttle if kind == "throttle" else server_error
    message = f"{message} (injected by the s3pipe function gateway)"
    request_id = str(uuid.uuid4())
    if call.protocol == "json":
        body = json.dumps({"__type": _JSON_NAMESPACES.get(call.service, "") + code, "message": message}).encode()
        headers = [
            ("Content-Type", content_type if "json" in content_type else "application/x-amz-json-1.0"),
            ("x-amzn-RequestId", request_id),
        ]
        if call.service == "sqs":
            fault_type = "Sender" if status < 500 else "Receiver"
            headers.append(("x-amzn-query-error", f"{_QUERY_CODES.get(('sqs', code), code)};{fault_type}"))
        return status, headers, body
    if call.protocol == "query":
        query_code = _QUERY_CODES.get((call.service, code), "Throttling" if kind == "throttle" else code)
        fault_type = "Sender" if status < 500 else "Receiver"
        body = (
            '<?xml version="1.0"?><ErrorResponse><Error>'
            f"<Type>{fault_type}</Type><Code>{query_code}</Code><Message>{html.escape(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{html.escape(message)}</Message>"
        f"<RequestId>{request_id}</RequestId></Error>"
    ).encode()
    headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    return status, headers, (b"" if method.upper() == "HEAD" else body)


# ---------------------------------------------------------------------------------------------- journal


class Journal:
    """Append-only JSON Lines journal; entries are numbered from 0 (``seq``)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._offsets: list[int] = []
        self._memory: list[str] = []
        self._size = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("wb")

    def __len__(self) -> int:
        return len(self._offsets)

    def append(self, entry: dict[str, Any]) -> int:
        with self._lock:
            seq = len(self._offsets)
            line = json.dumps({"seq": seq, **entry}, separators=(",", ":"), default=str) + "\n"
            data = line.encode()
            self._offsets.append(self._size)
            self._size += len(data)
            if self.path is None:
                self._memory.append(line)
            else:
                self._file.write(data)
                self._file.flush()
            return seq

    def read(self, since: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Entries with ``seq >= since`` and the next sequence number."""
        with self._lock:
            end, total = self._size, len(self._offsets)
            if since >= total:
                return [], total
            since = max(0, since)
            if self.path is None:
                return [json.loads(line) for line in self._memory[since:total]], total
            start = self._offsets[since]
        with self.path.open("rb") as handle:
            handle.seek(start)
            data = handle.read(end - start)
        return [json.loads(line) for line in data.splitlines() if line.strip()], total


# ---------------------------------------------------------------------------------------------- HTTP


class GatewayServer(ThreadingHTTPServer):
    """The gateway: a threaded HTTP server forwarding to ``upstream`` (``http://host:port``)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        upstream: str,
        journal: Journal | None = None,
        *,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        parsed = urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"upstream must be an http://host:port URL, got {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self.journal = journal if journal is not None else Journal(None)
        self.account = account
        self.faults = FaultEngine()
        self._local = threading.local()
        self._thread: threading.Thread | None = None
        super().__init__(address, GatewayHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A function worker that goes away mid-connection (killed at its timeout) is not an error."""
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def upstream_connection(self, *, fresh: bool = False) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's keep-alive connection to the emulator, and whether it was used before."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and not fresh:
            return conn, True
        if conn is not None:
            conn.close()
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=300)
        conn.connect()
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._local.conn = conn
        return conn, False

    def drop_upstream_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def start_background(self) -> GatewayServer:
        """Serve on a daemon thread (tests); :meth:`stop` ends it."""
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="s3pipe-gateway", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


_SDK_REQUEST = re.compile(r"attempt=(\d+)(?:;\s*max=(\d+))?")


def sdk_attempt(headers: Mapping[str, str]) -> dict[str, Any]:
    """The SDK's retry bookkeeping: ``amz-sdk-invocation-id`` (same for every attempt of one call) and
    ``amz-sdk-request: attempt=N; max=M``; empty when the client sent neither."""
    lowered = {k.lower(): v for k, v in headers.items()}
    found: dict[str, Any] = {}
    if invocation := lowered.get("amz-sdk-invocation-id"):
        found["invocation"] = invocation
    if match := _SDK_REQUEST.search(lowered.get("amz-sdk-request", "")):
        found["attempt"] = int(match.group(1))
        if match.group(2):
            found["max_attempts"] = int(match.group(2))
    return found


def journal_entry(call: Classified, method: str, path: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The journal line of a call, before its outcome (status, fault, duration) is known."""
    return {
        "time": round(time.time(), 6),
        "service": call.service,
        "action": call.action,
        "iam_actions": call.iam_actions,
        "resources": call.resources,
        "permissions": [[p.action, p.resource] for p in call.permissions],
        "region": call.region,
        "account": call.account,
        "method": method,
        "path": path if len(path) <= 512 else path[:509] + "...",
        "status": None,
        "fault": None,
        "context": dict(call.context),
        "sdk": sdk_attempt(headers or {}),
    }


class _ClientGone(Exception):
    """The function closed its connection while the response was being relayed."""


class GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: GatewayServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the journal is the record."""

    # ------------------------------------------------------------------ request side
    def _dispatch(self) -> None:
        if self.path.startswith(CONTROL_PREFIX):
            self._control()
            return
        self._clock = time.monotonic()
        headers = list(self.headers.items())
        lowered = {name.lower(): value for name, value in headers}
        body = self._read_body(lowered)
        call = classify_request(
            self.command,
            self.path,
            lowered,
            body if isinstance(body, bytes) else None,
            default_account=self.server.account,
        )
        entry = journal_entry(call, self.command, self.path, lowered)
        self._pending: dict[str, Any] | None = entry
        try:
            rule = self.server.faults.pick(call)
            if rule is not None:
                entry["fault"] = rule.fault
            if rule is None or not self._inject(rule, call, headers, body, entry):
                self._forward(headers, body, {})
        except _ClientGone:
            entry["error"] = "the function closed the connection"
            self.close_connection = True
        except (OSError, http.client.HTTPException) as error:
            entry["error"] = f"{type(error).__name__}: {error}"
            self.server.drop_upstream_connection()
            message = json.dumps({"message": f"s3pipe gateway: upstream {self.server.upstream} failed: {error}"})
            try:
                self._send_local(502, [("Content-Type", "application/json")], message.encode())
            except OSError:
                self.close_connection = True
        finally:
            self._commit()

    # every HTTP method takes the same path (names fixed by BaseHTTPRequestHandler)
    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch  # noqa: N815

    def _commit(self, status: int | None = None, response_bytes: int | None = None) -> None:
        """Journal the pending call (once). Called before the last bytes of the answer go out where
        possible, so a call is in the journal by the time its caller has the answer."""
        entry, self._pending = getattr(self, "_pending", None), None
        if entry is None:
            return
        if status is not None:
            entry["status"] = status
        if response_bytes is not None:
            entry["response_bytes"] = response_bytes
        entry["duration_ms"] = round((time.monotonic() - self._clock) * 1000, 3)
        self.server.journal.append(entry)

    def _inject(
        self,
        rule: Rule,
        call: Classified,
        headers: list[tuple[str, str]],
        body: bytes | Iterator[bytes],
        entry: dict[str, Any],
    ) -> bool:
        """Apply a fault; True when the call was answered here, False when it is still to be forwarded."""
        if rule.fault in ("throttle", "server_error"):
            if not isinstance(body, bytes):
                for _ in body:  # drain what the function sends before answering
                    pass
            content_type = next((v for n, v in headers if n.lower() == "content-type"), "")
            status, fault_headers, payload = fault_response(rule.fault, call, self.command, content_type)
            self._send_local(status, fault_headers, payload)
            return True
        if rule.fault == "delay":
            entry["delay_ms"] = rule.delay_ms
            time.sleep(rule.delay_ms / 1000)
            return False
        if not isinstance(body, bytes):
            return False
        try:
            forward_body, held, count = split_batch_write(body, rule.unprocessed_fraction, self.server.faults.sample)
        except (ValueError, AttributeError, TypeError):  # not a BatchWriteItem body: let the emulator answer it
            return False
        entry["unprocessed"] = count
        if forward_body is None:
            payload = merge_unprocessed(b"", held)
            self._send_local(200, [("Content-Type", "application/x-amz-json-1.0")], payload)
            return True
        resized = [(n, str(len(forward_body)) if n.lower() == "content-length" else v) for n, v in headers]
        self._forward(resized, forward_body, held)
        return True

    def _read_body(self, headers: Mapping[str, str]) -> bytes | Iterator[bytes]:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._relay_chunked()
        length = int(headers.get("content-length") or 0)
        scope = _CREDENTIAL.search(headers.get("authorization", ""))
        signed_for = scope.group(3) if scope else ("" if "x-amz-target" in headers else "s3")
        limit = S3_BUFFER_LIMIT if signed_for == "s3" else BUFFER_LIMIT
        if length <= limit:
            return self.rfile.read(length) if length else b""
        return self._relay_fixed(length)

    def _relay_fixed(self, length: int) -> Iterator[bytes]:
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(CHUNK, remaining))
            if not chunk:
                raise _ClientGone
            remaining -= len(chunk)
            yield chunk

    def _relay_chunked(self) -> Iterator[bytes]:
        """The raw chunked framing, passed on verbatim (the upstream request keeps Transfer-Encoding)."""
        while True:
            size_line = self.rfile.readline(1024)
            if not size_line:
                raise _ClientGone
            yield size_line
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:
                    trailer = self.rfile.readline(8192)
                    yield trailer
                    if trailer in (b"\r\n", b"\n", b""):
                        return
            remaining = size + 2  # data and its CRLF
            while remaining > 0:
                chunk = self.rfile.read(min(CHUNK, remaining))
                if not chunk:
                    raise _ClientGone
                remaining -= len(chunk)
                yield chunk

    # ------------------------------------------------------------------ upstream
    def _send_upstream(
        self, headers: Sequence[tuple[str, str]], body: bytes | Iterator[bytes]
    ) -> http.client.HTTPResponse:
        chunked = any(n.lower() == "transfer-encoding" and "chunked" in v.lower() for n, v in headers)
        for attempt in range(2):
            conn, reused = self.server.upstream_connection(fresh=attempt > 0)
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP:
                        conn.putheader(name, value)
                if chunked:
                    conn.putheader("Transfer-Encoding", "chunked")
                if isinstance(body, bytes):
                    conn.endheaders(body or None)
                else:
                    conn.endheaders()
                    for chunk in body:
                        conn.send(chunk)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if attempt == 0 and reused and isinstance(body, bytes):
                    continue  # the emulator closed an idle keep-alive connection: replay once
                raise
        raise AssertionError("unreachable")

    def _forward(
        self, headers: Sequence[tuple[str, str]], body: bytes | Iterator[bytes], held: Mapping[str, list[Any]]
    ) -> None:
        response = self._send_upstream(headers, body)
        status = response.status
        if self._pending is not None:
            self._pending["status"] = status
        if held and status == 200:
            payload = merge_unprocessed(response.read(), held)
            kept = [(n, v) for n, v in response.getheaders() if n.lower() not in ("content-length", "x-amz-crc32")]
            self._send_local(status, kept, payload, reason=response.reason)
            return
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        length = response.getheader("content-length")
        small = not response.chunked and length is not None and length.isdigit() and int(length) <= CHUNK
        payload = response.read() if no_body or small else b""  # small answers: journalled before they go out
        self.send_response_only(status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if not no_body and response.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif not no_body and length is None:
            self.send_header("Connection", "close")  # a close-delimited body
        if no_body or small:
            self._commit(status, len(payload))
            self.end_headers()
            if payload and not no_body:
                self.wfile.write(payload)
        else:
            self.end_headers()
            self._commit(status, self._relay_response(response))
        if response.will_close:
            self.server.drop_upstream_connection()

    def _relay_response(self, response: http.client.HTTPResponse) -> int:
        """Pipe the upstream body to the function in chunks (re-chunked when the upstream chunked it)."""
        sent = 0
        try:
            while chunk := response.read1(CHUNK):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if response.chunked else chunk)
                sent += len(chunk)
            if response.chunked:
                self.wfile.write(b"0\r\n\r\n")
            response.read()  # marks the response complete, so the connection can carry the next request
        except (BrokenPipeError, ConnectionResetError) as error:
            self.server.drop_upstream_connection()  # its response is only partly read
            raise _ClientGone from error
        return sent

    def _send_local(
        self, status: int, headers: Sequence[tuple[str, str]], body: bytes, *, reason: str | None = None
    ) -> None:
        self.send_response_only(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self._commit(status, len(body))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    # ------------------------------------------------------------------ control API
    def _control(self) -> None:
        split = urlsplit(self.path)
        route = split.path[len(CONTROL_PREFIX) :].strip("/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        server = self.server
        if route == "health" and self.command == "GET":
            self._reply(
                200,
                {
                    "status": "ok",
                    "upstream": server.upstream,
                    "calls": len(server.journal),
                    "journal": str(server.journal.path) if server.journal.path else None,
                    "pid": os.getpid(),
                    "faults": server.faults.state(),
                },
            )
        elif route == "calls" and self.command == "GET":
            raw_since = (parse_qs(split.query).get("since") or ["0"])[0]
            try:
                since = int(raw_since)
            except ValueError:
                self._reply(400, {"error": f"since must be an integer, got {raw_since!r}"})
                return
            calls, next_seq = server.journal.read(since)
            self._reply(200, {"next": next_seq, "calls": calls})
        elif route == "faults" and self.command == "GET":
            self._reply(200, server.faults.state())
        elif route == "faults" and self.command == "PUT":
            try:
                seed, rules = parse_plan(json.loads(raw or b"{}"))
            except ValueError as error:
                self._reply(400, {"error": str(error)})
                return
            server.faults.set_plan(seed, rules)
            self._reply(200, server.faults.state())
        elif route == "faults" and self.command == "DELETE":
            server.faults.clear()
            self._reply(200, server.faults.state())
        else:
            self._reply(404, {"error": f"no control route {self.command} {split.path}"})

    def _reply(self, status: int, document: Any) -> None:
        self._send_local(status, [("Content-Type", "application/json")], json.dumps(document).encode())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="s3pipe function gateway (recording, fault-injecting proxy)")
    parser.add_argument("--upstream", required=True, help="the emulator, http://127.0.0.1:PORT")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port (see --port-file)")
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument("--journal", type=Path, help="JSON Lines journal of every call")
    parser.add_argument("--account", default=DEFAULT_ACCOUNT)
    args = parser.parse_args(argv)
    server = GatewayServer((args.host, args.port), args.upstream, Journal(args.journal), account=args.account)
    port = server.server_address[1]
    if args.port_file is not None:
        temporary = args.port_file.with_suffix(".tmp")
        temporary.write_text(f"{port}\n")
        temporary.replace(args.port_file)
    print(f"s3pipe gateway on http://{args.host}:{port} -> {args.upstream} (journal {args.journal})", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
