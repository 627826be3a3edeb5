"""The documented exit statuses, through the CLI: `prove` 0 when a proof was accepted and 1 when none was,
`verify --symbolic` 1 when a step is refuted, 2 for errors."""
import json

from fake_mathematician import respond
from openai_server import OpenAIServer
from typer.testing import CliRunner

import cli

FLAGS = ["--candidates", "1", "--verifications", "1", "--refine-top", "1", "--feedback", "1", "--seed", "7"]


def prove(server, tmp_path, *args):
    return CliRunner().invoke(cli.app, ["prove", "imo2025/1", "--endpoint", server.base_url, "--model", server.model,
                                        *FLAGS, "--run", str(tmp_path / "run"), *args])


def test_prove_exits_1_when_no_proof_is_accepted(tmp_path):
    with OpenAIServer(respond) as server:  # its drafts fail verification until a refinement fixes them
        r = prove(server, tmp_path, "--rounds", "1", "--json")
    assert r.exit_code == 1, r.output
    assert json.loads(r.stdout)["status"] == "exhausted"  # the summary is still printed


def test_prove_exits_0_when_a_proof_is_accepted(tmp_path):
    with OpenAIServer(respond) as server:
        r = prove(server, tmp_path, "--rounds", "2")
    assert r.exit_code == 0, r.output
    assert "fixed the covering" in r.stdout


def test_verify_symbolic_exits_1_on_a_refuted_step(tmp_path):
    good, bad = tmp_path / "good.md", tmp_path / "bad.md"
    good.write_text("We have \\(2 + 2 = 4\\).\n\nSo \\(3 \\cdot 3 = 9\\).\n", encoding="utf-8")
    bad.write_text("We have \\(2 + 2 = 4\\).\n\nSo \\(3 \\cdot 3 = 10\\).\n", encoding="utf-8")
    runner = CliRunner()
    # imo2025/1 has a set as its answer, which these proofs do not state: only the steps decide
    assert runner.invoke(cli.app, ["verify", "imo2025/1", str(good), "--symbolic"]).exit_code == 0
    r = runner.invoke(cli.app, ["verify", "imo2025/1", str(bad), "--symbolic", "--json"])
    assert r.exit_code == 1 and json.loads(r.stdout)["exact"]["refuted_steps"] == [2]
    missing = runner.invoke(cli.app, ["verify", "imo2025/1", str(tmp_path / "none.md"), "--symbolic"])
    assert missing.exit_code == 2 and "not found" in missing.output
