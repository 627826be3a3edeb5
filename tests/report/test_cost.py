"""Bounded cost of the report renderer on hostile text: the math scan is linear and agrees with the regex it
replaced, and a report of a 1 MB hostile proof is written in bounded time, still inert."""
from __future__ import annotations

import random
import re
import time

import pytest
from hang_guard import LIMIT_GONE
from synthetic import prove_run

from report.build import render_run
from report.markup import Renderer, find_math

# The delimiter regex the renderer used before (lazy `.+?`: quadratic on unclosed openers), as the reference for
# which formulas are found.
OLD = re.compile(
    r"\$\$(?P<dd>.+?)\$\$"
    r"|\\\[(?P<br>.+?)\\\]"
    r"|\\\((?P<pa>.+?)\\\)"
    r"|(?P<env>\\begin\{(?P<envname>equation|align|alignat|gather|multline|eqnarray|displaymath)(?P<star>\*?)\}"
    r".+?\\end\{(?P=envname)(?P=star)\})"
    r"|(?<![\\$])\$(?P<d>(?:\\\$|[^$])+?)(?<![\\\s])\$",
    re.DOTALL)


def old_find(text):
    out = []
    for m in OLD.finditer(text):
        if m.group("env"):
            out.append((m.start(), m.end(), m.group("env"), True))
        elif m.group("dd") is not None or m.group("br") is not None:
            out.append((m.start(), m.end(), m.group("dd") if m.group("dd") is not None else m.group("br"), True))
        else:
            out.append((m.start(), m.end(), m.group("pa") if m.group("pa") is not None else m.group("d"), False))
    return out


PIECES = ["$", "$", "\\", "[", "]", "(", ")", "a", " ", "\n", "\\begin{equation}", "\\end{equation}",
          "\\begin{align*}", "\\end{align*}", "\\end{align}", "\\$", "x"]


def test_scan_finds_what_the_regex_found():
    rng = random.Random(15)
    for _ in range(30_000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 16)))
        assert find_math(text) == old_find(text), repr(text)


HOSTILE_OPENERS = ["\\[ x ", "\\( x ", "$ x", "$x ", "\\begin{equation} x ", "$$ x ", "\\begin{align*}",
                   "\\$ a$ ", "$\\", "\\[\\(", "$$$"]


@pytest.mark.parametrize("chunk", HOSTILE_OPENERS)
def test_scan_is_linear(chunk):
    text = (chunk * (1_000_000 // len(chunk) + 1))[:1_000_000]
    t0 = time.perf_counter()
    find_math(text)
    # the regex took ~25 s on 40 KB of some of these (hours on 1 MB); linear takes well under a second
    assert time.perf_counter() - t0 < LIMIT_GONE, chunk


def hostile(kind: str, n: int) -> str:
    return {
        "unclosed-brackets": lambda: "\\[ x " * (n // 5),
        "unclosed-env": lambda: "\\begin{equation} x " * (n // 19),
        "nested-lists": lambda: "\\begin{itemize}\\item a " * (n // 23),
        "distinct-formulas": lambda: " ".join(f"$x_{{{i}}}$" for i in range(n // 9)),
        "long-formulas": lambda: " ".join("$" + "x" * 4990 + f"{i}$" for i in range(n // 5000)),
        "stars": lambda: "*a" * (n // 2),
        "link-steps": lambda: "".join(f"{i} " + "[a" * 2000 + "\n\n" for i in range(n // 4006)),
        "xss": lambda: "<script>alert(1)</script> $\\text{<img src=x onerror=alert(1)>}$ [x](javascript:alert(1)) "
                       * (n // 90),
    }[kind]()[:n]


@pytest.mark.parametrize("kind", ["unclosed-brackets", "unclosed-env", "nested-lists", "distinct-formulas",
                                  "long-formulas", "stars", "link-steps", "xss"])
def test_report_of_a_1mb_hostile_proof_is_bounded_and_inert(tmp_path, kind):
    text = hostile(kind, 1_000_000)
    run = prove_run(tmp_path / "run", candidates=2, rounds=1, m=1, proofs=[text], statement=text[:2000])
    t0 = time.perf_counter()
    html, stats = render_run(run)
    seconds = time.perf_counter() - t0
    print(f"\n{kind}: 1 MB proof -> report in {seconds:.2f} s, {stats}")
    # 7-15 s on a shared 2-core machine, up to ~40 s under heavy load; the quadratic renderer took hours on 1 MB,
    # so only a lost bound fails this
    assert seconds < 5 * LIMIT_GONE
    lowered = html.lower()
    assert "<script>alert" not in lowered and "<img" not in lowered and 'href="javascript' not in lowered


def test_budget_spent_shows_plain_text_and_formula_source():
    r = Renderer(budget=2_000)
    first = r.markdown("A formula $x^2$ here.")
    assert "<math" in first
    big = r.markdown("<b>too</b> much *work* " * 200)
    assert big.startswith('<pre class="plain-text"') and "&lt;b&gt;" in big and r.stats.plain_texts == 1
    out = r.formula("y^{<script>}" * 10, display=False)
    assert "tex-fail" in out and "&lt;script&gt;" in out and r.stats.over_budget == 1
