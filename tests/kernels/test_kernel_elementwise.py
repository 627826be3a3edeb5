"""hadamard, act_quant, rmsnorm and rope: Triton (interpreter) against the references."""
import math

import pytest
import torch

from kernels.act_quant import act_quant_ref, act_quant_triton
from kernels.hadamard import hadamard_ref, hadamard_triton
from kernels.rmsnorm import rmsnorm_ref, rmsnorm_triton
from kernels.rope import rope_ref, rope_triton


def _sylvester(d):
    h = torch.ones(1, 1)
    while h.shape[0] < d:
        h = torch.cat((torch.cat((h, h), 1), torch.cat((h, -h), 1)), 0)
    return h


@pytest.mark.parametrize("d", [1, 2, 8, 32, 128])
def test_hadamard_ref_is_sylvester_matrix(d):
    x = torch.randn(3, d, dtype=torch.float64)
    want = x @ _sylvester(d).double() / math.sqrt(d)
    torch.testing.assert_close(hadamard_ref(x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1), (5, 16), (2, 37, 64), (70, 128)])
def test_hadamard_triton(shape):
    torch.manual_seed(0)
    x = torch.randn(*shape)
    torch.testing.assert_close(hadamard_triton(x), hadamard_ref(x), rtol=1e-5, atol=1e-5)


def test_hadamard_triton_bf16_and_empty():
    x = torch.randn(9, 64).bfloat16()
    torch.testing.assert_close(hadamard_triton(x).float(), hadamard_ref(x).float(), rtol=2e-2, atol=2e-2)
    assert hadamard_triton(torch.empty(0, 32)).shape == (0, 32)


def test_hadamard_is_orthogonal():
    x = torch.randn(4, 128, dtype=torch.float64)
    torch.testing.assert_close(hadamard_ref(hadamard_ref(x)), x)


@pytest.mark.parametrize("pow2", [True, False])
@pytest.mark.parametrize("shape,block", [((3, 256), 128), ((7, 200), 128), ((2, 3, 40), 32), ((1, 1), 128)])
def test_act_quant_exact(shape, block, pow2):
    torch.manual_seed(1)
    x = torch.randn(*shape) * 3
    if x.numel() > 4:
        x.view(-1)[3] = 0.0
        x.view(-1)[4] = -1e-5  # rounds to -0 in fp8
    yq, ys = act_quant_triton(x, block, pow2)
    rq, rs = act_quant_ref(x, block, pow2)
    assert yq.dtype == torch.float8_e4m3fn and ys.dtype == torch.float32
    assert ys.shape == (*shape[:-1], -(-shape[-1] // block))
    assert torch.equal(ys, rs)
    assert torch.equal(yq.view(torch.uint8), rq.view(torch.uint8))


def test_act_quant_scale_rules():
    x = torch.zeros(2, 128)
    x[1, 5] = 448.0 * 3  # amax / 448 = 3 -> rounded up to 4
    _, s = act_quant_ref(x)
    assert s[0, 0].item() == 2.0 ** math.ceil(math.log2(1e-4 / 448))  # amax floor
    assert s[1, 0].item() == 4.0
    _, s = act_quant_ref(x, pow2_scale=False)
    assert s[1, 0].item() == 3.0
    x[1, 6] = -1000.0
    q, s = act_quant_triton(x)
    assert q[1, 5].float().item() == 320.0  # 336 is a tie between 320 and 352: to even
    assert q[1, 6].float().item() == -256.0  # -250 -> nearest e4m3 value


def test_act_quant_pow2_rounding_edges():
    """amax / 448 one ulp above a power of two must round up to the next power; exact powers stay."""
    from kernels.act_quant import _ceil_pow2_fp32

    one_up = torch.nextafter(torch.tensor(1.0), torch.tensor(2.0))
    got = _ceil_pow2_fp32(torch.stack([torch.tensor(1.0), one_up, torch.tensor(1.5), torch.tensor(2.0 ** -20),
                                       torch.tensor(3.0)]))
    assert got.tolist() == [1.0, 2.0, 2.0, 2.0 ** -20, 4.0]
    x = torch.zeros(3, 128)
    x[0, 7] = (one_up * 448).item()           # amax / 448 == 1 + 2^-23 exactly -> scale 2
    x[1, 9] = -448.0 * 0.25                   # exactly 2^-2 -> stays
    x[2, 1] = (torch.nextafter(torch.tensor(0.25), torch.tensor(1.0)) * 448).item()
    _, s = act_quant_triton(x)
    assert s[:, 0].tolist() == [2.0, 0.25, 0.5]
    assert torch.equal(s, act_quant_ref(x)[1])


def test_act_quant_dequantizes_close():
    x = torch.randn(4, 256)
    q, s = act_quant_triton(x)
    back = q.float() * s.repeat_interleave(128, dim=1)
    torch.testing.assert_close(back, x, rtol=0.07, atol=1e-3)


@pytest.mark.parametrize("shape", [(1, 1), (5, 33), (3, 4, 100)])
@pytest.mark.parametrize("with_res", [False, True])
def test_rmsnorm(shape, with_res):
    torch.manual_seed(2)
    x = torch.randn(*shape)
    w = torch.randn(shape[-1])
    r = torch.randn(*shape) if with_res else None
    got = rmsnorm_triton(x, w, 1e-6, r)
    want = rmsnorm_ref(x, w, 1e-6, r)
    if with_res:
        torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got[1], want[1])
        torch.testing.assert_close(want[1], x + r)
    else:
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_rmsnorm_bf16_residual_rounding():
    x = torch.randn(6, 48).bfloat16()
    r = torch.randn(6, 48).bfloat16()
    w = torch.rand(48).bfloat16()
    y, h = rmsnorm_triton(x, w, 1e-5, r)
    y_ref, h_ref = rmsnorm_ref(x, w, 1e-5, r)
    assert torch.equal(h, h_ref) and torch.equal(h, x + r)
    torch.testing.assert_close(y.float(), y_ref.float(), rtol=1e-2, atol=1e-2)


def _angles(t, half, base=10000.0):
    inv = base ** (-torch.arange(half).float() / half)
    ang = torch.arange(t).float()[:, None] * inv[None, :] + 0.3
    return ang.cos(), ang.sin()


@pytest.mark.parametrize("interleaved", [True, False])
@pytest.mark.parametrize("t,h,d", [(1, 1, 2), (5, 3, 64), (4, 1, 10)])
def test_rope(t, h, d, interleaved):
    torch.manual_seed(3)
    x = torch.randn(t, h, d)
    c, s = _angles(t, d // 2)
    torch.testing.assert_close(rope_triton(x, c, s, interleaved), rope_ref(x, c, s, interleaved),
                               rtol=1e-5, atol=1e-5)


def test_rope_layouts_match_complex_and_rotate_half():
    t, h, d = 3, 2, 8
    x = torch.randn(t, h, d, dtype=torch.float64)
    c, s = _angles(t, d // 2)
    c, s = c.double(), s.double()
    z = torch.view_as_complex(x.view(t, h, d // 2, 2)) * torch.polar(torch.ones_like(c), torch.atan2(s, c))[:, None]
    torch.testing.assert_close(rope_ref(x, c, s, True), torch.view_as_real(z).flatten(-2))
    cc, ss = torch.cat((c, c), -1)[:, None], torch.cat((s, s), -1)[:, None]
    rot = torch.cat((-x[..., d // 2:], x[..., :d // 2]), -1)
    torch.testing.assert_close(rope_ref(x, c, s, False), x * cc + rot * ss)


def test_rope_strided_view():
    x = torch.randn(4, 3, 96)[..., 32:]  # the rope slice of a wider row, not contiguous
    c, s = _angles(4, 32)
    torch.testing.assert_close(rope_triton(x, c, s, False), rope_ref(x, c, s, False), rtol=1e-5, atol=1e-5)


def test_act_quant_every_e4m3_value_and_midpoint():
    """Values and midpoints of the whole e4m3 grid at scale 1: casts must round to nearest even, exactly."""
    grid = torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).float()
    grid = torch.sort(grid[torch.isfinite(grid)]).values
    mids = (grid[1:] + grid[:-1]) / 2
    x = torch.cat([grid, mids, mids * (1 + 1e-6), mids * (1 - 1e-6), torch.tensor([-1e-5, 1e-5])])
    x = torch.nn.functional.pad(x, (0, -x.numel() % 127)).view(-1, 127)
    x = torch.cat([torch.full((x.shape[0], 1), 448.0), x], dim=1)  # amax 448 -> scale 1
    q, s = act_quant_triton(x)
    rq, rs = act_quant_ref(x)
    assert torch.all(s == 1.0)
    assert torch.equal(q.view(torch.uint8), rq.view(torch.uint8))
    assert torch.equal(rq.view(torch.uint8), x.to(torch.float8_e4m3fn).view(torch.uint8))
