"""What runs in the next step: continuous batching, chunked prefill, and preemption when the cache is full.

Each step has two parts. Decode: every running sequence with one pending token (the one it sampled last) joins a
single batched forward; a sequence whose next token needs a new block gets one, and when none is free the most
recently admitted sequence is preempted (its blocks freed, its tokens recomputed later as a longer prompt, mostly from
its own blocks still in the prefix cache). Prefill: sequences with more pending tokens, in admission order, get
chunks out of a per-step token budget; then waiting sequences are admitted while there is room in the batch, in the
cache and in the budget. Requests join and leave between any two steps.
"""
from __future__ import annotations

from collections import deque

from model.engine.block_manager import BlockManager
from model.engine.sequence import Sequence, Status


class Scheduler:
    def __init__(self, blocks: BlockManager, max_batch: int, chunk_tokens: int):
        self.blocks, self.max_batch, self.chunk_tokens = blocks, max_batch, chunk_tokens
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.preemptions = 0

    def add(self, seq: Sequence) -> None:
        seq.status = Status.WAITING
        self.waiting.append(seq)

    @property
    def idle(self) -> bool:
        return not self.waiting and not self.running

    def schedule(self) -> tuple[list[tuple[Sequence, int]], list[Sequence], list[Sequence]]:
        """-> (prefill chunks (sequence, tokens to compute), decoding sequences, sequences that can never fit)."""
        decode, stuck = self._decodes()
        prefill: list[tuple[Sequence, int]] = []
        budget = self.chunk_tokens
        for seq in self.running:
            if seq.num_pending > 1 and budget > 0:
                n = min(seq.num_pending, budget)
                prefill.append((seq, n))
                budget -= n
        skipped: list[Sequence] = []
        while self.waiting and budget > 0 and len(self.running) < self.max_batch:
            seq = self.waiting.popleft()
            verdict = self.blocks.admit(seq)
            if verdict == "pending":  # its prefix is being computed: admit it once that is done
                skipped.append(seq)
                continue
            if verdict == "full":
                self.waiting.appendleft(seq)
                if not self.running and not prefill:
                    stuck.append(self.waiting.popleft())  # nothing will ever free room for it
                break
            seq.status = Status.RUNNING
            self.running.append(seq)
            n = min(seq.num_pending, budget)
            prefill.append((seq, n))
            budget -= n
        self.waiting.extendleft(reversed(skipped))
        return prefill, decode, stuck

    def _decodes(self) -> tuple[list[Sequence], list[Sequence]]:
        decode, stuck = [], []
        for seq in list(self.running):
            if seq.status is not Status.RUNNING or seq.num_pending != 1:
                continue
            while not self.blocks.can_grow(seq):
                victim = self.running[-1]
                if victim is seq and len(self.running) == 1:
                    break  # alone and out of room: the cache cannot hold this sequence any longer
                self.preempt(victim if victim is not seq else self.running[-2])
            if not self.blocks.can_grow(seq):
                stuck.append(seq)
                continue
            self.blocks.grow(seq)
            decode.append(seq)
        return [s for s in decode if s.status is Status.RUNNING], stuck

    def preempt(self, seq: Sequence) -> None:
        self.running.remove(seq)
        self.blocks.release(seq)
        seq.status = Status.WAITING
        self.waiting.appendleft(seq)
        self.preemptions += 1

    def computed(self, seq: Sequence, n: int) -> None:
        seq.num_computed += n
        self.blocks.computed(seq)

    def finish(self, seq: Sequence) -> None:
        if seq in self.running:
            self.running.remove(seq)
            self.blocks.release(seq)
        elif seq in self.waiting:
            self.waiting.remove(seq)
        seq.status = Status.FINISHED
