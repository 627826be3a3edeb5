"""The engine: a checkpoint, a paged cache sized from a memory budget, a scheduler, and the loop between them.

    engine = Engine("path/to/checkpoint", max_batch=16, cache_gb=1.0)
    outs = engine.generate(["Hello", "Bonjour"], SamplingParams(temperature=0, max_tokens=32))
    for event in engine.stream(prompts, sampling): ...     # StreamEvent per new piece of text

Requests join between steps (`add`), each `step()` runs one scheduled batch and returns what happened, so a server
can feed requests in while others run (`has_work` says whether a step has anything to do). A bad request raises
ModelError at `add` and nothing else is disturbed; a request whose sampling fails in a step finishes alone with
finish_reason "error" (its `error` says why) while the others go on. `stream(..., errors="output")` gives every
request its own outcome: one that cannot be added ends at once as an Output with finish_reason "error".
"""
from __future__ import annotations

import collections.abc
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from model.engine.block_manager import BlockManager
from model.engine.grammar import GrammarBook, literal_grammar
from model.engine.model_runner import ModelRunner
from model.engine.paged_cache import PagedCache, blocks_for_budget
from model.engine.sampler import sample
from model.engine.scheduler import Scheduler
from model.engine.sequence import SamplingParams, Sequence
from model.engine.tokenizer import Tokenizer
from model.errors import ModelError
from model.loader import load

HALF = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}

# Token ids or text, one per request (not `Sequence`: that name is the engine's running request).
Prompts = collections.abc.Sequence[list[int] | str]


@dataclass
class Output:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str  # stop | length
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    error: str | None = None  # why, when finish_reason is "error"


@dataclass
class StreamEvent:
    index: int
    text: str  # new text since the previous event of this request
    token_ids: list[int]  # new tokens
    output: Output | None = None  # set on the request's last event


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def checkpoint_dtype(path: Path, device: torch.device) -> torch.dtype:
    """The checkpoint's own dtype; half types become float32 on CPU, where they are slow and not exact."""
    try:
        hf = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return torch.float32
    dtype = HALF.get(str(hf.get("dtype") or hf.get("torch_dtype") or "float32"), torch.float32)
    return torch.float32 if device.type == "cpu" else dtype


def eos_ids(path: Path, codec: Tokenizer | None) -> set[int]:
    """End-of-sequence ids from generation_config.json, config.json and tokenizer_config.json's eos_token."""
    ids: set[int] = set()
    try:
        eos = json.loads((path / "tokenizer_config.json").read_text()).get("eos_token")
        eos = eos.get("content") if isinstance(eos, dict) else eos
        if codec is not None and isinstance(eos, str) and (eos_id := codec.token_id(eos)) is not None:
            ids.add(eos_id)
    except (OSError, ValueError):
        pass
    for name in ("generation_config.json", "config.json"):
        try:
            value = json.loads((path / name).read_text()).get("eos_token_id")
        except (OSError, ValueError):
            continue
        if value is not None:
            ids.update(value if isinstance(value, list) else [value])
    return ids


HARD_CLOSE_SLACK = 4  # tokens beyond the bare ending's bytes: the stop token, and steps at a choice


class UnwritableShape(ModelError):
    """The request's grammar or schema allows no token at some point: the request's fault, not the engine's."""


class Engine:
    def __init__(self, path: str | Path, device: str | None = None, dtype: torch.dtype | str | None = None,
                 max_batch: int = 16, cache_gb: float = 1.0, block_size: int = 16, chunk_tokens: int = 512,
                 max_model_len: int | None = None, fast: bool = True):
        if max_batch < 1 or block_size < 1 or chunk_tokens < 1:
            raise ModelError(f"max_batch, block_size and chunk_tokens must be >= 1 (got {max_batch}, {block_size}, "
                             f"{chunk_tokens})")
        self.path = Path(path)
        if not (self.path / "config.json").is_file():
            raise ModelError(f"{path}: not a checkpoint directory (no config.json); give a Hugging Face checkpoint "
                             "directory with config.json and *.safetensors")
        self.device = torch.device(device or default_device())
        if isinstance(dtype, str):
            if dtype not in HALF:
                raise ModelError(f"dtype {dtype!r} is not one of {', '.join(HALF)}")
            dtype = HALF[dtype]
        self.dtype = dtype or checkpoint_dtype(self.path, self.device)
        self.model = load(self.path, device=self.device, dtype=self.dtype)
        cfg = self.model.config
        self.max_model_len = min(max_model_len or cfg.max_position_embeddings, cfg.max_position_embeddings)
        num_blocks = blocks_for_budget(cfg, self.dtype, cache_gb, block_size)
        self.cache = PagedCache(cfg, num_blocks, block_size, self.dtype, self.device)
        self.blocks = BlockManager(num_blocks, block_size)
        self.scheduler = Scheduler(self.blocks, max_batch, chunk_tokens)
        self.runner = ModelRunner(self.model, self.cache, self.dtype, batch_hint=max_batch, fast=fast)
        self.codec = Tokenizer.optional(self.path)
        self.eos = eos_ids(self.path, self.codec)
        self.grammars = GrammarBook(self.codec.backend, cfg.vocab_size, sorted(self.eos)) if self.codec else None
        self.prefill_tokens = 0  # tokens that went through the model as prompt (not decode), over the engine's life

    def describe(self) -> str:
        """One line for a command's start: the checkpoint, device, dtype and the decode kernels that run."""
        return (f"{self.path.name} on {self.device} ({str(self.dtype).removeprefix('torch.')}); "
                f"{self.runner.decode_path()}")

    @property
    def capacity(self) -> int:
        """Token slots in the cache."""
        return self.cache.num_blocks * self.cache.block_size

    @property
    def has_work(self) -> bool:
        """Whether a step would run anything (requests waiting or running)."""
        return not self.scheduler.idle

    # --- requests ---

    def tokenize(self, prompt: list[int] | str) -> list[int]:
        if isinstance(prompt, str):
            if self.codec is None:
                raise ModelError(f"{self.path}: no tokenizer.json, so prompts must be lists of token ids")
            return self.codec.encode(prompt, special=True)
        return [int(t) for t in prompt]

    def add(self, prompt: list[int] | str, sampling: SamplingParams, index: int = 0) -> Sequence:
        """Queue one request; ModelError if it can never run (bad sampling, empty or too long, cache too small)."""
        sampling.check()
        ids = self.tokenize(prompt)
        if not ids:
            raise ModelError("the prompt is empty")
        vocab = self.model.config.vocab_size
        if not all(0 <= t < vocab for t in ids):
            raise ModelError(f"the prompt has token ids outside the vocabulary (0..{vocab - 1})")
        if len(ids) >= self.max_model_len:
            raise ModelError(f"the prompt has {len(ids)} tokens; the model's context is {self.max_model_len} "
                             "tokens, including at least one generated token: shorten the prompt")
        if len(ids) + 1 > self.capacity:
            raise ModelError(f"the prompt has {len(ids)} tokens but the cache holds {self.capacity}: raise cache_gb")
        seq = Sequence(ids, sampling, index=index)
        if sampling.grammar or sampling.json_schema:
            if self.grammars is None:
                raise ModelError(f"{self.path}: no tokenizer.json, so outputs cannot follow a grammar")
            seq.matcher = self.grammars.matcher(sampling.grammar, sampling.json_schema)
        self.scheduler.add(seq)
        return seq

    def abort(self, seq: Sequence) -> None:
        if not seq.is_finished:
            seq.finish_reason = "abort"
            self.scheduler.finish(seq)

    # --- the loop ---

    def step(self) -> list[tuple[Sequence, str, list[int]]]:
        """Run one scheduled batch: (sequence, new text, new tokens) for each sequence that produced a token or
        finished."""
        prefill, decode, stuck = self.scheduler.schedule()
        events: list[tuple[Sequence, str, list[int]]] = []
        for seq in stuck:
            seq.finish_reason = "length"
            self.scheduler.finish(seq)
            events.append((seq, self._final_delta(seq), []))
        work: list[tuple[list[tuple[Sequence, int]], bool]] = [([(s, n)], True) for s, n in prefill]
        if decode:
            work.append(([(s, 1) for s in decode], False))
        for chunks, is_prefill in work:
            logits = self.runner.forward(chunks)
            done = [(s, n) for s, n in chunks if s.num_computed + n == len(s)]
            rows = [i for i, (s, n) in enumerate(chunks) if s.num_computed + n == len(s)]
            for s, n in chunks:
                self.scheduler.computed(s, n)
                if is_prefill:
                    self.prefill_tokens += n
            if not done:
                continue
            # indexing copies the [B, vocab] logits; skip it when every row is done (every decode step)
            tokens = self._sample(logits if len(rows) == len(chunks) else logits[rows], [s for s, _ in done])
            for (seq, _), token in zip(done, tokens):
                events.append(self._fail(seq, token) if isinstance(token, Exception) else self._append(seq, token))
        return events

    def _sample(self, logits: torch.Tensor, seqs: list[Sequence]) -> list[int | Exception]:
        """One token per sequence, or the exception its own sampling raised (that request alone fails)."""
        dead: dict[int, Exception] = {}
        shaped = [i for i, seq in enumerate(seqs) if seq.matcher is not None]
        if shaped and self.grammars is not None:  # constrained: only the tokens the grammar allows remain
            for i in shaped:
                try:
                    self._maybe_close(seqs[i])
                except ModelError as e:
                    dead[i] = e
            live = [i for i in shaped if i not in dead]
            self.grammars.mask(logits, [seqs[i].matcher for i in live], live)
            for i in live:
                if bool(torch.isneginf(logits[i]).all()):  # a dead end: the vocabulary cannot spell the shape
                    dead[i] = UnwritableShape(f"the answer shape allows no token of this model's vocabulary after "
                                              f"{len(seqs[i].output)} tokens: the grammar or schema cannot be "
                                              "written with this tokenizer")
        if not dead and all(s.sampling.temperature == 0 for s in seqs):  # greedy draws nothing: a retry is exact
            try:
                return list(sample(logits, seqs))
            except Exception:
                pass
        out: list[int | Exception] = []
        for i, seq in enumerate(seqs):  # one by one, so a failing row leaves the others' draws as they would be
            if i in dead:
                out.append(dead[i])
                continue
            try:
                out.append(sample(logits[i:i + 1], [seq])[0])
            except Exception as e:
                out.append(e)
        return out

    def _maybe_close(self, seq: Sequence) -> None:
        """Near the end of its budget a shaped answer goes on under the first closing its text so far accepts (a
        short tail sized at sampling.closing_tokens). Once the tokens left only just hold the shortest way to end
        from where the text is (counted at one token a byte), it writes exactly that: so it always ends in the
        shape, and what it writes stays one text the grammar accepts."""
        s = seq.sampling
        if seq.closing == "hard" or not s.closings or self.grammars is None:
            return
        left = min(s.max_tokens - len(seq.output), self.max_model_len - len(seq))
        if left > s.closing_tokens:
            return
        if not seq.closing:
            for opening, grammar in s.closings:
                if self._completes(seq, opening):
                    seq.matcher, seq.closing = self.grammars.matcher(grammar, ""), "soft"
                    break
        shortest = self._shortest_ending(seq, left)
        if shortest is not None and left <= len(shortest.encode()) + s.forced_bytes + HARD_CLOSE_SLACK:
            seq.matcher, seq.closing = self.grammars.matcher(literal_grammar(shortest), ""), "hard"

    def _shortest_ending(self, seq: Sequence, left: int) -> str | None:
        """A shortest text that completes the answer from here: what the grammar forces next (a free part's few
        required characters written as "x"), then a closing's ending, or inside an ending the rest of one. None
        at a choice (which severity, which quote): the next token settles it."""
        endings = sorted({ending for ending, _ in seq.sampling.closings}, key=len)
        probe, written = seq.matcher.fork(), ""
        for _ in range(4):
            forced = probe.find_jump_forward_string()
            probe.accept_string(forced)
            written += forced
            for ending in endings:
                if self._completes(seq, written + ending):
                    return written + ending
            if not probe.accept_string("x"):
                break
            written += "x"
        if left > len(written.encode()) + len(endings[-1].encode()) + seq.sampling.forced_bytes + HARD_CLOSE_SLACK:
            return None  # the rests of endings are only worth trying once the tokens are that few
        rests = sorted({e[k:] for e in endings for k in range(1, len(e))}, key=len)
        return next((r for r in rests if self._completes(seq, r)), None)

    @staticmethod
    def _completes(seq: Sequence, text: str) -> bool:
        probe = seq.matcher.fork()
        return bool(probe.accept_string(text) and probe.is_completed())

    def _fail(self, seq: Sequence, error: Exception) -> tuple[Sequence, str, list[int]]:
        seq.finish_reason, seq.error = "error", f"sampling failed: {type(error).__name__}: {error}"
        seq.request_fault = isinstance(error, UnwritableShape)
        self.scheduler.finish(seq)
        return seq, "", []

    def _append(self, seq: Sequence, token: int) -> tuple[Sequence, str, list[int]]:
        if seq.matcher is not None and not seq.matcher.accept_token(token):
            return self._fail(seq, ModelError(f"token {token} is not allowed by the request's grammar"))
        seq.tokens.append(token)
        s = seq.sampling
        delta = self.codec.delta(seq) if self.codec else ""
        seq.text += delta
        reason = None
        if (token in self.eos and not s.ignore_eos) or token in s.stop_token_ids:
            reason = "stop"
        elif s.stop and self.codec is not None:
            cut = _find_stop(seq.text, s.stop, len(seq.text) - len(delta))
            if cut is not None:
                delta = delta[:max(0, len(delta) - (len(seq.text) - cut))]
                seq.text = seq.text[:cut]
                seq.finish_reason = "stop"
                self.scheduler.finish(seq)
                return seq, delta, [token]
        if reason is None and (len(seq.output) >= s.max_tokens or len(seq) >= self.max_model_len):
            reason = "length"
        if reason:
            seq.finish_reason = reason
            self.scheduler.finish(seq)
            delta += self._final_delta(seq)
        return seq, delta, [token]

    def _final_delta(self, seq: Sequence) -> str:
        """Text held back by incremental decoding (an incomplete character), now that the output is complete."""
        if self.codec is None:
            return ""
        full = self.codec.decode(seq.output, skip_special_tokens=True)
        extra = full[len(seq.text):] if full.startswith(seq.text) else ""
        seq.text += extra
        return extra

    def output(self, seq: Sequence) -> Output:
        return Output(seq.index, seq.text, seq.output, seq.finish_reason or "length", seq.num_prompt,
                      seq.num_cached, len(seq.output), seq.error)

    # --- whole batches ---

    def stream(self, prompts: Prompts, sampling: SamplingParams | list[SamplingParams],
               errors: str = "raise") -> Iterator[StreamEvent]:
        """Events as tokens arrive, for all prompts together; each request's last event carries its Output.

        errors="raise": a request that cannot run raises ModelError before any runs, one whose sampling fails
        raises when it does. errors="output": such a request ends alone with finish_reason "error" and the others
        run on."""
        if errors not in ("raise", "output"):
            raise ModelError(f"errors must be 'raise' or 'output', got {errors!r}")
        params = sampling if isinstance(sampling, list) else [sampling] * len(prompts)
        if len(params) != len(prompts):
            raise ModelError(f"{len(prompts)} prompts but {len(params)} sampling settings")
        if errors == "raise":
            for i, sp in enumerate(params):
                try:
                    sp.check()
                except ModelError as e:
                    raise ModelError(f"request {i}: {e}") from None
        seqs: list[Sequence] = []
        try:
            for i, (p, s) in enumerate(zip(prompts, params)):
                try:
                    seqs.append(self.add(p, s, index=i))
                except ModelError as e:
                    if errors == "raise":
                        raise
                    yield StreamEvent(i, "", [], Output(i, "", [], "error", 0, 0, 0, str(e)))
            mine = {s.id for s in seqs}
            while not all(s.is_finished for s in seqs):
                for seq, text, tokens in self.step():
                    if seq.id not in mine:
                        continue
                    if seq.finish_reason == "error" and errors == "raise":
                        raise ModelError(f"request {seq.index}: {seq.error}")
                    yield StreamEvent(seq.index, text, tokens, self.output(seq) if seq.is_finished else None)
        finally:
            for seq in seqs:
                self.abort(seq)

    def generate(self, prompts: Prompts,
                 sampling: SamplingParams | list[SamplingParams] | None = None) -> list[Output]:
        outs: list[Output | None] = [None] * len(prompts)
        for event in self.stream(prompts, sampling or SamplingParams()):
            if event.output is not None:
                outs[event.index] = event.output
        return outs  # type: ignore[return-value]


def _find_stop(text: str, stops: tuple[str, ...], new_from: int) -> int | None:
    """Earliest index where a stop string starts, looking only where new text could complete one."""
    best = None
    for stop in stops:
        at = text.find(stop, max(0, new_from - len(stop) + 1))
        if at != -1 and (best is None or at < best):
            best = at
    return best

