"""What the parsers yield (:class:`Record`, :class:`Rejection`), what they raise
(:class:`FormatError`), and the limits they share."""

from __future__ import annotations

from typing import Final, Literal, Protocol

SourceFormat = Literal["json", "json_array", "jsonl", "clf", "combined"]
Family = Literal["json", "jsonl", "log", "sniff"]

DEFAULT_CHUNK_SIZE: Final = 1 << 20
#: The longest line (or JSON value) accepted; longer lines are rejected (the harness pins it:
#: ``s3pipe.contract.MAX_LINE_BYTES``).
DEFAULT_MAX_LINE_BYTES: Final = 16 << 20
EXCERPT_CHARS: Final = 200


class Readable(Protocol):
    """What the parsers need from a stream: ``read(n)`` returning ``b""`` at the end."""

    def read(self, amt: int | None = ..., /) -> bytes: ...


class Record:
    """A usable record: ``data`` is a dict of JSON-compatible values (numbers as Decimal/int)."""

    __slots__ = ("data", "fmt", "line", "ordinal", "size_hint")

    def __init__(self, line: int, ordinal: int, data: dict[str, object], fmt: SourceFormat, size_hint: int):
        self.line = line
        self.ordinal = ordinal
        self.data = data
        self.fmt: SourceFormat = fmt
        self.size_hint = size_hint  # length of the record's source text, for the item-size fast path

    def __repr__(self) -> str:
        return f"Record(line={self.line}, ordinal={self.ordinal}, fmt={self.fmt!r}, data={self.data!r})"


class Rejection:
    """A bad entry (``ordinal`` > 0) or a stream-level problem (``ordinal`` == 0).

    ``array_element`` is True for elements of a JSON array (several can share a line).
    """

    __slots__ = ("array_element", "excerpt", "line", "ordinal", "reason")

    def __init__(self, line: int, ordinal: int, reason: str, excerpt: str, array_element: bool = False):
        self.line = line
        self.ordinal = ordinal
        self.reason = reason
        self.excerpt = excerpt
        self.array_element = array_element

    def __repr__(self) -> str:
        return f"Rejection(line={self.line}, ordinal={self.ordinal}, reason={self.reason!r})"


Entry = Record | Rejection


class FormatError(Exception):
    """The whole object is unusable (a permanent failure); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
