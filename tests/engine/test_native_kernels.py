"""The C++ CPU kernels (kernels/cpu/build.py) against torch on the same inputs: the decode GEMM over packed panels and
paged decode attention, on the shapes and edges the engine gives them (ragged row counts and lengths, a partial
last panel, odd block sizes, grouped heads). Skipped where the extension cannot be built."""
import pytest
import torch

from kernels.cpu import build, gemm as cpu_gemm, paged_attention as paged_attention_cpu

gemm = cpu_gemm.kernel()
attention = paged_attention_cpu.kernel()


@pytest.mark.skipif(gemm is None, reason="no compiler or no AVX-512 for the decode GEMM")
@pytest.mark.parametrize("rows", [1, 2, 5, 8, 9, 15, 16, 17, 24, 25, 32, 40])
@pytest.mark.parametrize("n,k", [(24, 16), (50, 37), (960, 576), (7, 3)])
def test_panel_linear_matches_matmul(rows, n, k):
    gen = torch.Generator().manual_seed(rows * 1000 + n + k)
    w, x = torch.randn(n, k, generator=gen), torch.randn(rows, k, generator=gen)
    panels = cpu_gemm.pack(w)
    assert panels.shape == (-(-n // cpu_gemm.PANEL), k, cpu_gemm.PANEL)
    expected = x.double() @ w.double().T
    torch.testing.assert_close(gemm(x, panels, n).double(), expected, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(cpu_gemm.reference(x, panels, n).double(), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.skipif(gemm is None, reason="no compiler or no AVX-512 for the decode GEMM")
def test_panel_linear_refuses_wrong_shapes():
    panels = cpu_gemm.pack(torch.randn(30, 8))
    with pytest.raises(RuntimeError, match="panels"):
        gemm(torch.randn(2, 9), panels, 30)  # K differs
    with pytest.raises(RuntimeError, match="panels"):
        gemm(torch.randn(2, 8), panels, 49)  # more outputs than the panels hold


def _paged_reference(q, kpool, vpool, blocks, lens, block_size, scale):
    b, h, d = q.shape
    kv = kpool.shape[1]
    out = torch.empty_like(q, dtype=torch.float64)
    for i in range(b):
        t = torch.arange(int(lens[i]))
        slots = blocks[i][t // block_size] * block_size + t % block_size
        keys = kpool[slots].double().repeat_interleave(h // kv, dim=1)  # [T, H, D]
        values = vpool[slots].double().repeat_interleave(h // kv, dim=1)
        weights = torch.softmax(torch.einsum("hd,thd->ht", q[i].double(), keys) * scale, dim=-1)
        out[i] = torch.einsum("ht,thd->hd", weights, values)
    return out


@pytest.mark.skipif(attention is None, reason="no compiler for the C++ kernels")
@pytest.mark.parametrize("d", [64, 128, 32])  # 64 and 128 take the AVX-512 path where there is one, 32 the plain one
@pytest.mark.parametrize("block_size", [16, 5])
def test_paged_decode_matches_attention(d, block_size):
    gen = torch.Generator().manual_seed(d + block_size)
    b, h, kv, num_blocks = 4, 6, 2, 80
    lens = torch.tensor([1, 15, 17, 90])
    per_row = -(-int(lens.max()) // block_size)
    blocks = torch.randperm(num_blocks, generator=gen)[: b * per_row].view(b, per_row).contiguous()
    q = torch.randn(b, h, d, generator=gen)
    kpool = torch.randn(num_blocks * block_size, kv, d, generator=gen)
    vpool = torch.randn(num_blocks * block_size, kv, d, generator=gen)
    got = attention(q, kpool, vpool, blocks, lens, block_size, d ** -0.5)
    torch.testing.assert_close(got.double(), _paged_reference(q, kpool, vpool, blocks, lens, block_size, d ** -0.5),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(attention is None, reason="no compiler for the C++ kernels")
def test_fused_decode_ops_match_torch():
    from model.layers.fast_gqa import rotate_half_pairs

    ops = build.module()
    gen = torch.Generator().manual_seed(3)
    b, h, kv, d, block_size = 3, 4, 2, 64, 4
    x, delta, weight = torch.randn(b, 96, generator=gen), torch.randn(b, 96, generator=gen), torch.rand(96) + 0.5
    summed = x + delta
    expected = weight * (summed * torch.rsqrt(summed.pow(2).mean(-1, keepdim=True) + 1e-5))
    torch.testing.assert_close(ops.add_rms_norm_(x, delta, weight, 1e-5), expected)
    torch.testing.assert_close(x, summed)  # the residual stream is updated in place
    torch.testing.assert_close(ops.add_rms_norm_(x, None, weight, 1e-5), expected)

    gate_up = torch.randn(b, 2 * 40, generator=gen) * 30  # large values: exp must not overflow into NaN
    gate, up = gate_up.chunk(2, dim=-1)
    torch.testing.assert_close(ops.silu_mul(gate_up), torch.nn.functional.silu(gate) * up)

    # RoPE + cache write + attention against the same steps in torch
    qkv = torch.randn(b, (h + 2 * kv) * d, generator=gen)
    angles = torch.rand(b, d // 2, generator=gen) * 6
    cos, sin = angles.cos(), angles.sin()
    num_blocks = 8
    kpool, vpool = torch.randn(num_blocks * block_size, kv, d, generator=gen), torch.randn(num_blocks * block_size,
                                                                                           kv, d, generator=gen)
    blocks = torch.tensor([[0, 1], [2, 3], [4, 5]])
    lens = torch.tensor([5, 8, 1])
    slots = torch.tensor([4, 3 * block_size + 3, 4 * block_size])  # the last position of each row
    k_ref, v_ref = kpool.clone(), vpool.clone()
    qk, v = qkv.split([(h + kv) * d, kv * d], dim=-1)
    roped = rotate_half_pairs(qk.view(b, h + kv, d), cos[:, None], sin[:, None])
    q, k = roped.split([h, kv], dim=1)
    k_ref[slots], v_ref[slots] = k, v.view(b, kv, d)
    expected = _paged_reference(q, k_ref, v_ref, blocks, lens, block_size, 0.125).float().view(b, h * d)
    got = ops.rope_store_decode(qkv, cos, sin, kpool, vpool, slots, blocks, lens, block_size, 0.125, h)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(kpool, k_ref)
    torch.testing.assert_close(vpool, v_ref)


@pytest.mark.skipif(gemm is None or attention is None, reason="no compiler or no AVX-512")
def test_engine_on_the_kernels_own_shapes_matches_transformers(tmp_path):
    """head_dim 64 (the vectorised attention) and 18 rows (GEMM chunks of 16 plus a narrow tail), through the
    engine's fused decode path, token for token against transformers."""
    import transformers as tf
    from tiny_models import BASE, byte_tokenizer, hf_greedy, prompts, spread

    from model.engine.engine import Engine
    from model.engine.sequence import SamplingParams

    torch.manual_seed(5)
    hf = tf.LlamaForCausalLM(tf.LlamaConfig(**{**BASE, "hidden_size": 256}, num_key_value_heads=2)).eval()
    spread(hf, 5)
    hf.save_pretrained(tmp_path)
    byte_tokenizer().save(str(tmp_path / "tokenizer.json"))
    engine = Engine(tmp_path, max_batch=18, block_size=4, cache_gb=0.02)
    assert engine.runner.fast is not None and engine.runner.fast.ops is not None
    ps = prompts(18, 5, seed=2)
    outs = engine.generate(ps, SamplingParams(temperature=0, max_tokens=6, ignore_eos=True))
    for p, out in zip(ps, outs):
        assert out.token_ids == hf_greedy(hf, p, 6)


@pytest.mark.skipif(attention is None, reason="no compiler for the C++ kernels")
def test_out_of_range_cache_addresses_are_refused_not_read():
    ops = build.module()
    kpool, vpool = torch.zeros(8, 1, 64), torch.zeros(8, 1, 64)
    q, lens = torch.zeros(1, 2, 64), torch.tensor([3])
    with pytest.raises(RuntimeError, match="block id outside the pool"):
        attention(q, kpool, vpool, torch.tensor([[0, 9]]), lens.new_tensor([6]), 4, 0.1)
    with pytest.raises(RuntimeError, match="row length"):
        attention(q, kpool, vpool, torch.tensor([[0]]), lens.new_tensor([5]), 4, 0.1)
    with pytest.raises(RuntimeError, match="slot outside the pool"):
        ops.rope_store_decode(torch.zeros(1, 4 * 64), torch.zeros(1, 32), torch.zeros(1, 32), kpool, vpool,
                              torch.tensor([8]), torch.tensor([[0]]), lens, 4, 0.1, 2)
