"""Streaming parsers for the accepted object formats.

:func:`parse_stream` reads a binary stream (a botocore ``StreamingBody`` or any object with
``read(n)``) in chunks -- never the whole object -- and yields, in order:

* :class:`Record` -- ``(line, ordinal, data, fmt)``: a JSON object (or a parsed access-log line);
  ``line`` is the 1-based line where the record starts, ``ordinal`` its 1-based index among the
  file's entries (records and rejected entries; blank lines are not entries);
* :class:`Rejection` -- ``(line, ordinal, reason, excerpt)``: a bad entry of a file whose other
  entries are usable (``ordinal`` is 0 for stream-level problems such as gzip truncation).

A problem that makes the whole object unusable raises :class:`FormatError` (a permanent
failure of the object): binary content, gzip of garbage, a JSON document or array with a syntax
error, a top-level JSON value that is neither an object nor an array.

Formats (chosen by suffix after stripping ``.gz``, confirmed by content):

* ``.json``: a single object (``fmt="json"``), an array of objects (``"json_array"``, streamed
  element by element with ``JSONDecoder.raw_decode`` over a growing buffer), or JSON Lines
  content (``"jsonl"``; sniffed: the first non-blank line parses alone as an object and more
  non-blank lines follow);
* ``.jsonl`` / ``.ndjson``: one object per line (``"jsonl"``), blank lines skipped;
* ``.log``: Common Log Format (``"clf"``) and Combined Log Format (``"combined"``);
* gzip by ``.gz`` suffix or magic bytes, decompressed on the fly.

Numbers are :class:`~decimal.Decimal` (DynamoDB has no float); NaN/Infinity are rejected.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Final, Literal, Protocol

SourceFormat = Literal["json", "json_array", "jsonl", "clf", "combined"]
Family = Literal["json", "jsonl", "log", "sniff"]

DEFAULT_ACCEPTED_SUFFIXES: Final = (
    ".json",
    ".jsonl",
    ".ndjson",
    ".log",
    ".json.gz",
    ".jsonl.gz",
    ".ndjson.gz",
    ".log.gz",
)
DEFAULT_CHUNK_SIZE: Final = 1 << 20
DEFAULT_MAX_LINE_BYTES: Final = 16 << 20
EXCERPT_CHARS: Final = 200
SNIFF_BYTES: Final = 8192

_GZIP_MAGIC: Final = b"\x1f\x8b"
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_BASE_SUFFIX_FAMILY: Final[dict[str, Family]] = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".log": "log",
}


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


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """How to parse an object, from its key: the format family and whether ``.gz`` was named."""

    family: Family
    gzip_suffix: bool
    suffix: str


def spec_for_key(key: str, accepted_suffixes: Sequence[str]) -> FormatSpec | None:
    """The parser for ``key``, or None when its suffix is not accepted (the object is ignored)."""
    lowered = key.lower()
    matches = [s for s in accepted_suffixes if s and lowered.endswith(s.lower())]
    if not matches:
        return None
    suffix = max(matches, key=len).lower()
    gz = lowered.endswith(".gz")
    base = lowered[:-3] if gz else lowered
    for base_suffix, family in _BASE_SUFFIX_FAMILY.items():
        if base.endswith(base_suffix):
            return FormatSpec(family, gz, suffix)
    return FormatSpec("sniff", gz, suffix)


# ----------------------------------------------------------------------------------------- numbers


class NonFiniteNumberError(ValueError):
    """Raised by the JSON decoder for NaN, Infinity and -Infinity."""

    def __init__(self, token: str) -> None:
        super().__init__(f"non-finite number {token} is not allowed (DynamoDB cannot store it)")
        self.token = token


def _reject_constant(token: str) -> object:
    raise NonFiniteNumberError(token)


def _permissive_constant(token: str) -> object:
    return None


#: One decoder, reused: floats become Decimal, NaN/Infinity raise.
JSON_DECODER: Final = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)
_SKIP_DECODER: Final = json.JSONDecoder(parse_float=Decimal, parse_constant=_permissive_constant)


def decode_json_text(text: str) -> object:
    """Decode one JSON document with the package's number rules (used by tests and tools)."""
    return JSON_DECODER.decode(text)


# ------------------------------------------------------------------------------------------ source


def _excerpt_bytes(data: bytes) -> str:
    return data[: EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS]


class _PrefixedReader:
    """A ``read(n)`` stream: ``prefix`` first, then the rest of the underlying stream."""

    def __init__(self, prefix: bytes, read: Callable[[int], bytes]) -> None:
        self._prefix = prefix
        self._read = read

    def seek(self, offset: int, /) -> int:
        raise io.UnsupportedOperation("the object stream is not seekable")

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size is None or size < 0 or size >= len(self._prefix):
                data, self._prefix = self._prefix, b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._read(size if size is not None and size >= 0 else DEFAULT_CHUNK_SIZE)


class ChunkSource:
    """Chunked reader of the (decompressed) content, with push-back and gzip damage tracking.

    ``read()`` returns the next chunk, ``b""`` at the end. A truncated or corrupt gzip stream
    ends the content early and sets ``damage``; nothing decodable at all raises FormatError.
    """

    def __init__(self, stream: Readable, *, gzip_suffix: bool, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self._chunk = chunk_size
        self._pushed: list[bytes] = []
        self._eof = False
        self.damage: str | None = None
        self.gzipped = False
        self.bytes_out = 0
        self._gz: gzip.GzipFile | None = None
        raw_read = stream.read
        first = raw_read(chunk_size)
        while 0 < len(first) < 2:  # need two bytes to see the gzip magic
            more = raw_read(chunk_size)
            if not more:
                break
            first += more
        if first[:2] == _GZIP_MAGIC:
            self.gzipped = True
            self._gz = gzip.GzipFile(fileobj=_PrefixedReader(first, raw_read), mode="rb")
            self._read_raw: Callable[[int], bytes] = self._gz.read1
        elif gzip_suffix and first:
            raise FormatError(
                f"object name ends in .gz but the content is not gzip-compressed "
                f"(starts with {first[:8].hex(' ')}, expected 1f 8b)"
            )
        else:
            self._read_raw = _PrefixedReader(first, raw_read).read
        self._prime()

    def _read_decompressed(self) -> bytes:
        if self._gz is None:
            return self._read_raw(self._chunk)
        try:
            return self._read_raw(self._chunk)
        except EOFError:
            if self.bytes_out == 0:
                raise FormatError("gzip stream is truncated before any data could be decompressed") from None
            self.damage = "gzip stream truncated"
        except (gzip.BadGzipFile, zlib.error) as exc:
            if self.bytes_out == 0:
                raise FormatError(f"not a valid gzip stream ({exc})") from None
            self.damage = f"gzip stream corrupt ({exc})"
        return b""

    def _prime(self) -> None:
        """Read the first bytes: strip a UTF-8 BOM, refuse binary content."""
        head = b""
        while len(head) < SNIFF_BYTES:
            chunk = self._read_decompressed()
            if not chunk:
                self._eof = True
                break
            head += chunk
            self.bytes_out += len(chunk)
        if head.startswith(_UTF8_BOM):
            head = head[len(_UTF8_BOM) :]
        elif head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
            raise FormatError("content is UTF-32 encoded (byte order mark found); UTF-8 is required")
        elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise FormatError("content is UTF-16 encoded (byte order mark found); UTF-8 is required")
        nul = head.find(b"\x00", 0, SNIFF_BYTES)
        if nul >= 0:
            encoding = _bomless_utf16(head)
            if encoding:
                raise FormatError(
                    f"content looks {encoding} encoded (no byte order mark, every other byte is NUL); UTF-8 is required"
                )
            raise FormatError(f"binary content (NUL byte at offset {nul}); expected UTF-8 text")
        if head:
            self._pushed.append(head)

    def read(self) -> bytes:
        if self._pushed:
            return self._pushed.pop()
        if self._eof:
            return b""
        data = self._read_decompressed()
        if not data:
            self._eof = True
        self.bytes_out += len(data)
        return data

    def push_back(self, data: bytes) -> None:
        if data:
            self._pushed.append(data)


def _bomless_utf16(head: bytes) -> str | None:
    """``UTF-16LE``/``UTF-16BE`` when ``head`` looks like ASCII text in UTF-16 without a BOM."""
    sample = head[: min(len(head), 512) & ~1]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if not odd.strip(b"\x00") and b"\x00" not in even:
        return "UTF-16LE"
    if not even.strip(b"\x00") and b"\x00" not in odd:
        return "UTF-16BE"
    return None


def _iter_lines(  # noqa: PLR0912, PLR0915 -- one hot loop; splitting it costs throughput
    src: ChunkSource, max_line: int, oversize: list[bytes], tail: list[bytes]
) -> Iterator[bytes | None]:
    """Yield the lines of ``src`` without their ``\\n``; ``None`` for a line over ``max_line`` bytes.

    For an oversize line its first bytes are appended to ``oversize``. When the source ends with
    gzip damage, the partial last line is not yielded: it is put in ``tail``.
    """
    pending: list[bytes] = []
    pending_len = 0
    discarding = False
    while True:
        chunk = src.read()
        if not chunk:
            break
        if discarding:
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            chunk = chunk[newline + 1 :]
            discarding = False
        if b"\n" not in chunk:
            pending.append(chunk)
            pending_len += len(chunk)
            if pending_len > max_line:
                oversize.append(b"".join(pending)[: EXCERPT_CHARS * 4])
                pending = []
                pending_len = 0
                discarding = True
                yield None
            continue
        if pending:
            pending.append(chunk)
            chunk = b"".join(pending)
            pending = []
            pending_len = 0
        parts = chunk.split(b"\n")
        rest = parts.pop()
        if len(chunk) > max_line:  # only then can a complete line be too long
            for part in parts:
                if len(part) > max_line:
                    oversize.append(part[: EXCERPT_CHARS * 4])
                    yield None
                else:
                    yield part
        else:
            yield from parts
        if rest:
            if len(rest) > max_line:
                oversize.append(rest[: EXCERPT_CHARS * 4])
                discarding = True
                yield None
            else:
                pending.append(rest)
                pending_len = len(rest)
    last = b"".join(pending)
    if src.damage is not None:
        tail.append(last)
    elif last and not discarding:
        yield last


# ----------------------------------------------------------------------------------------- JSON lines


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _parse_json_lines(src: ChunkSource, max_line: int, fmt: SourceFormat, skip_through: int = 0) -> Iterator[Entry]:
    decode = JSON_DECODER.decode
    oversize: list[bytes] = []
    tail: list[bytes] = []
    line_no = 0
    ordinal = 0
    for raw in _iter_lines(src, max_line, oversize, tail):
        line_no += 1
        if raw is None:
            ordinal += 1
            excerpt = oversize.pop()
            if ordinal > skip_through:
                yield Rejection(line_no, ordinal, f"line exceeds {max_line} bytes", _excerpt_bytes(excerpt))
            continue
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if not line or line.isspace():
            continue
        ordinal += 1
        if ordinal <= skip_through:  # done in an earlier pass: counted, not decoded
            continue
        try:
            value = decode(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            yield Rejection(line_no, ordinal, f"invalid UTF-8 at byte {exc.start} of the line", _excerpt_bytes(line))
            continue
        except json.JSONDecodeError as exc:
            yield Rejection(line_no, ordinal, f"invalid JSON: {exc.msg} (column {exc.colno})", _excerpt_bytes(line))
            continue
        except NonFiniteNumberError as exc:
            yield Rejection(line_no, ordinal, str(exc), _excerpt_bytes(line))
            continue
        except RecursionError:
            yield Rejection(line_no, ordinal, "JSON nesting too deep to parse", _excerpt_bytes(line))
            continue
        if type(value) is not dict:
            yield Rejection(line_no, ordinal, f"line is a JSON {_kind(value)}, not an object", _excerpt_bytes(line))
            continue
        yield Record(line_no, ordinal, value, fmt, len(line))
    if src.damage is not None:
        yield Rejection(line_no + 1, 0, f"{src.damage} after line {line_no}", _excerpt_bytes(tail[0] if tail else b""))


# ------------------------------------------------------------------------------- JSON document/array

_WS: Final = re.compile(r"[ \t\n\r]*")


class _TextBuffer:
    """Incrementally decoded UTF-8 text with a read position and its line number."""

    def __init__(self, src: ChunkSource, max_value_chars: int) -> None:
        self.src = src
        self.max_value_chars = max_value_chars
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False

    def fill(self) -> bool:
        """Append the next chunk; False at the end of the content."""
        if self.eof:
            return False
        chunk = self.src.read()
        try:
            text = self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise FormatError(f"invalid UTF-8 in JSON document after line {self.line} ({exc.reason})") from None
        if not chunk:
            self.eof = True
        if self.pos:
            self.buf = self.buf[self.pos :] + text
            self.pos = 0
        else:
            self.buf += text
        return bool(chunk) or bool(text)

    def advance(self, new_pos: int) -> None:
        self.line += self.buf.count("\n", self.pos, new_pos)
        self.pos = new_pos

    def skip_ws(self) -> bool:
        """Move past whitespace; False when the content ends first."""
        while True:
            end = _WS.match(self.buf, self.pos)
            assert end is not None
            self.advance(end.end())
            if self.pos < len(self.buf):
                return True
            if not self.fill():
                return False

    def line_of(self, pos: int) -> int:
        return self.line + self.buf.count("\n", self.pos, pos)

    def grow(self) -> None:
        """Read until the unread text has doubled (or the content ends)."""
        target = max(len(self.buf) - self.pos, 1) * 2
        while len(self.buf) - self.pos < target and self.fill():
            pass

    def decode_value(self, decoder: json.JSONDecoder = JSON_DECODER) -> tuple[object, int]:
        """Decode the JSON value starting at ``pos``; returns it and its end (pos is not moved)."""
        while True:
            try:
                value, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof:
                    damage = f" ({self.src.damage})" if self.src.damage else ""
                    raise FormatError(f"JSON syntax error at line {self.line_of(exc.pos)}: {exc.msg}{damage}") from None
                self._check_size()
                self.grow()
                continue
            except RecursionError:
                raise FormatError(f"JSON value at line {self.line} is nested too deeply to parse") from None
            if end == len(self.buf) and not self.eof:  # a number may continue in the next chunk
                self._check_size()
                self.grow()
                continue
            return value, end

    def _check_size(self) -> None:
        if len(self.buf) - self.pos > self.max_value_chars:
            raise FormatError(f"JSON value starting at line {self.line} exceeds {self.max_value_chars} characters")


def _value_kind_from_char(char: str) -> str:
    if char == '"':
        return "string"
    if char in "-0123456789":
        return "number"
    if char in "tf":
        return "boolean"
    if char == "n":
        return "null"
    return ""


def _parse_json_document(src: ChunkSource, max_value_chars: int) -> Iterator[Entry]:
    text = _TextBuffer(src, max_value_chars)
    if not text.skip_ws():
        return
    first = text.buf[text.pos]
    if first == "{":
        start_line = text.line
        start = text.pos
        try:
            value, end = text.decode_value()
        except NonFiniteNumberError as exc:
            _, end = text.decode_value(_SKIP_DECODER)
            yield Rejection(start_line, 1, str(exc), text.buf[start:end][:EXCERPT_CHARS])
        else:
            assert isinstance(value, dict)
            yield Record(start_line, 1, value, "json", end - start)
        text.advance(end)
        _expect_end(text)
        return
    if first != "[":
        kind = _value_kind_from_char(first)
        if kind:
            raise FormatError(f"top-level JSON value is a {kind}, not an object or array")
        raise FormatError(f"JSON syntax error at line {text.line}: unexpected character {first!r}")
    text.advance(text.pos + 1)
    yield from _parse_json_array(text, src)
    _expect_end(text)


def _parse_json_array(text: _TextBuffer, src: ChunkSource) -> Iterator[Entry]:
    """The elements of a JSON array whose ``[`` was just consumed (then the closing ``]``)."""
    ordinal = 0
    if not text.skip_ws():
        raise FormatError("JSON syntax error: the array is not closed")
    if text.buf[text.pos] == "]":
        text.advance(text.pos + 1)
        return
    while True:
        start_line = text.line
        start = text.pos
        ordinal += 1
        try:
            value, end = text.decode_value()
        except NonFiniteNumberError as exc:
            _, end = text.decode_value(_SKIP_DECODER)
            yield Rejection(start_line, ordinal, str(exc), text.buf[start:end][:EXCERPT_CHARS], True)
        else:
            if type(value) is dict:
                yield Record(start_line, ordinal, value, "json_array", end - start)
            else:
                yield Rejection(
                    start_line,
                    ordinal,
                    f"array element is a JSON {_kind(value)}, not an object",
                    text.buf[start:end][:EXCERPT_CHARS],
                    True,
                )
        text.advance(end)
        if not text.skip_ws():
            raise FormatError(f"JSON syntax error at line {text.line}: the array is not closed{_damage(src)}")
        separator = text.buf[text.pos]
        if separator == "]":
            text.advance(text.pos + 1)
            break
        if separator != ",":
            raise FormatError(
                f"JSON syntax error at line {text.line}: expected ',' or ']' after array element, found {separator!r}"
            )
        text.advance(text.pos + 1)
        if not text.skip_ws():
            raise FormatError(f"JSON syntax error at line {text.line}: the array is not closed{_damage(src)}")
        if text.buf[text.pos] == "]":
            raise FormatError(f"JSON syntax error at line {text.line}: trailing comma before ']'")


def _damage(src: ChunkSource) -> str:
    return f" ({src.damage})" if src.damage else ""


def _expect_end(text: _TextBuffer) -> None:
    if text.skip_ws():
        raise FormatError(
            f"unexpected data after the JSON document at line {text.line} "
            "(several JSON documents in one file must be one object per line)"
        )
    if text.src.damage is not None:
        raise FormatError(f"{text.src.damage} after a complete JSON document")


def _read_first_line(src: ChunkSource, max_line: int) -> tuple[bytearray, int, int]:
    """Read until the first non-blank line ends; returns (bytes read, its start, its newline)."""
    head = bytearray()
    start = -1  # offset of the first non-whitespace byte
    newline = -1
    while True:
        chunk = src.read()
        head += chunk
        if start < 0:
            leading = len(head) - len(head.lstrip())
            start = leading if leading < len(head) else -1
        if start >= 0:
            if head[start] != ord("{"):  # only an object can start JSON Lines: a document
                return head, start, -1
            newline = head.find(b"\n", start)
            if newline >= 0:
                return head, start, newline
        if not chunk or len(head) > max_line:
            return head, start, -1


def _parse_json_family(src: ChunkSource, max_line: int, skip_through: int = 0) -> Iterator[Entry]:
    """``.json``: sniff JSON Lines (first non-blank line is an object and more lines follow)."""
    head, start, newline = _read_first_line(src, max_line)
    lines_mode = False
    if newline >= 0 and newline - start <= max_line:
        try:
            value = JSON_DECODER.decode(bytes(head[start:newline]).decode("utf-8"))
        except (ValueError, RecursionError):
            value = None
        if type(value) is dict:
            # JSON Lines if anything but whitespace follows the first line.
            rest_start = newline + 1
            while True:
                if head[rest_start:].strip():
                    lines_mode = True
                    break
                chunk = src.read()
                if not chunk:
                    break
                head += chunk
                if len(head) > max_line:
                    lines_mode = True
                    break
    src.push_back(bytes(head))
    if lines_mode:
        yield from _parse_json_lines(src, max_line, "jsonl", skip_through)
    else:
        yield from _parse_json_document(src, max_line)


# ------------------------------------------------------------------------------------ access logs

_QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_ACCESS_LOG_RE: Final = re.compile(
    r"(\S+) (\S+) (\S+) \[([^\]]+)\] " + _QUOTED + r" (\d{3}) (\d+|-)(?: " + _QUOTED + " " + _QUOTED + r")?[ \t]*"
)
_CLF_TIME_RE: Final = re.compile(r"(\d{2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})")
_MONTHS: Final = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
_TIME_CACHE: dict[str, str] = {}
_TIME_CACHE_MAX: Final = 4096


def clf_time_to_iso(value: str) -> str:
    """``10/Oct/2000:13:55:36 -0700`` -> ``2000-10-10T20:55:36Z`` (ValueError when invalid)."""
    cached = _TIME_CACHE.get(value)
    if cached is not None:
        return cached
    match = _CLF_TIME_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"timestamp {value!r} is not in dd/Mon/yyyy:HH:MM:SS +zzzz form")
    day, month_name, year, hour, minute, second, sign, tz_hours, tz_minutes = match.groups()
    month = _MONTHS.get(month_name)
    if month is None:
        raise ValueError(f"timestamp {value!r} has an unknown month {month_name!r}")
    offset = timedelta(hours=int(tz_hours), minutes=int(tz_minutes))
    try:
        moment = datetime(
            int(year),
            month,
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=timezone(-offset if sign == "-" else offset),
        )
        iso = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"timestamp {value!r} is not a valid date ({exc})") from None
    if len(_TIME_CACHE) >= _TIME_CACHE_MAX:
        _TIME_CACHE.clear()
    _TIME_CACHE[value] = iso
    return iso


def parse_access_log_line(line: str) -> tuple[dict[str, object], SourceFormat] | str:
    """Parse one CLF/Combined line into typed fields, or return the reason it does not match."""
    match = _ACCESS_LOG_RE.fullmatch(line)
    if match is None:
        return "line does not match Common or Combined Log Format"
    host, ident, user, stamp, request, status, size, referer, agent = match.groups()
    try:
        iso = clf_time_to_iso(stamp)
    except ValueError as exc:
        return str(exc)
    record: dict[str, object] = {"remote_host": host, "ident": ident, "user": user, "time": iso}
    parts = request.split(" ")
    if len(parts) >= 3 and parts[-1].startswith("HTTP/"):
        record["method"] = parts[0]
        record["path"] = " ".join(parts[1:-1])
        record["protocol"] = parts[-1]
    elif len(parts) == 2:
        record["method"] = parts[0]
        record["path"] = parts[1]
    else:
        record["request"] = request
    record["status"] = int(status)
    if size != "-":
        record["bytes"] = int(size)
    if referer is None:
        return record, "clf"
    record["referer"] = referer
    record["user_agent"] = agent
    return record, "combined"


def _parse_access_log(src: ChunkSource, max_line: int, skip_through: int = 0) -> Iterator[Entry]:
    oversize: list[bytes] = []
    tail: list[bytes] = []
    line_no = 0
    ordinal = 0
    for raw in _iter_lines(src, max_line, oversize, tail):
        line_no += 1
        if raw is None:
            ordinal += 1
            excerpt = oversize.pop()
            if ordinal > skip_through:
                yield Rejection(line_no, ordinal, f"line exceeds {max_line} bytes", _excerpt_bytes(excerpt))
            continue
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if not line or line.isspace():
            continue
        ordinal += 1
        if ordinal <= skip_through:  # done in an earlier pass: counted, not parsed
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Rejection(line_no, ordinal, f"invalid UTF-8 at byte {exc.start} of the line", _excerpt_bytes(line))
            continue
        parsed = parse_access_log_line(text)
        if type(parsed) is str:
            yield Rejection(line_no, ordinal, parsed, text[:EXCERPT_CHARS])
            continue
        assert not isinstance(parsed, str)
        yield Record(line_no, ordinal, parsed[0], parsed[1], len(line))
    if src.damage is not None:
        yield Rejection(line_no + 1, 0, f"{src.damage} after line {line_no}", _excerpt_bytes(tail[0] if tail else b""))


# ------------------------------------------------------------------------------------------- entry


def _sniff_family(src: ChunkSource) -> Family:
    head = src.read()
    src.push_back(head)
    stripped = head.lstrip()
    return "json" if stripped[:1] in (b"{", b"[") else "log"


def parse_stream(
    stream: Readable,
    family: Family,
    *,
    gzip_suffix: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    skip_through: int = 0,
) -> Iterator[Entry]:
    """Parse ``stream`` as ``family``, yielding Records and Rejections in file order.

    Raises FormatError (possibly after yielding entries, for a JSON array) when the whole object
    is unusable. Errors raised by ``stream.read`` itself (network, timeouts) propagate unchanged.

    ``skip_through``: line formats (JSON Lines, access logs) do not decode nor yield the entries
    with an ordinal up to this one -- lines and ordinals are still counted exactly, so what
    follows is identical to a full parse. A JSON document/array ignores it (its elements must be
    decoded to be delimited; the caller filters them).
    """
    chunk_size = max(1, min(chunk_size, max_line_bytes))
    src = ChunkSource(stream, gzip_suffix=gzip_suffix, chunk_size=chunk_size)
    if family == "sniff":
        family = _sniff_family(src)
    if family == "json":
        yield from _parse_json_family(src, max_line_bytes, skip_through)
    elif family == "jsonl":
        yield from _parse_json_lines(src, max_line_bytes, "jsonl", skip_through)
    else:
        yield from _parse_access_log(src, max_line_bytes, skip_through)


def parse_bytes(data: bytes, family: Family, *, gzip_suffix: bool = False, chunk_size: int = 65536) -> list[Entry]:
    """Convenience for tests and tools: parse an in-memory object completely."""
    return list(parse_stream(io.BytesIO(data), family, gzip_suffix=gzip_suffix, chunk_size=chunk_size))
