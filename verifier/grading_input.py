"""Reading sets of proofs to grade, with the human grades they carry: one GradingItem per proof.

Formats, told apart by extension and columns / fields:
- GradingBench CSV: `Grading ID, Problem ID, Problem, Response, Points` (+ `Solution, Grading guidelines, Reward,
  Problem Source`); the response is the proof, Points (0 / 1 / 6 / 7) the human grade.
- IMO-ProofBench CSV (`Problem ID, Problem, Solution, Grading guidelines, ...`) plus a proofs file (`--proofs`):
  JSONL with a problem id (`problem_id`, `Problem ID`, `problem_idx` or `id`) and `proof` per line (optionally
  `human_points`), or DeepSeekMath-V2 outputs, whose `problem_idx` are ProofBench ids.
- DeepSeekMath-V2 outputs JSONL: `{question, problem_idx, model_prediction: {proof, human_rating}}`, full marks by
  contest (IMO / ProofBench 7, CMO 21, Putnam 10).
- Generic JSONL: `{problem, proof, reference_solution?, grading_guidelines?, human_points?, max_points?, id?}`.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from problems.loader import contest_max_points, contest_source
from problems.problem import Problem
from problems.textfile import read_text_file
from verifier.errors import VerifierError

GRADINGBENCH_COLUMNS = ("Problem ID", "Problem", "Response", "Points")
PROOFBENCH_COLUMNS = ("Problem ID", "Problem")
CLASS_POINTS = {"incorrect": 0, "partial": 1, "almost": 6, "correct": 7}


@dataclass(frozen=True)
class GradingItem:
    id: str  # unique within the input
    problem: Problem
    proof: str
    human_points: float | None = None
    max_points: int = 7

    @property
    def has_reference(self) -> bool:
        return bool(self.problem.reference_solution or self.problem.grading_guidelines)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["problem"] = self.problem.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> GradingItem:
        return cls(d["id"], Problem(**d["problem"]), d["proof"], d.get("human_points"), d.get("max_points") or 7)


def items_digest(items: list[GradingItem]) -> str:
    """A fingerprint of the items, recorded in a grade run's config so --resume refuses another input."""
    h = hashlib.sha256()
    for item in items:
        h.update(json.dumps(item.to_dict(), sort_keys=True).encode())
    return h.hexdigest()[:16]


def read_grading_input(path: str | Path, proofs: str | Path | None = None) -> list[GradingItem]:
    """All items of a grading input, in file order; a VerifierError names the file and what is wrong."""
    path = Path(path)
    text = _read(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        columns, rows = _csv_rows(text, path)
        if "Response" in columns:
            if proofs:
                raise VerifierError(f"{path} is a GradingBench CSV (it has a 'Response' column); it needs no --proofs")
            return _gradingbench(columns, rows, path)
        return _proofbench(columns, rows, path, proofs)
    if suffix in (".jsonl", ".json"):
        if proofs:
            raise VerifierError(f"--proofs goes with an IMO-ProofBench CSV input, not with {path}")
        records = _json_records(text, path)
        return _unique([_record_item(r, where, n) for n, (where, r) in enumerate(records, 1)], path)
    raise VerifierError(f"{path}: unknown grading input format {suffix or '(no extension)'}; give a GradingBench or "
                        "IMO-ProofBench .csv, or a .jsonl of proofs")


# ---- files ----

def _read(path: Path) -> str:
    return read_text_file(path, "grading set", "a grading set (.csv or .jsonl) with at least one proof",
                          error=VerifierError)


def _csv_rows(text: str, path: Path) -> tuple[list[str], list[dict]]:
    csv.field_size_limit(1 << 30)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = [c.strip() for c in reader.fieldnames or []]
        rows = [{(k or "").strip(): (v or "") for k, v in row.items()} for row in reader]
    except csv.Error as e:
        raise VerifierError(f"{path}: malformed CSV: {e}; check quoting") from None
    if not rows:
        raise VerifierError(f"{path}: CSV has no rows; add at least one proof")
    return columns, rows


def _json_records(text: str, path: Path) -> list[tuple[str, dict]]:
    out = []
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise VerifierError(f"{path}: invalid JSON ({e.msg} at line {e.lineno}); fix the file") from None
        data = data if isinstance(data, list) else [data]
        pairs = [(f"{path}, item {n}", d) for n, d in enumerate(data, 1)]
    else:
        pairs = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                pairs.append((f"{path}, line {lineno}", json.loads(line)))
            except json.JSONDecodeError as e:
                raise VerifierError(f"{path}, line {lineno}: invalid JSON ({e.msg}); one object per line") from None
    for where, d in pairs:
        if not isinstance(d, dict):
            raise VerifierError(f"{where}: expected a JSON object, got {type(d).__name__}")
        out.append((where, d))
    if not out:
        raise VerifierError(f"{path}: no proofs in the file; add at least one")
    return out


# ---- formats ----

def _points(value: Any, where: str, field: str) -> float | None:  # value: a JSON value or CSV cell
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().lower() in CLASS_POINTS:
        return float(CLASS_POINTS[value.strip().lower()])
    try:
        return float(value)
    except (TypeError, ValueError):
        raise VerifierError(f"{where}: {field} must be a number (or Incorrect/Partial/Almost/Correct), "
                            f"got {value!r}") from None


def _check_range(points: float | None, max_points: int, where: str) -> None:
    if points is not None and not 0 <= points <= max_points:
        raise VerifierError(f"{where}: human grade {points:g} is outside 0..{max_points}; "
                            "check the grade or max_points")


def _gradingbench(columns: list[str], rows: list[dict], path: Path) -> list[GradingItem]:
    missing = [c for c in GRADINGBENCH_COLUMNS if c not in columns]
    if missing:
        raise VerifierError(f"{path}: GradingBench CSV lacks {', '.join(repr(c) for c in missing)}; expected "
                            f"{', '.join(repr(c) for c in GRADINGBENCH_COLUMNS)} "
                            f"(found: {', '.join(map(repr, columns))})")
    items = []
    for lineno, row in enumerate(rows, 2):
        where = f"{path}, row {lineno}"
        pid, statement, proof = row["Problem ID"].strip(), row["Problem"].strip(), row["Response"]
        if not pid or not statement:
            raise VerifierError(f"{where}: empty {'Problem ID' if not pid else 'Problem'}; every row needs both")
        human = _points(row.get("Points") or row.get("Reward"), where, "Points")
        _check_range(human, 7, where)
        problem = Problem(id=pid, statement=statement, reference_solution=row.get("Solution", "").strip() or None,
                          grading_guidelines=row.get("Grading guidelines", "").strip() or None,
                          source=row.get("Problem Source", "").strip(), max_points=7)
        items.append(GradingItem(row.get("Grading ID", "").strip() or f"{pid}#{lineno - 1}", problem, proof, human, 7))
    return _unique(items, path)


def _proofbench(columns: list[str], rows: list[dict], path: Path, proofs: str | Path | None) -> list[GradingItem]:
    missing = [c for c in PROOFBENCH_COLUMNS if c not in columns]
    if missing:
        raise VerifierError(f"{path}: CSV lacks {', '.join(repr(c) for c in missing)}; give a GradingBench CSV "
                            f"('Problem ID, Problem, Response, Points') or an IMO-ProofBench CSV ('Problem ID, "
                            f"Problem, Solution, Grading guidelines') with --proofs "
                            f"(found: {', '.join(map(repr, columns))})")
    if proofs is None:
        raise VerifierError(f"{path} is a problem set without proofs (no 'Response' column); give the proofs to "
                            "grade with --proofs FILE.jsonl ({problem_id, proof} per line)")
    problems = {}
    for row in rows:
        pid = row["Problem ID"].strip()
        if pid and row["Problem"].strip():
            problems[pid] = Problem(id=pid, statement=row["Problem"].strip(),
                                    reference_solution=row.get("Solution", "").strip() or None,
                                    grading_guidelines=row.get("Grading guidelines", "").strip() or None,
                                    answer=row.get("Short Answer", "").strip() or None,
                                    source=row.get("Source", "").strip(), max_points=7)
    proofs = Path(proofs)
    items = []
    counts: dict[str, int] = {}
    for where, r in _json_records(_read(proofs), proofs):
        pid = next((str(r[k]).strip() for k in ("problem_id", "Problem ID", "problem_idx", "id") if r.get(k)), None)
        if pid is None:
            raise VerifierError(f"{where}: no problem id; add 'problem_id' naming a 'Problem ID' of {path}")
        if pid not in problems:
            raise VerifierError(f"{where}: problem id {pid!r} is not in {path}; known ids look like "
                                f"{', '.join(list(problems)[:3])}")
        proof, human = _proof_and_grade(r, where)
        counts[pid] = counts.get(pid, 0) + 1
        item_id = str(r.get("id") or "") if r.get("problem_id") and r.get("id") else ""
        items.append(GradingItem(item_id or (pid if counts[pid] == 1 else f"{pid}#{counts[pid]}"),
                                 problems[pid], proof, human, 7))
        _check_range(human, 7, where)
    return _unique(items, proofs)


def _proof_and_grade(r: dict, where: str) -> tuple[str, float | None]:
    pred = r.get("model_prediction")
    if isinstance(pred, dict):
        proof, human = pred.get("proof"), _points(pred.get("human_rating"), where, "human_rating")
    else:
        proof, human = r.get("proof", r.get("response")), _points(r.get("human_points"), where, "human_points")
    if not isinstance(proof, str) or not proof.strip():
        raise VerifierError(f"{where}: no proof text; expected 'proof' (or 'model_prediction.proof')")
    return proof, human


def _record_item(r: dict, where: str, n: int) -> GradingItem:
    statement = r.get("question", r.get("problem", r.get("statement")))
    if not isinstance(statement, str) or not statement.strip():
        raise VerifierError(f"{where}: no problem statement; expected 'problem' (or 'question' in DeepSeekMath-V2 "
                            "outputs) next to 'proof'")
    proof, human = _proof_and_grade(r, where)
    pid = str(r.get("problem_idx") or r.get("problem_id") or r.get("id") or n)
    max_points = r.get("max_points") or contest_max_points(pid) or 7
    try:
        max_points = int(max_points)
    except (TypeError, ValueError):
        raise VerifierError(f"{where}: max_points must be a whole number, got {max_points!r}") from None
    _check_range(human, max_points, where)
    problem = Problem(id=pid, statement=statement.strip(),
                      reference_solution=_opt(r.get("solution", r.get("reference_solution"))),
                      grading_guidelines=_opt(r.get("grading guidelines", r.get("grading_guidelines"))),
                      answer=_opt(r.get("answer")), source=_opt(r.get("source")) or contest_source(pid),
                      max_points=max_points)
    return GradingItem(str(r.get("id") or pid), problem, proof, human, max_points)


def _opt(value: object) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return None if value in ("", "null", "None") else value


def _unique(items: list[GradingItem], path: Path) -> list[GradingItem]:
    """Items keep their ids; a repeated id gets #2, #3... so every grading has its own key."""
    seen: dict[str, int] = {}
    out = []
    for item in items:
        n = seen.get(item.id, 0) + 1
        seen[item.id] = n
        out.append(item if n == 1 else GradingItem(f"{item.id}#{n}", item.problem, item.proof, item.human_points,
                                                   item.max_points))
    return out

