"""Figures for the report targets, printed (not asserted): `python tests/report/measure.py`.

- unconverted formulas over the 84 DeepSeekMath-V2 proofs (the proofs alone, and the whole grade report);
- the 64-candidate prove report: time to write it, and time to its load event in headless Chromium (3 opens).
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent.parent)]

from browser import chromium, open_page  # noqa: E402
from synthetic import prove_run, real_proofs  # noqa: E402

from report.build import render_run  # noqa: E402
from report.markup import Renderer  # noqa: E402


def main() -> None:
    proofs = real_proofs()
    r = Renderer()
    cpu = time.process_time()
    for p in proofs:
        r.markdown(p)
    s = r.stats.to_dict()
    print(f"{len(proofs)} DeepSeekMath-V2 proofs: {s['formulas']} formulas, {s['unconverted']} not converted "
          f"({100 * s['unconverted_share']:.3f}%), {time.process_time() - cpu:.2f} s CPU; failures: "
          f"{[f[:60] for f in r.stats.failures]}")
    with tempfile.TemporaryDirectory() as tmp:
        run = prove_run(Path(tmp) / "run", candidates=64, rounds=4, m=8, proofs=proofs)
        started, cpu = time.perf_counter(), time.process_time()
        html, stats = render_run(run)
        print(f"64-candidate run (4 rounds, 8 verifications each): report {len(html) / 1e6:.2f} MB written in "
              f"{time.perf_counter() - started:.2f} s ({time.process_time() - cpu:.2f} s CPU), "
              f"{stats['formulas']} formulas, "
              f"{stats['unconverted']} unconverted")
        if chromium() is None:
            print("no chromium: load time not measured")
            return
        path = Path(tmp) / "r64.html"
        path.write_text(html, encoding="utf-8")
        loads, walls = [], []
        for _ in range(3):
            t = time.perf_counter()
            page = open_page(path.as_uri())
            walls.append(time.perf_counter() - t)
            loads.append(int(page.root["data-load-ms"]))
        print(f"Chromium load event (navigation start to load) in ms: {loads}, median {statistics.median(loads)}; "
              f"whole headless browser process incl. start-up, s: {[round(w, 2) for w in walls]}")


if __name__ == "__main__":
    main()
