"""The C++ CPU kernels (decode GEMM, paged attention, fused layer ops), one extension built on first use."""
