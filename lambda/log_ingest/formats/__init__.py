"""Streaming parsers for the accepted object formats (one module per part, this is the API).

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

from .access_log import clf_time_to_iso, parse_access_log_line
from .dispatch import DEFAULT_ACCEPTED_SUFFIXES, FormatSpec, parse_bytes, parse_stream, spec_for_key
from .entries import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_LINE_BYTES,
    EXCERPT_CHARS,
    Entry,
    Family,
    FormatError,
    Readable,
    Record,
    Rejection,
    SourceFormat,
)
from .json_values import JSON_DECODER, NonFiniteNumberError, decode_json_text

__all__ = [
    "DEFAULT_ACCEPTED_SUFFIXES",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_LINE_BYTES",
    "EXCERPT_CHARS",
    "JSON_DECODER",
    "Entry",
    "Family",
    "FormatError",
    "FormatSpec",
    "NonFiniteNumberError",
    "Readable",
    "Record",
    "Rejection",
    "SourceFormat",
    "clf_time_to_iso",
    "decode_json_text",
    "parse_access_log_line",
    "parse_bytes",
    "parse_stream",
    "spec_for_key",
]
