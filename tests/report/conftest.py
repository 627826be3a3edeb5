import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import pytest  # noqa: E402
from synthetic import DSM, DSM_OUTPUTS, real_proofs  # noqa: E402


@pytest.fixture(scope="session")
def dsm_proofs() -> list[str]:
    """The 84 DeepSeekMath-V2 proofs of ../shared/data, or the 10 shipped in tests/data."""
    proofs = real_proofs()
    assert proofs, f"no DeepSeekMath-V2 outputs at {DSM_OUTPUTS}"
    return proofs


@pytest.fixture(scope="session")
def real_proofs_sample(dsm_proofs) -> list[str]:
    return dsm_proofs[::12] if DSM.full else dsm_proofs  # every 12th of the full set: 7 proofs


class FakeGraderBackend:
    """In-process backend answering with tests/grade/fake_grader.py."""
    name = "fake-grader"

    def generate(self, requests, on_result=None):
        from fake_grader import respond

        from model.backends.backend import Completion

        out = []
        for i, r in enumerate(requests):
            text = respond({"messages": list(r.messages)})
            c = Completion(text, prompt_tokens=len(r.messages[-1]["content"].split()),
                           completion_tokens=len(text.split()), seconds=0.01)
            if on_result:
                on_result(i, c)
            out.append(c)
        return out


@pytest.fixture(scope="session")
def dsm_grade_run(tmp_path_factory, dsm_proofs) -> Path:
    """A grade run (M=1, fake grader) over the DeepSeekMath-V2 proofs (84, or the 10 shipped), and its report."""
    sys.path.insert(0, str(HERE.parent / "grade"))
    from ledger.store import RunStore
    from report.build import render_run
    from verifier.batch import GradeConfig, GradeRun
    from verifier.grading_input import read_grading_input
    from verifier.prompts import Templates

    items = [it for path in sorted(DSM_OUTPUTS.glob("*.jsonl")) for it in read_grading_input(path)]
    assert len(items) == (84 if DSM.full else 10)
    run = tmp_path_factory.mktemp("dsm") / "run"
    store = RunStore.create(run, {"kind": "grade", "input": "deepseek-math-v2 outputs", "n": len(items),
                                  "grade": {"verifications": 1, "rubric": "auto"}})
    GradeRun(items, GradeConfig(verifications=1), FakeGraderBackend(), store, Templates()).run()
    store.close()
    text, stats = render_run(run)
    (run / "report.html").write_text(text, encoding="utf-8")
    (run / "stats.json").write_text(__import__("json").dumps(stats))
    return run
