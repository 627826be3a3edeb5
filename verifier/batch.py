"""Batch grading: every proof of a grading set graded M times, as one batch of calls through the run store.

Each grading has its own idempotency key (`grade:<item>:<n>`), so `--resume` after a crash re-issues only the
gradings that had not finished. The items are written into the run at its start; every figure (our grades,
agreement with the human grades, statuses, tokens) is derived from the stored calls by `read_grades`, so a report
of a run still in progress shows what has finished so far.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ledger.calls import Call, CallRunner, OnEvent, completion_status
from ledger.sampling import CallSampling
from ledger.store import DONE, RUNNING, RunStore
from model.backends.backend import Backend, Completion
from verifier import metrics
from verifier.errors import VerifierError
from verifier.grading import Grader
from verifier.grading_input import GradingItem, items_digest
from verifier.parse import read_issues, usage_of
from verifier.prompts import Templates
from verifier.proof import Proof
from verifier.scores import read_verdict
from verifier.shapes import answer_text
from verifier.steps import segment
from verifier.verification import Issue

RUBRICS = ("auto", "binary", "points")


@dataclass(frozen=True)
class GradeConfig:
    verifications: int = 4
    rubric: str = "auto"  # auto: points where the item has a reference solution or guidelines, else binary
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 8192
    seed: int | None = None
    structured: bool = False  # answers in the built-in templates' shapes (grammar-constrained on a local engine)

    def __post_init__(self) -> None:
        if self.verifications < 1:
            raise VerifierError(f"--verifications must be at least 1 (got {self.verifications})")
        if self.rubric not in RUBRICS:
            raise VerifierError(f"--rubric {self.rubric!r}: expected one of {', '.join(RUBRICS)}")
        if self.max_tokens < 1:
            raise VerifierError(f"--max-tokens must be at least 1 (got {self.max_tokens})")

    def identity(self) -> dict:
        out = asdict(self)
        if not self.structured:
            del out["structured"]  # free text: the identity runs had before structured outputs existed
        return out

    def sampling(self) -> CallSampling:
        return CallSampling(self.temperature, self.top_p, self.max_tokens, self.seed)


def run_identity(input_name: str, items: list[GradingItem], config: GradeConfig, backend: Backend,
                 templates: Templates) -> dict:
    """What makes a grade run what it is: `--resume` continues a run only with the same identity."""
    return {"kind": "grade", "input": input_name, "items": items_digest(items), "n": len(items),
            "grade": config.identity(), "backend": backend.name,
            "prompts": {k: v for k, v in templates.fingerprint().items() if k in ("verify", "grade_points")}}


def open_run(directory: str | Path, resume: bool, input_name: str, items: list[GradingItem], config: GradeConfig,
             backend: Backend, templates: Templates) -> RunStore:
    """A new grade run in `directory`, or with `resume` the one there (refused when its identity differs)."""
    return RunStore.start(directory, run_identity(input_name, items, config, backend, templates), resume)


def rubric_of(item: GradingItem, rubric: str) -> str:
    if rubric == "auto":
        return "points" if item.has_reference else "binary"
    return rubric


def grade_key(item_id: str, n: int) -> str:
    return f"grade:{item_id}:{n}"


# ---- one grading, one item ----

@dataclass
class Grading:
    score: float | None  # binary: 0 | 0.5 | 1; points: 0..7; None when unparsed / truncated / error
    points: float | None  # the score as points out of the item's max_points
    status: str  # ok | unparsed | rubric_mismatch | truncated | error
    issues: list[Issue] = field(default_factory=list)
    analysis: str = ""
    usage: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["issues"] = [i.to_dict() for i in self.issues]
        return d


def parse_grading(completion: Completion, rubric: str, item: GradingItem, proof: Proof | None = None) -> Grading:
    if completion.finish_reason == "error":
        return Grading(None, None, "error", analysis=completion.error or completion.text, usage=usage_of(completion))
    # only the answer's own verdict counts (never a box quoted from the proof); a grade on the other rubric's
    # scale is rubric_mismatch, not read as something else
    text = answer_text(completion.text)
    verdict = read_verdict(text, rubric)
    status = completion_status(completion, readable=verdict.score is not None, unreadable=verdict.status)
    score = verdict.score if status == "ok" else None
    points = None if score is None else (score / 7 if rubric == "points" else score) * item.max_points
    issues = read_issues(text, proof)[0] if proof is not None else []
    return Grading(score, points, status, issues, text, usage_of(completion))


@dataclass
class ItemGrade:
    item: GradingItem
    rubric: str
    gradings: list[Grading | None]  # one per verification, None while not finished

    @property
    def parsed_points(self) -> list[float]:
        """The points of the gradings that were read, in order."""
        return [g.points for g in self.gradings if g is not None and g.points is not None]

    @property
    def points(self) -> float | None:
        """Our grade: the mean of the parsed gradings, in points out of the item's max_points."""
        p = self.parsed_points
        return sum(p) / len(p) if p else None

    @property
    def majority_class(self) -> str | None:
        classes = [metrics.points_to_class(p, self.item.max_points) for p in self.parsed_points]
        if not classes:
            return None
        counts = Counter(classes)
        top = max(counts.values())
        # ties go to the lower class: a grader in doubt does not give the higher mark
        return next(c for c in metrics.CLASSES if counts.get(c) == top)

    @property
    def passed(self) -> bool:
        """All M gradings finished and every one gave full marks."""
        full = [g.points is not None and g.points >= self.item.max_points - 1e-9 for g in self.gradings
                if g is not None]
        return len(full) == len(self.gradings) and all(full)

    @property
    def difference(self) -> float | None:
        if self.points is None or self.item.human_points is None:
            return None
        return self.points - self.item.human_points

    def to_dict(self, with_gradings: bool = False) -> dict:
        d = {"id": self.item.id, "problem_id": self.item.problem.id, "rubric": self.rubric,
             "max_points": self.item.max_points, "human_points": self.item.human_points,
             "points": self.points, "difference": self.difference, "majority_class": self.majority_class,
             "human_class": (metrics.points_to_class(self.item.human_points, self.item.max_points)
                             if self.item.human_points is not None else None),
             "passed": self.passed,
             "scores": [g.score if g else None for g in self.gradings],
             "statuses": [g.status if g else "pending" for g in self.gradings]}
        if with_gradings:
            d["gradings"] = [g.to_dict() if g else None for g in self.gradings]
        return d


# ---- the run ----

class GradeRun:
    def __init__(self, items: list[GradingItem], config: GradeConfig, backend: Backend, store: RunStore,
                 templates: Templates, on_event: OnEvent | None = None):
        if not items:
            raise VerifierError("nothing to grade: the input holds no proofs")
        self.items, self.config, self.backend, self.store, self.templates = items, config, backend, store, templates
        self.calls = CallRunner(backend, store, "grade", on_event)
        self.grader = Grader(templates, config.sampling(), self.calls, structured=config.structured)

    def run(self) -> list[ItemGrade]:
        if self.store.meta("grade_items") is None:
            self.store.set_meta("grade_items", [i.to_dict() for i in self.items])
        self.store.set_meta("status", RUNNING)
        calls = []
        for item in self.items:
            rubric = rubric_of(item, self.config.rubric)
            for n in range(1, self.config.verifications + 1):
                key = grade_key(item.id, n)
                calls.append(Call(key, "grade", item.id, None,
                                  self.grader.verify_request(key, item.problem, item.proof, rubric), item.problem.id))
        self.calls.run(calls, status_of=call_status)
        self.store.set_meta("status", DONE)
        return read_grades(self.store)[1]


def call_status(completion: Completion) -> str:
    """A grading call's status as recorded: error, truncated, unparsed (no verdict on either rubric) or ok.
    (read_grades re-reads each answer with its item's rubric; only `error` makes --resume issue a call again.)"""
    verdicts = [read_verdict(answer_text(completion.text), r) for r in ("binary", "points")]
    return completion_status(completion, readable=any(v.score is not None for v in verdicts),
                             unreadable=verdicts[0].status)


def read_grades(store: RunStore) -> tuple[dict, list[ItemGrade]]:
    """(the run's config, the grade of every item so far) from a grade run's store; calls not yet made are None."""
    config = store.meta("config") or {}
    items = [GradingItem.from_dict(d) for d in store.meta("grade_items") or []]
    grade_config = config.get("grade", {})
    m, rubric = grade_config.get("verifications", 1), grade_config.get("rubric", "auto")
    calls = {c["key"]: c for c in store.calls("grade")}  # one row per key: a retried call replaces its error
    grades = []
    for item in items:
        r = rubric_of(item, rubric)
        proof = segment(item.proof)
        gradings: list[Grading | None] = []
        for n in range(1, m + 1):
            call = calls.get(grade_key(item.id, n))
            gradings.append(parse_grading(Completion.from_dict(call["completion"]), r, item, proof) if call else None)
        grades.append(ItemGrade(item, r, gradings))
    return config, grades


# ---- figures ----

def agreement_of(grades: list[ItemGrade]) -> metrics.Agreement:
    return metrics.agreement([g.points for g in grades], [g.item.human_points for g in grades],
                             max_points=[g.item.max_points for g in grades], passed=[g.passed for g in grades])


def summarize(grades: list[ItemGrade], stats: dict, run_dir: str, seconds: float | None = None) -> dict:
    """What `proofloop grade --json` prints: n, metrics overall and per problem, per-item grades, calls, tokens."""
    statuses = metrics.status_counts(x.status if x else "pending" for g in grades for x in g.gradings)
    by_problem: dict[str, list[ItemGrade]] = {}
    for g in grades:
        by_problem.setdefault(g.item.problem.id, []).append(g)
    has_human = any(g.item.human_points is not None for g in grades)
    return {
        "n": len(grades),
        "graded": sum(g.points is not None for g in grades),
        "rubrics": dict(Counter(g.rubric for g in grades)),
        "gradings": dict(statuses),
        "unparsed": statuses.get("unparsed", 0), "truncated": statuses.get("truncated", 0),
        "errors": statuses.get("error", 0),
        "metrics": agreement_of(grades).to_dict() if has_human else None,
        "per_problem": {pid: agreement_of(gs).to_dict() for pid, gs in by_problem.items()} if has_human else {},
        "items": [g.to_dict() for g in grades],
        "calls": stats.get("calls", {}), "tokens": stats.get("tokens", {}),
        **({"seconds": round(seconds, 3)} if seconds is not None else {}),
        "run": run_dir,
    }
