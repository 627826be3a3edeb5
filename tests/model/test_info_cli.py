"""`proofloop model info` on every family, through typer's CliRunner."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli import app

EXPECTED = {"deepseek_v3": ("mla", "moe"), "deepseek_v32": ("mla+dsa", "moe"), "deepseek_v2": ("mla", "moe"),
            "deepseek_v2_grouped": ("mla", "moe"),
            "llama": ("gqa", "dense"), "qwen2": ("gqa", "dense")}


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_model_info_json(checkpoints, family):
    path, ref_model = checkpoints[family]
    result = CliRunner().invoke(app, ["model", "info", str(path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["architecture"] == family.removesuffix("_grouped")
    assert (info["attention"], info["ffn"]) == EXPECTED[family]
    assert info["parameters"] == ref_model.num_parameters()
    assert info["layers"] == 2 and info["dtype"] == "float32"
    if info["ffn"] == "moe":
        assert info["routed_experts"] == 8 and info["experts_per_token"] == 2
        assert info["active_parameters"] == info["parameters"] - 6 * 3 * 64 * 32


def test_model_info_table_and_error(checkpoints, tmp_path):
    result = CliRunner().invoke(app, ["model", "info", str(checkpoints["deepseek_v32"][0])])
    assert result.exit_code == 0 and "mla+dsa" in result.output and "sigmoid/noaux_tc" in result.output
    result = CliRunner().invoke(app, ["model", "info", str(tmp_path)])
    assert result.exit_code == 2 and "config.json" in result.output


# DeepSeek-V3.2's published config.json (the fields that shape the model); no weights are needed for `model info`.
V32_CONFIG = {
    "model_type": "deepseek_v32", "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 128, "num_key_value_heads": 128,
    "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128,
    "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "n_group": 8, "topk_group": 4,
    "first_k_dense_replace": 3, "routed_scaling_factor": 2.5, "norm_topk_prob": True, "scoring_func": "sigmoid",
    "topk_method": "noaux_tc", "index_topk": 2048, "index_n_heads": 64, "index_head_dim": 128, "rope_theta": 10000,
    "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
                     "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
    "max_position_embeddings": 163840, "num_nextn_predict_layers": 1,
    "quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128],
                            "scale_fmt": "ue8m0"},
}


def test_model_info_full_size_v32(tmp_path):
    """The real architecture, counted on the meta device: V3's 671B plus 0.85B of lightning indexers."""
    (tmp_path / "config.json").write_text(json.dumps(V32_CONFIG))
    result = CliRunner().invoke(app, ["model", "info", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["parameters"] == 671_877_929_216
    assert (info["attention"], info["ffn"], info["moe_layers"], info["mtp_layers_skipped"]) == ("mla+dsa", "moe", 58, 1)
    assert info["dtype"] == "float8_e4m3fn (block 128x128, ue8m0 activation scales)" and info["rope"] == "yarn"
    from model.config import ModelConfig

    cfg = ModelConfig.from_hf(V32_CONFIG)
    assert cfg.fp8_block_size == (128, 128) and cfg.fp8_pow2_scales
