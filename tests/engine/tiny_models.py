"""Helpers for the engine tests: tiny random models (DeepseekV3, DeepseekV32 with sparsity active, Llama), a word-level
tokenizer so string prompts and stop strings work, and transformers' greedy generation as the reference."""
from __future__ import annotations

import torch

VOCAB = 128
BASE = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=512, bos_token_id=None, eos_token_id=None, pad_token_id=None)
MLA = dict(kv_lora_rank=32, q_lora_rank=48, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
           moe_intermediate_size=32, n_routed_experts=4, n_shared_experts=1, num_experts_per_tok=2,
           first_k_dense_replace=1, n_group=2, topk_group=1, num_key_value_heads=4)


# chat turns as words: "w1 <content> w2" per message, "w4" opens the reply; w3 ends it
TEMPLATE = ("{% for m in messages %}w1 {{ m['content'] }} w2 {% endfor %}"
            "{% if add_generation_prompt %}w4{% endif %}")


def build(family: str):
    import transformers as tf

    if family == "llama":
        return tf.LlamaForCausalLM(tf.LlamaConfig(**BASE, num_key_value_heads=2))
    if family == "deepseek_v3":
        return tf.DeepseekV3ForCausalLM(tf.DeepseekV3Config(**BASE, **MLA))
    if family == "deepseek_v32":  # index_topk far below the sequence lengths used, so the indexer selects
        return tf.DeepseekV32ForCausalLM(tf.DeepseekV32Config(**BASE, **MLA, index_topk=6, index_n_heads=16,
                                                              index_head_dim=32))
    raise ValueError(family)


def spread(model: torch.nn.Module, seed: int) -> None:
    """Random weights large enough that logits are far apart (greedy choices are then stable under float noise)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 1.5 / p.shape[-1] ** 0.5)


def byte_tokenizer():
    """A word-level tokenizer over VOCAB tokens: 'w0' .. 'w127', whitespace-separated."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {f"w{i}": i for i in range(VOCAB)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    return tok


def hf_greedy(model, prompt: list[int], n: int) -> list[int]:
    with torch.no_grad():
        ids = torch.tensor([prompt])  # an explicit mask: token 0 in a prompt must not be taken for padding
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False,
                             eos_token_id=None, pad_token_id=0)
    return out[0, len(prompt):].tolist()


def prompts(n: int, length: int, seed: int = 0) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(0, VOCAB, (length + 3 * i,), generator=gen).tolist() for i in range(n)]
