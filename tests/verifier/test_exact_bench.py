import random

from verifier.evidence import exact_evidence
from verifier.exact_bench import plant_errors

TEXT = (
    "First, \\(2\\cdot 3 + 4 = 10\\).\n\n"
    "Next, we have \\(x = 2\\) so \\(x^2 = 4\\).\n\n"
    "Finally \\(\\binom{6}{3} = 20\\) and \\(5! = 120\\).\n"
)


def test_plants_are_refuted_at_their_step():
    assert exact_evidence(None, TEXT).issues == []
    variants = plant_errors(TEXT, random.Random(1), per_proof=5)
    assert {step for _, step in variants} == {1, 3}
    for variant, step in variants:
        assert variant != TEXT
        assert exact_evidence(None, variant).refuted_steps == [step]
    arithmetic = plant_errors(TEXT, random.Random(1), per_proof=5, mode="arithmetic")
    assert len(arithmetic) == 3  # 2·3+4 = 10, C(6,3) = 20, 5! = 120; not x = 2
