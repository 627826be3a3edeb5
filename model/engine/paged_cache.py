"""The paged cache: one pool of token slots per layer and entry, addressed through each sequence's block table.

Entries per token and layer (what the attention layers hand to `update`):
    MLA:        latent [kv_lora_rank], k_pe [qk_rope_head_dim], and with DSA index_k [index_head_dim]
    GQA:        k [n_kv_heads, head_dim], v [n_kv_heads, head_dim]
A pool is [num_blocks + 1, block_size, ...]: slot `b * block_size + i` holds token i of block b, and the extra
block at the end is scratch, where padding writes go and padding reads come from. Before each forward the model
runner calls `plan` with each batch row's block table and the span of its new tokens; `update` then writes the new
entries slot by slot and gathers each row's blocks whole (one copy per block, not per token), once per layer, so
the layers see the `[B, S, ...]` view a contiguous cache would give them. S is rounded up to whole blocks: entries
past a row's own length are stale or scratch, and the layers' causal mask hides them.
"""
from __future__ import annotations

import torch

from model.config import ModelConfig
from model.errors import ModelError


def entry_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    if cfg.attention_kind == "gqa":
        return {"k": (cfg.num_key_value_heads, cfg.head_dim), "v": (cfg.num_key_value_heads, cfg.head_dim)}
    shapes: dict[str, tuple[int, ...]] = {"latent": (cfg.kv_lora_rank,), "k_pe": (cfg.qk_rope_head_dim,)}
    if cfg.index_topk:
        shapes["index_k"] = (cfg.index_head_dim,)
    return shapes


def bytes_per_token(cfg: ModelConfig, dtype: torch.dtype) -> int:
    per_layer = sum(int(torch.Size(s).numel()) for s in entry_shapes(cfg).values())
    return per_layer * cfg.num_hidden_layers * torch.empty((), dtype=dtype).element_size()


def blocks_for_budget(cfg: ModelConfig, dtype: torch.dtype, cache_gb: float, block_size: int) -> int:
    return int(cache_gb * 2**30) // (bytes_per_token(cfg, dtype) * block_size)


class PagedCache:
    def __init__(self, cfg: ModelConfig, num_blocks: int, block_size: int, dtype: torch.dtype,
                 device: str | torch.device = "cpu"):
        if num_blocks < 1:
            raise ModelError(f"the cache budget holds no block of {block_size} tokens "
                             f"({bytes_per_token(cfg, dtype) * block_size} bytes each): raise cache_gb")
        self.num_blocks, self.block_size = num_blocks, block_size
        self.scratch_block = num_blocks
        self.pools: list[dict[str, torch.Tensor]] = [
            {name: torch.zeros(num_blocks + 1, block_size, *shape, dtype=dtype, device=device)
             for name, shape in entry_shapes(cfg).items()}
            for _ in range(cfg.num_hidden_layers)]
        self.write_slots: torch.Tensor | None = None
        self.read_blocks: torch.Tensor | None = None
        # gather targets reused by every layer and step (a layer consumes its view before the next update): a fresh
        # megabyte-sized tensor per layer costs page faults that took longer than the copy itself
        self.gathered: dict[str, torch.Tensor] = {}

    def plan(self, rows: list[tuple[list[int], int, int]], device: torch.device) -> None:
        """rows: per batch row (block table, start, end): the row's new tokens sit at positions start..end-1 and it
        reads positions 0..end-1. Shorter rows are padded with the scratch block."""
        bs, pad = self.block_size, self.scratch_block
        t = max(end - start for _, start, end in rows)
        nblocks = max(-(-end // bs) for _, _, end in rows)
        tables = [table[:-(-end // bs)] for table, _, end in rows]
        blocks = torch.tensor([tb + [pad] * (nblocks - len(tb)) for tb in tables])
        write = []
        for (table, start, end) in rows:
            slots = [table[p // bs] * bs + p % bs for p in range(start, end)]
            write.append(slots + [pad * bs] * (t - len(slots)))
        self.read_blocks = blocks.flatten().to(device)
        self.write_slots = torch.tensor(write).flatten().to(device)
        self.batch = len(rows)

    def write(self, layer: int, **entries: torch.Tensor) -> None:
        """Store the new tokens' entries at their planned slots (what `update` does before it gathers)."""
        assert self.write_slots is not None, "plan() the step first"
        for name, value in entries.items():
            pool = self.pools[layer][name]
            shape = pool.shape[2:]
            # index_copy_ / index_select: plain copies, several times faster than advanced indexing here
            pool.view(-1, *shape).index_copy_(0, self.write_slots, value.reshape(-1, *shape).to(pool.dtype))

    def update(self, layer: int, positions: torch.Tensor, **entries: torch.Tensor) -> dict[str, torch.Tensor]:
        self.write(layer, **entries)
        assert self.read_blocks is not None  # planned with write_slots
        b = self.batch
        n = self.read_blocks.shape[0] // b
        out = {}
        for name in entries:
            pool = self.pools[layer][name]
            out[name] = torch.index_select(pool, 0, self.read_blocks, out=self._buffer(name, pool)).view(
                b, n * self.block_size, *pool.shape[2:])
        return out

    def _buffer(self, name: str, pool: torch.Tensor) -> torch.Tensor:
        """A [len(read_blocks), block_size, ...] view of the reusable gather buffer for `name`, grown as needed."""
        assert self.read_blocks is not None, "plan() the step first"
        shape = (self.read_blocks.shape[0], *pool.shape[1:])
        numel = int(torch.Size(shape).numel())
        buf = self.gathered.get(name)
        if buf is None or buf.numel() < numel:
            buf = self.gathered[name] = torch.empty(numel, dtype=pool.dtype, device=pool.device)
        return buf[:numel].view(shape)
