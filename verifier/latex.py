"""A small, safe parser from LaTeX or plain-text math to sympy expressions.

Model text is untrusted: nothing here calls eval, exec, sympify or parse_expr. A hand-written tokenizer and
recursive-descent parser build sympy objects directly, from a fixed vocabulary (numbers, single-letter and
subscripted symbols, Greek letters, + - * / ^, \\frac, \\binom, \\sqrt, factorial, floor/ceil, |x|, gcd/lcm, mod).
Anything outside that vocabulary raises `ParseFailure` and the claim stays unchecked. Size limits keep a claim
like 10^{10^{10}} or 100000! from hanging: such values raise `TooLarge` instead of being computed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

MAX_INPUT = 2000  # characters in one expression
MAX_DIGITS = 400  # digits in one number literal
MAX_BITS = 20000  # bits of a computed power
MAX_FACTORIAL = 1000
MAX_BINOMIAL = 5000
MAX_SYMBOLIC_EXPONENT = 64  # x^{n} with n larger than this, x not a number, is left unchecked
MAX_DEPTH = 60  # nesting of parentheses / braces
MAX_TERMS = 2000  # terms of a sum or product with numeric bounds


class ParseFailure(Exception):
    """The text is not an expression this parser understands; the claim is left unchecked."""


class TooLarge(ParseFailure):
    """A value would be too large to compute within the limits; the claim is left unchecked."""


@dataclass(frozen=True)
class Tok:
    kind: str  # num | sym | cmd | op | end
    value: str
    pos: int
    sized: bool = False  # a delimiter written with \left, \bigl, ...: grouping, never cycle notation


GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega",
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
}
FUNCS = {"sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "ln": sp.log, "exp": sp.exp}
SIZING = {"left", "right", "bigl", "bigr", "Bigl", "Bigr", "big", "Big", "bigg", "Bigg", "biggl", "biggr", "Biggl",
          "Biggr"}  # delimiter sizes: dropped, but what they size is grouping (Tok.sized)
SPACING = {",", ";", ":", "!", " ", "quad", "qquad", "displaystyle", "textstyle", "limits", "nolimits", "mathstrut",
           "strut", "thinspace", "medspace", "thickspace", "negthinspace"} | SIZING
UNICODE = {"·": "\\cdot ", "⋅": "\\cdot ", "×": "\\times ", "−": "-", "–": "-", "‒": "-", "—": "-", "÷": "\\div ",
           "π": "\\pi ", "²": "^2", "³": "^3", "√": "\\sqrt ", "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ",
           "≡": "\\equiv "}
# letters that name functions when followed by "(": f(x) is an application, not f times x
FUNCTION_LETTERS = set("fghpqFGHPQRST")

_TOKEN = re.compile(
    r"\s+|(?P<num>\d+(?:\.\d+)?)|(?P<cmd>\\(?:[A-Za-z]+|.))|(?P<sym>[A-Za-z])|(?P<op>\*\*|[-+*/^_()\[\]{}!|,'=<>])"
)


def tokenize(text: str) -> list[Tok]:
    if len(text) > MAX_INPUT:
        raise TooLarge(f"expression longer than {MAX_INPUT} characters")
    for u, rep in UNICODE.items():
        text = text.replace(u, rep)
    toks: list[Tok] = []
    pos = 0
    sized = False
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ParseFailure(f"unexpected character {text[pos]!r}")
        pos = m.end()
        if m.lastgroup is None:
            continue
        value = m.group(m.lastgroup)
        if m.lastgroup == "cmd" and value[1:] in SPACING:
            sized = value[1:] in SIZING
            continue
        if m.lastgroup == "num" and len(value) > MAX_DIGITS:
            raise TooLarge("number literal too long")
        toks.append(Tok(m.lastgroup, value, m.start(), sized))
        sized = False
    toks.append(Tok("end", "", len(text)))
    return toks


def _check_int(e: sp.Expr) -> int | None:
    return int(e) if isinstance(e, sp.Integer) else None


def safe_pow(base: sp.Expr, exp: sp.Expr) -> sp.Expr:
    """base**exp, refusing results that would be too large to hold."""
    if exp.is_Number:
        if base.is_number:
            if base == 0 and exp.is_negative:
                raise ParseFailure("zero to a negative power")
            if base in (0, 1, -1):
                return sp.Pow(base, exp)
            top = abs(exp.p) if exp.is_Rational else 10**9
            if base.is_Rational:
                bits = top * max(abs(base.p).bit_length(), base.q.bit_length())
            else:
                bits = top * 64
            if bits > MAX_BITS:
                raise TooLarge(f"a power of about {bits} bits")
        elif abs(exp) > MAX_SYMBOLIC_EXPONENT:
            raise TooLarge("exponent too large to expand")  # (a+b+c)^{1000} would not fit
    elif base.is_number and exp.is_number:
        raise TooLarge("exponent could not be bounded")  # e.g. 2^{2^{40}} left unevaluated
    return sp.Pow(base, exp)


def safe_factorial(n: sp.Expr) -> sp.Expr:
    if n.is_Number:
        k = _check_int(n)
        if k is None or k < 0:
            raise ParseFailure("factorial of a non-natural number")
        if k > MAX_FACTORIAL:
            raise TooLarge(f"{k}! is too large to compute")
    elif n.is_number:
        raise TooLarge("factorial argument could not be bounded")
    return sp.factorial(n)


def safe_binomial(n: sp.Expr, k: sp.Expr) -> sp.Expr:
    if n.is_Number and k.is_Number:
        a, b = _check_int(n), _check_int(k)
        if a is None or b is None:
            raise ParseFailure("binomial of non-integers")
        if a > MAX_BINOMIAL:
            raise TooLarge("binomial coefficient too large")
    elif (n.is_number and not n.is_Number) or (k.is_number and not k.is_Number):
        raise TooLarge("binomial argument could not be bounded")
    return sp.binomial(n, k)


class _Parser:
    def __init__(self, text: str):
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0

    # -- helpers
    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def accept(self, kind: str, value: str | None = None) -> Tok | None:
        t = self.tok
        if t.kind == kind and (value is None or t.value == value):
            self.i += 1
            return t
        return None

    def expect(self, kind: str, value: str) -> None:
        if not self.accept(kind, value):
            raise ParseFailure(f"expected {value!r} at {self.tok.pos}, found {self.tok.value!r}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TooLarge("expression nested too deeply")

    # -- grammar
    def parse(self) -> sp.Expr:
        if self._cycles():
            raise ParseFailure("cycle notation for a permutation, not a number")  # (123) = (12)(23)
        e = self.expr()
        if self.tok.kind != "end":
            raise ParseFailure(f"unexpected {self.tok.value!r} at {self.tok.pos}")
        return e

    def _cycles(self) -> bool:
        """(123) alone, or (12)(34): groups of distinct non-zero digits, two or more each, read as cycles."""
        def cycle(k: int) -> bool:
            toks = self.toks[k:k + 3]
            if len(toks) < 3 or [t.value for t in (toks[0], toks[2])] != ["(", ")"] or toks[1].kind != "num":
                return False
            if toks[0].sized:  # \left(12\right) is a grouped number; nobody sizes a cycle's brackets
                return False
            v = toks[1].value
            return v.isdigit() and len(v) > 1 and "0" not in v and len(set(v)) == len(v)

        if len(self.toks) == 4 and cycle(0):
            return True
        return any(cycle(k) and cycle(k + 3) for k in range(len(self.toks) - 5))

    def expr(self) -> sp.Expr:
        self.enter()
        if self.accept("op", "-"):
            e = -self.term()
        else:
            self.accept("op", "+")
            e = self.term()
        while True:
            if self.accept("op", "+"):
                e = e + self.term()
            elif self.accept("op", "-"):
                e = e - self.term()
            elif self.tok.kind == "cmd" and self.tok.value in ("\\bmod", "\\mod"):
                self.next()
                m = self.term()
                e = sp.Mod(e, m)
            elif self.tok.kind == "sym" and self._word_ahead("mod"):
                self.i += 3
                e = sp.Mod(e, self.term())
            else:
                break
        self.depth -= 1
        return e

    def _word_ahead(self, word: str) -> bool:
        toks = self.toks[self.i:self.i + len(word)]
        if len(toks) < len(word) or "".join(t.value for t in toks) != word:
            return False
        return all(t.kind == "sym" for t in toks) and toks[-1].pos - toks[0].pos == len(word) - 1

    def term(self) -> sp.Expr:
        e = self.unary()
        while True:
            t = self.tok
            if t.kind == "op" and t.value == "*" or t.kind == "cmd" and t.value in ("\\cdot", "\\times", "\\ast"):
                self.next()
                e = e * self.unary()
            elif t.kind == "op" and t.value == "/" or t.kind == "cmd" and t.value == "\\div":
                self.next()
                d = self.unary()
                if d == 0:
                    raise ParseFailure("division by zero")
                e = e / d
            elif self._starts_atom() and not (t.kind == "sym" and self._word_ahead("mod")):
                prev = self.toks[self.i - 1]
                exponent = self.i >= 2 and self.toks[self.i - 2].value in ("^", "**")
                if t.kind == "num" and prev.kind == "num" and not exponent:
                    raise ParseFailure("two numbers side by side (a digit group?)")
                e = e * self.power()  # implicit multiplication
            else:
                return e

    def unary(self) -> sp.Expr:
        if self.accept("op", "-"):
            return -self.unary()
        if self.accept("op", "+"):
            return self.unary()
        return self.power()

    def _starts_atom(self) -> bool:
        t = self.tok
        if t.kind in ("num", "sym"):
            return True
        if t.kind == "op":
            return t.value in ("(", "{", "[")
        if t.kind == "cmd":
            return t.value not in ("\\cdot", "\\times", "\\div", "\\bmod", "\\mod", "\\ast", "\\rfloor", "\\rceil",
                                   "\\}", "\\le", "\\ge", "\\ne", "\\equiv", "\\pmod", "\\rvert", "\\|")
        return False

    def power(self) -> sp.Expr:
        base = self.postfix()
        if self.accept("op", "^") or self.accept("op", "**"):
            label = self.tok.value == "{" and self.toks[self.i + 1].value == "("
            exp = self.exponent()
            if not base.is_number and (exp == 0 or label or self.tok.value == "_"):
                # a^0, x^{(1)}, a^0_{i,j}: a superscript that names (the first, the initial ...), not a power
                raise ParseFailure("a superscript used as a label")
            return safe_pow(base, exp)
        return base

    def exponent(self) -> sp.Expr:
        if self.accept("op", "-"):
            return -self.exponent()
        if self.tok.kind == "op" and self.tok.value == "{":
            return self.group()
        e = self.postfix()
        if self.accept("op", "^"):
            return safe_pow(e, self.exponent())
        return e

    def postfix(self) -> sp.Expr:
        e = self.atom()
        while True:
            if self.accept("op", "!"):
                if self.tok.kind == "op" and self.tok.value == "!":
                    raise ParseFailure("n!! is ambiguous (double factorial or (n!)!)")
                e = safe_factorial(e)
            elif self.tok.kind == "op" and self.tok.value == "'":
                raise ParseFailure("primes are not supported")
            else:
                return e

    def group(self) -> sp.Expr:
        self.expect("op", "{")
        e = self.expr()
        self.expect("op", "}")
        return e

    def arg(self) -> sp.Expr:
        """A command argument: {expr}, or a single digit / letter as in \\frac12."""
        if self.tok.kind == "op" and self.tok.value == "{":
            return self.group()
        t = self.next()
        if t.kind == "num":
            # \frac12 means 1/2: a bare argument is one character
            if len(t.value) > 1:
                self.toks.insert(self.i, Tok("num", t.value[1:], t.pos + 1))
            return sp.Integer(t.value[0])
        if t.kind == "sym":
            return sp.Symbol(t.value)
        raise ParseFailure("missing command argument")

    def subscript(self) -> str:
        if self.tok.kind == "op" and self.tok.value == "{":
            start = self.i
            self.enter()
            level = 0
            while True:
                t = self.next()
                if t.kind == "end":
                    raise ParseFailure("unclosed subscript")
                if t.value == "{":
                    level += 1
                elif t.value == "}":
                    level -= 1
                    if level == 0:
                        break
            self.depth -= 1
            return "".join(t.value for t in self.toks[start + 1:self.i - 1])
        t = self.next()
        if t.kind in ("num", "sym"):
            return t.value[0] if t.kind == "num" else t.value
        raise ParseFailure("bad subscript")

    def symbol(self, name: str) -> sp.Expr:
        while self.accept("op", "_"):
            name = f"{name}_{{{self.subscript()}}}"
        if self.tok.kind == "op" and self.tok.value == "'":
            raise ParseFailure("primes are not supported")
        if self.tok.kind == "op" and self.tok.value == "(" and name.split("_")[0] in FUNCTION_LETTERS:
            self.next()
            args = [self.expr()]
            while self.accept("op", ","):
                args.append(self.expr())
            self.expect("op", ")")
            return sp.Function(name)(*args)
        return sp.Symbol(name)

    def atom(self) -> sp.Expr:
        t = self.next()
        if t.kind == "num":
            return sp.Rational(t.value) if "." in t.value else sp.Integer(t.value)
        if t.kind == "sym":
            if self.tok.kind == "sym" and self.toks[self.i + 1].kind == "sym" and self.tok.pos == t.pos + 1 \
                    and self.toks[self.i + 1].pos == t.pos + 2:
                raise ParseFailure("a word, not a formula")
            return self.symbol(t.value)
        if t.kind == "op":
            if t.value in ("(", "["):
                close = ")" if t.value == "(" else "]"
                e = self.expr()
                if self.tok.value == ",":
                    raise ParseFailure("a tuple or interval, not a number")
                self.expect("op", close)
                return e
            if t.value == "{":
                self.i -= 1
                return self.group()
            if t.value == "|":
                e = self.expr()
                self.expect("op", "|")
                return sp.Abs(e)
            raise ParseFailure(f"unexpected {t.value!r}")
        if t.kind == "cmd":
            return self.command(t.value[1:])
        raise ParseFailure("unexpected end")

    def big_operator(self, name: str) -> sp.Expr:
        """\\sum_{i=a}^{b} body and \\prod_{i=a}^{b} body; the body is one term (\\sum_{i=1}^{3} i + 1 = 7)."""
        if not self.accept("op", "_"):
            raise ParseFailure(f"\\{name} without bounds")
        self.expect("op", "{")
        var = self.next()
        if var.kind not in ("sym", "cmd"):
            raise ParseFailure("bad summation index")
        index = sp.Symbol(var.value)
        if self.tok.kind == "op" and self.tok.value == "_":
            raise ParseFailure("subscripted summation index")
        self.expect("op", "=")
        lo = self.expr()
        self.expect("op", "}")
        if not (self.accept("op", "^")):
            raise ParseFailure(f"\\{name} without an upper bound")
        hi = self.exponent()
        body = self.term()
        if lo.is_Integer and hi.is_Integer:
            if int(hi) - int(lo) > MAX_TERMS:
                raise TooLarge(f"\\{name} with more than {MAX_TERMS} terms")
            terms = [body.subs(index, k) for k in range(int(lo), int(hi) + 1)]
            return sp.Add(*terms) if name == "sum" else sp.Mul(*terms)
        if lo.is_number and not lo.is_Integer or hi.is_number and not hi.is_Integer:
            raise ParseFailure("non-integer bounds")
        op = sp.Sum if name == "sum" else sp.Product
        return op(body, (index, lo, hi))

    def command(self, name: str) -> sp.Expr:
        if name in ("frac", "dfrac", "tfrac", "cfrac"):
            num, den = self.arg(), self.arg()
            if den == 0:
                raise ParseFailure("division by zero")
            return num / den
        if name in ("binom", "dbinom", "tbinom"):
            return safe_binomial(self.arg(), self.arg())
        if name == "sqrt":
            if self.accept("op", "["):
                n = self.expr()
                self.expect("op", "]")
                return safe_pow(self.arg(), 1 / n)
            return sp.sqrt(self.arg())
        if name in ("lfloor", "lceil"):
            e = self.expr()
            self.expect("cmd", "\\rfloor" if name == "lfloor" else "\\rceil")
            return sp.floor(e) if name == "lfloor" else sp.ceiling(e)
        if name in ("lvert", "vert"):
            e = self.expr()
            if not (self.accept("cmd", "\\rvert") or self.accept("cmd", "\\vert")):
                raise ParseFailure("unclosed absolute value")
            return sp.Abs(e)
        if name == "pi":
            # \pi is as often a permutation as the circle constant; a symbol is the safe reading
            return self.symbol("\\pi")
        if name in GREEK:
            return self.symbol("\\" + name)
        if name in FUNCS:
            if self.tok.kind == "op" and self.tok.value in ("(", "{"):
                return FUNCS[name](self.atom())
            raise ParseFailure(f"\\{name} without parentheses")
        if name in ("gcd", "operatorname", "max", "min"):
            if name == "operatorname":
                inner = self.subscript() if self.tok.value == "{" else ""
                name = inner.strip()
                if name not in ("lcm", "gcd"):
                    raise ParseFailure(f"unknown operator {name!r}")
            self.expect("op", "(")
            args = [self.expr()]
            while self.accept("op", ","):
                args.append(self.expr())
            self.expect("op", ")")
            fn = {"gcd": sp.gcd, "lcm": sp.lcm, "max": sp.Max, "min": sp.Min}[name]
            if name in ("gcd", "lcm") and not all(a.is_Integer for a in args):
                raise ParseFailure("gcd/lcm of non-integers")
            out = args[0]
            for a in args[1:]:
                out = fn(out, a)
            return out
        if name in ("sum", "prod"):
            return self.big_operator(name)
        if name == "boxed":
            return self.group()
        if name in ("mathrm", "mathit", "mathbf") and self.tok.value == "{":
            inner = self.subscript()
            if len(inner) == 1 and inner.isalpha():
                return sp.Symbol(inner)
            raise ParseFailure(f"\\{name}{{{inner}}}")
        raise ParseFailure(f"unsupported command \\{name}")


def parse_math(text: str) -> sp.Expr:
    """Parse one expression (no relation signs) into a sympy expression; ParseFailure when not understood."""
    if not text or not text.strip():
        raise ParseFailure("empty expression")
    try:
        return _Parser(text).parse()
    except (ParseFailure, ZeroDivisionError):
        raise
    except (RecursionError, MemoryError) as exc:
        raise TooLarge(str(exc)) from None
    except (TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ParseFailure(f"could not build the expression: {exc}") from None
