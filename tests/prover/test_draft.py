from model.backends.backend import Completion
from prover.draft import parse_draft


def test_solution_and_self_score():
    d = parse_draft(Completion("## Solution\nProof body.\n\n## Self Evaluation\nfine \\boxed{0.5}"))
    assert (d.proof, d.self_score, d.status) == ("Proof body.", 0.5, "ok")


def test_heading_variants_and_last_boxed_wins():
    text = "**Solution:**\nWe show \\boxed{7} is the answer.\n\n**Self-Evaluation**\nfirst \\boxed{0} then \\boxed{1}"
    d = parse_draft(Completion(text))
    assert d.proof == "We show \\boxed{7} is the answer."
    assert d.self_score == 1.0


def test_missing_solution_heading_keeps_text_before_self_evaluation():
    d = parse_draft(Completion("Here is my proof.\n### Self evaluation\n\\boxed{\\frac{1}{2}}"))
    assert d.proof == "Here is my proof." and d.self_score == 0.5


def test_missing_score_is_unparsed_but_proof_kept():
    d = parse_draft(Completion("## Solution\nA proof without a verdict."))
    assert d.status == "unparsed" and d.proof == "A proof without a verdict." and d.self_score is None


def test_out_of_range_score_is_unparsed():
    assert parse_draft(Completion("## Solution\nx\n## Self Evaluation\n\\boxed{7}")).status == "unparsed"


def test_truncated_and_error():
    assert parse_draft(Completion("## Solution\nhalf a pro", finish_reason="length")).status == "truncated"
    d = parse_draft(Completion("", finish_reason="error", error="HTTP 500"))
    assert d.status == "error" and d.proof == ""


def test_proof_mentioning_solution_inline_is_not_a_heading():
    text = "## Solution\nThe solution set is empty.\nSolution of the equation: none.\n## Self Evaluation\n\\boxed{1}"
    assert parse_draft(Completion(text)).proof.startswith("The solution set is empty.")
