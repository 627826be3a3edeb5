"""Picking the backend from the command line: a remote server, a local checkpoint, or the embedded demo model."""
from __future__ import annotations

import os

from model.backends.backend import Backend
from model.errors import ModelError


def backend_from_flags(endpoint: str | None = None, model: str | None = None, api_key: str | None = None,
                       local: str | None = None, concurrency: int = 8, timeout: float = 600.0,
                       threads: int | None = None) -> Backend:
    """threads: CPU threads of the local engine (None: model/threads.py's default); a server ignores it."""
    endpoint = endpoint or os.environ.get("PROOFLOOP_ENDPOINT")
    if endpoint and local:
        raise ModelError("give either --endpoint (a server) or --local (a checkpoint), not both")
    if endpoint:
        from model.backends.remote import RemoteBackend

        backend = RemoteBackend.from_env(endpoint=endpoint, model=model, api_key=api_key,
                                         concurrency=concurrency, timeout=timeout)
        if model:  # from_env asked the server already when it had to pick the model
            backend.check()
        return backend
    return local_backend(local, threads)


def local_backend(path: str | None, threads: int | None = None) -> Backend:
    """A checkpoint directory, a GGUF file, or an embedded model's name (`demo`, the default, or one of EMBEDDED)."""
    from model.backends.local import LocalBackend, demo_checkpoint  # the in-process engine: imports torch
    from model.embedded import EMBEDDED
    from model.threads import use_threads

    use_threads(threads)
    if path is None or path == "demo" or path in EMBEDDED:
        return LocalBackend.from_path(demo_checkpoint(path))
    if path.endswith(".gguf"):
        from model.gguf_import import convert

        return LocalBackend.from_path(convert(path))
    return LocalBackend.from_path(path)
