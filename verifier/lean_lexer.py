"""A lexer for Lean 4 source, just enough to scan untrusted formal proofs soundly.

It follows Lean's own rules where they decide what is code and what is not: nested `/- -/` comments (which ignore
strings inside them), `--` line comments, string literals with escapes, raw strings `r#"..."#`, interpolated
strings `s!"..{code}.."` (whose `{...}` parts are code and are lexed as such), char literals, `«quoted»` names and
Lean's exact identifier characters (so that `λx` is `λ` then `x`, as Lean reads it). Text that Lean would read as
code can never hide inside what this lexer calls a comment or a string. Linear in the input.
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_NESTING = 50


class LexError(ValueError):
    """The source does not lex (an unterminated comment or string): it cannot be scanned, so it is refused."""


@dataclass(frozen=True)
class Token:
    kind: str  # ident | hash (#eval) | attr (@[) | str | char | num | name (`foo) | sym
    text: str
    line: int  # 1-based
    col: int  # 0-based, in characters, like Lean's
    pos: int


def _letter_like(c: str) -> bool:
    o = ord(c)
    return ((0x3B1 <= o <= 0x3C9 and o != 0x3BB) or (0x391 <= o <= 0x3A9 and o not in (0x3A0, 0x3A3))
            or 0x3CA <= o <= 0x3FB or 0x1F00 <= o <= 0x1FFE or 0x2100 <= o <= 0x214F or 0x1D49C <= o <= 0x1D59F)


def _subscript(c: str) -> bool:
    o = ord(c)
    return 0x2080 <= o <= 0x208C or 0x2090 <= o <= 0x209C or 0x1D62 <= o <= 0x1D6A


def id_first(c: str) -> bool:
    return (c.isascii() and c.isalpha()) or c == "_" or _letter_like(c)


def id_rest(c: str) -> bool:
    return (c.isascii() and c.isalnum()) or c in "_'!?" or _letter_like(c) or _subscript(c)


class _Lexer:
    def __init__(self, src: str):
        self.src = src
        self.n = len(src)
        self.tokens: list[Token] = []
        self.nesting = 0  # string interpolations inside one another (bounded: hostile text must not overflow)
        self.line_starts = [0]
        for i, c in enumerate(src):
            if c == "\n":
                self.line_starts.append(i + 1)

    def where(self, pos: int) -> tuple[int, int]:
        lo, hi = 0, len(self.line_starts) - 1
        while lo < hi:  # the last line start <= pos
            mid = (lo + hi + 1) // 2
            if self.line_starts[mid] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, pos - self.line_starts[lo]

    def emit(self, kind: str, start: int, end: int) -> None:
        line, col = self.where(start)
        self.tokens.append(Token(kind, self.src[start:end], line, col, start))

    def fail(self, what: str, pos: int) -> None:
        line, col = self.where(pos)
        raise LexError(f"{what} starting at line {line}, column {col + 1}")

    def block_comment(self, i: int) -> int:
        """`/-` at i; the index after its matching `-/` (comments nest; nothing else is special inside)."""
        depth, j = 1, i + 2
        while j < self.n:
            if self.src.startswith("/-", j):
                depth += 1
                j += 2
            elif self.src.startswith("-/", j):
                depth -= 1
                j += 2
                if depth == 0:
                    return j
            else:
                j += 1
        self.fail("unterminated comment", i)
        return j

    def string(self, i: int, interpolated: bool) -> int:
        """`"` at i; the index after the closing quote. In an interpolated string `{...}` is lexed as code."""
        j = i + 1
        while j < self.n:
            c = self.src[j]
            if c == "\\":
                j += 2
            elif c == '"':
                return j + 1
            elif c == "{" and interpolated:
                self.nesting += 1
                if self.nesting > MAX_NESTING:
                    self.fail("string interpolations nested too deeply", i)
                j = self.code(j + 1, until_brace=True)
                self.nesting -= 1
            else:
                j += 1
        self.fail("unterminated string", i)
        return j

    def raw_string(self, i: int) -> int | None:
        """`r"..."` / `r#"..."#` at i (the `r`), or None when there is none."""
        j = i + 1
        while j < self.n and self.src[j] == "#":
            j += 1
        if j >= self.n or self.src[j] != '"':
            return None
        close = '"' + "#" * (j - i - 1)
        end = self.src.find(close, j + 1)
        if end < 0:
            self.fail("unterminated raw string", i)
        return end + len(close)

    def char(self, i: int) -> int | None:
        """`'x'` or `'\\n'` at i, or None when the quote starts no char literal."""
        j = i + 1
        if j >= self.n:
            return None
        if self.src[j] == "\\":
            if self.src.startswith("u{", j + 1):
                k = self.src.find("}", j + 3, j + 12)
                j = k + 1 if k > 0 else j + 2
            elif self.src.startswith("x", j + 1):
                j += 4
            else:
                j += 2
        elif self.src[j] in "\n'":
            return None
        else:
            j += 1
        return j + 1 if j < self.n and self.src[j] == "'" else None

    def ident(self, i: int) -> int:
        j = i
        while True:
            if j < self.n and self.src[j] == "«":
                k = self.src.find("»", j + 1)
                if k < 0:
                    self.fail("unterminated «name»", j)
                j = k + 1
            else:
                while j < self.n and id_rest(self.src[j]):
                    j += 1
            if j + 1 < self.n and self.src[j] == "." and (id_first(self.src[j + 1]) or self.src[j + 1] == "«"):
                j += 1
                continue
            return j

    def code(self, i: int, until_brace: bool = False) -> int:
        """Lex code from i; with until_brace, stop after the `}` that closes an interpolation and return its end."""
        src, n, depth = self.src, self.n, 0
        while i < n:
            c = src[i]
            if c.isspace():
                i += 1
            elif src.startswith("--", i):
                k = src.find("\n", i)
                i = n if k < 0 else k + 1
            elif src.startswith("/-", i):
                i = self.block_comment(i)
            elif c == '"':
                prev = self.tokens[-1] if self.tokens else None
                interp = (prev is not None and prev.kind == "ident" and prev.text.endswith("!")
                          and prev.pos + len(prev.text) == i)
                end = self.string(i, interp)
                self.emit("str", i, end)
                i = end
            elif c == "r" and (raw_end := self.raw_string(i)) is not None:
                self.emit("str", i, raw_end)
                i = raw_end
            elif c == "'" and (char_end := self.char(i)) is not None:
                self.emit("char", i, char_end)
                i = char_end
            elif id_first(c) or c == "«":
                end = self.ident(i)
                self.emit("ident", i, end)
                i = end
            elif c == "#" and i + 1 < n and id_first(src[i + 1]):
                end = self.ident(i + 1)
                self.emit("hash", i, end)
                i = end
            elif c == "@" and src.startswith("@[", i):
                self.emit("attr", i, i + 2)
                i += 2
            elif c == "`" and i + 1 < n and (id_first(src[i + 1]) or src[i + 1] in "«`"):
                j = i + 1 + (src[i + 1] == "`")
                end = self.ident(j) if j < n and (id_first(src[j]) or src[j] == "«") else j
                self.emit("name", i, end)
                i = end
            elif c.isdigit():
                j = i + 1
                while j < n and (src[j].isalnum() or src[j] in "._"):
                    j += 1
                self.emit("num", i, j)
                i = j
            else:
                if until_brace:
                    if c == "{":
                        depth += 1
                    elif c == "}":
                        if depth == 0:
                            return i + 1
                        depth -= 1
                self.emit("sym", i, i + 1)
                i += 1
        if until_brace:
            self.fail("unterminated string interpolation", i)
        return i


def tokenize(source: str) -> list[Token]:
    """Lean tokens of `source`, comments dropped. Raises LexError on an unterminated comment or string."""
    lexer = _Lexer(source)
    lexer.code(0)
    return sorted(lexer.tokens, key=lambda t: t.pos)  # an interpolation's tokens come before its string's
