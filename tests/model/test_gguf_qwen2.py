"""The GGUF importer on a qwen2 file with the quant types Qwen2.5-Coder-0.5B's Q4_K_M uses (Q4_K, Q5_0, Q6_K, Q8_0):
a tiny random file written with the `gguf` package, imported by us, checked tensor by tensor against the package's
own dequantization and logit by logit against transformers' GGUF loading into its Qwen2ForCausalLM."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tiny_gguf import FFN, HEADS, HIDDEN, KV_HEADS, LAYERS, SPECIAL, byte_chars, write_tiny_qwen2

import model
from model.engine.chat import ChatFormat
from model.gguf_import import convert


@pytest.fixture(scope="module")
def qwen2_gguf(tmp_path_factory):
    path = write_tiny_qwen2(tmp_path_factory.mktemp("gguf") / "tiny-qwen2.gguf")
    return path, convert(path, tmp_path_factory.mktemp("converted") / "tiny-qwen2")


def test_config_from_qwen2_metadata(qwen2_gguf):
    _, out = qwen2_gguf
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["model_type"], cfg["architectures"], cfg["attention_bias"]) == ("qwen2", ["Qwen2ForCausalLM"], True)
    assert (cfg["hidden_size"], cfg["num_key_value_heads"], cfg["rope_theta"]) == (HIDDEN, KV_HEADS, 1_000_000.0)
    assert cfg["eos_token_id"] == len(byte_chars()) + 3 + 2 and not cfg["tie_word_embeddings"]


def test_every_tensor_is_the_gguf_packages_dequantization(qwen2_gguf):
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors.numpy import load_file

    path, out = qwen2_gguf
    ours = load_file(str(out / "model.safetensors"))
    reader = GGUFReader(str(path))
    kinds = set()
    for t in reader.tensors:
        kinds.add(t.tensor_type.name)
        expected = dequantize(t.data, t.tensor_type).reshape(tuple(reversed(t.shape.tolist())))
        name = {"token_embd.weight": "model.embed_tokens.weight", "output.weight": "lm_head.weight",
                "output_norm.weight": "model.norm.weight"}.get(t.name)
        if name is None:
            layer, part, kind = t.name.split(".")[1:]
            name = next(k for k in ours if k.startswith(f"model.layers.{layer}.") and
                        k.endswith(f"{_HF_PART[part]}.{kind}"))
        assert np.array_equal(ours[name], expected), t.name  # qwen2: no row permutation, bit-exact
    assert kinds == {"Q4_K", "Q5_0", "Q6_K", "Q8_0", "F32"}


_HF_PART = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "q_proj",
            "attn_k": "k_proj", "attn_v": "v_proj", "attn_output": "o_proj", "ffn_gate": "gate_proj",
            "ffn_up": "up_proj", "ffn_down": "down_proj"}


def test_logits_match_transformers_gguf_loading(qwen2_gguf):
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    path, out = qwen2_gguf
    vocab = len(byte_chars()) + 3 + len(SPECIAL)
    ref = Qwen2ForCausalLM(Qwen2Config(vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=FFN,
                                       num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                       num_key_value_heads=KV_HEADS, rope_theta=1_000_000.0, rms_norm_eps=1e-6,
                                       max_position_embeddings=512, tie_word_embeddings=False))
    tensors = load_gguf_checkpoint(str(path), return_tensors=True, model_to_load=ref)["tensors"]
    missing, unexpected = ref.load_state_dict(tensors, strict=False)
    assert not missing and not unexpected
    fmt = ChatFormat.from_checkpoint(out)
    ids = torch.tensor([fmt.encode([{"role": "user", "content": "the theorem"}])])
    assert ids.shape[1] > 10
    with torch.no_grad():
        expected = ref.eval()(ids).logits
    got = model.load(out)(ids)
    err = float((got - expected).abs().max() / expected.abs().max())
    assert err <= 1e-4, err


def test_tokenizer_and_chat_template_from_metadata(qwen2_gguf):
    _, out = qwen2_gguf
    fmt = ChatFormat.from_checkpoint(out)
    text = fmt.prompt([{"role": "user", "content": "the theorem"}])
    assert text == "<|im_start|>user\nthe theorem<|im_end|>\n<|im_start|>assistant\n"
    ids = fmt.tokenizer.encode(text)
    assert fmt.tokenizer.decode(ids) == text and ids[0] == fmt.tokenizer.token_id("<|im_start|>")
    assert fmt.tokenizer.token_id("Ġthe") in ids  # the merges are applied
    assert fmt.stop_token_ids == [fmt.tokenizer.token_id("<|im_end|>")]
