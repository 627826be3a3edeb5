import pytest

from verifier.answer import answer_issue, check_answer, final_answer
from verifier.steps import segment


def test_final_answer_extraction():
    assert final_answer(r"so \boxed{3} and finally \[\boxed{\,n = 1\,}.\]")[1] == r"\,n = 1\,"
    assert final_answer(r"\boxed{\frac{a}{\sqrt{2}}}")[1] == r"\frac{a}{\sqrt{2}}"
    assert final_answer("**Answer:** 42\n\nProof ...")[1].startswith("42")
    assert final_answer("Thus the answer is 7. QED")[1] == "7"
    assert final_answer("nothing here") is None


@pytest.mark.parametrize("expected,proof,status", [
    ("4", r"Hence \(\boxed{4}\).", "match"),
    ("$136$", r"\[\boxed{136}\]", "match"),
    ("2112", r"\[\boxed{4048}\]", "mismatch"),
    ("The answer is $n=1$. When $n=1$, ...", r"\boxed{\,n = 1\,}", "match"),
    ("k = 0, 1, 3 for all n", r"\boxed{\{0,\;1,\;3\}}", "match"),
    ("k = 0, 1, 3 for all n", r"\boxed{\{0,\;1\}}", "mismatch"),
    ("k = 0, 1, 3 for all n", r"Hence the answer is $k \in \{0, 1, 3\}$.", "match"),
    ("k = 0, 1, 3 for all n", r"Hence the answer is $k \in \{0, 1, 2\}$.", "mismatch"),
    (r"\frac{\sqrt{6} - \sqrt{2}}{2}", r"\boxed{r_{\max} = \frac{\sqrt6-\sqrt2}{2}}", "match"),
    (r"\frac{\sqrt{6} - \sqrt{2}}{2}", r"\boxed{\frac{\sqrt6+\sqrt2}{2}}", "mismatch"),
    (r"$\frac{(p + 1)(p + 2)}{2}$", r"\boxed{\dfrac{p^2+3p+2}{2}}", "match"),
    ("The claim holds with $c=-\\frac{1}{2}$.", r"\boxed{c=-\dfrac12}", "match"),
    ("45", r"\boxed{45^{\circ}}", "match"),
    ("0.5", r"\boxed{\frac12}", "match"),
    ("all even n", r"\boxed{n \text{ even}}", "unchecked"),
    ("$f(x) = 2x$", r"\boxed{f(x) = 3x}", "unchecked"),
    ("(1,1)", r"\boxed{(1,2)}", "mismatch"),
    ("(2, 3)", r"\boxed{(3, 2)}", "unchecked"),  # the same entries in another order: order may not matter
    ("$(a, b) = (2, \\tfrac{1}{2})$", r"Hence \boxed{(a,b)=(2,0.5)}.", "match"),
    ("(1, 2), (2, 1)", r"\boxed{(2,1),\ (1,2)}", "match"),
    ("(1, 2), (2, 1)", r"\boxed{(2,1),\ (1,3)}", "mismatch"),
    ("(1, 2, 3)", r"\boxed{(1, 2)}", "mismatch"),
    ("(3, 1, 1), (6, 2, 4)", r"\boxed{(a,b,c)=(3,1,1)\quad\text{and}\quad(a,b,c)=(6,2,4)}", "match"),
    ("(3, 1, 1), (6, 2, 4)", r"the answer is $(3,1,1)$ and $(6,2,5)$.", "mismatch"),
    ("2, 5", r"\boxed{n=2 \text{ or } n=5}", "match"),
    ("(1, 2)", r"\boxed{3}", "unchecked"),  # a tuple against a single value: another notation, perhaps
    ("(0, 1)", r"\boxed{[0, 1)}", "unchecked"),  # an interval, not a tuple
    ("7", "no final answer at all", "no_answer"),
    (None, r"\boxed{3}", "no_reference"),
    ("null", r"\boxed{3}", "no_reference"),
])
def test_check_answer(expected, proof, status):
    got = check_answer(expected, segment(proof))
    assert got.status == status, got
    issue = answer_issue(got)
    assert (issue is not None) == (status == "mismatch")
    if issue:
        assert issue.severity == "critical" and issue.source == "answer" and issue.step == 1


def test_answer_check_never_executes(tmp_path):
    target = tmp_path / "X"
    got = check_answer("3", rf"\boxed{{__import__('os').system('touch {target}')}}")
    assert got.status == "unchecked" and not target.exists()


@pytest.mark.parametrize("expected,proof,status", [
    # free text: the words carry the answer, not the variable's name
    ("all even integers $k$", r"Hence the answer is all odd $k$.", "mismatch"),
    ("all odd $k$", r"\boxed{\text{all even } k}", "mismatch"),
    ("all odd $k$", r"\boxed{\text{all odd } k}", "match"),
    ("all odd $k$", r"\boxed{\text{all odd integers } k}", "match"),
    ("all odd $k$", r"\boxed{\text{all odd } k \text{ dividing } m}", "unchecked"),  # another word
    ("all odd $k$", r"\boxed{\text{all } k \text{ not even}}", "unchecked"),  # a negation: cannot tell
    ("all prime $p$", r"\boxed{\text{all composite } p}", "mismatch"),
    ("all odd $n > 3$", r"\boxed{\text{all odd } n > 5}", "unchecked"),  # same words, other numbers
    ("all positive $n$", r"\boxed{n \text{ negative}}", "unchecked"),  # 'all' against nothing: not only a clash
    ("no such $n$ exists", r"\boxed{\text{all } n}", "unchecked"),
    ("$k = 0, 1, 3$ for all $n$", r"\boxed{0, 1, 3}", "match"),  # words on one side only: the values decide
    ("all $n$ except $3$", r"\boxed{\text{all } n \text{ except } 5}", "unchecked"),
])
def test_free_text_answers_by_their_words(expected, proof, status):
    got = check_answer(expected, segment(proof))
    assert got.status == status, got


@pytest.mark.parametrize("proof,status", [
    # intermediate boxes, the conclusion's box decides
    ("Lemma: \\boxed{n=2}.\n\n## Conclusion\nThe answer is \\boxed{3}.", "match"),
    ("Lemma: \\boxed{3}.\n\n## Conclusion\nThe answer is \\boxed{4}.", "mismatch"),
    ("Lemma: \\boxed{3}.\n\n**Answer:** $\\boxed{4}$", "mismatch"),
    # no conclusion heading: the last paragraph's box decides
    ("We find \\boxed{a = 7} first.\n\nTherefore the answer is \\boxed{4}.", "mismatch"),
    ("We find \\boxed{a = 7} first.\n\nTherefore the answer is \\boxed{3}.", "match"),
    # the last paragraph's boxes disagree: a match is possible, a mismatch is not claimed
    ("Since \\boxed{a = 2} we get \\boxed{3}.", "match"),
    ("Since \\boxed{3} we get \\boxed{5}.", "unchecked"),
    ("Since \\boxed{4} we get \\boxed{5}.", "unchecked"),
    # no box in the last paragraph: boxes elsewhere count only when they agree
    ("First \\boxed{4}.\n\nThen \\boxed{4} again.\n\nQED.", "mismatch"),
    ("First \\boxed{4}.\n\nThen \\boxed{5}.\n\nQED.", "unchecked"),
])
def test_several_boxes_read_as_the_final_answer(proof, status):
    got = check_answer("3", segment(proof))
    assert got.status == status, got


def test_several_boxes_as_one_list():
    assert check_answer("2, 5", segment("So \\boxed{2} and \\boxed{5}.")).status == "match"
    assert check_answer("2, 5", segment("So \\boxed{2} and \\boxed{7}.")).status == "unchecked"


def test_boxes_in_real_proofs_are_read_without_error(real_proofs):
    from verifier.answer import final_answers
    for row in real_proofs:
        boxes, decisive = final_answers(row["model_prediction"]["proof"])
        assert decisive or len(boxes) > 1
