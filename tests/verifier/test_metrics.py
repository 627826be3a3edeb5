"""verifier.metrics: hand-computed values, scipy on random data (scipy is a test-only dependency), real data."""
import math
import random

import pytest

from verifier.errors import VerifierError
from verifier.metrics import (
    agreement,
    all_pass,
    bias,
    binary_accuracy,
    class_points,
    exact_accuracy,
    grade_class,
    kendall_tau_b,
    mae,
    normalized_mae,
    pass_agreement,
    pearson,
    points_to_class,
    rmse,
    within_one,
)

# Six GradingBench-style items, worked by hand:
#   ours   7  6  1  0  7  1
#   human  7  7  0  1  0  6
#   error  0 -1  1 -1  7 -5    |e| sum 15, e^2 sum 77, signed sum 1
OURS = [7, 6, 1, 0, 7, 1]
HUMAN = [7, 7, 0, 1, 0, 6]


def test_hand_computed_point_metrics():
    assert mae(OURS, HUMAN) == pytest.approx(15 / 6)
    assert normalized_mae(OURS, HUMAN) == pytest.approx(15 / 42)
    assert rmse(OURS, HUMAN) == pytest.approx(math.sqrt(77 / 6))
    assert within_one(OURS, HUMAN) == pytest.approx(4 / 6)
    assert bias(OURS, HUMAN) == pytest.approx(1 / 6)
    assert bias([7, 7], [0, 1]) == pytest.approx(6.5) and bias([0], [7]) == pytest.approx(-7)  # ours minus human


def test_hand_computed_class_metrics():
    # classes agree on item 1 only; pass/fail agree on items 1, 2, 3, 4
    assert exact_accuracy(OURS, HUMAN) == pytest.approx(1 / 6)
    assert binary_accuracy(OURS, HUMAN) == pytest.approx(4 / 6)
    labels = ["Correct", "almost", "PARTIAL", "Incorrect"]
    assert exact_accuracy(labels, ["7", "6", "1", "0"]) == 1.0
    assert mae(["Almost"], ["Partial"]) == 5


def test_hand_computed_correlations():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)  # sxy 4, sxx = syy = 5
    # x = 1 2 2 3, y = 1 3 2 3: of 6 pairs, 4 concordant, 0 discordant, 1 tied in x, 1 tied in y
    assert kendall_tau_b([1, 2, 2, 3], [1, 3, 2, 3]) == pytest.approx(4 / 5)
    assert kendall_tau_b([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_points_to_class_on_other_scales():
    assert [points_to_class(p) for p in (7, 6, 5, 4, 1, 0)] == [
        "Correct", "Almost", "Almost", "Partial", "Partial", "Incorrect"]
    assert points_to_class(21, 21) == "Correct" and points_to_class(9, 21) == "Partial"  # 3 of 7
    assert points_to_class(8, 10) == "Almost" and points_to_class(10, 10) == "Correct"
    assert points_to_class(0.5, 10) == "Partial"
    assert grade_class("Almost", 21) == "Almost" and class_points("correct") == 7


def test_other_scales_are_rescaled_to_seven():
    # CMO 21 vs 14 -> 7 vs 4.67; Putnam 10 vs 10 -> 7 vs 7
    assert mae([21, 10], [14, 10], [21, 10]) == pytest.approx((7 / 3) / 2)
    assert exact_accuracy([21, 10], [14, 10], [21, 10]) == pytest.approx(1 / 2)


def test_empty_and_constant_inputs_are_none():
    for f in (exact_accuracy, binary_accuracy, mae, rmse, normalized_mae, within_one, bias, pearson, kendall_tau_b):
        assert f([], []) is None
    assert pearson([3], [4]) is None and kendall_tau_b([3], [4]) is None
    assert pearson([7, 7, 7], [0, 1, 6]) is None and kendall_tau_b([1, 2, 3], [5, 5, 5]) is None
    counts = pass_agreement([], [])
    assert counts.precision is None and counts.recall is None
    result = agreement([], [])
    assert result.n == 0 and result.mae is None and result.pass_precision is None


@pytest.mark.parametrize("ours, human, max_points, words", [
    ([7], [7, 0], 7, "cannot compare 1 grades with 2"),
    (["Mostly"], [7], 7, "unknown grade class 'Mostly'"),
    ([8], [7], 7, "outside 0..7"),
    ([7], [7], 0, "max_points must be a positive number"),
    ([7, 7], [7, 7], [7], "1 max_points for 2 items"),
    (["nan"], [7], 7, "outside"),
])
def test_bad_inputs(ours, human, max_points, words):
    with pytest.raises(VerifierError, match=words):
        mae(ours, human, max_points)


def test_all_pass_and_pass_agreement():
    assert all_pass([1, 1.0, 1]) and not all_pass([1, 0.5]) and not all_pass([]) and not all_pass([1, None])
    counts = pass_agreement([True, True, False, False, True], [7, 6, 7, 0, 21], [7, 7, 7, 7, 21])
    assert (counts.true_pass, counts.false_pass, counts.missed, counts.true_fail) == (2, 1, 1, 1)
    assert counts.precision == pytest.approx(2 / 3) and counts.recall == pytest.approx(2 / 3)


def test_agreement_skips_missing_grades_and_counts_them():
    result = agreement([7, None, 0, 6], [7, 7, None, 7], passed=[True, False, False, True])
    assert (result.n, result.skipped) == (2, 2)
    assert result.mae == pytest.approx(0.5) and result.exact_accuracy == pytest.approx(0.5)
    # the pass verdict needs no points grade of ours: items 1, 2, 4 count (human 7, 7, 7; passed T, F, T)
    assert result.pass_counts.missed == 1 and result.pass_precision == 1.0
    assert result.pass_recall == pytest.approx(2 / 3)
    d = result.to_dict()
    assert d["pass_counts"]["true_pass"] == 2 and d["pearson"] is None  # human side constant


def test_against_scipy_on_random_data():
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(7)
    for trial in range(30):
        n = rng.randint(2, 60)
        if trial % 2:  # many ties: grades on the GradingBench points
            x = [rng.choice((0, 1, 6, 7)) for _ in range(n)]
            y = [rng.choice((0, 1, 6, 7)) for _ in range(n)]
        else:
            x = [rng.uniform(0, 7) for _ in range(n)]
            y = [min(7.0, max(0.0, a + rng.gauss(0, 2))) for a in x]
        if len(set(x)) < 2 or len(set(y)) < 2:
            assert pearson(x, y) is None and kendall_tau_b(x, y) is None
            continue
        assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-9)
        assert kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y, variant="b")[0], abs=1e-9)
        errors = [a - b for a, b in zip(x, y)]
        assert mae(x, y) == pytest.approx(sum(map(abs, errors)) / n)
        assert rmse(x, y) == pytest.approx(math.sqrt(sum(e * e for e in errors) / n))


def test_kendall_tau_b_is_fast_enough_for_gradingbench():
    rng = random.Random(1)
    x = [rng.choice((0, 1, 6, 7)) for _ in range(1000)]
    y = [rng.choice((0, 1, 6, 7)) for _ in range(1000)]
    assert -1 <= kendall_tau_b(x, y) <= 1


def test_deepseek_math_v2_all_pass_precision_is_65_of_72(real_proofs, full_data):
    """The published fact: 72 proofs passed all 64 self-verifications, 65 of them got full human marks.
    The 10 shipped proofs hold 9 passes, 6 with full marks (and IMO 2025 P6, passed and scored 0)."""
    full_marks = {"IMO": 7, "PB": 7, "CMO": 21, "Putnam": 10}
    passed, human, maxes = [], [], []
    for row in real_proofs:
        prediction = row["model_prediction"]
        passed.append(float(prediction["average_automatic_rating"]) == 1.0)
        human.append(float(prediction["human_rating"]))
        maxes.append(next(v for k, v in full_marks.items() if row["problem_idx"].startswith(k)))
    n, true_pass, passes = (84, 65, 72) if full_data else (10, 6, 9)
    assert len(real_proofs) == n
    counts = pass_agreement(passed, human, maxes)
    assert (counts.true_pass, counts.true_pass + counts.false_pass) == (true_pass, passes)
    assert counts.precision == pytest.approx(true_pass / passes) and counts.recall == 1.0  # no full mark failed
    result = agreement(human, human, maxes, passed=passed)
    assert result.exact_accuracy == 1.0 and result.mae == 0
    assert result.pass_precision == pytest.approx(true_pass / passes)
