"""Bad checkpoints, made in the test from a tiny good one: config values of the wrong type or out of range, missing
fields, broken JSON, and safetensors files with hostile headers (huge or negative lengths, shapes, offsets). Each
must give `model info` and `model serve` one line naming the file (and the field) and exit 2, never a traceback."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import model
from cli import app
from model.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]

# (name, config mutation, text the message must hold)
CONFIG_CASES = [
    ("vocab as a string", {"vocab_size": "96"}, "vocab_size"),
    ("negative hidden size", {"hidden_size": -64}, "hidden_size"),
    ("fractional hidden size", {"hidden_size": 64.5}, "hidden_size"),
    ("a trillion layers", {"num_hidden_layers": 10 ** 12}, "num_hidden_layers"),
    ("zero heads", {"num_attention_heads": 0}, "num_attention_heads"),
    ("heads not a multiple of kv heads", {"num_attention_heads": 5}, "num_key_value_heads"),
    ("kv heads as a list", {"num_key_value_heads": [2]}, "num_key_value_heads"),
    ("eps as a word", {"rms_norm_eps": "tiny"}, "rms_norm_eps"),
    ("negative eps", {"rms_norm_eps": -1e-6}, "rms_norm_eps"),
    ("rope parameters as a string", {"rope_parameters": "yarn"}, "rope_parameters"),
    ("rope factor as a word", {"rope_parameters": {"rope_type": "linear", "factor": "big"}}, "factor"),
    ("rope theta zero", {"rope_parameters": {"rope_theta": 0}}, "rope_theta"),
    ("tie as a string", {"tie_word_embeddings": "yes"}, "tie_word_embeddings"),
    ("positions as a list", {"max_position_embeddings": []}, "max_position_embeddings"),
    ("head dim zero", {"head_dim": 0}, "head_dim"),
    ("block size of one number", {"quantization_config": {"quant_method": "fp8", "weight_block_size": [128]}},
     "weight_block_size"),
    ("model type missing", {"model_type": None}, "model_type"),
    ("vocab missing", {"vocab_size": None}, "vocab_size"),
    ("intermediate size missing", {"intermediate_size": None}, "intermediate_size"),
    ("unknown model type", {"model_type": "gpt9"}, "model_type"),
]
RAW_CONFIGS = [
    ("truncated JSON", b'{"model_type": "llama", "vocab_', "config.json"),
    ("a JSON list", b"[1, 2, 3]", "config.json"),
    ("not UTF-8", b"\xff\xfe\x00garbage", "config.json"),
    ("NaN eps", None, "rms_norm_eps"),  # filled below: the JSON literal NaN, which Python's json reads
]


def header_and_data(file: Path) -> tuple[dict, bytes]:
    raw = file.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def pack(header, data: bytes) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def first_tensor(header: dict) -> str:
    return next(k for k in header if k != "__metadata__")


def safetensors_cases(file: Path) -> list[tuple[str, bytes]]:
    header, data = header_and_data(file)
    name = first_tensor(header)
    raw = file.read_bytes()

    def edit(**entry) -> bytes:
        h = json.loads(json.dumps(header))
        h[name].update(entry)
        return pack(h, data)

    return [
        ("header length 2^62", (1 << 62).to_bytes(8, "little") + raw[8:]),
        ("header length past the end", (len(raw)).to_bytes(8, "little") + raw[8:]),
        ("header length zero", bytes(8) + raw[8:]),
        ("three bytes", raw[:3]),
        ("header not JSON", pack(b"{not json at all" + b" " * 20, data)),
        ("header a JSON list", pack(b"[1, 2, 3]", data)),
        ("tensor without dtype", edit(dtype=None)),
        ("negative shape", edit(shape=[-1, 64])),
        ("shape of strings", edit(shape=["96", "64"])),
        ("offsets past the data", edit(data_offsets=[0, len(data) + 10 ** 9])),
        ("offsets backwards", edit(data_offsets=[100, 10])),
        ("data cut in half", raw[: len(raw) - len(data) // 2]),
    ]


@pytest.fixture(scope="module")
def good(checkpoints):
    return checkpoints["llama"][0]


def copy_of(good: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name.replace(" ", "_").replace("^", "")
    shutil.copytree(good, target)
    return target


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def bad_config_dirs(good: Path, tmp_path: Path) -> list[tuple[str, Path, str]]:
    out = []
    base = json.loads((good / "config.json").read_text())
    for name, change, needle in CONFIG_CASES:
        d = copy_of(good, tmp_path, name)
        cfg = {**base, **change}
        (d / "config.json").write_text(json.dumps({k: v for k, v in cfg.items() if v is not None}))
        out.append((name, d, needle))
    for name, raw, needle in RAW_CONFIGS:
        d = copy_of(good, tmp_path, name)
        if raw is None:
            raw = json.dumps({**base, "rms_norm_eps": float("nan")}).encode()
        (d / "config.json").write_bytes(raw)
        out.append((name, d, needle))
    return out


def test_bad_configs_are_one_line_naming_file_and_field(good, tmp_path):
    cases = bad_config_dirs(good, tmp_path)
    assert len(cases) >= 20
    runner = CliRunner()
    for name, d, needle in cases:
        result = runner.invoke(app, ["model", "info", str(d)])
        assert result.exit_code == 2, (name, result.output)
        line = one_line(result.output)
        assert "config.json" in line and needle in line, (name, line)
        with pytest.raises(ModelError, match="config.json") as err:  # what `model serve` loads with
            model.load(d)
        assert needle in str(err.value), (name, err.value)


def test_bad_safetensors_are_one_line_naming_the_file(good, tmp_path):
    cases = safetensors_cases(good / "model.safetensors")
    runner = CliRunner()
    base = json.loads((good / "config.json").read_text())
    for name, raw in cases:
        d = copy_of(good, tmp_path, name)
        (d / "model.safetensors").write_bytes(raw)
        before = raw
        with pytest.raises(ModelError, match="model.safetensors") as err:
            model.load(d)
        assert "\n" not in str(err.value), err.value
        (d / "config.json").write_text(json.dumps({k: v for k, v in base.items() if k not in ("dtype", "torch_dtype")}))
        result = runner.invoke(app, ["model", "info", str(d)])  # without a declared dtype it reads the header
        assert result.exit_code == 2, (name, result.output)
        assert "model.safetensors" in one_line(result.output), name
        assert (d / "model.safetensors").read_bytes() == before


def test_bad_index_is_one_line(good, tmp_path):
    for name, index in [("index a list", "[]"), ("weight_map a list", '{"weight_map": []}'),
                        ("shard outside", '{"weight_map": {"model.embed_tokens.weight": "../../etc/passwd"}}'),
                        ("shard a number", '{"weight_map": {"model.embed_tokens.weight": 5}}')]:
        d = copy_of(good, tmp_path, name)
        (d / "model.safetensors.index.json").write_text(index)
        with pytest.raises(ModelError, match="index.json"):
            model.load(d)


@pytest.mark.parametrize("case", ["config", "header", "huge"])
def test_model_serve_refuses_a_bad_checkpoint_in_one_line(good, tmp_path, case):
    d = copy_of(good, tmp_path, case)
    if case == "config":
        cfg = json.loads((d / "config.json").read_text())
        (d / "config.json").write_text(json.dumps({**cfg, "hidden_size": "64"}))
    else:
        raw = (d / "model.safetensors").read_bytes()
        length = (1 << 62) if case == "huge" else 40
        (d / "model.safetensors").write_bytes(length.to_bytes(8, "little") + b"x" * 40 + raw[48:])
    proc = subprocess.run([sys.executable, "-m", "cli", "model", "serve", str(d), "--port", "0", "--device", "cpu"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "300"})
    assert proc.returncode == 2, proc.stderr
    line = one_line(proc.stderr)
    assert ("config.json" in line and "hidden_size" in line) if case == "config" else "model.safetensors" in line
