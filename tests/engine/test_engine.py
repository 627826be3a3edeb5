"""The engine against transformers' greedy generate, across batching, chunked prefill, preemption and prefix reuse."""
from __future__ import annotations

import pytest
from tiny_models import VOCAB, hf_greedy, prompts

from model.engine.engine import Engine
from model.engine.paged_cache import bytes_per_token
from model.engine.sequence import SamplingParams
from model.errors import ModelError

GREEDY = SamplingParams(temperature=0, max_tokens=10, ignore_eos=True)


def gb_for_blocks(engine_cfg, blocks: int, block_size: int) -> float:
    import torch

    return blocks * block_size * bytes_per_token(engine_cfg, torch.float32) / 2**30


@pytest.mark.parametrize("family, fast", [("llama", True), ("llama", False), ("deepseek_v3", True),
                                          ("deepseek_v32", True)])
def test_greedy_batch_matches_transformers(tiny, family, fast):
    path, hf = tiny[family]
    # prompts span several chunks and blocks; fast=False runs the model's own layers instead of the fused GQA path
    engine = Engine(path, block_size=4, chunk_tokens=7, cache_gb=0.01, fast=fast)
    ps = prompts(3, 9, seed=1)
    outs = engine.generate(ps, GREEDY)
    for p, out in zip(ps, outs):
        assert out.token_ids == hf_greedy(hf, p, 10), family
        assert out.finish_reason == "length" and out.completion_tokens == 10 and out.prompt_tokens == len(p)


def test_batch_equals_each_alone_with_seeded_sampling(tiny):
    path, _ = tiny["deepseek_v3"]
    engine = Engine(path, block_size=4, cache_gb=0.01)
    ps = prompts(4, 6, seed=2)
    params = [SamplingParams(temperature=0.9, top_p=0.9, top_k=20, seed=10 + i, max_tokens=8, ignore_eos=True)
              for i in range(4)]
    together = engine.generate(ps, params)
    alone = [engine.generate([p], s)[0] for p, s in zip(ps, params)]
    assert [o.token_ids for o in together] == [o.token_ids for o in alone]
    assert len({tuple(o.token_ids) for o in together}) > 1


def test_preemption_under_a_tiny_cache_gives_the_same_tokens(tiny):
    path, hf = tiny["llama"]
    from model.config import ModelConfig

    cfg = ModelConfig.from_file(path)
    engine = Engine(path, block_size=4, cache_gb=gb_for_blocks(cfg, 12, 4))  # 48 slots for 4 x ~22 tokens
    ps = prompts(4, 8, seed=3)
    outs = engine.generate(ps, SamplingParams(temperature=0, max_tokens=12, ignore_eos=True))
    assert engine.scheduler.preemptions > 0
    for p, out in zip(ps, outs):
        assert out.token_ids == hf_greedy(hf, p, 12)


def test_prefix_cache_shares_blocks_and_counts_cached_tokens(tiny):
    path, hf = tiny["deepseek_v32"]
    engine = Engine(path, block_size=4, cache_gb=0.01)
    prefix = prompts(1, 32, seed=4)[0]
    suffixes = prompts(4, 3, seed=5)
    ps = [prefix + s for s in suffixes]
    outs = engine.generate(ps, GREEDY)
    for p, out in zip(ps, outs):
        assert out.token_ids == hf_greedy(hf, p, 10)
    assert [o.cached_tokens for o in outs[1:]] == [32] * 3 and outs[0].cached_tokens == 0
    assert engine.prefill_tokens == len(prefix) + sum(len(s) for s in suffixes)
    again = engine.generate([ps[2]], GREEDY)[0]
    assert again.cached_tokens == (len(ps[2]) - 1) // 4 * 4 and again.token_ids == outs[2].token_ids


def test_stop_strings_stop_tokens_and_streaming(tiny):
    path, _ = tiny["llama"]
    engine = Engine(path, block_size=4, cache_gb=0.01)
    p = prompts(1, 7, seed=6)[0]
    full = engine.generate([p], SamplingParams(temperature=0, max_tokens=10, ignore_eos=True))[0]
    assert full.text == " ".join(f"w{t}" for t in full.token_ids)
    third = full.token_ids[3]
    cut = engine.generate([p], SamplingParams(temperature=0, max_tokens=10, stop_token_ids=(third,)))[0]
    assert cut.token_ids == full.token_ids[:4] and cut.finish_reason == "stop"
    stop = f" w{full.token_ids[5]}"
    by_text = engine.generate([p], SamplingParams(temperature=0, max_tokens=10, stop=(stop,)))[0]
    assert by_text.finish_reason == "stop" and by_text.text == full.text[:full.text.index(stop)]
    events = list(engine.stream([p, p], SamplingParams(temperature=0, max_tokens=10, ignore_eos=True)))
    for i in range(2):
        mine = [e for e in events if e.index == i]
        assert "".join(e.text for e in mine) == full.text
        assert sum((e.token_ids for e in mine), []) == full.token_ids and mine[-1].output is not None


def test_bad_input_is_a_clear_error_and_the_engine_keeps_working(tiny, tmp_path):
    path, _ = tiny["llama"]
    from model.config import ModelConfig

    engine = Engine(path, block_size=4, cache_gb=gb_for_blocks(ModelConfig.from_file(path), 8, 4))
    with pytest.raises(ModelError, match="context"):
        engine.add([1] * 600, GREEDY)
    with pytest.raises(ModelError, match="cache holds 32"):
        engine.add([1] * 40, GREEDY)
    with pytest.raises(ModelError, match="top_p"):
        engine.add([1, 2], SamplingParams(top_p=0))
    with pytest.raises(ModelError, match="temperature"):
        engine.add([1, 2], SamplingParams(temperature=-1))
    with pytest.raises(ModelError, match="vocabulary"):
        engine.add([VOCAB + 5], GREEDY)
    assert engine.generate([[1, 2, 3]], GREEDY)[0].completion_tokens == 10
    with pytest.raises(ModelError, match="not a checkpoint"):
        Engine(tmp_path / "nowhere")
    with pytest.raises(ModelError, match="cache"):
        Engine(path, cache_gb=1e-9)


def test_fast_path_without_the_native_kernel_matches_transformers(tiny, monkeypatch):
    from kernels.cpu import paged_attention as paged_attention_cpu

    monkeypatch.setattr(paged_attention_cpu, "usable", lambda device, dtype: False)  # gather + SDPA instead
    path, hf = tiny["llama"]
    engine = Engine(path, block_size=4, chunk_tokens=7, cache_gb=0.01, fast=True)
    ps = prompts(3, 9, seed=1)
    for p, out in zip(ps, engine.generate(ps, GREEDY)):
        assert out.token_ids == hf_greedy(hf, p, 10)
