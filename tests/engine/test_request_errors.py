"""One failing request in a batch fails alone, through the real engine on a tiny checkpoint: the others finish with
the tokens they get when run alone, and the engine keeps serving."""
from __future__ import annotations

import pytest
from test_engine import prompts

from model.backends.backend import Request, Sampling
from model.backends.local import LocalBackend
from model.engine import engine as engine_module
from model.engine.engine import Engine
from model.engine.sequence import SamplingParams
from model.errors import ModelError

SEEDED = [SamplingParams(temperature=0.9, top_k=20, seed=10 + i, max_tokens=6, ignore_eos=True) for i in range(4)]
# values that pass as numbers but would break a draw (logits / 1e-45 overflow to inf, the softmax is NaN): the
# sampler reads them as greedy
EXTREME = [SamplingParams(temperature=1e-45, max_tokens=6),
           SamplingParams(temperature=5e-324, top_p=1e-300, max_tokens=6)]
# values that cannot run at all: the request is refused alone
INVALID = [SamplingParams(temperature=float("nan"), max_tokens=6), SamplingParams(top_p=0.0, max_tokens=6),
           SamplingParams(temperature=-1.0, max_tokens=6)]


@pytest.fixture(scope="module")
def engine(tiny):
    return Engine(tiny["deepseek_v3"][0], block_size=4, cache_gb=0.01)


def _stream(engine, batch, sampling) -> dict:
    outs = {}
    for event in engine.stream(batch, sampling, errors="output"):
        if event.output is not None:
            outs[event.index] = event.output
    return outs


@pytest.mark.parametrize("extreme", EXTREME)
def test_extreme_sampling_values_are_greedy_and_disturb_nobody(engine, extreme):
    ps = prompts(4, 6, seed=3)
    alone = [engine.generate([p], s)[0] for p, s in zip(ps, SEEDED)]
    greedy = engine.generate([ps[0]], SamplingParams(temperature=0, max_tokens=6))[0]
    batch = [*ps[:2], ps[0], *ps[2:]]  # the extreme one shares its prompt's cached blocks with request 0
    outs = _stream(engine, batch, [*SEEDED[:2], extreme, *SEEDED[2:]])
    assert sorted(outs) == [0, 1, 2, 3, 4]
    assert outs[2].finish_reason == "length" and outs[2].token_ids == greedy.token_ids
    assert [outs[i].token_ids for i in (0, 1, 3, 4)] == [o.token_ids for o in alone]
    assert not engine.has_work


@pytest.mark.parametrize("invalid", INVALID)
def test_a_request_that_cannot_run_fails_alone(engine, invalid):
    ps = prompts(3, 6, seed=5)
    alone = [engine.generate([p], s)[0] for p, s in zip(ps, SEEDED)]
    outs = _stream(engine, [ps[0], ps[1], ps[2]], [SEEDED[0], invalid, SEEDED[2]])
    assert sorted(outs) == [0, 1, 2]
    assert outs[1].finish_reason == "error" and ("temperature" in outs[1].error or "top_p" in outs[1].error)
    assert [outs[0].token_ids, outs[2].token_ids] == [alone[0].token_ids, alone[2].token_ids]
    assert not engine.has_work
    with pytest.raises(ModelError, match="request 1"):  # the default: the caller hears of it
        engine.generate([ps[0], ps[1]], [SEEDED[0], invalid])
    assert engine.generate([ps[0]], SEEDED[0])[0].token_ids == alone[0].token_ids  # and still serves


def test_an_exception_inside_one_sampling_fails_that_request_alone(engine, monkeypatch):
    ps = prompts(3, 5, seed=4)
    greedy = SamplingParams(temperature=0, max_tokens=5, ignore_eos=True)
    alone = [o.token_ids for o in engine.generate(ps, greedy)]
    real = engine_module.sample

    def broken_for_request_1(logits, seqs):
        if any(s.index == 1 and len(s.output) == 2 for s in seqs):
            raise RuntimeError("boom in sampling")
        return real(logits, seqs)

    monkeypatch.setattr(engine_module, "sample", broken_for_request_1)
    outs = sorted((e.output for e in engine.stream(ps, greedy, errors="output") if e.output is not None),
                  key=lambda o: o.index)
    assert outs[1].finish_reason == "error" and "boom in sampling" in outs[1].error
    assert outs[1].token_ids == alone[1][:2]  # what it had before the failure
    assert [outs[0].token_ids, outs[2].token_ids] == [alone[0], alone[2]]


def test_the_local_backend_reports_a_request_that_cannot_run_per_request(engine):
    backend = LocalBackend(engine)
    greedy = Sampling(temperature=0, max_tokens=4)
    reqs = [Request(({"role": "user", "content": f"w{40 + i} w{41 + i}"},), greedy) for i in range(3)]
    reqs.insert(1, Request(reqs[0].messages, Sampling(temperature=float("nan"), max_tokens=4)))
    out = backend.generate(reqs)
    assert out[1].finish_reason == "error" and "temperature" in out[1].error
    assert all(c.finish_reason in ("stop", "length") for i, c in enumerate(out) if i != 1)
    assert [c.text for i, c in enumerate(out) if i != 1] == [c.text for c in backend.generate(reqs[:1] + reqs[2:])]
