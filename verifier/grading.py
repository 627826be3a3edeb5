"""Grading proofs with a model, the one way every job does it: M verifications of each proof, the meta-verifier's
verdict on the verifications that raised issues, and (optionally) the exact checks.

`Grader` builds the requests (templates, slots, one stable seed per call key), sends each stage as one batch
through a CallRunner (the run store's, or none), and reads the answers back into Verifications with the meta
verdicts applied. `verify`, the search and batch grading all build their requests here.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ledger.calls import Call, CallRunner, OnEvent, completion_status
from ledger.sampling import CallSampling
from model.backends.backend import Backend, Completion, Request, Sampling, Structure
from problems.problem import Problem
from verifier.evidence import Evidence, exact_evidence
from verifier.parse import apply_meta, parse_meta, parse_verification
from verifier.prompts import Templates
from verifier.proof import Proof
from verifier.scores import read_verdict
from verifier.shapes import answer_text, meta_shape, verify_shape
from verifier.steps import segment
from verifier.verification import Verification

NONE_GIVEN = "(none given)"


def verification_status(completion: Completion) -> str:
    """A verification's (or a meta-verification's) status: readable when the answer gives its own verdict."""
    verdict = read_verdict(answer_text(completion.text), "binary")
    return completion_status(completion, readable=verdict.score is not None, unreadable=verdict.status)


@dataclass(frozen=True)
class Subject:
    """A proof to grade and where its calls go: keys `<key>/verify/<j>` and `<key>/meta/<j>`."""
    key: str
    proof: Proof
    candidate_id: str | None = None
    round: int | None = None


@dataclass
class Graded:
    verifications: list[Verification]
    evidence: Evidence | None = None  # the exact checks, when asked for
    skipped: int = 0  # verifications not issued: the verdict was settled without them


# Which subjects need no more verifications, given what each has so far (indices into the subjects).
Settle = Callable[[list["Graded"]], set[int]]
WAVES = 4  # with a Settle, each proof's verifications go in about this many waves


class Grader:
    def __init__(self, templates: Templates, sampling: CallSampling, calls: CallRunner,
                 on_event: OnEvent | None = None, structured: bool = False):
        self.templates = templates
        self.sampling = sampling
        self.calls = calls
        self.on_event = on_event or (lambda e: None)
        self.structured = structured  # ask for answers in the built-in templates' shapes (verifier/shapes.py)

    def _shaped(self, template: str, sampling: Sampling, shape: Callable[[], Structure]) -> Sampling:
        """The sampling with the template's answer shape, when structured outputs are on and the template is ours
        (a user's own template may ask for another form, so its answers stay free text)."""
        if not self.structured or not self.templates.is_builtin(template):
            return sampling
        return replace(sampling, structure=shape())

    # ---- requests ----
    def verify_request(self, key: str, problem: Problem, proof_text: str, rubric: str = "binary") -> Request:
        """The verifier's prompt: binary (0 / 0.5 / 1) or points (0-7, with the reference solution and guidelines)."""
        sampling = self.sampling.for_key(key)
        points = rubric == "points"
        sampling = self._shaped("grade_points" if points else "verify", sampling,
                                lambda: verify_shape(segment(proof_text), points))
        if points:
            return self.templates.request("grade_points", sampling, problem=problem.statement, proof=proof_text,
                                          reference_solution=problem.reference_solution or NONE_GIVEN,
                                          grading_guidelines=problem.grading_guidelines or NONE_GIVEN)
        return self.templates.request("verify", sampling, problem=problem.statement, proof=proof_text)

    def meta_request(self, key: str, problem: Problem, proof_text: str, analysis: str, n_issues: int = 0) -> Request:
        """The meta-verifier's prompt; `n_issues` (the report's issue count) fixes its shape: one verdict each."""
        sampling = self.sampling.for_key(key)
        sampling = self._shaped("meta_verify", sampling, lambda: meta_shape(n_issues))
        return self.templates.request("meta_verify", sampling, problem=problem.statement, proof=proof_text,
                                      verification=analysis)

    # ---- grading ----
    def grade(self, problem: Problem, subjects: list[Subject], verifications: int, meta: bool,
              exact: bool = False, settle: Settle | None = None) -> list[Graded]:
        """The exact checks, then each proof verified `verifications` times, then the issues meta-verified (one
        batch); one Graded per subject, in order. Without `settle` the verifications go as one batch; with it they
        go in waves, and after each wave `settle` names the subjects that need no more (see prover/early_stop.py)."""
        graded = [Graded([]) for _ in subjects]
        if exact:
            self.on_event({"type": "stage", "stage": "exact checks", "n": len(subjects)})
            for s, g in zip(subjects, graded):
                g.evidence = exact_evidence(problem, s.proof)
        wave = verifications if settle is None else max(1, -(-verifications // WAVES))
        active = list(range(len(subjects)))
        while active:
            calls, owners = [], []
            for i in active:
                s, start = subjects[i], len(graded[i].verifications)
                for j in range(start, min(verifications, start + wave)):
                    owners.append(i)
                    calls.append(Call(f"{s.key}/verify/{j}", "verify", s.candidate_id, s.round,
                                      self.verify_request(f"{s.key}/verify/{j}", problem, s.proof.text)))
            self.on_event({"type": "stage", "stage": "verify", "n": len(calls)})
            for i, completion in zip(owners, self.calls.run(calls, status_of=verification_status)):
                graded[i].verifications.append(parse_verification(completion, subjects[i].proof))
            active = [i for i in active if len(graded[i].verifications) < verifications]
            if settle is not None and active:
                stop = settle(graded)
                for i in active:
                    if i in stop:
                        graded[i].skipped = verifications - len(graded[i].verifications)
                active = [i for i in active if i not in stop]
        if meta:
            self._meta(problem, subjects, graded)
        return graded

    def _meta(self, problem: Problem, subjects: list[Subject], graded: list[Graded]) -> None:
        """Ask the meta-verifier about every verification that raised issues; others have nothing to confirm."""
        targets = [(s, j, v) for s, g in zip(subjects, graded) for j, v in enumerate(g.verifications) if v.issues]
        if not targets:
            return
        calls = [Call(f"{s.key}/meta/{j}", "meta", s.candidate_id, s.round,
                      self.meta_request(f"{s.key}/meta/{j}", problem, s.proof.text, v.analysis, len(v.issues)))
                 for s, j, v in targets]
        self.on_event({"type": "stage", "stage": "meta", "n": len(calls)})
        for (_, _, v), completion in zip(targets, self.calls.run(calls, status_of=verification_status)):
            rating, verdicts, _ = parse_meta(completion)
            apply_meta(v, rating, verdicts)


def grade_proof(backend: Backend, problem: Problem, proof: Proof, m: int, meta: bool, templates: Templates,
                sampling: CallSampling, structured: bool = False) -> list[Verification]:
    """Grading one given proof (`proofloop verify`): M verifications and the meta-verifier, nothing recorded."""
    grader = Grader(templates, sampling, CallRunner(backend, None, problem.id), structured=structured)
    return grader.grade(problem, [Subject("proof", proof)], m, meta)[0].verifications
