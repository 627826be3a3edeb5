"""Building run stores for report tests with the real classes (RunStore, Candidate, Verification, Issue, segment),
without a model: a prove run of any number of candidates, rounds and verifications."""
from __future__ import annotations

import json
from pathlib import Path

from real_data import dsm_outputs

from ledger.store import RunStore
from model.backends.backend import Completion, Request, Sampling
from problems.problem import Problem
from prover.candidate import Candidate
from verifier.evidence import exact_evidence
from verifier.steps import segment
from verifier.verification import Issue, Verification

DSM = dsm_outputs()  # the full set in ../shared/data, or the subset in tests/data (tests/real_data.py)
DSM_OUTPUTS = DSM.path

PROOF = """**Step 1.** Let $n \\ge 3$ and put $S = \\sum_{i=1}^{n} a_i^2$. By Cauchy–Schwarz,
\\[ \\Big(\\sum_{i=1}^n a_i\\Big)^2 \\le n \\sum_{i=1}^n a_i^2 . \\]

**Step 2.** Hence $S \\ge \\frac{1}{n}$, and 2 + 2 = 5 gives the bound for every $k \\in \\{0, 1, 3\\}$.

**Step 3.** Equality holds iff all $a_i$ are equal, which proves the claim. $\\blacksquare$"""


def real_proofs() -> list[str]:
    out = []
    for f in sorted(DSM_OUTPUTS.glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["model_prediction"]["proof"])
    return out


def prove_run(directory: Path, candidates: int = 8, rounds: int = 3, m: int = 4, proofs: list[str] | None = None,
              status: str = "done", statement: str = "Prove that $S \\ge \\frac1n$ for all $n \\ge 3$.",
              exact: bool | None = None) -> Path:
    config = {"kind": "prove", "problem": {"id": "demo/1", "statement": statement, "reference_solution": None,
                                           "grading_guidelines": None, "answer": "3", "source": "synthetic",
                                           "max_points": 7, "lean_statement": None},
              "search": {"candidates": candidates, "verifications": m, "rounds": rounds}, "backend": "none"}
    store = RunStore.create(directory, config)
    problem = Problem(**config["problem"])
    exact = proofs is None if exact is None else exact  # real exact checks (sympy) on the short proof by default
    evidence: dict = {}
    per_round = max(1, candidates // rounds)
    ids: list[str] = []
    best_id, best_mean = None, -1.0
    for k in range(candidates):
        rnd = min(rounds, k // per_round + 1)
        cid = f"r{rnd}c{k}"
        text = proofs[k % len(proofs)] if proofs else PROOF
        proof = segment(text)
        parents = [ids[k - per_round]] if rnd > 1 and k >= per_round else []
        verifications = []
        for j in range(m):
            score = (0.0, 0.5, 1.0, 1.0)[(k + j) % 4]
            quote = proof.steps[min(1, len(proof.steps) - 1)].text[:40] if proof.steps else None
            issues = [] if score == 1.0 else [
                Issue("critical" if score == 0 else "gap", f"verification {j + 1} doubts this step",
                      step=proof.steps[min(1, len(proof.steps) - 1)].index if proof.steps else None, quote=quote,
                      confirmed=(j % 3 == 0) if j % 3 != 2 else None)]
            verifications.append(Verification(score, issues, f"## Issues\n- [gap] \"{quote}\" : doubt\n\n"
                                              f"## Score\nFinal score: \\boxed{{{score:g}}}", "ok"))
            request = Request(({"role": "user", "content": f"verify {cid} {j}"},), Sampling())
            store.record(f"r{rnd}/verify/{cid}/{j}", "verify", "demo/1", cid, rnd, request,
                         Completion(verifications[-1].analysis, prompt_tokens=1200, completion_tokens=800,
                                    seconds=2.5), "ok")
        cand = Candidate(cid, "demo/1", rnd, parents, proof, 1.0, "ok", verifications)
        if exact:
            if text not in evidence:
                evidence[text] = exact_evidence(problem, proof)
            cand.exact_issues, cand.evidence = evidence[text].issues, evidence[text].to_dict()
        store.save_candidate(cand.to_dict())
        if cand.mean_score is not None and cand.mean_score > best_mean:
            best_id, best_mean = cid, cand.mean_score
        ids.append(cid)
    store.set_meta("result", {"status": "exhausted", "rounds_used": rounds, "best": best_id, "mean_score": best_mean})
    store.set_meta("status", status)
    store.close()
    return directory
