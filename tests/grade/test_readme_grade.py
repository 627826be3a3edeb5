"""The README's `proofloop grade` example runs as written from a clone: the bundled grading set exists and the
command, pointed at the scripted grader on loopback, grades it and prints the agreement with the human grades."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from hang_guard import HANG_GUARD
from resume_checks import server_process

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def readme_commands(prefix: str) -> list[list[str]]:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    return [shlex.split(line.strip().split("#")[0]) for line in lines if line.strip().startswith(prefix)]


def test_readme_grade_example_runs(tmp_path):
    [usage] = [c for c in readme_commands("proofloop grade ") if "URL" in c]
    assert (ROOT / usage[2]).is_file(), f"the README's grade example names {usage[2]}, not in the repository"
    [server_cmd] = readme_commands("python tests/openai_server.py")
    [example] = [c for c in readme_commands("proofloop grade ") if "URL" not in c]
    assert example[2] == usage[2] and server_cmd[server_cmd.index("--responder") + 1].startswith("tests/")
    responder = str(ROOT / server_cmd[server_cmd.index("--responder") + 1])
    with server_process(responder, tmp_path / "server.jsonl") as url:
        args = example[1:]
        args[args.index("--endpoint") + 1] = url  # the port the test server got
        r = subprocess.run([sys.executable, "-m", "cli", *args, "--run", str(tmp_path / "run")], cwd=ROOT,
                           capture_output=True, text=True, timeout=HANG_GUARD, env={**os.environ, "COLUMNS": "160"})
    assert r.returncode == 0, r.stderr
    assert "Agreement with human grades" in r.stdout
    assert re.search(r"\d+ of 12 items graded", r.stdout), r.stdout[-500:]
