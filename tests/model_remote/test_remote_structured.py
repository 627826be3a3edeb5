"""Answer shapes over OpenAI-compatible servers (a real server on loopback): the JSON schema goes as
`response_format` (or the grammar in vLLM's / SGLang's field), a JSON answer is read like the text one, and a server
that refuses the field gets one warning and the same requests again as free text."""
import json
import logging

from hang_guard import CLIENT_TIMEOUT

from model.backends.backend import Request, Sampling
from model.backends.remote import RemoteBackend
from prover.draft import parse_draft
from verifier.shapes import draft_shape

SHAPE = draft_shape()
JSON_ANSWER = json.dumps({"solution": "Let a = 2m + 1 and b = 2n + 1; then a + b = 2(m + n + 1) is even.",
                          "self_evaluation": "Complete.", "score": "1"})


def shaped(n=1):
    return [Request(({"role": "user", "content": f"prove it {i}"},), Sampling(max_tokens=512, structure=SHAPE))
            for i in range(n)]


def backend(server, **options):
    return RemoteBackend(server.base_url, server.model, timeout=CLIENT_TIMEOUT, connect_timeout=CLIENT_TIMEOUT,
                         retries=1, backoff=0.01, **options)


def test_the_schema_goes_as_response_format_and_the_json_answer_parses(serve):
    bodies = []
    server = serve(lambda request: bodies.append(request) or JSON_ANSWER)
    [c] = backend(server).generate(shaped())
    rf = bodies[0]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"] == json.loads(SHAPE.json_schema)
    assert rf["json_schema"]["name"] == SHAPE.name and rf["json_schema"]["strict"] is True
    draft = parse_draft(c)
    assert draft.status == "ok" and draft.self_score == 1 and "2(m + n + 1)" in draft.proof


def test_vllm_and_sglang_get_the_grammar(serve):
    bodies = []
    server = serve(lambda request: bodies.append(request) or "ok")
    backend(server, structured_field="vllm").generate(shaped())
    backend(server, structured_field="sglang").generate(shaped())
    assert bodies[0]["structured_outputs"] == {"grammar": SHAPE.ebnf} and "response_format" not in bodies[0]
    assert bodies[1]["ebnf"] == SHAPE.ebnf
    free = Request(({"role": "user", "content": "hi"},), Sampling(max_tokens=8))
    backend(server).generate([free])
    assert not {"response_format", "structured_outputs", "ebnf"} & set(bodies[2])


def test_a_refused_shape_warns_once_and_goes_again_as_free_text(serve, caplog):
    bodies = []
    server = serve(lambda request: bodies.append(request) or "## Solution\nproof\n## Self Evaluation\n"
                   "Final score: \\boxed{0.5}", faults=["400"])
    b = backend(server)
    with caplog.at_level(logging.WARNING, logger="model.backends.remote"):
        first = b.generate(shaped())
        later = b.generate(shaped(3))
    assert all(c.error is None for c in first + later), [c.error for c in first + later]
    assert parse_draft(first[0]).self_score == 0.5
    assert all("response_format" not in body for body in bodies)  # the resend and every later request: free text
    warnings = [r for r in caplog.records if "refused the answer shape" in r.getMessage()]
    assert len(warnings) == 1 and server.base_url in warnings[0].getMessage()


def test_a_bad_field_name_is_one_clear_error():
    import pytest

    from model.errors import ModelError

    with pytest.raises(ModelError, match="structured field 'xml' is not one of response_format, vllm, sglang"):
        RemoteBackend("http://127.0.0.1:9/v1", "m", structured_field="xml")
