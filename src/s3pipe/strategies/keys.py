"""Object keys as people write them, and the form S3 puts them in event notifications.

S3 allows any UTF-8 key up to 1,024 bytes. In an event notification the key is URL-encoded the
``application/x-www-form-urlencoded`` way: a space becomes ``+``, a ``+`` becomes ``%2B``, ``/``
stays as it is (S3 user guide, "Event message structure"). Decode it with
``urllib.parse.unquote_plus``, never ``unquote``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import quote_plus

from hypothesis import strategies as st

from s3pipe.strategies.aws import strategy_of

#: S3's limit on a key, in bytes of UTF-8.
MAX_KEY_BYTES: Final = 1024

#: Endings :func:`object_keys` draws from by default: no suffix, log and data formats, gzip, and
#: ``/`` (the zero-byte "folder" objects the S3 console creates).
DEFAULT_SUFFIXES: Final = (
    "",
    ".json",
    ".jsonl",
    ".ndjson",
    ".log",
    ".csv",
    ".txt",
    ".json.gz",
    ".jsonl.gz",
    ".ndjson.gz",
    ".log.gz",
    ".gz",
    "/",
)

# Characters people put in keys and handlers get wrong, then any Unicode (no surrogates: not UTF-8;
# no control characters: S3 takes them, but they are not how people name objects).
_TRICKY = [*" +%=&?#!$'()*,;:@~_-.[]{}^`|\\\"<>", "é", "日", "本", "ß", "😀", "ü", "\u00a0"]
_KEY_CHARS = st.one_of(st.sampled_from(_TRICKY), st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")))
# "." and ".." segments are left out: HTTP clients may normalise them away, so such a key cannot
# be addressed reliably.
_DOT_SEGMENTS = frozenset({".", ".."})
_SEGMENTS = st.text(_KEY_CHARS, min_size=1, max_size=12).filter(lambda s: s not in _DOT_SEGMENTS)


def encode_key(key: str) -> str:
    """``key`` as S3 writes it into an event notification: URL-encoded, ``+`` for a space, ``/`` kept."""
    return quote_plus(key, safe="/")


def object_keys(
    *,
    prefix: str = "",
    suffixes: str | Iterable[str] | st.SearchStrategy[str] = DEFAULT_SUFFIXES,
    max_bytes: int = MAX_KEY_BYTES,
) -> st.SearchStrategy[str]:
    """Object keys: Unicode, spaces, ``+``, ``%``, deep prefixes, and now and then keys up to ``max_bytes``.

    ``prefix`` starts every key (a notification's prefix filter), ``suffixes`` ends it (a suffix
    filter: one string, a list to pick from, or a strategy). The middle is cut, never the prefix or
    the suffix, so every key fits in ``max_bytes`` bytes of UTF-8.
    """
    if not 1 <= max_bytes <= MAX_KEY_BYTES:
        raise ValueError(f"max_bytes must be in 1..{MAX_KEY_BYTES} (S3's limit), not {max_bytes}")
    if isinstance(suffixes, str | st.SearchStrategy):
        fixed_room = len(prefix.encode()) + (len(suffixes.encode()) if isinstance(suffixes, str) else 0)
    else:
        suffixes = tuple(suffixes)
        fixed_room = len(prefix.encode()) + max((len(s.encode()) for s in suffixes), default=0)
    if fixed_room + 4 > max_bytes:  # room for one character of up to four bytes
        raise ValueError(f"prefix {prefix!r} and the longest suffix leave no room in {max_bytes} bytes")
    return _object_keys(prefix, strategy_of(suffixes, scalar=str), max_bytes)


@st.composite
def _object_keys(draw: st.DrawFn, prefix: str, suffixes: st.SearchStrategy[str], max_bytes: int) -> str:
    folders = draw(st.lists(_SEGMENTS, max_size=8))
    name = draw(_SEGMENTS)
    if draw(st.integers(0, 7)) == 7:  # now and then a long name, cut to the limit below
        name *= draw(st.integers(2, max_bytes))
    body = "".join(f"{folder}/" for folder in folders) + name
    suffix = draw(suffixes)
    budget = max_bytes - len(prefix.encode()) - len(suffix.encode())
    if budget < 1:
        raise ValueError(f"suffix {suffix!r} leaves no room after prefix {prefix!r} in {max_bytes} bytes")
    body = _cut(body, budget)
    while body and _ends_in_dot_segment(body, suffix):
        body = body[:-1]
    return prefix + (body or "k") + suffix


def _cut(text: str, budget: int) -> str:
    """The longest start of ``text`` that fits in ``budget`` bytes of UTF-8."""
    used = 0
    for index, char in enumerate(text):
        used += len(char.encode())
        if used > budget:
            return text[:index]
    return text


def _ends_in_dot_segment(body: str, suffix: str) -> bool:
    """Whether cutting ``body`` made a "." or ".." segment where it meets the suffix."""
    return body.rpartition("/")[2] + suffix.partition("/")[0] in _DOT_SEGMENTS
