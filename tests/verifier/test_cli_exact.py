"""`proofloop verify --symbolic` works with no model at all and reports exact verdicts per step."""
import json

import pytest

typer_testing = pytest.importorskip("typer.testing")


def test_verify_symbolic_json_without_a_model(tmp_path, monkeypatch):
    from cli import app

    monkeypatch.delenv("PROOFLOOP_ENDPOINT", raising=False)
    proof = tmp_path / "proof.md"
    proof.write_text("Take \\((a,b,c)=(1,2,2)\\): \\(2\\cdot1 + 3\\cdot2 = 8 = 4\\cdot2\\).\n\n"
                     "Also \\(\\binom{5}{2} = 11\\).\n\nSo \\(\\boxed{4048}\\).\n", encoding="utf-8")
    res = typer_testing.CliRunner().invoke(app, ["verify", "imo2025/6", str(proof), "--symbolic", "--json"])
    assert res.exit_code == 1, res.output  # a refuted step: the verdict's exit status
    exact = json.loads(res.output)["exact"]
    assert [s["verdict"] for s in exact["steps"]] == ["confirmed", "refuted", "unchecked"]
    assert exact["refuted_steps"] == [2]
    assert exact["answer"]["status"] == "mismatch"  # the known answer is 2112
    assert {i["source"] for i in exact["issues"]} == {"symbolic", "answer"}

    res = typer_testing.CliRunner().invoke(app, ["verify", "imo2025/6", str(proof), "--symbolic"])
    assert res.exit_code == 1 and "1 refuted" in res.output and "mismatch" in res.output
