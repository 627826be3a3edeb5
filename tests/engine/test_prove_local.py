"""The proving loop through the local engine: `proofloop prove --local` on a tiny DeepSeek-V3.2 checkpoint (DSA
active), as a user runs it; verifications of one proof share their prefix in the paged cache; a resume re-runs
nothing."""
import json
import subprocess
import sys
from pathlib import Path

from hang_guard import HANG_GUARD

ROOT = Path(__file__).resolve().parents[2]


def prove(*args):
    return subprocess.run([sys.executable, "-m", "cli", "prove", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=HANG_GUARD)


def test_prove_on_the_local_engine_and_resume(tiny, tmp_path):
    problem = tmp_path / "p.md"
    problem.write_text("---\nid: tiny\n---\nShow that w5 w6 w7 holds.\n")
    run = tmp_path / "run"
    flags = [str(problem), "--local", str(tiny["deepseek_v32"][0]), "-n", "2", "-m", "3", "-r", "2",
             "--max-tokens", "8", "--seed", "3", "--run", str(run), "--json", "--no-structured"]  # free text
    first = prove(*flags)
    assert first.returncode == 1, first.stderr  # no proof accepted: the tiny model writes none
    out = json.loads(first.stdout)
    assert "local engine: " in first.stderr and "CPU decode: " in first.stderr  # the kernels that run, said once
    calls = out["calls"]
    assert sum(calls["generate"].values()) == 2 and sum(calls["verify"].values()) >= 6
    # the tiny model ignores the format: every answer is kept and counted, none dropped
    assert set(calls["generate"]) <= {"unparsed", "truncated"}
    # the three verifications of a proof share the problem and the proof: the prefix cache serves them
    assert out["tokens"]["verify"]["cached"] > 0
    again = prove(*flags, "--resume")
    assert again.returncode == 1, again.stderr
    assert json.loads(again.stdout)["calls"] == calls and json.loads(again.stdout)["proof"] == out["proof"]
