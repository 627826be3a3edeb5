"""The C++ CPU kernels (model/native.py) against torch on the same inputs: the decode GEMM over packed panels and
paged decode attention, on the shapes and edges the engine gives them (ragged row counts and lengths, a partial
last panel, odd block sizes, grouped heads). Skipped where the extension cannot be built."""
import pytest
import torch

from model import cpu_gemm, paged_attention_cpu

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
