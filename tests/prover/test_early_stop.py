"""--early-stop (issue 13 §2): on the same recorded answers a search with early stop accepts the same proof, refines
the same proofs with the same feedback and selects the same best proof as one without, while issuing fewer
verifications; in-process over many random searches, and through the CLI against the real HTTP test server."""
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from random_mathematician import respond
from resume_checks import server_process
from scripted import ScriptedBackend

from ledger.store import RunStore
from problems.problem import Problem
from prover.candidate import Candidate
from prover.config import AcceptRule, SearchConfig
from prover.early_stop import Progress, settle
from prover.search import Search
from verifier.prompts import Templates
from verifier.steps import segment
from verifier.verification import Issue, Verification

PROBLEM = Problem(id="test/1", statement="Show that the bound holds.")
TESTS = Path(__file__).resolve().parents[1]


def search(tmp_path, name, **kw):
    config = SearchConfig(**kw)
    store = RunStore.create(tmp_path / name, {"search": config.identity()})
    backend = ScriptedBackend(respond)
    return Search(PROBLEM, config, backend, store, Templates()).run(), backend


def verify_calls(backend):
    return sum(r.messages[-1]["content"].startswith("You are grading") for r in backend.requests)


def what_the_search_did(result):
    """Everything early stop must not change: the outcome, the winner, and every proof with where it came from."""
    return (result.status, result.rounds_used, result.best.id if result.best else None,
            [(c.id, c.parent_ids, c.proof.text) for c in result.candidates])


SETTINGS = [dict(candidates=c, verifications=m, rounds=3, refine_top=r, feedback_per_proof=2, accept=a, seed=seed)
            for seed, (c, m, r, a) in enumerate(itertools.product(
                (3, 5), (4, 6), (1, 2), ("all", "consecutive:2", "consecutive:3:1")))]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: f"c{s['candidates']}m{s['verifications']}"
                         f"r{s['refine_top']}-{s['accept']}")
def test_early_stop_changes_nothing_the_search_decides(tmp_path, settings):
    full, full_backend = search(tmp_path, "full", **settings)
    early, early_backend = search(tmp_path, "early", early_stop=True, **settings)
    assert what_the_search_did(early) == what_the_search_did(full)
    # the refinement prompts (parent proof and its fed-back issues) are the same too
    refines = [[r.messages[-1]["content"] for r in b.requests if r.messages[-1]["content"].startswith("You wrote")]
               for b in (full_backend, early_backend)]
    assert refines[0] == refines[1]
    skipped = early.stats["early_stop"]["verifications_not_issued"]
    assert verify_calls(early_backend) + skipped == verify_calls(full_backend)
    assert skipped == sum(c.skipped_verifications for c in early.candidates)


def test_early_stop_saves_calls_over_the_settings(tmp_path):
    """Not every search can save (a round where all proofs stay in contention), but across these most do."""
    saved = [search(tmp_path, f"early{i}", early_stop=True, **settings)[0].stats["early_stop"]
             for i, settings in enumerate(SETTINGS)]
    assert sum(s["verifications_not_issued"] > 0 for s in saved) >= len(SETTINGS) // 2, saved
    assert all(s["tokens_saved_estimate"] > 0 for s in saved if s["verifications_not_issued"])


def cand(cid, round_=0, self_score=1.0, exact=False):
    c = Candidate(cid, "p", round_, [], segment("A proof."), self_score, "ok")
    if exact:
        c.exact_issues = [Issue("critical", "refuted", step=0, quote="A proof.", source="symbolic")]
    return c


def test_settled_only_when_no_answer_could_change_the_outcome():
    rule, m = AcceptRule.parse("all"), 4
    a = Progress(cand("a"), (1.0, 1.0), 2)  # could still pass
    b = Progress(cand("b"), (0.0, 0.0), 2)  # cannot pass, mean at most 0.5
    c = Progress(cand("c"), (1.0, 0.5), 2)  # cannot pass, mean at least 0.375
    # b may still end at 0.5, above c's worst (0.375) and equal to a's worst (0.5): it may still be refined
    assert settle(rule, m, 1, [a, b, c], []).proofs == frozenset()
    b = Progress(cand("b"), (0.0, 0.0, 0.0), 1)  # mean at most 0.25: below a's and c's worst
    assert settle(rule, m, 1, [a, b, c], []).proofs == {"b"}
    assert settle(rule, m, 2, [a, b, c], []).proofs == {"b"}
    assert settle(rule, m, 3, [a, b, c], []).proofs == frozenset()  # a third place in the refine set is b's
    # unparsed answers do not count in the mean: none parsed so far means anything from "no mean" to 1
    d = Progress(cand("d"), (None, 0.0), 2)
    assert d.mean_bounds() == (0.0, 2 / 3)
    assert Progress(cand("e"), (None,), 3).mean_bounds() == (-1.0, 1.0)
    # an exact refutation bars acceptance at once and ranks below any proof without one (graded or not); proofs of
    # earlier rounds count as they finished
    refuted = Progress(cand("f", exact=True), (), 4)
    earlier = cand("g")
    assert settle(rule, m, 1, [refuted], [earlier]).proofs == {"f"}
    assert settle(rule, m, 2, [refuted], [earlier]).proofs == frozenset()  # f may be refined second
    earlier.verifications = [Verification(0.5)]
    # with a give-up rule the round's best must be decided by this round's own proofs
    assert settle(AcceptRule.parse("consecutive:2:1"), m, 1, [refuted], [earlier]).proofs == frozenset()


def test_round_over_once_a_proof_is_sure_to_be_accepted_and_selected():
    rule, m = AcceptRule.parse("consecutive:2"), 6
    sure = Progress(cand("a"), (1.0, 1.0, 1.0), 3)  # passed; mean at least 0.5
    weak = Progress(cand("b"), (0.0, 0.0, 0.0, 0.0), 2)  # cannot pass
    maybe = Progress(cand("c"), (0.0, 1.0), 4)  # may still pass with mean up to 5/6 > 0.5
    assert not settle(rule, m, 2, [sure, weak, maybe], []).round_over
    maybe = Progress(cand("c"), (0.0, 0.0, 0.0, 1.0), 2)  # may pass, mean at most 0.5: not above a's worst
    assert not settle(rule, m, 2, [sure, weak, maybe], []).round_over
    maybe = Progress(cand("c"), (0.0, 0.0, 0.0, 0.0, 1.0), 1)  # mean at most 1/3
    out = settle(rule, m, 2, [sure, weak, maybe], [])
    assert out.round_over and out.proofs == {"a", "b", "c"}
    assert not settle(AcceptRule.parse("all"), m, 2, [sure], []).round_over  # "all" is sure only when complete


def test_prove_with_early_stop_over_http(tmp_path):
    """The CLI against the real loopback server: same outcome as without, fewer verification requests, and the
    saving said in the JSON and the summary."""
    flags = ["--candidates", "4", "--verifications", "6", "--rounds", "2", "--refine-top", "1", "--seed", "2",
             "--concurrency", "4", "--model", "test-model", "--no-exact"]
    outs, requests = [], []
    for name, extra in (("full", []), ("early", ["--early-stop"])):
        log = tmp_path / f"{name}.jsonl"
        with server_process(f"{TESTS / 'prover' / 'random_mathematician.py'}:respond", log) as url:
            for fmt in (["--json"], []):
                run = tmp_path / f"{name}{len(fmt)}"
                proc = subprocess.run([sys.executable, "-m", "cli", "prove", "imo2025/1", "--endpoint", url, *flags,
                                       *extra, "--run", str(run), *fmt], cwd=TESTS.parent, capture_output=True,
                                      text=True, timeout=300, input="")
                assert proc.returncode in (0, 1), proc.stderr
                if fmt:
                    outs.append(json.loads(proc.stdout))
                else:
                    text = proc.stdout
        bodies = [json.loads(line)["body"] for line in log.read_text().splitlines()]
        requests.append(sum(b["messages"][-1]["content"].startswith("You are grading") for b in bodies if b))
    full, early = outs
    assert (early["status"], early["best_candidate"], early["proof"]) == (full["status"], full["best_candidate"],
                                                                         full["proof"])
    assert full["early_stop"] is None and early["early_stop"]["verifications_not_issued"] > 0
    assert requests[1] < requests[0]
    assert "verification(s) not issued" in text
