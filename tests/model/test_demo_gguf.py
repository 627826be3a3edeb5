"""The demo model (SmolLM2-135M-Instruct, Q4_1 GGUF): our import against transformers' own GGUF loading."""
from __future__ import annotations

import json
import time

import torch
from typer.testing import CliRunner

import model
from cli import app
from model.engine.chat import ChatFormat

MESSAGES = [{"role": "user", "content": "Prove that the sum of two odd numbers is even."}]


def transformers_reference(gguf):
    """transformers' GGUF path (dequantize + undo llama.cpp's q/k permutation) into its own LlamaForCausalLM."""
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    # SmolLM2-135M's published shape (reading the GGUF metadata again would cost another parse of the file)
    cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, rope_theta=100000.0, rms_norm_eps=1e-5,
                      max_position_embeddings=8192, tie_word_embeddings=True)
    ref = LlamaForCausalLM(cfg)
    tensors = load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=ref)["tensors"]
    missing, unexpected = ref.load_state_dict(tensors, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}
    return ref.eval()


def test_demo_logits_match_transformers_gguf(demo):
    gguf, path = demo
    start = time.perf_counter()
    ours = model.load(path)
    print(f"demo load {time.perf_counter() - start:.2f}s")
    fmt = ChatFormat.from_checkpoint(path)
    ids = torch.tensor([fmt.encode(MESSAGES)])
    assert ids.shape[1] > 20
    ref = transformers_reference(gguf)
    with torch.no_grad():
        expected = ref(ids).logits
    got = ours(ids)
    err = float((got - expected).abs().max() / expected.abs().max())
    print(f"demo parity {err:.2e}")
    assert err <= 1e-4
    assert ours.config.tie_word_embeddings and ours.num_parameters() == 134_515_008


def test_demo_tokenizer_and_template(demo):
    _, path = demo
    fmt = ChatFormat.from_checkpoint(path)
    text = fmt.prompt(MESSAGES)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    ids = fmt.tokenizer.encode(text)
    assert ids[0] == fmt.tokenizer.token_id("<|im_start|>") == 1
    assert fmt.tokenizer.decode(ids) == text
    assert fmt.stop_token_ids == [2]


def test_demo_model_info_from_gguf(demo):
    gguf, _ = demo
    result = CliRunner().invoke(app, ["model", "info", str(gguf), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert (info["architecture"], info["attention"], info["ffn"], info["layers"]) == ("llama", "gqa", "dense", 30)
    assert info["parameters"] == 134_515_008
