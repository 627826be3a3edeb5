"""Grading one given proof with a model: M verifications, and the meta-verifier's verdict on their issues."""
from __future__ import annotations

from model.backends.backend import Backend, Request, Sampling
from problems.problem import Problem
from verifier.parse import apply_meta, parse_meta, parse_verification
from verifier.proof import Proof
from verifier.prompts import Templates
from verifier.verification import Verification


def user_request(templates: Templates, template: str, sampling: Sampling, **values: str) -> Request:
    return Request(messages=({"role": "user", "content": templates.render(template, **values)},), sampling=sampling)


def grade_proof(backend: Backend, problem: Problem, proof: Proof, m: int, meta: bool, templates: Templates,
                sampling: Sampling) -> list[Verification]:
    requests = [user_request(templates, "verify", sampling, problem=problem.statement, proof=proof.text)
                for _ in range(m)]
    verifications = [parse_verification(c, proof) for c in backend.generate(requests)]
    if meta:
        targets = [v for v in verifications if v.issues]
        metas = backend.generate([user_request(templates, "meta_verify", sampling, problem=problem.statement,
                                               proof=proof.text, verification=v.analysis) for v in targets])
        for v, completion in zip(targets, metas):
            rating, verdicts, _ = parse_meta(completion)
            apply_meta(v, rating, verdicts)
    return verifications
