"""A small reader of HCL native syntax: enough to find blocks, their labels and attributes.

Used by the endpoint guard (provider blocks and their settings) and by the workspace (aws provider
aliases). Comments are dropped, so commented-out blocks are never mistaken for real ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, expr_string, "{", "}", "=", newline, other
    text: str
    line: int
    #: Where the token stands in the source text (``text[start:end]`` is it as written).
    start: int = 0
    end: int = 0


def tokenize(text: str) -> list[Token]:
    """Tokens of HCL native syntax, enough to find blocks and attributes.

    Comments are dropped; quoted strings become one token (``expr_string`` when they interpolate);
    heredocs become one string token.
    """
    tokens: list[Token] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        char = text[i]
        if char == "\n":
            tokens.append(Token("newline", "\n", line, i, i + 1))
            line += 1
            i += 1
        elif char in " \t\r,":
            i += 1
        elif char == "#" or text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            line += text.count("\n", i, end)
            i = end
        elif char == '"':
            start = i
            value, i, lines, interpolated = _read_string(text, i)
            tokens.append(Token("expr_string" if interpolated else "string", value, line, start, i))
            line += lines
        elif text.startswith("<<", i) and (heredoc := re.match(r"<<-?([A-Za-z_][A-Za-z0-9_]*)\n", text[i:])):
            marker = heredoc.group(1)
            body_start = i + heredoc.end()
            closing = re.compile(rf"^\s*{re.escape(marker)}\s*$", re.MULTILINE).search(text, body_start)
            stop = closing.end() if closing else n
            tokens.append(Token("string", text[body_start : closing.start() if closing else n], line, i, stop))
            line += text.count("\n", i, stop)
            i = stop
        elif char in "{}=":
            tokens.append(Token(char, char, line, i, i + 1))
            i += 1
        elif char.isalpha() or char == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_-"):
                i += 1
            tokens.append(Token("ident", text[start:i], line, start, i))
        else:
            tokens.append(Token("other", char, line, i, i + 1))
            i += 1
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int, int, bool]:
    """A quoted string from ``start`` (the opening quote): value, next index, newlines, interpolated."""
    i, depth, out, interpolated = start + 1, 0, [], False
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        if text.startswith(("${", "%{"), i):
            depth += 1
            interpolated = True
            out.append(text[i : i + 2])
            i += 2
            continue
        if char == "}" and depth:
            depth -= 1
        elif char == '"' and not depth:
            value = "".join(out)
            return value, i + 1, value.count("\n"), interpolated
        out.append(char)
        i += 1
    value = "".join(out)
    return value, len(text), value.count("\n"), interpolated


@dataclass
class Attribute:
    name: str
    line: int
    strings: list[str] = field(default_factory=list)
    literal: bool = True  # the value is a single plain string (or a number/bool), no expression
    #: Where the value stands in the source text (``text[start:end]`` is the expression as written).
    span: tuple[int, int] | None = None


@dataclass
class Block:
    kind: str
    labels: list[str]
    line: int
    attributes: dict[str, Attribute] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    def attribute_string(self, name: str) -> str | None:
        attribute = self.attributes.get(name)
        if attribute is None or not attribute.literal or len(attribute.strings) != 1:
            return None
        return attribute.strings[0]


def parse_blocks(tokens: list[Token]) -> list[Block]:
    """Top-level blocks (``kind "label"... { body }``) with their attributes and nested blocks."""
    root = Block("", [], 0)
    _parse_body(tokens, 0, root, nested=False)
    return root.blocks


def _parse_body(tokens: list[Token], i: int, owner: Block, *, nested: bool) -> int:
    """Fill ``owner`` from ``tokens[i:]``; return the index after the closing brace (or the end)."""
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "}":
            if nested:
                return i + 1
            i += 1
        elif token.kind != "ident":
            i += 1
        elif i + 1 < len(tokens) and tokens[i + 1].kind == "=":
            attribute, i = _parse_value(token, tokens, i + 2)
            owner.attributes[attribute.name] = attribute
        else:
            j, labels = i + 1, []
            while j < len(tokens) and tokens[j].kind in {"string", "ident"}:
                labels.append(tokens[j].text)
                j += 1
            if j < len(tokens) and tokens[j].kind == "{":
                block = Block(token.text, labels, token.line)
                owner.blocks.append(block)
                i = _parse_body(tokens, j + 1, block, nested=True)
            else:
                i = j
    return i


def _parse_value(name: Token, tokens: list[Token], i: int) -> tuple[Attribute, int]:
    """An attribute's value: everything up to the end of line outside brackets."""
    attribute = Attribute(name.text, name.line)
    depth, parts = 0, []
    while i < len(tokens):
        token = tokens[i]
        if depth == 0 and token.kind in {"newline", "}"}:
            break
        if token.kind == "{" or (token.kind == "other" and token.text in "[("):
            depth += 1
        elif token.kind == "}" or (token.kind == "other" and token.text in "])"):
            depth -= 1
        if token.kind in {"string", "expr_string"}:
            attribute.strings.append(token.text)
        if token.kind != "newline":
            parts.append(token)
        i += 1
    if parts:
        attribute.span = (parts[0].start, parts[-1].end)
    attribute.literal = (
        len(parts) == 1
        and parts[0].kind in {"string", "other", "ident"}
        and (parts[0].kind != "ident" or parts[0].text in {"true", "false", "null"})
    )
    return attribute, i
