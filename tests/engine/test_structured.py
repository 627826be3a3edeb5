"""Grammar-constrained decoding on the real engine (tiny random checkpoint): the answer always has the shape the
parsers read, constrained and free requests batch together, and a grammar that cannot compile fails alone."""
from __future__ import annotations

from model.backends.backend import Request, Sampling, Structure
from model.backends.local import LocalBackend
from model.engine.engine import Engine

ASK = ({"role": "user", "content": "w10 w11 w12 w13 prove it"},)


def test_constrained_and_free_requests_batch_together(tiny):
    """The tiny tokenizer is word-level (w0..w127), so the grammar here is over its words; the prompt shapes are
    tested as text in tests/verifier/test_shapes.py and on the demo model by hand (see the closing note)."""
    backend = LocalBackend(Engine(tiny["llama"][0], block_size=4, cache_gb=0.02))
    free = Request(ASK, Sampling(temperature=0, max_tokens=12))
    alone = backend.generate([free])[0]
    shaped = [Request(ASK, Sampling(temperature=1.0, max_tokens=12, seed=s,
                                    structure=Structure(ebnf='root ::= "w1" [ a-z0-9]{1,9}'))) for s in range(4)]
    out = backend.generate([*shaped[:2], free, *shaped[2:]])
    assert out[2].text == alone.text, "an unconstrained request is not affected by constrained ones in its batch"
    for c in out[:2] + out[3:]:
        assert c.finish_reason == "stop" and c.text.startswith("w1"), c.text


def test_a_grammar_that_does_not_compile_fails_that_request_alone(tiny):
    backend = LocalBackend(Engine(tiny["llama"][0], block_size=4, cache_gb=0.02))
    bad = Request(ASK, Sampling(max_tokens=8, structure=Structure(ebnf='root ::= "a" undefined_rule')))
    good = Request(ASK, Sampling(temperature=0, max_tokens=8, structure=Structure(ebnf='root ::= "w1" [ a-z0-9]{1,9}')))
    out = backend.generate([bad, good])
    assert out[0].finish_reason == "error" and "does not compile" in out[0].error
    assert out[1].finish_reason == "stop" and out[1].text.startswith("w1")
