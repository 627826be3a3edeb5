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
