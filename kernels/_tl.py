"""Triton helpers shared by the kernels (not an op).

cast(y, DTYPE, INTERPRETED): y.to(DTYPE) rounding to nearest even, as GPUs do. Triton 3.9's interpreter truncates
fp32 -> bf16 casts and mis-rounds fp32 -> e4m3 casts whose mantissa carries into the exponent (127.2 -> 64), so
under the interpreter the value is first rounded in fp32 bit arithmetic; the cast that follows is then exact.

mma(a, b, acc, INTERPRETED): acc + a @ b with fp32 accumulation. fp32 operands use exact IEEE products (no TF32).
Triton 3.9's CPU interpreter multiplies bfloat16 tiles as their raw uint16 bits, so under the interpreter bf16
operands are widened to fp32 first (bf16 x bf16 products are exact in fp32, so the result matches a GPU's).
"""
import triton
import triton.language as tl


@triton.jit
def mma(a, b, acc, INTERPRETED: tl.constexpr):
    if INTERPRETED:
        if a.dtype == tl.bfloat16:
            a = a.to(tl.float32)
        if b.dtype == tl.bfloat16:
            b = b.to(tl.float32)
    if a.dtype == tl.float32:
        if b.dtype != tl.float32:
            b = b.to(tl.float32)
        return tl.dot(a, b, acc, input_precision="ieee")
    else:
        if b.dtype == tl.float32:
            a = a.to(tl.float32)
            return tl.dot(a, b, acc, input_precision="ieee")
        else:
            return tl.dot(a, b, acc)


def interpreted(t) -> bool:
    """True when a kernel launched on tensor t runs in Triton's CPU interpreter."""
    return not t.is_cuda


@triton.jit
def round_to_e4m3(y):
    """Round fp32 values (|y| <= 448) to the nearest e4m3 value, ties to even, staying in fp32.

    Used by cast() under the interpreter only; a GPU rounds in the conversion instruction itself.
    """
    bits = y.to(tl.int32, bitcast=True)
    e = ((bits >> 23) & 0xFF) - 127
    e = tl.maximum(e, -6)  # below 2^-6 e4m3 is subnormal with a fixed step of 2^-9
    ulp = ((e - 3 + 127) << 23).to(tl.float32, bitcast=True)
    v = y / ulp
    f = tl.floor(v)
    d = v - f
    odd = (f - 2.0 * tl.floor(f * 0.5)) != 0.0
    r = tl.where(d > 0.5, f + 1.0, tl.where(d < 0.5, f, tl.where(odd, f + 1.0, f)))
    return tl.where(r == 0.0, y * 0.0, r * ulp)  # keep the sign of values that round to zero


@triton.jit
def cast(y, DTYPE: tl.constexpr, INTERPRETED: tl.constexpr):
    if INTERPRETED:
        if DTYPE == tl.bfloat16:
            bits = y.to(tl.float32).to(tl.int32, bitcast=True)
            bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & -65536
            y = bits.to(tl.float32, bitcast=True)
        elif DTYPE == tl.float8e4nv:
            y = round_to_e4m3(y.to(tl.float32))
    return y.to(DTYPE)
