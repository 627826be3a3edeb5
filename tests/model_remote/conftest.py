"""Fixtures for RemoteBackend tests: real OpenAI-compatible servers on 127.0.0.1 (tests/openai_server.py)."""
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from openai_server import OpenAIServer  # noqa: E402


@pytest.fixture
def serve():
    """serve(**options) -> a started OpenAIServer, stopped after the test."""
    servers = []

    def start(responder=None, **options) -> OpenAIServer:
        server = OpenAIServer(responder, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def free_port() -> int:
    """A local port nobody listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
