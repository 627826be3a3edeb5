"""Our top-level package is named `kernels`, like the Hugging Face hub-kernels library that transformers probes for.

transformers 5.x asks `is_kernels_available()`: importlib.util.find_spec("kernels") finds ours; the version comes
from importlib.metadata ("kernels", then the distribution owning the name, i.e. proofloop 0.1.0 when installed),
or, with no metadata at all, from importing the package and reading __version__ (ours has none -> "N/A"). Either
way the version is outside [0.18.2, 0.19), so it answers False and never does `from kernels import get_kernel`.
"""
import importlib.util

import pytest
import torch

transformers = pytest.importorskip("transformers")


def test_transformers_does_not_take_ours_for_hub_kernels():
    from transformers.utils import import_utils

    spec = importlib.util.find_spec("kernels")
    assert spec is not None and spec.origin.endswith("kernels/__init__.py")
    found, version = import_utils._is_package_available("kernels", return_version=True)
    assert found and version in ("N/A", "0.1.0")  # no metadata / proofloop's own version when installed
    assert import_utils.is_kernels_available() is False
    import transformers.integrations.hub_kernels  # noqa: F401  (imports cleanly next to ours)


def test_tiny_llama_forward_with_our_kernels_importable():
    from transformers import LlamaConfig, LlamaForCausalLM

    import kernels  # ours, already importable when transformers builds the model

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model = LlamaForCausalLM(cfg).eval()
    ids = torch.randint(0, 64, (2, 9))
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert logits.shape == (2, 9, 64) and torch.isfinite(logits).all()
    # and our ops still work in the same process, e.g. the model's RMSNorm equals ours
    h = torch.randn(2, 9, 32)
    norm = model.model.norm
    torch.testing.assert_close(kernels.rmsnorm(h, norm.weight.detach(), norm.variance_epsilon), norm(h).detach())
