"""Reading OpenAI-style request bodies into engine inputs, and splitting streamed text into reasoning and answer.

Every check raises ModelError with the field's name, which the server turns into HTTP 400.
"""
from __future__ import annotations

import dataclasses
import json

from model.engine.sequence import SamplingParams
from model.errors import ModelError

THINK, END_THINK = "<think>", "</think>"


def _number(body: dict, key: str, default, integer: bool = False):
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ModelError(f"{key} must be {'an integer' if integer else 'a number'}, got {value!r}")
    return value


def sampling_from_body(body: dict, stop_token_ids: tuple[int, ...] = ()) -> SamplingParams:
    stop = body.get("stop")
    if stop is None:
        stop = ()
    elif isinstance(stop, str):
        stop = (stop,)
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stop = tuple(stop)
    else:
        raise ModelError(f"stop must be a string or a list of strings, got {stop!r}")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    params = SamplingParams(
        temperature=float(_number(body, "temperature", 1.0)),
        top_p=float(_number(body, "top_p", 1.0)),
        top_k=0 if body.get("top_k") == -1 else _number(body, "top_k", 0, integer=True),  # -1: off, as in vLLM
        max_tokens=_number({"max_tokens": max_tokens}, "max_tokens", 256, integer=True),
        seed=_number(body, "seed", None, integer=True),
        stop=stop, stop_token_ids=stop_token_ids, **answer_shape(body))
    params.check()
    return params


MAX_SHAPE_CHARS = 256 << 10  # a grammar or schema longer than this costs more to compile than any answer is worth


def answer_shape(body: dict) -> dict:
    """{grammar: EBNF} or {json_schema: JSON text} from OpenAI's `response_format`, vLLM's `structured_outputs`
    (grammar or json) or SGLang's `ebnf`; {} for free text. The engine compiles it (a bad one: that request's 400)."""
    shape: dict = {}
    rf = body.get("response_format")
    if rf is not None:
        kind = rf.get("type") if isinstance(rf, dict) else None
        if kind == "json_schema" and isinstance(rf.get("json_schema"), dict) and \
                isinstance(rf["json_schema"].get("schema"), dict):
            shape["json_schema"] = json.dumps(rf["json_schema"]["schema"])
        elif kind == "json_object":
            shape["json_schema"] = json.dumps({"type": "object"})
        elif kind != "text":
            raise ModelError("response_format must be {type: text}, {type: json_object} or "
                             "{type: json_schema, json_schema: {name, schema: {...}}}")
    so = body.get("structured_outputs")
    if so is not None:
        if not isinstance(so, dict) or not ({"grammar", "json"} & set(so)):
            raise ModelError("structured_outputs must be an object with a grammar (EBNF text) or json (a schema)")
        if "grammar" in so:
            shape["grammar"] = so["grammar"]
        else:
            shape["json_schema"] = so["json"] if isinstance(so["json"], str) else json.dumps(so["json"])
    if body.get("ebnf") is not None:
        shape["grammar"] = body["ebnf"]
    if len(shape) > 1:
        raise ModelError("give one answer shape: response_format, structured_outputs or ebnf, not several")
    for key, value in shape.items():
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_SHAPE_CHARS:
            raise ModelError(f"the answer shape ({key}) must be non-empty text of at most {MAX_SHAPE_CHARS} "
                             "characters")
    return shape


MAX_CHOICES = 64


def choice_params(body: dict, params: SamplingParams) -> list[SamplingParams]:
    """One SamplingParams per completion the body asks for (`n`, default 1). With a seed, choice i samples with
    seed + i: reproducible, and not n copies of one completion."""
    n = _number(body, "n", 1, integer=True)
    if not 1 <= n <= MAX_CHOICES:
        raise ModelError(f"n must be between 1 and {MAX_CHOICES}, got {n}")
    if params.seed is None:
        return [params] * n
    return [dataclasses.replace(params, seed=params.seed + i) for i in range(n)]


def _stream_flag(body: dict) -> bool:
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ModelError(f"stream must be true or false, got {stream!r}")
    return stream


def _content(i: int, message) -> dict:
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise ModelError(f"messages[{i}] must be an object with a string role")
    content = message.get("content")
    if isinstance(content, list):  # content parts: keep the text ones
        if not all(isinstance(p, dict) for p in content):
            raise ModelError(f"messages[{i}].content parts must be objects")
        content = "".join(p.get("text") or "" for p in content if p.get("type") == "text")
    if content is not None and not isinstance(content, str):
        raise ModelError(f"messages[{i}].content must be a string, got {type(content).__name__}")
    return {**message, "content": content or ""}


def parse_chat(body: dict, chat, thinking: bool):
    """-> (prompt token ids, SamplingParams, stream) for /v1/chat/completions; chat is a model.chat.ChatFormat."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ModelError("messages must be a non-empty list of {role, content} objects")
    messages = [_content(i, m) for i, m in enumerate(messages)]
    ids = chat.encode(messages, thinking=thinking)
    return ids, sampling_from_body(body, tuple(chat.stop_token_ids)), _stream_flag(body)


def parse_completion(body: dict, chat, thinking: bool):
    """-> (prompt text or token ids, SamplingParams, stream) for /v1/completions."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        pass
    elif not isinstance(prompt, str) or not prompt:
        raise ModelError("prompt must be a non-empty string or a list of token ids (one prompt per request)")
    return prompt, sampling_from_body(body), _stream_flag(body)


class ReasoningSplitter:
    """Streamed text -> ("reasoning_content" | "content", piece) pairs, holding back text that may be half a tag."""

    def __init__(self, chat, thinking: bool):
        starts_in_reasoning = thinking and getattr(chat, "kind", "") == "deepseek_v32"
        self.mode = "reasoning" if starts_in_reasoning else "unknown"
        self.buffer = ""

    def feed(self, text: str, final: bool = False) -> list[tuple[str, str]]:
        self.buffer += text
        out: list[tuple[str, str]] = []
        while True:
            if self.mode == "unknown":
                head = self.buffer.lstrip()
                if head.startswith(THINK):
                    self.buffer, self.mode = head[len(THINK):], "reasoning"
                elif THINK.startswith(head) and not final:
                    return out  # could still become <think>
                else:
                    self.mode = "content"
            if self.mode == "reasoning":
                end = self.buffer.find(END_THINK)
                if end >= 0:
                    if end:
                        out.append(("reasoning_content", self.buffer[:end]))
                    self.buffer, self.mode = self.buffer[end + len(END_THINK):].lstrip("\n"), "content"
                    continue
                keep = 0 if final else len(END_THINK) - 1
                cut = max(0, len(self.buffer) - keep)
                if cut:
                    out.append(("reasoning_content", self.buffer[:cut]))
                    self.buffer = self.buffer[cut:]
                return out
            if self.mode == "content":
                if self.buffer:
                    out.append(("content", self.buffer))
                    self.buffer = ""
                return out
