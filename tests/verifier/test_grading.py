"""The one grading API: request keys, seeds and templates; which verifications the meta-verifier sees; statuses;
resume through a real run store; and the prompt folders each package owns."""
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "prover"))

from fake_mathematician import DRAFT, PASS, respond  # noqa: E402
from scripted import ScriptedBackend  # noqa: E402

from ledger.calls import CallRunner, completion_status  # noqa: E402
from ledger.sampling import CallSampling, stable_seed  # noqa: E402
from ledger.store import RunStore  # noqa: E402
from model.backends.backend import Completion  # noqa: E402
from problems.problem import Problem  # noqa: E402
from prover.search import PROMPTS as PROVER_PROMPTS  # noqa: E402
from verifier.batch import GradeConfig, GradeRun  # noqa: E402
from verifier.errors import VerifierError  # noqa: E402
from verifier.grading import Grader, Subject, grade_proof, verification_status  # noqa: E402
from verifier.grading_input import GradingItem  # noqa: E402
from verifier.parse import parse_meta, parse_verification  # noqa: E402
from verifier.prompts import PROMPTS, Templates  # noqa: E402
from verifier.steps import segment  # noqa: E402

PROBLEM = Problem(id="t/1", statement="Show that the answer is 0, 1 or 3.", answer="0, 1, 3")
BAD = segment(DRAFT.split("## Solution", 1)[1].split("## Self Evaluation")[0])
GOOD = segment("**Step 1.** 2 + 2 = 4, and fixed the covering argument carefully.")


def grade(tmp_path, backend, store=None, seed=5, meta=True, exact=False):
    calls = CallRunner(backend, store, PROBLEM.id)
    grader = Grader(Templates(), CallSampling(temperature=0.7, top_p=0.9, max_tokens=64, seed=seed), calls)
    subjects = [Subject("r0c0", BAD, "r0c0", 0), Subject("r0c1", GOOD, "r0c1", 0)]
    return grader.grade(PROBLEM, subjects, verifications=2, meta=meta, exact=exact)


def test_one_batch_per_stage_meta_only_where_issues_were_raised(tmp_path):
    store = RunStore.create(tmp_path / "run", {"kind": "test"})
    backend = ScriptedBackend(respond)
    graded = grade(tmp_path, backend, store)
    keys = [c["key"] for c in store.calls()]
    # two verifications of each proof; only the failing proof's two verifications raised issues
    assert sorted(keys) == ["r0c0/meta/0", "r0c0/meta/1", "r0c0/verify/0", "r0c0/verify/1",
                            "r0c1/verify/0", "r0c1/verify/1"]
    assert [v.score for v in graded[0].verifications] == [0.0, 0.0]
    assert [v.score for v in graded[1].verifications] == [1.0, 1.0]
    # the meta verdicts are applied: issue 1 confirmed, issue 2 judged unfounded
    assert [(i.confirmed, i.step) for i in graded[0].verifications[0].issues] == [(True, 2), (False, 1)]
    # every request carries its own stable seed, the one recipe: sha256 of '<seed>/<key>'
    for c in store.calls():
        assert c["request"]["sampling"]["seed"] == stable_seed(5, c["key"])
        assert c["request"]["sampling"]["temperature"] == 0.7 and c["request"]["sampling"]["top_p"] == 0.9
    assert graded[0].evidence is None


def test_resume_replays_from_the_store_and_seeds_are_stable(tmp_path):
    store = RunStore.create(tmp_path / "run", {"kind": "test"})
    first = grade(tmp_path, ScriptedBackend(respond), store)
    store.close()
    store = RunStore.open(tmp_path / "run", {"kind": "test"})
    again = ScriptedBackend(lambda req: pytest.fail("a finished call was issued again"))
    second = grade(tmp_path, again, store)
    assert again.requests == []
    assert [[v.to_dict() for v in g.verifications] for g in first] == \
           [[v.to_dict() for v in g.verifications] for g in second]
    # without a store nothing is recorded or replayed; the same keys give the same seeds
    direct = ScriptedBackend(respond)
    grade(tmp_path, direct)
    assert sorted(r.sampling.seed for r in direct.requests) == sorted(c["request"]["sampling"]["seed"]
                                                                     for c in store.calls())


def test_without_meta_and_with_exact_checks(tmp_path):
    backend = ScriptedBackend(respond)
    graded = grade(tmp_path, backend, meta=False, exact=True)
    assert all(not r.messages[-1]["content"].startswith("You are checking") for r in backend.requests)
    assert all(i.confirmed is None for v in graded[0].verifications for i in v.issues)
    assert [i.source for i in graded[0].evidence.issues] == ["symbolic"]  # 2 + 2 = 5 refuted exactly
    assert graded[1].evidence.issues == []


def test_grade_proof_without_seed(tmp_path):
    backend = ScriptedBackend(respond)
    out = grade_proof(backend, PROBLEM, BAD, 3, True, Templates(), CallSampling(temperature=0.5, max_tokens=9))
    assert [v.score for v in out] == [0.0, 0.0, 0.0] and len(backend.requests) == 6
    assert {r.sampling.seed for r in backend.requests} == {None}


def test_batch_grading_uses_the_same_requests_and_seeds(tmp_path):
    item = GradingItem("a", PROBLEM, GOOD.text)
    store = RunStore.create(tmp_path / "run", {"grade": {"verifications": 2, "rubric": "binary"}})
    backend = ScriptedBackend(lambda req: PASS)
    GradeRun([item], GradeConfig(verifications=2, rubric="binary", seed=11), backend, store, Templates()).run()
    grader = Grader(Templates(), CallSampling(1.0, 0.95, 8192, 11), CallRunner(backend, None, "x"))
    for n, request in enumerate(backend.requests, start=1):
        assert request == grader.verify_request(f"grade:a:{n}", PROBLEM, GOOD.text)
        assert request.sampling.seed == stable_seed(11, f"grade:a:{n}")


def hostile_completions(n=400):
    """Completions of every finish reason with texts that score, half-score, mis-box or say nothing."""
    rng = random.Random(14)
    pieces = ["\\boxed{1}", "\\boxed{0.5}", "\\boxed{0}", "\\boxed{7}", "\\boxed{", "Final score: 1", "score",
              "## Issues\n- [critical] \"x\" : y", "Issue 1: valid", "", "}", "\\boxed{\\boxed{1}}", "\\boxed{2/3}"]
    for _ in range(n):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
        yield Completion(text, finish_reason=rng.choice(["stop", "length", "error", "other"]),
                         error=rng.choice(["", "boom"]))


def test_verification_status_is_what_the_parsers_say():
    for c in hostile_completions():
        assert verification_status(c) == parse_verification(c, segment("")).status == parse_meta(c)[2], c
        assert completion_status(c) in ("ok", "truncated", "error")


def test_each_package_owns_its_templates_and_prompts_dir_overrides_every_name(tmp_path):
    verifier_only = Templates()
    assert verifier_only.builtin_names() == ["grade_points", "meta_verify", "verify"]
    with pytest.raises(VerifierError, match="no prompt template named 'generate'"):
        verifier_only.path("generate")
    both = verifier_only.extended(PROVER_PROMPTS)
    assert both.builtin_names() == ["generate", "grade_points", "meta_verify", "refine", "verify"]
    assert both.path("generate").parent == PROVER_PROMPTS and both.path("verify").parent == PROMPTS
    assert both.extended(PROVER_PROMPTS) is both
    for name in both.builtin_names():
        (tmp_path / f"{name}.md").write_text(f"mine {name}: {{{{problem}}}}")
    mine = Templates(tmp_path).extended(PROVER_PROMPTS)
    for name in mine.builtin_names():
        assert mine.render(name, problem="P") == f"mine {name}: P"
    assert set(mine.fingerprint()) == set(both.fingerprint())
