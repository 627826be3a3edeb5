"""Fixtures for the engine tests: tiny random checkpoints (DeepseekV3, DeepseekV32 with sparsity active, Llama)."""
from __future__ import annotations

import json

import pytest
import torch
from tiny_models import TEMPLATE, build, byte_tokenizer, spread


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """{family: (checkpoint dir, transformers model)}"""
    out = {}
    for seed, family in enumerate(["llama", "deepseek_v3", "deepseek_v32"]):
        torch.manual_seed(seed)
        model = build(family).eval()
        spread(model, seed)
        path = tmp_path_factory.mktemp(family)
        model.save_pretrained(path)
        byte_tokenizer().save(str(path / "tokenizer.json"))
        (path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "w3", "chat_template": TEMPLATE}))
        out[family] = (path, model)
    return out
