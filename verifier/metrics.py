"""How far our grades agree with human grades: the metrics used to report proof graders, over plain lists.

Grades are points. Every point metric works on the 7-point scale: a grade of p out of max_points counts as
7 * p / max_points (so CMO's 21 and Putnam's 10 compare with IMO's 7); with max_points=7 nothing changes.
max_points is one number for all items or one per item. A score s on the loop's 0 / 0.5 / 1 rubric enters as
s * max_points points (pass = full marks).

Classes are IMO-GradingBench's four: Incorrect 0, Partial 1, Almost 6, Correct 7 (points on the 7-point scale);
a grade may be given as a class name ("Almost", any case) or as points (a number or a numeric string).
Points on any other scale map to a class by this rule (ours; GradingBench grades are already one of the four):
  full marks -> Correct; at least 5 of 7 -> Almost; more than 0 -> Partial; 0 -> Incorrect.
Binarised, Correct and Almost pass, Partial and Incorrect fail.

Definitions (n = number of items, e_i = ours_i - human_i on the 7-point scale):
- exact_accuracy: share of items whose class is the human class (GradingBench's 4-class accuracy).
- binary_accuracy: share of items whose pass/fail is the human pass/fail.
- mae = mean |e_i|; rmse = sqrt(mean e_i^2); normalized_mae = mae / 7 (GradingBench's MAE on {0,1,6,7} / 7).
- within_one: share of items with |e_i| <= 1 point.
- bias: mean e_i (positive: we grade more generously than the humans).
- pearson: sample correlation coefficient r.
- kendall_tau_b: (concordant - discordant) / sqrt((n0 - ties_x) (n0 - ties_y)), n0 = n(n-1)/2, ties counted
  as pairs tied in that variable (pairs tied in both count in both).
- pass_precision / pass_recall: "all M verifications pass" against "full human marks": precision = share of
  passing proofs with full marks, recall = share of full-mark proofs that pass.
A metric that is undefined (no items, a constant input for a correlation, no passes for precision) is None.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import cast

from verifier.errors import VerifierError
from verifier.verification import STATUSES

SCALE = 7
CLASSES: dict[str, int] = {"Incorrect": 0, "Partial": 1, "Almost": 6, "Correct": 7}
ALMOST_FROM = 5  # points out of 7 from which a grade below full marks counts as Almost
_EPS = 1e-9

Grade = float | int | str  # points, or a class name
MaxPoints = float | Sequence[float]  # one for all items, or one per item


def class_name(label: str) -> str:
    """The canonical name of a class given in any case: 'almost' -> 'Almost'."""
    for name in CLASSES:
        if label.strip().lower() == name.lower():
            return name
    raise VerifierError(f"unknown grade class {label!r}; expected points or one of {', '.join(CLASSES)}")


def class_points(label: str) -> int:
    """Points of a class name (any case): Incorrect 0, Partial 1, Almost 6, Correct 7."""
    return CLASSES[class_name(label)]


def to_scale(points: float, max_points: float) -> float:
    """Points out of max_points as points out of 7."""
    if max_points is None or max_points <= 0:
        raise VerifierError(f"max_points must be a positive number, got {max_points!r}")
    if not math.isfinite(points) or points < -_EPS or points > max_points + _EPS:
        raise VerifierError(f"grade {points} is outside 0..{max_points}; check the grade and its max_points")
    return SCALE * points / max_points


def points_to_class(points: float, max_points: float = SCALE) -> str:
    """The GradingBench class of a grade: full marks Correct, >= 5/7 Almost, > 0 Partial, 0 Incorrect."""
    p = to_scale(points, max_points)
    if p >= SCALE - _EPS:
        return "Correct"
    if p >= ALMOST_FROM - _EPS:
        return "Almost"
    if p > _EPS:
        return "Partial"
    return "Incorrect"


def grade_class(grade: Grade, max_points: float = SCALE) -> str:
    """A grade given as a class name or as points, as a class name."""
    if isinstance(grade, str):
        label = grade.strip()
        try:
            value = float(label)
        except ValueError:
            return class_name(label)
        return points_to_class(value, max_points)
    return points_to_class(grade, max_points)


def grade_points(grade: Grade, max_points: float = SCALE) -> float:
    """A grade given as a class name or as points, as points on the 7-point scale."""
    if isinstance(grade, str):
        try:
            value = float(grade)
        except ValueError:
            return float(class_points(grade))
        return to_scale(value, max_points)
    return to_scale(float(grade), max_points)


def passes(grade: Grade, max_points: float = SCALE) -> bool:
    """Binarised grade: Correct or Almost."""
    return grade_class(grade, max_points) in ("Correct", "Almost")


# ---- per-item agreement ----

def exact_accuracy(ours: Sequence[Grade], human: Sequence[Grade], max_points: MaxPoints = SCALE) -> float | None:
    """Share of items in the same GradingBench class (4 classes)."""
    pairs = _pairs(ours, human, max_points)
    if not pairs:
        return None
    return sum(grade_class(o, m) == grade_class(h, m) for o, h, m in pairs) / len(pairs)


def binary_accuracy(ours: Sequence[Grade], human: Sequence[Grade], max_points: MaxPoints = SCALE) -> float | None:
    """Share of items on the same side of pass (Correct, Almost) / fail (Partial, Incorrect)."""
    pairs = _pairs(ours, human, max_points)
    if not pairs:
        return None
    return sum(passes(o, m) == passes(h, m) for o, h, m in pairs) / len(pairs)


def mae(ours: Sequence[Grade], human: Sequence[Grade], max_points: MaxPoints = SCALE) -> float | None:
    """Mean absolute error in points on the 7-point scale."""
    errors = _errors(ours, human, max_points)
    return math.fsum(abs(e) for e in errors) / len(errors) if errors else None


def normalized_mae(ours: Sequence[Grade], human: Sequence[Grade], max_points: MaxPoints = SCALE) -> float | None:
    """MAE / 7: 0 is perfect agreement, 1 is always the opposite end of the scale."""
    m = mae(ours, human, max_points)
    return None if m is None else m / SCALE


def rmse(ours: Sequence[Grade], human: Sequence[Grade], max_points: MaxPoints = SCALE) -> float | None:
    """Root mean squared error in points on the 7-point scale."""
    errors = _errors(ours, human, max_points)
    return math.sqrt(math.fsum(e * e for e in errors) / len(errors)) if errors else None


def within_one(ours: Sequence[Grade], human: Sequence[Grade], max_points: MaxPoints = SCALE) -> float | None:
    """Share of items whose grades differ by at most one point on the 7-point scale."""
    errors = _errors(ours, human, max_points)
    return sum(abs(e) <= 1 + _EPS for e in errors) / len(errors) if errors else None


def bias(ours: Sequence[Grade], human: Sequence[Grade], max_points: MaxPoints = SCALE) -> float | None:
    """Mean signed error, ours minus human, in points on the 7-point scale (> 0: we are more generous)."""
    errors = _errors(ours, human, max_points)
    return math.fsum(errors) / len(errors) if errors else None


# ---- correlations ----

def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r; None with fewer than 2 items or when either side is constant."""
    _same_length(x, y)
    n = len(x)
    if n < 2:
        return None
    mx, my = math.fsum(x) / n, math.fsum(y) / n
    sxx = math.fsum((a - mx) ** 2 for a in x)
    syy = math.fsum((b - my) ** 2 for b in y)
    if sxx <= 0 or syy <= 0:
        return None
    sxy = math.fsum((a - mx) * (b - my) for a, b in zip(x, y))
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b (ties in either variable accounted for); None with < 2 items or a constant side.

    Counts every pair: O(n^2), a fraction of a second for the thousand items of a full GradingBench.
    """
    _same_length(x, y)
    n = len(x)
    if n < 2:
        return None
    score = ties_x = ties_y = 0
    for i in range(n):
        xi, yi = x[i], y[i]
        for j in range(i + 1, n):
            dx, dy = x[j] - xi, y[j] - yi
            if dx == 0:
                ties_x += 1
            if dy == 0:
                ties_y += 1
            if dx and dy:
                score += 1 if (dx > 0) == (dy > 0) else -1
    n0 = n * (n - 1) // 2
    denominator = (n0 - ties_x) * (n0 - ties_y)
    if denominator == 0:
        return None
    return max(-1.0, min(1.0, score / math.sqrt(denominator)))


# ---- "all M verifications pass" vs full marks ----

def all_pass(scores: Sequence[float | None]) -> bool:
    """True when there is at least one verification and every one scored 1 (an unparsed one, None, does not)."""
    return bool(scores) and all(s is not None and s >= 1 - _EPS for s in scores)


@dataclass(frozen=True)
class PassAgreement:
    """Confusion counts of "all verifications pass" (predicted) against "full human marks" (actual)."""
    true_pass: int   # passed, full marks
    false_pass: int  # passed, not full marks
    missed: int      # failed, full marks
    true_fail: int   # failed, not full marks

    @property
    def precision(self) -> float | None:
        passed = self.true_pass + self.false_pass
        return self.true_pass / passed if passed else None

    @property
    def recall(self) -> float | None:
        full = self.true_pass + self.missed
        return self.true_pass / full if full else None


def pass_agreement(passed: Sequence[bool], human: Sequence[Grade], max_points: MaxPoints = SCALE) -> PassAgreement:
    """Count, item by item, whether our "all pass" verdict and the human's full marks agree."""
    _same_length(passed, human)
    maxes = _maxes(max_points, len(human))
    counts = [0, 0, 0, 0]
    for p, h, m in zip(passed, human, maxes):
        full = grade_points(h, m) >= SCALE - _EPS
        counts[(0 if full else 1) if p else (2 if full else 3)] += 1
    return PassAgreement(*counts)


# ---- everything at once ----

@dataclass(frozen=True)
class Agreement:
    n: int
    skipped: int  # items without our grade (unparsed gradings) or without a human grade; never in the figures
    exact_accuracy: float | None
    binary_accuracy: float | None
    mae: float | None
    rmse: float | None
    normalized_mae: float | None
    within_one: float | None
    pearson: float | None
    kendall_tau_b: float | None
    bias: float | None
    pass_precision: float | None = None
    pass_recall: float | None = None
    pass_counts: PassAgreement | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def agreement(ours: Sequence[Grade | None], human: Sequence[Grade | None], max_points: MaxPoints = SCALE,
              passed: Sequence[bool] | None = None) -> Agreement:
    """All metrics over the items that have both grades; `passed` (one per item) adds pass precision/recall."""
    _same_length(ours, human)
    maxes = _maxes(max_points, len(human))
    both = [(i, o, h) for i, (o, h) in enumerate(zip(ours, human)) if o is not None and h is not None]
    keep = [i for i, _, _ in both]
    o: list[Grade] = [g for _, g, _ in both]
    h: list[Grade] = [g for _, _, g in both]
    m = [maxes[i] for i in keep]
    xs = [grade_points(g, mp) for g, mp in zip(o, m)]
    ys = [grade_points(g, mp) for g, mp in zip(h, m)]
    counts = None
    if passed is not None:
        _same_length(passed, human)
        full = [(i, g) for i, g in enumerate(human) if g is not None]
        counts = pass_agreement([passed[i] for i, _ in full], [g for _, g in full], [maxes[i] for i, _ in full])
    return Agreement(
        n=len(keep), skipped=len(human) - len(keep),
        exact_accuracy=exact_accuracy(o, h, m), binary_accuracy=binary_accuracy(o, h, m),
        mae=mae(o, h, m), rmse=rmse(o, h, m), normalized_mae=normalized_mae(o, h, m),
        within_one=within_one(o, h, m), pearson=pearson(xs, ys), kendall_tau_b=kendall_tau_b(xs, ys),
        bias=bias(o, h, m),
        pass_precision=counts.precision if counts else None, pass_recall=counts.recall if counts else None,
        pass_counts=counts,
    )


# ---- helpers ----

def _same_length(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise VerifierError(f"cannot compare {len(a)} grades with {len(b)}; give one grade per item on each side")


def _maxes(max_points: MaxPoints, n: int) -> list[float]:
    if isinstance(max_points, numbers.Real):
        return [float(max_points)] * n
    maxes = [float(x) for x in cast(Sequence[float], max_points)]  # isinstance above does not narrow for mypy
    if len(maxes) != n:
        raise VerifierError(f"{len(maxes)} max_points for {n} items; give one per item or a single number")
    return maxes


def _pairs(ours: Sequence[Grade], human: Sequence[Grade], max_points: MaxPoints) -> list[tuple[Grade, Grade, float]]:
    _same_length(ours, human)
    return list(zip(ours, human, _maxes(max_points, len(human))))


def _errors(ours: Sequence[Grade], human: Sequence[Grade], max_points: MaxPoints) -> list[float]:
    return [grade_points(o, m) - grade_points(h, m) for o, h, m in _pairs(ours, human, max_points)]


def status_counts(statuses: Iterable[str]) -> dict[str, int]:
    """How many gradings had each status: every known status (verification.STATUSES, rubric_mismatch included)
    is present, with 0 when none had it, and a status this module does not know is counted too, never dropped."""
    counts = dict.fromkeys(STATUSES, 0)
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    return counts
