"""RemoteBackend set-up: endpoint normalisation, check(), from_env(), and the pure parsing helpers."""
import email.utils
import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hang_guard import CLIENT_TIMEOUT, HANG_GUARD

from model.backends.backend import Request
from model.backends.remote import RemoteBackend, normalise_endpoint, parse_retry_after
from model.errors import ModelError
from model.reasoning import split_reasoning

SERVER = Path(__file__).resolve().parents[1] / "openai_server.py"


@pytest.mark.parametrize("given,expected", [
    ("http://localhost:8000", "http://localhost:8000/v1"),
    ("localhost:8000/", "http://localhost:8000/v1"),
    ("http://h:8000/v1/", "http://h:8000/v1"),
    ("http://h:8000/v1/chat/completions", "http://h:8000/v1"),
    ("https://api.deepseek.com", "https://api.deepseek.com/v1"),
    ("https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1"),
    ("http://user:pw@h:1/v1", "http://h:1/v1"),
])
def test_normalise_endpoint(given, expected):
    assert normalise_endpoint(given) == expected


@pytest.mark.parametrize("bad", ["", "ftp://h/v1", "http://"])
def test_bad_endpoint(bad):
    with pytest.raises(ModelError, match="endpoint"):
        normalise_endpoint(bad)


@pytest.mark.parametrize("content,finish,expected", [
    ("<think>try n=1</think>\n\nAnswer.", "stop", ("Answer.", "try n=1")),
    ("try n=1</think>Answer.", "stop", ("Answer.", "try n=1")),  # template put <think> in the prompt
    ("<think>still going", "length", ("", "still going")),
    ("<think>odd", "stop", ("<think>odd", "")),
    ("No reasoning here.", "stop", ("No reasoning here.", "")),
])
def test_split_reasoning(content, finish, expected):
    reasoning, answer = split_reasoning(content, cut_off=finish == "length")
    assert (answer, reasoning) == expected


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0 and parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < parse_retry_after(later) <= 31


def test_check_lists_models(serve):
    server = serve(model="deepseek-math-v2")
    assert RemoteBackend(server.base_url.removesuffix("/v1"), "x").check() == ["deepseek-math-v2"]


def one_line(e: pytest.ExceptionInfo) -> str:
    message = str(e.value)
    assert "\n" not in message
    return message


def test_check_unreachable(free_port):
    with pytest.raises(ModelError) as e:
        RemoteBackend(f"127.0.0.1:{free_port}", "m", connect_timeout=1).check()
    message = one_line(e)
    assert f"http://127.0.0.1:{free_port}/v1" in message and "connection refused" in message
    assert "--endpoint" in message


@pytest.mark.parametrize("fault,words", [("html", "HTML page"), ("garbage", "non-JSON text"),
                                         ("500", "HTTP 500")])
def test_check_garbage(serve, fault, words):
    server = serve(models_fault=fault)
    with pytest.raises(ModelError) as e:
        RemoteBackend(server.base_url, "m").check()
    assert words in one_line(e) and server.base_url in str(e.value)


def test_check_unauthorised(serve):
    server = serve(api_key="sk-right")
    with pytest.raises(ModelError) as e:
        RemoteBackend(server.base_url, "m", api_key="sk-wrong-key").check()
    message = one_line(e)
    assert "401" in message and "PROOFLOOP_API_KEY" in message and "sk-wrong" not in message
    with pytest.raises(ModelError, match="no API key was given"):
        RemoteBackend(server.base_url, "m").check()


def test_check_hang(serve):
    server = serve()
    server.add_faults("hang")  # only chat requests hang; /models answers
    assert RemoteBackend(server.base_url, "m", timeout=CLIENT_TIMEOUT).check() == ["test-model"]


def test_from_env(serve, monkeypatch):
    server = serve(model="served-model", api_key="sk-env")
    for name in ("PROOFLOOP_ENDPOINT", "OPENAI_BASE_URL", "PROOFLOOP_MODEL", "PROOFLOOP_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ModelError, match="PROOFLOOP_ENDPOINT"):
        RemoteBackend.from_env()
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    b = RemoteBackend.from_env(retries=0)
    assert b.model == "served-model" and b.base_url == server.base_url and b.retries == 0
    monkeypatch.setenv("PROOFLOOP_MODEL", "named")
    monkeypatch.setenv("PROOFLOOP_ENDPOINT", "http://127.0.0.1:1")
    assert RemoteBackend.from_env(endpoint=server.base_url).model == "named"
    assert RemoteBackend.from_env(endpoint=server.base_url, model="arg").model == "arg"


def test_model_resolved_on_first_use(serve):
    server = serve(model="only-one")
    b = RemoteBackend(server.base_url, None)
    [c] = b.generate([Request(messages=({"role": "user", "content": "hi"},))])
    assert c.text == "Echo: hi" and server.chat_requests[0].body["model"] == "only-one"


def test_server_as_a_process(tmp_path):
    """The CLI entry point other tests run as a subprocess: responder file, faults, request log."""
    script = tmp_path / "script.py"
    script.write_text("def respond(request):\n    return {'text': 'scripted', 'reasoning': 'hmm'}\n")
    log = tmp_path / "requests.jsonl"
    proc = subprocess.Popen([sys.executable, str(SERVER), "--port", "0", "--script", f"{script}:respond",
                             "--faults", "500", "--log", str(log)], stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        b = RemoteBackend(url, "test-model", backoff=0.01, timeout=CLIENT_TIMEOUT)
        [c] = b.generate([Request(messages=({"role": "user", "content": "hi"},))])
        assert (c.text, c.reasoning, c.error) == ("scripted", "hmm", None)
        assert len(log.read_text().splitlines()) == 2  # the 500 and its retry
    finally:
        proc.terminate()
        proc.wait(HANG_GUARD)


def sse(*lines: str) -> io.BytesIO:
    return io.BytesIO("".join(line + "\n" for line in lines).encode())


def test_stream_parsing_details():
    """Keep-alive comments, `reasoning` deltas, DeepSeek's cache-hit field, a body without [DONE]."""
    b = RemoteBackend("http://h", "m")
    c = b._read_stream(sse(
        ": keep-alive", "",
        'data: {"choices":[{"index":0,"delta":{"reasoning":"think "}}]}', "",
        'data: {"choices":[{"index":0,"delta":{"reasoning":"hard"}}]}', "",
        'data: {"choices":[{"index":0,"delta":{"content":"Done."},"finish_reason":"stop"}]}', "",
        'data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"prompt_cache_hit_tokens":8}}', "",
    ), "u")
    assert (c.text, c.reasoning, c.finish_reason) == ("Done.", "think hard", "stop")
    assert (c.prompt_tokens, c.cached_tokens, c.completion_tokens) == (9, 8, 3)


def test_stream_error_event_is_retried_and_garbage_is_not():
    from model.backends import remote

    b = RemoteBackend("http://h", "m")
    with pytest.raises(remote._Retry, match="overloaded"):
        b._read_stream(sse('data: {"error":{"message":"overloaded","code":503}}', ""), "u")
    with pytest.raises(remote._Fail, match="instead of a JSON chunk"):
        b._read_stream(sse('data: {"choices":[]}', "", "data: <html>", ""), "u")
    with pytest.raises(remote._Retry, match="connection dropped"):
        b._read_stream(sse('data: {"choices":[{"index":0,"delta":{"content":"par"}}]}', ""), "u")
