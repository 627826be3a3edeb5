"""`proofloop verify` over real HTTP: the scripted grader flags the false step, pinned to its step number."""
import json
import subprocess
import sys
from pathlib import Path

from fake_mathematician import DRAFT, respond
from openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[2]


def proofloop(*args):
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True)


def test_verify_json_pins_confirmed_issue(tmp_path):
    proof = tmp_path / "proof.md"
    proof.write_text(DRAFT.split("## Self Evaluation")[0].replace("## Solution\n", ""))
    with OpenAIServer(respond) as server:
        r = proofloop("verify", "imo2025/1", str(proof), "--endpoint", server.base_url, "--model", server.model,
                      "-m", "2", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["scores"] == [0.0, 0.0] and out["mean_score"] == 0.0
    issues = out["verifications"][0]["issues"]
    assert [(i["severity"], i["step"], i["confirmed"]) for i in issues] == [("critical", 2, True), ("minor", 1, False)]
    assert len(out["steps"]) == 3


def test_verify_bad_proof_files(tmp_path):
    (tmp_path / "empty.md").write_text("  \n")
    (tmp_path / "bin.md").write_bytes(b"\x00\x01\x02")
    for name, message in (("missing.md", "not found"), ("empty.md", "is empty"), ("bin.md", "binary file")):
        r = proofloop("verify", "imo2025/1", str(tmp_path / name), "--endpoint", "http://127.0.0.1:9")
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1
