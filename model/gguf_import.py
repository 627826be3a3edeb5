"""Import a llama- or qwen2-architecture GGUF file (the demo models) as a Hugging Face checkpoint.

Done once per file: tensors are dequantized with the `gguf` package and written as float32 safetensors under HF
names, next to a config.json built from the GGUF metadata, a tokenizer.json and a tokenizer_config.json (with the
file's chat template), in a cache directory; `model.load` then reads it like any checkpoint.

llama.cpp's converter permutes the rows of attn_q / attn_k of llama models so that RoPE pairs become adjacent
(interleaved layout); we undo that here so the weights are in the NeoX layout our GQA (and transformers' Llama) uses.
qwen2 files keep the NeoX layout (llama.cpp runs them with NeoX RoPE), and carry q/k/v biases.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from model.embedded import cache_root
from model.errors import ModelError

LAYER_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}
ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}  # GGUF arch -> HF class
TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


def hf_name(gguf_name: str) -> str | None:
    base, _, kind = gguf_name.rpartition(".")  # kind: weight | bias
    if base in TOP_NAMES:
        return f"{TOP_NAMES[base]}.{kind}"
    parts = base.split(".")
    if len(parts) == 3 and parts[0] == "blk" and parts[2] in LAYER_NAMES:
        return f"model.layers.{parts[1]}.{LAYER_NAMES[parts[2]]}.{kind}"
    return None


def unpermute_rope_rows(w, n_heads: int):
    """Invert llama.cpp's row order for q/k: per head, rows (pair, half) -> (half, pair)."""
    rows = w.shape[0]
    return w.reshape(n_heads, rows // n_heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def convert(gguf_path: str | Path, out_dir: str | Path | None = None) -> Path:
    """Convert once: returns the checkpoint directory (reused when it already holds a finished conversion)."""
    import numpy as np
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors.torch import save_file

    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise ModelError(f"{gguf_path}: no such GGUF file")
    stat = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    out = Path(out_dir) if out_dir else cache_root() / "gguf" / f"{gguf_path.stem}-{key}"
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        return out

    try:
        reader = GGUFReader(str(gguf_path))
    except Exception as e:
        raise ModelError(f"{gguf_path}: not a readable GGUF file ({e})") from e
    meta = {name: field.contents() for name, field in reader.fields.items()
            if not name.startswith("tokenizer.ggml.") or name.endswith("_token_id")}  # not the vocabulary lists
    arch = meta.get("general.architecture")
    if arch not in ARCHITECTURES:
        raise ModelError(f"{gguf_path}: GGUF architecture {arch!r} is not supported "
                         f"(supported: {', '.join(ARCHITECTURES)})")
    a = lambda key: meta[f"{arch}.{key}"]  # noqa: E731  metadata keys are prefixed by the architecture
    heads, kv_heads = a("attention.head_count"), a("attention.head_count_kv")

    from rich.console import Console
    from rich.progress import track

    tensors = {}
    for t in track(reader.tensors, description=f"converting {gguf_path.name} (once)", transient=True,
                   console=Console(stderr=True)):
        name = hf_name(t.name)
        if name is None:
            if t.name == "rope_freqs.weight":
                raise ModelError(f"{gguf_path}: rope_freqs (llama3 rope scaling) is not supported")
            continue
        w = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(tuple(reversed(t.shape.tolist())))
        if arch == "llama" and name.endswith("q_proj.weight"):
            w = unpermute_rope_rows(w, heads)
        elif arch == "llama" and name.endswith("k_proj.weight"):
            w = unpermute_rope_rows(w, kv_heads)
        tensors[name] = torch.from_numpy(np.ascontiguousarray(w))
    hidden = a("embedding_length")
    tied = "lm_head.weight" not in tensors
    config = {
        "model_type": arch, "architectures": [ARCHITECTURES[arch]],
        "vocab_size": int(tensors["model.embed_tokens.weight"].shape[0]),
        "hidden_size": hidden, "intermediate_size": a("feed_forward_length"),
        "num_hidden_layers": a("block_count"), "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "head_dim": meta.get(f"{arch}.attention.key_length", hidden // heads),
        "rms_norm_eps": a("attention.layer_norm_rms_epsilon"),
        "rope_theta": meta.get(f"{arch}.rope.freq_base", 10000.0),
        "max_position_embeddings": meta.get(f"{arch}.context_length", 2048),
        "attention_bias": "model.layers.0.self_attn.q_proj.bias" in tensors,
        "tie_word_embeddings": tied, "dtype": "float32",
        "bos_token_id": meta.get("tokenizer.ggml.bos_token_id"),
        "eos_token_id": meta.get("tokenizer.ggml.eos_token_id"),
        "source_gguf": gguf_path.name,
    }

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(tensors, str(tmp / "model.safetensors"))
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    _write_tokenizer(gguf_path, reader, tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def _write_tokenizer(gguf_path: Path, reader, out: Path) -> None:
    """tokenizer.json via transformers' GGUF tokenizer conversion (BPE vocab + merges + pre-tokenizer)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    tok.backend_tokenizer.save(str(out / "tokenizer.json"))

    def field(name):
        f = reader.fields.get(name)
        return f.contents() if f is not None else None

    tokens = reader.fields["tokenizer.ggml.tokens"]
    vocab = lambda i: None if i is None else str(tokens.contents(int(i)))  # noqa: E731
    config = {"bos_token": vocab(field("tokenizer.ggml.bos_token_id")),
              "eos_token": vocab(field("tokenizer.ggml.eos_token_id")),
              "pad_token": vocab(field("tokenizer.ggml.padding_token_id")),
              "add_bos_token": bool(field("tokenizer.ggml.add_bos_token")),
              "chat_template": field("tokenizer.chat_template")}
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))
