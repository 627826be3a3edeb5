"""Chat encodings: messages -> prompt text, and a completion's text -> (reasoning, answer).

Two encodings:
- the checkpoint's Jinja chat template (tokenizer_config.json), rendered in a sandbox the way Hugging Face does;
- DeepSeek-V3.2's encoding (it ships no template), written from its description:
    <｜begin▁of▁sentence｜>{system}<｜User｜>{user}<｜Assistant｜><think>{reasoning}</think>{answer}<｜end▁of▁sentence｜>...
  Thinking mode opens the reply with `<think>` so the model reasons first; chat mode opens with `</think>` (empty
  reasoning). Reasoning of earlier turns is dropped (their replies start `</think>`) once a new user message
  arrives; across tool results it is kept, since those belong to the same turn. Tool results are given back as
  `<function_results><result>...</result></function_results>` in a user turn.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from model.engine.tokenizer import Tokenizer
from model.errors import ModelError
from model.reasoning import END_THINK, THINK, split_reasoning

BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
USER, ASSISTANT = "<｜User｜>", "<｜Assistant｜>"


def encode_deepseek_v32(messages: list[dict], thinking: bool = True, add_generation_prompt: bool = True,
                        drop_thinking: bool = True) -> str:
    """The prompt text for DeepSeek-V3.2 (see the module docstring)."""
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    out = [BOS]
    i = 0
    while i < len(messages):
        m = messages[i]
        role, content = m["role"], m.get("content") or ""
        if role in ("system", "developer"):
            out.append(content)
        elif role == "user":
            out.append(USER + content)
        elif role == "tool":
            results = []
            while i < len(messages) and messages[i]["role"] == "tool":
                results.append(f"<result>{messages[i].get('content') or ''}</result>")
                i += 1
            out.append(USER + "<function_results>" + "".join(results) + "</function_results>")
            continue
        elif role == "assistant":
            reasoning = m.get("reasoning_content") or m.get("reasoning") or ""
            keep = thinking and (i > last_user or not drop_thinking)
            out.append(ASSISTANT + (THINK + reasoning + END_THINK if keep else END_THINK) + content + EOS)
        else:
            raise ModelError(f"message {i}: role {role!r} is not one of system, user, assistant, tool")
        i += 1
    if add_generation_prompt and messages and messages[-1]["role"] != "assistant":
        out.append(ASSISTANT + (THINK if thinking else END_THINK))
    return "".join(out)


def render_template(template: str, messages: list[dict], add_generation_prompt: bool = True, **context) -> str:
    """Render a Hugging Face chat template (Jinja) in a sandbox, with the helpers such templates expect."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise ModelError(f"chat template: {message}")

    def strftime_now(fmt):
        import datetime

        return datetime.datetime.now().strftime(fmt)

    def tojson(value, indent=None, separators=None, sort_keys=False):  # plain JSON, not HTML-escaped
        return json.dumps(value, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.globals.update(raise_exception=raise_exception, strftime_now=strftime_now)
    env.filters["tojson"] = tojson
    try:
        return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                                **context)
    except jinja2.TemplateError as e:
        raise ModelError(f"chat template: cannot render ({e})") from e


@dataclass
class ChatFormat:
    """How one checkpoint turns messages into tokens."""
    tokenizer: Tokenizer
    kind: str  # "deepseek_v32" | "template"

    @classmethod
    def from_checkpoint(cls, path: str | Path, model_type: str | None = None) -> ChatFormat:
        tok = Tokenizer.from_checkpoint(path)
        if model_type == "deepseek_v32" and not tok.chat_template:
            return cls(tok, "deepseek_v32")
        if not tok.chat_template:
            raise ModelError(f"{path}: the tokenizer has no chat template; add one to tokenizer_config.json")
        return cls(tok, "template")

    def prompt(self, messages: list[dict], thinking: bool = True) -> str:
        if self.kind == "deepseek_v32":
            return encode_deepseek_v32(messages, thinking=thinking)
        template = self.tokenizer.chat_template
        assert template is not None, "from_checkpoint makes a template format only from a tokenizer with one"
        return render_template(template, messages, add_generation_prompt=True,
                               bos_token=self.tokenizer.bos_token or "", eos_token=self.tokenizer.eos_token or "",
                               enable_thinking=thinking)

    def encode(self, messages: list[dict], thinking: bool = True) -> list[int]:
        return self.tokenizer.encode(self.prompt(messages, thinking))

    def parse(self, completion: str, thinking: bool = True) -> tuple[str, str]:
        """(reasoning, answer); with thinking the prompt ended with `<think>`, so the completion starts inside it."""
        text = completion.removesuffix(EOS)
        if self.kind == "deepseek_v32":
            return split_reasoning(text, started=True) if thinking else ("", text)
        if THINK in text or END_THINK in text:
            return split_reasoning(text, started=True)
        return "", completion

    @property
    def stop_token_ids(self) -> list[int]:
        ids = [self.tokenizer.eos_id]
        if self.kind == "template":
            ids.append(self.tokenizer.token_id("<|im_end|>"))
        return sorted({i for i in ids if i is not None})
