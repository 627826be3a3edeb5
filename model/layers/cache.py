"""What the attention layers need from a cache, and the simplest cache that provides it.

An attention layer hands the cache the new entries of its chunk (for MLA: the normalized latent `latent`, the rotated
shared key `k_pe` and, with DSA, the indexer key `index_k`; for GQA: `k` and `v`), each [B, T, ...], together with
their positions [B, T]. The cache stores them and returns every entry of the sequence so far, [B, S, ...], where
entry s is the token at position s. Keys at positions after a query's own are masked by the layer, so a sequence
shorter than S in a batch only needs its own positions written. A paged cache (block tables, prefix sharing)
implements the same `update` and nothing else changes in the layers.
"""
from __future__ import annotations

from typing import Protocol

import torch


class LayerCache(Protocol):
    def update(self, layer: int, positions: torch.Tensor, **entries: torch.Tensor) -> dict[str, torch.Tensor]:
        ...


class ContiguousCache:
    """One [B, max_len, ...] buffer per layer and entry name, allocated on first use."""

    def __init__(self, batch_size: int, max_len: int):
        self.batch_size, self.max_len = batch_size, max_len
        self.buffers: dict[tuple[int, str], torch.Tensor] = {}
        self.lengths: dict[int, int] = {}

    def update(self, layer: int, positions: torch.Tensor, **entries: torch.Tensor) -> dict[str, torch.Tensor]:
        positions = positions.expand(self.batch_size, -1)
        end = int(positions.max()) + 1
        if end > self.max_len:
            raise ValueError(f"position {end - 1} does not fit a cache of {self.max_len} tokens")
        self.lengths[layer] = max(self.lengths.get(layer, 0), end)
        rows = torch.arange(self.batch_size, device=positions.device)[:, None]
        out = {}
        for name, value in entries.items():
            buf = self.buffers.get((layer, name))
            if buf is None:
                buf = value.new_zeros(self.batch_size, self.max_len, *value.shape[2:])
                self.buffers[(layer, name)] = buf
            buf[rows, positions] = value
            out[name] = buf[:, : self.lengths[layer]]
        return out
