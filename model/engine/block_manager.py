"""Which cache blocks each sequence owns, and prefix sharing between sequences.

The cache is cut into blocks of `block_size` token slots. A full block is named by a chained hash: the hash of its
tokens together with the hash of the block before it, so equal hashes mean an equal prefix up to and including the
block. Blocks are reference-counted: sequences that start with the same full blocks share them. A block whose
count drops to zero keeps its hash and content in the free list, and a later request with that prefix can take it
back, until the block is handed out for new content (least recently freed first).

A block is `ready` once its entries are computed. A sequence whose prefix matches blocks that another sequence is
still computing waits (`admit` says so) instead of computing the same prefix a second time.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from model.engine.sequence import Sequence


@dataclass
class Block:
    id: int
    ref_count: int = 0
    hash: int | None = None
    tokens: tuple[int, ...] = ()
    ready: bool = False


def chain_hash(previous: int | None, tokens: tuple[int, ...]) -> int:
    return hash((previous, tokens))


class BlockManager:
    def __init__(self, num_blocks: int, block_size: int):
        self.block_size = block_size
        self.blocks = [Block(i) for i in range(num_blocks)]
        self.free: OrderedDict[int, None] = OrderedDict((i, None) for i in range(num_blocks))
        self.by_hash: dict[int, int] = {}

    @property
    def num_free(self) -> int:
        return len(self.free)

    def _prefix_hashes(self, tokens: list[int], limit: int) -> list[tuple[int, tuple[int, ...]]]:
        out, h, bs = [], None, self.block_size
        for i in range(limit // bs):
            chunk = tuple(tokens[i * bs:(i + 1) * bs])
            h = chain_hash(h, chunk)
            out.append((h, chunk))
        return out

    def _lookup(self, h: int, tokens: tuple[int, ...]) -> Block | None:
        block_id = self.by_hash.get(h)
        if block_id is None:
            return None
        block = self.blocks[block_id]
        return block if block.tokens == tokens else None

    def admit(self, seq: Sequence) -> str:
        """Give a waiting sequence its blocks: 'ok', 'pending' (its prefix is being computed by another sequence) or
        'full' (no room now). At least the last token is always left to compute, so its logits exist."""
        tokens = seq.tokens
        hashes = self._prefix_hashes(tokens, len(tokens) - 1)
        hits: list[Block] = []
        for h, chunk in hashes:
            block = self._lookup(h, chunk)
            if block is None:
                break
            if not block.ready:
                return "pending"
            hits.append(block)
        fresh = seq.blocks_needed(self.block_size) - len(hits)
        reclaimed = sum(1 for b in hits if b.ref_count == 0)  # hits taken back from the free list
        if fresh > self.num_free - reclaimed:
            return "full"
        for block in hits:
            if block.ref_count == 0:
                del self.free[block.id]
            block.ref_count += 1
        table = [b.id for b in hits]
        for _ in range(fresh):
            table.append(self._take().id)
        # register the full prompt blocks computed by this sequence, so later requests can wait for and share them
        for i in range(len(hits), len(hashes)):
            self._register(self.blocks[table[i]], *hashes[i])
        seq.block_table = table
        seq.num_computed = len(hits) * self.block_size
        seq.ready_blocks = len(hits)
        if not seq.admitted:
            seq.num_cached = seq.num_computed
            seq.admitted = True
        return "ok"

    def _take(self) -> Block:
        block_id, _ = self.free.popitem(last=False)
        block = self.blocks[block_id]
        if block.hash is not None and self.by_hash.get(block.hash) == block_id:
            del self.by_hash[block.hash]
        block.hash, block.tokens, block.ready, block.ref_count = None, (), False, 1
        return block

    def _register(self, block: Block, h: int, tokens: tuple[int, ...]) -> None:
        block.hash, block.tokens, block.ready = h, tokens, False
        self.by_hash.setdefault(h, block.id)

    def can_grow(self, seq: Sequence) -> bool:
        return seq.blocks_needed(self.block_size) <= len(seq.block_table) or self.num_free > 0

    def grow(self, seq: Sequence) -> None:
        """Make room for the sequence's pending token(s); call can_grow first."""
        while len(seq.block_table) < seq.blocks_needed(self.block_size):
            seq.block_table.append(self._take().id)

    def computed(self, seq: Sequence) -> None:
        """After a step: mark the blocks the sequence has filled as ready, naming newly full ones by their hash."""
        bs = self.block_size
        start = seq.ready_blocks
        h = self.blocks[seq.block_table[start - 1]].hash if start else None
        for i in range(start, seq.num_computed // bs):
            block = self.blocks[seq.block_table[i]]
            if block.hash is None:
                chunk = tuple(seq.tokens[i * bs:(i + 1) * bs])
                self._register(block, chain_hash(h, chunk), chunk)
            block.ready = True
            h = block.hash
            seq.ready_blocks = i + 1

    def release(self, seq: Sequence) -> None:
        """Drop the sequence's references (finished or preempted); unfinished blocks lose their hash."""
        for block_id in reversed(seq.block_table):
            block = self.blocks[block_id]
            block.ref_count -= 1
            if block.ref_count == 0:
                if not block.ready and block.hash is not None:
                    if self.by_hash.get(block.hash) == block_id:
                        del self.by_hash[block.hash]
                    block.hash, block.tokens = None, ()
                self.free[block_id] = None
        seq.block_table = []
        seq.num_computed = seq.ready_blocks = 0
