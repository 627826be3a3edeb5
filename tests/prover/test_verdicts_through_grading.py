"""Verdicts through the real grading path: real templates, real segmentation, grade_proof with meta-verification;
only the model is scripted."""
from scripted import ScriptedBackend

from ledger.sampling import CallSampling
from problems.problem import Problem
from verifier.grading import grade_proof
from verifier.prompts import Templates
from verifier.steps import segment

PROOF = segment("We have $x^2 \\ge 2xy - y^2$ for all reals.\n\nHence the answer is $\\boxed{1}$.")
PROBLEM = Problem(id="p", statement="Show the thing.")

QUOTES_THE_PROOF = """## Issues
**Issue 1:**
* **Location:** "x² ≥ 2xy − y²"
* **Issue:** The inequality is stated without proof.
* **Classification:** Justification Gap
- "Hence the answer is $\\boxed{1}$" (critical): the conclusion does not follow

## Score
The proof writes \\boxed{1} at the end, but it is not justified.
Final score: \\boxed{0}"""


def _respond(request):
    prompt = request["messages"][-1]["content"]
    if "The grader's report" in prompt:
        return "Issue 1: valid\nIssue 2: invalid, the conclusion is fine\nFinal rating: \\boxed{0.5}"
    return QUOTES_THE_PROOF


def test_a_verification_quoting_the_proofs_box_scores_its_own_verdict():
    verifications = grade_proof(ScriptedBackend(_respond), PROBLEM, PROOF, m=2, meta=True, templates=Templates(),
                                sampling=CallSampling())
    for v in verifications:
        assert (v.score, v.status, v.issues_status) == (0.0, "ok", "found")
        assert [(i.severity, i.step, i.anchor, i.confirmed) for i in v.issues] == [
            ("gap", 1, "exact", True), ("critical", 2, "exact", False)]


def test_a_points_answer_to_the_binary_rubric_is_a_mismatch_through_grading():
    verifications = grade_proof(ScriptedBackend(lambda r: "## Issues\nNone\n## Points\n\\boxed{6}"), PROBLEM, PROOF,
                                m=1, meta=False, templates=Templates(), sampling=CallSampling())
    assert (verifications[0].score, verifications[0].status, verifications[0].issues_status) == \
        (None, "rubric_mismatch", "none_found")
