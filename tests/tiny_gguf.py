"""A tiny random qwen2 GGUF written with the `gguf` package: a byte-level BPE tokenizer with a chat template, and
tensors in the quant types Qwen2.5-Coder's Q4_K_M file uses (Q4_K, Q5_0, Q6_K, Q8_0). Used to test the GGUF
importer, and as a tiny model whose tokenizer can spell any text (grammar-constrained decoding)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

HIDDEN, FFN, LAYERS, HEADS, KV_HEADS, HEAD_DIM = 256, 512, 2, 4, 2, 64  # K-quants need rows of 256 values
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def byte_chars() -> list[str]:
    """The byte-level BPE alphabet: printable bytes as themselves, the rest shifted past 255 (GPT-2's scheme)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    shifted, extra = [], 0
    for b in range(256):
        if b in keep:
            shifted.append(chr(b))
        else:
            shifted.append(chr(256 + extra))
            extra += 1
    return shifted


def quantized(kind, rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """Random blocks of a quant type with small, finite f16 scales: [rows, bytes per row] as uint8."""
    from gguf import GGMLQuantizationType as Q
    from gguf.quants import GGML_QUANT_SIZES

    block, size = GGML_QUANT_SIZES[kind]
    blocks = rng.integers(0, 256, size=(rows * cols // block, size), dtype=np.uint8)
    scale = lambda: rng.uniform(0.001, 0.01, size=(blocks.shape[0], 1)).astype(np.float16).view(np.uint8)  # noqa: E731
    if kind in (Q.Q8_0, Q.Q5_0):
        blocks[:, 0:2] = scale()
    elif kind == Q.Q4_K:
        blocks[:, 0:2], blocks[:, 2:4] = scale(), scale()
    elif kind == Q.Q6_K:
        blocks[:, 208:210] = scale()
        blocks[:, 192:208] = rng.integers(-8, 8, size=(blocks.shape[0], 16), dtype=np.int8).view(np.uint8)
    return blocks.reshape(rows, -1)


def write_tiny_qwen2(path: Path, seed: int = 0) -> Path:
    from gguf import GGMLQuantizationType as Q, GGUFWriter

    rng = np.random.default_rng(seed)
    tokens = byte_chars() + ["Ġt", "he", "Ġthe"] + SPECIAL
    merges = ["Ġ t", "h e", "Ġt he"]
    vocab = len(tokens)
    w = GGUFWriter(str(path), "qwen2")
    w.add_block_count(LAYERS)
    w.add_context_length(512)
    w.add_embedding_length(HIDDEN)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_freq_base(1_000_000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types([1] * (vocab - len(SPECIAL)) + [3] * len(SPECIAL))
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index("<|endoftext|>"))
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_pad_token_id(tokens.index("<|endoftext|>"))
    w.add_add_bos_token(False)
    w.add_chat_template(TEMPLATE)

    def add(name, kind, rows, cols):
        if kind == Q.F32:
            w.add_tensor(name, rng.normal(1.0, 0.1, size=(rows, cols) if rows > 1 else (cols,)).astype(np.float32))
        else:
            w.add_tensor(name, quantized(kind, rows, cols, rng), raw_dtype=kind)

    add("token_embd.weight", Q.Q5_0, vocab, HIDDEN)
    add("output.weight", Q.Q8_0, vocab, HIDDEN)
    add("output_norm.weight", Q.F32, 1, HIDDEN)
    for i in range(LAYERS):
        b = f"blk.{i}."
        add(b + "attn_norm.weight", Q.F32, 1, HIDDEN)
        add(b + "ffn_norm.weight", Q.F32, 1, HIDDEN)
        add(b + "attn_q.weight", Q.Q4_K, HEADS * HEAD_DIM, HIDDEN)
        add(b + "attn_k.weight", Q.Q5_0, KV_HEADS * HEAD_DIM, HIDDEN)
        add(b + "attn_v.weight", Q.Q8_0, KV_HEADS * HEAD_DIM, HIDDEN)
        for proj, n in (("q", HEADS), ("k", KV_HEADS), ("v", KV_HEADS)):
            w.add_tensor(b + f"attn_{proj}.bias", rng.normal(0, 0.1, size=n * HEAD_DIM).astype(np.float32))
        add(b + "attn_output.weight", Q.Q4_K, HIDDEN, HEADS * HEAD_DIM)
        add(b + "ffn_gate.weight", Q.Q5_0, FFN, HIDDEN)
        add(b + "ffn_up.weight", Q.Q4_K, FFN, HIDDEN)
        add(b + "ffn_down.weight", Q.Q6_K, HIDDEN, FFN)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


