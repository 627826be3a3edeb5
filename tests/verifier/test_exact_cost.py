"""Bounded cost of the exact checks on any text (issue 15 §3): hostile inputs generated here, 1 MB each. Work is
bounded by counts (the claim limit, the budget); elapsed-time checks are hang guards that fail only when a limit
is gone (see tests/hang_guard.py)."""
import threading
import time

import pytest
from hang_guard import HANG_GUARD, LIMIT_GONE

from problems.errors import ProblemError
from problems.loader import MAX_PROBLEM_FILE_BYTES, load_file
from verifier.answer import check_answer
from verifier.claims import extract_claims, math_spans
from verifier.errors import VerifierError
from verifier.evidence import exact_evidence
from verifier.proof_file import MAX_PROOF_BYTES, read_proof
from verifier.steps import segment
from verifier.symbolic import CLAIM_SECONDS, PROOF_CLAIMS, PROOF_SECONDS, check_proof, check_text, judge

MB = 1 << 20


def _fill(unit: str, size: int = MB) -> str:
    return (unit * (size // len(unit) + 1))[:size]


HOSTILE = {
    "unclosed \\(": _fill("\\( 1+1 = 2 "),
    "unclosed \\[": _fill("\\[ 1+1 = 2 "),
    "unclosed $": _fill("$ 1+1 = 2 "),
    "unclosed $$": _fill("$$ 1+1 = 2 "),
    "unclosed equation": _fill("\\begin{equation} 1+1=2 "),
    "operator chain": _fill("1 + "),
    "parentheses": _fill("("),
    "relation chain": _fill("1 = "),
    "boxed": _fill("\\boxed{"),
    "many claims": _fill("$2^{3} = 8$, "),
}


def _run_with_guard(fn):
    out = {}

    def run():
        t0 = time.monotonic()
        out["value"] = fn()
        out["seconds"] = time.monotonic() - t0

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(HANG_GUARD)
    assert not th.is_alive(), "hung"
    return out["value"], out["seconds"]


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_megabyte_is_bounded(name):
    text = HOSTILE[name]
    t0 = time.monotonic()
    spans = math_spans(text)
    claims = extract_claims(text, limit=PROOF_CLAIMS)
    assert len(claims) <= PROOF_CLAIMS + 1  # the last may be the placeholder for the rest
    proof = segment(text)
    results = check_proof(proof)
    judged = [c for s in results for c in s.claims if c.method != "budget"]
    assert len(judged) <= PROOF_CLAIMS
    check_answer("3", proof)
    assert time.monotonic() - t0 < LIMIT_GONE, name  # seconds with the limits; quadratic scans take hours
    assert all(a < b for (_, a, _, _), (b, _, _, _) in zip(spans, spans[1:]))  # in order, not overlapping


def test_delimiter_scan_matches_the_closed_forms():
    text = r"a $x=1$ b \(y = 2\) c \[z=3\] d $$w=4$$ e \begin{align*} v &= 5 \end{align*} f $ g \( h"
    bodies = [text[b0:b1] for _, _, b0, b1 in math_spans(text)]
    assert bodies == ["x=1", "y = 2", "z=3", "w=4", " v &= 5 "]
    assert math_spans(r"\$5 and \$6") == [] and math_spans("$$$$") == []


def test_claim_limit_marks_the_rest_unchecked_budget():
    text = "\n\n".join(f"Step: $\\binom{{{n}}}{{2}} = {n * (n - 1) // 2}$ and $2 + {n} = {n + 3}$."
                       for n in range(4, 40))
    results = check_proof(segment(text), max_claims=10)
    flat = [c for s in results for c in s.claims]
    judged = [c for c in flat if c.method != "budget"]
    assert len(judged) == 10 and all(c.verdict in ("confirmed", "refuted") for c in judged)
    rest = [c for c in flat if c.method == "budget"]
    assert rest and all(c.verdict == "unchecked" and c.evidence.startswith("unchecked (budget)") for c in rest)
    assert all(s.verdict == "unchecked" for s in results[10:])  # the false `2 + n = n + 3` past the budget
    # no time left: nothing is judged, everything says why
    none = check_proof(segment(text), seconds=0)
    assert all(c.method == "budget" and c.verdict == "unchecked" for s in none for c in s.claims)


COSTLY = [r"\(\frac{\sqrt{2}+\sqrt{3}+\sqrt{5}+\sqrt{" + str(19 + k) + r"}}{\sqrt{11}-\sqrt{13}+\sqrt{17}} = 3\)"
          for k in range(60)]


def test_sixty_costly_claims_stay_within_the_budget():
    text = "\n\n".join(f"Then {c}." for c in COSTLY)
    assert len(text) < 6000
    results, seconds = _run_with_guard(lambda: check_proof(segment(text)))
    flat = [c for s in results for c in s.claims]
    assert len(flat) == 60 and all(c.verdict in ("refuted", "unchecked") for c in flat)
    marked = [c for c in flat if c.method == "budget"]
    # past the budget the rest is marked; finishing without marks means it was fast anyway
    assert marked or seconds <= PROOF_SECONDS + CLAIM_SECONDS + 5
    assert seconds < LIMIT_GONE  # 60 claims of up to a second each, without the budget


def test_time_limit_holds_off_the_main_thread():
    """In a thread there is no alarm: the worker process is killed when a claim overruns, and the next claim
    is judged by a fresh one."""
    [heavy] = extract_claims(COSTLY[0])
    [false] = extract_claims(r"\(2^{10} = 1000\)")

    def run():
        return judge(heavy, seconds=0.01), judge(false), check_text(r"Expanding, \((a+b)^2 = a^2+b^2\)")

    (slow, quick, identity), _ = _run_with_guard(run)
    assert slow.verdict in ("unchecked", "refuted")
    if slow.verdict == "unchecked":
        assert "time limit" in slow.evidence
    assert quick.verdict == "refuted" and "1024" in quick.evidence
    assert [r.verdict for r in identity] == ["refuted"]


def test_answer_check_in_a_thread():
    (check, _) = _run_with_guard(lambda: check_answer("2112", r"So \(\boxed{4048}\)."))
    assert check.status == "mismatch"
    (check, _) = _run_with_guard(lambda: check_answer(r"\frac{1}{2}", r"So \(\boxed{0.5}\)."))
    assert check.status == "match"


def test_verify_path_on_hostile_input_in_a_thread():
    text = HOSTILE["unclosed \\("][: MB // 4]
    ev, seconds = _run_with_guard(lambda: exact_evidence(None, text))
    assert seconds < LIMIT_GONE and ev.issues == []


def test_size_caps_on_proof_and_problem_files(tmp_path):
    proof = tmp_path / "big.md"
    proof.write_text("x" * (MAX_PROOF_BYTES + 1), encoding="utf-8")
    with pytest.raises(VerifierError) as e:
        read_proof(proof)
    msg = str(e.value)
    assert str(proof) in msg and "1 MiB" in msg and "\n" not in msg
    ok = tmp_path / "ok.md"
    ok.write_text("x" * (MAX_PROOF_BYTES - 10), encoding="utf-8")
    assert len(read_proof(ok)) == MAX_PROOF_BYTES - 10

    problems = tmp_path / "huge.jsonl"
    with problems.open("wb") as f:
        f.truncate(MAX_PROBLEM_FILE_BYTES + 1)  # sparse: the size is refused before anything is read
    with pytest.raises(ProblemError) as e:
        load_file(problems)
    msg = str(e.value)
    assert str(problems) in msg and "32 MiB" in msg and "\n" not in msg
