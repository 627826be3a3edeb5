import sympy as sp
from hang_guard import HANG_GUARD, LIMIT_GONE
from hypothesis import HealthCheck, given, settings, strategies as st

from verifier.claims import extract_claims
from verifier.steps import segment
from verifier.symbolic import check_proof, check_text, judge, refutation_issues


def verdicts(text):
    return [(r.claim.text, r.verdict) for r in check_text(text)]


def only(text):
    rs = check_text(text)
    assert len(rs) == 1, [r.claim.text for r in rs]
    return rs[0]


def test_extract_chains_and_congruences():
    cs = extract_claims(r"Then \[2\cdot1 + 3\cdot2 = 2+6 = 8 = 4\cdot2 .\] and \(x^2 \equiv 1 \pmod{8}\).")
    assert [(c.lhs, c.relation, c.rhs) for c in cs[:3]] == [
        (r"2\cdot1 + 3\cdot2", "=", "2+6"), ("2+6", "=", "8"), ("8", "=", r"4\cdot2")]
    assert cs[3].relation == "==mod" and cs[3].modulus == "8"
    aligned = extract_claims(
        "\\[\n\\begin{aligned}\nS &= 1+2\\\\\n  &= 3 \\qquad\\text{so}\\quad T = 4\n\\end{aligned}\n\\]")
    assert [(c.lhs, c.rhs) for c in aligned] == [("S", "1+2"), ("1+2", "3"), ("T", "4")]
    assert extract_claims("no math here, just words.") == []


def test_correct_computations_confirmed():
    for text in [
        r"Then \[2\cdot1 + 3\cdot2 = 2+6 = 8 = 4\cdot2 .\]",
        r"We have \(7^{8}=5764801\) and \(\binom{10}{3}=120\), \(5! = 120\).",
        r"so $2^{10} \equiv 1 \pmod{11}$ and $3^4 \equiv 1 \pmod 5$.",
        r"Since \(\frac{1}{2}+\frac13=\frac56 < 1\) and \(\sqrt{8} = 2\sqrt2\), fine.",
        "In plain text: 17 mod 5 = 2, 3*4 = 12 and 2^5 - 1 = 31.",
        r"Expanding, \((a+b)^2 = a^2+2ab+b^2\) and \(x^3-1=(x-1)(x^2+x+1)\).",
        r"\(25 \equiv 4 \ (\mathrm{mod}\ 7)\) and \(100 \le 10^3\), \(2 \ne 3\).",
    ]:
        results = check_text(text)
        assert results and all(r.verdict == "confirmed" for r in results), [(r.claim.text, r.verdict) for r in results]


def test_planted_errors_refuted_with_evidence():
    r = only(r"We get \(\binom{10}{3} = 121\).")
    assert r.verdict == "refuted" and "120" in r.evidence
    r = only(r"so \(3^4 \equiv 2 \pmod 5\)")
    assert r.verdict == "refuted" and "81 mod 5 = 1" in r.evidence
    r = only("Hence 3*4 = 13.")
    assert r.verdict == "refuted" and "12" in r.evidence
    r = only(r"Expanding, \((a+b)^2 = a^2+b^2\).")
    assert r.verdict == "refuted" and r.method == "random-point evaluation" and "counterexample" in r.evidence
    r = only(r"\[ \frac{1}{2} + \frac{1}{3} = \frac{2}{5} \]")
    assert r.verdict == "refuted" and "5/6" in r.evidence
    r = only(r"\(7 < 2^2\)")
    assert r.verdict == "refuted"


def test_no_refutation_of_conditional_or_hypothetical_claims():
    for text in [
        r"Assume \(2a^2+3b^2 = 4c^2\). Write \(b = 2b_1\); then \(a^2 + 6b_1^2 = 2c^2\).",
        r"Suppose that \(1 = 2\); this is absurd.",
        r"If \(x^2 = 2x\) then \(x = 0\) or \(x = 2\).",
        r"This gives \(r^2 = r + 20\), so \(r = 5\).",
        r"We would get \(3 \equiv 1 \pmod 4\), a contradiction.",
        r"\(\sqrt 2 = 1.41\) roughly, and \(\pi = 3.14\).",
        r"Then \(f(x) = 2x + c\) and \(f(1) = 5\).",
        r"\(10^{10^{10}} = 5\)",
        r"We have \(5!! = 15\).",
        r"The total is \(1,000 = 10^3\).",
    ]:
        assert all(v != "refuted" for _, v in verdicts(text)), (text, verdicts(text))


def test_refuted_at_the_right_step_in_a_proof():
    text = (
        "**Step 1.** Take \\((a,b,c)=(1,2,2)\\). Then\n\n\\[\n2\\cdot1 + 3\\cdot2 = 8 = 4\\cdot2 .\n\\]\n\n"
        "**Step 2.** Now $\\binom{6}{2} = 15$ and $6! = 720$.\n\n"
        "**Step 3.** Modulo 7 we have 3^3 = 27 ≡ 5 (mod 7).\n\n"
        "**Step 4.** Finally \\(2^{10} = 1000\\), so we are done.\n"
    )
    proof = segment(text)
    results = check_proof(proof)
    assert [r.verdict for r in results] == ["confirmed", "confirmed", "refuted", "refuted"]
    issues = refutation_issues(proof, results)
    assert [i.step for i in issues] == [3, 4]
    assert all(i.severity == "critical" and i.source == "symbolic" and i.evidence for i in issues)
    assert "1024" in issues[1].evidence
    assert "2^{10}" in issues[1].quote


def test_huge_claims_unchecked_quickly():
    import time
    t0 = time.monotonic()
    for text in [r"\(10^{10^{10}} + 1 = 7\)", r"\(100000! = 3\)", r"\((x+1)^{100000} = x\)",
                 r"\(2^{2^{n}} \equiv 1 \pmod{17}\)"]:
        assert all(v == "unchecked" for _, v in verdicts(text)), verdicts(text)
    assert time.monotonic() - t0 < LIMIT_GONE  # milliseconds with the size limits


# ---- property tests: nothing true is refuted

small = st.integers(min_value=-50, max_value=50)
pos = st.integers(min_value=1, max_value=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small, small, small)
def test_true_arithmetic_never_refuted(p, q, r):
    lhs = f"{p} \\cdot ({q}) + {r}"
    value = p * q + r
    res = check_text(f"We compute \\({lhs} = {value}\\) and {p}*{q} = {p * q}.")
    assert res and all(x.verdict == "confirmed" for x in res), [(x.claim.text, x.verdict, x.evidence) for x in res]


@settings(max_examples=40, deadline=None)
@given(pos, st.integers(min_value=0, max_value=12), st.integers(min_value=2, max_value=30))
def test_true_congruences_and_binomials_never_refuted(base, k, m):
    text = (f"Indeed \\({base}^{{{k}}} \\equiv {pow(base, k, m)} \\pmod{{{m}}}\\), "
            f"\\(\\binom{{{base + k}}}{{{k}}} = {sp.binomial(base + k, k)}\\) and \\({k}! = {sp.factorial(k)}\\).")
    res = check_text(text)
    assert len(res) == 3 and all(x.verdict == "confirmed" for x in res), [(x.claim.text, x.evidence) for x in res]


_vars = sp.symbols("a b c x")


def _poly(draw_ints, vars_used):
    terms = []
    for coeff, ea, eb in draw_ints:
        terms.append(sp.Integer(coeff) * vars_used[0] ** ea * vars_used[1] ** eb)
    return sp.Add(*terms)


def _latex(e):
    return sp.latex(e)  # sympy's own printer, only to write test input


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(-9, 9), st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=4),
       st.lists(st.tuples(st.integers(-9, 9), st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=3))
def test_true_identities_never_refuted(p_terms, q_terms):
    a, b = _vars[0], _vars[1]
    p, q = _poly(p_terms, (a, b)), _poly(q_terms, (a, b))
    lhs = f"\\left({_latex(p)}\\right)\\left({_latex(q)}\\right)"
    rhs = _latex(sp.expand(p * q))
    if sp.expand(p * q) == 0:
        rhs = "0"
    res = check_text(f"Expanding, for all a, b we get \\[ {lhs} = {rhs} \\]")
    assert all(x.verdict != "refuted" for x in res), [(x.claim.text, x.evidence) for x in res]
    assert any(x.verdict == "confirmed" for x in res) or not res


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 20), st.integers(1, 20), st.integers(1, 9))
def test_true_rational_identities_never_refuted(p, q, k):
    text = (f"For every x, \\(\\frac{{{p}}}{{x}} + \\frac{{{q}}}{{x}} = \\frac{{{p + q}}}{{x}}\\) and "
            f"\\((x+{k})^2 - (x-{k})^2 = {4 * k}x\\).")
    res = check_text(text)
    assert all(x.verdict == "confirmed" for x in res), [(x.claim.text, x.verdict, x.evidence) for x in res]


def test_judge_is_deterministic():
    c = extract_claims(r"Expanding, \((a+b)^2 = a^2+b^2\).")[0]
    assert judge(c).evidence == judge(c).evidence


def test_heavy_claims_finish_without_the_timer_in_a_thread():
    """Off the main thread there is no alarm; the size limits alone must keep a claim short."""
    import threading
    import time

    out = {}

    def run():
        t0 = time.monotonic()
        out["v"] = verdicts(r"Expanding, \((a+b+c+d+e)^{60}(a+b+c+d+e+f)^{60} = a+b+c+d+e+f\) and "
                            r"\((x+y+z)^{64} - (x-y)^{64} = x^{64}\) and \(99^{99^{99}} = 1\).")
        out["t"] = time.monotonic() - t0

    th = threading.Thread(target=run)
    th.start()
    th.join(HANG_GUARD)
    assert not th.is_alive() and out["t"] < LIMIT_GONE  # milliseconds with the size limits
    assert all(v != "confirmed" for _, v in out["v"])
