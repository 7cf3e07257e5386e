"""AWS identifiers the events are made of: regions and their partitions, account ids, bucket names, ARNs.

Also the helpers every strategy here uses: :func:`strategy_of` takes a parameter as a fixed value,
a list to pick from or a strategy of its own; :class:`OpaqueIds` makes the identifiers whose
characters no handler reads (request ids, receipt handles, ETags) from one drawn seed.
"""

from __future__ import annotations

import base64
import ipaddress
import random
import re
from collections.abc import Iterable
from typing import Final, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")

#: Regions events are drawn from: commercial regions on several continents, plus the China and
#: GovCloud partitions, whose ARNs do not start with ``arn:aws:``.
REGIONS: Final = (
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-central-1",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "af-south-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-southeast-2",
    "cn-north-1",
    "cn-northwest-1",
    "us-gov-west-1",
)

_BUCKET_EDGE = "abcdefghijklmnopqrstuvwxyz0123456789"
# S3's bucket naming rules (general purpose buckets): 3-63 characters of a-z 0-9 . -, starting and
# ending with a letter or digit, no "..", not an IPv4 address, none of the reserved prefixes/suffixes.
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def strategy_of(value: T | Iterable[T] | st.SearchStrategy[T], *, scalar: type[T]) -> st.SearchStrategy[T]:
    """``value`` as a strategy: a strategy as it is, one ``scalar`` value always, an iterable of them sampled."""
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, scalar):
        return st.just(value)
    choices = list(value)  # type: ignore[arg-type]
    if not choices:
        raise ValueError(f"expected a {scalar.__name__}, a non-empty list of them or a strategy; got an empty list")
    return st.sampled_from(choices)


class OpaqueIds:
    """Identifiers of the right shape from one seed.

    Their length and alphabet matter to a handler, their characters do not; drawing them from one
    seed spares Hypothesis hundreds of draws per event, and their shrinking.
    """

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)  # noqa: S311 -- test data, not a secret

    def text(self, alphabet: str, low: int, high: int | None = None) -> str:
        """``low`` (up to ``high``) characters of ``alphabet``."""
        size = low if high is None else self._random.randint(low, high)
        return "".join(self._random.choice(alphabet) for _ in range(size))

    def b64(self, low: int, high: int) -> str:
        """Base64 of ``low`` to ``high`` random bytes."""
        return base64.b64encode(self._random.randbytes(self._random.randint(low, high))).decode()

    def pick(self, options: tuple[str, ...]) -> str:
        """One of ``options``."""
        return self._random.choice(options)


def opaque_ids() -> st.SearchStrategy[OpaqueIds]:
    """:class:`OpaqueIds` from a drawn seed."""
    return st.integers(0, 2**64 - 1).map(OpaqueIds)


def partition_of(region: str) -> str:
    """The ARN partition of ``region``: ``aws``, ``aws-cn`` or ``aws-us-gov``."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def regions() -> st.SearchStrategy[str]:
    """AWS region codes (:data:`REGIONS`)."""
    return st.sampled_from(REGIONS)


def account_ids() -> st.SearchStrategy[str]:
    """Twelve-digit AWS account ids (leading zeros included)."""
    return st.text("0123456789", min_size=12, max_size=12)


def is_valid_bucket_name(name: str) -> bool:
    """Whether S3 accepts ``name`` for a general purpose bucket (the rules :func:`bucket_names` draws by)."""
    return (
        3 <= len(name) <= 63
        and re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", name) is not None
        and ".." not in name
        and not _is_ipv4(name)
        and not name.startswith(_RESERVED_PREFIXES)
        and not name.endswith(_RESERVED_SUFFIXES)
    )


def _is_ipv4(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def bucket_names() -> st.SearchStrategy[str]:
    """Names S3 accepts for a general purpose bucket: dots and hyphens included, 3 to 63 characters."""
    middle = st.text(_BUCKET_EDGE + ".-", max_size=61)
    edge = st.sampled_from(_BUCKET_EDGE)
    return st.builds(lambda a, m, z: a + m + z, edge, middle, edge).filter(is_valid_bucket_name)


def queue_names() -> st.SearchStrategy[str]:
    """Names of standard SQS queues (S3 cannot notify a FIFO queue): 1 to 80 of a-z A-Z 0-9 - _."""
    return st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=80)


def queue_arn(region: str, account_id: str, name: str) -> str:
    """The ARN of SQS queue ``name`` (in the region's partition)."""
    return f"arn:{partition_of(region)}:sqs:{region}:{account_id}:{name}"


def bucket_arn(bucket: str, region: str = "us-east-1") -> str:
    """The ARN of ``bucket``; bucket ARNs carry no region or account, only the region's partition."""
    return f"arn:{partition_of(region)}:s3:::{bucket}"
