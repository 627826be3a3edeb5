"""Runs the model over one step's work: the pending tokens of some sequences, through the paged cache.

The layers are the model's own (model/layers/transformer.py); this file only feeds them. Two savings over calling
`Transformer.forward`: the final norm and the lm_head run on each row's last token only (a prefill chunk of 512
tokens would otherwise cost 512 vocabulary-sized rows), and all decoding sequences share one forward of T = 1.
With `fast`, the same math runs faster where it can: dense GQA models through FastGQA (fused projections, the C++
decode path on CPU), and on CPU in float32 the other linears packed for the CPU GEMMs.
"""
from __future__ import annotations

import torch

from model.engine.paged_cache import PagedCache
from model.engine.sequence import Sequence
from model.layers.transformer import Transformer


class ModelRunner:
    def __init__(self, model: Transformer, cache: PagedCache, dtype: torch.dtype, batch_hint: int = 16,
                 fast: bool = True):
        self.model, self.cache = model, cache
        self.device = next(model.parameters()).device
        self.dtype, self.packed = dtype, False  # packed: the float32 linears are packed for the CPU GEMMs
        self.fast = self._speed_up(dtype, batch_hint) if fast else None  # a FastGQA over the same model, or None
        self.fast_paths = fast
        self.is_mla = model.config.attention_kind != "gqa"

    def _speed_up(self, dtype: torch.dtype, batch_hint: int):
        from model.layers.cpu_linear import available, pack_linears
        from model.layers.fast_gqa import FastGQA

        pack = self.device.type == "cpu" and dtype == torch.float32 and available()
        self.packed = pack
        fast_gqa = FastGQA(self.model, batch_hint=batch_hint, pack=pack) if FastGQA.supports(self.model) else None
        if pack:
            pack_linears(self.model, batch_hint=batch_hint, skip=fast_gqa.replaced if fast_gqa else set())
        return fast_gqa

    def decode_path(self) -> str:
        """The decode GEMM and attention that run, in words: the engine's start line says it, so a slow run shows
        whether the fast CPU kernels are in use."""
        if self.device.type != "cpu":
            from kernels.ops import current_backend

            kernels = "PyTorch reference kernels" if current_backend() == "torch" else "Triton kernels"
            return f"decode on {self.device}: torch GEMMs and {kernels}"
        from kernels.cpu.gemm import why_unavailable

        if self.packed:
            why = why_unavailable()
            gemm = "AVX-512 panel GEMM" if why is None else f"oneDNN packed GEMM (not the AVX-512 panel GEMM: {why})"
        else:
            why = ("fast paths off" if not self.fast_paths else
                   "oneDNN is missing from this torch" if self.dtype == torch.float32 else
                   f"{str(self.dtype).removeprefix('torch.')} weights; the packed GEMMs are float32")
            gemm = f"plain torch GEMM ({why})"
        attention = "C++ paged attention" if self.fast is not None and self.fast.ops is not None else "torch attention"
        threads = torch.get_num_threads()
        return f"CPU decode: {gemm}, {attention}; {threads} thread{'s' * (threads != 1)}"

    @torch.inference_mode()
    def forward(self, chunks: list[tuple[Sequence, int]]) -> torch.Tensor:
        """chunks: (sequence, number of its pending tokens to compute now), all starting at seq.num_computed.
        Returns the logits of each chunk's last token, [len(chunks), vocab] float32. Does not advance the
        sequences (the engine does, after sampling)."""
        t = max(n for _, n in chunks)
        ids, pos, rows = [], [], []
        for seq, n in chunks:
            start, end = seq.num_computed, seq.num_computed + n
            ids.append(seq.tokens[start:end] + [0] * (t - n))
            pos.append(list(range(start, end)) + [end - 1] * (t - n))
            rows.append((seq.block_table, start, end))
        self.cache.plan(rows, self.device)
        input_ids = torch.tensor(ids, device=self.device)
        positions = torch.tensor(pos, device=self.device)
        absorb = None if t == 1 or not self.is_mla else False  # expanded attention is cheaper for long chunks
        m = self.model
        if self.fast is not None:
            x = self.fast.hidden(input_ids, positions, self.cache)
        else:
            x = m.model.embed_tokens(input_ids)
            for block in m.model.layers:
                x = block(x, positions, m.rope, self.cache, absorb)
        last = torch.tensor([n - 1 for _, n in chunks], device=self.device)
        x = x[torch.arange(len(chunks), device=self.device), last]
        return m.lm_head(m.model.norm(x)).float()
