"""Checkpoint loading: shards and index, MTP layers, FP8 blocks, and clear errors for broken checkpoints."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

import model
from model.errors import ModelError
from model.layers.quant import FP8, dequantize_fp8_blocks, quantize_fp8_blocks


def copy_checkpoint(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_sharded_checkpoint_with_index(checkpoints, tokens, tmp_path):
    _, ref_model = checkpoints["llama"]
    ref_model.save_pretrained(tmp_path, max_shard_size="40KB")
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    with torch.no_grad():
        ref = ref_model(tokens).logits
    assert torch.allclose(model.load(tmp_path)(tokens), ref, atol=1e-4 * float(ref.abs().max()))


def test_mtp_layer_is_skipped(checkpoints, tokens, tmp_path):
    path = copy_checkpoint(checkpoints["deepseek_v3"][0], tmp_path / "ckpt")
    names = list(load_file(path / "model.safetensors"))
    save_file({"model.layers.2.eh_proj.weight": torch.zeros(64, 128),
               "model.layers.2.self_attn.kv_b_proj.weight": torch.zeros(3, 3)}, path / "mtp.safetensors")
    weight_map = {n: "model.safetensors" for n in names}
    weight_map.update({"model.layers.2.eh_proj.weight": "mtp.safetensors",
                       "model.layers.2.self_attn.kv_b_proj.weight": "mtp.safetensors"})
    (path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    plain = model.load(checkpoints["deepseek_v3"][0])
    assert torch.equal(model.load(path)(tokens), plain(tokens))


def test_fp8_block_roundtrip_is_within_fp8_error():
    w = torch.randn(200, 300) * torch.logspace(-2, 1, 300)
    q, s = quantize_fp8_blocks(w, (128, 128))
    assert q.dtype == FP8 and s.shape == (2, 3)
    back = dequantize_fp8_blocks(q, s, (128, 128))
    step = s.repeat_interleave(128, 0)[:200].repeat_interleave(128, 1)[:, :300] * 2.0 ** -9  # subnormal spacing
    assert ((back - w).abs() <= w.abs() * 2.0 ** -4 + step).all()


def test_fp8_checkpoint_dequantizes(checkpoints, tokens, tmp_path):
    """Quantize every projection of the V3.2 checkpoint to FP8 16x16 blocks (ragged edges included), as DeepSeek
    ships them (norms, gate, indexer weights_proj, embeddings and lm_head stay high precision)."""
    src, _ = checkpoints["deepseek_v32"]
    path = copy_checkpoint(src, tmp_path / "fp8")
    tensors = load_file(path / "model.safetensors")
    out, originals = {}, {}
    for name, t in tensors.items():
        quantize = (t.dim() == 2 and name.endswith("proj.weight") and "weights_proj" not in name) or \
            name.endswith(("wq_b.weight", "wk.weight"))
        if quantize:
            out[name], out[name + "_scale_inv"] = quantize_fp8_blocks(t, (16, 16))
            originals[name] = t
        else:
            out[name] = t
    assert any(".experts." in n for n in originals) and any("kv_b_proj" in n for n in originals)
    save_file(out, path / "model.safetensors")
    cfg = json.loads((path / "config.json").read_text())
    cfg["quantization_config"] = {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                                  "weight_block_size": [16, 16]}
    (path / "config.json").write_text(json.dumps(cfg))

    loaded = model.load(path)
    params = dict(loaded.named_parameters())
    for name, w in originals.items():
        got = params[name]
        scale = out[name + "_scale_inv"].repeat_interleave(16, 0)[:w.shape[0]].repeat_interleave(16, 1)[:, :w.shape[1]]
        assert ((got - w).abs() <= w.abs() * 2.0 ** -4 + scale * 2.0 ** -9).all(), name
        assert not torch.equal(got, w), f"{name} was not quantized"
    # FP8 noise flips some of the 4-of-12 DSA choices, so the end-to-end check runs both with dense selection
    exact = model.load(src)
    for m in (loaded, exact):
        for layer in m.model.layers:
            layer.self_attn.indexer.index_topk = 1_000
    cosine = torch.nn.functional.cosine_similarity(loaded(tokens).flatten(), exact(tokens).flatten(), dim=0)
    assert cosine > 0.98


def test_keep_fp8(checkpoints, tokens, tmp_path):
    """keep_fp8 holds the FP8 weights as they are and computes what the widened weights compute."""
    from model.layers.fp8_linear import FP8Linear

    src, _ = checkpoints["deepseek_v32"]
    path = copy_checkpoint(src, tmp_path / "fp8")
    tensors = load_file(path / "model.safetensors")
    out = {}
    for name, t in tensors.items():
        if name.endswith(("kv_b_proj.weight", "up_proj.weight", "wq_b.weight")):
            out[name], out[name + "_scale_inv"] = quantize_fp8_blocks(t, (16, 16))
        else:
            out[name] = t
    save_file(out, path / "model.safetensors")
    cfg = json.loads((path / "config.json").read_text())
    cfg["quantization_config"] = {"quant_method": "fp8", "weight_block_size": [16, 16]}
    (path / "config.json").write_text(json.dumps(cfg))
    kept = model.load(path, dtype=torch.bfloat16, keep_fp8=True)
    attn = kept.model.layers[1].self_attn
    assert isinstance(attn.kv_b_proj, FP8Linear) and attn.kv_b_proj.weight.dtype == FP8
    assert isinstance(kept.model.layers[1].mlp.experts[5].up_proj, FP8Linear)
    assert isinstance(attn.indexer.wq_b, FP8Linear) and not isinstance(attn.o_proj, FP8Linear)
    assert not attn.kv_b_proj.pow2_scales
    cfg["quantization_config"]["scale_fmt"] = "ue8m0"
    (path / "config.json").write_text(json.dumps(cfg))
    assert model.load(path, dtype=torch.bfloat16, keep_fp8=True).model.layers[1].self_attn.kv_b_proj.pow2_scales
    cfg["quantization_config"].pop("scale_fmt")
    (path / "config.json").write_text(json.dumps(cfg))
    widened = model.load(path, dtype=torch.bfloat16)
    assert widened.model.layers[1].mlp.w13 is not None and kept.model.layers[1].mlp.w13 is None
    # Same weights; only the routed experts differ in rounding: the widened ones run fused (kernels.fused_moe,
    # float32 accumulation), the FP8 ones one by one in bf16. Layer 1 is the last, so no DSA choice depends on it.
    for absorb in (None, True):
        want = widened(tokens, absorb=absorb)
        assert (kept(tokens, absorb=absorb) - want).abs().max() <= 1e-2 * want.abs().max()
    with pytest.raises(ModelError, match="keep_fp8 needs"):
        model.load(path, keep_fp8=True)


def test_bf16_mode_runs_the_fp8_indexer(checkpoints, tokens):
    ours = model.load(checkpoints["deepseek_v32"][0], dtype=torch.bfloat16)
    assert ours.model.layers[0].self_attn.indexer.fp8
    assert ours.model.layers[1].mlp.gate.e_score_correction_bias.dtype == torch.float32
    exact = model.load(checkpoints["deepseek_v32"][0])(tokens)
    got = ours(tokens)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    # bf16 weights and FP8 index scores change some top-k choices, so only the gross agreement is checked
    agree = (got.argmax(-1) == exact.argmax(-1)).float().mean()
    assert agree > 0.6


def test_parameter_count_matches_transformers(checkpoints):
    for family, (path, ref_model) in checkpoints.items():
        assert model.load(path).num_parameters() == ref_model.num_parameters(), family


def _break(path, fn):
    tensors = load_file(path / "model.safetensors")
    fn(tensors)
    save_file(tensors, path / "model.safetensors")


def test_missing_tensor_is_named(checkpoints, tmp_path):
    path = copy_checkpoint(checkpoints["deepseek_v3"][0], tmp_path / "c")
    _break(path, lambda t: t.pop("model.layers.1.mlp.experts.3.up_proj.weight"))
    with pytest.raises(ModelError, match=r"model\.layers\.1\.mlp\.experts\.3\.up_proj\.weight.*missing.*\(32, 64\)"):
        model.load(path)


def test_misshaped_tensor_names_expected_and_actual(checkpoints, tmp_path):
    path = copy_checkpoint(checkpoints["deepseek_v32"][0], tmp_path / "c")
    _break(path, lambda t: t.__setitem__("model.layers.0.self_attn.kv_b_proj.weight", torch.zeros(100, 24)))
    with pytest.raises(ModelError, match=r"kv_b_proj\.weight has shape \(100, 24\), expected \(112, 24\)"):
        model.load(path)


def test_unexpected_tensor_is_named(checkpoints, tmp_path):
    path = copy_checkpoint(checkpoints["llama"][0], tmp_path / "c")
    _break(path, lambda t: t.__setitem__("model.layers.0.self_attn.q_norm.weight", torch.ones(16)))
    with pytest.raises(ModelError, match=r"unexpected tensor model\.layers\.0\.self_attn\.q_norm\.weight"):
        model.load(path)


@pytest.mark.parametrize("damage", ["header", "truncate"])
def test_corrupted_file_is_a_clear_error(checkpoints, tmp_path, damage):
    path = copy_checkpoint(checkpoints["qwen2"][0], tmp_path / "c")
    f = path / "model.safetensors"
    data = f.read_bytes()
    f.write_bytes(b"\xff" * 16 + data[16:] if damage == "header" else data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"model\.safetensors"):
        model.load(path)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(ModelError, match="config.json"):
        model.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ModelError, match="gpt2.*not supported"):
        model.load(tmp_path)
