"""How right the exact checks are, measured on real solutions: `python -m verifier.exact_bench [DATA_DIR] [--json]`.

- false alarms: the share of correct solutions (full human marks, or human reference solutions) on which any
  symbolic refutation fires;
- planted errors: in correct solutions, one computed value that the checker confirmed is changed (a number in
  the right-hand side moved by 1..9); recall = share of variants refuted at the planted step; precision = share
  of refuted steps in the variants that are the planted step (the rest are false alarms);
- refutations on solutions graded wrong are listed, to be read by hand (they may be real errors).
Splits: "dev" are the DeepSeekMath-V2 proofs the rules were tuned on; "held-out" are IMO-ProofBench reference
solutions and IMO-GradingBench responses, which were not looked at while tuning; "prose" is our own small set
(tests/verifier/data/exact_claims.jsonl) of true statements written in the forms that fooled the checks (dashes
as minus, `n choose k`, labels, conditions, contradictions, moduli, i, invisible characters), which must not be
refuted, and false ones, which must be (reported as false statements refuted).
"""
from __future__ import annotations

import csv
import json
import random
import re
import sys
import time
from pathlib import Path

from problems.problem import Problem
from verifier.claims import Claim
from verifier.evidence import exact_evidence
from verifier.steps import segment
from verifier.symbolic import check_proof

FULL_MARKS = {"IMO": 7, "PB": 7, "CMO": 21, "Putnam": 10}


def load_sets(data: Path) -> dict[str, list[dict]]:
    """{split: [{id, text, correct: bool | None}]}"""
    dev, held = [], []
    answers: dict[str, str] = {}
    for path in sorted((data / "deepseek-math-v2" / "inputs").glob("*.json")):
        for row in json.loads(path.read_text(encoding="utf-8")):
            answers[row["problem_idx"]] = row.get("answer") or ""
    pb = data / "imobench" / "proofbench_v2.csv"
    if pb.exists():
        with pb.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                answers[row["Problem ID"]] = row.get("Short Answer") or ""
    for path in sorted((data / "deepseek-math-v2" / "outputs").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            pred = row["model_prediction"]
            top = next((v for k, v in FULL_MARKS.items() if row["problem_idx"].startswith(k)), None)
            dev.append({"id": row["problem_idx"], "text": pred["proof"], "correct": pred["human_rating"] == top,
                        "answer": answers.get(row["problem_idx"])})
    if pb.exists():
        with pb.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row.get("Solution", "").strip():
                    held.append({"id": "ref:" + row["Problem ID"], "text": row["Solution"], "correct": True,
                                 "answer": answers.get(row["Problem ID"])})
    gb = data / "gradingbench" / "gradingbench_filtered_100_train.csv"
    if gb.exists():
        with gb.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                pts = int(row["Points"])
                held.append({"id": "gb:" + row["Grading ID"], "text": row["Response"],
                             "correct": True if pts == 7 else (False if pts == 0 else None),
                             "answer": answers.get(row["Problem ID"])})
    return {"dev": dev, "held-out": held, "prose": load_prose()}


PROSE = Path(__file__).resolve().parents[1] / "tests" / "verifier" / "data" / "exact_claims.jsonl"


def load_prose(path: Path = PROSE) -> list[dict]:
    """Our own statements: expect "no_refutation" (a true statement: correct) or "refuted" (a false one)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            rows.append({"id": r["id"], "text": r["text"], "correct": r["expect"] == "no_refutation",
                         "answer": None, "class": r.get("class")})
    return rows


_INT = re.compile(r"(?<![\w.^_{])\d+(?![\w.])")


def _arithmetic(c: Claim) -> bool:
    """A computed value: no letters on the left (LaTeX commands aside), an integer on the right."""
    return (c.relation == "=" and re.fullmatch(r"\s*-?\d+\s*", c.rhs) is not None
            and not re.search(r"[A-Za-z]", re.sub(_OPERATOR_COMMANDS, "", c.lhs)) and bool(re.search(r"\d", c.lhs)))


_OPERATOR_COMMANDS = re.compile(r"\\(?:cdot|times|frac|dfrac|tfrac|binom|dbinom|sqrt|left|right|bigl|bigr|Bigl|Bigr|"
                                r"big|Big|div|lfloor|rfloor|lceil|rceil|,|;|!|quad)(?![A-Za-z])")


def plant_errors(text: str, rng: random.Random, per_proof: int = 3, mode: str = "confirmed") -> list[tuple[str, int]]:
    """Variants of `text` with one numeric value changed: [(variant text, planted step index)].

    mode "confirmed": a value in a claim the checker confirmed (recall among claims it can read);
    mode "arithmetic": the result of any arithmetic claim `numbers = integer`, read or not (recall overall);
    mode "identity": a number in a confirmed identity with variables ((a+b)^2 = a^2+2ab+b^2)."""
    proof = segment(text)
    candidates = []
    for sr in check_proof(proof):
        step = proof.steps[sr.step - 1]
        for cr in sr.claims:
            c = cr.claim
            if mode == "confirmed":
                if cr.verdict != "confirmed" or cr.method != "exact arithmetic" or c.relation != "=":
                    continue
            elif mode == "identity":
                if cr.verdict != "confirmed" or cr.method == "exact arithmetic" or c.relation != "=":
                    continue
            elif not _arithmetic(c):
                continue
            # find the claim's right-hand side in the step text (after its left-hand side), and its last integer
            left = step.text.find(c.lhs, c.start)
            at = step.text.find(c.rhs, left + len(c.lhs)) if left >= 0 else -1
            if at < 0 or at > c.end:
                continue
            ints = list(_INT.finditer(c.rhs))
            if not ints:
                continue
            m = ints[-1]
            candidates.append((step, at + m.start(), at + m.end(), m.group(0)))
    rng.shuffle(candidates)
    out = []
    for step, a, b, old in candidates[:per_proof]:
        new = str(int(old) + rng.randint(1, 9))
        pos = step.start + a
        out.append((text[:pos] + new + text[step.start + b:], step.index))
    return out


def measure(data: Path, seed: int = 0) -> dict:
    rng = random.Random(seed)
    report: dict = {}
    for split, rows in load_sets(data).items():
        t0 = time.monotonic()
        correct = [r for r in rows if r["correct"]]
        alarms: list[dict] = []
        wrong_refutations: list[dict] = []
        claims = {"confirmed": 0, "refuted": 0, "unchecked": 0}
        answer_status: dict[str, dict[str, int]] = {"correct": {}, "other": {}}
        answer_mismatches = []
        for r in rows:
            prob = Problem(id=r["id"], statement="", answer=r.get("answer") or None)
            ev = exact_evidence(prob, r["text"])
            if ev.answer is not None:
                bucket = answer_status["correct" if r["correct"] else "other"]
                bucket[ev.answer.status] = bucket.get(ev.answer.status, 0) + 1
                if ev.answer.status == "mismatch":
                    answer_mismatches.append({"id": r["id"], "correct": r["correct"], "evidence": ev.answer.evidence})
            ev.issues = [i for i in ev.issues if i.source == "symbolic"]
            for k, v in ev.counts().items():
                claims[k] += v
            if ev.issues:
                item = {"id": r["id"], "issues": [(i.step, i.quote, i.evidence) for i in ev.issues]}
                (alarms if r["correct"] else wrong_refutations).append(item)
        plants = {}
        for mode in ("confirmed", "arithmetic", "identity"):
            planted = hits = refuted_steps = right_steps = 0
            for r in correct:
                for variant, step in plant_errors(r["text"], rng, mode=mode):
                    planted += 1
                    ev = exact_evidence(None, variant)
                    refuted = set(ev.refuted_steps)
                    refuted_steps += len(refuted)
                    right_steps += step in refuted
                    hits += step in refuted
            plants[mode] = {"planted": planted, "refuted_at_step": hits,
                            "recall": round(hits / planted, 3) if planted else None,
                            "precision": round(right_steps / refuted_steps, 3) if refuted_steps else None}
        false_rows = [r for r in rows if r["correct"] is False]
        report[split] = {
            "solutions": len(rows), "correct": len(correct),
            "false_statements_refuted": f"{len(wrong_refutations)}/{len(false_rows)}" if split == "prose" else None,
            "correct_with_false_alarm": len(alarms),
            "false_alarm_rate": len(alarms) / len(correct) if correct else None,
            "false_alarms": alarms,
            "refutations_on_other_solutions": wrong_refutations,
            "claims": claims,
            "planted": plants,
            "answer_checks": answer_status, "answer_mismatches": answer_mismatches,
            "seconds": round(time.monotonic() - t0, 1),
        }
    return report


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    args = [a for a in argv if a != "--json"]
    data = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "shared" / "data"
    report = measure(data)
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    for split, r in report.items():
        print(f"[{split}] {r['solutions']} solutions ({r['correct']} correct), claims {r['claims']}, {r['seconds']}s")
        print(f"  false alarms on correct solutions: {r['correct_with_false_alarm']}/{r['correct']}")
        if r["false_statements_refuted"] is not None:
            print(f"  false statements refuted: {r['false_statements_refuted']}")
        for a in r["false_alarms"]:
            print("    ", a)
        for mode, p in r["planted"].items():
            print(f"  planted errors ({mode}): refuted at the right step {p['refuted_at_step']}/{p['planted']} "
                  f"(recall {p['recall']}); precision of refuted steps in the variants {p['precision']}")
        print(f"  answer checks: {r['answer_checks']}")
        for a in r["answer_mismatches"]:
            print("    answer mismatch:", a)
        for a in [] if split == "prose" else r["refutations_on_other_solutions"]:
            print("   refutation on a solution not graded correct (check by hand):", a)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
