import os
import time

import pytest
import sympy as sp
from hang_guard import LIMIT_GONE

from verifier.latex import ParseFailure, TooLarge, parse_math

a, b, n, x = sp.symbols("a b n x")


@pytest.mark.parametrize("text,value", [
    (r"2\cdot1 + 3\cdot2", 8),
    (r"\frac{1}{2}+\dfrac12", 1),
    (r"\tfrac{3}{4}", sp.Rational(3, 4)),
    (r"\binom{10}{3}", 120),
    (r"\dbinom{6}{2} \times 2", 30),
    ("5!", 120),
    (r"2^{10}", 1024),
    ("2^10", 1024),
    ("2**10", 1024),
    (r"\sqrt{16}", 4),
    (r"\sqrt[3]{27}", 3),
    (r"\lfloor 7/2 \rfloor + \lceil 7/2 \rceil", 7),
    ("|3-5|", 2),
    (r"17 \bmod 5", 2),
    ("17 mod 5", 2),
    (r"\gcd(12, 18)", 6),
    (r"\operatorname{lcm}(4,6)", 12),
    ("2.5 * 2", 5),
    ("-(-3)", 3),
    (r"\left( 1 + 2 \right)^{2}", 9),
    ("3·4 − 2", 10),
    ("7²", 49),
])
def test_values(text, value):
    assert parse_math(text) == value


def test_symbols_and_structure():
    assert parse_math("x^2-1") == x**2 - 1
    assert parse_math("(a+b)^2") == (a + b)**2
    assert parse_math("a(b+1)") == a * (b + 1)
    assert parse_math("2a b") == 2 * a * b
    assert parse_math(r"\alpha^2").free_symbols == {sp.Symbol("\\alpha")}
    assert parse_math("x_{n+1} - x_1").free_symbols == {sp.Symbol("x_{n+1}"), sp.Symbol("x_{1}")}
    assert parse_math(r"\pi") == sp.Symbol("\\pi")  # a permutation as often as the constant
    f = parse_math("f(x) + 1")
    assert f.atoms(sp.core.function.AppliedUndef)  # f(x) is an application, not f times x


@pytest.mark.parametrize("text", [
    "", "abc + 1", r"\int_0^1 x dx", r"\sum i", r"\sum_{i=1}^{n}", "(1, 2)", r"\frac{1}{0}", "1 +", "((1)", r"\dots",
    "5 924 217 936", "5!!", r"\unknown{3}", "x'", "2 = 3",
])
def test_not_parsed(text):
    with pytest.raises(ParseFailure):
        parse_math(text)


@pytest.mark.parametrize("text", [
    r"10^{10^{10}}", r"2^{2^{40}}", "100000!", r"\binom{100000}{50000}", "9^{9^{9}}", r"(10^{5000})^{100}",
    "(" * 200 + "1" + ")" * 200, "1" * 5000,
])
def test_huge_values_refused_quickly(text):
    t0 = time.monotonic()
    with pytest.raises(TooLarge):
        parse_math(text)
    assert time.monotonic() - t0 < LIMIT_GONE  # refused before any arithmetic: milliseconds


@pytest.mark.parametrize("payload", [
    "__import__('os').system('touch {f}')",
    "eval(\"__import__('os').system('touch {f}')\")",
    "exec('open(\"{f}\", \"w\")')",
    r"\input{{{f}}}",
    "lambda: __import__('os').system('touch {f}')",
    "x.__class__.__mro__",
    "Symbol('x').__init__.__globals__['os'].system('touch {f}')",
])
def test_model_text_never_executed(tmp_path, payload):
    from verifier.symbolic import check_text
    target = tmp_path / "X"
    text = payload.format(f=target)
    with pytest.raises(ParseFailure):
        parse_math(text)
    # also through the whole pipeline, as a claim in a proof step
    check_text(f"We compute \\({text} = 1\\) and {text} = 2, so $1 = {text}$.")
    assert not target.exists()
    assert not os.path.exists("X")
