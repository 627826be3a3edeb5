"""The model's layers: the transformer, attention (MLA, GQA), MoE, MLP, norms, RoPE, FP8 linears, CPU fast paths."""
