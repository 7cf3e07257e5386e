"""``.json`` objects: a single document (``"json"``), an array of objects streamed element by
element (``"json_array"``), or JSON Lines content (sniffed: the first non-blank line parses alone
as an object and more non-blank lines follow)."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Final

from .entries import EXCERPT_CHARS, Entry, FormatError, Record, Rejection
from .json_lines import parse_json_lines
from .json_values import JSON_DECODER, SKIP_DECODER, NonFiniteNumberError, json_kind
from .source import ChunkSource

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
            _, end = text.decode_value(SKIP_DECODER)
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
            _, end = text.decode_value(SKIP_DECODER)
            yield Rejection(start_line, ordinal, str(exc), text.buf[start:end][:EXCERPT_CHARS], True)
        else:
            if type(value) is dict:
                yield Record(start_line, ordinal, value, "json_array", end - start)
            else:
                yield Rejection(
                    start_line,
                    ordinal,
                    f"array element is a JSON {json_kind(value)}, not an object",
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


def parse_json_family(src: ChunkSource, max_line: int, skip_through: int = 0) -> Iterator[Entry]:
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
        yield from parse_json_lines(src, max_line, "jsonl", skip_through)
    else:
        yield from _parse_json_document(src, max_line)
