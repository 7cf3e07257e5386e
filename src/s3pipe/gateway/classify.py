"""Request classification: what a request to an AWS endpoint is, as IAM sees it.

:func:`classify_request` names the service, API action and the IAM action(s) and resource ARN(s)
(:class:`RequiredPermission`) a request needs, from its method, target, headers and (buffered) body.
Stdlib only: it runs inside the gateway process.
"""

from __future__ import annotations

import gzip
import html
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

#: MiniStack's (and LocalStack's) account when the access key does not name one.
DEFAULT_ACCOUNT = "000000000000"
#: SigV4 scope service name -> IAM action prefix, where they differ.
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses", "execute-api": "execute-api"}
#: X-Amz-Target prefixes of unsigned JSON requests -> service.
_TARGET_SERVICES = {"dynamodb": "dynamodb", "amazonsqs": "sqs", "logs": "logs", "awsevents": "events"}


@dataclass(frozen=True)
class RequiredPermission:
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
    permissions: tuple[RequiredPermission, ...]
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


SIGV4_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")


def credential_scope(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> Scope | None:
    """The SigV4 credential scope from ``Authorization`` (or a presigned URL's ``X-Amz-Credential``)."""
    match = SIGV4_CREDENTIAL.search(headers.get("authorization", ""))
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
        document = json_object(text)
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


def json_object(text: str | None) -> dict[str, Any]:
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
        permissions = (RequiredPermission(f"{prefix}:{action}", "*"),)
    return Classified(prefix, action, "json", region, account, permissions, {"aws:RequestedRegion": region})


def _classify_query(service: str, action: str, params: Mapping[str, str], region: str, account: str) -> Classified:
    prefix = _iam_prefix(service)
    if service == "sqs":
        permissions = sqs_permissions(action, params, region, account)
    else:
        permissions = (RequiredPermission(f"{prefix}:{action}", "*"),)
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


def dynamodb_permissions(
    action: str, document: Mapping[str, Any], region: str, account: str
) -> tuple[RequiredPermission, ...]:
    """``BatchWriteItem``/``BatchGetItem``: one per table in ``RequestItems``; transactions: per item."""
    if action in ("BatchWriteItem", "BatchGetItem"):
        tables = document.get("RequestItems")
        names = list(tables) if isinstance(tables, dict) else []
        return tuple(
            RequiredPermission(f"dynamodb:{action}", dynamodb_table_arn(n, region, account)) for n in names
        ) or (RequiredPermission(f"dynamodb:{action}", "*"),)
    if action in ("TransactWriteItems", "TransactGetItems"):
        found: list[RequiredPermission] = []
        for entry in document.get("TransactItems") or []:
            for kind, request in (entry or {}).items() if isinstance(entry, dict) else ():
                if isinstance(request, dict) and isinstance(request.get("TableName"), str):
                    iam_action = "GetItem" if kind == "Get" else _TRANSACT_ACTIONS.get(kind, kind)
                    found.append(
                        RequiredPermission(
                            f"dynamodb:{iam_action}", dynamodb_table_arn(request["TableName"], region, account)
                        )
                    )
        return tuple(dict.fromkeys(found)) or (RequiredPermission(f"dynamodb:{action}", "*"),)
    table = document.get("TableName")
    if isinstance(table, str) and table:
        arn = dynamodb_table_arn(table, region, account)
        index = document.get("IndexName")
        if isinstance(index, str) and index:
            arn = f"{arn}/index/{index}"
        return (RequiredPermission(f"dynamodb:{action}", arn),)
    for key in ("StreamArn", "ResourceArn", "TableArn"):
        value = document.get(key)
        if isinstance(value, str) and value:
            return (RequiredPermission(f"dynamodb:{action}", value),)
    return (RequiredPermission(f"dynamodb:{action}", "*"),)


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


def sqs_permissions(
    action: str, params: Mapping[str, str], region: str, account: str
) -> tuple[RequiredPermission, ...]:
    iam_action = f"sqs:{_SQS_IAM_ACTIONS.get(action, action)}"
    url = params.get("QueueUrl")
    if url:
        arn = sqs_queue_arn(url, region, account)
        return (RequiredPermission(iam_action, arn or "*"),)
    name = params.get("QueueName")
    if name and action in ("GetQueueUrl", "CreateQueue"):
        owner = params.get("QueueOwnerAWSAccountId") or account
        return (RequiredPermission(iam_action, f"arn:{partition_of(region)}:sqs:{region}:{owner}:{name}"),)
    return (RequiredPermission(iam_action, "*"),)


def logs_permissions(
    action: str, document: Mapping[str, Any], region: str, account: str
) -> tuple[RequiredPermission, ...]:
    group = document.get("logGroupName")
    if not isinstance(group, str) or not group:
        return (RequiredPermission(f"logs:{action}", "*"),)
    arn = f"arn:{partition_of(region)}:logs:{region}:{account}:log-group:{group}"
    stream = document.get("logStreamName")
    if isinstance(stream, str) and stream:
        arn = f"{arn}:log-stream:{stream}"
    return (RequiredPermission(f"logs:{action}", arn),)


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
    permissions = tuple(RequiredPermission(f"s3:{action}", resource) for action, resource in grants)
    return Classified("s3", operation, "rest-xml", region, account, permissions, context)
