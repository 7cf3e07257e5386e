"""The object's (decompressed) content as chunks, and its lines.

:class:`ChunkSource` reads the stream chunk by chunk (never the whole object), un-gzips it on
the fly, strips a UTF-8 BOM and refuses binary / UTF-16 / UTF-32 content; :func:`iter_lines`
splits it into lines with the line-length limit; :func:`text_lines` numbers them and rejects
what no line format can parse (the loop JSON Lines and access logs share).
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from typing import Final

from .entries import DEFAULT_CHUNK_SIZE, EXCERPT_CHARS, FormatError, Readable, Rejection

SNIFF_BYTES: Final = 8192
_GZIP_MAGIC: Final = b"\x1f\x8b"
_UTF8_BOM: Final = b"\xef\xbb\xbf"


def excerpt_bytes(data: bytes) -> str:
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


def iter_lines(  # noqa: PLR0912, PLR0915 -- one hot loop; splitting it costs throughput
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


#: A line for a line format to parse: (line number, entry ordinal, its bytes without CR, its text).
TextLine = tuple[int, int, bytes, str]


def text_lines(src: ChunkSource, max_line: int, skip_through: int = 0) -> Iterator[TextLine | Rejection]:
    """The non-blank lines of ``src`` as :data:`TextLine`, and a :class:`Rejection` for each line no
    format can parse: over ``max_line`` bytes, or not UTF-8.

    Every non-blank line is an entry with the next ordinal; the entries up to ``skip_through``
    (done in an earlier pass) are counted, not yielded. Damage after the last line (a truncated
    gzip member) ends the lines with a rejection of ordinal 0.
    """
    oversize: list[bytes] = []
    tail: list[bytes] = []
    line_no = 0
    ordinal = 0
    for raw in iter_lines(src, max_line, oversize, tail):
        line_no += 1
        if raw is None:
            ordinal += 1
            excerpt = oversize.pop()
            if ordinal > skip_through:
                yield Rejection(line_no, ordinal, f"line exceeds {max_line} bytes", excerpt_bytes(excerpt))
            continue
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if not line or line.isspace():
            continue
        ordinal += 1
        if ordinal <= skip_through:  # done in an earlier pass: counted, not parsed
            continue
        try:
            yield line_no, ordinal, line, line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Rejection(line_no, ordinal, f"invalid UTF-8 at byte {exc.start} of the line", excerpt_bytes(line))
    if src.damage is not None:
        yield Rejection(line_no + 1, 0, f"{src.damage} after line {line_no}", excerpt_bytes(tail[0] if tail else b""))
