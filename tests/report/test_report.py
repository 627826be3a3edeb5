"""`proofloop report`: the HTML of a prove run and of a grade run, read back as text (the browser tests open them)."""
import json
import re
import subprocess
import sys
from pathlib import Path

from synthetic import DSM, prove_run

from report.build import SCRIPT_HASH, render_run

ROOT = Path(__file__).resolve().parents[2]
PROOFLOOP = [sys.executable, "-m", "cli"]


def test_prove_report(tmp_path):
    run = prove_run(tmp_path / "run", candidates=9, rounds=3, m=4)
    html, stats = render_run(run)
    assert stats["kind"] == "prove" and stats["unconverted"] == 0 and stats["formulas"] > 0
    assert "<h1>demo/1</h1>" in html and "<math" in html
    final = html.split('id="final-step-1"', 1)[1].split("Verifications of the final proof", 1)[0]
    assert 'id="final-step-2"' in final and 'id="final-step-3"' in final
    assert "gap" in final or "critical" in final  # issues next to their step
    assert "verification 1" in final or "verification 2" in final  # which verification raised it
    assert "meta: confirmed" in html and "meta: rejected" in html and "meta: not checked" in html
    # exact-check verdicts (verifier.evidence on the proof): the refuted claim pinned to its step, and the summary
    assert "symbolic check" in html and "left side = 4, right side = 5" in html
    assert "symbolic: refuted" in final and "<code>2 + 2 = 5</code>" in final
    assert "<th>answer</th><td>no_answer</td>" in html and "refuted steps [2]" in html
    for r in (1, 2, 3):
        assert f"<h3>round {r}</h3>" in html
    assert re.search(r'refines <a href="#cand-r1c\d">', html)  # the tree links a refinement to its parent
    assert "score 0.5" in html and "Tokens and time" in html and "verify" in html
    assert "http://" not in html.replace("http://www.w3.org/1998/Math/MathML", "")  # nothing to fetch
    assert "<link" not in html and "src=" not in html
    assert f"script-src '{SCRIPT_HASH}'" in html
    assert 'http-equiv="refresh"' not in html  # a finished run does not reload


def test_running_run_refreshes(tmp_path):
    run = prove_run(tmp_path / "run", candidates=2, rounds=1, m=1, status="running")
    html, _ = render_run(run, refresh=3)
    assert '<meta http-equiv="refresh" content="3">' in html


def test_grade_report_of_84_proofs(dsm_grade_run):
    html = (dsm_grade_run / "report.html").read_text()
    stats = json.loads((dsm_grade_run / "stats.json").read_text())
    n, formulas = (84, 10000) if DSM.full else (10, 2000)  # the full set, or the 10 shipped proofs
    assert stats["kind"] == "grade" and stats["formulas"] > formulas
    assert stats["unconverted"] / stats["formulas"] <= 0.02
    print(f"\n{n} DeepSeekMath-V2 proofs: {stats['formulas']} formulas, {stats['unconverted']} not converted "
          f"({100 * stats['unconverted_share']:.3f}%), rendered in {stats['seconds']} s")
    assert html.count('<tr><td><a href="#item-') == n
    for pid in ("IMO2025-1", "CMO2024-1", "Putnam2024-A1", "PB-Basic-001", "PB-Advanced-030"):
        assert f'id="item-{pid}"' in html
    assert "7 / 7" in html and "/ 21" in html and "/ 10" in html  # points out of each contest's full marks
    assert "Agreement with human grades" in html and "Kendall tau-b" in html


def test_report_cli(tmp_path):
    run = prove_run(tmp_path / "run", candidates=3, rounds=1, m=2)
    out = tmp_path / "r.html"
    r = subprocess.run(PROOFLOOP + ["report", str(run), "-o", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "prove report" in r.stdout and out.read_text().startswith("<!DOCTYPE html>")
    r = subprocess.run(PROOFLOOP + ["report", str(tmp_path / "nothing")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "holds no run" in r.stderr and len(r.stderr.strip().splitlines()) == 1
