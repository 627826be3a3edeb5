import pytest
from fake_mathematician import respond
from scripted import ScriptedBackend

from ledger.errors import RunError
from ledger.store import RunStore
from problems.problem import Problem
from prover.config import AcceptRule, SearchConfig
from prover.errors import ProverError
from prover.search import Search
from verifier.prompts import Templates

PROBLEM = Problem(id="test/1", statement="Show that the answer is 0, 1 or 3.")


def run_search(tmp_path, responder=respond, **kw):
    config = SearchConfig(**{"candidates": 2, "verifications": 3, "rounds": 3, "refine_top": 1,
                             "feedback_per_proof": 2, **kw})
    store = RunStore.create(tmp_path / "run", {"search": config.identity()})
    backend = ScriptedBackend(responder)
    result = Search(PROBLEM, config, backend, store, Templates()).run()
    return result, backend, store


def kinds(backend):
    out = {}
    for r in backend.requests:
        first = r.messages[-1]["content"].split()[:3]
        out[" ".join(first)] = out.get(" ".join(first), 0) + 1
    return out


def feedbacks(backend):
    """The feedback part of each refinement prompt."""
    return [r.messages[-1]["content"].split("The grader's analysis:")[1] for r in backend.requests
            if r.messages[-1]["content"].startswith("You wrote")]


def test_loop_refines_with_confirmed_issues_and_accepts(tmp_path):
    result, backend, store = run_search(tmp_path)
    assert result.status == "accepted" and result.rounds_used == 2
    assert result.best.id.startswith("r1c") and result.best.mean_score == 1.0
    assert result.best.parent_ids[0].startswith("r0c")
    # round 0: 2 drafts, 6 verifications, 6 metas; round 1: 2 refinements (1 parent x 2 feedbacks), 6 verifications
    assert kinds(backend) == {"You are writing": 2, "You are grading": 12, "You are checking": 6, "You wrote a": 2}
    refine_prompts = feedbacks(backend)
    # only the confirmed issue is fed back, pinned to its step
    assert '(step 2) "2 + 2 = 5"' in refine_prompts[0] and "We first count" not in refine_prompts[0]
    stats = store.call_stats()["calls"]
    assert stats == {"generate": {"ok": 2}, "verify": {"ok": 12}, "meta": {"ok": 6}, "refine": {"ok": 2}}
    assert store.meta("result")["status"] == "accepted"
    assert len(store.candidates()) == 4


def test_without_meta_all_issues_are_fed_back(tmp_path):
    result, backend, _ = run_search(tmp_path, meta=False)
    assert result.status == "accepted"
    refine_prompts = feedbacks(backend)
    assert "We first count" in refine_prompts[0]
    assert "You are checking" not in kinds(backend)


def test_rounds_exhausted_keeps_best(tmp_path):
    result, _, _ = run_search(tmp_path, rounds=1)
    assert result.status == "exhausted" and result.best.mean_score == 0.0 and result.rounds_used == 1


def test_unparsable_output_is_kept_and_counted(tmp_path):
    result, _, store = run_search(tmp_path, responder=lambda req: "no format at all", rounds=2)
    calls = store.call_stats()["calls"]
    # drafts keep their text as the proof (unparsed), verifications are unparsed, nothing is dropped
    assert calls == {"generate": {"unparsed": 2}, "verify": {"unparsed": 12}, "refine": {"unparsed": 2}}
    assert all(c.status == "unparsed" for c in result.candidates)
    assert all(v.status == "unparsed" for c in result.candidates for v in c.verifications)


def test_token_budget_stops(tmp_path):
    result, backend, _ = run_search(tmp_path, token_budget=1)
    assert result.status == "budget" and len(backend.requests) == 2  # drafts only


def test_consecutive_rule_and_reject():
    rule = AcceptRule.parse("consecutive:2:3")
    assert rule.passes([0, 1, 1], 3) and not rule.passes([1, 0, 1], 3)
    assert AcceptRule.parse("all").passes([1, 1], 2) and not AcceptRule.parse("all").passes([1, None], 2)
    with pytest.raises(ProverError, match="consecutive:K"):
        AcceptRule.parse("sometimes")
    with pytest.raises(ProverError, match="need at least 5 verifications"):
        SearchConfig(verifications=2, accept="consecutive:5")


def test_reject_after_f_failed_rounds(tmp_path):
    def never(req):  # refinements stay wrong
        return respond(req).replace("fixed the covering", "still wrong")

    result, _, _ = run_search(tmp_path, responder=never, rounds=5, accept="consecutive:2:2")
    assert result.status == "rejected" and result.rounds_used == 2


def test_resume_replays_finished_calls(tmp_path):
    result, backend, store = run_search(tmp_path)
    store.close()
    config = SearchConfig(candidates=2, verifications=3, rounds=3, refine_top=1, feedback_per_proof=2)
    store2 = RunStore.open(tmp_path / "run", {"search": config.identity()})
    backend2 = ScriptedBackend(respond)
    result2 = Search(PROBLEM, config, backend2, store2, Templates()).run()
    assert backend2.requests == [] and result2.best.id == result.best.id


def test_store_refuses_other_config_and_existing_run(tmp_path):
    run_search(tmp_path)[2].close()
    with pytest.raises(RunError, match="another config"):
        RunStore.open(tmp_path / "run", {"search": {"candidates": 9}})
    with pytest.raises(RunError, match="already holds a run"):
        RunStore.create(tmp_path / "run", {})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="not empty"):
        RunStore.create(tmp_path / "other", {})
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(RunError, match="left untouched"):
        RunStore.open(tmp_path / "bad")
    assert (tmp_path / "bad" / "run.sqlite").read_bytes() == b"this is not a database" * 100


def test_exact_checks_refute_step_and_feed_refinement(tmp_path):
    result, backend, _ = run_search(tmp_path)
    first = next(c for c in result.candidates if c.id == "r0c0")
    assert [(i.source, i.step, i.severity) for i in first.exact_issues] == [("symbolic", 2, "critical")]
    assert first.evidence["refuted_steps"] == [2]
    assert "Checked exactly" in feedbacks(backend)[0] and "2 + 2 = 5" in feedbacks(backend)[0]
    assert result.best.exact_issues == []


def test_graders_fooled_but_exact_check_blocks_acceptance(tmp_path):
    def lenient(req):  # the verifier passes everything, including the false step
        text = respond(req)
        return text.replace("\\boxed{0}", "\\boxed{1}").replace("- [critical]", "- [minor]")

    result, backend, _ = run_search(tmp_path, responder=lenient, meta=False)
    r0 = [c for c in result.candidates if c.round == 0]
    assert all(c.mean_score == 1.0 and not c.accepted for c in r0)
    assert result.status == "accepted" and result.best.round == 1
    assert "Checked exactly" in feedbacks(backend)[0]


def test_unreadable_gradings_still_feed_a_refinement(tmp_path):
    def rambling(req):
        prompt = req["messages"][-1]["content"]
        return "Looks odd to me, step two seems off." if prompt.startswith("You are grading") else respond(req)

    result, backend, _ = run_search(tmp_path, responder=rambling, rounds=2, exact=False)
    assert result.rounds_used == 2 and "did not follow the format" in feedbacks(backend)[0]
    assert "step two seems off" in feedbacks(backend)[0]


def test_a_round_with_nothing_to_refine_is_said_not_skipped_silently(tmp_path):
    def unreadable_grader(request):
        text = request["messages"][-1]["content"]
        return "" if text.startswith("You are grading") else respond(request)  # nothing to pass on

    events = []
    config = SearchConfig(candidates=2, verifications=2, rounds=3, refine_top=1, feedback_per_proof=1)
    store = RunStore.create(tmp_path / "run", {"search": config.identity()})
    result = Search(PROBLEM, config, ScriptedBackend(unreadable_grader), store, Templates(),
                    on_event=events.append).run()
    skipped = [e for e in events if e["type"] == "skipped"]
    assert result.status == "exhausted" and [e["round"] for e in skipped] == [result.rounds_used]
    assert "no verification" in skipped[0]["reason"]
    assert result.stats["skipped_rounds"] == [{"round": result.rounds_used, "reason": skipped[0]["reason"]}]
    assert store.meta("result")["skipped"] == result.stats["skipped_rounds"]
