"""Early-stopped verification (`--early-stop`): which proofs of a round need no more verifications, because no
outcome of their remaining ones can change what the search does with them.

A proof's rank key (Candidate.rank_key) is bounded by the best and the worst its remaining verifications could
give. A proof is settled when the accept rule can no longer be met and at least `refine_top` other proofs are sure
to rank above it whatever their own remaining verifications say: it can then be neither accepted, nor refined, nor
selected, in this round or a later one. And the whole round is settled when one proof is sure to be accepted and to
rank above every other proof of the round: the search ends with it whatever the rest say. Both are decided from
the answers recorded so far, so a resumed run decides the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

from prover.candidate import NO_MEAN, Candidate
from prover.config import AcceptRule


@dataclass(frozen=True)
class Progress:
    """A proof of this round part-way through its verifications."""
    candidate: Candidate  # proof, self-score, round, exact issues; `scores` are read from here
    scores: tuple[float | None, ...]  # the verifications answered so far, in call order
    remaining: int  # verifications not yet issued

    def mean_bounds(self) -> tuple[float, float]:
        """The lowest and highest mean the rank key can end with (unparsed answers do not count in the mean)."""
        graded = [s for s in self.scores if s is not None]
        total, n, r = sum(graded), len(graded), self.remaining
        if n == 0:  # all of the rest may come back unparsed too
            return NO_MEAN, 1.0 if r else NO_MEAN
        return total / (n + r), (total + r) / (n + r)

    def can_pass(self, rule: AcceptRule, m: int) -> bool:
        return not self.candidate.exact_issues and rule.passes(list(self.scores) + [1.0] * self.remaining, m)

    def sure_to_pass(self, rule: AcceptRule, m: int) -> bool:
        """Passing whatever the rest say: for `all` only when complete, for `consecutive:K` after K in a row."""
        return not self.candidate.exact_issues and rule.passes(list(self.scores), m) and (
            rule.kind != "all" or self.remaining == 0)

    def best_key(self, rule: AcceptRule, m: int) -> tuple:
        return self.candidate.key_with(self.can_pass(rule, m), self.mean_bounds()[1])

    def worst_key(self, rule: AcceptRule, m: int) -> tuple:
        return self.candidate.key_with(self.sure_to_pass(rule, m), self.mean_bounds()[0])


@dataclass(frozen=True)
class Settled:
    proofs: frozenset[str]  # candidate ids that need no more verifications
    round_over: bool = False  # one proof is sure to be accepted and selected: no verification of the round matters


def settle(rule: AcceptRule, m: int, refine_top: int, fresh: list[Progress], earlier: list[Candidate]) -> Settled:
    """What needs no more verifications, given this round's progress and the earlier rounds' graded proofs."""
    for p in fresh:
        if p.sure_to_pass(rule, m):
            worst = p.worst_key(rule, m)
            if all(q.best_key(rule, m) < worst for q in fresh if q is not p):
                return Settled(frozenset(q.candidate.id for q in fresh), round_over=True)
    done: set[str] = set()
    earlier_keys = [c.rank_key() for c in earlier if c.verifiable]
    for p in fresh:
        if p.remaining == 0 or p.can_pass(rule, m):
            continue
        best = p.best_key(rule, m)
        above_now = sum(q.worst_key(rule, m) > best for q in fresh if q is not p)
        above_before = sum(k > best for k in earlier_keys)
        # with a give-up rule the round's own best proof decides the round, so it must come from this round
        if above_now + above_before >= refine_top and (rule.f == 0 or above_now > 0):
            done.add(p.candidate.id)
    return Settled(frozenset(done))
